import { context, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { AppError, serializeError, type SerializedError } from '../../errors/index.ts';
import type { NewEvent, NewStep, Plan, Queryable, store } from '../../state/index.ts';
import { contextFrom, tracer } from '../../telemetry/index.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { AgentReply, AgentTransport } from '../transport/index.ts';
import { branchFor, gatedSteps, hasBranches, loopSet, type NormalBranch, type Outcome } from './branches.ts';
import { CheckpointWriter, type Progress } from './checkpoint-writer.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import { resolveInput } from './input-refs.ts';
import { decisionRow, expiry, finalEvent, skippedEvent, startedEvent } from './run-records.ts';
import { loopKey, satisfies, skip, skipAfterFailure, type RunState, type StepState } from './step-state.ts';

export interface RunDefaults {
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffRate: number;
}

export interface RunDeps {
  db: Queryable;
  transport: AgentTransport;
  lease: store.Lease;
  defaults: RunDefaults;
  metrics: EngineMetrics;
  notifier: WorkflowNotifier;
  log: FastifyBaseLogger;
}

type FinalState = { status: 'succeeded' | 'failed'; error: SerializedError | null };
type StepProgress = Omit<Progress, 'final'> & { final?: FinalState };

export type OutcomeStatus = 'succeeded' | 'failed' | 'cancelled' | 'abandoned' | 'waiting';

export interface StepResult {
  step_id: string;
  agent: string;
  status: string;
  attempts: number;
  output?: Record<string, unknown>;
  error?: SerializedError;
}

export interface WorkflowOutcome {
  status: OutcomeStatus;
  error: SerializedError | null;
  /** In plan order, whatever order the steps finished in. */
  results: StepResult[];
}

const idempotencyKey = (workflowId: string, stepId: string, attempt: number) => `${workflowId}:${stepId}:${attempt}`;
const ACTIVE = new Set(['pending', 'running', 'scheduled', 'waiting']);

/**
 * One workflow being driven by this orchestrator. Steps are dispatched as soon as their dependencies
 * succeed; each finished attempt is one commit (store.commitProgress) that also writes the rows of
 * the attempts it unblocks and the branch decision, so the only round trip per step is the one the
 * recovery rules need. Branches and approvals: ARCHITECTURE.md beside this file.
 */
export class WorkflowRun {
  readonly done: Promise<WorkflowOutcome>;
  private resolveDone!: (o: WorkflowOutcome) => void;
  private readonly abort = new AbortController();
  private readonly commits = new Map<string, Promise<boolean>>();
  private readonly writer: CheckpointWriter;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly deps: RunDeps;
  readonly id: string;
  private readonly plan: Plan;
  private readonly description: string | undefined;
  private readonly run: RunState;
  private readonly steps: Map<string, StepState>;
  private readonly gated: Map<string, string>;
  private readonly startedAt: Date;
  private readonly traceParent: string | null;
  /** The workflow's span, when it started in this process; steps hang under traceParent either way. */
  private readonly span: Span | undefined;

  constructor(init: { deps: RunDeps; id: string; plan: Plan; description: string | undefined; state: RunState; startedAt: Date; traceParent?: string | null; span?: Span }) {
    this.deps = init.deps;
    this.id = init.id;
    this.plan = init.plan;
    this.description = init.description;
    this.run = init.state;
    this.steps = init.state.steps;
    this.gated = gatedSteps(init.plan);
    this.startedAt = init.startedAt;
    this.traceParent = init.traceParent ?? null;
    this.span = init.span;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const d = init.deps;
    this.writer = new CheckpointWriter({
      db: d.db, workflowId: init.id, lease: d.lease, notifier: d.notifier, log: d.log,
      onLost: (reason) => this.stop('abandoned', reason),
      isStopped: () => this.stopped,
    });
  }

  /** Sends what was in flight again (same keys), starts what is ready, parks, or finishes. */
  async start(): Promise<void> {
    const resend = [...this.steps.values()].filter((s) => s.status === 'running' || s.status === 'scheduled');
    const ready = this.takeReady();
    if (ready.length > 0) {
      const ok = await this.commit({ newSteps: ready.map((s) => this.newStep(s)), events: ready.map((s) => startedEvent(s)) });
      if (!ok) return;
    }
    for (const s of [...resend, ...ready]) this.dispatch(s);
    if (this.shouldPark()) return this.park();
    if (resend.length === 0 && ready.length === 0) {
      const final = this.finalIfDone();
      if (final && (await this.commit({ final, events: [finalEvent(final)] }))) this.finish(final);
    }
  }

  /** Marks the steps that can start now and returns their rows, for a caller that writes them itself. */
  takeReadyAttempts(): { steps: NewStep[]; events: NewEvent[] } {
    const ready = this.takeReady();
    return { steps: ready.map((s) => this.newStep(s)), events: ready.map((s) => startedEvent(s)) };
  }

  /** A person's answer to a waiting approval step; it drives the step's branches like any outcome. */
  answer(stepId: string, decision: 'approved' | 'rejected', comment: string | undefined): Promise<boolean> {
    const s = this.waitingStep(stepId);
    const output = { decision, comment: comment ?? null, answered_at: new Date().toISOString(), summary: `${decision}${comment ? `: ${comment}` : ''}` };
    return this.onSuccess(s, { output, decision, replayed: false }, Date.now() - (s.startedAt?.getTime() ?? Date.now()));
  }

  /** The deadline of a waiting approval step passed with no answer. */
  expire(stepId: string): Promise<boolean> {
    const s = this.waitingStep(stepId);
    return this.onFailure(s, { code: 'APPROVAL_EXPIRED', message: `nobody answered step "${stepId}" within ${s.def.deadline_ms ?? 0} ms`, retryable: false });
  }

  /** Whether any step of this workflow is still to be sent to `agent` (or is out with it). */
  uses(agent: string): boolean {
    return [...this.steps.values()].some((s) => s.def.agent === agent && (s.status === 'pending' || s.status === 'running' || s.status === 'scheduled'));
  }

  /** Waiting approval steps, with when each expires. */
  waitingSteps(): Array<{ id: string; expiresAt: Date | undefined }> {
    return [...this.steps.values()].filter((s) => s.status === 'waiting').map((s) => ({ id: s.def.id, expiresAt: expiry(s) }));
  }

  /** Stops driving the workflow here: in-flight calls are aborted and their results dropped. */
  stop(status: 'cancelled' | 'abandoned' | 'waiting', reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.abort.abort(new AppError('CANCELLED', reason));
    const error = status === 'waiting' ? null : { code: status === 'cancelled' ? 'CANCELLED' : 'LEASE_LOST', message: reason, retryable: false };
    this.span?.setAttribute('mesh.outcome', status);
    this.span?.end();
    this.resolveDone({ status, error, results: this.results() });
  }

  results(): StepResult[] {
    return this.plan.steps.map((def) => {
      const s = this.steps.get(def.id)!;
      return { step_id: def.id, agent: def.agent, status: s.status, attempts: s.attempt, ...(s.output ? { output: s.output } : {}), ...(s.error ? { error: s.error } : {}) };
    });
  }

  private waitingStep(stepId: string): StepState {
    const s = this.steps.get(stepId);
    if (!s || s.def.type !== 'approval') throw new AppError('VALIDATION_FAILED', `workflow ${this.id} has no approval step "${stepId}"`);
    if (s.status !== 'waiting') throw new AppError('WORKFLOW_BUSY', `approval step "${stepId}" is ${s.status}, not waiting for an answer`);
    return s;
  }

  private takeReady(): StepState[] {
    const ready: StepState[] = [];
    for (const s of this.steps.values()) {
      if (s.status !== 'pending') continue;
      if (this.gated.has(s.def.id) && !this.run.activated.has(s.def.id)) continue;
      if (!s.def.depends_on.every((d) => satisfies(this.run, this.steps.get(d)!, s))) continue;
      s.status = s.def.type === 'approval' ? 'waiting' : 'running';
      s.attempt += 1;
      const input = resolveInput(s.def.input, this.outputs());
      s.input = s.feedback ? { ...input, feedback: s.feedback, previous_output: s.previousOutput ?? null } : input;
      s.feedback = undefined;
      s.startedAt = new Date();
      ready.push(s);
    }
    return ready;
  }

  private outputs(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const [id, s] of this.steps) if (s.status === 'succeeded') out.set(id, s.output);
    return out;
  }

  private newStep(s: StepState): NewStep {
    const status = s.status === 'waiting' ? 'waiting' : s.status === 'scheduled' ? 'scheduled' : 'running';
    return { step_id: s.def.id, attempt: s.attempt, agent: s.def.agent, status, input: s.input ?? {}, idempotency_key: idempotencyKey(this.id, s.def.id, s.attempt) };
  }

  private dispatch(s: StepState): void {
    if (s.status === 'waiting') return;
    // A step goes out only once the results it depends on are durable.
    const upstream = s.def.depends_on.map((d) => this.commits.get(d)).filter((p) => p !== undefined);
    void Promise.all(upstream).then(() => this.call(s));
  }

  private async call(s: StepState): Promise<void> {
    if (this.stopped) return;
    s.status = 'running';
    s.startedAt ??= new Date();
    const attempt = s.attempt;
    const timeoutMs = s.def.timeout_ms ?? this.deps.defaults.timeoutMs;
    // A timer cleared when the call ends: AbortSignal.timeout would keep every deadline (minutes
    // long) alive in memory at hundreds of calls a second.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const started = performance.now();
    const agent = s.def.agent;
    // One span per attempt, under the workflow's span wherever and whenever the workflow started.
    const parent = this.traceParent ? contextFrom({ traceparent: this.traceParent }) : context.active();
    const span = tracer().startSpan(`step ${s.def.id}`, { attributes: { 'mesh.task_id': this.id, 'mesh.step': s.def.id, 'mesh.agent': agent, 'mesh.attempt': attempt } }, parent);
    let reply: AgentReply;
    try {
      reply = await context.with(trace.setSpan(parent, span), () => this.deps.transport.call(
        agent,
        {
          idempotency_key: idempotencyKey(this.id, s.def.id, attempt),
          task_id: this.id,
          step_id: s.def.id,
          attempt,
          input: s.input ?? {},
          context: { ...(this.description ? { description: this.description } : {}), dependencies: this.dependencyOutputs(s) },
          timeout_ms: timeoutMs,
        },
        AbortSignal.any([this.abort.signal, deadline.signal]),
      ));
    } catch (err) {
      span.setAttribute('mesh.outcome', deadline.signal.aborted ? 'timeout' : 'failed');
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.end();
      if (this.stopped) return;
      const timedOut = deadline.signal.aborted;
      const error = timedOut ? new AppError('STEP_TIMEOUT', `step "${s.def.id}" took longer than ${timeoutMs} ms`) : err;
      this.deps.metrics.agentCalls.inc({ agent, status: timedOut ? 'timeout' : 'failed' });
      this.deps.metrics.agentCallDuration.observe({ agent }, (performance.now() - started) / 1000);
      void this.onFailure(s, serializeError(error));
      return;
    } finally {
      clearTimeout(timer);
    }
    span.setAttribute('mesh.outcome', reply.decision ?? 'succeeded');
    span.end();
    this.deps.metrics.agentCalls.inc({ agent, status: 'succeeded' });
    this.deps.metrics.agentCallDuration.observe({ agent }, (performance.now() - started) / 1000);
    if (this.stopped) return;
    void this.onSuccess(s, reply, Math.round(performance.now() - started));
  }

  private dependencyOutputs(s: StepState): Record<string, unknown> {
    return Object.fromEntries(s.def.depends_on.map((d) => [d, this.steps.get(d)!.output ?? null]));
  }

  private onSuccess(s: StepState, reply: AgentReply, durationMs: number): Promise<boolean> {
    s.output = reply.output;
    s.decision = reply.decision;
    s.finishedAt = new Date();
    const outcome: Outcome = reply.decision ?? 'succeeded';
    const event: NewEvent = { type: 'step_succeeded', step_id: s.def.id, attempt: s.attempt, data: { agent: s.def.agent, duration_ms: durationMs, ...(reply.replayed ? { replayed: true } : {}), ...(reply.decision ? { decision: reply.decision } : {}) } };
    const branch = hasBranches(s.def) ? branchFor(s.def, outcome) : undefined;
    if (branch?.action === 'retry') return this.loop(s, branch, outcome, event);
    if (branch?.action === 'fail') {
      return this.fail(s, outcome, { code: 'BRANCH_FAILED', message: `step "${s.def.id}" answered ${outcome} and its ${branch.name} branch ends the workflow`, retryable: false }, event, branch);
    }
    s.status = 'succeeded';
    const skipped = this.route(s, branch);
    const ready = this.takeReady();
    const final = this.finalIfDone();
    return this.record(s, {
      step: { stepId: s.def.id, attempt: s.attempt, status: 'succeeded', output: reply.output, ...(s.startedAt ? { startedAt: s.startedAt } : {}) },
      checkpoint: { [s.def.id]: reply.output },
      newSteps: ready.map((r) => this.newStep(r)),
      decisions: hasBranches(s.def) ? [decisionRow(s, outcome, branch, 0)] : [],
      events: [event, ...skipped.map((d) => skippedEvent(d, `${s.def.id} did not route here`)), ...ready.map((r) => startedEvent(r)), ...(final ? [finalEvent(final)] : [])],
      ...(final ? { final } : {}),
    }, ready);
  }

  private onFailure(s: StepState, error: SerializedError): Promise<boolean> {
    const failedAttempt = s.attempt;
    const policy = this.policyOf(s);
    if (error.retryable && failedAttempt - s.budgetStart < policy.maxAttempts) {
      // An open breaker says when it will let a call through; retrying sooner would only be refused.
      const retryAfter = Number(error.details?.retry_after_ms ?? 0);
      const delayMs = Math.max(retryAfter, Math.round(policy.backoffMs * policy.backoffRate ** (failedAttempt - s.budgetStart - 1) * (0.5 + Math.random())));
      const stepRow = { stepId: s.def.id, attempt: failedAttempt, status: 'failed' as const, error, ...(s.startedAt ? { startedAt: s.startedAt } : {}) };
      s.status = 'scheduled';
      s.attempt += 1;
      s.startedAt = undefined;
      const event: NewEvent = { type: 'step_failed', step_id: s.def.id, attempt: failedAttempt, data: { error, retry_in_ms: delayMs, next_attempt: s.attempt } };
      return this.record(s, { step: stepRow, newSteps: [this.newStep(s)], events: [event] }, []).then((ok) => {
        if (!ok || this.stopped) return ok;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          void this.call(s);
        }, delayMs);
        this.timers.add(timer);
        return ok;
      });
    }
    s.error = error;
    s.finishedAt = new Date();
    const event: NewEvent = { type: 'step_failed', step_id: s.def.id, attempt: failedAttempt, data: { error } };
    const branch = hasBranches(s.def) ? branchFor(s.def, 'failed') : undefined;
    if (branch?.action === 'retry') return this.loop(s, branch, 'failed', event);
    return this.fail(s, 'failed', error, event, branch);
  }

  /** The step failed (or its branch said fail). An on_failure route makes the failure handled. */
  private fail(s: StepState, outcome: Outcome, error: SerializedError, event: NewEvent, branch: NormalBranch | undefined): Promise<boolean> {
    s.status = 'failed';
    s.error = error;
    s.finishedAt ??= new Date();
    if (branch?.action === 'route') s.handled = true;
    const skipped = [...this.route(s, branch), ...skipAfterFailure(this.plan, this.run, s.def.id)];
    const ready = this.takeReady();
    const final = this.finalIfDone();
    return this.record(s, {
      step: { stepId: s.def.id, attempt: s.attempt, status: 'failed', error, ...(s.output ? { output: s.output } : {}), ...(s.startedAt ? { startedAt: s.startedAt } : {}) },
      newSteps: ready.map((r) => this.newStep(r)),
      decisions: hasBranches(s.def) ? [decisionRow(s, outcome, branch ?? { name: 'on_failure', action: 'fail', target: undefined, maxAttempts: undefined }, 0, error.message)] : [],
      events: [event, ...skipped.map((d) => skippedEvent(d, s.def.id)), ...ready.map((r) => startedEvent(r)), ...(final ? [finalEvent(final)] : [])],
      ...(final ? { final } : {}),
    }, ready);
  }

  /** A retry branch: run `target` and everything up to this step again, within max_attempts. */
  private loop(s: StepState, branch: NormalBranch, outcome: Outcome, event: NewEvent): Promise<boolean> {
    const key = loopKey(s.def.id, branch.name);
    const taken = this.run.loops.get(key) ?? 0;
    const max = branch.maxAttempts ?? 1;
    if (taken + 1 >= max) {
      const why = typeof s.output?.summary === 'string' ? `; last answer: ${s.output.summary}` : s.error ? `; last error: ${s.error.message}` : '';
      const error = { code: 'BRANCH_LIMIT_REACHED', message: `step "${s.def.id}" answered ${outcome} ${max} times (${branch.name} max_attempts ${max})${why}`, retryable: false };
      return this.fail(s, outcome, error, event, { ...branch, action: 'fail' });
    }
    const iteration = taken + 1;
    this.run.loops.set(key, iteration);
    const target = branch.target ?? s.def.id;
    const again = loopSet(this.plan, target, s.def.id).map((id) => this.steps.get(id)!);
    const supersededOutput = s.output;
    const lastError = s.error;
    for (const r of again) {
      r.previousOutput = r.output ?? r.previousOutput;
      r.output = undefined;
      r.status = 'pending';
    }
    const t = this.steps.get(target)!;
    t.feedback = { step: s.def.id, outcome, iteration, output: supersededOutput ?? null, error: lastError ?? null };
    t.budgetStart = t.attempt;
    s.error = undefined;
    const ready = this.takeReady();
    // A failure loop waits (exponential backoff with jitter) before going round; a rejection does not.
    const policy = this.policyOf(s);
    const delayMs = outcome === 'failed' ? Math.round(policy.backoffMs * policy.backoffRate ** (iteration - 1) * (0.5 + Math.random())) : 0;
    return this.record(s, {
      step: { stepId: s.def.id, attempt: s.attempt, status: 'superseded', ...(supersededOutput ? { output: supersededOutput } : {}), ...(lastError ? { error: lastError } : {}), ...(s.startedAt ? { startedAt: s.startedAt } : {}) },
      supersede: again.map((r) => r.def.id),
      newSteps: ready.map((r) => this.newStep(r)),
      decisions: [decisionRow(s, outcome, branch, iteration)],
      events: [event, { type: 'branch_taken', step_id: s.def.id, attempt: s.attempt, data: { branch: branch.name, action: 'retry', target, iteration, max_attempts: max, delay_ms: delayMs } }, ...ready.map((r) => startedEvent(r))],
    }, ready, delayMs);
  }

  /** Switches on the gated step the branch routes to; the step's other gated targets will not run. */
  private route(s: StepState, branch: NormalBranch | undefined): StepState[] {
    const skipped: StepState[] = [];
    for (const [target, source] of this.gated) {
      if (source !== s.def.id) continue;
      if (branch?.action === 'route' && branch.target === target) this.run.activated.add(target);
      else skipped.push(...skip(this.plan, this.steps, target));
    }
    return skipped;
  }

  private policyOf(s: StepState): RunDefaults {
    const d = this.deps.defaults;
    const r = s.def.retry ?? {};
    return { timeoutMs: d.timeoutMs, maxAttempts: r.max_attempts ?? d.maxAttempts, backoffMs: r.backoff_ms ?? d.backoffMs, backoffRate: r.backoff_rate ?? d.backoffRate };
  }

  private finalIfDone(): FinalState | undefined {
    const states = [...this.steps.values()];
    if (states.some((s) => ACTIVE.has(s.status))) return undefined;
    const failed = states.filter((s) => s.status === 'failed' && !s.handled);
    if (failed.length === 0) return { status: 'succeeded', error: null };
    const skipped = states.filter((s) => s.status === 'skipped').map((s) => s.def.id);
    const message = failed.map((s) => `step "${s.def.id}" (${s.def.agent}) failed: ${s.error?.message ?? 'unknown error'}`).join('; ');
    return { status: 'failed', error: { code: 'STEPS_FAILED', message, retryable: false, details: { failed_steps: failed.map((s) => s.def.id), skipped_steps: skipped } } };
  }

  /** Only people can move it on: nothing runs, and some approval step waits. */
  private shouldPark(): boolean {
    const states = [...this.steps.values()];
    return !this.stopped && states.some((s) => s.status === 'waiting') && !states.some((s) => s.status === 'running' || s.status === 'scheduled');
  }

  /** Releases the workflow: no process holds it while it waits; an answer or the deadline wakes it. */
  private async park(): Promise<void> {
    await this.writer.settled();
    if (!this.shouldPark()) return;
    const waiting = this.waitingSteps();
    const deadlines = waiting.map((w) => w.expiresAt?.getTime()).filter((t): t is number => t !== undefined);
    const wakeAt = deadlines.length > 0 ? new Date(Math.min(...deadlines)) : null;
    const ok = await this.commit({ park: { wakeAt }, events: [{ type: 'workflow_waiting', data: { steps: waiting.map((w) => w.id), wake_at: wakeAt?.toISOString() ?? null } }] });
    if (ok) this.stop('waiting', 'waiting for an answer');
  }

  private async record(s: StepState, progress: StepProgress, ready: StepState[], delayMs = 0): Promise<boolean> {
    // The final commit waits for the others, so the workflow never reads finished before its steps do.
    if (progress.final) await this.writer.settled();
    const commit = this.commit(progress);
    this.commits.set(s.def.id, commit);
    const ok = await commit;
    if (!ok) return false;
    if (progress.final) this.finish(progress.final);
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        for (const r of ready) this.dispatch(r);
      }, delayMs);
      this.timers.add(timer);
    } else for (const r of ready) this.dispatch(r);
    if (this.shouldPark()) void this.park();
    return true;
  }

  private commit(progress: StepProgress): Promise<boolean> {
    return this.writer.commit(progress);
  }

  private finish(final: FinalState): void {
    if (this.stopped) return;
    this.stopped = true;
    this.deps.metrics.workflowsTotal.inc({ status: final.status });
    this.deps.metrics.workflowDuration.observe({ status: final.status }, (Date.now() - this.startedAt.getTime()) / 1000);
    this.span?.setAttribute('mesh.outcome', final.status);
    if (final.error) this.span?.setStatus({ code: SpanStatusCode.ERROR, message: final.error.message });
    this.span?.end();
    this.resolveDone({ status: final.status, error: final.error, results: this.results() });
  }
}
