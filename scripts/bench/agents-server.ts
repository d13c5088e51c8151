// The bench agents, as their own process: the orchestrator under test and the floor call the same
// agent servers, and neither shares a thread with them (as in a deployment, where every agent is a
// process of its own). The step agent is served three times, once per transport (HTTP, Redis
// Streams, gRPC), so the same workload can go over each.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import {
  agentInfo,
  buildAgentApp,
  createAgentRuntime,
  createRedisIdempotencyStore,
  startGrpcServer,
  startStreamWorker,
} from '../../agents/sdk/index.ts';
import { sleepAgent, stepAgent } from './agents.ts';

const redisUrl = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = process.env.BENCH_RUN_ID ?? String(process.pid);
const redis = new Redis(redisUrl);
const log = pino({ level: 'warn' });
const urls: string[] = [];
const closers: Array<() => Promise<void>> = [];

for (const def of [stepAgent, sleepAgent]) {
  const app = buildAgentApp(def, { logLevel: 'warn', idempotencyMaxEntries: 50_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls.push(`${def.name}=http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
  closers.push(() => app.close());
}

// The same step agent behind a stream (with the Redis idempotency store streams need) and gRPC.
const streamName = `bench-stream-${run}`;
const streamRuntime = createAgentRuntime(
  { ...stepAgent, name: streamName },
  { idempotencyStore: createRedisIdempotencyStore(redis, { prefix: `bench:idem:${run}:`, ttlMs: 600_000, pendingTtlMs: 60_000 }) },
);
const worker = startStreamWorker(streamName, streamRuntime, redis, { claimIdleMs: 60_000, concurrency: 100, log });
closers.push(() => worker.stop());
const grpcName = 'bench-grpc';
const grpcDef = { ...stepAgent, name: grpcName };
const grpcServer = await startGrpcServer(() => agentInfo(grpcDef), createAgentRuntime(grpcDef, { idempotencyMaxEntries: 50_000 }), {
  host: '127.0.0.1',
  port: 0,
  log,
});
closers.push(() => grpcServer.close());

process.stdout.write(`bench-agents listening urls=${urls.join(',')} stream=${streamName} grpc=${grpcName}@127.0.0.1:${grpcServer.port}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    for (const close of closers) await close();
    const keys = [...(await redis.keys(`agent.${streamName}.*`)), ...(await redis.keys(`bench:idem:${run}:*`))];
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    process.exit(0);
  })();
});
