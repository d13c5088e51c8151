import { describe, expect, it } from 'vitest';
import { decide, freshState, stateFromRows, type Command, type RunState } from '../../../services/orchestrator/engine/decider/index.ts';
import { normalizePlan } from '../../../services/orchestrator/engine/index.ts';
import type { Usage } from '../../../services/protocol/index.ts';
import type { Budget, PlanStepInput, StepRow } from '../../../services/state/index.ts';

// Budgets against the decider alone: what it dispatches, commits and ends with as the spend grows.

const defaults = { timeoutMs: 1_000, maxAttempts: 3, backoffMs: 100, backoffRate: 2, unavailableTimeoutMs: 60_000 };
const T0 = new Date('2026-12-01T12:00:00Z');
const env = { now: T0, jitter: 0.5 };

/** One model call's worth: `tokens` split 3:1 into prompt and completion, at $1 per token-thousand for the test. */
const used = (tokens: number, usd: number | null = tokens / 1000): Usage => [
  { model: 'm', prompt_tokens: (tokens * 3) / 4, completion_tokens: tokens / 4, calls: 1, cost_usd: usd },
];

function planned(steps: Array<Partial<PlanStepInput> & { id: string }>, budget: Budget): RunState {
  const plan = normalizePlan({ steps: steps.map((s) => ({ agent: 'llm', ...s })) });
  return freshState('wf', { ...plan, budget }, defaults);
}

/** Feeds events through decide, keeping the state; returns what each answered. */
function driver(initial: RunState) {
  let state = initial;
  const send = (event: Parameters<typeof decide>[1]) => {
    const d = decide(state, event, env);
    state = d.state;
    return d.commands;
  };
  const attempt = (step: string) => state.steps.get(step)!.attempt;
  return {
    get state() {
      return state;
    },
    start: () => send({ type: 'start' }),
    ok: (step: string, usage?: Usage) =>
      send({ type: 'succeeded', step, attempt: attempt(step), output: {}, durationMs: 1, replayed: false, startedAt: T0, usage }),
    fail: (step: string, usage?: Usage) =>
      send({ type: 'failed', step, attempt: attempt(step), error: { code: 'AGENT_ERROR', message: 'broke', retryable: true }, usage }),
    raise: (budget: Budget) => send({ type: 'budget_changed', budget }),
  };
}

const dispatched = (cmds: Command[]) => cmds.flatMap((c) => (c.type === 'dispatch' ? [c.step] : []));
const final = (cmds: Command[]) => cmds.flatMap((c) => (c.type === 'finish' ? [c.final] : []))[0];
const stepRows = (cmds: Command[]) => cmds.flatMap((c) => (c.type === 'commit' && c.progress.step ? [c.progress.step] : []));

const chain = [{ id: 'a' }, { id: 'b', depends_on: ['a'] }, { id: 'c', depends_on: ['b'] }];

/** Step a's stored attempt `attempt`, as the engine reads it back when it takes a run up. */
const rowOfA = (attempt: number, r: Pick<StepRow, 'status' | 'output' | 'error' | 'usage'>): StepRow => ({
  workflow_id: 'wf',
  step_id: 'a',
  attempt,
  agent: 'llm',
  input: {},
  idempotency_key: `wf:a:${attempt}`,
  created_at: T0,
  started_at: T0,
  finished_at: T0,
  start_seq: 1,
  end_seq: 2,
  duration_ms: 1,
  replayed: false,
  ...r,
});

