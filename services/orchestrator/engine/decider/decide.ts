import { AppError, serializeError, type SerializedError } from '../../../errors/index.ts';
import type { Usage } from '../../../protocol/index.ts';
import type { NewEvent } from '../../../state/index.ts';
import type { Command, DecideEnv, Decision, FinalState, Progress, RunEvent } from './vocabulary.ts';
import { branchFor, hasBranches, loopSet, type NormalBranch, type Outcome } from './branches.ts';
import { budgetError, heldByBudget, overBudget } from './budget.ts';
import { finalIfDone, route, shouldPark, takeReady } from './readiness.ts';
import { attemptRow, decisionRow, dispatchCommand, finalEvent, skippedEvent, startedEvent } from './records.ts';
import {
  addSpend,
  cloneState,
  expiry,
  loopKey,
  retryPolicy,
  skipAfterFailure,
  type RunDefaults,
  type RunState,
  type StepState,
} from './state.ts';

// The engine's decisions as one pure function: (state, event) -> (state, commands). No database, no
// timers, no clock and no randomness of its own (the shell passes `now` and a jitter draw), so every
// branch of the workflow semantics can be tested in microseconds. The shell (workflow-run.ts)
// performs the commands. What goes in and comes out is in vocabulary.ts; where the run stands after
// an event (what is ready, whether it is done or must park) is read by readiness.ts.

/** No instance of the agent took the call: nothing ran, so the attempt waits instead of being used up. */
const UNAVAILABLE = new Set(['AGENT_UNAVAILABLE', 'CIRCUIT_OPEN']);
/** The longest pause between two tries while a step waits for its agent. */
const MAX_UNAVAILABLE_PAUSE_MS = 30_000;

/** The next state and what to do about it. `state` is not changed. */
export function decide(state: RunState, event: RunEvent, env: DecideEnv): Decision {
  if (state.phase !== 'running') return { state, commands: [] };
  const run = cloneState(state);
  const commands = new Decider(run, env).on(event);
  return { state: run, commands };
}

class Decider {
  private readonly run: RunState;
  private readonly env: DecideEnv;
  /** The usage of the attempt this event finished, stored with its row. */
  private usage: Usage | undefined;

  constructor(run: RunState, env: DecideEnv) {
    this.run = run;
    this.env = env;
  }

  on(event: RunEvent): Command[] {
    switch (event.type) {
      case 'start':
        return this.start();
      case 'succeeded': {
        const s = this.inFlight(event.step, event.attempt);
        if (!s) return [];
        s.startedAt ??= event.startedAt;
        this.spend(event.usage);
        return this.succeeded(s, event.output, event.decision, event.durationMs, event.replayed);
      }
      case 'failed': {
        const s = this.inFlight(event.step, event.attempt);
        if (!s) return [];
        if (event.startedAt) s.startedAt ??= event.startedAt;
        this.spend(event.usage);
        return this.failed(s, event.error);
      }
      case 'timed_out': {
        const s = this.inFlight(event.step, event.attempt);
        if (!s) return [];
        s.startedAt ??= event.startedAt;
        return this.failed(s, serializeError(new AppError('STEP_TIMEOUT', `step "${event.step}" took longer than ${event.timeoutMs} ms`)));
      }
      case 'answered': {
        const s = this.run.steps.get(event.step);
        if (!s || s.status !== 'waiting') return [];
        const { now } = this.env;
        const output = {
          decision: event.decision,
          comment: event.comment ?? null,
          answered_at: now.toISOString(),
          summary: `${event.decision}${event.comment ? `: ${event.comment}` : ''}`,
        };
        if (event.decision === 'rejected' && s.def.on_rejection === undefined) {
          // A gate a person turned down holds back what it gates: without an on_rejection branch to
          // say otherwise, the step fails (its answer kept as its output) and its on_failure decides.
          s.output = output;
          s.decision = event.decision;
          return this.failed(s, {
            code: 'APPROVAL_REJECTED',
            message: `step "${s.def.id}" was rejected${event.comment ? `: ${event.comment}` : ''}`,
            retryable: false,
            details: { step_id: s.def.id, comment: event.comment ?? null },
          });
        }
        return this.succeeded(s, output, event.decision, now.getTime() - (s.startedAt?.getTime() ?? now.getTime()), false);
      }
      case 'woke': {
        const due = [...this.run.steps.values()].filter(
          (s) => s.status === 'waiting' && (expiry(s)?.getTime() ?? Infinity) <= this.env.now.getTime(),
        );
        if (due.length === 0) return this.start();
        return due.flatMap((s) =>
          s.status === 'waiting' && this.run.phase === 'running'
            ? this.failed(s, {
                code: 'APPROVAL_EXPIRED',
                message: `nobody answered step "${s.def.id}" within ${s.def.deadline_ms ?? 0} ms`,
                retryable: false,
              })
            : [],
        );
      }
      case 'budget_changed': {
        this.run.plan = { ...this.run.plan, budget: event.budget };
        const ready = takeReady(this.run, this.env.now);
        if (ready.length === 0) return [];
        return this.record({ newSteps: ready.map((r) => attemptRow(this.run.id, r)), events: ready.map(startedEvent) }, ready, undefined);
      }
      case 'cancelled':
        this.run.phase = 'stopped';
        return [{ type: 'stop', status: 'cancelled', reason: event.reason }];
    }
  }

