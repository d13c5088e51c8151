// The system under test, as its own process: the orchestrator on Postgres, calling the bench agents
// (agents-server.ts, another process) over HTTP, Redis Streams and gRPC.
import { Redis } from 'ioredis';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';

const env = process.env;
const redisUrl = env.BENCH_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = env.BENCH_RUN_ID ?? String(process.pid);
const [streamName, grpc] = [env.BENCH_STREAM_AGENT!, env.BENCH_GRPC_AGENT!];
const [grpcName, grpcAddress] = grpc.split('@') as [string, string];

const config = loadConfig({
  ...env,
  AGENT_URLS: [env.BENCH_AGENT_URLS!, `${streamName}=http://127.0.0.1:9`, `${grpcName}=http://127.0.0.1:9`].join(','),
  AGENT_TRANSPORTS: `${streamName}=stream,${grpcName}=grpc`,
  AGENT_GRPC_URLS: `${grpcName}=${grpcAddress}`,
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
process.stdout.write(`bench-platform listening on http://127.0.0.1:${addr.port}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await orchestrator.close();
    const redis = new Redis(redisUrl);
    await redis.del(`orchestrator.bench-${run}.results`);
    redis.disconnect();
    process.exit(0);
  })();
});
