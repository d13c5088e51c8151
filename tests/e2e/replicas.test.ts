import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startConsulDouble } from '../doubles/consul-double.ts';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';

const agentScript = fileURLToPath(new URL('../helpers/http-agent-process.ts', import.meta.url));

function startReplica(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [agentScript], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`agent replica exited ${code}`)));
  });
}

async function json(url: string, init?: RequestInit): Promise<Record<string, any>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  return (await res.json()) as Record<string, any>;
}

describe('replicas under failure (child processes, real Postgres, Consul double)', () => {
  it('two orchestrators and three agent replicas, one of each killed mid-run: every workflow completes exactly once, calls cut off by the dead replica finish on another', async () => {
    const consul = await startConsulDouble();
    const dir = await mkdtemp(join(tmpdir(), 'mesh-replicas-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const effects = join(dir, 'effects.log');
    await writeFile(effects, '');
    const agent = `slow-${randomBytes(3).toString('hex')}`;
    const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const replicaEnv = {
      AGENT_NAME: agent,
      CONSUL_HTTP_ADDR: consul.address,
      EFFECT_FILE: effects,
      REDIS_URL: redisUrl,
      IDEM_PREFIX: `test:idem:${agent}:`,
    };
    onTestFinished(async () => {
      const r = new Redis(redisUrl);
      const keys = await r.keys(`test:idem:${agent}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });
    const replicas = [await startReplica(replicaEnv), await startReplica(replicaEnv), await startReplica(replicaEnv)];
    await poll(() => consul.services().filter((s) => s.name === agent && s.status === 'passing').length === 3, {
      timeoutMs: 10_000,
      label: 'three healthy replicas in Consul',
    });

    const databaseUrl = await schemaDatabaseUrl('rep');
    const env = {
      DATABASE_URL: databaseUrl,
      CONSUL_HTTP_ADDR: consul.address,
      AGENT_URLS: `${agent}=http://127.0.0.1:9`,
      LEASE_MS: '1500',
      RECOVERY_INTERVAL_MS: '300',
      RETRY_BACKOFF_MS: '100',
      STEP_MAX_ATTEMPTS: '6',
      LOG_LEVEL: 'warn',
    };
    const orchestrators = [
      await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'orch-a' }, 1),
      await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'orch-b' }, 1),
    ];
    const apis = orchestrators.map((o) => o.urls.orchestrator!);

    const plan = {
      steps: [
        { id: 'one', agent, input: { values: [1, 2], ms: 400 } },
        { id: 'two', agent, input: { values: [3], ms: 400 }, depends_on: ['one'] },
        { id: 'three', agent, input: { values: [4], ms: 400 }, depends_on: ['one'] },
      ],
    };
    const ids: string[] = [];
    for (let i = 0; i < 8; i++)
      ids.push(String((await json(`${apis[i % 2]}/orchestrate`, { method: 'POST', body: JSON.stringify({ plan }) })).task_id));

    // Mid-run: some handlers have started; kill one orchestrator and one agent replica.
    await poll(async () => (await readFile(effects, 'utf8')).split('\n').filter(Boolean).length >= 6, {
      timeoutMs: 20_000,
      label: 'handlers to be running',
      intervalMs: 20,
    });
    // The replica that started a handler last: its 400 ms call is surely still in flight (a fixed
    // pick could have had nothing running at that instant).
    const lastPid = (await readFile(effects, 'utf8')).trim().split('\n').at(-1)!.split(' ')[1];
    const victim = replicas.find((r) => String(r.pid) === lastPid) ?? replicas[0]!;
    const survivors = replicas.filter((r) => r !== victim);
    orchestrators[0]!.child.kill('SIGKILL');
    victim.kill('SIGKILL');

    const finished = await poll(
      async () => {
        const tasks = await Promise.all(ids.map((id) => json(`${apis[1]}/tasks/${id}`)));
        return tasks.every((t) => t.status === 'succeeded' || t.status === 'failed') ? tasks : undefined;
      },
      { timeoutMs: 60_000, label: 'every workflow to finish on the surviving orchestrator', intervalMs: 250 },
    );
    expect(
      finished.map((t) => t.status),
      JSON.stringify(finished.filter((t) => t.status !== 'succeeded').map((t) => t.error)),
    ).toEqual(ids.map(() => 'succeeded'));
    for (const t of finished) expect(t.checkpoint.two.sum + t.checkpoint.three.sum).toBe(7);

    // Exactly once: one final event per workflow. A key ran its handler twice only where the first
    // run died with the killed replica mid-call; calls re-sent after the orchestrator died were
    // answered from the replicas' shared store.
    for (const id of ids) {
      const events = await (await fetch(`${apis[1]}/tasks/${id}/events`)).text();
      expect(events.match(/^event: workflow_succeeded$/gm)).toHaveLength(1);
    }
    const runs = (await readFile(effects, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]);
    const byKey = new Map<string, string[]>();
    for (const [key, pid] of runs) byKey.set(key, [...(byKey.get(key) ?? []), pid]);
    const killed = String(victim.pid);
    for (const [key, pids] of byKey) {
      if (pids.length > 1) expect(pids.slice(0, -1), `key ${key} ran on ${pids.join(', ')}`).toEqual(pids.slice(0, -1).map(() => killed));
    }
    // The killed replica had calls in flight; each finished on another instance (a new attempt,
    // or the same key again once its claim lapsed).
    const interrupted = runs
      .filter(([, pid]) => pid === killed)
      .map(([key]) => key)
      .filter((key) => {
        const [task, step] = key.split(':');
        const view = finished.find((t) => t.task_id === task)!;
        return view.steps.find((s: { id: string }) => s.id === step).output.pid !== Number(killed);
      });
    expect(interrupted.length).toBeGreaterThan(0);
    for (const key of interrupted) {
      const [task, step] = key.split(':');
      const out = finished.find((t) => t.task_id === task)!.steps.find((s: { id: string }) => s.id === step).output;
      expect(survivors.map((r) => String(r.pid))).toContain(String(out.pid));
    }
  }, 120_000);
});
