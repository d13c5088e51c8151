import { resolveInput } from '../input-refs.ts';
import type { NormalBranch } from './branches.ts';
import { budgetError, heldByBudget, overBudget } from './budget.ts';
import { satisfies, skip, type RunState, type StepState } from './state.ts';
import type { FinalState } from './vocabulary.ts';

// Where a run stands, read from its state: which steps may start now, whether it is done, whether
// only a person can move it on. decide.ts asks these after each event and turns the answers into
// commands; nothing here writes a record or a command.

const ACTIVE = new Set(['pending', 'running', 'scheduled', 'waiting']);

/** Marks the steps that can start now, with their inputs resolved from what succeeded. */
export function takeReady(run: RunState, now: Date): StepState[] {
  const ready: StepState[] = [];
  if (overBudget(run)) return ready;
  let outputs: Map<string, unknown> | undefined;
  for (const s of run.steps.values()) {
    if (s.status !== 'pending') continue;
    if (run.gated.has(s.def.id) && !run.activated.has(s.def.id)) continue;
    if (!s.def.depends_on.every((d) => satisfies(run, run.steps.get(d)!, s))) continue;
    outputs ??= new Map([...run.steps].filter(([, d]) => d.status === 'succeeded').map(([id, d]) => [id, d.output]));
    s.status = s.def.type === 'approval' ? 'waiting' : 'running';
    s.attempt += 1;
    const input = resolveInput(s.def.input, outputs);
    s.input = s.feedback ? { ...input, feedback: s.feedback, previous_output: s.previousOutput ?? null } : input;
    s.feedback = undefined;
    s.startedAt = now;
    ready.push(s);
  }
  return ready;
}

/** Switches on the gated step the branch routes to; the step's other gated targets will not run. */
export function route(run: RunState, s: StepState, branch: NormalBranch | undefined): StepState[] {
  const skipped: StepState[] = [];
  for (const [target, source] of run.gated) {
    if (source !== s.def.id) continue;
    if (branch?.action === 'route' && branch.target === target) run.activated.add(target);
    else skipped.push(...skip(run, target));
  }
  return skipped;
}

/** How the run ends, once nothing is left to run (or its budget holds steps back). */
export function finalIfDone(run: RunState): FinalState | undefined {
  const states = [...run.steps.values()];
  const held = heldByBudget(run);
  if (held.length > 0) return run.plan.budget?.on_budget === 'wait' ? undefined : { status: 'failed', error: budgetError(run, held) };
  if (states.some((s) => ACTIVE.has(s.status))) return undefined;
  const failed = states.filter((s) => s.status === 'failed' && !s.handled);
  if (failed.length === 0) return { status: 'succeeded', error: null };
  const skipped = states.filter((s) => s.status === 'skipped').map((s) => s.def.id);
  const message = failed.map((s) => `step "${s.def.id}" (${s.def.agent}) failed: ${s.error?.message ?? 'unknown error'}`).join('; ');
  return {
    status: 'failed',
    error: {
      code: 'STEPS_FAILED',
      message,
      retryable: false,
      details: { failed_steps: failed.map((s) => s.def.id), skipped_steps: skipped },
    },
  };
}

/** Only people can move it on: nothing runs, and some approval step waits (or the budget holds it). */
export function shouldPark(run: RunState): boolean {
  const states = [...run.steps.values()];
  if (run.plan.budget?.on_budget === 'wait' && heldByBudget(run).length > 0) return true;
  return states.some((s) => s.status === 'waiting') && !states.some((s) => s.status === 'running' || s.status === 'scheduled');
}
