// ESLint in memory, for code that arrives as strings: no config files, no plugins resolved from
// disk and no type information (a typed lint would need the project's tsconfig and node_modules,
// which the agents do not have). The TypeScript compiler covers types separately.
import js from '@eslint/js';
import { Linter } from 'eslint';
import security from 'eslint-plugin-security';
import tseslint from 'typescript-eslint';
import { compareFindings, type Finding, type Severity } from './findings.ts';
import { isSourcePath, type InputFile } from './input-files.ts';
import { sqlRules } from './sql-injection-rule.ts';

/** Rule id for a file ESLint could not parse; the compiler reports the same error in more detail. */
export const PARSE_ERROR_RULE = 'parse-error';
/** Rule id for ESLint's notes about comments it ignored (inline config is off, see below). */
export const DIRECTIVE_RULE = 'eslint-directive';

const SOURCE_FILES = '**/*.{ts,tsx,mts,cts,js,jsx,mjs,cjs}';

// Declared for every file, not only JavaScript: no-implied-eval only recognises setTimeout('code')
// when setTimeout resolves to a global. TypeScript files leave undefined names to the compiler
// (typescript-eslint turns no-undef off for them).
const NODE_GLOBALS = [
  'AbortController',
  'AbortSignal',
  'Blob',
  'Buffer',
  'BroadcastChannel',
  'Event',
  'EventTarget',
  'FormData',
  'Headers',
  'MessageChannel',
  'Request',
  'Response',
  'TextDecoder',
  'TextEncoder',
  'URL',
  'URLSearchParams',
  'WebSocket',
  'atob',
  'btoa',
  'clearImmediate',
  'clearInterval',
  'clearTimeout',
  'console',
  'crypto',
  'fetch',
  'global',
  'navigator',
  'performance',
  'process',
  'queueMicrotask',
  'setImmediate',
  'setInterval',
  'setTimeout',
  'structuredClone',
];
const COMMONJS_GLOBALS = ['require', 'module', 'exports', '__dirname', '__filename'];
const readonlyGlobals = (names: string[]): Linter.Globals => Object.fromEntries(names.map((n) => [n, 'readonly' as const]));

/**
 * @eslint/js recommended + typescript-eslint recommended (syntax only) + the rules code review has
 * always enforced. Inline `eslint-disable` comments are ignored: the rules are the platform's
 * quality gate, and code under review (often model-written) must not be able to switch them off.
 */
