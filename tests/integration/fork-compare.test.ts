import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { store, type Db } from '../../services/state/index.ts';
import { writeFork } from '../../services/orchestrator/engine/fork.ts';
import { testDatabases } from '../helpers/db.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents, type RunLog } from '../helpers/test-agents.ts';

const chain = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
    { id: 'c', agent: 'math', input: { values: [100] }, depends_on: ['b'] },
  ],
};

interface Task {
  task_id: string;
  status: string;
  forked_from: { task_id: string; step_id: string } | null;
  forks: Array<{ task_id: string; from_step: string; status: string }>;
  steps: Array<{
    id: string;
    status: string;
    reused: boolean;
    output: Record<string, unknown> | null;
    attempts: Array<{ attempt: number; reused_from: { task_id: string; attempt: number } | null }>;
  }>;
}

/** The steps an agent ran for this task, in the order they started (the agents' own log, not the orchestrator's). */
const ranFor = (log: RunLog, taskId: string) => log.runs.filter((r) => r.key.startsWith(`${taskId}:`)).map((r) => r.step);

const countWorkflows = async (db: Db) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM workflows'))[0]!.n;

describe.each(testDatabases)('fork and compare on $name', (t) => {
  async function setup() {
    const db = await t.open();
    onTestFinished(() => db.close());
    const { log, agents } = testAgents();
    const platform = await startPlatform(db, agents);
    return { db, log, ...platform };
  }

  const run = async (app: FastifyInstance, plan: unknown) => {
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ task_id: string; status: string }>();
  };
  const fork = async (app: FastifyInstance, id: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/tasks/${id}/fork`, headers, payload: { wait: true, ...body } });
  const task = async (app: FastifyInstance, id: string) => (await app.inject({ url: `/tasks/${id}` })).json<Task>();
  const compare = async (app: FastifyInstance, a: string, b: string) => {
    const res = await app.inject({ url: `/tasks/${a}/compare/${b}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('a fork from the middle of a chain calls the agents of exactly that step and the ones below, and compare says so', async () => {
    const { app, log, db } = await setup();
    const parent = await run(app, chain);
    expect(ranFor(log, parent.task_id)).toEqual(['a', 'b', 'c']);

    const res = await fork(app, parent.task_id, { from_step: 'b', input_patch: { values: [1000] } });
    expect(res.statusCode, res.body).toBe(200);
    const forked = res.json();
    expect(forked).toMatchObject({ status: 'succeeded', forked_from: { task_id: parent.task_id, step_id: 'b' }, reused: ['a'] });
    expect(forked.rerun.sort()).toEqual(['b', 'c']);
    expect(forked.task_id).not.toBe(parent.task_id);
    // Counted at the agent: a was not asked again.
    expect(ranFor(log, forked.task_id)).toEqual(['b', 'c']);
    expect(ranFor(log, parent.task_id)).toEqual(['a', 'b', 'c']);

    const view = await task(app, forked.task_id);
    expect(view.forked_from).toEqual({ task_id: parent.task_id, step_id: 'b' });
    expect(view.steps.map((s) => [s.id, s.reused])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    expect(view.steps[0]!.attempts[0]!.reused_from).toEqual({ task_id: parent.task_id, attempt: 1 });
    // b = 1000 + a's 3 (reused), c = 100 + b.
    expect(view.steps.map((s) => s.output)).toEqual([
      { sum: 3, from: [] },
      { sum: 1003, from: ['a'] },
      { sum: 1103, from: ['b'] },
    ]);
    const events = await store.listEvents(db, forked.task_id, 0);
    expect(events.map((e) => [e.type, e.step_id])).toEqual([
      ['workflow_forked', null],
      ['step_reused', 'a'],
      ['workflow_started', null],
      ['step_started', 'b'],
      ['step_succeeded', 'b'],
      ['step_started', 'c'],
      ['step_succeeded', 'c'],
      ['workflow_succeeded', null],
    ]);
    expect(events[1]!.data).toEqual({ agent: 'math', from_task: parent.task_id, from_attempt: 1 });
    const sse = (await app.inject({ url: `/tasks/${forked.task_id}/events` })).body;
    expect(sse).toContain('event: workflow_forked');
    expect(sse).toMatch(/event: step_reused\ndata: [^\n]*"step_id":"a"/);
    expect(sse.match(/event: step_started\ndata: [^\n]*/g)?.map((l) => /"step_id":"(\w+)"/.exec(l)?.[1])).toEqual(['b', 'c']);

    const parentView = await task(app, parent.task_id);
    expect(parentView.forked_from).toBeNull();
    expect(parentView.forks).toEqual([expect.objectContaining({ task_id: forked.task_id, from_step: 'b', status: 'succeeded' })]);

    const cmp = await compare(app, parent.task_id, forked.task_id);
    expect(cmp.relation).toBe('b_forked_from_a');
    expect(cmp.summary).toMatchObject({
      reused: ['a'],
      ran_in_both: ['b', 'c'],
      changed: ['b', 'c'],
      unchanged: [],
      only_a: [],
      only_b: [],
    });
    const b = cmp.steps.find((s: { step_id: string }) => s.step_id === 'b');
    expect(b.diff).toEqual([{ op: 'changed', path: '/sum', old: 13, value: 1003 }]);
    const a = cmp.steps.find((s: { step_id: string }) => s.step_id === 'a');
    expect(a).toMatchObject({ verdict: 'reused', output_differs: false, b: { attempts: 0, duration_ms: 0 } });
    expect(a.b.reused_from).toEqual({ task_id: parent.task_id, attempt: 1 });
  });

  it('a fork with nothing changed reruns only the fork point and compares it as unchanged; forks of forks keep their lineage', async () => {
    const { app, log } = await setup();
    const parent = await run(app, chain);
    const first = (await fork(app, parent.task_id, { from_step: 'b', input_patch: { values: [20] } })).json();
    expect(first.status).toBe('succeeded');
    const second = (await fork(app, first.task_id, { from_step: 'c' })).json();
    expect(second).toMatchObject({ status: 'succeeded', forked_from: { task_id: first.task_id, step_id: 'c' } });
    expect(second.reused).toEqual(['a', 'b']);
    expect(ranFor(log, second.task_id)).toEqual(['c']);

    const view = await task(app, second.task_id);
    // Each reused result names the run whose agent produced it: a ran in the parent, b in the first fork.
    expect(view.steps.map((s) => s.attempts[0]!.reused_from?.task_id ?? null)).toEqual([parent.task_id, first.task_id, null]);
    expect((await task(app, first.task_id)).forks.map((f) => f.task_id)).toEqual([second.task_id]);
    expect((await task(app, first.task_id)).forked_from).toEqual({ task_id: parent.task_id, step_id: 'b' });
    expect((await task(app, parent.task_id)).forks.map((f) => f.task_id)).toEqual([first.task_id]);

    const cmp = await compare(app, first.task_id, second.task_id);
    expect(cmp.summary).toMatchObject({ reused: ['a', 'b'], ran_in_both: ['c'], changed: [], unchanged: ['c'] });
    // Across two generations: a was reused, b and c ran in both and differ (b's input changed in the first fork).
    const far = await compare(app, parent.task_id, second.task_id);
    expect(far.relation).toBeNull();
    expect(far.summary).toMatchObject({ reused: ['a', 'b'], changed: ['c'] });
  });

  it('forks a failed run: the failed step runs again with its patch, and the steps that never ran run for the first time', async () => {
    const { app, log } = await setup();
    const plan = {
      steps: [
        { id: 'a', agent: 'math', input: { values: [5] } },
        { id: 'f', agent: 'flaky', input: { fail_attempts: 9, retryable: false }, depends_on: ['a'] },
        { id: 'c', agent: 'math', input: { values: [1] }, depends_on: ['f'] },
      ],
    };
    const parent = await run(app, plan);
    expect(parent.status).toBe('failed');
    const res = await fork(app, parent.task_id, { from_step: 'f', input_patch: { fail_attempts: 0 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'succeeded', reused: ['a'] });
    expect(ranFor(log, res.json().task_id)).toEqual(['f', 'c']);
    const cmp = await compare(app, parent.task_id, res.json().task_id);
    expect(cmp.summary).toMatchObject({ reused: ['a'], changed: ['f'], only_b: ['c'] });
    expect(cmp.steps.find((s: { step_id: string }) => s.step_id === 'f')).toMatchObject({
      a: { status: 'failed' },
      b: { status: 'succeeded' },
    });
  });

  it('keeps the branch and loop decisions of reused steps: a reviewed draft is not reviewed again', async () => {
    const { app, log } = await setup();
    const plan = {
      steps: [
        { id: 'w', agent: 'writer', input: { flaws: 1 } },
        { id: 'r', agent: 'reviewer', depends_on: ['w'], on_rejection: { action: 'retry', target: 'w', max_attempts: 3 } },
        { id: 'd', agent: 'math', input: { values: [7] }, depends_on: ['r'] },
      ],
    };
    const parent = await run(app, plan);
    expect(parent.status).toBe('succeeded');
    expect(ranFor(log, parent.task_id)).toEqual(['w', 'r', 'w', 'r', 'd']);
    const fromD = (await fork(app, parent.task_id, { from_step: 'd' })).json();
    expect(fromD).toMatchObject({ status: 'succeeded', reused: ['w', 'r'] });
    expect(ranFor(log, fromD.task_id)).toEqual(['d']);
    // From the review: it reads the revised draft (kept), approves it, and nothing loops.
    const fromR = (await fork(app, parent.task_id, { from_step: 'r' })).json();
    expect(fromR).toMatchObject({ status: 'succeeded', reused: ['w'] });
    expect(ranFor(log, fromR.task_id)).toEqual(['r', 'd']);
    const view = await task(app, fromR.task_id);
    expect(view.steps.find((s) => s.id === 'r')!.output).toMatchObject({ decision: 'approved', flaws: 0 });
  });

  it('keeps an answered approval: the fork does not ask again, and a branch the answer did not take cannot be forked from', async () => {
    const { app, log } = await setup();
    const plan = {
      steps: [
        { id: 'build', agent: 'math', input: { values: [1] } },
        { id: 'gate', type: 'approval', depends_on: ['build'], on_approval: 'ship', on_rejection: 'undo' },
        { id: 'ship', agent: 'math', input: { values: [2] }, depends_on: ['gate'] },
        { id: 'undo', agent: 'math', input: { values: [3] }, depends_on: ['gate'] },
      ],
    };
    const parent = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan } })).json<{ task_id: string }>().task_id;
    await poll(async () => (await task(app, parent)).status === 'waiting', { timeoutMs: 10_000, label: 'the parent to wait for its gate' });
    expect((await app.inject({ method: 'POST', url: `/tasks/${parent}/approve`, payload: { comment: 'go' } })).statusCode).toBe(200);
    await poll(async () => (await task(app, parent)).status === 'succeeded', { timeoutMs: 10_000, label: 'the parent to succeed' });

    const res = await fork(app, parent, { from_step: 'ship', input_patch: { values: [20] } });
    expect(res.json()).toMatchObject({ status: 'succeeded', reused: ['build', 'gate'] });
    expect(ranFor(log, res.json().task_id)).toEqual(['ship']);
    expect((await task(app, res.json().task_id)).steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'skipped']);

    const undo = await fork(app, parent, { from_step: 'undo' });
    expect(undo.statusCode).toBe(400);
    expect(undo.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'from_step', branch_of: 'gate' } });
  });

  it('refuses a step that does not exist, a patch above the fork point and a patch that breaks the plan, storing nothing', async () => {
    const { app, db } = await setup();
    const parent = await run(app, chain);
    const before = await countWorkflows(db);

    const noStep = await fork(app, parent.task_id, { from_step: 'zz' });
    expect(noStep.statusCode).toBe(400);
    expect(noStep.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'from_step' } });
    expect(noStep.json().message).toContain('"zz"');

    const upstream = await fork(app, parent.task_id, { from_step: 'b', plan_patch: { steps: { a: { input: { values: [0] } } } } });
    expect(upstream.statusCode).toBe(400);
    expect(upstream.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'plan_patch.steps.a' } });

    const unknownAgent = await fork(app, parent.task_id, { from_step: 'b', plan_patch: { steps: { c: { agent: 'nobody' } } } });
    expect(unknownAgent.statusCode).toBe(400);
    expect(unknownAgent.json()).toMatchObject({ code: 'INVALID_PLAN' });
    expect(unknownAgent.json().message).toContain('unknown agent "nobody"');

    // b may use only the steps above it: a reference to c's output is refused, as at submit.
    const badRef = await fork(app, parent.task_id, {
      from_step: 'b',
      input_patch: { values: '{{steps.c.output.sum}}' },
    });
    expect(badRef.statusCode).toBe(400);
    expect(badRef.json()).toMatchObject({ code: 'INVALID_PLAN' });
    expect(badRef.json().message).toContain('refers to the output of "c"');

    const notAField = await fork(app, parent.task_id, { from_step: 'b', plan_patch: { steps: { c: { depends_on: [] } } } });
    expect(notAField.statusCode).toBe(400);

    const missing = await fork(app, randomUUID(), { from_step: 'b' });
    expect(missing.statusCode).toBe(404);
    expect((await app.inject({ url: `/tasks/${parent.task_id}/compare/${randomUUID()}` })).statusCode).toBe(404);
    expect(await countWorkflows(db)).toBe(before);
  });

  it('a running task is not forked; an Idempotency-Key returns the first fork, and another body under it is a 409', async () => {
    const { app, db, log } = await setup();
    const slow = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: { steps: [{ id: 's', agent: 'math', input: { values: [1], ms: 5_000 } }] } },
    });
    const busy = await fork(app, slow.json().task_id, { from_step: 's' });
    expect(busy.statusCode).toBe(409);
    expect(busy.json().code).toBe('WORKFLOW_BUSY');
    await app.inject({ method: 'POST', url: `/tasks/${slow.json().task_id}/cancel` });
    // A cancelled run forks like any finished one.
    const fromCancelled = await fork(app, slow.json().task_id, { from_step: 's', input_patch: { ms: 0 } });
    expect(fromCancelled.json()).toMatchObject({ status: 'succeeded' });

    const parent = await run(app, chain);
    const headers = { 'idempotency-key': `fork-${randomUUID()}` };
    const once = await fork(app, parent.task_id, { from_step: 'c' }, headers);
    const twice = await fork(app, parent.task_id, { from_step: 'c' }, headers);
    expect(twice.headers['idempotent-replayed']).toBe('true');
    expect(twice.json().task_id).toBe(once.json().task_id);
    expect(ranFor(log, once.json().task_id)).toEqual(['c']);
    const other = await fork(app, parent.task_id, { from_step: 'b' }, headers);
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('IDEMPOTENCY_CONFLICT');
    expect((await db.query('SELECT id FROM workflows WHERE forked_from = $1', [parent.task_id])).length).toBe(1);
  });

  it('a fork written by a replica that died before running it is taken up by recovery from its rows', async () => {
    const { db, log, app } = await setup();
    const parent = await run(app, chain);
    const parentRow = (await store.getWorkflow(db, parent.task_id))!;
    // Written under a lease that has run out, by an orchestrator that never drives it.
    const written = await writeFork(
      db,
      { owner: 'dead-replica', incarnation: randomUUID(), ms: 1 },
      'dead-replica',
      { parent: parentRow, request: { fromStep: 'b' } },
      () => {},
    );
    written.span.end();
    expect(written.created).toBe(true);
    // A second orchestrator on the same database recovers it.
    const { agents } = testAgents(log);
    const other = await startPlatform(db, agents, { RECOVERY_INTERVAL_MS: '100' });
    const done = await poll(
      async () => {
        const v = (await other.app.inject({ url: `/tasks/${written.id}` })).json<Task>();
        return v.status === 'succeeded' ? v : null;
      },
      { timeoutMs: 10_000, label: 'the recovered fork to succeed' },
    );
    expect(done.steps.map((s) => s.reused)).toEqual([true, false, false]);
    expect(ranFor(log, written.id)).toEqual(['b', 'c']);
  });
});

