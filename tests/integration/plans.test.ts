import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { planLockArgs, pruneUnnamedPlans, store, type Db, type Plan, type Queryable } from '../../services/state/index.ts';
import { setBudget } from '../../services/state/usage-store.ts';
import { testDatabases } from '../helpers/db.ts';

// A plan is stored once, by its hash (migration 0018): runs of the same plan name one row of
// `plans`, and retention deletes a plan only when no run names it, without racing a submit.

const diamond: Plan = {
  steps: [
    { id: 'a', agent: 'x', input: { n: 1 }, depends_on: [] },
    { id: 'b', agent: 'x', input: {}, depends_on: ['a'] },
  ],
};
const other: Plan = { steps: [{ id: 'only', agent: 'x', input: { n: 2 }, depends_on: [] }] };

async function open(t: (typeof testDatabases)[number]): Promise<Db> {
  const db = await t.open();
  onTestFinished(() => db.close());
  return db;
}

/** Runs `work` in a transaction and keeps the transaction (and its locks) open until release(). */
function heldOpen<T>(db: Db, work: (tx: Queryable) => Promise<T>) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let done!: Promise<void>;
  const result = new Promise<T>((resolve, reject) => {
    done = db.transaction(async (tx) => {
      resolve(await work(tx));
      await held;
    });
    done.catch(reject);
  });
  return {
    result,
    release: async () => {
      release();
      await done;
    },
  };
}

async function submit(db: Queryable, plan: Plan, status: 'running' | 'planned' = 'planned'): Promise<string> {
  const id = randomUUID();
  const lease = status === 'running' ? { owner: 'me', incarnation: randomUUID(), ms: 60_000 } : null;
  const events = status === 'running' ? [{ type: 'workflow_started', data: { owner: 'me', steps: plan.steps.length } }] : [];
  expect(await store.insertWorkflow(db, { id, description: null, status, plan, input: {}, lease, steps: [], events })).toBe(true);
  return id;
}

const storedPlans = async (db: Db) =>
  (await db.query<{ plan: Plan }>('SELECT plan FROM plans ORDER BY created_at, hash')).map((r) => r.plan);

describe.each(testDatabases)('stored plans on $name', (t) => {
  it('runs of one plan name a single stored row; each reads its plan back', async () => {
    const db = await open(t);
    const [x, y] = [await submit(db, diamond), await submit(db, diamond, 'running')];
    const z = await submit(db, other);
    expect(await storedPlans(db)).toHaveLength(2);
    const rows = await db.query<{ inline: boolean; named: boolean }>(
      'SELECT inline_plan IS NOT NULL AS inline, plan_hash IS NOT NULL AS named FROM workflows',
    );
    expect(rows).toEqual(Array(3).fill({ inline: false, named: true }));
    for (const id of [x, y]) expect((await store.getWorkflow(db, id))!.plan).toEqual(diamond);
    expect((await store.getWorkflow(db, z))!.plan).toEqual(other);
    // The statements that hand a row to the engine carry the plan too.
    expect((await store.cancelWorkflow(db, x, 'enough'))!.plan).toEqual(diamond);
    const lease = { owner: 'me', incarnation: randomUUID(), ms: 60_000 };
    const claimed = await store.claimWorkflow(db, { id: z, lease, from: ['planned'], onlyExpired: false, event: { type: 'x' } });
    expect(claimed!.plan).toEqual(other);
    expect((await store.listEvents(db, y, 0))[0]).toMatchObject({ type: 'workflow_started', data: { steps: 2 } });
  });

  it("a run whose budget changes gets a plan of its own; the others' stays as it was", async () => {
    const db = await open(t);
    const [x, y] = [await submit(db, diamond), await submit(db, diamond)];
    expect(await setBudget(db, x, { usd: 2 })).toMatchObject({ budget: { usd: 2 } });
    expect((await store.getWorkflow(db, x))!.plan).toEqual({ ...diamond, budget: { usd: 2 } });
    expect((await store.getWorkflow(db, y))!.plan).toEqual(diamond);
    expect(await setBudget(db, x, { tokens: 10 })).toMatchObject({ budget: { usd: 2, tokens: 10 } });
  });

  it('retention deletes the plans no run names, and only those', async () => {
    const db = await open(t);
    const kept = await submit(db, diamond);
    const gone = await submit(db, other);
    await db.query('DELETE FROM workflows WHERE id = $1', [gone]);
    expect(await pruneUnnamedPlans(db, 100)).toBe(1);
    expect(await storedPlans(db)).toEqual([diamond]);
    expect((await store.getWorkflow(db, kept))!.plan).toEqual(diamond);
    expect(await pruneUnnamedPlans(db, 100)).toBe(0);
    // Stored again by the next run that uses it.
    const again = await submit(db, other);
    expect((await store.getWorkflow(db, again))!.plan).toEqual(other);
  });
});

describe('stored plans and retention at the same time, on postgres', () => {
  const t = testDatabases.find((d) => d.name === 'postgres')!;

  it('a plan a submit found stored is not deleted before the submit commits', async () => {
    const db = await open(t);
    const first = await submit(db, other);
    await db.query('DELETE FROM workflows WHERE id = $1', [first]);
    // A submit naming the stored plan, its transaction still open: retention cannot take the plan's lock.
    const inFlight = heldOpen(db, (tx) => submit(tx, other));
    let id: string;
    try {
      id = await inFlight.result;
      expect(await pruneUnnamedPlans(db, 100)).toBe(0);
    } finally {
      await inFlight.release();
    }
    expect(await pruneUnnamedPlans(db, 100)).toBe(0);
    expect((await store.getWorkflow(db, id))!.plan).toEqual(other);
  });

  it('a submit that comes while retention deletes its plan waits, then stores the plan again', async () => {
    const db = await open(t);
    const first = await submit(db, other);
    await db.query('DELETE FROM workflows WHERE id = $1', [first]);
    // Retention's side, by hand: the plan's lock taken, the plan deleted, not committed yet.
    const gc = heldOpen(db, async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(${planLockArgs('hash')}) FROM plans`);
      await tx.query('DELETE FROM plans');
    });
    let submitted = false;
    let late: Promise<string>;
    try {
      await gc.result;
      late = submit(db, other).then((id) => ((submitted = true), id));
      // It waits for the lock rather than finding the doomed row and naming it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(submitted).toBe(false);
    } finally {
      await gc.release();
    }
    const id = await late;
    expect(await storedPlans(db)).toEqual([other]);
    expect((await store.getWorkflow(db, id))!.plan).toEqual(other);
  });
});
