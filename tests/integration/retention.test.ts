import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiKeyStore } from '../../services/auth/index.ts';
import { pruneFinished, store, type Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { poll } from '../helpers/poll.ts';
import { startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

const plan = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1] } },
    { id: 'b', agent: 'math', input: { values: [2] }, depends_on: ['a'] },
  ],
};

const rowsOf = async (db: Db, id: string) => {
  const [r] = await db.query<{ w: number; s: number; e: number }>(
    `SELECT (SELECT count(*) FROM workflows WHERE id = $1)::int AS w, (SELECT count(*) FROM steps WHERE workflow_id = $1)::int AS s,
            (SELECT count(*) FROM workflow_events WHERE workflow_id = $1)::int AS e`,
    [id],
  );
  return r!;
};

/** Makes a run look created and finished `days` ago. */
const ageRun = (db: Db, id: string, days: number) =>
  db.query(`UPDATE workflows SET created_at = now() - $2 * interval '1 day', finished_at = now() - $2 * interval '1 day' WHERE id = $1`, [
    id,
    days,
  ]);

describe.each(testDatabases)('retention on $name', (t) => {
  it(
    'deletes finished workflows older than RETENTION_DAYS with their steps and events, and nothing else',
    { timeout: 120_000 },
    async () => {
      const db = await t.open();
      onTestFinished(() => db.close());
      // A long interval: the test runs the pass itself, through the same object the timer would.
      const { app } = await startPlatform(db, testAgents().agents, { RETENTION_DAYS: '7', RETENTION_BATCH_SIZE: '2' });
      const submit = async (body: Record<string, unknown>) =>
        (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, ...body } })).json<{ task_id: string }>().task_id;
      const ids = {
        oldSucceeded: [await submit({ wait: true }), await submit({ wait: true }), await submit({ wait: true })],
        // A plan of its own: retention deletes it with the run, where the others' shared one stays.
        oldCancelled: await submit({ execute: false, plan: { steps: [plan.steps[0]] } }),
        oldPlanned: await submit({ execute: false }),
        recent: await submit({ wait: true }),
        borderline: await submit({ wait: true }),
      };
      await app.inject({ method: 'POST', url: `/tasks/${ids.oldCancelled}/cancel`, payload: {} });
      await poll(async () => (await db.query(`SELECT 1 FROM workflows WHERE status IN ('running', 'waiting')`)).length === 0, {
        timeoutMs: 20_000,
        label: 'every workflow to settle',
      });
      for (const id of ids.oldSucceeded) await ageRun(db, id, 40);
      await ageRun(db, ids.oldCancelled, 8);
      await ageRun(db, ids.recent, 1);
      await ageRun(db, ids.borderline, 6.9);
      // Old but not finished: never started, so retention leaves it.
      await db.query(`UPDATE workflows SET created_at = now() - interval '90 days' WHERE id = $1`, [ids.oldPlanned]);
      await db.query(
        `INSERT INTO schedules (name, id, cron, target, overlap, catch_up, enabled, created_at, last_task_id)
       VALUES ('kept', gen_random_uuid(), '0 0 * * *', '{"plan": {"steps": []}}', 'skip', 'none', false, now() - interval '400 days', $1)`,
        [ids.oldSucceeded[0]],
      );
      const keys = new ApiKeyStore(db, {});
      const key = await keys.create({ name: 'old-bot', scopes: ['read'] });
      await db.query(`UPDATE api_keys SET created_at = now() - interval '400 days'`);

      const before = await Promise.all(ids.oldSucceeded.map((id) => rowsOf(db, id)));
      expect(before.every((r) => r.w === 1 && r.s === 2)).toBe(true);
      // A succeeded run's rows carry its whole log; the cancelled one's end is an event row.
      for (const id of ids.oldSucceeded) expect((await store.listEvents(db, id, 0)).length).toBe(6);
      expect((await rowsOf(db, ids.oldCancelled)).e).toBeGreaterThan(0);

      const pruned = await app.retention.pruneNow();
      expect(pruned.workflows).toBe(4);
      expect(pruned.plans).toBe(1);
      expect((await db.query('SELECT 1 FROM plans')).length).toBe(1);
      // Three two-step workflows; the cancelled one never started a step.
      expect(pruned.steps).toBe(before.reduce((n, r) => n + r.s, 0));
      for (const id of [...ids.oldSucceeded, ids.oldCancelled]) expect(await rowsOf(db, id)).toEqual({ w: 0, s: 0, e: 0 });
      for (const id of [ids.oldPlanned, ids.recent, ids.borderline]) expect((await rowsOf(db, id)).w).toBe(1);
      expect((await rowsOf(db, ids.recent)).s).toBe(2);
      expect((await db.query(`SELECT name FROM schedules`)).length).toBe(1);
      expect((await keys.list()).map((k) => k.id)).toContain(key.record.id);
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metricValue(metrics, 'retention_pruned_total', { kind: 'workflows' })).toBe(4);
      expect(metricValue(metrics, 'retention_pruned_total', { kind: 'steps' })).toBe(pruned.steps);
      expect(metricValue(metrics, 'retention_pruned_total', { kind: 'plans' })).toBe(1);
      // A second pass finds nothing left to do.
      expect((await app.retention.pruneNow()).workflows).toBe(0);
    },
  );

  it(
    'keeps a run while a fork of it is kept, so the fork’s lineage and compare hold; the run goes after its fork',
    { timeout: 120_000 },
    async () => {
      const db = await t.open();
      onTestFinished(() => db.close());
      const { app } = await startPlatform(db, testAgents().agents, { RETENTION_DAYS: '7' });
      const parent = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json<{ task_id: string }>()
        .task_id;
      const forked = await app.inject({ method: 'POST', url: `/tasks/${parent}/fork`, payload: { from_step: 'b', wait: true } });
      expect(forked.statusCode, forked.body).toBe(200);
      const fork = forked.json<{ task_id: string }>().task_id;
      await ageRun(db, parent, 40);
      await ageRun(db, fork, 1);
      expect((await app.retention.pruneNow()).workflows).toBe(0);
      expect((await app.inject({ url: `/tasks/${fork}/compare/${parent}` })).statusCode).toBe(200);

      // Once the fork is old enough it goes, and its parent at the pass after.
      await ageRun(db, fork, 40);
      expect((await app.retention.pruneNow()).workflows).toBe(1);
      expect((await rowsOf(db, fork)).w).toBe(0);
      expect((await rowsOf(db, parent)).w).toBe(1);
      expect((await app.retention.pruneNow()).workflows).toBe(1);
      expect((await rowsOf(db, parent)).w).toBe(0);
    },
  );

  it('RETENTION_DAYS=0 keeps everything', { timeout: 120_000 }, async () => {
    const db = await t.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents, { RETENTION_DAYS: '0' });
    const id = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json<{ task_id: string }>()
      .task_id;
    await db.query(`UPDATE workflows SET finished_at = now() - interval '3650 days' WHERE id = $1`, [id]);
    expect((await app.retention.pruneNow()).workflows).toBe(0);
    expect((await rowsOf(db, id)).w).toBe(1);
    // The statement itself, with days 0, would take everything finished: the setting is what keeps it.
    expect((await pruneFinished(db, 3650 * 2, 10)).workflows).toBe(0);
  });
});
