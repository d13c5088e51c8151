import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { AppError, serializeError, type SerializedError } from '../../errors/index.ts';
import { store, type NewEvent, type NewStep, type Plan, type Queryable } from '../../state/index.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { AgentReply, AgentTransport } from '../transport/index.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import { descendantsOf } from './graph.ts';
import { resolveInput } from './input-refs.ts';
import type { StepState } from './step-state.ts';

export interface RunDefaults {
  timeoutMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffRate: number;
}

export interface RunDeps {
  db: Queryable;
  transport: AgentTransport;
  owner: string;
  leaseMs: number;
  defaults: RunDefaults;
  metrics: EngineMetrics;
  notifier: WorkflowNotifier;
  log: FastifyBaseLogger;
}

type FinalState = { status: 'succeeded' | 'failed'; error: SerializedError | null };
type StepProgress = Omit<store.Progress, 'workflowId' | 'owner' | 'leaseMs' | 'final'> & { final?: FinalState };

export type OutcomeStatus = 'succeeded' | 'failed' | 'cancelled' | 'abandoned';

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

/**
 * One workflow being driven by this orchestrator. Steps are dispatched as soon as their dependencies
 * succeed; each finished attempt is one commit (store.commitProgress) that also writes the rows of
 * the attempts it unblocks, so the only round trip per step is the one the recovery rules need.
 */
export class WorkflowRun {
  readonly done: Promise<WorkflowOutcome>;
  private resolveDone!: (o: WorkflowOutcome) => void;
  private readonly abort = new AbortController();
  private readonly commits = new Map<string, Promise<boolean>>();
  private readonly pending = new Set<Promise<boolean>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  private readonly deps: RunDeps;
  readonly id: string;
  private readonly plan: Plan;
  private readonly description: string | undefined;
  private readonly steps: Map<string, StepState>;
  private readonly startedAt: Date;

