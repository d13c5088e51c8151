// Rate limits and step-level concurrency (migration 0016), decided under a lock per key so that
// replicas reserving or admitting at the same moment never go past a key's limit.
import { lockKey, type Db } from './db.ts';

/**
 * Reserves the earliest moment, not before `notBefore`, at which one more start or call of `key`
 * keeps it within `limit` per `periodMs`: now if fewer than `limit` were reserved in the last
 * period, else a period after the limit-th newest reservation. Reservations only grow, so work
 * goes in the order it reserved. The clock is the database's, the same for every replica.
 */
export async function reserve(db: Db, key: string, limit: number, periodMs: number, notBefore?: Date): Promise<Date> {
  return db.transaction(async (tx) => {
    await lockKey(tx, 'mesh.rate_limit', key);
    const rows = await tx.query<{ at: Date }>(
      `WITH pruned AS (
         DELETE FROM rate_limit_slots WHERE key = $1 AND at < clock_timestamp() - $3::int * interval '1 millisecond'
       ), nth AS (
         SELECT at FROM rate_limit_slots WHERE key = $1 ORDER BY at DESC OFFSET $2 - 1 LIMIT 1
       )
       INSERT INTO rate_limit_slots (key, at)
       SELECT $1, GREATEST(clock_timestamp(), coalesce($4::timestamptz, '-infinity'),
                           coalesce((SELECT at FROM nth) + $3::int * interval '1 millisecond', '-infinity'))
       RETURNING at`,
      [key, limit, periodMs, notBefore?.toISOString() ?? null],
    );
    return rows[0]?.at ?? new Date();
  });
}

/**
 * Joins `key`'s queue of calls (if not in it yet) and takes a slot when it is among the first that
 * fit under `limit`. True when `holder` holds a slot. Waiting rows and slots carry a lease that the
 * waiter renews by calling again; a lapsed one (its orchestrator died) frees its place.
 */
export async function takeCallSlot(db: Db, key: string, holder: string, limit: number, leaseMs: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    await lockKey(tx, 'mesh.call_slots', key);
    await tx.query(`DELETE FROM call_slots WHERE key = $1 AND lease_expires_at < clock_timestamp()`, [key]);
    await tx.query(
      `INSERT INTO call_slots (key, holder, lease_expires_at) VALUES ($1, $2, clock_timestamp() + $3::int * interval '1 millisecond')
       ON CONFLICT (key, holder) DO UPDATE SET lease_expires_at = EXCLUDED.lease_expires_at`,
      [key, holder, leaseMs],
    );
    const rows = await tx.query<{ holder: string }>(
      `WITH free AS (
         SELECT GREATEST(0, $2::int - count(*) FILTER (WHERE holding))::int AS n FROM call_slots WHERE key = $1
       ), next AS (
         SELECT holder FROM call_slots WHERE key = $1 AND NOT holding ORDER BY seq LIMIT (SELECT n FROM free)
       )
       UPDATE call_slots SET holding = true FROM next
       WHERE call_slots.key = $1 AND call_slots.holder = next.holder
       RETURNING call_slots.holder`,
      [key, limit],
    );
    if (rows.some((r) => r.holder === holder)) return true;
    const mine = await tx.query<{ holding: boolean }>(`SELECT holding FROM call_slots WHERE key = $1 AND holder = $2`, [key, holder]);
    return mine[0]?.holding === true;
  });
}

/** Keeps a held slot while its call runs. */
export async function renewCallSlot(db: Db, key: string, holder: string, leaseMs: number): Promise<void> {
  await db.query(
    `UPDATE call_slots SET lease_expires_at = clock_timestamp() + $3::int * interval '1 millisecond' WHERE key = $1 AND holder = $2`,
    [key, holder, leaseMs],
  );
}

/** Leaves the queue or frees the slot. */
export async function releaseCallSlot(db: Db, key: string, holder: string): Promise<void> {
  await db.query(`DELETE FROM call_slots WHERE key = $1 AND holder = $2`, [key, holder]);
}

/** Calls waiting for a slot, per key, for the metric. */
export async function waitingCalls(db: Db): Promise<{ key: string; n: number }[]> {
  return db.query(`SELECT key, count(*)::int AS n FROM call_slots WHERE NOT holding GROUP BY key`);
}
