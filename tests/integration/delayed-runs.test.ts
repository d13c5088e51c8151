import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { sharedMathAgent, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

const plan = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
  ],
};

async function eventTypes(db: Db, id: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  return db.query('SELECT type, data FROM workflow_events WHERE workflow_id = $1 ORDER BY seq', [id]);
}

describe.each(testDatabases)('delayed runs on $name', (t) => {
  async function setup(env: Record<string, string> = {}) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const platform = await startPlatform(db, [], { ...agent.env, ...env });
    return { db, ...platform, agent };
  }

  it('a delay stores the run as scheduled at once, and it starts when its time has come, not before', async () => {
    const { db, app, agent } = await setup();
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, delay: '1500ms' } });
    expect(res.statusCode, res.body).toBe(202);
    const { task_id: id, status, run_at } = res.json();
    expect(status).toBe('scheduled');
    const runAt = new Date(run_at as string);
    expect(Number.isNaN(runAt.getTime())).toBe(false);

    const scheduled = (await app.inject({ url: `/tasks/${id}` })).json();
    expect(scheduled).toMatchObject({ status: 'scheduled', started_at: null });
    expect(new Date(scheduled.run_at).getTime()).toBe(runAt.getTime());
    expect((await app.inject({ url: '/tasks?status=scheduled' })).json().tasks.map((x: { task_id: string }) => x.task_id)).toContain(id);

    const done = await poll(
      async () => {
        const task = (await app.inject({ url: `/tasks/${id}` })).json();
        return task.status === 'succeeded' && task;
      },
      { timeoutMs: 20_000, label: 'the delayed run to succeed' },
    );
    // Started on its time or after, as recorded by the database, never before.
    expect(new Date(done.started_at).getTime()).toBeGreaterThanOrEqual(runAt.getTime());
    expect(done.run_at).toBeUndefined();
    expect(agent.log.runs.map((r) => r.step)).toEqual(['a', 'b']);
    const events = await eventTypes(db, id);
    expect(events[0]).toMatchObject({ type: 'workflow_scheduled', data: { run_at: runAt.toISOString() } });
    expect(events[1]).toMatchObject({ type: 'workflow_started', data: { scheduled: true } });
  });

  it('run_at names the time; a scheduled run can be cancelled before it starts and then never runs', async () => {
    const { db, app, agent } = await setup();
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, run_at: at } });
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().task_id as string;
    expect(res.json().run_at).toBe(at);
    const cancelled = await app.inject({ method: 'POST', url: `/tasks/${id}/cancel`, payload: { reason: 'not today' } });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect((await app.inject({ url: `/tasks/${id}` })).json()).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    // Nothing can start it now.
    const run = await app.inject({ method: 'POST', url: `/execute/${id}` });
    expect(run.statusCode).toBe(409);
    expect(await db.query('SELECT 1 FROM steps WHERE workflow_id = $1', [id])).toEqual([]);
    expect(agent.log.runs).toEqual([]);
  });

  it('POST /execute starts a scheduled run now; resume says it has not started', async () => {
    const { app } = await setup();
    const id = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, delay: '1h' } })).json().task_id as string;
    const resume = await app.inject({ method: 'POST', url: `/resume/${id}` });
    expect(resume.statusCode).toBe(409);
    expect(resume.json().message).toContain(`POST /execute/${id}`);
    const now = await app.inject({ method: 'POST', url: `/execute/${id}`, payload: { wait: true } });
    expect(now.statusCode, now.body).toBe(200);
    expect(now.json().status).toBe('succeeded');
  });

  it('is durable: scheduled on one orchestrator that stops, started by another on time', async () => {
    const db = await t.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const first = await startPlatform(db, [], { ...agent.env, ORCHESTRATOR_ID: 'first' });
    const res = await first.app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, delay: '2s' } });
    const id = res.json().task_id as string;
    await first.app.close();
    // The second one looks at start (its first recovery pass) and sets its timer from the table.
    const second = await startPlatform(db, [], { ...agent.env, ORCHESTRATOR_ID: 'second' });
    const done = await poll(
      async () => {
        const task = (await second.app.inject({ url: `/tasks/${id}` })).json();
        return task.status === 'succeeded' && task;
      },
      { timeoutMs: 20_000, label: 'the run scheduled on the stopped orchestrator' },
    );
    expect(new Date(done.started_at).getTime()).toBeGreaterThanOrEqual(new Date(res.json().run_at).getTime());
    const started = (await eventTypes(db, id)).find((e) => e.type === 'workflow_started');
    expect(started?.data.owner).toBe('second');
    expect(agent.log.runs.map((r) => r.step)).toEqual(['a', 'b']);
  });

  it('a retried submit with the same Idempotency-Key gets the same scheduled task', async () => {
    const { db, app } = await setup();
    const headers = { 'idempotency-key': `nightly-${randomUUID()}` };
    const payload = { plan, delay: '1h' };
    const a = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload });
    const b = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload });
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.json()).toMatchObject({ task_id: a.json().task_id, status: 'scheduled' });
    expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflows WHERE status = 'scheduled'`))[0]!.n).toBe(1);
  });

  it('bad start times are a 400 naming the field, and nothing is stored', async () => {
    const { db, app } = await setup();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ delay: '5m', run_at: '2030-01-01T00:00:00Z' }, 'delay', 'not both'],
      [{ delay: '5' }, 'delay', 'with a unit'],
      [{ delay: 'soon' }, 'delay', 'with a unit'],
      [{ delay: '-5m' }, 'delay', 'with a unit'],
      [{ run_at: 'tomorrow' }, 'run_at', 'ISO 8601'],
      [{ run_at: '2030-01-01T09:00:00' }, 'run_at', 'with a zone'],
      [{ delay: '400d' }, 'delay', 'more than a year'],
      [{ delay: '5m', execute: false }, 'delay', 'only plans'],
    ];
    for (const [extra, field, words] of cases) {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, ...extra } });
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
      expect(res.json(), JSON.stringify(extra)).toMatchObject({ code: 'VALIDATION_FAILED', details: { field } });
      expect(res.json().message).toContain(words);
    }
    expect(await db.query('SELECT 1 FROM workflows')).toEqual([]);
  });
});
