import { describe, expect, it, onTestFinished } from 'vitest';
import { cicdAgent } from '../../agents/cicd/index.ts';
import { codeReviewAgent } from '../../agents/code-review/index.ts';
import { featureDevAgent } from '../../agents/feature-dev/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { startPlatform } from '../helpers/platform.ts';

const test = {
  path: 'src/math.test.ts',
  content:
    "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from './math.ts';\n\ntest('adds', () => {\n  assert.equal(add(2, 3), 5);\n});\n",
};

async function platform() {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  return startPlatform(db, [featureDevAgent, codeReviewAgent, cicdAgent]);
}

describe('feature_implementation with the real agents, through the API', () => {
  it('code with a lint error is rejected, revised by feature-dev, approved, and passes CI', async () => {
    const { app } = await platform();
    const files = [
      { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  debugger;\n  return a + b;\n}\n' },
      test,
    ];
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { workflow: 'feature_implementation', input: { files }, wait: true },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status, JSON.stringify(body.error)).toBe('succeeded');
    const task = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
    const review = task.steps.find((s: { id: string }) => s.id === 'review');
    expect(review.attempts.map((a: { status: string }) => a.status)).toEqual(['superseded', 'succeeded']);
    expect(task.decisions.map((d: { outcome: string; action: string }) => `${d.outcome}:${d.action}`)).toEqual([
      'rejected:retry',
      'approved:continue',
    ]);
    expect(task.checkpoint.develop.fixed).toEqual([expect.objectContaining({ rule: 'no-debugger', file: 'src/math.ts', line: 2 })]);
    expect(task.checkpoint.develop.files[0].content).not.toContain('debugger');
    expect(task.checkpoint.develop.files.map((f: { path: string }) => f.path).sort()).toEqual(['src/math.test.ts', 'src/math.ts']);
    expect(task.checkpoint.ci.passed).toBe(true);
    expect(task.checkpoint.ci.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'typecheck:passed',
      'lint:passed',
      'test:passed',
    ]);
  }, 90_000);

  it('a finding feature-dev cannot fix hits max_attempts and fails with a clear reason', async () => {
    const { app } = await platform();
    const files = [
      { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return eval(`${a} + ${b}`) as number;\n}\n' },
      test,
    ];
    const body = (
      await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { workflow: 'feature_implementation', input: { files }, wait: true },
      })
    ).json();
    expect(body.status).toBe('failed');
    expect(body.error.message).toMatch(
      /step "review" \(code-review\) failed: step "review" answered rejected 3 times \(on_rejection max_attempts 3\); last answer: .*no-eval|error/,
    );
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'failed', 'skipped']);
  }, 90_000);

  it("asks the workflow's agents before storing it: an input they cannot run on is a 422 naming the step and the workflow's inputs", async () => {
    const { app } = await platform();
    const before = (await app.inject({ url: '/tasks' })).json().tasks.length;
    const refused = await app.inject({ method: 'POST', url: '/orchestrate', payload: { workflow: 'feature_implementation', input: {} } });
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({
      code: 'UNPLANNABLE',
      message: expect.stringMatching(
        /^workflow feature_implementation cannot run on this input: step "develop" \(feature-dev\) refuses it: feature-dev needs to know what to build.*Workflow feature_implementation takes input spec \(What to build.*files \(Code to start from/,
      ),
      details: { workflow: 'feature_implementation' },
    });
    expect((await app.inject({ url: '/tasks' })).json().tasks).toHaveLength(before);
    // A schedule of it is refused when it is written, not on every tick.
    const schedule = { name: 'nightly-build', cron: '0 3 * * *', workflow: 'feature_implementation' };
    const unrunnable = await app.inject({ method: 'POST', url: '/schedules', payload: schedule });
    expect([unrunnable.statusCode, unrunnable.json().code]).toEqual([422, 'UNPLANNABLE']);
    expect((await app.inject({ url: '/schedules/nightly-build' })).statusCode).toBe(404);
    const scheduled = await app.inject({
      method: 'POST',
      url: '/schedules',
      payload: { ...schedule, input: { spec: 'Build feature slugify utility' } },
    });
    expect(scheduled.statusCode, scheduled.body).toBe(201);

    // Given a spec, it is stored with what each step's agent said; review and ci, which work on
    // develop's files, are not refused for the files their input only names.
    const ok = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { workflow: 'feature_implementation', input: { spec: 'Create slugify(text: string): string' }, execute: false },
    });
    expect(ok.statusCode).toBe(202);
    expect(ok.json().checks.map((c: { step: string; verdict: string }) => [c.step, c.verdict])).toEqual([
      ['develop', 'scaffold'],
      ['review', 'runs'],
      ['ci', 'runs'],
    ]);
  });

  it('lists the named workflows and refuses an unknown one', async () => {
    const { app } = await platform();
    const list = (await app.inject({ url: '/workflows' })).json();
    expect(list.workflows.map((w: { name: string }) => w.name)).toContain('feature_implementation');
    const bad = await app.inject({ method: 'POST', url: '/orchestrate', payload: { workflow: 'nope' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('no workflow named "nope"; known: feature_implementation');
  });
});
