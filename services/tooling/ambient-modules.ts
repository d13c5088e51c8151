import ts from 'typescript';
import { isSourcePath, type InputFile } from './input-files.ts';
import { isBareSpecifier, isNodeBuiltin, nodeTypeRoot } from './toolchain-paths.ts';

// Checked code has no node_modules, so every package import would fail with TS2307 and hide the
// findings that matter. Each bare specifier instead gets a shorthand `declare module 'x';`, which
// types the import as `any`: the code is checked against its own files, not its dependencies.

/** Bare (package) specifiers imported by the source files, minus Node built-ins that @types/node covers. */
export function packageImports(files: readonly InputFile[]): string[] {
  const specifiers = new Set<string>();
  for (const file of files) {
    if (!isSourcePath(file.path)) continue;
    const info = ts.preProcessFile(file.content, true, true);
    for (const ref of info.importedFiles) {
      if (!isBareSpecifier(ref.fileName)) continue;
      if (isNodeBuiltin(ref.fileName) && nodeTypeRoot !== undefined) continue;
      specifiers.add(ref.fileName);
    }
  }
  return [...specifiers].sort();
}

/** A declaration file making `specifiers` resolve to `any`, or undefined when none is needed. */
export function ambientDeclarations(specifiers: readonly string[], withJsx: boolean): string | undefined {
  const lines = specifiers.map((s) => `declare module ${JSON.stringify(s)};`);
  if (withJsx) lines.push('declare namespace JSX { interface IntrinsicElements { [element: string]: unknown } }');
  return lines.length > 0 ? `${lines.join('\n')}\n` : undefined;
}
