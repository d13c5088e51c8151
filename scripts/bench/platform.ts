// The system under test, as its own process: the orchestrator on Postgres and the bench agents,
// each on its own loopback port, as `npm start` runs them. The step agent is served three times,
// once per transport (HTTP, Redis Streams, gRPC), so the same workload can go over each. Its HTTP
// address is printed too, for the floor to call the very same agent server.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { agentInfo, buildAgentApp, createAgentRuntime, createRedisIdempotencyStore, startGrpcServer, startStreamWorker } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import { sleepAgent, stepAgent } from './agents.ts';

const redisUrl = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = process.env.BENCH_RUN_ID ?? String(process.pid);
const redis = new Redis(redisUrl);
const log = pino({ level: 'warn' });
const urls: string[] = [];
let stepUrl = '';
const closers: Array<() => Promise<void>> = [];

for (const def of [stepAgent, sleepAgent]) {
  const app = buildAgentApp(def, { logLevel: 'warn', idempotencyMaxEntries: 50_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  urls.push(`${def.name}=${url}`);
  if (def === stepAgent) stepUrl = url;
  closers.push(() => app.close());
}

// The same step agent behind a stream (with the Redis idempotency store streams need) and gRPC.
const streamName = `bench-stream-${run}`;
const streamRuntime = createAgentRuntime({ ...stepAgent, name: streamName }, { idempotencyStore: createRedisIdempotencyStore(redis, { prefix: `bench:idem:${run}:`, ttlMs: 600_000, pendingTtlMs: 60_000 }) });
const worker = startStreamWorker(streamName, streamRuntime, redis, { claimIdleMs: 60_000, concurrency: 100, log });
closers.push(() => worker.stop());
const grpcName = 'bench-grpc';
const grpcDef = { ...stepAgent, name: grpcName };
const grpcServer = await startGrpcServer(() => agentInfo(grpcDef), createAgentRuntime(grpcDef, { idempotencyMaxEntries: 50_000 }), { host: '127.0.0.1', port: 0, log });
closers.push(() => grpcServer.close());

const config = loadConfig({
  ...process.env,
  AGENT_URLS: [...urls, `${streamName}=http://127.0.0.1:9`, `${grpcName}=http://127.0.0.1:9`].join(','),
  AGENT_TRANSPORTS: `${streamName}=stream,${grpcName}=grpc`,
  AGENT_GRPC_URLS: `${grpcName}=127.0.0.1:${grpcServer.port}`,
  REDIS_URL: redisUrl,
  ORCHESTRATOR_ID: `bench-${run}`,
  LOG_LEVEL: 'warn',
  PORT: '0',
  // The bench is one client sending hundreds of workflows a second: it measures the engine, not the limiter.
  RATE_LIMIT_MAX: '0',
});
const orchestrator = await buildOrchestratorApp(config);
await orchestrator.listen({ host: '127.0.0.1', port: 0 });
const addr = orchestrator.server.address() as { port: number };
process.stdout.write(`bench-platform listening on http://127.0.0.1:${addr.port} step=${stepUrl} stream=${streamName} grpc=${grpcName}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await orchestrator.close();
    for (const close of closers) await close();
    const keys = [...(await redis.keys(`agent.${streamName}.*`)), ...(await redis.keys(`bench:idem:${run}:*`)), `orchestrator.bench-${run}.results`];
    await redis.del(...keys);
    redis.disconnect();
    process.exit(0);
  })();
});
