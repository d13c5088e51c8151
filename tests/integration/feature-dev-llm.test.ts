import { describe, expect, it } from 'vitest';
import { cicdAgent } from '../../agents/cicd/index.ts';
import { featureDevAgent } from '../../agents/feature-dev/index.ts';
import { fakeContext } from '../helpers/agent-context.ts';
import { json, llmOnDouble, malformed } from '../helpers/llm.ts';

type Files = Array<{ path: string; content: string }>;
type Out = Record<string, any>;

const spec = 'Create slugify(text: string): string. It lowercases a title and joins its words with dashes.';
const slugify = {
  path: 'src/slugify.ts',
  content:
    '/** Lowercases `text` and joins its words with dashes. */\n' +
    'export function slugify(text: string): string {\n' +
    "  let words = text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w !== '');\n" +
    "  return words.join('-');\n" +
    '}\n',
};
const slugifyTest = {
  path: 'tests/slugify.test.ts',
  content:
    "import { test } from 'node:test';\n" +
    "import assert from 'node:assert/strict';\n" +
    "import { slugify } from '../src/slugify.ts';\n\n" +
    "test('lowercases and dashes', () => {\n" +
    "  assert.equal(slugify('Hello, World'), 'hello-world');\n" +
    '});\n',
};

async function withModel() {
  const { double, llm } = await llmOnDouble();
  const run = async (input: Record<string, unknown>, dependencies: Record<string, unknown> = {}) =>
    (await featureDevAgent.execute(input, fakeContext({ llm, dependencies }))) as Out;
  return { double, run };
}