export const ESLINT_CONFIG: readonly Linter.Config[] = Object.freeze([
  {
    name: 'mesh/files',
    files: [SOURCE_FILES],
    languageOptions: { ecmaVersion: 'latest', globals: readonlyGlobals(NODE_GLOBALS) },
    linterOptions: { noInlineConfig: true },
  },
  js.configs.recommended,
  ...(tseslint.configs.recommended as Linter.Config[]),
  {
    name: 'mesh/rules',
    rules: {
      // `x == null` is the idiom for "null or undefined".
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-debugger': 'error',
      'no-eval': 'error',
      'no-implied-eval': 'error',
      // `new Function('...')` is eval by another name; the old rule set counted it as no-eval.
      'no-new-func': 'error',
      'no-console': 'warn',
      'max-lines-per-function': ['warn', { max: 80 }],
      // A parameter belongs to the signature (callbacks, overrides, scaffolded bodies that only
      // throw); unused locals and imports are what point at a mistake.
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // What a security review looks for that the code alone shows: SQL and shell commands built from
    // values (injection), regular expressions that backtrack without bound (ReDoS), Trojan Source
    // characters, and the deprecated Buffer and random APIs. eslint-plugin-security's rules that
    // flag every computed property or file path are left out: on code they drown the rest.
    name: 'mesh/security',
    plugins: { security, mesh: { rules: sqlRules } },
    rules: {
      'mesh/sql-injection': 'error',
      'mesh/sql-interpolation': 'warn',
      'security/detect-child-process': 'error',
      'security/detect-bidi-characters': 'error',
      'security/detect-eval-with-expression': 'error',
      'security/detect-unsafe-regex': 'warn',
      'security/detect-non-literal-require': 'warn',
      'security/detect-pseudoRandomBytes': 'warn',
      'security/detect-new-buffer': 'warn',
      'security/detect-buffer-noassert': 'warn',
    },
  },
  // In a declaration file `declare var` is the only way to declare a property of globalThis.
  { name: 'mesh/declarations', files: ['**/*.d.ts', '**/*.d.mts', '**/*.d.cts'], rules: { 'no-var': 'off' } },
  // In CommonJS, require() is how modules are loaded, not a style choice.
  {
    name: 'mesh/commonjs',
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: readonlyGlobals([...NODE_GLOBALS, ...COMMONJS_GLOBALS]) },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
]);

// The config array is static, so one Linter serves every call.
const linter = new Linter();

function toFinding(file: string, m: Linter.LintMessage): Finding {
  let rule = m.ruleId ?? DIRECTIVE_RULE;
  let severity: Severity = m.severity === 2 ? 'error' : 'warning';
  if (m.fatal) rule = PARSE_ERROR_RULE;
  else if (m.ruleId === null) severity = 'info';
  return { file, line: Math.max(1, m.line), column: Math.max(1, m.column), rule, severity, message: m.message };
}

function verify(file: InputFile): Linter.LintMessage[] {
  return linter.verify(file.content, [...ESLINT_CONFIG], { filename: file.path });
}

/** ESLint findings for every JS/TS file among `files`, sorted by file and position. */
export function eslintFiles(files: readonly InputFile[]): Finding[] {
  return files
    .filter((f) => isSourcePath(f.path))
    .flatMap((f) => verify(f).map((m) => toFinding(f.path, m)))
    .sort(compareFindings);
}

/** One problem ESLint fixed; line and column are where it was in the file before the fix. */
export interface EslintFix {
  file: string;
  line: number;
  column: number;
  rule: string;
  message: string;
}

export interface EslintFixResult {
  /** Every file given, fixed where ESLint could. */
  files: InputFile[];
  fixed: EslintFix[];
  /** Paths whose content changed. */
  changed: string[];
}

/**
 * Applies every auto-fix ESLint offers (what `eslint --fix` does; suggestions are not applied,
 * they may change behaviour). What was fixed is read by comparing the problems before and after.
 */
export function fixWithEslint(files: readonly InputFile[]): EslintFixResult {
  const result: EslintFixResult = { files: [], fixed: [], changed: [] };
  for (const file of files) {
    const before = isSourcePath(file.path) ? verify(file) : [];
    const fixable = before.filter((m) => m.fix && m.ruleId);
    if (fixable.length === 0) {
      result.files.push(file);
      continue;
    }
    const { output, messages } = linter.verifyAndFix(file.content, [...ESLINT_CONFIG], { filename: file.path });
    // Fixes move text, so problems are matched by kind (rule and message), not position: as many of
    // a kind count as fixed as there are fewer of it afterwards. Messages name the variable
    // (prefer-const), so kinds rarely lump two problems together.
    const kind = (m: Linter.LintMessage): string => `${m.ruleId}\0${m.message}`;
    const gone = new Map<string, number>();
    for (const m of before) gone.set(kind(m), (gone.get(kind(m)) ?? 0) + 1);
    for (const m of messages) gone.set(kind(m), (gone.get(kind(m)) ?? 0) - 1);
    for (const m of fixable) {
      const n = gone.get(kind(m)) ?? 0;
      if (n <= 0) continue;
      gone.set(kind(m), n - 1);
      result.fixed.push({ file: file.path, line: m.line, column: m.column, rule: m.ruleId!, message: m.message });
    }
    result.files.push(output === file.content ? file : { path: file.path, content: output });
    if (output !== file.content) result.changed.push(file.path);
  }
  return result;
}
