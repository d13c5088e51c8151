import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { sharedMathAgent, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import type { RunLog } from '../helpers/test-agents.ts';

/** One step on the math agent taking `ms`, with a tenant for keys to read. */
const job = (tenant: string, ms: number, extra: Record<string, unknown> = {}, step: Record<string, unknown> = {}) => ({
  plan: { steps: [{ id: 'work', agent: 'math', input: { values: [1], ms, tenant }, ...step }] },
  input: { tenant },
  ...extra,
});

async function allFinished(app: FastifyInstance, ids: string[], label: string): Promise<string[]> {
  return poll(
    async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await app.inject({ url: `/tasks/${id}` })).json().status as string));
      return statuses.every((s) => s === 'succeeded' || s === 'failed' || s === 'cancelled') && statuses;
    },
    { timeoutMs: 60_000, label, intervalMs: 200 },
  );
}

/** The most handler runs at the agent at one instant (an end before a start at the same instant). */
function maxOverlap(runs: RunLog['runs']): number {
  const points = runs.flatMap((r) => [
    { t: r.start, d: 1 },
    { t: r.end ?? Infinity, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (now += p.d));
  return max;
}

const eventsOf = async (db: Db, ids: string[], type: string) =>
  db.query<{ workflow_id: string; data: Record<string, unknown> }>(
    `SELECT workflow_id, data FROM workflow_events WHERE workflow_id = ANY($1::uuid[]) AND type = $2`,
    [ids, type],
  );

describe.each(testDatabases)('rate limits and step-level flow control on $name', (t) => {
  async function setup(replicas = 1, env: Record<string, string> = {}) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const apps: FastifyInstance[] = [];
    for (let i = 0; i < replicas; i++) apps.push((await startPlatform(db, [], { ...agent.env, RECOVERY_INTERVAL_MS: '500', ...env })).app);
    return { db, apps, app: apps[0]!, log: agent.log };
  }

  const submit = async (app: FastifyInstance, body: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: body });
    expect(res.statusCode, res.body).toBe(202);
    return res.json() as { task_id: string; status: string };
  };

  it('a rate limit of 5 a second spreads 20 starts on two replicas over about 3 s; each delayed start says so and none is dropped', async () => {
    const { db, apps } = await setup(2);
    const ids: string[] = [];
    const statuses: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await submit(apps[i % 2]!, job('acme', 0, { rate_limit: { key: 'input.tenant', limit: 5, period: '1s' } }));
      ids.push(r.task_id);
      statuses.push(r.status);
    }
    // Submitted faster than five a second: some had to wait their turn (how many depends on how fast
    // the twenty submits went; the spacing below does not).
    expect(statuses.filter((s) => s === 'scheduled').length).toBeGreaterThan(0);
    expect(new Set(await allFinished(apps[0]!, ids, 'the twenty rate-limited workflows'))).toEqual(new Set(['succeeded']));
    const starts = (
      await db.query<{ started_at: Date }>(`SELECT started_at FROM workflows WHERE id = ANY($1::uuid[]) ORDER BY started_at`, [ids])
    ).map((r) => r.started_at.getTime());
    // The database's own start times: five in each second, so the sixth after any start is most of a
    // second later (a timer firing late can only shorten the gap by its lateness), and all of them span 3 s.
    for (let i = 0; i + 5 < starts.length; i++) expect(starts[i + 5]! - starts[i]!, `start ${i + 5} after start ${i}`).toBeGreaterThan(500);
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(2_500);
    const waits = await eventsOf(db, ids, 'workflow_rate_limited');
    expect(waits.length).toBe(statuses.filter((s) => s === 'scheduled').length);
    expect(waits[0]!.data).toMatchObject({ key: 'input.tenant=acme', limit: 5, period_ms: 1000 });
  }, 90_000);

  it("a step's concurrency limit holds across two replicas: never more than 2 calls at the agent at once, the waiting ones say so", async () => {
    const { db, apps, log } = await setup(2);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await submit(apps[i % 2]!, job(`t${i}`, 400, {}, { concurrency: { limit: 2 } }))).task_id);
    expect(new Set(await allFinished(apps[0]!, ids, 'eight workflows sharing two call slots'))).toEqual(new Set(['succeeded']));
    const runs = log.runs.filter((r) => r.agent === 'math');
    expect(runs.length).toBe(8);
    expect(maxOverlap(runs)).toBe(2);
    const queued = await eventsOf(db, ids, 'step_queued');
    expect(queued.length).toBeGreaterThan(0);
    expect(queued[0]!.data).toMatchObject({ key: 'agent:math', limit: 2 });
    // Every slot was given back.
    expect(await db.query('SELECT * FROM call_slots')).toEqual([]);
  }, 90_000);

  it("a step's concurrency key reads its input: two tenants each get their own slot", async () => {
    const { apps, log } = await setup(1);
    const ids: string[] = [];
    const tenantOf = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const tenant = i % 2 ? 'acme' : 'zeta';
      const id = (await submit(apps[0]!, job(tenant, 400, {}, { concurrency: { key: 'input.tenant', limit: 1 } }))).task_id;
      ids.push(id);
      tenantOf.set(id, tenant);
    }
    expect(new Set(await allFinished(apps[0]!, ids, 'six workflows of two tenants'))).toEqual(new Set(['succeeded']));
    // The agent's log names each call's task in its idempotency key (task:step:attempt).
    const byTenant = (t: string) => log.runs.filter((r) => tenantOf.get(r.key.split(':')[0]!) === t);
    const [acme, zeta] = [byTenant('acme'), byTenant('zeta')];
    expect([acme.length, zeta.length]).toEqual([3, 3]);
    expect(maxOverlap(acme)).toBe(1);
    expect(maxOverlap(zeta)).toBe(1);
    // Each tenant's slot is its own: the two went side by side, neither waiting for the other to finish.
    expect(Math.min(...acme.map((r) => r.start))).toBeLessThan(Math.max(...zeta.map((r) => r.end!)));
    expect(Math.min(...zeta.map((r) => r.start))).toBeLessThan(Math.max(...acme.map((r) => r.end!)));
  }, 90_000);

  it("a step's rate limit of 5 a second spaces its calls at the agent", async () => {
    const { db, app, log } = await setup(1);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await submit(app, job('acme', 0, {}, { rate_limit: { limit: 5, period: '1s' } }))).task_id);
    expect(new Set(await allFinished(app, ids, 'ten rate-limited calls'))).toEqual(new Set(['succeeded']));
    const starts = log.runs.map((r) => r.start).sort((a, b) => a - b);
    expect(starts.length).toBe(10);
    expect(starts[5]! - starts[0]!).toBeGreaterThan(500);
    const waits = await eventsOf(db, ids, 'step_rate_limited');
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]!.data).toMatchObject({ key: 'agent:math', limit: 5, period: '1s' });
  }, 90_000);

  it('delayed runs with a concurrency key join their queue when their time comes, one at a time', async () => {
    const { db, app, log } = await setup(1);
    const body = job('acme', 150, { delay: '300ms', concurrency: { key: 'input.tenant', limit: 1 } });
    const first = await submit(app, body);
    const second = await submit(app, body);
    expect([first.status, second.status]).toEqual(['scheduled', 'scheduled']);
    expect(new Set(await allFinished(app, [first.task_id, second.task_id], 'two delayed keyed runs'))).toEqual(new Set(['succeeded']));
    expect(maxOverlap(log.runs)).toBe(1);
    expect((await eventsOf(db, [first.task_id, second.task_id], 'workflow_queued')).length).toBe(2);
  }, 60_000);

  it("a named workflow's YAML concurrency, rate limit and priority apply to its runs", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-flow-'));
    await writeFile(
      join(dir, 'tenant_job.yaml'),
      [
        'name: tenant_job',
        'description: one slow sum per tenant at a time',
        'inputs: {tenant: the tenant}',
        'concurrency: {key: input.tenant, limit: 1}',
        'rate_limit: {key: input.tenant, limit: 100, period: 1m}',
        'priority: 4',
        'steps:',
        '  - {id: work, agent: math, input: {values: [2], ms: 150}}',
      ].join('\n'),
    );
    const { db, app, log } = await setup(1, { WORKFLOWS_DIR: dir });
    const ids = [
      (await submit(app, { workflow: 'tenant_job', input: { tenant: 'acme' } })).task_id,
      (await submit(app, { workflow: 'tenant_job', input: { tenant: 'acme' } })).task_id,
    ];
    expect(new Set(await allFinished(app, ids, 'two runs of the named workflow'))).toEqual(new Set(['succeeded']));
    expect(maxOverlap(log.runs)).toBe(1);
    const rows = await db.query<{ concurrency_key: string; priority: number }>(
      `SELECT concurrency_key, priority FROM workflows WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows).toEqual([
      { concurrency_key: 'input.tenant=acme', priority: 4 },
      { concurrency_key: 'input.tenant=acme', priority: 4 },
    ]);
  }, 60_000);

  it('resuming a failed workflow whose key is full is refused with the key named, and it stays failed', async () => {
    const { db, app } = await setup(1);
    const failing = {
      plan: { steps: [{ id: 'work', agent: 'math', input: { values: 'not numbers' } }] },
      input: { tenant: 'acme' },
      concurrency: { key: 'input.tenant', limit: 1 },
    };
    const failed = await submit(app, failing);
    expect(await allFinished(app, [failed.task_id], 'the failing run')).toEqual(['failed']);
    const busy = await submit(app, job('acme', 2_000, { concurrency: { key: 'input.tenant', limit: 1 } }));
    await poll(async () => (await app.inject({ url: `/tasks/${busy.task_id}` })).json().status === 'running', {
      timeoutMs: 10_000,
      label: 'the busy run holding the slot',
    });
    const refused = await app.inject({ method: 'POST', url: `/resume/${failed.task_id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toContain('concurrency key input.tenant=acme is at its limit of 1');
    expect((await db.query<{ status: string }>(`SELECT status FROM workflows WHERE id = $1`, [failed.task_id]))[0]!.status).toBe('failed');
  }, 60_000);

  it('bad flow control is a 400 naming it, and nothing is stored', async () => {
    const { db, app } = await setup();
    const cases: [Record<string, unknown>, string][] = [
      [job('a', 0, { rate_limit: { key: 'input.tenant', limit: 5, period: '5' } }), 'rate_limit.period "5" is not a duration'],
      [job('a', 0, { rate_limit: { key: 'input.region', limit: 5, period: '1s' } }), 'rate_limit.key "input.region" reads nothing'],
      [job('a', 0, { rate_limit: { key: 'input.tenant', limit: 0, period: '1s' } }), 'limit'],
      [job('a', 0, { rate_limit: { key: 'input.tenant', limit: 5, period: '1s' }, execute: false }), 'not with execute: false'],
      [job('a', 0, {}, { rate_limit: { limit: 5, period: 'often' } }), 'step "work" rate_limit.period "often" is not a duration'],
      [job('a', 0, {}, { concurrency: { key: 'input.region', limit: 2 } }), 'step "work" concurrency.key "input.region" reads nothing'],
      [job('a', 0, {}, { concurrency: { limit: -2 } }), 'limit'],
    ];
    for (const [body, words] of cases) {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().message, JSON.stringify(body)).toContain(words);
    }
    expect(await db.query('SELECT 1 FROM workflows')).toEqual([]);
  });
});