  constructor(init: { deps: RunDeps; id: string; plan: Plan; description: string | undefined; steps: Map<string, StepState>; startedAt: Date }) {
    this.deps = init.deps;
    this.id = init.id;
    this.plan = init.plan;
    this.description = init.description;
    this.steps = init.steps;
    this.startedAt = init.startedAt;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Sends what was in flight again (same keys), starts what is ready, or finishes. */
  async start(): Promise<void> {
    const resend = [...this.steps.values()].filter((s) => s.status === 'running' || s.status === 'scheduled');
    const ready = this.takeReady();
    if (ready.length > 0) {
      const ok = await this.commit({ newSteps: ready.map((s) => this.newStep(s, 'running')), events: ready.map((s) => startedEvent(s)) });
      if (!ok) return;
    }
    for (const s of [...resend, ...ready]) this.dispatch(s);
    if (resend.length === 0 && ready.length === 0) {
      const final = this.finalIfDone();
      if (final && (await this.commit({ final, events: [finalEvent(final)] }))) this.finish(final);
    }
  }

  /** Marks the steps that can start now as running and returns their rows, for a caller that writes them itself. */
  takeReadyAttempts(): { steps: NewStep[]; events: NewEvent[] } {
    const ready = this.takeReady();
    return { steps: ready.map((s) => this.newStep(s, 'running')), events: ready.map((s) => startedEvent(s)) };
  }

  /** Stops driving the workflow here: in-flight calls are aborted and their results dropped. */
  stop(status: 'cancelled' | 'abandoned', reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.abort.abort(new AppError('CANCELLED', reason));
    this.resolveDone({ status, error: { code: status === 'cancelled' ? 'CANCELLED' : 'LEASE_LOST', message: reason, retryable: false }, results: this.results() });
  }

  results(): StepResult[] {
    return this.plan.steps.map((def) => {
      const s = this.steps.get(def.id)!;
      return {
        step_id: def.id,
        agent: def.agent,
        status: s.status,
        attempts: s.attempt,
        ...(s.output ? { output: s.output } : {}),
        ...(s.error ? { error: s.error } : {}),
      };
    });
  }

  private takeReady(): StepState[] {
    const ready: StepState[] = [];
    for (const s of this.steps.values()) {
      if (s.status !== 'pending') continue;
      if (!s.def.depends_on.every((d) => this.steps.get(d)!.status === 'succeeded')) continue;
      s.status = 'running';
      s.attempt += 1;
      s.input = resolveInput(s.def.input, this.outputs());
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

  private newStep(s: StepState, status: NewStep['status']): NewStep {
    return { step_id: s.def.id, attempt: s.attempt, agent: s.def.agent, status, input: s.input ?? {}, idempotency_key: idempotencyKey(this.id, s.def.id, s.attempt) };
  }

  private dispatch(s: StepState): void {
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
    const timeout = deadline.signal;
    const started = performance.now();
    const agent = s.def.agent;
    let reply: AgentReply;
    try {
      reply = await this.deps.transport.call(
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
        AbortSignal.any([this.abort.signal, timeout]),
      );
    } catch (err) {
      if (this.stopped) return;
      const error = timeout.aborted ? new AppError('STEP_TIMEOUT', `step "${s.def.id}" took longer than ${timeoutMs} ms`) : err;
      this.deps.metrics.agentCalls.inc({ agent, status: timeout.aborted ? 'timeout' : 'failed' });
      this.deps.metrics.agentCallDuration.observe({ agent }, (performance.now() - started) / 1000);
      return this.onFailure(s, serializeError(error));
    } finally {
      clearTimeout(timer);
    }
    this.deps.metrics.agentCalls.inc({ agent, status: 'succeeded' });
    this.deps.metrics.agentCallDuration.observe({ agent }, (performance.now() - started) / 1000);
    if (this.stopped) return;
    this.onSuccess(s, reply, Math.round(performance.now() - started));
  }

  private dependencyOutputs(s: StepState): Record<string, unknown> {
    return Object.fromEntries(s.def.depends_on.map((d) => [d, this.steps.get(d)!.output ?? null]));
  }

  private onSuccess(s: StepState, reply: AgentReply, durationMs: number): void {
    s.status = 'succeeded';
    s.output = reply.output;
    s.decision = reply.decision;
    s.finishedAt = new Date();
    const ready = this.takeReady();
    const final = this.finalIfDone();
    const events: NewEvent[] = [
      { type: 'step_succeeded', step_id: s.def.id, attempt: s.attempt, data: { agent: s.def.agent, duration_ms: durationMs, ...(reply.replayed ? { replayed: true } : {}), ...(reply.decision ? { decision: reply.decision } : {}) } },
      ...ready.map((r) => startedEvent(r)),
      ...(final ? [finalEvent(final)] : []),
    ];
    void this.record(s, {
      step: { stepId: s.def.id, attempt: s.attempt, status: 'succeeded', output: reply.output, ...(s.startedAt ? { startedAt: s.startedAt } : {}) },
      checkpoint: { [s.def.id]: reply.output },
      newSteps: ready.map((r) => this.newStep(r, 'running')),
      events,
      ...(final ? { final } : {}),
    }, ready);
  }

  private onFailure(s: StepState, error: SerializedError): void {
    const failedAttempt = s.attempt;
    const policy = this.policyOf(s);
    const stepRow = { stepId: s.def.id, attempt: failedAttempt, status: 'failed' as const, error, ...(s.startedAt ? { startedAt: s.startedAt } : {}) };
    if (error.retryable && failedAttempt - s.budgetStart < policy.maxAttempts) {
      const delayMs = Math.round(policy.backoffMs * policy.backoffRate ** (failedAttempt - s.budgetStart - 1) * (0.5 + Math.random()));
      s.status = 'scheduled';
      s.attempt += 1;
      s.startedAt = undefined;
      const event: NewEvent = { type: 'step_failed', step_id: s.def.id, attempt: failedAttempt, data: { error, retry_in_ms: delayMs, next_attempt: s.attempt } };
      void this.record(s, { step: stepRow, newSteps: [this.newStep(s, 'scheduled')], events: [event] }, []).then((ok) => {
        if (!ok || this.stopped) return;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          void this.call(s);
        }, delayMs);
        this.timers.add(timer);
      });
      return;
    }
    s.status = 'failed';
    s.error = error;
    s.finishedAt = new Date();
    const skipped = [...descendantsOf(this.plan.steps, s.def.id)].map((id) => this.steps.get(id)!).filter((d) => d.status === 'pending');
    for (const d of skipped) d.status = 'skipped';
    const final = this.finalIfDone();
    void this.record(s, {
      step: stepRow,
      events: [
        { type: 'step_failed', step_id: s.def.id, attempt: failedAttempt, data: { error } },
        ...skipped.map((d) => ({ type: 'step_skipped', step_id: d.def.id, data: { because: s.def.id } })),
        ...(final ? [finalEvent(final)] : []),
      ],
      ...(final ? { final } : {}),
    }, []);
  }

  private policyOf(s: StepState): RunDefaults {
    const d = this.deps.defaults;
    const r = s.def.retry ?? {};
    return { timeoutMs: d.timeoutMs, maxAttempts: r.max_attempts ?? d.maxAttempts, backoffMs: r.backoff_ms ?? d.backoffMs, backoffRate: r.backoff_rate ?? d.backoffRate };
  }

  private finalIfDone(): FinalState | undefined {
    const states = [...this.steps.values()];
    if (states.some((s) => s.status === 'pending' || s.status === 'running' || s.status === 'scheduled')) return undefined;
    const failed = states.filter((s) => s.status === 'failed');
    if (failed.length === 0) return { status: 'succeeded', error: null };
    const skipped = states.filter((s) => s.status === 'skipped').map((s) => s.def.id);
    const message = failed.map((s) => `step "${s.def.id}" (${s.def.agent}) failed: ${s.error?.message ?? 'unknown error'}`).join('; ');
    return { status: 'failed', error: { code: 'STEPS_FAILED', message, retryable: false, details: { failed_steps: failed.map((s) => s.def.id), skipped_steps: skipped } } };
  }

  private async record(s: StepState, progress: StepProgress, ready: StepState[]): Promise<boolean> {
    // The final commit waits for the others, so the workflow never reads finished before its steps do.
    if (progress.final) await Promise.allSettled([...this.pending]);
    const commit = this.commit(progress);
    this.commits.set(s.def.id, commit);
    const ok = await commit;
    if (!ok) return false;
    if (progress.final) this.finish(progress.final);
    for (const r of ready) this.dispatch(r);
    return true;
  }

  private commit(progress: StepProgress): Promise<boolean> {
    const p = this.writeWithRetry({ ...progress, workflowId: this.id, owner: this.deps.owner, leaseMs: this.deps.leaseMs });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  private async writeWithRetry(progress: store.Progress): Promise<boolean> {
    for (let i = 0; ; i++) {
      try {
        const ok = await store.commitProgress(this.deps.db, progress);
        if (ok) this.deps.notifier.notify(this.id);
        else this.stop('abandoned', 'lease lost or workflow no longer running');
        return ok;
      } catch (err) {
        if (this.stopped) return false;
        if (i >= 4) {
          // Nothing is lost: the lease runs out and recovery resumes from the last checkpoint.
          this.deps.log.error({ err, workflowId: this.id }, 'checkpoint write failed; leaving the workflow to recovery');
          this.stop('abandoned', `checkpoint write failed: ${(err as Error).message}`);
          return false;
        }
        await sleep(50 * 2 ** i);
      }
    }
  }

  private finish(final: FinalState): void {
    if (this.stopped) return;
    this.stopped = true;
    this.deps.metrics.workflowsTotal.inc({ status: final.status });
    this.deps.metrics.workflowDuration.observe({ status: final.status }, (Date.now() - this.startedAt.getTime()) / 1000);
    this.resolveDone({ status: final.status, error: final.error, results: this.results() });
  }
}

function startedEvent(s: StepState): NewEvent {
  return { type: 'step_started', step_id: s.def.id, attempt: s.attempt, data: { agent: s.def.agent } };
}

function finalEvent(final: { status: string; error: SerializedError | null }): NewEvent {
  return { type: `workflow_${final.status}`, data: final.error ? { error: final.error } : {} };
}
