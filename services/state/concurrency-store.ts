// Per-key concurrency (migration 0013): which queued workflows may start now, decided under a lock
// per key so that replicas admitting at the same moment never go past the key's limit.
import { lockKey, type Db, type Queryable } from './db.ts';
import { planColumn, type Lease, type NewEvent, type WorkflowRow } from './rows.ts';
import { oneEventFromSql } from './event-log.ts';
import { claimWorkflow, type Claim } from './workflow-store.ts';

/**
 * Starts (sets running, leased to `lease`) as many queued workflows of `key` as its limit leaves
 * room for: FIFO within the key, higher priority first. The limit is the head of the queue's own.
 * Running and waiting (parked for an approval) workflows hold their slot until they finish.
 */
export async function admitQueued(db: Db, key: string, lease: Lease, event: NewEvent): Promise<WorkflowRow[]> {
  return db.transaction(async (tx) => {
    await lockKey(tx, 'mesh.concurrency', key);
    const ids = await tx.query<{ id: string }>(
      `WITH head AS (
         SELECT concurrency_limit FROM workflows WHERE concurrency_key = $1 AND status = 'queued'
         ORDER BY priority DESC, created_at, id LIMIT 1
       ), holding AS (
         SELECT count(*)::int AS n FROM workflows WHERE concurrency_key = $1 AND status IN ('running', 'waiting')
       )
       SELECT id FROM workflows WHERE concurrency_key = $1 AND status = 'queued'
       ORDER BY priority DESC, created_at, id
       LIMIT GREATEST(0, coalesce((SELECT concurrency_limit FROM head), 0) - (SELECT n FROM holding))`,
      [key],
    );
    const admitted: WorkflowRow[] = [];
    for (const { id } of ids) {
      const row = await claimWorkflow(tx, { id, lease, from: ['queued'], onlyExpired: false, event });
      if (row) admitted.push(row);
    }
    return admitted;
  });
}

/** Keys with queued work, the longest-waiting first: a pass admits each in turn, so no key starves another. */
export async function queuedKeys(db: Queryable, limit: number): Promise<string[]> {
  const rows = await db.query<{ key: string }>(
    `SELECT concurrency_key AS key FROM workflows WHERE status = 'queued' AND concurrency_key IS NOT NULL
     GROUP BY concurrency_key ORDER BY min(created_at) LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.key);
}

/** Whether anything of `key` waits in its queue. */
export async function hasQueued(db: Queryable, key: string): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM workflows WHERE concurrency_key = $1 AND status = 'queued' LIMIT 1`, [key]);
  return rows.length > 0;
}

/** How many workflows of `key` are running or waiting now. */
export async function holding(db: Queryable, key: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workflows WHERE concurrency_key = $1 AND status IN ('running', 'waiting')`,
    [key],
  );
  return rows[0]?.n ?? 0;
}

/** The `n` workflows of `key` that have held their slot longest. */
export async function oldestHolders(db: Queryable, key: string, n: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM workflows WHERE concurrency_key = $1 AND status IN ('running', 'waiting') ORDER BY started_at, id LIMIT $2`,
    [key, n],
  );
  return rows.map((r) => r.id);
}

/** A queued workflow's place in its key's queue (1 = next), or null once it is not queued. */
export async function queuePosition(db: Queryable, id: string): Promise<number | null> {
  const rows = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workflows q, workflows me
     WHERE me.id = $1 AND me.status = 'queued' AND q.concurrency_key = me.concurrency_key AND q.status = 'queued'
       AND (q.priority, me.created_at, me.id) >= (me.priority, q.created_at, q.id)`,
    [id],
  );
  return rows[0]?.n || null;
}

/** Queued workflows per key, for the metric. */
export async function queuedCounts(db: Queryable): Promise<{ key: string; n: number }[]> {
  return db.query(
    `SELECT concurrency_key AS key, count(*)::int AS n FROM workflows WHERE status = 'queued' AND concurrency_key IS NOT NULL GROUP BY 1`,
  );
}

/**
 * Claims a workflow that holds `key` back into running (a resumed failed workflow) only while the
 * key has a free slot, under the key's lock: 'full' when it has none.
 */
export async function claimWithinLimit(db: Db, key: string, limit: number, c: Claim): Promise<WorkflowRow | null | 'full'> {
  return db.transaction(async (tx) => {
    await lockKey(tx, 'mesh.concurrency', key);
    if ((await holding(tx, key)) >= limit) return 'full';
    return claimWorkflow(tx, c);
  });
}

/**
 * A scheduled workflow with a key whose time has come (or that POST /execute starts now) joins its
 * key's queue instead of starting; null when it has no key or is not scheduled (any more).
 */
export async function queueScheduled(db: Queryable, id: string, onlyDue: boolean): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(
    `WITH w AS (
       UPDATE workflows SET status = 'queued', wake_at = NULL, event_seq = event_seq + 1, updated_at = now()
       WHERE id = $1 AND status = 'scheduled' AND concurrency_key IS NOT NULL AND (NOT $2::boolean OR wake_at <= now())
       RETURNING *, ${planColumn('workflows')}
     ), e AS (${oneEventFromSql(
       'workflow_queued',
       `jsonb_build_object('concurrency_key', w.concurrency_key, 'limit', w.concurrency_limit, 'priority', w.priority)`,
     )}
     )
     SELECT * FROM w`,
    [id, onlyDue],
  );
  return rows[0] ?? null;
}
