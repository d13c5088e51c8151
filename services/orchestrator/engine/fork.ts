import type { Span } from '@opentelemetry/api';
import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../errors/index.ts';
import { traceparentOf, tracer } from '../../telemetry/index.ts';
import {
  store,
  terminalStatuses,
  type DecisionRow,
  type Lease,
  type NewDecision,
  type NewEvent,
  type Plan,
  type PlanStep,
  type Queryable,
  type StepRow,
  type WorkflowRow,
} from '../../state/index.ts';
import { insertFork, reuseOf, type ReusedAttempt } from '../../state/fork-store.ts';
import type { Concurrency } from './admission.ts';
import { gatedSteps, idempotencyKey } from './decider/index.ts';
import { descendantsOf } from './graph.ts';

// A fork re-runs a finished workflow from one step: the steps upstream of it keep the parent's
// results (copied, never sent to an agent again), the step and everything downstream run anew,
// possibly with a changed input or plan. This file decides what is kept and what changes; the
// engine writes the fork and runs it (Engine.fork).

/** What may change of a step in a fork: its graph (id, type, depends_on) stays, so the two runs line up step by step. */
export type StepPatch = Partial<Omit<PlanStep, 'id' | 'type' | 'depends_on'>>;

export interface ForkRequest {
  fromStep: string;
  /** An RFC 7386 merge patch of from_step's input. */
  inputPatch?: Record<string, unknown> | undefined;
  /** Changes to from_step and the steps downstream of it; `input` is a merge patch, every other field replaces. */
  planPatch?: { steps?: Record<string, StepPatch> | undefined } | undefined;
}

/** RFC 7386: objects merge key by key, null deletes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The steps a fork from `fromStep` runs again: it and everything downstream of it. */
export function rerunSet(plan: Plan, fromStep: string): Set<string> {
  return new Set([fromStep, ...descendantsOf(plan.steps, fromStep)]);
}

/**
 * The parent's plan with the patches applied. A 400 naming the field for a step that does not exist,
 * or a patch of a step whose result the fork would reuse (fork from that step instead); the caller
 * then checks the result as it checks any submitted plan.
 */
export function patchPlan(plan: Plan, req: ForkRequest): Plan {
  const ids = plan.steps.map((s) => s.id);
  if (!ids.includes(req.fromStep))
    throw new AppError('VALIDATION_FAILED', `from_step "${req.fromStep}" is not a step of this run (its steps: ${ids.join(', ')})`, {
      details: { field: 'from_step', from_step: req.fromStep, steps: ids },
    });
  const rerun = rerunSet(plan, req.fromStep);
  const patches = new Map(Object.entries(req.planPatch?.steps ?? {}));
  for (const id of patches.keys()) {
    const field = `plan_patch.steps.${id}`;
    if (!ids.includes(id))
      throw new AppError('VALIDATION_FAILED', `${field}: "${id}" is not a step of this run (its steps: ${ids.join(', ')})`, {
        details: { field },
      });
    if (!rerun.has(id))
      throw new AppError(
        'VALIDATION_FAILED',
        `${field}: "${id}" is upstream of from_step "${req.fromStep}", so the fork reuses its result; fork from "${id}" (or a step above it) to change it`,
        { details: { field, reused: [...ids.filter((s) => !rerun.has(s))] } },
      );
  }
  // What the plan says of the whole run (its budget) carries over; the fork's spend starts at nothing,
  // since a reused attempt carries no usage.
  return {
    ...plan,
    steps: plan.steps.map((def) => {
      const patch = patches.get(def.id);
      let step: PlanStep = def;
      if (patch) {
        const { input, ...rest } = patch;
        step = { ...def, ...rest, input: input === undefined ? def.input : (mergePatch(def.input, input) as Record<string, unknown>) };
      }
      if (def.id === req.fromStep && req.inputPatch)
        step = { ...step, input: mergePatch(step.input, req.inputPatch) as Record<string, unknown> };
      return step;
    }),
  };
}

export interface ForkSeed {
  reused: ReusedAttempt[];
  decisions: NewDecision[];
  events: NewEvent[];
}

/**
 * What the fork starts with: every step outside the re-run set whose last attempt in the parent
 * succeeded, and whose dependencies are kept too, keeps that result (as its attempt 1) with the
 * branch and loop decisions it made there; anything else (a failed, cancelled or never-run step, or
 * one below it) runs in the fork. A reused result names the run whose agent produced it, so a fork of
 * a fork still points at the run that did the work.
 */
