// A stream-reading agent replica as its own process, for the crash tests. Its handler's effect is a
// line appended to EFFECT_FILE, so effects can be counted across processes. With
// CRASH_AFTER_HANDLER=1 it dies (exit, no cleanup) after the handler ran and before it sends the
// result or acks the entry: the worst moment for a consumer to die.
import { appendFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createAgentRuntime, createRedisIdempotencyStore, defineAgent, startStreamWorker } from '../../agents/sdk/index.ts';

const env = process.env;
const name = env.AGENT_NAME!;
const redis = new Redis(env.REDIS_URL!);
const agent = defineAgent({
  name,
  description: 'appends its key to a file',
  capabilities: ['count effects'],
  async execute(input: { values?: number[] }, ctx) {
    appendFileSync(env.EFFECT_FILE!, `${ctx.idempotencyKey}\n`);
    return { sum: (input.values ?? []).reduce((a, b) => a + b, 0), pid: process.pid };
  },
});
const runtime = createAgentRuntime(agent, {
  idempotencyStore: createRedisIdempotencyStore(redis, { prefix: env.IDEM_PREFIX!, ttlMs: 60_000, pendingTtlMs: 30_000 }),
});
const worker = startStreamWorker(name, runtime, redis, {
  claimIdleMs: Number(env.CLAIM_IDLE_MS ?? 500),
  concurrency: 4,
  blockMs: 200,
  log: pino({ level: 'silent' }),
  ...(env.MAX_DELIVERIES ? { maxDeliveries: Number(env.MAX_DELIVERIES) } : {}),
  ...(env.CRASH_AFTER_HANDLER === '1' ? { afterHandler: () => process.exit(1) } : {}),
});
process.stdout.write(`worker ${worker.consumer} ready\n`);
process.once('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
