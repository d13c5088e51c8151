// npm run bench: workflows through the HTTP API on real Postgres. Prints its figures; asserts nothing.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import { Pool } from 'undici';
import { buildKnowledgeApp, createMemoryCache } from '../../services/knowledge/index.ts';
import { createPgDb, migrate } from '../../services/state/index.ts';
import { benchApiKeys } from './auth.ts';
import { createFloor, type Floor } from './floor.ts';
import { benchPlannerCorpus } from './planner-corpus.ts';
import { drive, percentile, type RunResult } from './load.ts';
import { diamond, parallelPlan, sequentialPlan } from './plans.ts';
import { benchPlatformAgainstFloor } from './platform-vs-floor.ts';
import { startScript, stopScript } from './processes.ts';
import { benchScheduleLag } from './schedules.ts';

const env = process.env;
const databaseUrl = env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const poolSize = Number(env.DATABASE_POOL_SIZE ?? 20);
const workflows = Number(env.BENCH_WORKFLOWS ?? 2000);
const concurrency = Number(env.BENCH_CONCURRENCY ?? 100);
const lowConcurrency = Number(env.BENCH_LOW_CONCURRENCY ?? 10);
const lowWorkflows = Number(env.BENCH_LOW_WORKFLOWS ?? Math.min(workflows, 1000));
const serialWorkflows = Number(env.BENCH_SERIAL_WORKFLOWS ?? Math.min(workflows, 300));
const parallelRuns = Number(env.BENCH_PARALLEL_RUNS ?? 20);

function peakRssMiB(pid: number): string {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return hwm ? (Number(hwm[1]) / 1024).toFixed(0) : 'n/a';
  } catch {
    return 'n/a';
  }
}

/** Runs `plan` n times at concurrency c; `extra` adds to the i-th request's body. */
function run(client: Pool, plan: object, n: number, c: number, extra: (i: number) => object = () => ({})): Promise<RunResult> {
  let i = 0;
  return drive(n, c, async () => {
    const res = await client.request({
      method: 'POST',
      path: '/orchestrate',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plan, wait: true, ...extra(i++) }),
    });
    const body = (await res.body.json()) as { status?: string };
    return res.statusCode === 200 && body.status === 'succeeded';
  });
}

const queries = [
  'idempotency key',
  'lease expired recovery',
  'checkpoint',
  'circuit breaker',
  'plan description agents',
  'code review findings',
  'docker compose service',
  'server-sent events',
  'retry backoff jitter',
  'PGlite',
];

