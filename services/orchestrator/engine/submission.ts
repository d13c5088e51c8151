// What a submit stores: the workflow row for each way a run can begin (planned, scheduled, queued
// or running at once). Pure: the engine decides which applies and writes the row.
import type { NewEvent, NewStep, Plan, store } from '../../state/index.ts';
import type { Usage } from '../../protocol/usage.ts';
import type { Concurrency } from './admission.ts';
import type { RateLimit } from './flow-control.ts';

export interface Submission {
  plan: Plan;
  description: string | null;
  input: Record<string, unknown>;
  /** false: store the plan as 'planned' and wait for POST /execute. */
  start: boolean;
  /** Start then, not now: stored as 'scheduled' and started by whichever replica claims it first. */
  runAt?: Date;
  /** Per-key concurrency: stored 'queued' and started when its key has a free slot (admission.ts). */
  concurrency?: Concurrency;
  /** 1-5: higher goes first among queued work of the same key. */
  priority?: number;
  /** Starts of the key, at most `limit` per period: a start over it is delayed (stored 'scheduled'). */
  rateLimit?: RateLimit;
  /** Written first in the event log (how the plan was made). */
  events?: NewEvent[];
  /** The client's choice of task id; a new UUID otherwise. */
  id?: string;
  /** The client's Idempotency-Key and the request's fingerprint (see insertWorkflow). */
  idempotencyKey?: string;
  requestHash?: string;
  /** The API key that submits it. */
  submittedBy?: string;
  /** What the model planner spent planning it (unpriced): stored with the run, counted in its spend. */
  planningUsage?: Usage;
}

export interface Submitted {
  id: string;
  status: 'planned' | 'scheduled' | 'queued' | 'running' | 'cancelled';
  /** False: a workflow with this id or idempotency key exists already, and nothing was written. */
  created: boolean;
}

/** The row's columns that come from the submit alone, whatever its status. */
function base(id: string, sub: Submission, planningUsage: Usage | null) {
  return {
    id,
    description: sub.description,
    plan: sub.plan,
    input: sub.input,
    idempotencyKey: sub.idempotencyKey ?? null,
    requestHash: sub.requestHash ?? null,
    submittedBy: sub.submittedBy ?? null,
    planningUsage,
  };
}

/** Stored to wait for POST /execute. */
export function plannedRow(id: string, sub: Submission, planningUsage: Usage | null): store.InsertWorkflow {
  return {
    ...base(id, sub, planningUsage),
    status: 'planned',
    lease: null,
    steps: [],
    events: [...(sub.events ?? []), { type: 'workflow_planned', data: { steps: sub.plan.steps.length } }],
  };
}

/** Stored to start at `runAt`: the time asked for, or later when the rate limit `waitedMs` held it back. */
export function scheduledRow(
  id: string,
  sub: Submission,
  planningUsage: Usage | null,
  runAt: Date,
  waitedMs: number,
): store.InsertWorkflow {
  const r = sub.rateLimit;
  return {
    ...base(id, sub, planningUsage),
    status: 'scheduled',
    lease: null,
    runAt,
    // A key with a limit: when its time comes the run joins the key's queue (start-clock.ts).
    ...(sub.concurrency ? { concurrency: sub.concurrency, priority: sub.priority ?? 3 } : {}),
    steps: [],
    events: [
      ...(sub.events ?? []),
      ...(r && waitedMs > 0
        ? [{ type: 'workflow_rate_limited', data: { key: r.key, limit: r.limit, period_ms: r.periodMs, wait_ms: Math.round(waitedMs) } }]
        : []),
      { type: 'workflow_scheduled', data: { run_at: runAt.toISOString() } },
    ],
  };
}

/** Stored behind its concurrency key, for the admission to start when the key has a free slot. */
export function queuedRow(id: string, sub: Submission, planningUsage: Usage | null, concurrency: Concurrency): store.InsertWorkflow {
  const priority = sub.priority ?? 3;
  return {
    ...base(id, sub, planningUsage),
    status: 'queued',
    lease: null,
    concurrency,
    priority,
    steps: [],
    events: [
      ...(sub.events ?? []),
      { type: 'workflow_queued', data: { concurrency_key: concurrency.key, limit: concurrency.limit, priority } },
    ],
  };
}

/** Started here at once: held under `lease`, with its first attempts (and their events) in the same row's statement. */
export function runningRow(
  id: string,
  sub: Submission,
  planningUsage: Usage | null,
  o: { lease: store.Lease; owner: string; traceParent: string | null; firstSteps: NewStep[]; firstEvents: NewEvent[] },
): store.InsertWorkflow {
  return {
    ...base(id, sub, planningUsage),
    status: 'running',
    lease: o.lease,
    steps: o.firstSteps,
    events: [...(sub.events ?? []), { type: 'workflow_started', data: { owner: o.owner, steps: sub.plan.steps.length } }, ...o.firstEvents],
    traceParent: o.traceParent,
  };
}
