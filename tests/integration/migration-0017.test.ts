import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadMigrations, migrate, store } from '../../services/state/index.ts';
import { usageSummary } from '../../services/state/usage-store.ts';
import { testDatabases } from '../helpers/db.ts';

// Migration 0017 rebuilds the workflows and steps tables (column order, keys stored only when
// unusual, usage_ledger); 0018 moves new plans out of the row and drops checkpoint_data. A database
// written before them reads back the same after: its rows keep their plans inline, and the
// checkpoint is read from the attempts.

const plan = {
  steps: [
    { id: 'a', agent: 'x', input: {}, depends_on: [] },
    { id: 'b', agent: 'x', input: {}, depends_on: ['a'] },
  ],
};
const usage = [{ model: 'm', prompt_tokens: 10, completion_tokens: 5, calls: 1, cost_usd: 0.01 }];

describe.each(testDatabases)('migration 0017 on $name', (t) => {
  it('keeps what an older database holds: runs, attempts and their keys, checkpoints, events, usage', async () => {
    const db = await t.open({ migrate: false });
    onTestFinished(() => db.close());
    const all = await loadMigrations();
    await migrate(
      db,
      all.filter((m) => m.version < 17),
    );
    const [done, running] = [randomUUID(), randomUUID()];
    const incarnation = randomUUID();
    // As the engine before 0017 wrote them: a finished run and one in flight.
    await db.query(
      `INSERT INTO workflows (id, status, plan, checkpoint_data, event_seq, started_at, finished_at, submitted_by,
                              lease_owner, lease_incarnation, lease_expires_at)
       VALUES ($1, 'succeeded', $2, '{"a": {"n": 1}, "b": {"n": 2}}', 6, now(), now(), 'key-1', NULL, NULL, NULL),
              ($3, 'running', $2, '{"a": {"n": 1}}', 4, now(), NULL, NULL, 'me', $4, now() + interval '1 hour')`,
      [done, JSON.stringify(plan), running, incarnation],
    );
    await db.query(
      `INSERT INTO steps (workflow_id, step_id, attempt, agent, status, input, output, idempotency_key, started_at, finished_at,
                          start_seq, end_seq, duration_ms, usage)
       VALUES ($1, 'a', 1, 'x', 'succeeded', '{}', '{"n": 1}', $3, now(), now(), 2, 3, 5, $7),
              ($1, 'b', 1, 'x', 'succeeded', '{}', '{"n": 2}', $4, now(), now(), 4, 5, 7, NULL),
              ($2, 'a', 1, 'x', 'succeeded', '{}', '{"n": 1}', $5, now(), now(), 2, 3, 5, NULL),
              ($2, 'b', 1, 'x', 'running', '{}', NULL, $6, now(), NULL, 4, NULL, NULL, NULL)`,
      [done, running, `${done}:a:1`, `${done}:b:1`, `${running}:a:1`, 'parent:b:1', JSON.stringify(usage)],
    );
    await db.query(
      `INSERT INTO workflow_events (workflow_id, seq, type, data)
       VALUES ($1, 1, 'workflow_started', '{"owner": "me", "steps": 2}'), ($1, 6, 'workflow_succeeded', '{}'),
              ($2, 1, 'workflow_started', '{"owner": "me", "steps": 2}')`,
      [done, running],
    );

    await migrate(db, all);

    expect((await store.listEvents(db, done, 0)).map((e) => [e.id, e.type, e.step_id])).toEqual([
      [1, 'workflow_started', null],
      [2, 'step_started', 'a'],
      [3, 'step_succeeded', 'a'],
      [4, 'step_started', 'b'],
      [5, 'step_succeeded', 'b'],
      [6, 'workflow_succeeded', null],
    ]);
    expect(await store.getCheckpoint(db, done)).toEqual({ a: { n: 1 }, b: { n: 2 } });
    expect((await store.getWorkflow(db, done))!.plan).toEqual(plan);
    expect((await store.getSteps(db, done)).map((s) => s.idempotency_key)).toEqual([`${done}:a:1`, `${done}:b:1`]);
    expect((await store.getSteps(db, running)).map((s) => s.idempotency_key)).toEqual([`${running}:a:1`, 'parent:b:1']);
    const hour = 3_600_000;
    const spent = await usageSummary(db, { from: new Date(Date.now() - hour), to: new Date(Date.now() + hour), groupBy: 'model' });
    expect(spent).toMatchObject([{ key: 'm', tokens: 15, calls: 1, attempts: 1, cost_usd: 0.01 }]);

    // The run in flight goes on where it was, on the new tables.
    const finished = await store.commitProgress(db, {
      workflowId: running,
      lease: { owner: 'me', incarnation, ms: 60_000 },
      step: { stepId: 'b', attempt: 1, status: 'succeeded', output: { n: 3 } },
      events: [{ type: 'step_succeeded', step_id: 'b', attempt: 1, data: { agent: 'x' } }, { type: 'workflow_succeeded' }],
      final: { status: 'succeeded', error: null },
    });
    expect(finished).toBe(true);
    expect(await store.getCheckpoint(db, running)).toEqual({ a: { n: 1 }, b: { n: 3 } });
    expect((await store.getWorkflow(db, running))!.plan).toEqual(plan);
    expect((await store.listEvents(db, running, 0)).map((e) => [e.id, e.type])).toEqual([
      [1, 'workflow_started'],
      [2, 'step_started'],
      [3, 'step_succeeded'],
      [4, 'step_started'],
      [5, 'step_succeeded'],
      [6, 'workflow_succeeded'],
    ]);
  });
});
