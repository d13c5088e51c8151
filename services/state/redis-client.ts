import { createRequire } from 'node:module';
import type IORedis from 'ioredis';

// Loaded with require, not import: OpenTelemetry's ioredis instrumentation hooks require, and this
// way Redis commands made inside a workflow show up in its trace.
export const { Redis } = createRequire(import.meta.url)('ioredis') as typeof IORedis;
export type Redis = IORedis.Redis;
