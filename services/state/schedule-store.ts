import type { Queryable } from './db.ts';
import type { Budget } from './plan.ts';
import type { WorkflowStatus } from './rows.ts';

export interface ScheduleRow {
  name: string;
  id: string;
  cron: string;
  timezone: string;
  target: { workflow?: string; plan?: unknown; description?: string };
  input: Record<string, unknown>;
  overlap: 'skip' | 'queue' | 'allow';
  catch_up: 'none' | 'latest' | 'all';
  enabled: boolean;
  /** What each run may spend (migration 0019); null: the named workflow's, else the creating key's. */
  budget: Budget | null;
  source: 'api' | 'file';
  definition_hash: string | null;
  created_by: string | null;
  version: number;
  next_run_at: Date | null;
  held: boolean;
  claimed_by: string | null;
  claimed_until: Date | null;
  last_tick_at: Date | null;
  last_task_id: string | null;
  last_outcome: string | null;
  last_run_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** The status of the last workflow it started, read with it (null when none, or pruned). */
  last_status: WorkflowStatus | null;
}

/** A schedule claimed for a pass, with the database's clock (every replica judges ticks by the same one). */
export interface ClaimedSchedule extends ScheduleRow {
  db_now: Date;
}

export type ScheduleDefinition = Pick<
  ScheduleRow,
  | 'name'
  | 'cron'
  | 'timezone'
  | 'target'
  | 'input'
  | 'overlap'
  | 'catch_up'
  | 'enabled'
  | 'budget'
  | 'source'
  | 'definition_hash'
  | 'created_by'
> & { id: string; next_run_at: Date | null };

const withStatus = `s.*, (SELECT status FROM workflows w WHERE w.id = s.last_task_id) AS last_status`;

/** The definition's columns, in the order both statements below list them. */
const definitionParams = (d: Omit<ScheduleDefinition, 'name' | 'id' | 'created_by'>) => [
  d.cron,
  d.timezone,
  JSON.stringify(d.target),
  JSON.stringify(d.input),
  d.overlap,
  d.catch_up,
  d.enabled,
  d.definition_hash,
  d.source,
  d.budget === null ? null : JSON.stringify(d.budget),
];

/** Creates a schedule; null when the name is taken. */
export async function insertSchedule(db: Queryable, d: ScheduleDefinition): Promise<ScheduleRow | null> {
  const rows = await db.query<ScheduleRow>(
    `WITH s AS (
       INSERT INTO schedules (name, id, cron, timezone, target, input, overlap, catch_up, enabled, definition_hash, source, budget, created_by, next_run_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14)
       ON CONFLICT (name) DO NOTHING
       RETURNING *)
     SELECT s.*, NULL::text AS last_status FROM s`,
    [d.name, d.id, ...definitionParams(d), d.created_by, d.next_run_at],
  );
  return rows[0] ?? null;
}

export async function getSchedule(db: Queryable, name: string): Promise<ScheduleRow | null> {
  const rows = await db.query<ScheduleRow>(`SELECT ${withStatus} FROM schedules s WHERE s.name = $1`, [name]);
  return rows[0] ?? null;
}

export async function listSchedules(db: Queryable, source?: 'api' | 'file'): Promise<ScheduleRow[]> {
  return db.query<ScheduleRow>(`SELECT ${withStatus} FROM schedules s WHERE $1::text IS NULL OR s.source = $1 ORDER BY s.name`, [
    source ?? null,
  ]);
}

/** Replaces a schedule's definition (a change through the API or in a file); null when it is gone. */
export async function updateSchedule(
  db: Queryable,
  name: string,
  d: Omit<ScheduleDefinition, 'name' | 'id' | 'created_by'> & { resetHold: boolean },
): Promise<ScheduleRow | null> {
  const rows = await db.query<ScheduleRow>(
    `WITH s AS (
       UPDATE schedules SET cron = $2, timezone = $3, target = $4, input = $5, overlap = $6, catch_up = $7, enabled = $8,
              definition_hash = $9, source = $10, budget = $11::jsonb, next_run_at = $12, held = held AND NOT $13, version = version + 1,
              updated_at = now()
       WHERE name = $1
       RETURNING *)
     SELECT ${withStatus} FROM s`,
    [name, ...definitionParams(d), d.next_run_at, d.resetHold],
  );
  return rows[0] ?? null;
}

export async function deleteSchedule(db: Queryable, name: string): Promise<boolean> {
  return (await db.query('DELETE FROM schedules WHERE name = $1 RETURNING name', [name])).length > 0;
}

/**
 * Claims up to `limit` due schedules for `claimMs`. SKIP LOCKED and the claim keep replicas off
 * each other's schedules; a claim whose holder died runs out and the schedule is claimed again.
 */
export async function claimDue(db: Queryable, owner: string, claimMs: number, limit: number): Promise<ClaimedSchedule[]> {
  return db.query<ClaimedSchedule>(
    `WITH due AS (
       SELECT name FROM schedules
       WHERE enabled AND next_run_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
       ORDER BY next_run_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     ), s AS (
       UPDATE schedules s SET claimed_by = $1, claimed_until = now() + $2 * interval '1 millisecond'
       FROM due WHERE s.name = due.name
       RETURNING s.*)
     SELECT ${withStatus}, now() AS db_now FROM s`,
    [owner, claimMs, limit],
  );
}

export interface TickRecord {
  name: string;
  id: string;
  owner: string;
  /** The version the pass planned from: a schedule changed meanwhile keeps its new next tick. */
  version: number;
  nextRunAt: Date | null;
  held: boolean;
  /** The latest tick judged and what became of it. */
  last: { tickAt: Date; outcome: string } | null;
  /** The last workflow this pass started: overlap is judged against it. */
  startedTaskId: string | null;
}

/** Ends a pass: the next tick, what the last tick did, and the claim released. */
export async function finishPass(db: Queryable, r: TickRecord): Promise<void> {
  await db.query(
    `UPDATE schedules SET
       next_run_at = CASE WHEN version = $4 THEN $5 ELSE next_run_at END,
       held = CASE WHEN version = $4 THEN $6 ELSE held END,
       last_tick_at = coalesce($7, last_tick_at),
       last_outcome = coalesce($8, last_outcome),
       last_task_id = coalesce($9, last_task_id),
       last_run_at = CASE WHEN $9::uuid IS NULL THEN last_run_at ELSE now() END,
       claimed_by = NULL, claimed_until = NULL
     WHERE name = $1 AND id = $2 AND claimed_by = $3`,
    [r.name, r.id, r.owner, r.version, r.nextRunAt, r.held, r.last?.tickAt ?? null, r.last?.outcome ?? null, r.startedTaskId],
  );
}

/** A run started by hand (POST /schedules/:name/trigger) counts as the schedule's last run. */
export async function recordTrigger(db: Queryable, id: string, taskId: string): Promise<void> {
  await db.query(
    `UPDATE schedules SET last_task_id = $2, last_outcome = 'triggered', last_run_at = now(), last_tick_at = now() WHERE id = $1`,
    [id, taskId],
  );
}

/**
 * When the scheduler should look again: the earliest next tick of an enabled schedule, or the end of
 * the claim another replica holds on it. Held ticks (overlap queue) are looked at on the interval.
 */
export async function earliestDue(db: Queryable): Promise<{ next: Date | null; now: Date }> {
  const rows = await db.query<{ next: Date | null; now: Date }>(
    `SELECT (SELECT min(greatest(next_run_at, coalesce(claimed_until, next_run_at))) FROM schedules WHERE enabled AND NOT held) AS next,
            now() AS now`,
  );
  return rows[0];
}
