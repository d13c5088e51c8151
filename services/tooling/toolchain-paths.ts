import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

function tryResolve(specifier: string): string | undefined {
  try {
    return require.resolve(specifier);
  } catch {
    return undefined;
  }
}

// Paths are found by resolving files of the packages, never by loading them: code that only needs
// to know where the compiler lives (the cicd agent runs it in a child process) must not pay for it.

/** Where the TypeScript lib .d.ts files live (what `ts.getDefaultLibFilePath` points into). */
export const typescriptLibDir = path.dirname(require.resolve('typescript/lib/lib.d.ts'));

/** The tsc entry point of the installed compiler, run with `process.execPath`. */
export const tscEntryPath = require.resolve('typescript/lib/tsc.js');

const nodeTypesPackage = tryResolve('@types/node/package.json');

/**
 * The `@types` folder that holds @types/node, or undefined where it is not installed (it is a dev
 * dependency). Checked code then gets no Node globals and node: imports are typed as `any`.
 */
export const nodeTypeRoot: string | undefined = nodeTypesPackage ? path.dirname(path.dirname(nodeTypesPackage)) : undefined;

/** The node_modules folder whose declaration files an in-memory program may read. */
export const declarationRoot: string = path.dirname(nodeTypeRoot ?? path.dirname(path.dirname(typescriptLibDir)));

const builtins = new Set(builtinModules);

export function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtins.has(specifier);
}

export function isBareSpecifier(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !/^[a-zA-Z]:/.test(specifier) && !specifier.startsWith('#');
}