  /** The step, if this is the attempt it has out; a late answer to an earlier attempt changes nothing. */
  private inFlight(stepId: string, attempt: number): StepState | undefined {
    const s = this.run.steps.get(stepId);
    return s && s.attempt === attempt && (s.status === 'running' || s.status === 'scheduled') ? s : undefined;
  }

  private start(): Command[] {
    const resend = [...this.run.steps.values()].filter((s) => s.status === 'running' || s.status === 'scheduled');
    const ready = takeReady(this.run, this.env.now);
    const commands: Command[] = [];
    if (ready.length > 0)
      commands.push({
        type: 'commit',
        progress: { newSteps: ready.map((s) => attemptRow(this.run.id, s)), events: ready.map(startedEvent) },
      });
    commands.push(...[...resend, ...ready].flatMap((s) => dispatchCommand(this.run, s, 0)));
    if (shouldPark(this.run)) return [...commands, ...this.park()];
    if (resend.length === 0 && ready.length === 0) {
      const final = finalIfDone(this.run);
      if (final) commands.push(...this.finish({ final, events: [finalEvent(final)] }, final));
    }
    return commands;
  }

  private succeeded(
    s: StepState,
    output: Record<string, unknown>,
    decision: string | undefined,
    durationMs: number,
    replayed: boolean,
  ): Command[] {
    s.output = output;
    s.decision = decision;
    s.finishedAt = this.env.now;
    s.unavailableSince = undefined;
    const outcome: Outcome = (decision as Outcome | undefined) ?? 'succeeded';
    const event: NewEvent = {
      type: 'step_succeeded',
      step_id: s.def.id,
      attempt: s.attempt,
      data: { agent: s.def.agent, duration_ms: durationMs, ...(replayed ? { replayed: true } : {}), ...(decision ? { decision } : {}) },
    };
    const branch = hasBranches(s.def) ? branchFor(s.def, outcome) : undefined;
    if (branch?.action === 'retry') return this.loop(s, branch, outcome, event);
    if (branch?.action === 'fail') {
      return this.fail(
        s,
        outcome,
        {
          code: 'BRANCH_FAILED',
          message: `step "${s.def.id}" answered ${outcome} and its ${branch.name} branch ends the workflow`,
          retryable: false,
        },
        event,
        branch,
      );
    }
    s.status = 'succeeded';
    const skipped = route(this.run, s, branch);
    const ready = takeReady(this.run, this.env.now);
    const final = finalIfDone(this.run);
    return this.record(
      {
        step: {
          stepId: s.def.id,
          attempt: s.attempt,
          status: 'succeeded',
          output,
          ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          ...this.usageField(),
        },
        newSteps: ready.map((r) => attemptRow(this.run.id, r)),
        decisions: hasBranches(s.def) ? [decisionRow(s, outcome, branch, 0)] : [],
        events: [
          event,
          ...skipped.map((d) => skippedEvent(d, `${s.def.id} did not route here`)),
          ...ready.map(startedEvent),
          ...(final ? [finalEvent(final)] : []),
        ],
      },
      ready,
      final,
    );
  }

