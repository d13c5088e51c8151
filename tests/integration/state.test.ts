import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgDb, loadMigrations, migrate, store, type Db } from '../../services/state/index.ts';
import { dropSchema, testDatabases, testDatabaseUrl, uniqueSchema } from '../helpers/db.ts';

const plan = {
  steps: [
    { id: 'a', agent: 'x', input: { n: 1 }, depends_on: [] },
    { id: 'b', agent: 'x', input: {}, depends_on: ['a'] },
  ],
};

async function open(t: (typeof testDatabases)[number]): Promise<Db> {
  const db = await t.open();
  onTestFinished(() => db.close());
  return db;
}

const incarnations = new Map<string, string>();
/** One incarnation per owner name, so a test can speak of 'me' and 'other' as processes. */
const lease = (owner: string): store.Lease => {
  if (!incarnations.has(owner)) incarnations.set(owner, randomUUID());
  return { owner, incarnation: incarnations.get(owner)!, ms: 60_000 };
};

async function newWorkflow(db: Db, owner = 'me', description = 'd'): Promise<string> {
  const id = randomUUID();
  await store.insertWorkflow(db, {
    id,
    description,
    status: 'running',
    plan,
    input: { files: [1, 2] },
    lease: lease(owner),
    steps: [{ step_id: 'a', attempt: 1, agent: 'x', status: 'running', input: { n: 1 }, idempotency_key: `${id}:a:1` }],
    events: [{ type: 'workflow_started' }, { type: 'step_started', step_id: 'a', attempt: 1 }],
  });
  return id;
}

