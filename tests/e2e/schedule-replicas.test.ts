import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { startProcess } from '../helpers/processes.ts';
import { testAgents } from '../helpers/test-agents.ts';

const plan = { steps: [{ id: 'a', agent: 'math', input: { values: [1, 2], ms: 300 } }] };
// Who started a tick: its row carries its submit's workflow_started (migration 0017), else an event row does.
const startedBy = `coalesce(w.start_owner,
  (SELECT e.data->>'owner' FROM workflow_events e WHERE e.workflow_id = w.id AND e.type = 'workflow_started' ORDER BY e.seq LIMIT 1))`;

describe('a schedule on two orchestrator processes, one SIGKILLed mid-way (real Postgres)', () => {
  it('an every-second schedule starts exactly one workflow per tick, none lost, none doubled', { timeout: 180_000 }, async () => {
    const math = buildAgentApp(
      testAgents().agents.find((a) => a.name === 'math')!,
      { logLevel: 'silent' },
    );
    onTestFinished(() => math.close());
    const databaseUrl = await schemaDatabaseUrl('sched');
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    onTestFinished(() => db.end());
    const env = {
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: '4',
      AGENT_URLS: `math=${await listenOnLoopback(math)}`,
      LOG_LEVEL: 'warn',
      SCHEDULER_INTERVAL_MS: '200',
      // A killed replica's claim runs out after a second, and its workflows' leases after two.
      SCHEDULE_CLAIM_MS: '1000',
      LEASE_MS: '2000',
      RECOVERY_INTERVAL_MS: '500',
    };
    // One after the other: the first applies the migrations.
    const a = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'replica-a' }, 1, 60_000);
    const b = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'replica-b' }, 1, 60_000);
    const made = await fetch(`${a.urls.orchestrator}/schedules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'every-second', cron: '* * * * * *', plan, overlap: 'allow', catch_up: 'all' }),
    });
    expect(made.status).toBe(201);
    const { id } = (await db.query<{ id: string }>(`SELECT id FROM schedules WHERE name = 'every-second'`)).rows[0]!;
    const runs = async () =>
      (
        await db.query<{ key: string; status: string; created_at: Date }>(
          `SELECT idempotency_key AS key, status, created_at FROM workflows WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
          [`schedule ${id} %`],
        )
      ).rows.map((r) => ({ ...r, tick: new Date(r.key.split(' ')[2]!).getTime() }));
    // Both replicas take ticks (each claims what is due when it looks), then one dies mid-run.
    await poll(async () => (await runs()).length >= 5, { timeoutMs: 60_000, label: 'five ticks before the kill' });
    // Kill the replica that started the latest tick: the one at work, likely holding a claim or a run.
    const latest = await db.query<{ owner: string }>(
      `SELECT ${startedBy} AS owner FROM workflows w WHERE w.idempotency_key LIKE $1 ORDER BY w.idempotency_key DESC LIMIT 1`,
      [`schedule ${id} %`],
    );
    const victim = latest.rows[0]!.owner;
    const [dead, alive] = victim === 'replica-a' ? [a, b] : [b, a];
    dead.child.kill('SIGKILL');
    const killedAt = Date.now();
    await poll(async () => (await runs()).filter((r) => r.created_at.getTime() > killedAt).length >= 5, {
      timeoutMs: 60_000,
      label: 'five ticks after the kill',
    });
    const paused = await fetch(`${alive.urls.orchestrator!}/schedules/every-second`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(paused.status).toBe(200);
    // The dead replica's runs are taken over when their leases run out; every run finishes.
    const all = await poll(
      async () => {
        const r = await runs();
        return r.every((w) => w.status === 'succeeded') ? r : null;
      },
      { timeoutMs: 60_000, label: 'every scheduled run to succeed' },
    );
    const ticks = all.map((r) => r.tick);
    expect(new Set(ticks).size, 'one workflow per tick').toBe(ticks.length);
    expect(ticks.length).toBeGreaterThanOrEqual(10);
    // Every second from the first tick to the last has its workflow: no tick lost across the kill.
    ticks.forEach((tick, i) => expect(tick, `tick ${i}`).toBe(ticks[0]! + i * 1000));
    expect(ticks[0]).toBe(new Date(((await made.json()) as { next_run_at: string }).next_run_at).getTime());
    expect(ticks.some((t) => t < killedAt) && ticks.some((t) => t > killedAt + 2000)).toBe(true);
    // Both replicas started ticks: the dead one before the kill, the other after.
    const starters = await db.query<{ owner: string }>(
      `SELECT DISTINCT ${startedBy} AS owner FROM workflows w WHERE w.idempotency_key LIKE $1`,
      [`schedule ${id} %`],
    );
    expect(starters.rows.map((r) => r.owner).sort()).toEqual(['replica-a', 'replica-b']);
  });
});
