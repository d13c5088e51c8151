import { checkpointOf, type DecisionRow, type Plan, type StepRow, type WorkflowRow } from '../state/index.ts';
import { lineageOf, reuseOf } from '../state/fork-store.ts';
import { traceIdOf } from '../telemetry/index.ts';
import { ancestorsOf } from './engine/index.ts';
import { usageTotal } from './usage/ledger.ts';

/** GET /tasks/:id: the workflow, each plan step with its attempts, and the checkpoint. */
export function taskView(wf: WorkflowRow, rows: StepRow[], decisions: DecisionRow[] = []) {
  const byStep = new Map<string, StepRow[]>();
  for (const r of rows) byStep.set(r.step_id, [...(byStep.get(r.step_id) ?? []), r]);
  const statuses = stepStatuses(wf.plan, byStep, wf.status);
  return {
    ...taskSummary(wf),
    trace_id: traceIdOf(wf.trace_parent),
    // Stored as "<key id>/<key>" when scoped to the API key that sent it (API_KEY_OWNERSHIP).
    idempotency_key:
      wf.idempotency_key && wf.submitted_by && wf.idempotency_key.startsWith(`${wf.submitted_by}/`)
        ? wf.idempotency_key.slice(wf.submitted_by.length + 1)
        : (wf.idempotency_key ?? null),
    lease: wf.lease_owner ? { owner: wf.lease_owner, expires_at: wf.lease_expires_at } : null,
    input: wf.input,
    // A fork names its parent and the step it was forked at (POST /tasks/:id/fork).
    forked_from: lineageOf(wf).forked_from ? { task_id: lineageOf(wf).forked_from, step_id: lineageOf(wf).fork_step } : null,
    steps: wf.plan.steps.map((def) => {
      const attempts = byStep.get(def.id) ?? [];
      const last = attempts.at(-1);
      return {
        id: def.id,
        agent: def.agent,
        depends_on: def.depends_on,
        status: statuses.get(def.id),
        output: last?.status === 'succeeded' ? last.output : null,
        // Every attempt's, retried and superseded ones too: they were paid for.
        usage: usageTotal(attempts.map((a) => a.usage)),
        // Its result was copied from another run (a fork's parent): no agent ran it here.
        reused: last ? reuseOf(last).reused_from !== null : false,
        attempts: attempts.map((a) => ({
          attempt: a.attempt,
          status: a.status,
          idempotency_key: a.idempotency_key,
          started_at: a.started_at,
          finished_at: a.finished_at,
          duration_ms: a.started_at && a.finished_at ? a.finished_at.getTime() - a.started_at.getTime() : null,
          input: a.input,
          output: a.output,
          error: a.error,
          usage: a.usage,
          reused_from: reuseOf(a).reused_from ? { task_id: reuseOf(a).reused_from, attempt: reuseOf(a).reused_attempt } : null,
        })),
      };
    }),
    decisions: decisions.map((d) => ({
      step_id: d.step_id,
      attempt: d.attempt,
      outcome: d.outcome,
      branch: d.branch,
      action: d.action,
      target: d.target,
      iteration: d.iteration,
      reason: d.reason,
      at: d.created_at,
    })),
    waiting: wf.status === 'waiting' ? { wake_at: wf.wake_at } : null,
    // The run's spend, as its budget counts it: planning the description, then every attempt.
    usage: usageTotal([wf.planning_usage, ...rows.map((r) => r.usage)]),
    planning_usage: wf.planning_usage ?? null,
    budget: wf.plan.budget ?? null,
    checkpoint: checkpointOf(rows),
    plan: wf.plan,
  };
}

function stepStatuses(plan: Plan, byStep: Map<string, StepRow[]>, wfStatus: string): Map<string, string> {
  const ancestors = ancestorsOf(plan.steps);
  const out = new Map<string, string>();
  for (const def of plan.steps) {
    const last = byStep.get(def.id)?.at(-1)?.status ?? 'pending';
    out.set(def.id, last === 'superseded' ? 'pending' : last);
  }
  for (const def of plan.steps) {
    if (out.get(def.id) !== 'pending') continue;
    if (wfStatus === 'cancelled') out.set(def.id, 'cancelled');
    // A step that never ran in a finished workflow was skipped: upstream failed or no branch led to it.
    else if (wfStatus === 'succeeded' || wfStatus === 'failed' || [...(ancestors.get(def.id) ?? [])].some((a) => out.get(a) === 'failed'))
      out.set(def.id, 'skipped');
  }
  return out;
}

export function taskSummary(wf: WorkflowRow) {
  return {
    task_id: wf.id,
    description: wf.description,
    status: wf.status,
    error: wf.error,
    created_at: wf.created_at,
    // A delayed run's start time, while it waits for it.
    ...(wf.status === 'scheduled' ? { run_at: wf.wake_at } : {}),
    ...(wf.concurrency_key ? { concurrency_key: wf.concurrency_key, priority: wf.priority } : {}),
    started_at: wf.started_at,
    finished_at: wf.finished_at,
    last_checkpoint: wf.last_checkpoint,
    // In a listing: the plan's step ids, which tell apart runs that have no description.
    ...(wf.step_ids ? { step_ids: wf.step_ids } : {}),
    ...(wf.schedule_tick !== undefined ? { schedule: scheduleOf(wf.schedule_tick) } : {}),
  };
}

/** The schedule that started a run and the tick it ran for (null: triggered by hand), or null. */
function scheduleOf(tick: Record<string, unknown> | null) {
  if (!tick || typeof tick.schedule !== 'string') return null;
  return { name: tick.schedule, tick: typeof tick.tick === 'string' ? tick.tick : null, caught_up: tick.caught_up === true };
}