export function forkSeed(
  forkId: string,
  parentId: string,
  plan: Plan,
  fromStep: string,
  parentRows: readonly StepRow[],
  parentDecisions: readonly DecisionRow[],
): ForkSeed {
  const rerun = rerunSet(plan, fromStep);
  const last = new Map<string, StepRow>();
  for (const r of parentRows) if ((last.get(r.step_id)?.attempt ?? 0) < r.attempt) last.set(r.step_id, r);
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  const memo = new Map<string, boolean>();
  const keep = (id: string): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    memo.set(id, false);
    const ok = !rerun.has(id) && last.get(id)?.status === 'succeeded' && (byId.get(id)?.depends_on ?? []).every(keep);
    memo.set(id, ok);
    return ok;
  };
  const kept = plan.steps.filter((s) => keep(s.id));
  const reused = kept.map((def): ReusedAttempt => {
    const row = last.get(def.id)!;
    const mark = reuseOf(row);
    return {
      step_id: def.id,
      attempt: 1,
      agent: row.agent,
      input: row.input,
      output: row.output ?? {},
      idempotency_key: idempotencyKey(forkId, def.id, 1),
      reused_from: mark.reused_from ?? parentId,
      reused_attempt: mark.reused_attempt ?? row.attempt,
    };
  });
  const keptIds = new Set(kept.map((s) => s.id));
  // A branch target its kept source did not route to would be skipped at once: the fork would run nothing.
  const source = gatedSteps(plan).get(fromStep);
  if (source && keptIds.has(source) && !parentDecisions.some((d) => d.step_id === source && d.action === 'route' && d.target === fromStep))
    throw new AppError(
      'VALIDATION_FAILED',
      `from_step "${fromStep}" did not run in task ${parentId}: no branch of "${source}" led to it, and the fork keeps what "${source}" decided; fork from "${source}" to decide again`,
      { details: { field: 'from_step', branch_of: source } },
    );
  // Their other columns (id, workflow_id, created_at) are not written: insertFork names the ones it writes.
  const decisions = parentDecisions.filter((d) => keptIds.has(d.step_id)).map((d): NewDecision => ({ ...d, attempt: 1 }));
  const events: NewEvent[] = [
    {
      type: 'workflow_forked',
      data: { from_task: parentId, from_step: fromStep, reused: reused.map((r) => r.step_id), rerun: [...rerun] },
    },
    ...reused.map((r): NewEvent => ({
      type: 'step_reused',
      step_id: r.step_id,
      attempt: 1,
      data: { agent: r.agent, from_task: r.reused_from, from_attempt: r.reused_attempt },
    })),
  ];
  return { reused, decisions, events };
}

/** POST /tasks/:id/fork: the parent run, what changes, and who asks (as in a Submission). */
export interface ForkSubmission {
  parent: WorkflowRow;
  request: ForkRequest;
  idempotencyKey?: string;
  requestHash?: string;
  submittedBy?: string;
}

/**
 * Checks the fork and writes it, in one statement: as a running workflow under `lease`, which the
 * engine then drives, or, when the parent ran under a concurrency key, queued behind that key as any
 * run of it is (the engine's admission starts it). Not created when the idempotency key is taken
 * (nothing was written).
 */
export async function writeFork(
  db: Queryable,
  lease: Lease,
  owner: string,
  f: ForkSubmission,
  validate: (plan: Plan) => void,
): Promise<{ id: string; created: boolean; plan: Plan; traceParent: string | null; span: Span; concurrency: Concurrency | null }> {
  const { parent } = f;
  if (!terminalStatuses.has(parent.status))
    throw new AppError('WORKFLOW_BUSY', `task ${parent.id} is ${parent.status}: only a succeeded, failed or cancelled run can be forked`, {
      details: { status: parent.status },
    });
  const plan = patchPlan(parent.plan, f.request);
  validate(plan);
  const id = uuidv7();
  const [parentRows, parentDecisions] = await Promise.all([store.getSteps(db, parent.id), store.getDecisions(db, parent.id)]);
  const seed = forkSeed(id, parent.id, plan, f.request.fromStep, parentRows, parentDecisions);
  const span = tracer().startSpan('workflow', {
    attributes: { 'mesh.task_id': id, 'mesh.steps': plan.steps.length, 'mesh.forked_from': parent.id },
  });
  const traceParent = traceparentOf(span);
  const concurrency = concurrencyOf(parent);
  const start: NewEvent = concurrency
    ? { type: 'workflow_queued', data: { concurrency_key: concurrency.key, limit: concurrency.limit, priority: parent.priority } }
    : { type: 'workflow_started', data: { owner, steps: plan.steps.length } };
  const created = await insertFork(db, {
    id,
    description: parent.description,
    plan,
    input: parent.input,
    lease: concurrency ? null : lease,
    concurrency: concurrency ? { ...concurrency, priority: parent.priority } : null,
    forkedFrom: parent.id,
    forkStep: f.request.fromStep,
    reused: seed.reused,
    decisions: seed.decisions,
    events: [...seed.events, start],
    traceParent,
    idempotencyKey: f.idempotencyKey ?? null,
    requestHash: f.requestHash ?? null,
    submittedBy: f.submittedBy ?? null,
  });
  if (!created) {
    span.setAttribute('mesh.outcome', 'duplicate fork');
    span.end();
  }
  return { id, created, plan, traceParent, span, concurrency };
}

/** The parent's place under a concurrency key, which a fork, another run of the same work, shares. */
function concurrencyOf(parent: WorkflowRow): Concurrency | null {
  if (!parent.concurrency_key) return null;
  return {
    key: parent.concurrency_key,
    limit: parent.concurrency_limit ?? 1,
    strategy: (parent.concurrency_strategy ?? 'queue') as Concurrency['strategy'],
  };
}
