// An HTTP agent replica as its own process, registered with Consul, for the kill tests. Its handler
// appends its idempotency key to EFFECT_FILE when it starts and then takes `ms` milliseconds, so a
// test can kill it mid-call and count what ran where.
import { appendFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { buildAgentApp, createRedisIdempotencyStore, defineAgent } from '../../agents/sdk/index.ts';
import { registerWithConsul } from '../../services/discovery/index.ts';

const env = process.env;
const name = env.AGENT_NAME!;
const agent = defineAgent({
  name,
  description: 'sums its values slowly',
  capabilities: ['sum slowly'],
  async execute(input: { values?: number[]; ms?: number }, ctx) {
    appendFileSync(env.EFFECT_FILE!, `${ctx.idempotencyKey} ${process.pid}\n`);
    await new Promise((r) => setTimeout(r, input.ms ?? 0));
    return { sum: (input.values ?? []).reduce((a, b) => a + b, 0), pid: process.pid };
  },
});
// Replicas share answers through Redis, as they do in production (REDIS_URL).
const redis = new Redis(env.REDIS_URL!);
const app = buildAgentApp(agent, {
  logLevel: 'silent',
  shutdownGraceMs: 1_000,
  idempotencyStore: createRedisIdempotencyStore(redis, { prefix: env.IDEM_PREFIX!, ttlMs: 60_000, pendingTtlMs: 1_000 }),
});
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const registration = await registerWithConsul(env.CONSUL_HTTP_ADDR!, {
  name,
  host: '127.0.0.1',
  port,
  interval: '100ms',
  timeout: '300ms',
  deregisterAfter: '2s',
});
process.stdout.write(`agent ${name} pid ${process.pid} listening on http://127.0.0.1:${port}\n`);
process.once('SIGTERM', () => void registration.deregister().finally(() => app.close().then(() => process.exit(0))));
