// The chaos campaign: two orchestrators and two replicas of an agent as real processes on real
// Postgres and Redis (Consul's double for discovery), diamond workflows submitted through the API,
// and a kill loop that SIGKILLs one process every few seconds and starts it again; with the stream
// transport, Redis without persistence can be restarted mid-run too. It then waits for every
// workflow to settle and reports what happened. tests/e2e/chaos.test.ts runs a short one in CI;
// `npm run chaos` a long one.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startConsulDouble } from '../../tests/doubles/consul-double.ts';
import { countDuplicates, type Duplicates } from './effects.ts';

export interface CampaignOptions {
  /** A database of its own (a schema in the URL's search_path). */
  databaseUrl: string;
  /** The Redis the replicas share (HTTP transport); with `redisRestart` a private one is started instead. */
  redisUrl: string;
  workflows: number;
  /** Workflows submitted at a time. */
  concurrency: number;
  killForMs: number;
  /** Pause between two kills, drawn between these. */
  killEveryMs: [number, number];
  transport: 'http' | 'stream';
  /** Restart Redis, which keeps nothing on disk, once during the kill loop (stream transport). */
  redisRestart: boolean;
  /** How long to wait, after the kill loop, for every workflow to finish. */
  settleMs: number;
  /** How long each step's handler takes: the window in which a kill cuts a call off. */
  stepMs: number;
  log?: (line: string) => void;
}

export interface CampaignReport {
  submitted: number;
  succeeded: number;
  failed: number;
  /** Accepted but not found in the database at the end. */
  lost: number;
  /** Still running or waiting at the end. */
  unfinished: number;
  /** Succeeded with a result that is not what the diamond computes. */
  wrongResults: number;
  duplicates: Duplicates;
  /** Steps that needed more than one attempt (retries after failures or timeouts). */
  retriedSteps: number;
  kills: { orchestrator: number; agent: number };
  redisRestarts: number;
  /** From the workflow's creation to its final status. */
  finishMs: { p50: number; p95: number };
  /** The first few errors of failed workflows, to say why. */
  failures: string[];
}

const bin = fileURLToPath(new URL('../../bin/agentic-mesh.ts', import.meta.url));
const agentScript = fileURLToPath(new URL('./agent-process.ts', import.meta.url));

