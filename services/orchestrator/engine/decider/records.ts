import type { SerializedError } from '../../../errors/index.ts';
import type { NewDecision, NewEvent, NewStep } from '../../../state/index.ts';
import type { NormalBranch, Outcome } from './branches.ts';
import type { RunState, StepState } from './state.ts';
import type { Command } from './vocabulary.ts';

// What a run writes about itself (attempt rows, event rows and decision rows) and what it sends:
// the dispatch of an attempt.

export const idempotencyKey = (workflowId: string, stepId: string, attempt: number) => `${workflowId}:${stepId}:${attempt}`;

/** The row of an attempt, written before it is sent (or, for a retry, when it is scheduled). */
export function attemptRow(workflowId: string, s: StepState): NewStep {
  const status = s.status === 'waiting' ? 'waiting' : s.status === 'scheduled' ? 'scheduled' : 'running';
  return {
    step_id: s.def.id,
    attempt: s.attempt,
    agent: s.def.agent,
    status,
    input: s.input ?? {},
    idempotency_key: idempotencyKey(workflowId, s.def.id, s.attempt),
  };
}

/** The decision row for a step's outcome: which branch, what it did, and a reason a person can read. */
export function decisionRow(
  s: StepState,
  outcome: Outcome,
  branch: NormalBranch | undefined,
  iteration: number,
  reason?: string,
): NewDecision {
  const action = branch?.action ?? 'continue';
  const target = branch?.action === 'fail' ? null : (branch?.target ?? (branch?.action === 'retry' ? s.def.id : null));
  const text =
    reason ??
    (branch
      ? `${outcome}: ${branch.name} ${action}${target ? ` ${target}` : ''}${iteration ? ` (loop ${iteration} of ${(branch.maxAttempts ?? 1) - 1})` : ''}`
      : `${outcome}: no branch for it, continue`);
  return { step_id: s.def.id, attempt: s.attempt, outcome, branch: branch?.name ?? 'none', action, target, iteration, reason: text };
}

export function startedEvent(s: StepState): NewEvent {
  return s.status === 'waiting'
    ? {
        type: 'approval_requested',
        step_id: s.def.id,
        attempt: s.attempt,
        data: { prompt: s.def.prompt ?? s.def.description ?? null, deadline_ms: s.def.deadline_ms ?? null },
      }
    : { type: 'step_started', step_id: s.def.id, attempt: s.attempt, data: { agent: s.def.agent } };
}

export function skippedEvent(s: StepState, because: string): NewEvent {
  return { type: 'step_skipped', step_id: s.def.id, data: { because } };
}

export function finalEvent(final: { status: string; error: SerializedError | null }): NewEvent {
  return { type: `workflow_${final.status}`, data: final.error ? { error: final.error } : {} };
}

/** The call of a step's attempt, sent after `delayMs`; a waiting approval step is sent to nobody. */
export function dispatchCommand(run: RunState, s: StepState, delayMs: number): Command[] {
  if (s.status === 'waiting') return [];
  return [
    {
      type: 'dispatch',
      step: s.def.id,
      attempt: s.attempt,
      agent: s.def.agent,
      key: idempotencyKey(run.id, s.def.id, s.attempt),
      input: s.input ?? {},
      dependencies: dependencyOutputs(run, s.def.depends_on),
      timeoutMs: s.def.timeout_ms ?? run.defaults.timeoutMs,
      delayMs,
    },
  ];
}

/**
 * The outputs a step is given: its dependencies', and through an approval step, what that step
 * approved (its own dependencies', and so on through gates), since a person's answer is not the
 * work it lets through. A nearer step's output is never replaced by a farther one's.
 */
function dependencyOutputs(run: RunState, dependsOn: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Breadth first: a nearer step is met first, and a farther one never replaces it.
  const queue = [...dependsOn];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    if (id in out) continue;
    const dep = run.steps.get(id)!;
    out[id] = dep.output ?? null;
    if (dep.def.type === 'approval') queue.push(...dep.def.depends_on);
  }
  return out;
}
