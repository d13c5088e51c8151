import path from 'node:path';
import ts from 'typescript';
import { ambientDeclarations, packageImports } from './ambient-modules.ts';
import { findingAt, type Finding, type Severity } from './findings.ts';
import type { InputFile } from './input-files.ts';
import { scriptKindOf } from './lint-rules.ts';
import { declarationRoot, nodeTypeRoot, typescriptLibDir } from './toolchain-paths.ts';

/** Virtual folder the given files are mounted under; nothing on disk is read from it. */
export const VIRTUAL_ROOT = '/__mesh__';
const AMBIENT_FILE = `${VIRTUAL_ROOT}/__mesh_ambient__.d.ts`;

/**
 * Options for checking code handed to an agent: strict, modern ESM. Bundler resolution accepts
 * `./x`, `./x.js` and `./x.ts` alike, so code is judged on its types rather than on which
 * import-extension convention its author's build uses.
 */
export const checkOptions: Readonly<ts.CompilerOptions> = Object.freeze({
  strict: true,
  target: ts.ScriptTarget.ES2024,
  lib: nodeTypeRoot ? ['lib.es2024.d.ts'] : ['lib.es2024.d.ts', 'lib.dom.d.ts'],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  allowImportingTsExtensions: true,
  resolveJsonModule: true,
  allowJs: true,
  checkJs: false,
  jsx: ts.JsxEmit.Preserve,
  noEmit: true,
  skipLibCheck: true,
  noFallthroughCasesInSwitch: true,
  types: nodeTypeRoot ? ['node'] : [],
  typeRoots: nodeTypeRoot ? [nodeTypeRoot] : [],
});

// Lib and @types declaration files never change while the process runs, and parsing them is most
// of the cost of a program, so their SourceFiles are shared by every program built here (the same
// reuse the language service's document registry relies on).
const declarationCache = new Map<string, ts.SourceFile>();

function isUnder(dir: string, root: string): boolean {
  return dir === root || dir.startsWith(`${root}/`);
}

/** What one program reads: its own files in memory, and from disk only declarations. */
export interface VirtualProgramInput {
  /** File contents by absolute virtual path; nothing else under these folders exists. */
  files: ReadonlyMap<string, string>;
  rootNames: readonly string[];
  /** Defaults to `checkOptions`. */
  options?: Readonly<ts.CompilerOptions>;
  /** The program's current directory; defaults to `VIRTUAL_ROOT`. */
  currentDirectory?: string;
  /**
   * Folders, besides the TypeScript lib folder, whose .d.ts and package.json files may be read;
   * defaults to the node_modules that holds @types.
   */
  declarationDirs?: readonly string[];
}

function createHost(virtual: ReadonlyMap<string, string>, currentDirectory: string, declarationDirs: readonly string[]): ts.CompilerHost {
  const virtualDirs = new Set<string>();
  for (const fileName of virtual.keys()) {
    for (let dir = path.posix.dirname(fileName); dir !== '/'; dir = path.posix.dirname(dir)) virtualDirs.add(dir);
  }
  const inDeclarationDir = (p: string) => declarationDirs.some((root) => isUnder(p, root));
  const isReadableDeclaration = (fileName: string) =>
    (inDeclarationDir(fileName) || isUnder(fileName, typescriptLibDir)) && /(?:\.d\.[cm]?ts|\/package\.json)$/.test(fileName);
  return {
    getSourceFile(fileName, languageVersionOrOptions) {
      const text = virtual.get(fileName);
      if (text !== undefined) return ts.createSourceFile(fileName, text, languageVersionOrOptions, true, scriptKindOf(fileName));
      if (!isReadableDeclaration(fileName)) return undefined;
      // Of what can differ between programs, only the target and the module format change how a
      // declaration file parses (module detection treats .d.ts files alike under every option), so
      // programs with different options still share one SourceFile per key.
      const opts = typeof languageVersionOrOptions === 'object' ? languageVersionOrOptions : { languageVersion: languageVersionOrOptions };
      const key = `${fileName}\0${opts.languageVersion}\0${opts.impliedNodeFormat ?? ''}`;
      let sourceFile = declarationCache.get(key);
      if (!sourceFile) {
        const content = ts.sys.readFile(fileName);
        if (content === undefined) return undefined;
        sourceFile = ts.createSourceFile(fileName, content, languageVersionOrOptions, false);
        declarationCache.set(key, sourceFile);
      }
      return sourceFile;
    },
    getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
    getDefaultLibLocation: () => typescriptLibDir,
    writeFile: () => undefined,
    getCurrentDirectory: () => currentDirectory,
    getCanonicalFileName: (fileName) => fileName,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (fileName) => virtual.has(fileName) || (isReadableDeclaration(fileName) && ts.sys.fileExists(fileName)),
    readFile: (fileName) => virtual.get(fileName) ?? (isReadableDeclaration(fileName) ? ts.sys.readFile(fileName) : undefined),
    directoryExists: (dir) =>
      virtualDirs.has(dir) || ((inDeclarationDir(dir) || isUnder(dir, typescriptLibDir)) && ts.sys.directoryExists(dir)),
    getDirectories: (dir) => (inDeclarationDir(dir) ? ts.sys.getDirectories(dir) : []),
    realpath: (fileName) => fileName,
  };
}

