import { once } from 'node:events';
import { request } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { metricValue } from '../helpers/metrics.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

async function platform(env: Record<string, string> = {}) {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  const { agents, log } = testAgents();
  const p = await startPlatform(db, agents, env);
  onTestFinished(() => db.close());
  return { ...p, log, db };
}

const okPlan = { steps: [{ id: 'a', agent: 'math', input: { values: [1] } }] };

describe('orchestrator API: bad input', () => {
  it('names what is wrong with a malformed body, and stores nothing', async () => {
    const { app } = await platform();
    const notJson = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      headers: { 'content-type': 'application/json' },
      payload: '{"plan": ',
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ statusCode: 400, code: 'INVALID_JSON', error: 'Bad Request' });

    const wrongType = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 42 } });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('description') });

    const unknownField = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: { steps: [{ id: 'a', agent: 'math', agnet: 'x' }] } },
    });
    expect(unknownField.statusCode).toBe(400);
    // The field it did not expect, where it is, not only that its object has one too many.
    expect(unknownField.json()).toMatchObject({
      message: 'plan.steps[0].agnet is not a field this route takes; did you mean agent?',
      details: { field: 'plan.steps[0].agnet' },
    });
    // A name nothing like the route's own ("task" for description): the fields it does take.
    const guessed = await app.inject({ method: 'POST', url: '/orchestrate', payload: { task: 'Write a function' } });
    expect(guessed.statusCode).toBe(400);
    const said = guessed.json().message as string;
    expect(said).toMatch(/^task is not a field this route takes; it takes /);
    for (const field of ['description', 'plan', 'input', 'wait', 'task_id']) expect(said).toContain(field);
    // Two letters the wrong way round are one slip, even in a short name.
    const swapped = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: okPlan, wiat: true } });
    expect(swapped.json().message).toBe('wiat is not a field this route takes; did you mean wait?');
    const missing = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps: [{ agent: 'math' }] } } });
    expect(missing.json()).toMatchObject({ message: 'plan.steps[0].id is required', details: { field: 'plan.steps[0].id' } });
    // A choice among literals names them, once.
    const choice = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: okPlan, budget: { tokens: 5, on_budget: 'later' } },
    });
    expect(choice.json()).toMatchObject({
      message: 'budget.on_budget must be one of "fail", "wait"',
      details: {
        field: 'budget.on_budget',
        errors: [{ field: 'budget.on_budget', message: 'budget.on_budget must be one of "fail", "wait"' }],
      },
    });
    const badQuery = await app.inject({ url: '/tasks?status=bogus' });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json()).toMatchObject({
      details: { field: 'status' },
      message: expect.stringMatching(/^status must be one of "planned", /),
    });

    const empty = await app.inject({ method: 'POST', url: '/orchestrate', payload: {} });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().message).toContain('"description"');

    const list = (await app.inject({ url: '/tasks' })).json();
    expect(list.tasks).toEqual([]);
  });

  it('refuses an oversized body with 413', async () => {
    const { app } = await platform({ BODY_LIMIT_BYTES: '2048' });
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'x'.repeat(5000) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'BODY_TOO_LARGE', message: 'request body is larger than the limit of 2048 bytes' });
  });

  it('refuses an invalid graph with 400 naming unknown agents, unknown dependencies and cycles', async () => {
    const { app } = await platform();
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: {
        plan: {
          steps: [
            { id: 'a', agent: 'nobody', input: {} },
            { id: 'b', agent: 'math', depends_on: ['ghost'] },
            { id: 'c', agent: 'math', depends_on: ['d'] },
            { id: 'd', agent: 'math', depends_on: ['c'] },
          ],
        },
      },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('INVALID_PLAN');
    expect(body.message).toContain('step "a" names unknown agent "nobody"');
    expect(body.message).toContain('step "b" depends on unknown step "ghost"');
    expect(body.message).toMatch(/cycle: (c -> d -> c|d -> c -> d)/);
    expect(body.details.unknownAgents).toEqual([{ step: 'a', agent: 'nobody' }]);
    expect((await app.inject({ url: '/tasks' })).json().tasks).toEqual([]);
  });

  it('answers 422 naming the part it cannot plan and the agents that exist', async () => {
    const { app } = await platform();
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'add numbers then paint the fence' } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'UNPLANNABLE', details: { part: 'paint the fence' } });
    expect(res.json().message).toContain('math (add numbers, sum values)');
  });

  it('plans a description by the capabilities agents declare', async () => {
    const { app } = await platform();
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'add numbers and sum values then add numbers', input: { values: [2, 3] }, wait: true },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.plan.steps.map((s: { id: string; depends_on: string[] }) => [s.id, s.depends_on])).toEqual([
      ['math', []],
      ['math-2', []],
      ['math-3', ['math', 'math-2']],
    ]);
    expect(body.results[2].output.sum).toBe(15);
  });

  it('404 for unknown tasks on every task route; 409 resuming a finished one', async () => {
    const { app } = await platform();
    const unknown = '5b0c8a53-55a4-4b0c-9d36-5a4f1a2b3c4d';
    for (const [method, url] of [
      ['GET', `/tasks/${unknown}`],
      ['GET', '/tasks/not-a-uuid'],
      ['POST', `/resume/${unknown}`],
      ['POST', `/execute/${unknown}`],
      ['POST', `/tasks/${unknown}/cancel`],
      ['GET', `/tasks/${unknown}/events`],
    ] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().code).toBe('TASK_NOT_FOUND');
    }
    const done = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: okPlan, wait: true } })).json();
    const again = await app.inject({ method: 'POST', url: `/resume/${done.task_id}` });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'WORKFLOW_FINISHED', message: expect.stringContaining('succeeded') });
    expect((await app.inject({ url: '/nowhere' })).json().code).toBe('ROUTE_NOT_FOUND');
  });
});

