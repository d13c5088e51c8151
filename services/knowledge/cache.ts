import type { Redis } from 'ioredis';

/**
 * Caches search answers. Keys include a generation number that every document change bumps, so a
 * change invalidates all cached answers at once, on every replica, without scanning keys.
 */
export interface QueryCache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  generation(): Promise<number>;
  bump(): Promise<void>;
}

export function createRedisCache(redis: Redis, prefix: string, ttlMs: number): QueryCache {
  const genKey = `${prefix}generation`;
  return {
    kind: 'redis',
    async get(key) {
      return (await redis.get(prefix + key)) ?? undefined;
    },
    async set(key, value) {
      await redis.set(prefix + key, value, 'PX', ttlMs);
    },
    async generation() {
      return Number((await redis.get(genKey)) ?? 0);
    },
    async bump() {
      await redis.incr(genKey);
    },
  };
}

export function createMemoryCache(ttlMs: number, maxEntries = 1_000): QueryCache {
  const entries = new Map<string, { value: string; expires: number }>();
  let gen = 0;
  return {
    kind: 'memory',
    async get(key) {
      const e = entries.get(key);
      if (!e) return undefined;
      if (e.expires < Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return e.value;
    },
    async set(key, value) {
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(key, { value, expires: Date.now() + ttlMs });
    },
    async generation() {
      return gen;
    },
    async bump() {
      gen += 1;
      entries.clear();
    },
  };
}