describe.each(testDatabases)('state on $name', (t) => {
  it('applies migrations once and records them', async () => {
    const db = await open(t);
    expect(await migrate(db)).toEqual([]);
    const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
  });

  it('rolls a failing migration back whole', async () => {
    const db = await open(t);
    const real = await loadMigrations();
    const next = real.length + 1;
    const bad = [...real, { version: next, name: 'bad', sql: 'CREATE TABLE half_done (id int); SELECT no_such_function();' }];
    await expect(migrate(db, bad)).rejects.toThrow(/no_such_function/);
    const tables = await db.query(
      "SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done' AND table_schema = current_schema()",
    );
    expect(tables).toHaveLength(0);
    expect(await db.query('SELECT 1 FROM schema_migrations WHERE version = $1', [next])).toHaveLength(0);
  });

  it('stores JSON as objects and arrays, not as strings', async () => {
    const db = await open(t);
    const id = await newWorkflow(db);
    const wf = await store.getWorkflow(db, id);
    expect(wf?.plan).toEqual(plan);
    expect(wf?.input).toEqual({ files: [1, 2] });
    const steps = await store.getSteps(db, id);
    expect(steps).toMatchObject([{ step_id: 'a', attempt: 1, status: 'running', input: { n: 1 } }]);
    const events = await store.listEvents(db, id, 0);
    expect(events.map((e) => e.type)).toEqual(['workflow_started', 'step_started']);
    expect(typeof events[0]!.id).toBe('number');
  });

  it('commits a finished step, its checkpoint and the next attempt in one statement', async () => {
    const db = await open(t);
    const id = await newWorkflow(db);
    const ok = await store.commitProgress(db, {
      workflowId: id,
      lease: lease('me'),
      step: { stepId: 'a', attempt: 1, status: 'succeeded', output: { list: [1, 'two'] } },
      newSteps: [{ step_id: 'b', attempt: 1, agent: 'x', status: 'running', input: { from: [1] }, idempotency_key: `${id}:b:1` }],
      events: [
        { type: 'step_succeeded', step_id: 'a', attempt: 1 },
        { type: 'step_started', step_id: 'b', attempt: 1 },
      ],
    });
    expect(ok).toBe(true);
    const wf = await store.getWorkflow(db, id);
    expect(await store.getCheckpoint(db, id)).toEqual({ a: { list: [1, 'two'] } });
    expect(wf?.last_checkpoint).toBeInstanceOf(Date);
    const steps = await store.getSteps(db, id);
    expect(steps.map((s) => [s.step_id, s.status, s.output])).toEqual([
      ['a', 'succeeded', { list: [1, 'two'] }],
      ['b', 'running', null],
    ]);
  });

  it('writes nothing when the lease belongs to someone else', async () => {
    const db = await open(t);
    const id = await newWorkflow(db, 'other');
    const ok = await store.commitProgress(db, {
      workflowId: id,
      lease: lease('me'),
      step: { stepId: 'a', attempt: 1, status: 'succeeded', output: {} },
      events: [{ type: 'step_succeeded', step_id: 'a', attempt: 1 }],
    });
    expect(ok).toBe(false);
    expect((await store.getSteps(db, id))[0]?.status).toBe('running');
    expect(await store.getCheckpoint(db, id)).toEqual({});
    expect(await store.listEvents(db, id, 0)).toHaveLength(2);
  });

  it('finishing releases the lease and sets the final status', async () => {
    const db = await open(t);
    const id = await newWorkflow(db);
    await store.commitProgress(db, {
      workflowId: id,
      lease: lease('me'),
      step: { stepId: 'a', attempt: 1, status: 'failed', error: { code: 'AGENT_TASK_FAILED', message: 'no', retryable: false } },
      final: { status: 'failed', error: { code: 'STEPS_FAILED', message: 'step a failed', retryable: false } },
    });
    const wf = await store.getWorkflow(db, id);
    expect(wf).toMatchObject({ status: 'failed', lease_owner: null, error: { code: 'STEPS_FAILED' } });
    expect(wf?.finished_at).toBeInstanceOf(Date);
  });

  it('claims expired leases once, skipping live ones', async () => {
    const db = await open(t);
    const expired = await newWorkflow(db, 'dead');
    const live = await newWorkflow(db, 'alive');
    await db.query("UPDATE workflows SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [expired]);
    const claimed = await store.claimExpired(db, lease('me'), 100);
    const mine = claimed.map((w) => w.id);
    expect(mine).toContain(expired);
    expect(mine).not.toContain(live);
    const again = await store.claimExpired(db, lease('other'), 100);
    expect(again.map((w) => w.id)).not.toContain(expired);
    expect((await store.listEvents(db, expired, 0)).at(-1)).toMatchObject({
      type: 'workflow_recovered',
      data: { owner: 'me', previous_owner: 'dead' },
    });
  });

  it('never claims what this incarnation holds; a restart of the same owner takes it back at once', async () => {
    const db = await open(t);
    const id = await newWorkflow(db, 'me');
    expect((await store.claimExpired(db, lease('me'), 100)).map((w) => w.id)).not.toContain(id);
    const restarted = { ...lease('me'), incarnation: randomUUID() };
    expect((await store.claimExpired(db, restarted, 100)).map((w) => w.id)).toContain(id);
    // The old incarnation's writes are refused from then on.
    const stale = await store.commitProgress(db, {
      workflowId: id,
      lease: lease('me'),
      step: { stepId: 'a', attempt: 1, status: 'succeeded', output: {} },
    });
    expect(stale).toBe(false);
    expect((await store.getSteps(db, id))[0]?.status).toBe('running');
  });

  it('reads the event log back as written, in order, whether a step row or an event row carries each event', async () => {
    const db = await open(t);
    const id = await newWorkflow(db);
    const events = [
      { type: 'step_succeeded', step_id: 'a', attempt: 1, data: { agent: 'x', duration_ms: 7, replayed: true } },
      { type: 'branch_taken', step_id: 'a', attempt: 1, data: { branch: 'on_success' } },
      { type: 'step_started', step_id: 'b', attempt: 1, data: { agent: 'x' } },
      // Not what the row can say (another agent): kept as a row.
      { type: 'step_started', step_id: 'b', attempt: 1, data: { agent: 'y' } },
    ];
    await store.commitProgress(db, {
      workflowId: id,
      lease: lease('me'),
      step: { stepId: 'a', attempt: 1, status: 'succeeded', output: { decision: 'approved' } },
      newSteps: [{ step_id: 'b', attempt: 1, agent: 'x', status: 'running', input: {}, idempotency_key: `${id}:b:1` }],
      events: events.map((e, i) => (i === 0 ? { ...e, data: { ...e.data, decision: 'approved' } } : e)),
    });
    await store.appendEvents(db, id, [{ type: 'circuit_open', data: { agent: 'x' } }]);
    const log = await store.listEvents(db, id, 0);
    expect(log.map((e) => [e.id, e.type, e.step_id, e.data])).toEqual([
      [1, 'workflow_started', null, {}],
      [2, 'step_started', 'a', {}],
      [3, 'step_succeeded', 'a', { agent: 'x', duration_ms: 7, replayed: true, decision: 'approved' }],
      [4, 'branch_taken', 'a', { branch: 'on_success' }],
      [5, 'step_started', 'b', { agent: 'x' }],
      [6, 'step_started', 'b', { agent: 'y' }],
      [7, 'circuit_open', null, { agent: 'x' }],
    ]);
    // Only what a step row cannot carry is an event row.
    const rows = await db.query<{ seq: number }>('SELECT seq FROM workflow_events WHERE workflow_id = $1 ORDER BY seq', [id]);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 4, 6, 7]);
    expect((await store.listEvents(db, id, 4)).map((e) => e.id)).toEqual([5, 6, 7]);
    expect((await store.getWorkflow(db, id))!.event_seq).toBe(7);
  });

  it('a run that succeeds: HOT updates but for the final status, no event row, its log read back whole from the rows', async () => {
    const db = await open(t);
    const id = randomUUID();
    const me = lease('me');
    const x = { agent: 'x' };
    // One transaction, so pg_stat_xact_user_tables counts exactly these writes, on both databases.
    const counts = await db.transaction(async (tx) => {
      await store.insertWorkflow(tx, {
        id,
        description: 'd',
        status: 'running',
        plan,
        input: {},
        lease: me,
        steps: [{ step_id: 'a', attempt: 1, agent: 'x', status: 'running', input: { n: 1 }, idempotency_key: `${id}:a:1` }],
        events: [
          { type: 'workflow_started', data: { owner: 'me', steps: 2 } },
          { type: 'step_started', step_id: 'a', attempt: 1, data: x },
        ],
      });
      const step = (stepId: string) => ({ stepId, attempt: 1, status: 'succeeded' as const, output: { n: 1 }, startedAt: new Date() });
      expect(
        await store.commitProgress(tx, {
          workflowId: id,
          lease: me,
          step: step('a'),
          newSteps: [{ step_id: 'b', attempt: 1, agent: 'x', status: 'running', input: {}, idempotency_key: `${id}:b:1` }],
          events: [
            { type: 'step_succeeded', step_id: 'a', attempt: 1, data: { agent: 'x', duration_ms: 3 } },
            { type: 'step_started', step_id: 'b', attempt: 1, data: x },
          ],
        }),
      ).toBe(true);
      expect(
        await store.commitProgress(tx, {
          workflowId: id,
          lease: me,
          step: step('b'),
          events: [{ type: 'step_succeeded', step_id: 'b', attempt: 1, data: x }, { type: 'workflow_succeeded' }],
          final: { status: 'succeeded', error: null },
        }),
      ).toBe(true);
      return tx.query<{ relname: string; upd: number; hot: number }>(
        `SELECT relname, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_xact_user_tables
         WHERE schemaname = current_schema() AND relname IN ('steps', 'workflows', 'workflow_events') ORDER BY relname`,
      );
    });
    // Each attempt's finish and each commit of the workflow row are HOT; the final update sets the (indexed) status.
    expect(counts.find((c) => c.relname === 'steps')).toMatchObject({ upd: 2, hot: 2 });
    expect(counts.find((c) => c.relname === 'workflows')).toMatchObject({ upd: 2, hot: 1 });
    expect(await db.query('SELECT 1 FROM workflow_events WHERE workflow_id = $1', [id])).toEqual([]);
    const log = await store.listEvents(db, id, 0);
    expect(log.map((e) => [e.id, e.type, e.step_id, e.data])).toEqual([
      [1, 'workflow_started', null, { owner: 'me', steps: 2 }],
      [2, 'step_started', 'a', x],
      [3, 'step_succeeded', 'a', { agent: 'x', duration_ms: 3 }],
      [4, 'step_started', 'b', x],
      [5, 'step_succeeded', 'b', x],
      [6, 'workflow_succeeded', null, {}],
    ]);
    const wf = (await store.getWorkflow(db, id))!;
    expect(log[0]!.created_at).toEqual(wf.created_at);
    expect(log[5]!.created_at).toEqual(wf.finished_at);
    // The attempt rows store no key of the usual form, and read it back.
    expect((await store.getSteps(db, id)).map((a) => a.idempotency_key)).toEqual([`${id}:a:1`, `${id}:b:1`]);
    expect(await db.query('SELECT 1 FROM steps WHERE workflow_id = $1 AND idempotency_key IS NOT NULL', [id])).toEqual([]);
  });

  it('numbers the events of a database from before the per-workflow log, in their order', async () => {
    const db = await t.open({ migrate: false });
    onTestFinished(() => db.close());
    const all = await loadMigrations();
    const before = all.findIndex((m) => m.name === '0009_hot_path');
    await migrate(db, all.slice(0, before));
    const [x, y] = [randomUUID(), randomUUID()];
    for (const id of [x, y]) await db.query(`INSERT INTO workflows (id, status, plan) VALUES ($1, 'running', '{"steps": []}')`, [id]);
    for (const [id, type] of [
      [x, 'one'],
      [y, 'first'],
      [x, 'two'],
      [y, 'second'],
      [x, 'three'],
    ]) {
      await db.query('INSERT INTO workflow_events (workflow_id, type) VALUES ($1, $2)', [id, type]);
    }
    await migrate(db, all);
    expect((await store.listEvents(db, x!, 0)).map((e) => [e.id, e.type])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    expect((await store.listEvents(db, y!, 1)).map((e) => [e.id, e.type])).toEqual([[2, 'second']]);
    expect((await store.getWorkflow(db, x!))!.event_seq).toBe(3);
  });

  it('cancels a running workflow and its attempts', async () => {
    const db = await open(t);
    const id = await newWorkflow(db);
    const row = await store.cancelWorkflow(db, id, 'asked');
    expect(row?.status).toBe('cancelled');
    expect((await store.getSteps(db, id))[0]?.status).toBe('cancelled');
    expect(await store.cancelWorkflow(db, id, 'again')).toBeNull();
  });

  it('pages through workflows by status with a keyset cursor', async () => {
    const db = await open(t);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await newWorkflow(db));
    const first = await store.listWorkflows(db, { status: 'running', limit: 3 });
    expect(first).toHaveLength(3);
    const last = first.at(-1)!;
    const second = await store.listWorkflows(db, { status: 'running', limit: 3, after: { createdAt: last.created_at, id: last.id } });
    expect(second).toHaveLength(2);
    expect(new Set([...first, ...second].map((w) => w.id))).toEqual(new Set(ids));
    expect(await store.listWorkflows(db, { status: 'succeeded', limit: 3 })).toHaveLength(0);
  });

  it('finds workflows by a text in their description, in any case, wildcards taken literally', async () => {
    const db = await open(t);
    const tag = randomUUID().slice(0, 8);
    const health = await newWorkflow(db, 'me', `Build a /health endpoint ${tag}`);
    const percent = await newWorkflow(db, 'me', `Raise coverage to 100% ${tag}`);
    await newWorkflow(db, 'me', `Write docs ${tag}x`);
    const ids = async (search: string) => (await store.listWorkflows(db, { search, limit: 10 })).map((w) => w.id);
    expect(await ids(`HEALTH ENDPOINT ${tag}`)).toEqual([health]);
    expect(await ids(`100% ${tag}`)).toEqual([percent]);
    // `_` and `%` match only themselves, not any character.
    expect(await ids(`${tag}_`)).toEqual([]);
    expect(await ids(`%${tag}`)).toEqual([]);
  });
});

describe('migrations on postgres from two processes at once', () => {
  it('applies each migration exactly once', async () => {
    const schema = uniqueSchema('mig');
    onTestFinished(() => dropSchema(schema));
    // Two pools are two sets of server sessions: to Postgres, the same as two processes.
    const [a, b] = await Promise.all([1, 2].map(() => createPgDb({ connectionString: testDatabaseUrl, schema, poolSize: 2 })));
    onTestFinished(async () => {
      await a!.close();
      await b!.close();
    });
    const [ra, rb] = await Promise.all([migrate(a!), migrate(b!)]);
    const all = (await loadMigrations()).map((m) => m.version);
    expect([...ra, ...rb].sort((a, b) => a - b)).toEqual(all);
    const rows = await a!.query('SELECT version FROM schema_migrations');
    expect(rows).toHaveLength(all.length);
  });
});