/** Search over the project's own docs, through HTTP, with the cache off (TTL 0) and on. */
async function benchKnowledge(databaseUrl: string, n: number) {
  const out: string[] = [];
  for (const [label, ttl] of [
    ['uncached', 0],
    ['cached', 300_000],
  ] as const) {
    const db = await createPgDb({ connectionString: databaseUrl, poolSize: 5 });
    await migrate(db);
    const app = buildKnowledgeApp({ db, cache: createMemoryCache(ttl), logLevel: 'warn' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const client = new Pool(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, { connections: 4 });
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await client.request({ method: 'GET', path: `/search?q=${encodeURIComponent(queries[i % queries.length])}` });
      await res.body.json();
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    out.push(
      `  ${label}: ${n} searches, p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );
    await client.close();
    await app.close();
    await db.close();
  }
  return out;
}

const fmt = (r: RunResult) =>
  `${r.n} workflows at concurrency ${r.c}: ${r.perSecond.toFixed(0)} workflows/s, latency p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms${r.failed ? `, ${r.failed} FAILED` : ''}`;

async function main() {
  const schema = `bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const runId = env.BENCH_RUN_ID ?? String(process.pid);
  const agents = await startScript('./agents-server.ts', { ...env, BENCH_RUN_ID: runId }, /listening urls=(\S+) stream=(\S+) grpc=(\S+)/);
  const [agentUrls, streamAgent, grpc] = [agents.match[1], agents.match[2], agents.match[3]];
  const grpcAgent = grpc.split('@')[0];
  const stepUrl = agentUrls
    .split(',')
    .find((u) => u.startsWith('bench-step='))!
    .slice('bench-step='.length);
  let platform: Awaited<ReturnType<typeof startScript>> | undefined;
  let floor: Floor | undefined;
  try {
    platform = await startScript(
      './platform.ts',
      {
        ...env,
        BENCH_RUN_ID: runId,
        DATABASE_URL: url,
        DATABASE_POOL_SIZE: String(poolSize),
        BENCH_AGENT_URLS: agentUrls,
        BENCH_STREAM_AGENT: streamAgent,
        BENCH_GRPC_AGENT: grpc,
      },
      /listening on (http:\/\/\S+)/,
    );
    const base = platform.match[1];
    const client = new Pool(base, { connections: concurrency, keepAliveTimeout: 60_000 });
    console.log(
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; Postgres ${(await admin.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version} on the same machine`,
    );
    floor = await createFloor({ databaseUrl, schema: `${schema}_floor`, poolSize, stepUrl, admin });
    await benchPlatformAgainstFloor({
      admin,
      platform: (n, c) => run(client, diamond, n, c),
      platformSchema: schema,
      floor,
      pids: { orchestrator: platform.child.pid, agents: agents.child.pid },
      cores: cpus().length,
      levels: [
        { c: 1, n: serialWorkflows },
        { c: lowConcurrency, n: lowWorkflows },
        { c: concurrency, n: workflows },
      ],
      aimAt: [lowConcurrency, concurrency],
      print: (line) => console.log(line),
    });
    console.log(
      `  orchestrator process: peak RSS ${peakRssMiB(platform.child.pid!)} MiB; agents process: ${peakRssMiB(agents.child.pid!)} MiB`,
    );
    if (env.BENCH_ONLY === 'floor') {
      await client.close();
      return;
    }
    const perTransport = Number(env.BENCH_TRANSPORT_WORKFLOWS ?? 1000);
    console.log(`the same diamond over each transport (${perTransport} workflows at concurrency ${concurrency}):`);
    for (const [label, agent] of [
      ['http', 'bench-step'],
      ['redis streams', streamAgent],
      ['grpc', grpcAgent],
    ] as const) {
      const plan = { steps: diamond.steps.map((s) => ({ ...s, agent })) };
      await run(client, plan, Math.min(100, perTransport), 20); // warm-up of this path
      console.log(`  ${label.padEnd(13)} ${fmt(await run(client, plan, perTransport, concurrency))}`);
    }
    // Per-key concurrency's bookkeeping: a key of its own per workflow (never waits), so all that
    // differs is storing it queued and admitting it under its key's lock.
    const keyedRuns = Number(env.BENCH_KEYED_WORKFLOWS ?? 1000);
    const ownKey = (i: number) => ({ input: { repo: `repo-${i}` }, concurrency: { key: 'input.repo', limit: 1 } });
    console.log(
      `the diamond with a concurrency key per workflow, against the same without (${keyedRuns} each at concurrency ${concurrency}, in turn, twice):`,
    );
    for (let round = 1; round <= 2; round++) {
      const plain = await run(client, diamond, keyedRuns, concurrency);
      const keyed = await run(client, diamond, keyedRuns, concurrency, ownKey);
      console.log(`  round ${round}: without ${fmt(plain)}`);
      console.log(`           with a key ${fmt(keyed)}`);
      console.log(
        `           ratio ${(keyed.perSecond / plain.perSecond).toFixed(2)} of the workflows/s, p95 ${(keyed.p95 / plain.p95).toFixed(2)}x`,
      );
    }
    const par = await run(client, parallelPlan, parallelRuns, 1);
    const seq = await run(client, sequentialPlan, parallelRuns, 1);
    console.log(`two branches of 200 ms agents, ${parallelRuns} runs each, one at a time:`);
    console.log(
      `  parallel ${par.mean.toFixed(0)} ms, sequential ${seq.mean.toFixed(0)} ms: ${(100 * (1 - par.mean / seq.mean)).toFixed(0)}% less time in parallel`,
    );
    await benchScheduleLag({
      client,
      admin,
      schema,
      schedules: Number(env.BENCH_SCHEDULES ?? 100),
      seconds: Number(env.BENCH_SCHEDULE_SECONDS ?? 15),
      print: (line) => console.log(line),
    });
    await client.close();
    console.log(`knowledge search over the project's docs (Postgres full-text search), one at a time:`);
    for (const line of await benchKnowledge(url, Number(env.BENCH_SEARCHES ?? 500))) console.log(line);
    console.log(`API keys and rate limit: GET /workflows over HTTP, concurrency ${lowConcurrency}:`);
    const redisUrl = env.BENCH_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    for (const line of await benchApiKeys(url, redisUrl, Number(env.BENCH_AUTH_REQUESTS ?? 5000), lowConcurrency)) console.log(line);
    await benchPlannerCorpus((line) => console.log(line));
  } finally {
    await floor?.close();
    if (platform) await stopScript(platform.child);
    await stopScript(agents.child);
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

await main();