  private failed(s: StepState, given: SerializedError): Command[] {
    let error = given;
    const failedAttempt = s.attempt;
    const policy = this.policyOf(s);
    if (UNAVAILABLE.has(error.code) && error.retryable) {
      const since = s.unavailableSince ?? this.env.now;
      const waited = this.env.now.getTime() - since.getTime();
      const limit = this.run.defaults.unavailableTimeoutMs;
      if (waited < limit) return this.awaitAgent(s, error, since, waited);
      error = { ...error, message: `${error.message}; no instance took it for ${waited} ms (AGENT_UNAVAILABLE_TIMEOUT_MS ${limit})` };
    } else s.unavailableSince = undefined;
    if (error.retryable && failedAttempt - s.budgetStart < policy.maxAttempts) {
      // An open breaker says when it will let a call through; retrying sooner would only be refused.
      const retryAfter = Number(error.details?.retry_after_ms ?? 0);
      const delayMs = Math.max(retryAfter, this.backoff(policy, failedAttempt - s.budgetStart - 1));
      const stepRow = {
        stepId: s.def.id,
        attempt: failedAttempt,
        status: 'failed' as const,
        error,
        ...(s.startedAt ? { startedAt: s.startedAt } : {}),
        ...this.usageField(),
      };
      if (overBudget(this.run)) {
        // The retry would be a new dispatch: the step waits, as steps not yet started do, for the budget.
        s.status = 'pending';
        s.startedAt = undefined;
        const held: NewEvent = {
          type: 'step_failed',
          step_id: s.def.id,
          attempt: failedAttempt,
          data: { error, retry_held: 'budget reached' },
        };
        return this.record({ step: stepRow, events: [held] }, [], finalIfDone(this.run));
      }
      s.status = 'scheduled';
      s.attempt += 1;
      s.startedAt = undefined;
      const event: NewEvent = {
        type: 'step_failed',
        step_id: s.def.id,
        attempt: failedAttempt,
        data: { error, retry_in_ms: delayMs, next_attempt: s.attempt },
      };
      return [
        { type: 'commit', progress: { step: stepRow, newSteps: [attemptRow(this.run.id, s)], events: [event] } },
        ...dispatchCommand(this.run, s, delayMs),
      ];
    }
    s.error = error;
    s.finishedAt = this.env.now;
    const event: NewEvent = { type: 'step_failed', step_id: s.def.id, attempt: failedAttempt, data: { error } };
    const branch = hasBranches(s.def) ? branchFor(s.def, 'failed') : undefined;
    if (branch?.action === 'retry') return this.loop(s, branch, 'failed', event);
    return this.fail(s, 'failed', error, event, branch);
  }

