// Row types of the tables in migrations/, and the stored shape of a plan.
import type { SerializedError } from '../errors/index.ts';

export type WorkflowStatus = 'planned' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled';
export type StepStatus = 'running' | 'scheduled' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'superseded';

export const terminalStatuses: ReadonlySet<WorkflowStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export interface RetryPolicy {
  max_attempts?: number;
  backoff_ms?: number;
  backoff_rate?: number;
}

/**
 * Where a step's outcome leads. A step id routes to that step (which runs only when the branch is
 * taken); `retry` runs `target` (default: this step) again, then everything between it and this
 * step, at most `max_attempts` times in all; `fail` ends the workflow failed.
 */
export type Branch = string | { action?: 'retry' | 'route' | 'fail'; target?: string; max_attempts?: number };

export interface PlanStep {
  id: string;
  /** Agent steps call an agent; approval steps wait for a person (POST /tasks/:id/approve|reject). */
  type?: 'agent' | 'approval';
  agent: string;
  input: Record<string, unknown>;
  depends_on: string[];
  timeout_ms?: number;
  retry?: RetryPolicy;
  description?: string;
  on_success?: Branch;
  on_failure?: Branch;
  on_approval?: Branch;
  on_rejection?: Branch;
  /** Approval steps: what the person is asked, and how long they have. */
  prompt?: string;
  deadline_ms?: number;
}

export interface Plan {
  steps: PlanStep[];
}

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
  status: WorkflowStatus;
  plan: Plan;
  input: Record<string, unknown>;
  checkpoint_data: Record<string, unknown>;
  last_checkpoint: Date | null;
  lease_owner: string | null;
  lease_incarnation: string | null;
  lease_expires_at: Date | null;
  wake_at: Date | null;
  trace_parent: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
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
  status: StepStatus;
  input: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: SerializedError | null;
  idempotency_key: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

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
