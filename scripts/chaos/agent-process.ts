// One replica of the chaos campaign's agent, as its own process: registered with Consul, answering
// over HTTP (and reading its request stream when CHAOS_STREAM=1), with the Redis idempotency store
// replicas share in production. Each execution is a line in CHAOS_EFFECTS: "<key> <pid> start" when
// the handler begins and "<key> <pid> done" when it ends, so the campaign counts what really ran,
// where, and how often, across processes that are killed at any moment.
import { appendFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildAgentApp, createAgentRuntime, createRedisIdempotencyStore, defineAgent, startStreamWorker } from '../../agents/sdk/index.ts';
import { registerWithConsul } from '../../services/discovery/index.ts';

const env = process.env;
const name = env.CHAOS_AGENT!;
const agent = defineAgent({
  name,
  description: "adds its values to its dependencies' sums, taking a little time",
  capabilities: ['chaos step'],
  async execute(input: { values?: number[]; ms?: number }, ctx) {
    appendFileSync(env.CHAOS_EFFECTS!, `${ctx.idempotencyKey} ${process.pid} start\n`);
    await new Promise((r) => setTimeout(r, input.ms ?? 0));
    const upstream = Object.values(ctx.dependencies).reduce<number>((n, d) => n + Number((d as { sum?: number } | null)?.sum ?? 0), 0);
    const sum = (input.values ?? []).reduce((a, b) => a + b, upstream);
    appendFileSync(env.CHAOS_EFFECTS!, `${ctx.idempotencyKey} ${process.pid} done\n`);
    return { sum, pid: process.pid };
  },
});
const redis = new Redis(env.CHAOS_REDIS_URL!, { maxRetriesPerRequest: 3 });
const log = pino({ level: 'silent' });
const runtime = createAgentRuntime(agent, {
  idempotencyStore: createRedisIdempotencyStore(redis, { prefix: `chaos:idem:${name}:`, ttlMs: 600_000, pendingTtlMs: 2_000 }),
  shutdownGraceMs: 500,
});
const app = buildAgentApp(agent, { runtime, logLevel: 'silent' });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const worker =
  env.CHAOS_STREAM === '1'
    ? startStreamWorker(name, runtime, redis, { claimIdleMs: 2_000, concurrency: 20, blockMs: 200, log })
    : undefined;
await registerWithConsul(env.CONSUL_HTTP_ADDR!, {
  name,
  host: '127.0.0.1',
  port,
  interval: '200ms',
  timeout: '300ms',
  deregisterAfter: '2s',
});
process.stdout.write(`chaos agent pid ${process.pid} listening on http://127.0.0.1:${port}\n`);
process.once(
  'SIGTERM',
  () =>
    void (async () => {
      await worker?.stop();
      await app.close();
      redis.disconnect();
      process.exit(0);
    })(),
);