  /**
   * No instance of the agent took the attempt: the same attempt (same key) goes again after a pause
   * that grows with each try, until one takes it or AGENT_UNAVAILABLE_TIMEOUT_MS has passed.
   */
  private awaitAgent(s: StepState, error: SerializedError, since: Date, waited: number): Command[] {
    s.unavailableSince = since;
    s.unavailableWaits += 1;
    s.status = 'scheduled';
    const retryAfter = Number(error.details?.retry_after_ms ?? 0);
    const left = this.run.defaults.unavailableTimeoutMs - waited;
    const delayMs = Math.max(
      0,
      Math.min(MAX_UNAVAILABLE_PAUSE_MS, left, Math.max(retryAfter, this.backoff(this.policyOf(s), s.unavailableWaits - 1))),
    );
    const event: NewEvent = {
      type: 'step_waiting_for_agent',
      step_id: s.def.id,
      attempt: s.attempt,
      data: { agent: s.def.agent, error, retry_in_ms: delayMs, waited_ms: waited, timeout_ms: this.run.defaults.unavailableTimeoutMs },
    };
    return [{ type: 'commit', progress: { events: [event] } }, ...dispatchCommand(this.run, s, delayMs)];
  }

  /** The step failed (or its branch said fail). An on_failure route makes the failure handled. */
  private fail(s: StepState, outcome: Outcome, error: SerializedError, event: NewEvent, branch: NormalBranch | undefined): Command[] {
    s.status = 'failed';
    s.error = error;
    s.finishedAt ??= this.env.now;
    if (branch?.action === 'route') s.handled = true;
    const skipped = [...route(this.run, s, branch), ...skipAfterFailure(this.run, s.def.id)];
    const ready = takeReady(this.run, this.env.now);
    const final = finalIfDone(this.run);
    return this.record(
      {
        step: {
          stepId: s.def.id,
          attempt: s.attempt,
          status: 'failed',
          error,
          ...(s.output ? { output: s.output } : {}),
          ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          ...this.usageField(),
        },
        newSteps: ready.map((r) => attemptRow(this.run.id, r)),
        decisions: hasBranches(s.def)
          ? [
              decisionRow(
                s,
                outcome,
                branch ?? { name: 'on_failure', action: 'fail', target: undefined, maxAttempts: undefined },
                0,
                error.message,
              ),
            ]
          : [],
        events: [
          event,
          ...skipped.map((d) => skippedEvent(d, s.def.id)),
          ...ready.map(startedEvent),
          ...(final ? [finalEvent(final)] : []),
        ],
      },
      ready,
      final,
    );
  }

  /** A retry branch: run `target` and everything up to this step again, within max_attempts. */
  private loop(s: StepState, branch: NormalBranch, outcome: Outcome, event: NewEvent): Command[] {
    const key = loopKey(s.def.id, branch.name);
    const taken = this.run.loops.get(key) ?? 0;
    const max = branch.maxAttempts ?? 1;
    if (taken + 1 >= max) {
      const why =
        typeof s.output?.summary === 'string' ? `; last answer: ${s.output.summary}` : s.error ? `; last error: ${s.error.message}` : '';
      const error = {
        code: 'BRANCH_LIMIT_REACHED',
        message: `step "${s.def.id}" answered ${outcome} ${max} times (${branch.name} max_attempts ${max})${why}`,
        retryable: false,
      };
      return this.fail(s, outcome, error, event, { ...branch, action: 'fail' });
    }
    const iteration = taken + 1;
    this.run.loops.set(key, iteration);
    const target = branch.target ?? s.def.id;
    const again = loopSet(this.run.plan, target, s.def.id).map((id) => this.run.steps.get(id)!);
    const supersededOutput = s.output;
    const lastError = s.error;
    for (const r of again) {
      r.previousOutput = r.output ?? r.previousOutput;
      r.output = undefined;
      r.status = 'pending';
    }
    const t = this.run.steps.get(target)!;
    t.feedback = { step: s.def.id, outcome, iteration, output: supersededOutput ?? null, error: lastError ?? null };
    t.budgetStart = t.attempt;
    s.error = undefined;
    const ready = takeReady(this.run, this.env.now);
    // A failure loop waits (exponential backoff with jitter) before going round; a rejection does not.
    const delayMs = outcome === 'failed' ? this.backoff(this.policyOf(s), iteration - 1) : 0;
    return this.record(
      {
        step: {
          stepId: s.def.id,
          attempt: s.attempt,
          status: 'superseded',
          ...(supersededOutput ? { output: supersededOutput } : {}),
          ...(lastError ? { error: lastError } : {}),
          ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          ...this.usageField(),
        },
        supersede: again.map((r) => r.def.id),
        newSteps: ready.map((r) => attemptRow(this.run.id, r)),
        decisions: [decisionRow(s, outcome, branch, iteration)],
        events: [
          event,
          {
            type: 'branch_taken',
            step_id: s.def.id,
            attempt: s.attempt,
            data: { branch: branch.name, action: 'retry', target, iteration, max_attempts: max, delay_ms: delayMs },
          },
          ...ready.map(startedEvent),
        ],
      },
      ready,
      ready.length === 0 ? finalIfDone(this.run) : undefined,
      delayMs,
    );
  }

