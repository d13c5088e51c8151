import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { AppError } from '../../services/errors/index.ts';
import { createMemoryIdempotencyStore, type IdempotencyStore, type StoredResponse } from './idempotency.ts';

export interface RedisIdempotencyOptions {
  /** Keys are `<prefix><idempotency key>`; one prefix per agent. */
  prefix: string;
  /** How long a finished answer is kept. */
  ttlMs: number;
  /**
   * How long a claim outlives its claimer. The claimer keeps renewing it while the handler runs, so
   * this only bounds how soon another replica may run a call whose claimer died (crashed mid-call).
   */
  pendingTtlMs: number;
  pollMs?: number;
}

type Entry = { state: 'pending'; fingerprint: string } | { state: 'done'; fingerprint: string; response: StoredResponse };

/**
 * Idempotency shared by every replica of an agent and kept across restarts. The first call claims
 * the key with SET NX; others (here or on another replica) wait for its answer. Calls on this
 * process for the same key join in memory first, so they never even reach Redis twice.
 */
export function createRedisIdempotencyStore(redis: Redis, options: RedisIdempotencyOptions): IdempotencyStore {
  const local = createMemoryIdempotencyStore(1_000);
  const pollMs = options.pollMs ?? 50;

  async function read(key: string): Promise<Entry | null> {
    const raw = await redis.get(options.prefix + key);
    return raw ? (JSON.parse(raw) as Entry) : null;
  }

  async function remote(
    key: string,
    fingerprint: string,
    fn: () => Promise<StoredResponse>,
  ): Promise<{ response: StoredResponse; replayed: boolean }> {
    const redisKey = options.prefix + key;
    for (;;) {
      const claimed = await redis.set(redisKey, JSON.stringify({ state: 'pending', fingerprint }), 'PX', options.pendingTtlMs, 'NX');
      if (claimed === 'OK') {
        let response: StoredResponse;
        const heartbeat = setInterval(
          () => void redis.pexpire(redisKey, options.pendingTtlMs).catch(() => {}),
          Math.max(50, Math.floor(options.pendingTtlMs / 3)),
        );
        try {
          response = await fn();
        } catch (err) {
          await redis.del(redisKey);
          throw err;
        } finally {
          clearInterval(heartbeat);
        }
        await redis.set(redisKey, JSON.stringify({ state: 'done', fingerprint, response }), 'PX', options.ttlMs);
        return { response, replayed: false };
      }
      // Someone else has it: wait for the answer, or for the claim to lapse (its claimer died).
      for (let entry = await read(key); entry; entry = await read(key)) {
        if (entry.fingerprint !== fingerprint) {
          throw new AppError('IDEMPOTENCY_CONFLICT', `idempotency key ${key} was already used with different input`);
        }
        if (entry.state === 'done') return { response: entry.response, replayed: true };
        await sleep(pollMs);
      }
    }
  }

  return {
    async run(key, fingerprint, fn) {
      let replayedRemotely = false;
      const result = await local.run(key, fingerprint, async () => {
        const r = await remote(key, fingerprint, fn);
        replayedRemotely = r.replayed;
        return r.response;
      });
      return { response: result.response, replayed: result.replayed || replayedRemotely };
    },
    size: () => local.size(),
    async ready() {
      await redis.ping();
    },
  };
}