describe('feature-dev with a model (chat completions double)', () => {
  it('writes the module and test with the model, auto-fixed, type-checked, and the tests pass in CI', async () => {
    const { double, run } = await withModel();
    double.script(json({ files: [slugify, slugifyTest], notes: ['Non-ASCII letters are dropped.'] }));
    const out = await run({ spec });
    expect(out.llm).toEqual({ used: true, model: 'test-model' });
    expect(out).toMatchObject({
      module: 'src/slugify.ts',
      test: 'tests/slugify.test.ts',
      exports: ['slugify'],
      implemented: true,
      typecheck: { ok: true },
      lint: [],
    });
    const files = out.files as Files;
    // ESLint's prefer-const fix ran on the model's code before it was checked.
    expect(files[0]!.content).toContain('const words =');
    expect(out.eslint_fixed).toEqual([expect.objectContaining({ file: 'src/slugify.ts', rule: 'prefer-const' })]);
    expect(out.notes).toContain('Non-ASCII letters are dropped.');
    expect(out.summary).toMatch(/^Wrote src\/slugify\.ts \(slugify\) and tests\/slugify\.test\.ts with test-model/);

    // The model was asked for files by schema, given the spec and the scaffold's signature.
    const call = double.calls[0]!;
    expect(call.response_format?.json_schema?.name).toBe('feature_files');
    expect(call.messages[1]!.content).toContain(spec);
    expect(call.messages[1]!.content).toContain('export function slugify(text: string): string {');

    const ci = (await cicdAgent.execute({ files, steps: ['typecheck', 'lint', 'test'] }, fakeContext())) as Out;
    expect(ci.summary).toBe('Pipeline passed: typecheck passed, lint passed, test passed');
  }, 30_000);

  it('falls back to the scaffold when the model answer is malformed, saying why', async () => {
    const { double, run } = await withModel();
    double.script(...malformed);
    const out = await run({ spec });
    expect(out.llm).toMatchObject({ used: false, reason: expect.stringMatching(/^LLM_OUTPUT_INVALID: .*feature_files/) });
    expect(out.implemented).toBe(false);
    expect((out.files as Files)[0]!.content).toContain("throw new Error('not implemented: slugify");
    expect(out.summary).toMatch(/The model's answer was not used: LLM_OUTPUT_INVALID/);
    expect(double.calls).toHaveLength(2);
  });

  it('falls back when the model code does not typecheck, is unsafe, or drops an export the spec names', async () => {
    const { double, run } = await withModel();
    const broken = { ...slugify, content: 'export function slugify(text: string): string {\n  return text.length;\n}\n' };
    const renamed = { ...slugify, content: 'export function toSlug(text: string): string {\n  return text;\n}\n' };
    double.script(
      json({ files: [broken, slugifyTest] }),
      json({ files: [slugify, { ...slugifyTest, path: '../outside.test.ts' }] }),
      json({ files: [renamed, slugifyTest] }),
      json({ files: [slugify] }),
      { status: 500, message: 'model overloaded' },
    );
    const reasons: string[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await run({ spec });
      expect(out.implemented).toBe(false);
      reasons.push(out.llm.reason);
    }
    expect(reasons[0]).toMatch(/do not typecheck \(1 error\): src\/slugify\.ts:2 TS2322/);
    expect(reasons[1]).toMatch(/unsafe path "\.\.\/outside\.test\.ts": path contains '\.\.'/);
    expect(reasons[2]).toBe("the model's src/slugify.ts does not export slugify");
    expect(reasons[3]).toBe('the model did not return tests/slugify.test.ts');
    expect(reasons[4]).toMatch(/^LLM_ERROR: .*500: model overloaded/);
  });

  it('revises what the mechanical fixes leave: the model gets only those findings', async () => {
    const { double, run } = await withModel();
    const source = 'export function add(a: number, b: number): number {\n  debugger;\n  return eval(`${a} + ${b}`) as number;\n}\n';
    const findings = [
      { file: 'src/math.ts', line: 2, column: 3, rule: 'no-debugger', severity: 'error', message: "Unexpected 'debugger' statement." },
      { file: 'src/math.ts', line: 3, column: 10, rule: 'no-eval', severity: 'error', message: '`eval` can be harmful.' },
      { file: 'src/math.ts', line: 1, column: 1, rule: 'llm-review', severity: 'warning', message: 'add has no test' },
    ];
    double.script(
      json({
        files: [{ path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' }],
        notes: ['Replaced eval with addition.'],
      }),
    );
    const out = await run({ files: [{ path: 'src/math.ts', content: source }] }, { review: { findings } });
    expect(out.llm).toEqual({ used: true, model: 'test-model' });
    expect((out.files as Files)[0]!.content).toBe('export function add(a: number, b: number): number {\n  return a + b;\n}\n');
    expect((out.fixed as Out[]).map((f) => `${f.rule}: ${f.fix}`)).toEqual([
      'no-debugger: removed debugger statement',
      'no-eval: revised by test-model',
      'llm-review: revised by test-model; llm-review is not re-checked here, the next review will',
    ]);
    expect(out.unfixed).toEqual([]);
    const prompt = double.calls[0]!.messages[1]!.content;
    expect(prompt).toContain('src/math.ts:3 no-eval (error): `eval` can be harmful.');
    expect(prompt).not.toContain('no-debugger');
    expect(prompt).not.toContain('debugger;');
  });

  it('keeps the mechanical result when the revision adds type errors or the answer is malformed', async () => {
    const { double, run } = await withModel();
    const source = 'export function add(a: number, b: number): number {\n  return eval(`${a} + ${b}`) as number;\n}\n';
    const findings = [{ file: 'src/math.ts', line: 2, rule: 'no-eval', severity: 'error', message: '`eval` can be harmful.' }];
    double.script(
      json({ files: [{ path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return `${a}${b}`;\n}\n' }] }),
      ...malformed,
    );
    for (const reason of [/revision adds type errors \(0 before, 1 after\)/, /^LLM_OUTPUT_INVALID/]) {
      const out = await run({ files: [{ path: 'src/math.ts', content: source }] }, { review: { findings } });
      expect(out.llm).toMatchObject({ used: false, reason: expect.stringMatching(reason) });
      expect((out.files as Files)[0]!.content).toBe(source);
      expect(out.unfixed).toEqual([expect.objectContaining({ rule: 'no-eval', reason: expect.stringContaining('no mechanical fix') })]);
    }
  });

  it('does not call the model when the mechanical fixes leave nothing', async () => {
    const { double, run } = await withModel();
    const findings = [{ file: 'src/a.ts', line: 2, rule: 'no-debugger', message: "Unexpected 'debugger' statement." }];
    const out = await run(
      { files: [{ path: 'src/a.ts', content: 'export function f(): void {\n  debugger;\n}\n' }] },
      { review: { findings } },
    );
    expect(out.llm).toEqual({ used: false, reason: 'not needed: no finding was left after the mechanical fixes' });
    expect(double.calls).toHaveLength(0);
  });
});
