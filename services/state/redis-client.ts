import { createRequire } from 'node:module';
import type IORedis from 'ioredis';

// Loaded with require, not import: OpenTelemetry's ioredis instrumentation hooks require, and this
// way Redis commands made inside a workflow show up in its trace.
export const { Redis } = createRequire(import.meta.url)('ioredis') as typeof IORedis;
export type Redis = IORedis.Redis;

const watched = new WeakSet<object>();

/**
 * Logs a client's trouble reaching Redis once per outage, and once when it is back. Without a
 * listener ioredis writes "Unhandled error event" and a stack to stderr at every reconnect attempt
 * (several a second); its retrying goes on either way. A client shared by several users is watched once.
 */
export function reportRedisErrors(redis: Redis, log: { warn(o: object, msg: string): void; info(msg: string): void }): void {
  if (watched.has(redis)) return;
  watched.add(redis);
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: err.message }, 'Redis cannot be reached; retrying until it answers');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('Redis answers again');
  });
}
