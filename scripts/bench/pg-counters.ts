// What a run costs Postgres, read from the server: transaction ids and WAL around the run (both
// cluster-wide, so nothing else may use the server meanwhile) and the updates of the run's tables.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export interface ClusterMark {
  xid: bigint;
  lsn: string;
}

export interface Updates {
  upd: number;
  hot: number;
}

// Only a transaction that writes gets an xid, so the distance the next xid moves counts the write
// transactions (checked on Postgres 15: read-only statements and an UPDATE matching no row move it
// by 0). pg_current_xact_id() would assign one itself.
export async function mark(admin: pg.Client): Promise<ClusterMark> {
  const { rows } = await admin.query<{ xid: string; lsn: string }>(
    `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid, pg_current_wal_lsn()::text AS lsn`,
  );
  return { xid: BigInt(rows[0].xid), lsn: rows[0].lsn };
}

export async function since(admin: pg.Client, from: ClusterMark): Promise<{ xacts: number; walBytes: number }> {
  const { rows } = await admin.query<{ xid: string; wal: string }>(
    `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS wal`,
    [from.lsn],
  );
  return { xacts: Number(BigInt(rows[0].xid) - from.xid), walBytes: Number(rows[0].wal) };
}

export async function updates(admin: pg.Client, schema: string, tables: readonly string[]): Promise<Updates> {
  const { rows } = await admin.query<{ upd: string; hot: string }>(
    `SELECT coalesce(sum(n_tup_upd), 0)::text AS upd, coalesce(sum(n_tup_hot_upd), 0)::text AS hot
     FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = ANY($2)`,
    [schema, tables],
  );
  return { upd: Number(rows[0].upd), hot: Number(rows[0].hot) };
}

/**
 * The tables' update counters once every backend that wrote them has reported. A Postgres 15
 * backend reports its counters at most once a second and, once idle, only after 10 s; one that
 * exits reports at once. So: wait until `notBefore` (for a pool we cannot end, 10 s after its last
 * work), and until no backend named `applicationName` is left, then until two reads agree.
 * `settled` is false if that took longer than `timeoutMs` past `notBefore`.
 */
export async function settledUpdates(
  admin: pg.Client,
  schema: string,
  tables: readonly string[],
  o: { notBefore: number; applicationName?: string; timeoutMs?: number },
): Promise<Updates & { settled: boolean }> {
  await sleep(Math.max(0, o.notBefore - Date.now()));
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  let last = await updates(admin, schema, tables);
  while (Date.now() < deadline) {
    await sleep(250);
    const now = await updates(admin, schema, tables);
    const left = o.applicationName
      ? Number(
          (
            await admin.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1`, [
              o.applicationName,
            ])
          ).rows[0].n,
        )
      : 0;
    if (left === 0 && now.upd === last.upd && now.hot === last.hot) return { ...now, settled: true };
    last = now;
  }
  return { ...last, settled: false };
}
