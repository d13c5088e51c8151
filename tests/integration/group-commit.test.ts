import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GroupCommitter } from '../../services/orchestrator/engine/group-commit.ts';
import { store, type Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';

const plan = {
  steps: [
    { id: 'a', agent: 'x', input: {}, depends_on: [] },
    { id: 'b', agent: 'x', input: {}, depends_on: ['a'] },
  ],
};

describe.each(testDatabases)('group commit on $name', (t) => {
  async function setup(maxTries = 3, lingerMs = 0) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const lease = { owner: 'me', incarnation: randomUUID(), ms: 60_000 };
    const sizes: number[] = [];
    const committer = new GroupCommitter({
      db,
      lease,
      log: pino({ level: 'silent' }),
      maxBatch: 50,
      maxInFlight: 1,
      maxTries,
      lingerMs,
      onBatch: (n) => sizes.push(n),
    });
    const started = async (n: number) => {
      const ids = Array.from({ length: n }, () => randomUUID());
      const created = await Promise.all(
        ids.map((id) =>
          committer.insert({
            id,
            description: null,
            status: 'running',
            plan,
            input: {},
            lease,
            steps: [{ step_id: 'a', attempt: 1, agent: 'x', status: 'running', input: {}, idempotency_key: `${id}:a:1` }],
            events: [{ type: 'workflow_started' }, { type: 'step_started', step_id: 'a', attempt: 1, data: { agent: 'x' } }],
          }),
        ),
      );
      expect(created.every(Boolean)).toBe(true);
      return ids;
    };
    const finishA = (id: string, output: unknown = { ok: true }) => ({
      step: { stepId: 'a', attempt: 1, status: 'succeeded' as const, output },
      newSteps: [{ step_id: 'b', attempt: 1, agent: 'x', status: 'running' as const, input: {}, idempotency_key: `${id}:b:1` }],
      events: [
        { type: 'step_succeeded', step_id: 'a', attempt: 1, data: { agent: 'x', duration_ms: 1 } },
        { type: 'step_started', step_id: 'b', attempt: 1, data: { agent: 'x' } },
      ],
    });
    return { db, lease, committer, sizes, started, finishA };
  }

  const stepStatus = async (db: Db, id: string) => (await store.getSteps(db, id)).map((s) => `${s.step_id}${s.attempt}:${s.status}`);

  it('commits of many workflows share statements, and each is durable when it resolves', async () => {
    const { db, committer, sizes, started, finishA } = await setup();
    const ids = await started(40);
    const results = await Promise.all(ids.map((id) => committer.commit(id, finishA(id))));
    expect(results.every(Boolean)).toBe(true);
    // 40 inserts and 40 commits in far fewer statements than 80.
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(80);
    expect(sizes.length).toBeLessThan(40);
    for (const id of ids) {
      expect(await stepStatus(db, id)).toEqual(['a1:succeeded', 'b1:running']);
      expect(await store.getCheckpoint(db, id)).toEqual({ a: { ok: true } });
    }
  });

  it('a workflow whose lease is gone writes nothing; the others in the statement commit', async () => {
    const { db, committer, started, finishA } = await setup();
    const [lost, kept] = await started(2);
    await db.query(`UPDATE workflows SET lease_incarnation = $2 WHERE id = $1`, [lost, randomUUID()]);
    const [a, b] = await Promise.all([committer.commit(lost!, finishA(lost!)), committer.commit(kept!, finishA(kept!))]);
    expect([a, b]).toEqual([false, true]);
    expect(await stepStatus(db, lost!)).toEqual(['a1:running']);
    expect((await store.listEvents(db, lost!, 0)).map((e) => e.type)).toEqual(['workflow_started', 'step_started']);
    expect(await stepStatus(db, kept!)).toEqual(['a1:succeeded', 'b1:running']);
  });

  it('a statement that fails is retried member by member: the good ones commit whole, the bad one not at all', async () => {
    const { db, committer, sizes, started, finishA } = await setup(2);
    const ids = await started(5);
    const bad = ids[2]!;
    // An attempt status the table refuses (CHECK constraint): the whole statement fails.
    const poison = {
      ...finishA(bad),
      newSteps: [{ step_id: 'b', attempt: 1, agent: 'x', status: 'bogus' as never, input: {}, idempotency_key: `${bad}:b:1` }],
    };
    sizes.length = 0;
    const results = await Promise.all(ids.map((id) => committer.commit(id, id === bad ? poison : finishA(id))));
    expect(results).toEqual(ids.map((id) => id !== bad));
    for (const id of ids) {
      if (id === bad) {
        // Not half of it: no finished step, so no checkpoint, and no events.
        expect(await stepStatus(db, id)).toEqual(['a1:running']);
        expect(await store.getCheckpoint(db, id)).toEqual({});
        expect((await store.listEvents(db, id, 0)).map((e) => e.type)).toEqual(['workflow_started', 'step_started']);
      } else expect(await stepStatus(db, id)).toEqual(['a1:succeeded', 'b1:running']);
    }
  });

  it("one workflow's commits apply in the order they were made, merged when they can share a statement", async () => {
    const { db, committer, started } = await setup();
    const [id] = await started(1);
    // Queued behind one another: a (finished), then an unrelated event, then the final commit.
    const first = committer.commit(id!, {
      step: { stepId: 'a', attempt: 1, status: 'succeeded', output: { n: 1 } },
      events: [{ type: 'step_succeeded', step_id: 'a', attempt: 1, data: { agent: 'x', duration_ms: 1 } }],
    });
    const second = committer.commit(id!, { events: [{ type: 'note', data: { n: 2 } }] });
    const third = committer.commit(id!, { final: { status: 'succeeded', error: null }, events: [{ type: 'workflow_succeeded' }] });
    expect(await Promise.all([first, second, third])).toEqual([true, true, true]);
    expect((await store.listEvents(db, id!, 0)).map((e) => e.type)).toEqual([
      'workflow_started',
      'step_started',
      'step_succeeded',
      'note',
      'workflow_succeeded',
    ]);
    expect((await store.getWorkflow(db, id!))!.status).toBe('succeeded');
    // A commit after the final one finds the workflow no longer running.
    expect(await committer.commit(id!, { events: [{ type: 'late' }] })).toBe(false);
  });

  it("a lingering commit that would go alone waits for its workflow's next one and shares its statement; one that goes anyway takes it along", async () => {
    // Long enough that nothing but another commit (or the end of the window) can send it.
    const { db, committer, sizes, started } = await setup(3, 5_000);
    const [x, y, z] = await started(3);
    sizes.length = 0;
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const finished = (stepId: string, output: unknown) => ({
      step: { stepId, attempt: 1, status: 'succeeded' as const, output },
      events: [{ type: 'step_succeeded', step_id: stepId, attempt: 1, data: { agent: 'x', duration_ms: 1 } }],
    });
    const lingering = committer.commit(x!, finished('a', { n: 1 }), true);
    await turn();
    await turn();
    // Alone, it is held: nothing is written yet.
    expect(sizes).toEqual([]);
    expect(await store.getCheckpoint(db, x!)).toEqual({});
    // x's next commit joins it: one statement, one member, applied in order.
    const next = committer.commit(x!, { events: [{ type: 'note', data: { n: 2 } }] });
    expect(await Promise.all([lingering, next])).toEqual([true, true]);
    expect(sizes).toEqual([1]);
    expect(await store.getCheckpoint(db, x!)).toEqual({ a: { n: 1 } });
    expect((await store.listEvents(db, x!, 0)).map((e) => e.type)).toEqual(['workflow_started', 'step_started', 'step_succeeded', 'note']);

    // Another workflow's commit makes a statement anyway: the lingering one goes in it, not after it.
    const held = committer.commit(y!, finished('a', { n: 3 }), true);
    await turn();
    await turn();
    expect(await committer.commit(z!, finished('a', { n: 4 }))).toBe(true);
    expect(await held).toBe(true);
    expect(sizes).toEqual([1, 2]);

    // With nothing else to send, a lingering commit goes alone once its window ends.
    const short = await setup(3, 20);
    const [w] = await short.started(1);
    short.sizes.length = 0;
    expect(await short.committer.commit(w!, finished('a', { n: 5 }), true)).toBe(true);
    expect(short.sizes).toEqual([1]);
    expect(await store.getCheckpoint(short.db, w!)).toEqual({ a: { n: 5 } });
  });

  it('two inserts of one id in flight at once: exactly one is told it created the workflow', async () => {
    const { committer, lease } = await setup();
    const id = randomUUID();
    const row = { id, description: null, status: 'running' as const, plan, input: {}, lease, steps: [], events: [] };
    const created = await Promise.all([committer.insert(row), committer.insert(row), committer.insert(row)]);
    expect(created.filter(Boolean)).toHaveLength(1);
  });
});