  /** One commit for the outcome, then the final status, the steps it made ready, or parking. */
  private record(progress: Progress, ready: StepState[], final: FinalState | undefined, delayMs = 0): Command[] {
    if (final) return this.finish({ ...progress, final }, final);
    if (shouldPark(this.run))
      return [{ type: 'commit', progress }, ...ready.flatMap((r) => dispatchCommand(this.run, r, delayMs)), ...this.park()];
    const linger = ready.length === 0 && !progress.supersede?.length && [...this.run.steps.values()].some((s) => s.status === 'running');
    return [{ type: 'commit', progress, ...(linger ? { linger } : {}) }, ...ready.flatMap((r) => dispatchCommand(this.run, r, delayMs))];
  }

  private finish(progress: Progress, final: FinalState): Command[] {
    this.run.phase = 'finished';
    // Steps the budget held back will not run: the log says so before the final event, as for a branch not taken.
    const held = [...this.run.steps.values()].filter((s) => s.status === 'pending');
    for (const s of held) s.status = 'skipped';
    const last = finalEvent(final).type;
    const events = progress.events ?? [];
    const ordered = [
      ...events.filter((e) => e.type !== last),
      ...held.map((s) => skippedEvent(s, 'budget reached')),
      ...events.filter((e) => e.type === last),
    ];
    return [
      { type: 'commit', progress: { ...progress, events: ordered, final } },
      { type: 'finish', final },
    ];
  }

  private spend(usage: Usage | undefined): void {
    this.usage = usage?.length ? usage : undefined;
    this.run.spent = addSpend(this.run.spent, this.usage);
  }

  private usageField(): { usage?: Usage } {
    return this.usage ? { usage: this.usage } : {};
  }

  /** Releases the workflow: nothing runs and only a person can move it on (or a deadline). */
  private park(): Command[] {
    this.run.phase = 'parked';
    const waiting = [...this.run.steps.values()].filter((s) => s.status === 'waiting');
    const deadlines = waiting.map((w) => expiry(w)?.getTime()).filter((t): t is number => t !== undefined);
    const wakeAt = deadlines.length > 0 ? new Date(Math.min(...deadlines)) : null;
    const held = heldByBudget(this.run);
    // Parked at its budget: the error says what was spent and what waits, as a failure would.
    const budget = held.length > 0 ? { budget: budgetError(this.run, held) } : {};
    return [
      {
        type: 'commit',
        progress: {
          park: { wakeAt },
          events: [
            {
              type: 'workflow_waiting',
              data: { steps: waiting.map((w) => w.def.id), wake_at: wakeAt?.toISOString() ?? null, ...budget },
            },
          ],
        },
      },
      { type: 'park', wakeAt },
    ];
  }

  private policyOf(s: StepState): RunDefaults {
    return retryPolicy(s, this.run.defaults);
  }

  /** Exponential backoff with jitter: half to one and a half times backoffMs * rate^n. */
  private backoff(policy: RunDefaults, n: number): number {
    return Math.round(policy.backoffMs * policy.backoffRate ** n * (0.5 + this.env.jitter));
  }
}
