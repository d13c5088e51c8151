import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cicdAgent } from '../../../agents/cicd/index.ts';
import { TaskFailedError } from '../../../agents/sdk/index.ts';
import { fakeContext } from '../../helpers/agent-context.ts';

type Step = { name: string; status: string; duration_ms: number; exit_code: number | null; log_tail: string; reason?: string };
type Report = { passed: boolean; steps: Step[]; summary: string };

async function pipeline(files: Array<{ path: string; content: string }>, extra: Record<string, unknown> = {}): Promise<Report> {
  return (await cicdAgent.execute({ files, ...extra }, fakeContext())) as Report;
}

const stepNamed = (report: Report, name: string): Step => {
  const step = report.steps.find((s) => s.name === name);
  if (!step) throw new Error(`no ${name} step in ${JSON.stringify(report)}`);
  return step;
};

const math = { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' };
const testOf = (expected: number | string) => ({
  path: 'src/math.test.ts',
  content: `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add } from './math.ts';

test('adds two numbers', () => {
  assert.equal(add(1, 2), ${expected});
});
`,
});

describe('cicd agent', () => {
  it('passes a good project through typecheck, lint and test', async () => {
    const report = await pipeline([math, testOf(3)]);
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['typecheck', 'passed'],
      ['lint', 'passed'],
      ['test', 'passed'],
    ]);
    expect(report.passed).toBe(true);
    expect(stepNamed(report, 'typecheck').exit_code).toBe(0);
    expect(stepNamed(report, 'test').log_tail).toMatch(/pass 1/);
    expect(report.summary).toBe('Pipeline passed: typecheck passed, lint passed, test passed');
  });

  it('reports a type error as a failed typecheck and still runs the later steps', async () => {
    const broken = { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return `${a}${b}`;\n}\n' };
    const report = await pipeline([broken, testOf("'12'")]);
    const typecheck = stepNamed(report, 'typecheck');
    expect(typecheck).toMatchObject({ status: 'failed', exit_code: 2 });
    expect(typecheck.log_tail).toContain("src/math.ts(2,3): error TS2322: Type 'string' is not assignable to type 'number'.");
    expect(typecheck.log_tail).not.toContain(tmpdir());
    // Node strips the types and runs the code regardless, so the test step has its own verdict.
    expect(stepNamed(report, 'test').status).toBe('passed');
    expect(report.passed).toBe(false);
  });

  it('reports a wrong assertion as a failed test step', async () => {
    const report = await pipeline([math, testOf(4)], { steps: ['test'] });
    expect(report.steps).toHaveLength(1);
    const test = stepNamed(report, 'test');
    expect(test).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(test.log_tail).toMatch(/AssertionError/);
    expect(test.log_tail).toMatch(/3 !== 4/);
    expect(report.passed).toBe(false);
  });

  it('fails lint on error-severity rule findings only', async () => {
    // A console call is a warning and a TODO is info: reported, not failing.
    const noisy = {
      path: 'src/noisy.ts',
      content: 'export function f(x: number): void {\n  // TODO: use the logger\n  console.log(x === 1);\n}\n',
    };
    const passed = stepNamed(await pipeline([noisy], { steps: ['lint'] }), 'lint');
    expect(passed).toMatchObject({ status: 'passed', exit_code: 0 });
    expect(passed.log_tail).toContain('src/noisy.ts:3:3 warning no-console');
    expect(passed.log_tail).toContain('0 errors, 1 warnings, 1 info');
    const bad = { path: 'src/bad.ts', content: 'export function f(): void {\n  debugger;\n}\n' };
    const lint = stepNamed(await pipeline([bad], { steps: ['lint'] }), 'lint');
    expect(lint).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(lint.log_tail).toContain('src/bad.ts:2:3 error no-debugger');
    const secret = { path: 'src/config.ts', content: "export const apiKey = 'k3y-v4lue-123';\n" };
    expect(stepNamed(await pipeline([secret], { steps: ['lint'] }), 'lint').log_tail).toContain(
      'src/config.ts:1:23 error hardcoded-secret',
    );
  });

  it('skips a step that has nothing to run, with a reason; a pipeline in which nothing ran fails saying why, never passes', async () => {
    const report = await pipeline([math]);
    expect(report.steps.map((s) => s.status)).toEqual(['passed', 'passed', 'skipped']);
    expect(stepNamed(report, 'test').reason).toMatch(/no \*\.test\.ts/);
    expect(report.passed).toBe(true);
    await expect(pipeline([math], { steps: ['test'] })).rejects.toThrow(/nothing to run: test skipped \(no \*\.test\.ts/);
    const notCode = pipeline([
      { path: 'README.md', content: '# nothing to build' },
      { path: 'test_app.py', content: 'def test_a():\n    assert True\n' },
    ]);
    await expect(notCode).rejects.toBeInstanceOf(TaskFailedError);
    await expect(notCode).rejects.toThrow('no TypeScript or JavaScript files among README.md, test_app.py');
  });

  it('runs the steps its task names when no steps are given: "compile the typescript" typechecks only, "run the tests" tests', async () => {
    const bad = { path: 'src/bad.ts', content: 'export function f(): number {\n  debugger;\n  return 1;\n}\n' };
    const compiled = await pipeline([bad], { task: 'Compile the typescript' });
    expect(compiled.steps.map((s) => [s.name, s.status])).toEqual([['typecheck', 'passed']]);
    expect(compiled.passed).toBe(true);
    await expect(pipeline([math], { task: 'Run the tests' })).rejects.toThrow(/nothing to run: test skipped/);
    expect((await pipeline([math, testOf(3)], { task: 'Run the tests' })).steps.map((s) => s.name)).toEqual(['test']);
    // The whole pipeline, or words that name no step: all three.
    expect((await pipeline([bad], { task: 'Run the CI pipeline' })).steps.map((s) => s.name)).toEqual(['typecheck', 'lint', 'test']);
    expect((await pipeline([bad], { task: 'test it' })).passed).toBe(false);
  });

  it('kills a step that runs past timeout_ms', async () => {
    const hang = {
      path: 'hang.test.ts',
      content: "import { test } from 'node:test';\ntest('never ends', () => new Promise(() => setInterval(() => {}, 1000)));\n",
    };
    const started = Date.now();
    const report = await pipeline([hang], { steps: ['test'], timeout_ms: 1000 });
    expect(stepNamed(report, 'test')).toMatchObject({ status: 'timed_out', exit_code: null });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(report.summary).toBe('Pipeline failed: test timed out');
  });

  it('runs tests without the agent environment or access outside the workspace, and removes the workspace', async () => {
    process.env.MESH_CICD_TEST_SECRET = 'do-not-leak';
    onTestFinished(() => {
      delete process.env.MESH_CICD_TEST_SECRET;
    });
    const before = (await readdir(tmpdir())).filter((d) => d.startsWith('mesh-cicd-'));
    const probe = {
      path: 'probe.test.ts',
      content: `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';

test('sees no agent environment', () => assert.equal(process.env.MESH_CICD_TEST_SECRET, undefined));
test('may write its workspace', () => writeFileSync('out.txt', 'ok'));
test('may not read outside', () => assert.throws(() => readdirSync('/'), { code: 'ERR_ACCESS_DENIED' }));
`,
    };
    const report = await pipeline([probe], { steps: ['test'] });
    expect(stepNamed(report, 'test')).toMatchObject({ status: 'passed' });
    expect(stepNamed(report, 'test').log_tail).toMatch(/pass 3/);
    const after = (await readdir(tmpdir())).filter((d) => d.startsWith('mesh-cicd-'));
    expect(after.filter((d) => !before.includes(d))).toEqual([]);
  });

  it('fails the task for unusable input only', async () => {
    await expect(cicdAgent.execute({}, fakeContext())).rejects.toThrow(TaskFailedError);
    await expect(pipeline([{ path: '../outside.ts', content: '' }])).rejects.toThrow(/unsafe file path/);
    await expect(pipeline([math], { steps: ['deploy'] })).rejects.toThrow(/steps must be/);
    await expect(
      pipeline(
        [
          { path: 'a', content: '' },
          { path: 'a/b.ts', content: '' },
        ],
        { steps: ['lint'] },
      ),
    ).rejects.toThrow(/cannot lay out/);
  });
});
