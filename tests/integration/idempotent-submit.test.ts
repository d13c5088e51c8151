import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgDb, migrate, type Db } from '../../services/state/index.ts';
import { dropSchema, testDatabases, testDatabaseUrl, uniqueSchema } from '../helpers/db.ts';
import { gatedDb } from '../helpers/gated-db.ts';
import { sharedMathAgent, startPlatform } from '../helpers/platform.ts';

const plan = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
  ],
};

const count = async (db: Db, where = 'true', params: unknown[] = []) =>
  (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflows WHERE ${where}`, params))[0]!.n;

describe.each(testDatabases)('idempotent submit on $name', (t) => {
  async function setup() {
    const db = await t.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const { app } = await startPlatform(db, [], agent.env);
    return { db, app, log: agent.log };
  }

  it('the same Idempotency-Key and body return the first task, answered the same way, and run nothing twice', async () => {
    const { db, app, log } = await setup();
    const headers = { 'idempotency-key': `order-${randomUUID()}` };
    const first = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } });
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const [a, b] = [first.json(), again.json()];
    expect(b.task_id).toBe(a.task_id);
    expect(b.status).toBe('succeeded');
    expect(b.results).toEqual(a.results);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    // Without wait: the 202 shape, with the task as it is now.
    const noWait = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan } });
    expect(noWait.statusCode).toBe(202);
    expect(noWait.json()).toMatchObject({ task_id: a.task_id, status: 'succeeded', status_url: `/tasks/${a.task_id}` });
    expect(await count(db)).toBe(1);
    expect(log.runs.map((r) => r.step)).toEqual(['a', 'b']);
  });

  it('the same key with another body is a 409 naming the key, and the first task is untouched', async () => {
    const { db, app } = await setup();
    const key = `deploy-${randomUUID()}`;
    const first = (
      await app.inject({ method: 'POST', url: '/orchestrate', headers: { 'idempotency-key': key }, payload: { plan, wait: true } })
    ).json();
    const other = { steps: [{ ...plan.steps[0]!, input: { values: [5] } }] };
    const res = await app.inject({ method: 'POST', url: '/orchestrate', headers: { 'idempotency-key': key }, payload: { plan: other } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', details: { idempotency_key: key, task_id: first.task_id } });
    expect(res.json().message).toContain(key);
    expect(await count(db)).toBe(1);
    const task = (await app.inject({ url: `/tasks/${first.task_id}` })).json();
    expect(task.status).toBe('succeeded');
    expect(task.checkpoint.b).toEqual({ sum: 13, from: ['a'] });
  });

  it('a client-chosen task_id is the task id; retried it returns that task, and a bad one is a 400 naming it', async () => {
    const { db, app, log } = await setup();
    const taskId = randomUUID();
    const first = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, task_id: taskId.toUpperCase() } });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ task_id: taskId, status: 'running' });
    const again = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, task_id: taskId, wait: true } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ task_id: taskId, status: 'succeeded' });
    const clash = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps: [plan.steps[0]] }, task_id: taskId } });
    expect(clash.statusCode).toBe(409);
    expect(clash.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', details: { task_id: taskId } });

    const bad = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, task_id: 'order-42' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(bad.json().message).toMatch(/task_id must be a UUID.*order-42/);
    const badKey = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      headers: { 'idempotency-key': 'has space' },
      payload: { plan },
    });
    expect(badKey.statusCode).toBe(400);
    expect(badKey.json().message).toMatch(/Idempotency-Key/);
    expect(await count(db)).toBe(1);
    expect(log.runs).toHaveLength(2);
  });

  it('when to start it and its flow control are part of the request: the same key with others is a 409', async () => {
    const { db, app } = await setup();
    const headers = { 'idempotency-key': `later-${randomUUID()}` };
    const later = { plan, delay: '1h', priority: 2 };
    const first = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: later });
    expect(first.json()).toMatchObject({ status: 'scheduled' });
    const again = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: later });
    expect([again.statusCode, again.json().task_id]).toEqual([202, first.json().task_id]);
    for (const other of [
      { plan },
      { ...later, delay: '2h' },
      { ...later, priority: 5 },
      { ...later, concurrency: { key: 'x', limit: 1 } },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: other });
      expect(res.statusCode, JSON.stringify(other)).toBe(409);
      expect(res.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', details: { task_id: first.json().task_id } });
    }
    expect(await count(db)).toBe(1);
  });

  it('a planned task (execute: false) retried stays the one planned task', async () => {
    const { db, app } = await setup();
    const headers = { 'idempotency-key': randomUUID() };
    const first = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, execute: false, wait: true } });
    const again = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, execute: false, wait: true } });
    expect([first.statusCode, again.statusCode]).toEqual([202, 202]);
    expect(again.json()).toMatchObject({ task_id: first.json().task_id, status: 'planned' });
    expect(await count(db)).toBe(1);
  });

  it("a submit that loses the insert to another with the same key answers with the winner's task", async () => {
    const base = await t.open();
    onTestFinished(() => base.close());
    const gated = gatedDb(base);
    const agent = await sharedMathAgent();
    const { app } = await startPlatform(gated.db, [], agent.env);
    const headers = { 'idempotency-key': randomUUID() };
    // The first submit looks the key up, finds nothing, and is held there; a second one then
    // creates the workflow; the first, let go, must not make another.
    const hold = gated.hold(/WHERE idempotency_key = \$1/);
    const loser = app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } });
    await hold.held;
    const winner = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } });
    hold.release();
    const lost = await loser;
    expect(lost.json().task_id).toBe(winner.json().task_id);
    expect([lost.statusCode, lost.json().status]).toEqual([200, 'succeeded']);
    expect(lost.headers['idempotent-replayed']).toBe('true');
    expect(await count(base)).toBe(1);
    expect(agent.log.runs).toHaveLength(2);
  });
});

describe('idempotent submit across replicas and restarts, on postgres', () => {
  async function twoReplicas() {
    const schema = uniqueSchema('idem');
    onTestFinished(() => dropSchema(schema));
    const [dbA, dbB] = await Promise.all([1, 2].map(() => createPgDb({ connectionString: testDatabaseUrl, schema, poolSize: 5 })));
    onTestFinished(async () => {
      await dbA!.close();
      await dbB!.close();
    });
    await migrate(dbA!);
    const agent = await sharedMathAgent();
    const a = await startPlatform(dbA!, [], agent.env);
    const b = await startPlatform(dbB!, [], agent.env);
    return { dbA: dbA!, dbB: dbB!, a: a.app, b: b.app, log: agent.log, env: agent.env };
  }

  it('two orchestrators racing 20 keys make one workflow per key, and every answer names it', async () => {
    const { dbA, a, b, log } = await twoReplicas();
    const keys = Array.from({ length: 20 }, () => `race-${randomUUID()}`);
    const answers = await Promise.all(
      keys.flatMap((key) =>
        [a, b, a, b].map((app) =>
          app
            .inject({ method: 'POST', url: '/orchestrate', headers: { 'idempotency-key': key }, payload: { plan, wait: true } })
            .then((r) => ({ key, status: r.statusCode, body: r.json() })),
        ),
      ),
    );
    for (const key of keys) {
      const mine = answers.filter((x) => x.key === key);
      expect(mine.map((x) => x.status)).toEqual([200, 200, 200, 200]);
      expect(new Set(mine.map((x) => x.body.task_id)).size).toBe(1);
      expect(mine.every((x) => x.body.status === 'succeeded')).toBe(true);
    }
    expect(await count(dbA, 'idempotency_key = ANY($1)', [keys])).toBe(keys.length);
    expect(await count(dbA)).toBe(keys.length);
    // Each workflow's steps ran once: two steps per key.
    expect(log.runs).toHaveLength(keys.length * 2);
  });

  it('after the orchestrator that made it is gone, a retry on a new one returns the same task', async () => {
    const { dbA, dbB, a, env } = await twoReplicas();
    const headers = { 'idempotency-key': randomUUID() };
    const first = (await a.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } })).json();
    await a.close();
    const { app: restarted } = await startPlatform(dbB, [], env);
    const again = await restarted.inject({ method: 'POST', url: '/orchestrate', headers, payload: { plan, wait: true } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ task_id: first.task_id, status: 'succeeded' });
    expect(await count(dbA)).toBe(1);
  });
});
