import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loadBuiltInAgents } from '../../agents/index.ts';
import { defineAgent } from '../../agents/sdk/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { startPlatform } from '../helpers/platform.ts';

async function platform() {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  const p = await startPlatform(db, await loadBuiltInAgents());
  return p.app;
}

// The three descriptions, over HTTP, with the built-in agents answering POST /check.
describe('a description is checked by its agents before it is accepted', () => {
  it('"Build feature Z then document feature Z" runs feature-dev then documentation to success, and says feature-dev only scaffolds', async () => {
    const app = await platform();
    const submit = () =>
      app.inject({
        method: 'POST',
        url: '/orchestrate',
        headers: { 'idempotency-key': 'build-z' },
        payload: { description: 'Build feature Z then document feature Z', wait: true },
      });
    const res = await submit();
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    // A retry is answered from what was stored, checks and all: the same shape, nothing planned again.
    const again = await submit();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(Object.keys(again.json()).sort()).toEqual(Object.keys(body).sort());
    expect(again.json().checks).toEqual(body.checks);
    expect(body.status).toBe('succeeded');
    expect(body.plan.steps.map((s: { id: string; depends_on: string[] }) => [s.id, s.depends_on])).toEqual([
      ['feature-dev', []],
      ['documentation', ['feature-dev']],
    ]);
    expect(body.checks).toEqual([
      expect.objectContaining({ step: 'feature-dev', verdict: 'scaffold', reason: expect.stringContaining('not implemented') }),
      expect.objectContaining({ step: 'documentation', verdict: 'runs' }),
    ]);
    const events = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
    expect(events.status).toBe('succeeded');
  }, 150_000);

  it('"Test workflow 7" and "Build feature X AND deploy infrastructure Y" get a 422 naming each clause, its agent and what to write; nothing is stored', async () => {
    const app = await platform();
    const test = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'Test workflow 7' } });
    expect(test.statusCode).toBe(422);
    expect(test.json()).toMatchObject({
      code: 'UNPLANNABLE',
      message: expect.stringMatching(/"Test workflow 7" went to cicd, which refuses it: .*; instead, pass input\.files/),
      details: {
        clauses: [
          { step: 'cicd', clause: 'Test workflow 7', agent: 'cicd', verdict: 'refused', fix: expect.stringContaining('input.files') },
        ],
      },
    });
    const both = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'Build feature X AND deploy infrastructure Y' },
    });
    expect(both.statusCode).toBe(422);
    expect(both.json().details.clauses).toEqual([
      expect.objectContaining({ step: 'feature-dev', verdict: 'scaffold' }),
      expect.objectContaining({
        step: 'infrastructure',
        clause: 'deploy infrastructure Y',
        verdict: 'refused',
        fix: expect.stringContaining('name a known service (redis, postgres'),
      }),
    ]);
    // Another language is refused by name, not scaffolded as a TypeScript module named after it.
    const python = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'Write a Python script that parses CSV files' },
    });
    expect(python.statusCode).toBe(422);
    expect(python.json().message).toMatch(
      /went to feature-dev, which refuses it: feature-dev writes TypeScript modules only, and this asks for Python code/,
    );
    expect((await app.inject({ url: '/tasks' })).json().tasks).toEqual([]);
  }, 120_000);

  it('"review the code and fix the findings, then run the tests": the fix waits for the review, and the tests run on the fixed files', async () => {
    const app = await platform();
    // The test file fails on the code as given: it passes only where the review's finding was fixed.
    const test = [
      "import { test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import { readFileSync } from 'node:fs';",
      "import { sum } from './sum.ts';",
      '',
      "test('adds', () => assert.equal(sum(1, 2), 3));",
      "test('has no var', () => assert.ok(!/\\bvar\\b/.test(readFileSync(new URL('./sum.ts', import.meta.url), 'utf8'))));",
      '',
    ].join('\n');
    const files = [
      { path: 'src/sum.ts', content: 'export function sum(a: number, b: number): number {\n  var total = a + b;\n  return total;\n}\n' },
      { path: 'src/sum.test.ts', content: test },
    ];
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'Review the code and fix the findings, then run the tests', input: { files }, wait: true },
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.plan.steps.map((s: { id: string; depends_on: string[] }) => [s.id, s.depends_on])).toEqual([
      ['code-review', []],
      ['feature-dev', ['code-review']],
      ['cicd', ['code-review', 'feature-dev']],
    ]);
    // The step after the fix reads the fixed files, not the run's input.
    expect(body.plan.steps[2].input.files).toBeUndefined();
    const output = (id: string) => body.results.find((r: { step_id: string }) => r.step_id === id).output;
    expect(output('code-review').findings).toContainEqual(expect.objectContaining({ file: 'src/sum.ts', rule: 'no-var' }));
    expect(output('feature-dev').files.find((f: { path: string }) => f.path === 'src/sum.ts').content).toContain('const total = a + b;');
    // "run the tests" runs the test step, on the fixed files: the test that fails on `var` passes.
    expect(output('cicd')).toMatchObject({ passed: true, steps: [{ name: 'test', status: 'passed' }] });
  }, 120_000);

  it('with execute: false a refused plan is the answer, with the same findings, and nothing is stored; with files it is planned', async () => {
    const app = await platform();
    const preview = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'Test workflow 7', execute: false } });
    expect(preview.statusCode).toBe(200);
    expect(preview.json()).toMatchObject({
      task_id: null,
      status: 'refused',
      plan: { steps: [{ id: 'cicd', agent: 'cicd' }] },
      checks: [{ step: 'cicd', verdict: 'refused' }],
    });
    expect((await app.inject({ url: '/tasks' })).json().tasks).toEqual([]);
    const files = [{ path: 'src/a.ts', content: 'export const a: number = 1;\n' }];
    const planned = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'Test workflow 7', input: { files }, execute: false },
    });
    expect(planned.statusCode).toBe(202);
    expect(planned.json()).toMatchObject({ status: 'planned', checks: [{ step: 'cicd', verdict: 'runs' }] });
  }, 120_000);

  it('an agent that does not answer POST /check within PLAN_CHECK_TIMEOUT_MS leaves its step unchecked, and planning goes on', async () => {
    let asked = 0;
    const slow = defineAgent({
      name: 'ponder',
      description: 'ponders a question',
      capabilities: ['ponder the question'],
      async check() {
        asked++;
        await sleep(2_000);
        return { verdict: 'runs' as const };
      },
      execute: async () => ({ pondered: true }),
    });
    const db = await createPgliteDb('memory://');
    await migrate(db);
    const { app } = await startPlatform(db, [slow], { PLAN_CHECK_TIMEOUT_MS: '300' });
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'ponder the question', execute: false } });
    expect(res.statusCode, res.body).toBe(202);
    // Asked, and not waited for: a check that had been waited for would say "runs".
    expect(asked).toBe(1);
    expect(res.json().checks).toEqual([
      expect.objectContaining({ step: 'ponder', verdict: 'unchecked', reason: expect.stringContaining('could not be asked') }),
    ]);
  }, 30_000);
});
