import type { Db, Queryable } from './db.ts';
import { planLockArgs } from './rows.ts';

export interface Pruned {
  workflows: number;
  steps: number;
  events: number;
  decisions: number;
}

/**
 * Deletes up to `batch` finished workflows that finished more than `days` days ago, with their
 * steps, events and decisions, in one short statement; one that a kept fork names stays. SKIP LOCKED leaves rows another
 * transaction holds (a resume, another replica's batch) for a later pass instead of waiting.
 * Schedules, API keys and backup records are other tables and are never touched.
 */
export async function pruneFinished(db: Queryable, days: number, batch: number): Promise<Pruned> {
  const rows = await db.query<{ workflows: number; steps: number; events: number; decisions: number }>(
    `WITH doomed AS (
       SELECT id FROM workflows
       -- A run finishes after it is created: workflows_created_idx finds the candidates (migration 0018).
       WHERE created_at < now() - $1 * interval '1 day'
         AND status IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - $1 * interval '1 day'
         -- A run that forks still name is kept while they are (their lineage and compare need it):
         -- it goes at the first pass after its last fork did (workflows_forked_from_idx finds them).
         AND NOT EXISTS (SELECT 1 FROM workflows f WHERE f.forked_from = workflows.id)
       ORDER BY created_at
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
     ), p AS (
       -- Planning no run carries (migration 0021) goes after as long: a few rows a day at most.
       DELETE FROM planning_spend WHERE at < now() - $1 * interval '1 day'
     )
     SELECT (SELECT count(*) FROM w)::int AS workflows, (SELECT count(*) FROM s)::int AS steps,
            (SELECT count(*) FROM e)::int AS events, (SELECT count(*) FROM d)::int AS decisions`,
    [days, batch],
  );
  return rows[0];
}

/**
 * Deletes up to `batch` stored plans that no workflow names (their runs were pruned, or changed their
 * budget), and says how many. A plan is deleted only under its exclusive plan lock, taken without
 * waiting (a plan a submit holds is left for the next pass), and only if no workflow names it once
 * the lock is held: a submit that found it stored has committed by then, and one that comes after
 * waits for the lock and then stores it again.
 */
export async function pruneUnnamedPlans(db: Db, batch: number): Promise<number> {
  const unnamed = `NOT EXISTS (SELECT 1 FROM workflows w WHERE w.plan_hash = p.hash)`;
  return db.transaction(async (tx) => {
    const candidates = await tx.query<{ hash: string }>(`SELECT encode(hash, 'hex') AS hash FROM plans p WHERE ${unnamed} LIMIT $1`, [
      batch,
    ]);
    if (candidates.length === 0) return 0;
    const locked = await tx.query<{ hash: string }>(
      `SELECT hash FROM unnest($1::text[]) AS c(hash) WHERE pg_try_advisory_xact_lock(${planLockArgs(`decode(c.hash, 'hex')`)})`,
      [candidates.map((c) => c.hash)],
    );
    if (locked.length === 0) return 0;
    // A statement of its own: its snapshot, taken after the locks, sees every submit that held one.
    const [{ n }] = await tx.query<{ n: number }>(
      `WITH d AS (
         DELETE FROM plans p WHERE p.hash IN (SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h) AND ${unnamed} RETURNING 1
       )
       SELECT count(*)::int AS n FROM d`,
      [locked.map((c) => c.hash)],
    );
    return n;
  });
}
