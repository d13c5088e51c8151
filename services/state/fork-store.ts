import type { Queryable } from './db.ts';
import type { Plan } from './plan.ts';
import type { Lease, NewDecision, NewEvent, StepRow, WorkflowRow, WorkflowStatus } from './rows.ts';

// Forks (migration 0015): a run made from another run keeps the results of the steps upstream of
// the fork point as attempt rows copied from the parent, and runs the rest like any other workflow.

/** The lineage columns of a workflow row. */
export interface Lineage {
  forked_from: string | null;
  fork_step: string | null;
}

/** The reuse columns of an attempt row: set when it was copied from another run, not sent to an agent. */
export interface ReuseMark {
  reused_from: string | null;
  reused_attempt: number | null;
}

export const lineageOf = (row: WorkflowRow): Lineage => {
  const r = row as WorkflowRow & Partial<Lineage>;
  return { forked_from: r.forked_from ?? null, fork_step: r.fork_step ?? null };
};

export const reuseOf = (row: StepRow): ReuseMark => {
  const r = row as StepRow & Partial<ReuseMark>;
  return { reused_from: r.reused_from ?? null, reused_attempt: r.reused_attempt ?? null };
};

/** A parent's result that the fork keeps: written as a succeeded attempt that no agent ran. */
export interface ReusedAttempt {
  step_id: string;
  attempt: number;
  agent: string;
  input: Record<string, unknown> | null;
  output: Record<string, unknown>;
  idempotency_key: string;
  reused_from: string;
  reused_attempt: number;
}

export interface InsertFork {
  id: string;
  description: string | null;
  plan: Plan;
  input: Record<string, unknown>;
  /** Running under this lease, or, with none, queued behind the parent's concurrency key. */
  lease: Lease | null;
  /** The parent's concurrency key, limit and strategy, and its priority in the key's queue. */
  concurrency: { key: string; limit: number; strategy: string | null; priority: number } | null;
  forkedFrom: string;
  forkStep: string;
  reused: ReusedAttempt[];
  /** The parent's branch and loop decisions of the reused steps, so the fork follows the same branches. */
  decisions: NewDecision[];
  events: NewEvent[];
  traceParent: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  submittedBy: string | null;
}

/**
 * Writes a fork in one statement: the workflow (running, leased, its plan inline), its reused
 * attempts with their outputs, the copied decisions and the first events. Its first dispatches are
 * the engine's next commit, so a crash in between leaves a running workflow that recovery resumes
 * from these rows. False when the id or the idempotency key is taken (nothing was written).
 */
export async function insertFork(db: Queryable, f: InsertFork): Promise<boolean> {
  const events = f.events.map((e, i) => ({
    k: i + 1,
    type: e.type,
    step_id: e.step_id ?? null,
    attempt: e.attempt ?? null,
    data: e.data ?? {},
  }));
  const rows = await db.query<{ id: string }>(
    `WITH w AS (
       INSERT INTO workflows (id, description, status, inline_plan, input, last_checkpoint, lease_owner, lease_incarnation,
                              lease_expires_at, started_at, trace_parent, idempotency_key, request_hash, event_seq, submitted_by,
                              forked_from, fork_step, concurrency_key, concurrency_limit, concurrency_strategy, priority)
       VALUES ($1, $2, CASE WHEN $5::text IS NULL THEN 'queued' ELSE 'running' END, $3::jsonb, $4::jsonb, now(), $5, $6::uuid,
               now() + $7::int * interval '1 millisecond', CASE WHEN $5::text IS NOT NULL THEN clock_timestamp() END,
               $8, $9, $10, $11, $12, $13::uuid, $14, $18, $19::int, $20, coalesce($21::int, 3))
       ON CONFLICT DO NOTHING
       RETURNING id
     ), s AS (
       INSERT INTO steps (workflow_id, step_id, attempt, agent, status, input, output, idempotency_key, reused_from, reused_attempt)
       SELECT w.id, x.step_id, x.attempt, x.agent, 'succeeded', x.input, x.output, x.idempotency_key, x.reused_from, x.reused_attempt
       FROM w, jsonb_to_recordset($15::jsonb)
         AS x(step_id text, attempt int, agent text, input jsonb, output jsonb, idempotency_key text, reused_from uuid, reused_attempt int)
     ), d AS (
       INSERT INTO workflow_decisions (workflow_id, step_id, attempt, outcome, branch, action, target, iteration, reason)
       SELECT w.id, x.step_id, x.attempt, x.outcome, x.branch, x.action, x.target, x.iteration, x.reason
       FROM w, jsonb_to_recordset($16::jsonb)
         AS x(n int, step_id text, attempt int, outcome text, branch text, action text, target text, iteration int, reason text)
       ORDER BY x.n
     ), e AS (
       INSERT INTO workflow_events (workflow_id, seq, type, step_id, attempt, data)
       SELECT w.id, x.k, x.type, x.step_id, x.attempt, x.data
       FROM w, jsonb_to_recordset($17::jsonb) AS x(k int, type text, step_id text, attempt int, data jsonb)
     )
     SELECT id FROM w`,
    [
      f.id,
      f.description,
      JSON.stringify(f.plan),
      JSON.stringify(f.input),
      f.lease?.owner ?? null,
      f.lease?.incarnation ?? null,
      f.lease?.ms ?? null,
      f.traceParent,
      f.idempotencyKey,
      f.requestHash,
      events.length,
      f.submittedBy,
      f.forkedFrom,
      f.forkStep,
      JSON.stringify(f.reused),
      // Numbered, so they get their ids (the order they are read back in) in the parent's order.
      JSON.stringify(f.decisions.map((d, n) => ({ n, ...d }))),
      JSON.stringify(events),
      f.concurrency?.key ?? null,
      f.concurrency?.limit ?? null,
      f.concurrency?.strategy ?? null,
      f.concurrency?.priority ?? null,
    ],
  );
  return rows.length > 0;
}

export interface ForkSummary {
  task_id: string;
  from_step: string;
  status: WorkflowStatus;
  created_at: Date;
}

/** The runs forked from this one, oldest first; with `submittedBy`, only those that API key made. */
export async function listForks(db: Queryable, parentId: string, submittedBy?: string): Promise<ForkSummary[]> {
  return db.query<ForkSummary>(
    `SELECT id AS task_id, fork_step AS from_step, status, created_at FROM workflows
     WHERE forked_from = $1 AND ($2::text IS NULL OR submitted_by = $2)
     ORDER BY created_at, id`,
    [parentId, submittedBy ?? null],
  );
}
