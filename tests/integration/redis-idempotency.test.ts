import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp, createRedisIdempotencyStore, defineAgent } from '../../agents/sdk/index.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function counterAgent(runs: string[]) {
  return defineAgent({
    name: 'counter',
    description: 'counts the words of its input after a pause',
    capabilities: ['count words'],
    async execute(input: { text?: string; ms?: number }, ctx) {
      runs.push(ctx.idempotencyKey);
      await sleep(input.ms ?? 0);
      return { words: (input.text ?? '').split(/\s+/).filter(Boolean).length };
    },
  });
}

function replica(runs: string[], prefix: string) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  const app = buildAgentApp(counterAgent(runs), {
    logLevel: 'silent',
    idempotencyStore: createRedisIdempotencyStore(redis, { prefix, ttlMs: 60_000, pendingTtlMs: 5_000, pollMs: 10 }),
  });
  onTestFinished(async () => {
    await app.close();
    redis.disconnect();
  });
  return app;
}

const call = (key: string, input: Record<string, unknown>) => ({
  method: 'POST' as const,
  url: '/execute',
  payload: { idempotency_key: key, task_id: 't', step_id: 's', attempt: 1, input },
});

describe('idempotency in Redis (real Redis)', () => {
  it('two replicas given the same key run the handler once, and a restarted one replays it', async () => {
    const prefix = `test:idem:${randomBytes(4).toString('hex')}:`;
    onTestFinished(async () => {
      const r = new Redis(redisUrl);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });
    const runs: string[] = [];
    const [a, b] = [replica(runs, prefix), replica(runs, prefix)];
    const [ra, rb] = await Promise.all([
      a.inject(call('k1', { text: 'one two three', ms: 100 })),
      b.inject(call('k1', { text: 'one two three', ms: 100 })),
    ]);
    expect(ra.json().output).toEqual({ words: 3 });
    expect(rb.json()).toEqual(ra.json());
    expect(runs).toEqual(['k1']);
    expect([ra.headers['idempotent-replayed'], rb.headers['idempotent-replayed']].filter(Boolean)).toEqual(['true']);

    await a.close();
    const restarted = replica(runs, prefix);
    const again = await restarted.inject(call('k1', { text: 'one two three', ms: 100 }));
    expect(again.json()).toEqual(ra.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(runs).toEqual(['k1']);

    const conflict = await restarted.inject(call('k1', { text: 'other' }));
    expect(conflict.statusCode).toBe(409);
  });
});
