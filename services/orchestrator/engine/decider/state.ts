import type { SerializedError } from '../../../errors/index.ts';
import type { Usage } from '../../../protocol/index.ts';
import type { DecisionRow, Plan, PlanStep, StepRow, StepStatus } from '../../../state/index.ts';
import { descendantsOf } from '../graph.ts';
import { gatedSteps } from './branches.ts';

/** What the engine knows of one plan step while the workflow runs. */
export interface StepState {
  def: PlanStep;
  /** Never 'superseded' in memory: a step a loop sent round again is 'pending'. */
  status: Exclude<StepStatus, 'superseded'>;
  /** The attempt in flight or last finished; 0 before the first. */
  attempt: number;
  /** Attempts before this count toward an earlier run (a resumed failed workflow starts a new budget). */
  budgetStart: number;
  /** Input as sent to the agent, references resolved; kept so a re-sent attempt is identical. */
  input: Record<string, unknown> | undefined;
  output: Record<string, unknown> | undefined;
  /** The output of the attempt a loop superseded: what a revision starts from. */
  previousOutput: Record<string, unknown> | undefined;
  decision: string | undefined;
  error: SerializedError | undefined;
  /** A failure an on_failure branch took care of: it does not fail the workflow. */
  handled: boolean;
  /** Set by a loop: what the step that sent it round said, given to the next attempt as input.feedback. */
  feedback: Record<string, unknown> | undefined;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  /** Since when no instance of its agent has taken the attempt (it waits, AGENT_UNAVAILABLE_TIMEOUT_MS). */
  unavailableSince: Date | undefined;
  unavailableWaits: number;
}

/** Retry and timeout settings for steps that do not set their own. */
export interface RunDefaults {
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffRate: number;
  /** How long a step waits for an instance of its agent before a call that reaches none fails it. */
  unavailableTimeoutMs: number;
}

/**
 * Everything the decider decides from: the plan, each step's state, which gated steps a branch
 * switched on, how often each loop ran, and whether the run is still going here.
 */
export interface RunState {
  id: string;
  plan: Plan;
  defaults: RunDefaults;
  steps: Map<string, StepState>;
  activated: Set<string>;
  loops: Map<string, number>;
  /** Gated step -> the step whose branch decides it (derived from the plan, kept for speed). */
  gated: ReadonlyMap<string, string>;
  /** running: driven here; after that, events change nothing. */
  phase: 'running' | 'parked' | 'finished' | 'stopped';
  /** What every attempt so far spent on models (retried and superseded ones too), for the budget. */
  spent: Spend;
}

/** USD of the priced usage, and tokens (prompt + completion) of all of it. */
export interface Spend {
  usd: number;
  tokens: number;
}

/** `spent` plus what `usage` adds. */
export function addSpend(spent: Spend, usage: Usage | null | undefined): Spend {
  let { usd, tokens } = spent;
  for (const u of usage ?? []) {
    tokens += u.prompt_tokens + u.completion_tokens;
    if (typeof u.cost_usd === 'number') usd += u.cost_usd;
  }
  // Rounded as the costs are (a billionth of a dollar), so adding prices never drifts past a limit.
  return { usd: Math.round(usd * 1e9) / 1e9, tokens };
}

/** A step's retry policy: its own `retry`, else the run's defaults. */
export function retryPolicy(s: StepState, defaults: RunDefaults): RunDefaults {
  const r = s.def.retry ?? {};
  return {
    ...defaults,
    maxAttempts: r.max_attempts ?? defaults.maxAttempts,
    backoffMs: r.backoff_ms ?? defaults.backoffMs,
    backoffRate: r.backoff_rate ?? defaults.backoffRate,
  };
}

/**
 * A failed attempt that could have been retried and was not: the only way one is stored last is a
 * retry the budget held back (any other retry commits its next attempt with the failure).
 */
const heldRetry = (s: StepState, defaults: RunDefaults) =>
  s.status === 'failed' && !s.handled && s.error?.retryable === true && s.attempt - s.budgetStart < retryPolicy(s, defaults).maxAttempts;

export const loopKey = (stepId: string, branch: string) => `${stepId}:${branch}`;

export function freshState(id: string, plan: Plan, defaults: RunDefaults): RunState {
  return {
    id,
    plan,
    defaults,
    steps: new Map(plan.steps.map((def) => [def.id, blank(def)])),
    activated: new Set(),
    loops: new Map(),
    gated: gatedSteps(plan),
    phase: 'running',
    spent: { usd: 0, tokens: 0 },
  };
}

function blank(def: PlanStep): StepState {
  return {
    def,
    status: 'pending',
    attempt: 0,
    budgetStart: 0,
    input: undefined,
    output: undefined,
    previousOutput: undefined,
    decision: undefined,
    error: undefined,
    handled: false,
    feedback: undefined,
    startedAt: undefined,
    finishedAt: undefined,
    unavailableSince: undefined,
    unavailableWaits: 0,
  };
}

/** A copy the decider may change while the caller's state stays as it was. */
export function cloneState(s: RunState): RunState {
  return {
    ...s,
    steps: new Map([...s.steps].map(([id, st]) => [id, { ...st }])),
    activated: new Set(s.activated),
    loops: new Map(s.loops),
    spent: { ...s.spent },
  };
}

