// Row types of the tables in migrations/; the stored shape of a plan is in plan.ts.
import type { SerializedError } from '../errors/index.ts';
import type { Usage } from '../protocol/usage.ts';
import type { Plan } from './plan.ts';

export type WorkflowStatus = 'planned' | 'scheduled' | 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled';
/**
 * Where a plan step is. `pending` and `skipped` live only in the engine (a step that has no attempt
 * yet, or never will); an attempt's row has one of the others (AttemptStatus).
 */
export type StepStatus = 'pending' | 'running' | 'scheduled' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'superseded';
export type AttemptStatus = Exclude<StepStatus, 'pending' | 'skipped'>;

export const terminalStatuses: ReadonlySet<WorkflowStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export interface DecisionRow {
  id: number;
  workflow_id: string;
  step_id: string;
  attempt: number;
  outcome: string;
  branch: string;
  action: string;
  target: string | null;
  iteration: number;
  reason: string;
  created_at: Date;
}

export type NewDecision = Omit<DecisionRow, 'id' | 'workflow_id' | 'created_at'>;

export interface WorkflowRow {
  id: string;
  description: string | null;
  /** Only in a listing (listWorkflows): the plan's step ids, in order. */
  step_ids?: string[];
  /** In a listing, and read for GET /tasks/:id: a schedule's run's `schedule_tick` event data ({schedule, tick, caught_up}), else null. */
  schedule_tick?: Record<string, unknown> | null;
  status: WorkflowStatus;
  plan: Plan;
  input: Record<string, unknown>;
  last_checkpoint: Date | null;
  lease_owner: string | null;
  lease_incarnation: string | null;
  lease_expires_at: Date | null;
  wake_at: Date | null;
  trace_parent: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  /** How many events its log has (event-log.ts). */
  event_seq: number;
  /** The API key that submitted it, when keys are on. */
  submitted_by: string | null;
  /** Per-key concurrency (migration 0013): the key's value, its limit, and the priority in its queue. */
  concurrency_key: string | null;
  concurrency_limit: number | null;
  /** queue, cancel_newest or cancel_in_progress; applied when a delayed run's time comes (migration 0016). */
  concurrency_strategy: string | null;
  priority: number;
  /** What planning it cost (migration 0020): the model planner's calls, priced; null when no model planned it. */
  planning_usage?: Usage | null;
  error: SerializedError | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface StepRow {
  workflow_id: string;
  step_id: string;
  attempt: number;
  agent: string;
  status: AttemptStatus;
  input: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: SerializedError | null;
  idempotency_key: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  /** The numbers of this attempt's step_started and step_succeeded events in the workflow's log. */
  start_seq: number | null;
  end_seq: number | null;
  duration_ms: number | null;
  replayed: boolean;
  /** What the attempt spent on models, priced when stored (migration 0014); null when it called none. */
  usage: Usage | null;
}

// An attempt's idempotency key is workflow:step:attempt, and its row stores it only when it is
// something else (a fork's reused attempt keeps its parent's): 41 bytes less to write, twice, per
// attempt (migration 0017). Writers store storedAttemptKey of x (id, step_id, attempt,
// idempotency_key); readers select attemptKeyColumn.
export const storedAttemptKey = `NULLIF(x.idempotency_key, x.id::text || ':' || x.step_id || ':' || x.attempt)`;
export const attemptKeyColumn = `coalesce(idempotency_key, workflow_id::text || ':' || step_id || ':' || attempt) AS idempotency_key`;

// A workflow row names its plan by hash (a row of `plans`), or holds it in inline_plan: rows from
// before migration 0018, forks, and runs whose budget was changed. Readers select planColumn(t) for
// row alias t (planOf(t) where an expression is wanted). A statement that names a plan holds
// planLock(hash) shared until it commits; retention takes it exclusively before it deletes a plan no
// workflow names (retention-store.ts), so a plan a submit found stored is not deleted before the
// submit's row is there to be seen.
export const planOf = (t: string) => `coalesce(${t}.inline_plan, (SELECT p.plan FROM plans p WHERE p.hash = ${t}.plan_hash))`;
export const planColumn = (t: string) => `${planOf(t)} AS plan`;
export const planLockArgs = (hash: string) =>
  `hashtext(current_schema() || '.plans'), ('x' || encode(substring(${hash} FROM 1 FOR 4), 'hex'))::bit(32)::int`;

/**
 * A run's checkpoint: each step's output from its latest succeeded attempt (a superseded one is a
 * loop's earlier round, no longer the step's result). `steps` is what getSteps returns.
 */
export function checkpointOf(steps: readonly Pick<StepRow, 'step_id' | 'attempt' | 'status' | 'output'>[]): Record<string, unknown> {
  const latest = new Map<string, { attempt: number; output: unknown }>();
  for (const s of steps) {
    if (s.status !== 'succeeded') continue;
    const seen = latest.get(s.step_id);
    if (!seen || s.attempt > seen.attempt) latest.set(s.step_id, { attempt: s.attempt, output: s.output });
  }
  return Object.fromEntries([...latest].map(([id, { output }]) => [id, output]));
}

/** One event of a workflow's log (event-log.ts); `id` is its number within the workflow, from 1. */
export interface EventRow {
  id: number;
  workflow_id: string;
  type: string;
  step_id: string | null;
  attempt: number | null;
  data: Record<string, unknown>;
  created_at: Date;
}

/** A step attempt written when it is dispatched (or scheduled for a retry). */
export interface NewStep {
  step_id: string;
  attempt: number;
  agent: string;
  status: 'running' | 'scheduled' | 'waiting';
  input: Record<string, unknown>;
  idempotency_key: string;
}

export interface NewEvent {
  type: string;
  step_id?: string;
  attempt?: number;
  data?: Record<string, unknown>;
}

/**
 * Who holds a running workflow: the orchestrator (ORCHESTRATOR_ID, stable across restarts, shown to
 * people) and its incarnation (random per process start). Writes are guarded by the incarnation, so a
 * process never mistakes a previous run of itself for itself, nor the other way round.
 */
export interface Lease {
  owner: string;
  incarnation: string;
  ms: number;
}
