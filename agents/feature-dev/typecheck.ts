// Type-checks generated files in memory the way the target project will: strict, NodeNext, ESM
// (a virtual package.json says "type": "module"), relative imports with a .ts extension. Only lib
// and @types declarations are read from disk.
import ts from 'typescript';
import { createVirtualProgram } from '../../services/tooling/in-memory-program.ts';
import { nodeTypeRoot } from '../../services/tooling/index.ts';

const ROOT = '/__feature_dev__';

export interface TypecheckDiagnostic {
  file: string;
  line: number;
  code: number;
  message: string;
  /** Set for "Cannot find name" errors, so callers can declare the missing type. */
  missingName?: string;
}

export const generatedCodeOptions: Readonly<ts.CompilerOptions> = Object.freeze({
  strict: true,
  target: ts.ScriptTarget.ES2024,
  lib: ['lib.es2024.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  erasableSyntaxOnly: true,
  noEmit: true,
  skipLibCheck: true,
  types: nodeTypeRoot ? ['node'] : [],
  typeRoots: nodeTypeRoot ? [nodeTypeRoot] : [],
});

/** Syntactic and semantic errors in `files` (relative paths), each reported against its own file. */
export function typecheck(files: ReadonlyArray<{ path: string; content: string }>): TypecheckDiagnostic[] {
  const virtual = new Map<string, string>([[`${ROOT}/package.json`, '{ "type": "module" }']]);
  for (const f of files) virtual.set(`${ROOT}/${f.path}`, f.content);
  const rootNames = files.map((f) => `${ROOT}/${f.path}`);
  const program = createVirtualProgram({
    files: virtual,
    rootNames,
    options: generatedCodeOptions,
    currentDirectory: ROOT,
  });
  const out: TypecheckDiagnostic[] = [];
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) {
    out.push({ file: '', line: 0, code: d.code, message: ts.flattenDiagnosticMessageText(d.messageText, ' ') });
  }
  for (const name of rootNames) {
    const sf = program.getSourceFile(name);
    if (!sf) continue;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line + 1;
      // 2304 "Cannot find name 'X'", 2552 the same with a "did you mean".
      const missing = d.code === 2304 || d.code === 2552 ? /'([^']+)'/.exec(message)?.[1] : undefined;
      out.push({ file: name.slice(ROOT.length + 1), line, code: d.code, message, ...(missing ? { missingName: missing } : {}) });
    }
  }
  return out;
}
