import type { SerializedError } from '../../errors/index.ts';
import type { PlanStep, StepRow } from '../../state/index.ts';
import { descendantsOf } from './graph.ts';

export type StepStatus = 'pending' | 'running' | 'scheduled' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** What the engine knows of one plan step while the workflow runs. */
export interface StepState {
  def: PlanStep;
  status: StepStatus;
  /** The attempt in flight or last finished; 0 before the first. */
  attempt: number;
  /** Attempts before this count toward an earlier run (a resumed failed workflow starts a new budget). */
  budgetStart: number;
  /** Input as sent to the agent, references resolved; kept so a re-sent attempt is identical. */
  input: Record<string, unknown> | undefined;
  output: Record<string, unknown> | undefined;
  decision: string | undefined;
  error: SerializedError | undefined;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
}

export function freshState(steps: readonly PlanStep[]): Map<string, StepState> {
  return new Map(steps.map((def) => [def.id, blank(def)]));
}

function blank(def: PlanStep): StepState {
  return { def, status: 'pending', attempt: 0, budgetStart: 0, input: undefined, output: undefined, decision: undefined, error: undefined, startedAt: undefined, finishedAt: undefined };
}

/**
 * Rebuilds the engine's view from the step rows. A finished attempt is final; an attempt that was
 * running or scheduled is sent again with the same idempotency key. With `reopenFailed`, failed and
 * skipped steps start over with a fresh attempt budget (resuming a failed workflow).
 */
export function stateFromRows(steps: readonly PlanStep[], rows: readonly StepRow[], reopenFailed: boolean): Map<string, StepState> {
  const state = freshState(steps);
  for (const row of rows) {
    const s = state.get(row.step_id);
    if (!s || row.attempt < s.attempt) continue;
    s.attempt = row.attempt;
    s.input = row.input ?? undefined;
    s.startedAt = row.started_at ?? undefined;
    s.finishedAt = row.finished_at ?? undefined;
    s.output = row.output ?? undefined;
    s.error = row.error ?? undefined;
    s.decision = typeof row.output?.decision === 'string' ? row.output.decision : undefined;
    s.status = row.status === 'cancelled' ? 'pending' : row.status;
  }
  for (const s of state.values()) {
    if (reopenFailed && s.status === 'failed') {
      s.status = 'pending';
      s.budgetStart = s.attempt;
      s.error = undefined;
    }
  }
  for (const s of state.values()) {
    if (s.status !== 'failed') continue;
    for (const d of descendantsOf(steps, s.def.id)) {
      const dep = state.get(d)!;
      if (dep.status === 'pending') dep.status = 'skipped';
    }
  }
  return state;
}