describe('decider: budgets', () => {
  it('stores each attempt’s usage with its result and adds it to the spend', () => {
    const r = driver(planned(chain, { tokens: 1_000 }));
    r.start();
    const cmds = r.ok('a', used(100));
    expect(stepRows(cmds)).toEqual([expect.objectContaining({ stepId: 'a', status: 'succeeded', usage: used(100) })]);
    expect(r.state.spent).toEqual({ tokens: 100, usd: 0.1 });
    expect(dispatched(cmds)).toEqual(['b']);
  });

  it('dispatches nothing once the tokens are spent and fails the run naming spend, limit and the held steps', () => {
    const r = driver(planned(chain, { tokens: 200 }));
    r.start();
    expect(dispatched(r.ok('a', used(120)))).toEqual(['b']);
    const cmds = r.ok('b', used(80));
    expect(dispatched(cmds)).toEqual([]);
    expect(final(cmds)).toEqual({
      status: 'failed',
      error: {
        code: 'BUDGET_EXCEEDED',
        message: 'the run reached its budget of 200 tokens (used 200); not dispatched: c',
        retryable: false,
        details: { spent: { usd: 0.2, tokens: 200 }, budget: { tokens: 200 }, held_steps: ['c'] },
      },
    });
    // The held step is skipped in the same commit, before the final event.
    const events = cmds.flatMap((c) => (c.type === 'commit' ? (c.progress.events ?? []) : [])).map((e) => `${e.type} ${e.step_id ?? ''}`);
    expect(events.slice(-2)).toEqual(['step_skipped c', 'workflow_failed ']);
  });

  it('counts USD only where a price is known; unknown costs spend tokens alone', () => {
    const r = driver(planned(chain, { usd: 0.15 }));
    r.start();
    r.ok('a', used(100, null));
    expect(r.state.spent).toEqual({ tokens: 100, usd: 0 });
    expect(dispatched(r.ok('b', used(100)))).toEqual(['c']);
    expect(final(r.ok('c', used(100)))).toEqual({ status: 'succeeded', error: null });
  });

  it('lets running steps finish when the budget is reached, and ends only when they have', () => {
    const r = driver(planned([{ id: 'a' }, { id: 'b' }, { id: 'c', depends_on: ['a'] }], { tokens: 50 }));
    expect(dispatched(r.start())).toEqual(['a', 'b']);
    const afterA = r.ok('a', used(60));
    expect(dispatched(afterA)).toEqual([]);
    expect(final(afterA)).toBeUndefined();
    const afterB = r.ok('b', used(40));
    expect(stepRows(afterB)[0]).toMatchObject({ stepId: 'b', usage: used(40) });
    expect(final(afterB)?.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { held_steps: ['c'], spent: { tokens: 100 } } });
  });

  it('a failed attempt’s usage counts, and its retry is not dispatched past the budget', () => {
    const r = driver(planned(chain, { tokens: 100 }));
    r.start();
    const cmds = r.fail('a', used(100));
    expect(stepRows(cmds)).toEqual([expect.objectContaining({ stepId: 'a', status: 'failed', usage: used(100) })]);
    expect(dispatched(cmds)).toEqual([]);
    expect(final(cmds)?.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { held_steps: ['a', 'b', 'c'] } });
  });

  it('with on_budget: wait it parks instead, and a raised budget dispatches what was held', () => {
    const r = driver(planned(chain, { tokens: 100, on_budget: 'wait' }));
    r.start();
    const parked = r.ok('a', used(100));
    expect(parked.map((c) => c.type)).toEqual(['commit', 'commit', 'park']);
    const waiting = parked
      .flatMap((c) => (c.type === 'commit' ? (c.progress.events ?? []) : []))
      .find((e) => e.type === 'workflow_waiting');
    expect(waiting?.data).toMatchObject({ steps: [], budget: { code: 'BUDGET_EXCEEDED', details: { held_steps: ['b', 'c'] } } });
    // Taken up again (as the engine does after POST /tasks/:id/budget) from the stored rows, with the new budget.
    const rows = [rowOfA(1, { status: 'succeeded', output: {}, error: null, usage: used(100) })];
    const stillSpent = driver(stateFromRows('wf', r.state.plan, defaults, rows, [], false));
    expect(stillSpent.state.spent).toEqual({ tokens: 100, usd: 0.1 });
    expect(stillSpent.start().map((c) => c.type)).toEqual(['commit', 'park']);
    const raised = driver(
      stateFromRows('wf', { ...r.state.plan, budget: { tokens: 1_000, on_budget: 'wait' } }, defaults, rows, [], false),
    );
    expect(dispatched(raised.start())).toEqual(['b']);
  });

  it('with on_budget: wait a retry the budget held goes out once it is raised, also when taken up from the stored rows', () => {
    const r = driver(planned(chain, { tokens: 100, on_budget: 'wait' }));
    r.start();
    const parked = r.fail('a', used(100));
    expect(stepRows(parked)).toEqual([expect.objectContaining({ stepId: 'a', attempt: 1, status: 'failed' })]);
    expect(dispatched(parked)).toEqual([]);
    expect(parked.map((c) => c.type)).toContain('park');
    // A parked run is taken up from its rows (POST /tasks/:id/budget on any replica, or after a crash):
    // the failed attempt with retries left is a held retry, not a failed step.
    const rows = [
      rowOfA(1, { status: 'failed', output: null, error: { code: 'AGENT_ERROR', message: 'broke', retryable: true }, usage: used(100) }),
    ];
    const stillHeld = driver(stateFromRows('wf', r.state.plan, defaults, rows, [], false));
    expect(stillHeld.state.steps.get('a')!.status).toBe('pending');
    expect(stillHeld.start().map((c) => c.type)).toEqual(['commit', 'park']);
    const raised = driver(
      stateFromRows('wf', { ...r.state.plan, budget: { tokens: 1_000, on_budget: 'wait' } }, defaults, rows, [], false),
    );
    const resumed = raised.start();
    expect(dispatched(resumed)).toEqual(['a']);
    expect(raised.state.steps.get('a')!.attempt).toBe(2);
    // Its retries are still counted: attempts 2 and 3 are what is left of max_attempts 3.
    raised.fail('a');
    expect(raised.state.steps.get('a')!.attempt).toBe(3);
    const last = raised.fail('a');
    expect(final(last)?.error).toMatchObject({ code: 'STEPS_FAILED' });
  });

  it('a failed attempt stored with no retries left, or not retryable, is still a failed step when rebuilt', () => {
    const row = (attempt: number, retryable: boolean) =>
      rowOfA(attempt, { status: 'failed', output: null, error: { code: 'AGENT_ERROR', message: 'broke', retryable }, usage: null });
    const plan = planned(chain, { tokens: 100 }).plan;
    expect(stateFromRows('wf', plan, defaults, [row(3, true)], [], false).steps.get('a')!.status).toBe('failed');
    expect(stateFromRows('wf', plan, defaults, [row(1, false)], [], false).steps.get('a')!.status).toBe('failed');
  });

  it('a budget changed while the run is driven here applies at once', () => {
    const r = driver(planned([{ id: 'a' }, { id: 'b' }, { id: 'c', depends_on: ['a'] }], { tokens: 50 }));
    r.start();
    r.ok('a', used(60));
    expect(r.state.steps.get('c')!.status).toBe('pending');
    expect(dispatched(r.raise({ tokens: 500 }))).toEqual(['c']);
    expect(r.state.plan.budget).toEqual({ tokens: 500 });
  });
});