describe('fork and compare with API keys and API_KEY_OWNERSHIP=on', () => {
  it('forking needs the submit scope and a task the key may see; a key sees only its own forks', async () => {
    const db = await testDatabases.find((d) => d.name === 'postgres')!.open();
    onTestFinished(() => db.close());
    const admin = randomUUID();
    const { app } = await startPlatform(db, testAgents().agents, { API_AUTH: 'keys', API_KEY_OWNERSHIP: 'on', ADMIN_API_KEY: admin });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const createKey = async (name: string, scopes: string[]) => {
      const res = await app.inject({ method: 'POST', url: '/admin/api-keys', headers: as(admin), payload: { name, scopes } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ key: string }>().key;
    };
    const [alice, bob, reader] = [
      await createKey('alice', ['submit', 'read']),
      await createKey('bob', ['submit', 'read']),
      await createKey('reader', ['read']),
    ];
    const parent = (
      await app.inject({ method: 'POST', url: '/orchestrate', headers: as(alice), payload: { plan: chain, wait: true } })
    ).json<{ task_id: string }>().task_id;
    const forkAs = (key: string) =>
      app.inject({ method: 'POST', url: `/tasks/${parent}/fork`, headers: as(key), payload: { from_step: 'c', wait: true } });

    expect((await forkAs(bob)).json()).toMatchObject({ statusCode: 404, code: 'TASK_NOT_FOUND' });
    expect((await forkAs(reader)).json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    const own = (await forkAs(alice)).json<{ task_id: string; status: string }>();
    expect(own.status).toBe('succeeded');
    const byAdmin = (await forkAs(admin)).json<{ task_id: string }>();
    // Bob cannot compare alice's runs either.
    expect((await app.inject({ url: `/tasks/${parent}/compare/${own.task_id}`, headers: as(bob) })).statusCode).toBe(404);
    expect((await app.inject({ url: `/tasks/${parent}/compare/${own.task_id}`, headers: as(alice) })).statusCode).toBe(200);
    const forks = async (key: string) =>
      (await app.inject({ url: `/tasks/${parent}`, headers: as(key) })).json<Task>().forks.map((f) => f.task_id);
    expect(await forks(alice)).toEqual([own.task_id]);
    expect(await forks(admin)).toEqual([own.task_id, byAdmin.task_id]);
  });
});
