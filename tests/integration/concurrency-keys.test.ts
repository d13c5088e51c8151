import { describe, expect, it, onTestFinished } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { sharedMathAgent, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

/** One step that takes `ms` on the math agent, with the repo the concurrency key reads. */
const job = (repo: string, ms: number, extra: Record<string, unknown> = {}) => ({
  plan: { steps: [{ id: 'work', agent: 'math', input: { values: [1], ms } }] },
  input: { repo },
  concurrency: { key: 'input.repo', limit: 1 },
  ...extra,
});

interface Span {
  id: string;
  key: string | null;
  priority: number;
  created: number;
  start: number;
  end: number;
}

/** Each workflow's running time as the database recorded it (not the test's clock). */
async function spans(db: Db, ids: string[]): Promise<Span[]> {
  const rows = await db.query<{
    id: string;
    concurrency_key: string | null;
    priority: number;
    created_at: Date;
    started_at: Date;
    finished_at: Date;
  }>(`SELECT id, concurrency_key, priority, created_at, started_at, finished_at FROM workflows WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map((r) => ({
    id: r.id,
    key: r.concurrency_key,
    priority: r.priority,
    created: r.created_at.getTime(),
    start: r.started_at.getTime(),
    end: r.finished_at.getTime(),
  }));
}

/** The most workflows running at one instant: a sweep over starts and ends (an end before a start at the same instant). */
function maxOverlap(list: Span[]): number {
  const points = list.flatMap((s) => [
    { t: s.start, d: 1 },
    { t: s.end, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (now += p.d));
  return max;
}

async function allFinished(app: FastifyInstance, ids: string[], label: string): Promise<void> {
  await poll(
    async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await app.inject({ url: `/tasks/${id}` })).json().status as string));
      return statuses.every((s) => s === 'succeeded' || s === 'failed' || s === 'cancelled') && statuses;
    },
    { timeoutMs: 60_000, label, intervalMs: 200 },
  );
}

describe.each(testDatabases)('per-key concurrency on $name', (t) => {
  async function setup(replicas = 1) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const apps: FastifyInstance[] = [];
    for (let i = 0; i < replicas; i++) apps.push((await startPlatform(db, [], { ...agent.env, RECOVERY_INTERVAL_MS: '500' })).app);
    return { db, apps, app: apps[0]!, agent };
  }

  const submit = async (app: FastifyInstance, body: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: body });
    expect(res.statusCode, res.body).toBe(202);
    return res.json() as {
      task_id: string;
      status: string;
      queue?: { concurrency_key: string; position: number };
      error?: { message: string };
    };
  };

  it('limit 2 on a key, 10 submitted to two orchestrators: never more than 2 running, all succeed, in the order submitted', async () => {
    const { db, apps } = await setup(2);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const body = job('acme/api', 150, { concurrency: { key: 'input.repo', limit: 2 } });
      ids.push((await submit(apps[i % 2]!, body)).task_id);
    }
    await allFinished(apps[0]!, ids, 'the ten workflows of one key');
    const done = await spans(db, ids);
    expect(
      new Set((await db.query<{ status: string }>(`SELECT status FROM workflows WHERE id = ANY($1::uuid[])`, [ids])).map((r) => r.status)),
    ).toEqual(new Set(['succeeded']));
    expect(maxOverlap(done)).toBeLessThanOrEqual(2);
    expect(maxOverlap(done)).toBe(2);
    // FIFO within the key: they started in the order they were submitted.
    const byStart = [...done].sort((a, b) => a.start - b.start || a.created - b.created).map((s) => s.id);
    expect(byStart).toEqual(ids);
  }, 120_000);

  it('two keys each with limit 1 run side by side, each one at a time, neither starving the other', async () => {
    const { db, app } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await submit(app, job('acme/api', 150))).task_id);
      ids.push((await submit(app, job('acme/web', 150))).task_id);
    }
    await allFinished(app, ids, 'the workflows of two keys');
    const done = await spans(db, ids);
    const api = done.filter((s) => s.key === 'input.repo=acme/api');
    const web = done.filter((s) => s.key === 'input.repo=acme/web');
    expect([api.length, web.length]).toEqual([3, 3]);
    expect(maxOverlap(api)).toBe(1);
    expect(maxOverlap(web)).toBe(1);
    // Both keys made progress together: the second key started before the first key's last finished.
    expect(Math.min(...web.map((s) => s.start))).toBeLessThan(Math.max(...api.map((s) => s.end)));
  });

  it('shows queued work with its key and place, and a higher priority overtakes a lower one in the same queue', async () => {
    const { db, app } = await setup();
    const blocker = await submit(app, job('acme/api', 1_500));
    expect(blocker.status).toBe('running');
    const low1 = await submit(app, job('acme/api', 10, { priority: 1 }));
    const low2 = await submit(app, job('acme/api', 10, { priority: 1 }));
    expect(low1).toMatchObject({ status: 'queued', queue: { concurrency_key: 'input.repo=acme/api', position: 1 } });
    expect(low2.queue?.position).toBe(2);
    const high = await submit(app, job('acme/api', 10, { priority: 5 }));
    expect(high.queue?.position).toBe(1);
    const view = (await app.inject({ url: `/tasks/${low2.task_id}` })).json();
    expect(view).toMatchObject({ status: 'queued', queue_position: 3, concurrency_key: 'input.repo=acme/api', priority: 1 });
    expect((await app.inject({ url: '/tasks?status=queued' })).json().tasks).toHaveLength(3);
    // Counted per key for Grafana and KEDA, by the recovery pass.
    await poll(
      async () =>
        /^workflows_queued\{concurrency_key="input\.repo=acme\/api"[^}]*\} 3$/m.test((await app.inject({ url: '/metrics' })).body),
      {
        timeoutMs: 10_000,
        label: 'workflows_queued for the key',
      },
    );

    const ids = [blocker.task_id, low1.task_id, low2.task_id, high.task_id];
    await allFinished(app, ids, 'the blocker and the queue behind it');
    const order = (await spans(db, ids)).sort((a, b) => a.start - b.start).map((s) => s.id);
    expect(order).toEqual([blocker.task_id, high.task_id, low1.task_id, low2.task_id]);
  });

  it('a queued workflow can be cancelled and never runs; the queue goes on without it', async () => {
    const { app, agent } = await setup();
    const blocker = await submit(app, job('acme/api', 800));
    const queued = await submit(app, job('acme/api', 10));
    const next = await submit(app, job('acme/api', 10));
    const cancelled = await app.inject({ method: 'POST', url: `/tasks/${queued.task_id}/cancel`, payload: { reason: 'not needed' } });
    expect(cancelled.statusCode).toBe(200);
    await allFinished(app, [blocker.task_id, next.task_id], 'the blocker and the one after the cancelled one');
    expect((await app.inject({ url: `/tasks/${next.task_id}` })).json().status).toBe('succeeded');
    expect(agent.log.runs.filter((r) => r.key.startsWith(queued.task_id))).toEqual([]);
  });

  it('cancel_newest refuses the new workflow while the key is full; cancel_in_progress cancels the running one for it', async () => {
    const { app } = await setup();
    const first = await submit(app, job('acme/api', 20_000));
    const newest = await submit(app, job('acme/api', 10, { concurrency: { key: 'input.repo', limit: 1, strategy: 'cancel_newest' } }));
    expect(newest.status).toBe('cancelled');
    expect(newest.error?.message).toContain('concurrency key input.repo=acme/api is at its limit of 1');

    const winner = await submit(app, job('acme/api', 10, { concurrency: { key: 'input.repo', limit: 1, strategy: 'cancel_in_progress' } }));
    expect(winner.status).toBe('running');
    const old = (await app.inject({ url: `/tasks/${first.task_id}` })).json();
    expect(old.status).toBe('cancelled');
    expect(old.error.message).toContain('cancelled for a newer workflow');
    await allFinished(app, [winner.task_id], 'the newest workflow');
    expect((await app.inject({ url: `/tasks/${winner.task_id}` })).json().status).toBe('succeeded');
  });

  it('a fork of a keyed run is another run of its key: queued while the key is full, then run from its rows', async () => {
    const { db, app, agent } = await setup();
    const twoSteps = (repo: string, ms: number) => ({
      ...job(repo, ms),
      plan: {
        steps: [
          { id: 'prep', agent: 'math', input: { values: [1, 2] } },
          { id: 'work', agent: 'math', input: { values: [3], ms }, depends_on: ['prep'] },
        ],
      },
    });
    const parent = await submit(app, twoSteps('acme/api', 10));
    await allFinished(app, [parent.task_id], 'the parent run');
    const blocker = await submit(app, job('acme/api', 1_500));
    expect(blocker.status).toBe('running');

    const res = await app.inject({ method: 'POST', url: `/tasks/${parent.task_id}/fork`, payload: { from_step: 'work' } });
    expect(res.statusCode, res.body).toBe(202);
    const fork = res.json();
    expect(fork).toMatchObject({ status: 'queued', queue: { concurrency_key: 'input.repo=acme/api', position: 1 }, reused: ['prep'] });
    // With wait it waits its turn (here past the blocker) and answers with the finished fork.
    const waited = await app.inject({
      method: 'POST',
      url: `/tasks/${parent.task_id}/fork`,
      payload: { from_step: 'work', wait: true },
    });
    expect(waited.statusCode, waited.body).toBe(200);
    expect(waited.json()).toMatchObject({ status: 'succeeded', reused: ['prep'] });

    await allFinished(app, [blocker.task_id, fork.task_id], 'the blocker and the fork behind it');
    const done = await spans(db, [blocker.task_id, fork.task_id, waited.json().task_id]);
    expect(new Set(done.map((s) => s.key))).toEqual(new Set(['input.repo=acme/api']));
    expect(maxOverlap(done)).toBe(1);
    const forkView = (await app.inject({ url: `/tasks/${fork.task_id}` })).json();
    expect(forkView.status).toBe('succeeded');
    // The kept step was not sent to the agent again; the re-run one was, once.
    expect(agent.log.runs.filter((r) => r.key.startsWith(fork.task_id)).map((r) => r.key.split(':')[1])).toEqual(['work']);
  }, 60_000);

  it('bad concurrency is a 400 naming it, and nothing is stored', async () => {
    const { db, app } = await setup();
    const cases: [Record<string, unknown>, string][] = [
      [{ concurrency: { key: 'input.repo', limit: 1, strategy: 'first_come' } }, 'strategy'],
      [{ concurrency: { key: 'input.repo', limit: -1 } }, 'limit'],
      [{ concurrency: { key: 'input.branch', limit: 1 } }, 'reads nothing: the input has no branch'],
      [{ concurrency: { key: 'repo', limit: 1 } }, 'not a path into the input'],
      [{ concurrency: { key: 'input.repo', limit: 1 }, execute: false }, 'not with execute: false'],
      [{ priority: 9 }, 'priority'],
    ];
    for (const [extra, words] of cases) {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { ...job('acme/api', 10), ...extra } });
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
      expect(res.json().message, JSON.stringify(extra)).toContain(words);
    }
    expect(await db.query('SELECT 1 FROM workflows')).toEqual([]);
  });
});
