// The API's answers as the page reads them (docs/API.md); only fields the routes really send.

export type TaskStatus = 'planned' | 'scheduled' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskSummary {
  task_id: string;
  description: string | null;
  status: TaskStatus;
  error: unknown;
  created_at: string;
  /** A delayed run's start time, while it is scheduled. */
  run_at?: string;
  started_at: string | null;
  finished_at: string | null;
  last_checkpoint: string | null;
  /** In a listing: the plan's step ids, in order (what tells apart runs without a description). */
  step_ids?: string[];
  /** The schedule that started it and the tick it ran for (tick null: run by hand from the schedule). */
  schedule?: ScheduleTick | null;
}

export interface ScheduleTick {
  name: string;
  tick: string | null;
  caught_up: boolean;
}

export interface TaskPage {
  tasks: TaskSummary[];
  next_cursor: string | null;
}

export interface Attempt {
  attempt: number;
  status: string;
  idempotency_key: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  input: unknown;
  output: unknown;
  error: unknown;
  /** A result copied from another run by a fork: the run and attempt whose agent produced it. */
  reused_from?: { task_id: string; attempt: number | null } | null;
  /** What the attempt asked of models, per model (null: none); cost_usd null when the model has no price. */
  usage?: ModelUsage[] | null;
}

export interface ModelUsage {
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  calls: number;
  cost_usd?: number | null;
}

/** A step's or a run's usage in all (GET /tasks/:id). */
export interface UsageTotal {
  tokens: number;
  calls: number;
  cost_usd: number;
  unpriced_models: string[];
}

export interface StepView {
  id: string;
  agent: string;
  depends_on: string[];
  status: string;
  output: unknown;
  /** Kept from the run this one was forked from: no agent ran it here. */
  reused?: boolean;
  attempts: Attempt[];
}

export type Branch = string | { action?: 'retry' | 'route' | 'fail'; target?: string; max_attempts?: number };

export interface PlanStep {
  id: string;
  type?: 'agent' | 'approval';
  agent: string;
  input: Record<string, unknown>;
  depends_on: string[];
  description?: string;
  prompt?: string;
  on_success?: Branch;
  on_failure?: Branch;
  on_approval?: Branch;
  on_rejection?: Branch;
  retry?: { max_attempts?: number; backoff_ms?: number; backoff_rate?: number };
}

export interface Plan {
  steps: PlanStep[];
}

export interface Decision {
  step_id: string;
  attempt: number;
  outcome: string;
  branch: string | null;
  action: string | null;
  target: string | null;
  iteration: number | null;
  reason: string | null;
  at: string;
}

export interface TaskView extends TaskSummary {
  trace_id: string | null;
  trace_url: string | null;
  idempotency_key: string | null;
  input: unknown;
  steps: StepView[];
  decisions: Decision[];
  waiting: { wake_at: string | null } | null;
  plan: Plan;
  /** A fork's parent and the step it was forked at (POST /tasks/:id/fork). */
  forked_from?: { task_id: string; step_id: string } | null;
  forks?: Array<{ task_id: string; from_step: string; status: TaskStatus; created_at: string }>;
  /** The run's usage in all, its planning included. */
  usage?: UsageTotal;
  /** What the model planner spent planning it; null when no model planned it. */
  planning_usage?: ModelUsage[] | null;
  budget?: { usd?: number; tokens?: number; on_budget?: 'fail' | 'wait' } | null;
}

/** One side of a step in GET /tasks/:a/compare/:b. */
export interface CompareSide {
  status: string;
  attempts: number;
  reused_from: { task_id: string; attempt: number | null } | null;
  duration_ms: number;
  tokens: number;
  cost_usd: number | null;
}

export interface Comparison {
  a: { task_id: string; status: TaskStatus; duration_ms: number | null; tokens: number; cost_usd: number | null };
  b: Comparison['a'];
  relation: 'b_forked_from_a' | 'a_forked_from_b' | null;
  summary: {
    reused: string[];
    ran_in_both: string[];
    changed: string[];
    unchanged: string[];
    only_a: string[];
    only_b: string[];
    duration_delta_ms: number | null;
    tokens_delta: number;
    cost_delta_usd: number | null;
  };
  steps: Array<{
    step_id: string;
    verdict: 'reused' | 'changed' | 'unchanged' | 'only_a' | 'only_b' | 'not_run';
    a: CompareSide;
    b: CompareSide;
    /** `timing`: only a time or a duration differs there (it does not make the step changed). */
    diff: Array<{ op: 'added' | 'removed' | 'changed'; path: string; old?: unknown; value?: unknown; timing?: true }>;
    diff_truncated: boolean;
    duration_delta_ms: number;
    cost_delta_usd: number | null;
  }>;
}

export interface AgentView {
  name: string;
  url?: string;
  status: 'up' | 'unreachable';
  description?: string;
  capabilities: string[];
  version?: string;
  last_seen?: string;
  error?: string;
  circuit_breaker: { state: string };
  instances: Array<{ url: string; ejected: boolean }>;
  calls_in_flight: number;
}

/** A schedule as GET /schedules gives it: what it runs is one of workflow, plan and description. */
export interface ScheduleView {
  name: string;
  cron: string;
  timezone: string;
  workflow?: string;
  plan?: Plan;
  description?: string;
  input: Record<string, unknown>;
  overlap: string;
  enabled: boolean;
  source: 'api' | 'file';
  next_run_at: string | null;
  last_run: { task_id: string; started_at: string | null; status: TaskStatus | null } | null;
  last_outcome: string | null;
}

export interface NamedWorkflow {
  name: string;
  description: string;
  inputs: Record<string, string>;
  steps: PlanStep[];
}

/** What an agent reported while a step works (the `step_progress` events): all of it ephemeral. */
export interface StepProgress {
  attempt: number;
  text: string;
  message?: string;
  fraction?: number;
}

export const finalStatuses: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);