describe('orchestrator API: reading', () => {
  it('lists tasks by status, a page at a time', async () => {
    const { app } = await platform();
    for (let i = 0; i < 3; i++) await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: okPlan, wait: true } });
    await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: okPlan, execute: false } });
    const first = (await app.inject({ url: '/tasks?status=succeeded&limit=2' })).json();
    expect(first.tasks).toHaveLength(2);
    // A run without a description is told apart by its steps.
    expect(first.tasks[0]).toMatchObject({ description: null, step_ids: ['a'] });
    const second = (await app.inject({ url: `/tasks?status=succeeded&limit=2&cursor=${first.next_cursor}` })).json();
    expect(second.tasks).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect((await app.inject({ url: '/tasks?status=planned' })).json().tasks).toHaveLength(1);
    expect((await app.inject({ url: '/tasks?status=bogus' })).statusCode).toBe(400);
    const badCursor = await app.inject({ url: '/tasks?cursor=zzz' });
    expect(badCursor.statusCode).toBe(400);
    // Named as the caller wrote it, like every other query field ("limit must be >= 1").
    expect(badCursor.json()).toMatchObject({ message: 'cursor is not a cursor this API returned', details: { field: 'cursor' } });
  });

  it('streams events as SSE: replayed from the start, then live, ending after the final status', async () => {
    const { app } = await platform();
    const plan = {
      steps: [
        { id: 'a', agent: 'math', input: { values: [1], ms: 200 } },
        { id: 'b', agent: 'math', depends_on: ['a'] },
      ],
    };
    const { task_id } = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan } })).json();
    const base = await listenOnLoopback(app);
    const req = request(`${base}/tasks/${task_id}/events`);
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    expect(res.headers['content-type']).toBe('text/event-stream');
    let text = '';
    for await (const chunk of res) text += String(chunk);
    const types = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    expect(types).toEqual(['workflow_started', 'step_started', 'step_succeeded', 'step_started', 'step_succeeded', 'workflow_succeeded']);
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    // Replay after a given id.
    const replay = await app.inject({ url: `/tasks/${task_id}/events`, headers: { 'last-event-id': String(ids[3]) } });
    expect([...replay.body.matchAll(/^event: (.+)$/gm)].map((m) => m[1])).toEqual(['step_succeeded', 'workflow_succeeded']);
  });

  it('serves agents, health, readiness, metrics and the OpenAPI document', async () => {
    const { app } = await platform();
    await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: okPlan, wait: true } });
    const agents = (await app.inject({ url: '/agents' })).json();
    expect(agents.agents.find((a: { name: string }) => a.name === 'math')).toMatchObject({
      status: 'up',
      capabilities: ['add numbers', 'sum values'],
    });
    expect((await app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/ready' })).json()).toMatchObject({ status: 'ready', checks: { database: 'pglite' } });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metricValue(metrics, 'workflows_total', { status: 'succeeded' })).toBe(1);
    expect(metricValue(metrics, 'agent_calls_total', { agent: 'math', status: 'succeeded' })).toBe(1);
    expect(metrics).toContain('workflow_duration_seconds_bucket');
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/orchestrate',
        '/tasks/{task_id}',
        '/tasks/{task_id}/events',
        '/resume/{task_id}',
        '/execute/{task_id}',
        '/tasks/{task_id}/cancel',
        '/agents',
      ]),
    );
  });
});
