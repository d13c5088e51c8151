import type { SerializedError } from '../../../errors/index.ts';
import type { RunState, StepState } from './state.ts';

// A run's budget as the decider reads it: the spend is the stored attempts' (state.ts rebuilds it
// from their rows), so what these say holds on whichever orchestrator drives the run.

/** Whether the run has spent its budget: from here on nothing new is dispatched. */
export function overBudget(run: RunState): boolean {
  const b = run.plan.budget;
  if (!b) return false;
  return (b.usd !== undefined && run.spent.usd >= b.usd) || (b.tokens !== undefined && run.spent.tokens >= b.tokens);
}

/**
 * The steps the budget holds back once nothing runs any more (running steps finish first, and a
 * waiting approval still parks the run as usual): they wait for a raise, or the run fails.
 */
export function heldByBudget(run: RunState): StepState[] {
  if (!overBudget(run)) return [];
  const states = [...run.steps.values()];
  if (states.some((s) => s.status === 'running' || s.status === 'scheduled' || s.status === 'waiting')) return [];
  return states.filter((s) => s.status === 'pending');
}

/** BUDGET_EXCEEDED, naming the spend, the limit and what was not dispatched. */
export function budgetError(run: RunState, held: StepState[]): SerializedError {
  const b = run.plan.budget ?? {};
  const { usd, tokens } = run.spent;
  const limits = [
    ...(b.usd !== undefined ? [`$${b.usd} (spent $${usd})`] : []),
    ...(b.tokens !== undefined ? [`${b.tokens} tokens (used ${tokens})`] : []),
  ];
  return {
    code: 'BUDGET_EXCEEDED',
    message: `the run reached its budget of ${limits.join(' and ')}; not dispatched: ${held.map((s) => s.def.id).join(', ')}`,
    retryable: false,
    details: { spent: { usd, tokens }, budget: { ...b }, held_steps: held.map((s) => s.def.id) },
  };
}