interface Proc {
  role: 'orchestrator' | 'agent';
  name: string;
  child: ChildProcess;
  url: string;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

/** Starts a process and waits for the line that says where it listens. */
function launch(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start in 30 s: ${err.slice(-500)}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignReport> {
  const say = o.log ?? (() => {});
  const run = randomBytes(4).toString('hex');
  const agent = `chaos-${run}`;
  const dir = await mkdtemp(join(tmpdir(), 'mesh-chaos-'));
  const effects = join(dir, 'effects.log');
  await writeFile(effects, '');
  const consul = await startConsulDouble({ cleanup: false });
  const procs: Proc[] = [];
  const killed = new Set<number>();
  const kills = { orchestrator: 0, agent: 0 };
  let redisRestarts = 0;
  let redisServer: ChildProcess | undefined;
  let redisUrl = o.redisUrl;
  const db = new pg.Client({ connectionString: o.databaseUrl });
  await db.connect();

  const startRedis = async (port: number) => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const up = await probe
        .connect()
        .then(
          () => probe.ping(),
          () => undefined,
        )
        .finally(() => probe.disconnect());
      if (up === 'PONG') return child;
      await sleep(50);
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const redisPort = o.redisRestart ? await freePort() : 0;
  if (o.redisRestart) {
    redisServer = await startRedis(redisPort);
    redisUrl = `redis://127.0.0.1:${redisPort}`;
  }

  const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  const orchestratorEnv = (name: string): NodeJS.ProcessEnv => ({
    ...baseEnv,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'error',
    RATE_LIMIT_MAX: '0',
    DATABASE_URL: o.databaseUrl,
    CONSUL_HTTP_ADDR: consul.address,
    REDIS_URL: redisUrl,
    AGENT_URLS: `${agent}=http://127.0.0.1:9`,
    ...(o.transport === 'stream' ? { AGENT_TRANSPORTS: `${agent}=stream` } : {}),
    // A stable id per replica: restarted, it takes its own workflows back at once.
    ORCHESTRATOR_ID: name,
    LEASE_MS: '3000',
    RECOVERY_INTERVAL_MS: '500',
    RETRY_BACKOFF_MS: '100',
    STEP_TIMEOUT_MS: '15000',
  });
  const agentEnv = (): NodeJS.ProcessEnv => ({
    ...baseEnv,
    CHAOS_AGENT: agent,
    CHAOS_EFFECTS: effects,
    CHAOS_REDIS_URL: redisUrl,
    CONSUL_HTTP_ADDR: consul.address,
    CHAOS_STREAM: o.transport === 'stream' ? '1' : '0',
  });
  const start = async (role: Proc['role'], name: string): Promise<Proc> => {
    const { child, url } =
      role === 'orchestrator'
        ? await launch([bin, 'orchestrator'], orchestratorEnv(name), /orchestrator listening on (http:\/\/\S+)/)
        : await launch([agentScript], agentEnv(), /listening on (http:\/\/\S+)/);
    const proc = { role, name, child, url };
    procs.push(proc);
    return proc;
  };
  const alive = () => procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);

  try {
    await Promise.all([start('agent', 'agent-1'), start('agent', 'agent-2')]);
    await Promise.all([start('orchestrator', `orch-a-${run}`), start('orchestrator', `orch-b-${run}`)]);
    say(`started 2 orchestrators and 2 replicas of ${agent} (${o.transport})`);

    const plan = {
      steps: [
        { id: 'a', agent, input: { values: [1], ms: o.stepMs } },
        { id: 'b', agent, input: { values: [10], ms: o.stepMs }, depends_on: ['a'] },
        { id: 'c', agent, input: { values: [100], ms: o.stepMs }, depends_on: ['a'] },
        { id: 'd', agent, input: { ms: o.stepMs }, depends_on: ['b', 'c'] },
      ],
    };
    const ids = new Map<number, string>();
    let next = 0;
    let stopKilling = false;

    // Submits go to any live orchestrator; a submit whose orchestrator died on the way is sent again
    // elsewhere with the same Idempotency-Key, so it is never lost and never made twice.
    const submit = async (i: number) => {
      for (let tries = 0; tries < 200; tries++) {
        const targets = alive().filter((p) => p.role === 'orchestrator');
        const target = targets[Math.floor(Math.random() * targets.length)];
        if (target) {
          try {
            const res = await fetch(`${target.url}/orchestrate`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': `chaos-${run}-${i}` },
              body: JSON.stringify({ plan }),
              signal: AbortSignal.timeout(10_000),
            });
            if (res.status === 202) {
              ids.set(i, String(((await res.json()) as { task_id: string }).task_id));
              return;
            }
          } catch {
            // The orchestrator died under us: try another.
          }
        }
        await sleep(100);
      }
      throw new Error(`workflow ${i} could not be submitted`);
    };
    // Submissions are spread over the kill loop, so every kill lands among workflows in flight.
    const began = Date.now();
    const gap = (o.killForMs * 0.9) / o.workflows;
    const load = Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.workflows) }, async () => {
        while (next < o.workflows) {
          const i = next++;
          await sleep(Math.max(0, began + i * gap - Date.now()));
          await submit(i);
        }
      }),
    );

    const killing = (async () => {
      const until = Date.now() + o.killForMs;
      let restartedRedis = !o.redisRestart;
      while (Date.now() < until && !stopKilling) {
        await sleep(o.killEveryMs[0] + Math.random() * (o.killEveryMs[1] - o.killEveryMs[0]));
        if (!restartedRedis && Date.now() > until - o.killForMs / 2) {
          restartedRedis = true;
          redisServer!.kill('SIGKILL');
          await new Promise((r) => redisServer!.once('exit', r));
          redisServer = await startRedis(redisPort);
          redisRestarts++;
          say('restarted Redis without its data');
          continue;
        }
        // Orchestrators and agent replicas in turn, a random one of the role; one of each role stays
        // up: the campaign is about losing a replica, not all of them.
        const role = (kills.orchestrator + kills.agent) % 2 === 0 ? 'orchestrator' : 'agent';
        const candidates = alive().filter((p) => p.role === role);
        const victim = candidates[Math.floor(Math.random() * candidates.length)];
        if (!victim || candidates.length < 2) continue;
        killed.add(victim.child.pid!);
        victim.child.kill('SIGKILL');
        await new Promise((r) => victim.child.once('exit', r));
        kills[victim.role]++;
        await start(victim.role, victim.name);
      }
    })();

    await load;
    say(`submitted ${ids.size} workflows`);
    await killing;
    stopKilling = true;
    say(`kill loop over: ${kills.orchestrator} orchestrator and ${kills.agent} agent kills`);

    const taskIds = [...ids.values()];
    const deadline = Date.now() + o.settleMs;
    type Row = { id: string; status: string; ms: number | null; error: { message?: string } | null; d: number | null };
    let rows: Row[] = [];
    while (Date.now() < deadline) {
      rows = (
        await db.query<Row>(
          `SELECT id, status, extract(epoch FROM finished_at - created_at) * 1000 AS ms, error,
                (SELECT (s.output->>'sum')::int FROM steps s WHERE s.workflow_id = w.id AND s.step_id = 'd' AND s.status = 'succeeded'
                 ORDER BY s.attempt DESC LIMIT 1) AS d
         FROM workflows w WHERE id = ANY($1::uuid[])`,
          [taskIds],
        )
      ).rows.map((r) => ({ ...r, ms: r.ms === null ? null : Number(r.ms) }));
      if (rows.length === taskIds.length && rows.every((r) => r.status === 'succeeded' || r.status === 'failed')) break;
      await sleep(500);
    }
    const retried = Number(
      (
        await db.query<{ n: number }>(
          `SELECT count(DISTINCT (workflow_id, step_id))::int AS n FROM steps WHERE attempt > 1 AND workflow_id = ANY($1::uuid[])`,
          [taskIds],
        )
      ).rows[0].n,
    );
    const finished = rows
      .filter((r) => r.ms !== null)
      .map((r) => r.ms!)
      .sort((a, b) => a - b);
    return {
      submitted: taskIds.length,
      succeeded: rows.filter((r) => r.status === 'succeeded').length,
      failed: rows.filter((r) => r.status === 'failed').length,
      lost: taskIds.length - rows.length,
      unfinished: rows.filter((r) => r.status !== 'succeeded' && r.status !== 'failed').length,
      wrongResults: rows.filter((r) => r.status === 'succeeded' && r.d !== 112).length,
      duplicates: countDuplicates(await readFile(effects, 'utf8'), killed),
      retriedSteps: retried,
      kills,
      redisRestarts,
      finishMs: { p50: percentile(finished, 50), p95: percentile(finished, 95) },
      failures: rows
        .filter((r) => r.status === 'failed')
        .slice(0, 5)
        .map((r) => r.error?.message ?? 'unknown'),
    };
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    redisServer?.kill('SIGKILL');
    await consul.stop();
    await db.end();
    if (!o.redisRestart) {
      const r = new Redis(o.redisUrl);
      const keys = [
        ...(await r.keys(`chaos:idem:${agent}:*`)),
        ...(await r.keys(`agent.${agent}.*`)),
        ...(await r.keys(`orchestrator.orch-*-${run}.results`)),
      ];
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    }
    await rm(dir, { recursive: true, force: true });
  }
}
