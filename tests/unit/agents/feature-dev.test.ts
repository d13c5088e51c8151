import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { featureDevAgent } from '../../../agents/feature-dev/index.ts';
import { asksForTestsOnly, notTypeScript } from '../../../agents/feature-dev/refusals.ts';
import { TaskFailedError } from '../../../agents/sdk/index.ts';
import { fakeContext } from '../../helpers/agent-context.ts';

const exec = promisify(execFile);
const require = createRequire(import.meta.url);
const tscPath = require.resolve('typescript/lib/tsc.js');
const typeRoot = path.dirname(path.dirname(require.resolve('@types/node/package.json')));

type Files = Array<{ path: string; content: string }>;

async function writeProject(files: Files): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'feature-dev-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const tsconfig = {
    compilerOptions: {
      strict: true,
      target: 'es2024',
      lib: ['es2024'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      erasableSyntaxOnly: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [typeRoot],
    },
    include: ['src', 'tests'],
  };
  const all = [
    ...files,
    { path: 'package.json', content: '{ "type": "module" }\n' },
    { path: 'tsconfig.json', content: JSON.stringify(tsconfig) },
  ];
  for (const f of all) {
    await mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
    await writeFile(path.join(dir, f.path), f.content);
  }
  return dir;
}

/** Exit code and output of a command run without a shell; never throws on a non-zero exit. */
async function runIn(dir: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, args, { cwd: dir, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const run = (input: Record<string, unknown>, dependencies: Record<string, unknown> = {}) =>
  featureDevAgent.execute(input, fakeContext({ dependencies }));

describe('feature-dev agent: scaffolding', () => {
  it('writes a module exporting the signature in the task, and a node:test file for it', async () => {
    const out = await run({ task: 'Create slugify(text: string): string' });
    expect(out.exports).toEqual(['slugify']);
    expect(out.implemented).toBe(false);
    const [mod, test] = out.files as Files;
    expect(mod.path).toBe('src/slugify.ts');
    expect(mod.content).toContain('export function slugify(text: string): string {');
    expect(mod.content).toContain("throw new Error('not implemented: slugify — Create slugify(text: string): string');");
    expect(test.path).toBe('tests/slugify.test.ts');
    expect(test.content).toContain("import { test } from 'node:test';");
    expect(test.content).toContain("import assert from 'node:assert/strict';");
    expect(test.content).toContain("import { slugify } from '../src/slugify.ts';");
    expect(test.content).toContain('assert.equal(slugify.length, 1);');
    expect(out.typecheck).toEqual({ ok: true, diagnostics: [] });
    expect(out.lint).toEqual([]);
    expect(out.summary).toMatch(/Not implemented/);
    expect(out.llm).toEqual({ used: false, reason: 'no model configured' });
    expect(out.todo).toEqual(expect.arrayContaining([expect.stringContaining('write the body of slugify')]));
  });

  it('produces files that tsc accepts under strict NodeNext and that node --test runs green', async () => {
    const out = await run({ task: 'Create slugify(text: string): string' });
    const dir = await writeProject(out.files as Files);
    const tsc = await runIn(dir, [tscPath, '-p', 'tsconfig.json']);
    expect(tsc.output).toBe('');
    expect(tsc.code).toBe(0);
    const test = await runIn(dir, ['--test', 'tests/slugify.test.ts']);
    expect(test.code, test.output).toBe(0);
    expect(test.output).toMatch(/pass 2/);
  });

  it('generates tests that fail once the module stops matching the scaffold', async () => {
    const out = await run({ task: 'Create slugify(text: string): string' });
    const [mod, test] = out.files as Files;
    const changed = { ...mod, content: mod.content.replace(/throw new Error\([^;]*\);/, 'return text;') };
    const dir = await writeProject([changed, test]);
    const result = await runIn(dir, ['--test', 'tests/slugify.test.ts']);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/fail 1/);
  });

  it('handles classes, async functions, optional parameters and types the spec leaves undefined', async () => {
    const spec =
      'Implement a RateLimiter class with constructor(limit: number, windowMs?: number) and take(n: number): boolean that says whether n tokens fit. ' +
      'Also `async fetchUser(id: string): Promise<User | undefined>` loads a user. Add first<T>(items: readonly T[]): T | undefined.';
    const out = await run({ spec });
    expect(out.module).toBe('src/rate-limiter.ts');
    expect(out.exports).toEqual(['fetchUser', 'first', 'RateLimiter']);
    expect(out.placeholders).toEqual(['User']);
    const [mod] = out.files as Files;
    expect(mod.content).toContain('export type User = unknown;');
    expect(mod.content).toContain('export async function fetchUser(id: string): Promise<User | undefined> {');
    expect(mod.content).toContain('export function first<T>(items: readonly T[]): T | undefined {');
    expect(mod.content).toContain('constructor(limit: number, windowMs?: number) {');
    expect(mod.content).toContain('take(n: number): boolean {');
    expect(out.todo).toEqual(expect.arrayContaining(['define type User, which the spec uses without defining (it is unknown for now)']));

    const dir = await writeProject(out.files as Files);
    expect((await runIn(dir, [tscPath, '-p', 'tsconfig.json'])).output).toBe('');
    const result = await runIn(dir, ['--test', 'tests/rate-limiter.test.ts']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/pass 7/);
  });

  it('names the module from the feature text and assumes a signature only where none is written', async () => {
    const out = await run({ task: 'Build feature slugify utility' });
    expect(out.module).toBe('src/slugify-utility.ts');
    expect(out.exports).toEqual(['slugify']);
    expect((out.files as Files)[0].content).toContain('export function slugify(input: unknown): unknown {');
    expect(out.todo).toEqual(expect.arrayContaining([expect.stringMatching(/choose the parameters and return type of slugify/)]));
  });

  it('names a function described by what it does ("a TypeScript function that validates emails") after that, not the language', async () => {
    const cases: Array<[string, string, string]> = [
      ['Write a TypeScript function that validates email addresses', 'src/validate-email-addresses.ts', 'validateEmailAddresses'],
      ['Write a TypeScript function that reverses a string', 'src/reverse-string.ts', 'reverseString'],
      ['Create a function which computes the average of a list', 'src/compute-average.ts', 'computeAverage'],
      ['Implement a JavaScript helper that applies a discount', 'src/apply-discount.ts', 'applyDiscount'],
      ['Write a TS function that matches glob patterns', 'src/match-glob-patterns.ts', 'matchGlobPatterns'],
      // A spec written as what is wanted, with no verb to ask for it (a plan step's input.spec, say).
      ['a function that adds two numbers', 'src/add-two-numbers.ts', 'addTwoNumbers'],
      ['A TypeScript helper which parses durations like 5m', 'src/parse-durations.ts', 'parseDurations'],
    ];
    for (const [task, module, name] of cases) {
      const out = await run({ task });
      expect([out.module, out.exports], task).toEqual([module, [name]]);
    }
  });

  it('scaffolds a fetch-style handler for an endpoint task, and its test runs', async () => {
    const out = await run({ task: 'Add endpoint GET /users/:id that returns a user' });
    expect(out.module).toBe('src/get-users.ts');
    expect(out.exports).toEqual(['getUsersById']);
    const [mod] = out.files as Files;
    expect(mod.content).toContain('export async function getUsersById(request: Request): Promise<Response> {');
    const dir = await writeProject(out.files as Files);
    const result = await runIn(dir, ['--test', 'tests/get-users.test.ts']);
    expect(result.code, result.output).toBe(0);
  });

  it('uses structured exports and module when given', async () => {
    const out = await run({
      module: 'src/utils/math.ts',
      exports: [
        {
          name: 'clamp',
          params: [
            { name: 'value', type: 'number' },
            { name: 'min', type: 'number' },
            { name: 'max', type: 'number' },
          ],
          returns: 'number',
          description: 'Clamps value into [min, max].',
        },
      ],
    });
    const [mod, test] = out.files as Files;
    expect(mod.path).toBe('src/utils/math.ts');
    expect(mod.content).toContain('export function clamp(value: number, min: number, max: number): number {');
    expect(test.path).toBe('tests/math.test.ts');
    expect(test.content).toContain("from '../src/utils/math.ts';");
    expect(test.content).toContain('clamp(1, 1, 1)');
  });

  it('fails the task when nothing says what to build, or the input cannot be used', async () => {
    await expect(run({})).rejects.toBeInstanceOf(TaskFailedError);
    await expect(run({ task: 'Create slugify(text: string): string', language: 'python' })).rejects.toThrow(/python/);
    await expect(run({ exports: [{ name: 'f', returns: 'string that' }] })).rejects.toThrow(/does not parse/);
    await expect(run({ module: '../escape', task: 'Build feature x' })).rejects.toThrow(/not a usable path/);
    const files = [{ path: 'src/a.ts', content: 'export const a = 1;\n' }];
    await expect(run({ task: 'fix the findings', files })).rejects.toThrow(/no findings to fix: no review before this step/);
  });

  it('refuses work in another language or file kind, named in the text, instead of scaffolding a .ts module for it', async () => {
    await expect(run({ task: 'Write a Python script that parses CSV files' })).rejects.toThrow(
      /feature-dev writes TypeScript modules only, and this asks for Python code/,
    );
    await expect(run({ task: 'Create a docker compose file for redis' })).rejects.toThrow(/asks for a Compose file: ask infrastructure/);
    await expect(run({ task: 'Write unit tests for the slugify function' })).rejects.toThrow(/asks for tests of code it is not given/);
    await expect(run({ task: 'Fix the bug in the login function' })).rejects.toThrow(
      /does not change code from a description of the change/,
    );
    await expect(run({ task: 'Refactor the payment module' })).rejects.toThrow(/review the code then fix the findings/);
    expect(asksForTestsOnly('Create integration tests for the API')).toBe(true);
    expect(asksForTestsOnly('Build feature test runner')).toBe(false);
    expect(asksForTestsOnly('Build feature slugify utility and test it')).toBe(false);
    // An explicit choice is not read from the words; a phrase that only mentions another kind is TypeScript work.
    expect((await run({ task: 'Write a Go HTTP server', module: 'server' })).module).toBe('src/server.ts');
    expect((await run({ task: 'Build a YAML parser' })).implemented).toBe(false);
  });
});

describe('feature-dev agent: what a spec asks for that is not TypeScript', () => {
  const asks = (text: string) => notTypeScript(text)?.what;
  it('reads the language or file kind of the thing to build', () => {
    expect(asks('Write a Python script that parses CSV files')).toBe('Python code');
    expect(asks('Write a Go HTTP server')).toBe('Go code');
    expect(asks('Build the payments service in Java')).toBe('Java code');
    expect(asks('Build a web scraper using Python')).toBe('Python code');
    expect(asks('Write a Dockerfile and a CI pipeline for a node app')).toBe('a Dockerfile');
    expect(asks('Create a Makefile for the project')).toBe('a Makefile');
    expect(asks('Create a bash script to back up the database')).toBe('a shell script');
    expect(asks('Write a Helm chart for the orchestrator')).toBe('a Helm chart');
    expect(asks('Create a SQL migration adding a users table')).toBe('SQL');
    expect(asks('Create kubernetes manifests for the api')).toBe('Kubernetes manifests');
    expect(asks('Write a changelog')).toBe('a changelog');
    expect(asks('Write a GitHub Actions workflow that runs the tests')).toBe('a CI pipeline definition');
    expect(notTypeScript('Create a terraform stack for a droplet')).toEqual({ what: 'Terraform', instead: 'infrastructure' });
  });

  it('leaves TypeScript work alone: said outright, code about another kind of file, or words that only look like a language', () => {
    for (const text of [
      'Build feature slugify utility',
      'Create a TypeScript module that writes Dockerfiles',
      'Build a YAML parser',
      'Create a Dockerfile linter',
      'Build feature sql formatter',
      'Write a function that parses YAML',
      'Write a bash completion generator',
      'Build a changelog generator',
      'Build feature go-to-definition helper',
      'Build feature log in, go to dashboard',
      'Add endpoint POST /users that stores users in Postgres',
      'Create slugify(text: string): string',
      'Create a class Stack with push and pop',
    ])
      expect(notTypeScript(text), text).toBeUndefined();
  });
});

describe('feature-dev agent: applying review findings', () => {
  const source = [
    'export function total(items: number[]): number {', // 1
    '  var sum = 0;', // 2
    '  for (var i = 0; i < items.length; i++) {', // 3
    '    sum += items[i];', // 4
    '  }', // 5
    '  debugger;', // 6
    "  console.log('sum', sum);", // 7
    '  var label = sum == 0 ? "none" : "some";', // 8
    '  if (label != "none") return sum;', // 9
    '  return i;', // 10
    '}', // 11
    '',
  ].join('\n');
  const finding = (line: number, rule: string, message: string) => ({
    file: 'src/total.ts',
    line,
    column: 3,
    rule,
    severity: 'warning',
    message,
  });
  const findings = [
    finding(2, 'no-var', 'Unexpected var, use let or const instead.'),
    finding(3, 'no-var', 'Unexpected var, use let or const instead.'),
    finding(6, 'no-debugger', "Unexpected 'debugger' statement."),
    finding(7, 'no-console', 'Unexpected console statement.'),
    finding(8, 'no-var', 'Unexpected var, use let or const instead.'),
    finding(8, 'eqeqeq', "Expected '===' and instead saw '=='."),
    finding(9, 'eqeqeq', "Expected '!==' and instead saw '!='."),
    finding(9, 'max-lines-per-function', "Function 'total' has too many lines (81). Maximum allowed is 80."),
    { ...finding(1, 'no-var', 'Unexpected var, use let or const instead.'), file: 'src/other.ts' },
  ];

  it('applies ESLint auto-fixes, then fixes ==, debugger and console mechanically, formats, and reports what it could not fix', async () => {
    const out = await run({ files: [{ path: 'src/total.ts', content: source }] }, { review: { findings } });
    const [file] = out.files as Files;
    expect(file.content).toBe(
      [
        'export function total(items: number[]): number {',
        '  let sum = 0;',
        '  for (var i = 0; i < items.length; i++) {',
        '    sum += items[i];',
        '  }',
        "  const label = sum === 0 ? 'none' : 'some';",
        "  if (label !== 'none') return sum;",
        '  return i;',
        '}',
        '',
      ].join('\n'),
    );
    const unfixed = out.unfixed as Array<{ file: string; line: number; rule: string; reason: string }>;
    expect(unfixed.map((u) => `${u.file}:${u.line} ${u.rule}`).sort()).toEqual([
      'src/other.ts:1 no-var',
      'src/total.ts:3 no-var',
      'src/total.ts:9 max-lines-per-function',
    ]);
    // `i` is read after the loop, where let would no longer reach it: ESLint leaves it, and so does the mechanical fix.
    expect(unfixed.find((u) => u.line === 3)?.reason).toMatch(/"i" is used on line 10/);
    const fixed = out.fixed as Array<{ line: number; rule: string; fix: string }>;
    expect(fixed.map((f) => `${f.line} ${f.rule}: ${f.fix}`)).toEqual([
      '2 no-var: ESLint auto-fix (no-var)',
      '8 no-var: ESLint auto-fix (no-var)',
      '6 no-debugger: removed debugger statement',
      '7 no-console: removed console call',
      '8 eqeqeq: ==/!= → ===/!==',
      '9 eqeqeq: ==/!= → ===/!==',
    ]);
    expect(out.eslint_fixed).toEqual([
      expect.objectContaining({ line: 2, rule: 'no-var' }),
      expect.objectContaining({ line: 8, rule: 'no-var' }),
    ]);
    // Then formatted (Prettier): the double quotes became single ones.
    expect(out.formatted).toEqual(['src/total.ts']);
    expect(out.summary).toMatch(/^Applied 6 of 9 review findings \(2 by ESLint auto-fix, 4 mechanically\) in 1 file; 3 left/);
    expect(out.llm).toEqual({ used: false, reason: 'no model configured' });
  });

  it('reads findings wrapped in a response envelope and files from dependency outputs', async () => {
    const deps = {
      'step-1': { files: [{ path: 'src/total.ts', content: source }] },
      'step-2': { status: 'succeeded', output: { findings: [finding(6, 'no-debugger', "Remove the 'debugger' statement")] } },
    };
    const out = await run({}, deps);
    expect((out.files as Files)[0].content).not.toContain('debugger');
    expect(out.fixed).toHaveLength(1);
  });
});
