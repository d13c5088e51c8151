import type { Queryable } from './db.ts';

export interface Pruned {
  workflows: number;
  steps: number;
  events: number;
  decisions: number;
}

/**
 * Deletes up to `batch` finished workflows that finished more than `days` days ago, with their
 * steps, events and decisions, in one short statement. SKIP LOCKED leaves rows another
 * transaction holds (a resume, another replica's batch) for a later pass instead of waiting.
 * Schedules, API keys and backup records are other tables and are never touched.
 */
export async function pruneFinished(db: Queryable, days: number, batch: number): Promise<Pruned> {
  const rows = await db.query<{ workflows: number; steps: number; events: number; decisions: number }>(
    `WITH doomed AS (
       SELECT id FROM workflows
       WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - $1 * interval '1 day'
       ORDER BY finished_at
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), s AS (
       DELETE FROM steps WHERE workflow_id IN (SELECT id FROM doomed) RETURNING 1
     ), u AS (
       DELETE FROM usage_ledger WHERE workflow_id IN (SELECT id FROM doomed)
     ), e AS (
       DELETE FROM workflow_events WHERE workflow_id IN (SELECT id FROM doomed) RETURNING 1
     ), d AS (
       DELETE FROM workflow_decisions WHERE workflow_id IN (SELECT id FROM doomed) RETURNING 1
     ), w AS (
       DELETE FROM workflows WHERE id IN (SELECT id FROM doomed) RETURNING 1
     )
     SELECT (SELECT count(*) FROM w)::int AS workflows, (SELECT count(*) FROM s)::int AS steps,
            (SELECT count(*) FROM e)::int AS events, (SELECT count(*) FROM d)::int AS decisions`,
    [days, batch],
  );
  return rows[0];
}