/** A program over in-memory files that touches the disk only for lib and package declarations. */
export function createVirtualProgram(input: VirtualProgramInput): ts.Program {
  const { files, rootNames, options = checkOptions, currentDirectory = VIRTUAL_ROOT, declarationDirs = [declarationRoot] } = input;
  return ts.createProgram({ rootNames, options, host: createHost(files, currentDirectory, declarationDirs) });
}

export interface InMemoryProgram {
  program: ts.Program;
  /** The program's SourceFile for each root file, by the path the caller gave, in path order. */
  roots: Array<{ path: string; sourceFile: ts.SourceFile }>;
}

/**
 * Builds a type-checked program over `files` without touching the disk except for lib and @types
 * declarations. `isRoot` picks the files to check; the others (JSON, other sources) stay importable.
 */
export function createInMemoryProgram(files: readonly InputFile[], isRoot: (path: string) => boolean): InMemoryProgram {
  const virtual = new Map<string, string>();
  for (const file of files) virtual.set(`${VIRTUAL_ROOT}/${file.path}`, file.content);
  const rootPaths = files.filter((f) => isRoot(f.path)).map((f) => f.path);
  const rootNames = rootPaths.map((p) => `${VIRTUAL_ROOT}/${p}`);
  const ambient = ambientDeclarations(
    packageImports(files),
    rootPaths.some((p) => /\.[jt]sx$/.test(p)),
  );
  if (ambient) {
    virtual.set(AMBIENT_FILE, ambient);
    rootNames.push(AMBIENT_FILE);
  }
  const program = createVirtualProgram({ files: virtual, rootNames });
  const roots = rootPaths.flatMap((p) => {
    const sourceFile = program.getSourceFile(`${VIRTUAL_ROOT}/${p}`);
    return sourceFile ? [{ path: p, sourceFile }] : [];
  });
  return { program, roots };
}

/** The caller's path for a program file name, or undefined for lib and generated files. */
export function inputPathOf(fileName: string): string | undefined {
  if (!fileName.startsWith(`${VIRTUAL_ROOT}/`) || fileName === AMBIENT_FILE) return undefined;
  return fileName.slice(VIRTUAL_ROOT.length + 1);
}

function severityOf(category: ts.DiagnosticCategory): Severity {
  if (category === ts.DiagnosticCategory.Error) return 'error';
  if (category === ts.DiagnosticCategory.Warning) return 'warning';
  return 'info';
}

/** Compiler diagnostics become findings under the rule name `TS<code>`, e.g. TS2322. */
export function diagnosticToFinding(diagnostic: ts.Diagnostic, file: string): Finding {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
  const severity = severityOf(diagnostic.category);
  if (!diagnostic.file || diagnostic.start === undefined) {
    return { file, line: 1, column: 1, rule: `TS${diagnostic.code}`, severity, message };
  }
  return findingAt(diagnostic.file, file, diagnostic.start, `TS${diagnostic.code}`, severity, message);
}
