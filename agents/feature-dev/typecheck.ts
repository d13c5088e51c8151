// Type-checks generated files in memory the way the target project will: strict, NodeNext, ESM
// (a virtual package.json says "type": "module"), relative imports with a .ts extension. Only lib
// and @types declarations are read from disk.
import path from 'node:path';
import ts from 'typescript';
import { nodeTypeRoot, typescriptLibDir } from '../../services/tooling/index.ts';

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

// Declaration files do not change while the process runs and parsing them is most of a check's
// cost, so every check shares them.
const declarations = new Map<string, ts.SourceFile>();

function readable(fileName: string): boolean {
  return fileName.startsWith(`${typescriptLibDir}/`) || (nodeTypeRoot !== undefined && fileName.startsWith(`${nodeTypeRoot}/`));
}

function host(virtual: Map<string, string>): ts.CompilerHost {
  const dirs = new Set<string>();
  for (const name of virtual.keys()) for (let d = path.posix.dirname(name); d !== '/'; d = path.posix.dirname(d)) dirs.add(d);
  return {
    getSourceFile(fileName, languageVersion) {
      const text = virtual.get(fileName);
      if (text !== undefined) return ts.createSourceFile(fileName, text, languageVersion, true);
      if (!readable(fileName)) return undefined;
      const options = typeof languageVersion === 'object' ? languageVersion : { languageVersion };
      const key = `${fileName}\0${options.languageVersion}\0${options.impliedNodeFormat ?? ''}`;
      let sf = declarations.get(key);
      if (!sf) {
        const content = ts.sys.readFile(fileName);
        if (content === undefined) return undefined;
        sf = ts.createSourceFile(fileName, content, languageVersion, false);
        declarations.set(key, sf);
      }
      return sf;
    },
    getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
    getDefaultLibLocation: () => typescriptLibDir,
    writeFile: () => undefined,
    getCurrentDirectory: () => ROOT,
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (f) => virtual.has(f) || (readable(f) && ts.sys.fileExists(f)),
    readFile: (f) => virtual.get(f) ?? (readable(f) ? ts.sys.readFile(f) : undefined),
    directoryExists: (d) => dirs.has(d) || d === ROOT || ((d.startsWith(typescriptLibDir) || (nodeTypeRoot !== undefined && d.startsWith(nodeTypeRoot))) && ts.sys.directoryExists(d)),
    getDirectories: (d) => (nodeTypeRoot !== undefined && d.startsWith(nodeTypeRoot) ? ts.sys.getDirectories(d) : []),
    realpath: (f) => f,
  };
}

/** Syntactic and semantic errors in `files` (relative paths), each reported against its own file. */
export function typecheck(files: ReadonlyArray<{ path: string; content: string }>): TypecheckDiagnostic[] {
  const virtual = new Map<string, string>([[`${ROOT}/package.json`, '{ "type": "module" }']]);
  for (const f of files) virtual.set(`${ROOT}/${f.path}`, f.content);
  const rootNames = files.map((f) => `${ROOT}/${f.path}`);
  const program = ts.createProgram({ rootNames, options: generatedCodeOptions, host: host(virtual) });
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
