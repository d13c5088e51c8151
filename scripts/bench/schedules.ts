// Scheduler lag: many schedules ticking every second on the platform under test, and how late each
// tick's workflow starts (its row's created_at, the database's clock, minus the tick's planned time).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Pool } from 'undici';
import { percentile } from './load.ts';
import { diamond } from './plans.ts';

export interface ScheduleLagOptions {
  client: Pool;
  admin: pg.Client;
  /** The platform's schema, where its workflows are. */
  schema: string;
  schedules: number;
  seconds: number;
  print: (line: string) => void;
}

async function call(client: Pool, method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const res = await client.request({
    method,
    path,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
}

export async function benchScheduleLag(o: ScheduleLagOptions): Promise<void> {
  const names = Array.from({ length: o.schedules }, (_, i) => `bench-lag-${i}`);
  const plan = { steps: [diamond.steps[0]] };
  const startedAt = new Date();
  for (const name of names)
    await call(o.client, 'POST', '/schedules', { name, cron: '* * * * * *', plan, overlap: 'allow', catch_up: 'none' });
  // The first whole second after every schedule exists: ticks before it found some schedules not yet made.
  const from = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000);
  await sleep(o.seconds * 1000 + 1000);
  const until = new Date(from.getTime() + o.seconds * 1000);
  for (const name of names) await call(o.client, 'PATCH', `/schedules/${name}`, { enabled: false });
  const rows = (
    await o.admin.query<{ lag_ms: number }>(
      `SELECT extract(epoch FROM (created_at - split_part(idempotency_key, ' ', 3)::timestamptz)) * 1000 AS lag_ms
       FROM ${o.schema}.workflows
       WHERE idempotency_key LIKE 'schedule %' AND created_at >= $1
         AND split_part(idempotency_key, ' ', 3)::timestamptz >= $2 AND split_part(idempotency_key, ' ', 3)::timestamptz < $3`,
      [startedAt, from, until],
    )
  ).rows.map((r) => Number(r.lag_ms));
  for (const name of names) await call(o.client, 'DELETE', `/schedules/${name}`);
  const lags = rows.sort((a, b) => a - b);
  const expected = o.schedules * o.seconds;
  o.print(
    `scheduler lag, ${o.schedules} schedules ticking every second for ${o.seconds} s (${lags.length} of ${expected} ticks started): ` +
      `p50 ${percentile(lags, 50).toFixed(1)} ms, p95 ${percentile(lags, 95).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, max ${(lags.at(-1) ?? NaN).toFixed(1)} ms`,
  );
}