/**
 * Rebuilds the engine's view from the step rows and the decisions. A finished attempt is final; an
 * attempt that was running or scheduled is sent again with the same idempotency key; a superseded
 * one (a loop sent it round again) is pending, and so is a retry the budget held. With
 * `reopenFailed`, failed and skipped steps start over with a fresh attempt budget (resuming a failed
 * workflow).
 */
export function stateFromRows(
  id: string,
  plan: Plan,
  defaults: RunDefaults,
  rows: readonly StepRow[],
  decisions: readonly DecisionRow[],
  reopenFailed: boolean,
): RunState {
  const run = freshState(id, plan, defaults);
  const { steps: state } = run;
  // The spend comes from the stored attempts, so a budget holds across crashes and replicas.
  for (const row of rows) run.spent = addSpend(run.spent, row.usage);
  for (const row of rows) {
    const s = state.get(row.step_id);
    if (!s || row.attempt < s.attempt) continue;
    s.attempt = row.attempt;
    s.input = row.input ?? undefined;
    s.startedAt = row.started_at ?? undefined;
    s.finishedAt = row.finished_at ?? undefined;
    s.error = row.error ?? undefined;
    s.decision = typeof row.output?.decision === 'string' ? row.output.decision : undefined;
    if (row.status === 'superseded') {
      s.previousOutput = row.output ?? undefined;
      s.output = undefined;
      s.status = 'pending';
    } else {
      s.output = row.output ?? undefined;
      s.status = row.status === 'cancelled' ? 'pending' : row.status;
    }
  }
  for (const d of decisions) {
    if (d.action === 'retry')
      run.loops.set(loopKey(d.step_id, d.branch), Math.max(run.loops.get(loopKey(d.step_id, d.branch)) ?? 0, d.iteration));
    if (d.action === 'route' && d.target) run.activated.add(d.target);
    if (d.action === 'route' && d.branch === 'on_failure') state.get(d.step_id)!.handled = true;
  }
  for (const s of state.values()) {
    if (reopenFailed && s.status === 'failed' && !s.handled) {
      s.status = 'pending';
      s.budgetStart = s.attempt;
      s.error = undefined;
    } else if (heldRetry(s, defaults)) {
      // As the decider left it: pending, so the retry goes out (as the next attempt) once the budget allows.
      s.status = 'pending';
      s.startedAt = undefined;
      s.finishedAt = undefined;
      s.error = undefined;
    }
  }
  // Gated steps whose source has answered without routing to them will never run.
  for (const [target, source] of run.gated) {
    const src = state.get(source)!;
    if ((src.status === 'succeeded' || src.status === 'failed') && !run.activated.has(target)) skip(run, target);
  }
  for (const s of state.values()) if (s.status === 'failed') skipAfterFailure(run, s.def.id);
  return run;
}

/** Can `s` use dependency `d`: it succeeded, or it failed and routed its failure to `s`. */
export function satisfies(run: RunState, d: StepState, s: StepState): boolean {
  return d.status === 'succeeded' || (d.status === 'failed' && d.handled && run.activated.has(s.def.id));
}

/**
 * After `failedId` fails, what depends on it cannot run, except the step its on_failure branch
 * routed to (and what follows from that step).
 */
export function skipAfterFailure(run: RunState, failedId: string): StepState[] {
  const changed: StepState[] = [];
  let frontier = [failedId];
  const seen = new Set<string>();
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const def of run.plan.steps) {
      if (seen.has(def.id) || !def.depends_on.some((d) => frontier.includes(d))) continue;
      const s = run.steps.get(def.id)!;
      const failedDep = def.depends_on.map((d) => run.steps.get(d)!).find((d) => frontier.includes(d.def.id));
      if (failedDep && failedDep.def.id === failedId && satisfies(run, failedDep, s)) continue;
      seen.add(def.id);
      if (s.status === 'pending') {
        s.status = 'skipped';
        changed.push(s);
        next.push(def.id);
      }
    }
    frontier = next;
  }
  return changed;
}

/** Marks a step and everything downstream of it that has not run as skipped (a branch not taken). */
export function skip(run: RunState, id: string): StepState[] {
  const changed: StepState[] = [];
  for (const sid of [id, ...descendantsOf(run.plan.steps, id)]) {
    const s = run.steps.get(sid)!;
    if (s.status === 'pending') {
      s.status = 'skipped';
      changed.push(s);
    }
  }
  return changed;
}

export function expiry(s: StepState): Date | undefined {
  return s.def.deadline_ms !== undefined && s.startedAt ? new Date(s.startedAt.getTime() + s.def.deadline_ms) : undefined;
}

/** Waiting approval steps, with when each expires. */
export function waitingSteps(run: RunState): Array<{ id: string; expiresAt: Date | undefined }> {
  return [...run.steps.values()].filter((s) => s.status === 'waiting').map((s) => ({ id: s.def.id, expiresAt: expiry(s) }));
}

/** The agents that steps wait for now because no instance of them took the call. */
export function awaitedAgents(run: RunState): string[] {
  return [...run.steps.values()].filter((s) => s.status === 'scheduled' && s.unavailableSince).map((s) => s.def.agent);
}

/** Whether any step is still to be sent to `agent`, or is out with it. */
export function usesAgent(run: RunState, agent: string): boolean {
  return [...run.steps.values()].some(
    (s) => s.def.agent === agent && (s.status === 'pending' || s.status === 'running' || s.status === 'scheduled'),
  );
}
