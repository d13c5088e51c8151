import { describe, expect, it } from 'vitest';
import { codeReviewAgent } from '../../../agents/code-review/index.ts';
import { TaskFailedError } from '../../../agents/sdk/index.ts';
import { fakeContext } from '../../helpers/agent-context.ts';

type Finding = { file: string; line: number; column: number; rule: string; severity: string; message: string };

async function review(files: Array<{ path: string; content: string }>, extra: Record<string, unknown> = {}) {
  const out = await codeReviewAgent.execute({ files, ...extra }, fakeContext());
  return out as {
    approved: boolean;
    decision: string;
    findings: Finding[];
    counts: Record<string, number>;
    files_reviewed: number;
    summary: string;
  };
}

const rulesOf = (findings: Finding[], rule: string) => findings.filter((f) => f.rule === rule);

describe('code-review agent', () => {
  it('rejects any and debugger, reporting them where they are under ESLint rule ids', async () => {
    const out = await review([
      { path: 'src/parse.ts', content: 'export function parse(raw: any): unknown {\n  debugger;\n  return raw;\n}\n' },
    ]);
    expect(out.approved).toBe(false);
    expect(out.decision).toBe('rejected');
    expect(rulesOf(out.findings, '@typescript-eslint/no-explicit-any')).toEqual([
      expect.objectContaining({ file: 'src/parse.ts', line: 1, column: 28, severity: 'error' }),
    ]);
    expect(rulesOf(out.findings, 'no-debugger')).toEqual([
      expect.objectContaining({ file: 'src/parse.ts', line: 2, column: 3, severity: 'error' }),
    ]);
    expect(out.counts).toEqual({ error: 2, warning: 0, info: 0 });
    expect(out.summary).toMatch(/^Rejected/);
  });

  it('approves clean code whose relative imports resolve, in any extension style', async () => {
    const out = await review([
      { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' },
      {
        path: 'src/index.ts',
        content:
          "import { add } from './math.ts';\nimport { add as plus } from './math.js';\nimport { add as sum } from './math';\nexport const three: number = add(1, 2) + plus(0, 0) + sum(0, 0);\n",
      },
    ]);
    expect(out.findings).toEqual([]);
    expect(out).toMatchObject({ approved: true, decision: 'approved', counts: { error: 0, warning: 0, info: 0 }, files_reviewed: 2 });
    // Offline, the output says the model took no part.
    expect(out).toMatchObject({ llm: { used: false, reason: 'no model configured' } });
  });

  it('reports type errors and unresolved relative imports from the compiler', async () => {
    const out = await review([
      { path: 'a.ts', content: "import { b } from './missing.ts';\nexport const n: number = 'one';\nexport const c = b;\n" },
    ]);
    expect(out.approved).toBe(false);
    expect(out.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'TS2307', line: 1, severity: 'error' }),
        expect.objectContaining({
          rule: 'TS2322',
          line: 2,
          column: 14,
          severity: 'error',
          message: expect.stringContaining("'string' is not assignable to type 'number'"),
        }),
      ]),
    );
  });

  it('types bare package imports as any and checks node: imports against @types/node', async () => {
    const out = await review([
      {
        path: 'a.ts',
        content:
          "import express from 'express';\nimport { readFileSync } from 'node:fs';\nexport const app = express();\nexport const text: string = readFileSync('x', 'utf8');\nexport const bad: number = readFileSync('x', 'utf8');\n",
      },
    ]);
    expect(out.findings.map((f) => `${f.line}:${f.rule}`)).toEqual(['5:TS2322']);
  });

  it('applies ESLint and the secret/TODO rules, and stays quiet on the allowed forms', async () => {
    const content = [
      '// TODO: split this module', // 1
      'declare global { var registry: Map<string, number> }', // 2
      'export function run(x: number, y: number | null): void {', // 3
      '  var legacy = 1;', // 4
      '  if (x == 2 || y != null) console.log(legacy);', // 5
      "  eval('x');", // 6
      "  const password = 'hunter2!';", // 7
      "  const passwordField = 'password';", // 8
      "  const cfg = { apiKey: 'k3y-v4lue' };", // 9
      "  const aws = 'AKIAIOSFODNN7EXAMPLE';", // 10
      "  const tokenHeader = 'authorization';", // 11
      '  void [password, passwordField, cfg, aws, tokenHeader];', // 12
      "  void new Function('return 1');", // 13
      '  // eslint-disable-next-line no-debugger', // 14
      '  debugger;', // 15
      '}', // 16
    ].join('\n');
    const out = await review([{ path: 'rules.ts', content }]);
    const at = (rule: string) => rulesOf(out.findings, rule).map((f) => `${f.line}:${f.column}`);
    expect(at('todo-comment')).toEqual(['1:4']);
    // `declare global { var ... }` is the one place var is required, and `y != null` is allowed.
    expect(at('no-var')).toEqual(['4:3']);
    expect(at('eqeqeq')).toEqual(['5:9']);
    expect(at('no-console')).toEqual(['5:28']);
    expect(at('no-eval')).toEqual(['6:3']);
    expect(at('hardcoded-secret')).toEqual(['7:20', '9:25', '10:15']);
    expect(at('no-new-func')).toEqual(['13:8']);
    // Inline directives cannot switch the gate off; ESLint says so as an info finding.
    expect(at('no-debugger')).toEqual(['15:3']);
    expect(at('eslint-directive')).toEqual(['14:3']);
    expect(rulesOf(out.findings, 'no-console')[0]!.severity).toBe('warning');
    expect(out.findings.every((f) => !f.message.includes('hunter2'))).toBe(true);
    expect(out.findings.filter((f) => f.rule.startsWith('TS'))).toEqual([]);
    expect(new Set(out.findings.map((f) => f.rule))).toEqual(
      new Set([
        'todo-comment',
        'no-var',
        'eqeqeq',
        'no-console',
        'no-eval',
        'hardcoded-secret',
        'no-new-func',
        'no-debugger',
        'eslint-directive',
      ]),
    );
  });

  it('flags functions longer than 80 lines', async () => {
    const body = Array.from({ length: 85 }, (_, i) => `  total += ${i};`).join('\n');
    const out = await review([
      { path: 'long.ts', content: `export function long(): number {\n  let total = 0;\n${body}\n  return total;\n}\n` },
    ]);
    expect(rulesOf(out.findings, 'max-lines-per-function')).toEqual([
      expect.objectContaining({ line: 1, severity: 'warning', message: expect.stringContaining("'long' has too many lines (89)") }),
    ]);
  });

  it('finds SQL and shell commands built from request values, and leaves the parameterised forms alone', async () => {
    const handler = [
      "import { exec } from 'node:child_process';",
      'declare const db: { query(text: string, values?: unknown[]): Promise<unknown> };',
      'declare const sql: (s: TemplateStringsArray, ...v: unknown[]) => string;',
      "const TABLE = 'users';",
      'export async function handle(req: { query: { id: string; name: string }; body: { dir: string } }, limit: number) {',
      '  await db.query(`SELECT * FROM users WHERE id = ${req.query.id}`);',
      `  await db.query("DELETE FROM users WHERE name = '" + req.query.name + "'");`,
      '  await db.query(`SELECT * FROM ${TABLE} WHERE id = $1`, [req.query.id]);',
      '  await db.query(sql`SELECT * FROM users WHERE id = ${req.query.id}`);',
      '  await db.query(`SELECT * FROM users LIMIT ${limit}`);',
      '  const note = `Select ${limit} items from the list`;',
      '  exec(`ls ${req.body.dir}`);',
      '  return note;',
      '}',
      '',
    ].join('\n');
    const out = await review([{ path: 'src/handler.ts', content: handler }]);
    expect(out.approved).toBe(false);
    expect(rulesOf(out.findings, 'mesh/sql-injection')).toEqual([
      expect.objectContaining({
        line: 6,
        severity: 'error',
        message: expect.stringMatching(/^SQL injection: req\.query\.id comes from the request/),
      }),
      expect.objectContaining({ line: 7, severity: 'error', message: expect.stringContaining('req.query.name') }),
    ]);
    // A value of unknown origin is worth a look, not a rejection on its own.
    expect(rulesOf(out.findings, 'mesh/sql-interpolation')).toEqual([
      expect.objectContaining({ line: 10, severity: 'warning', message: expect.stringContaining('Possible SQL injection: limit') }),
    ]);
    expect(rulesOf(out.findings, 'security/detect-child-process')).toEqual([expect.objectContaining({ line: 12, severity: 'error' })]);

    const safe = await review([
      {
        path: 'src/repo.ts',
        content:
          'declare const db: { query(text: string, values?: unknown[]): Promise<unknown> };\n' +
          'export const byId = (id: string) => db.query(`SELECT * FROM users WHERE id = $1`, [id]);\n',
      },
    ]);
    expect(safe).toMatchObject({ approved: true, counts: { error: 0, warning: 0 } });
  });

  it('approves up to max_warnings warnings and rejects beyond', async () => {
    const files = [{ path: 'w.ts', content: 'export function report(): void {\n  console.info(1);\n  console.info(2);\n}\n' }];
    expect((await review(files)).approved).toBe(true);
    expect((await review(files, { max_warnings: 2 })).approved).toBe(true);
    const strict = await review(files, { max_warnings: 1 });
    expect(strict).toMatchObject({ approved: false, counts: { error: 0, warning: 2 } });
  });

  it('reviews the files produced by dependency steps when input.files is empty', async () => {
    const ctx = fakeContext({
      dependencies: { 'step-dev': { files: [{ path: 'src/x.ts', content: 'export const x = 1;\n' }], summary: 'built' } },
    });
    const out = await codeReviewAgent.execute({ files: [], task: 'review the feature' }, ctx);
    expect(out).toMatchObject({ approved: true, files_reviewed: 1 });
  });

  it('fails the task for missing files, unsafe paths and non-source input', async () => {
    await expect(codeReviewAgent.execute({}, fakeContext())).rejects.toThrow(TaskFailedError);
    await expect(codeReviewAgent.execute({}, fakeContext())).rejects.toThrow(/no files/);
    await expect(review([{ path: '../escape.ts', content: '' }])).rejects.toThrow(/unsafe file path/);
    await expect(review([{ path: '/etc/x.ts', content: '' }])).rejects.toThrow(/absolute path/);
    await expect(review([{ path: 'README.md', content: '# hi' }])).rejects.toThrow(/no TypeScript or JavaScript files/);
  });

  it('declares a schema that accepts its input and extra fields', async () => {
    const { default: Value } = await import('typebox/value');
    const schema = codeReviewAgent.inputSchema!;
    expect(Value.Check(schema, { files: [{ path: 'a.ts', content: '' }], task: 't', max_warnings: 3, extra: true })).toBe(true);
    expect(Value.Check(schema, { max_warnings: -1 })).toBe(false);
  });
});
