import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { AppError, serializeError, type SerializedError } from '../../errors/index.ts';
import { countStoredUsage, type EngineMetrics } from '../metrics.ts';
import type { AgentTransport } from '../../protocol/transport/index.ts';
import type { Usage } from '../../protocol/index.ts';
import type { Budget } from '../../state/index.ts';
import type { PriceTable } from '../usage/prices.ts';
import { AttemptCalls } from './attempt-calls.ts';
import type { CallGate } from './call-gate.ts';
import { CheckpointWriter } from './checkpoint-writer.ts';
import {
  awaitedAgents,
  decide,
  heldByBudget,
  usesAgent,
  waitingSteps,
  type Command,
  type FinalState,
  type RunEvent,
  type RunState,
} from './decider/index.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import type { GroupCommitter } from './group-commit.ts';
import type { ProgressHub } from './progress-hub.ts';

export interface RunDeps {
  committer: GroupCommitter;
  transport: AgentTransport;
  metrics: EngineMetrics;
  notifier: WorkflowNotifier;
  progress?: ProgressHub;
  /** Step-level concurrency and rate limits (call-gate.ts). */
  gate?: CallGate;
  /** Prices an attempt's usage before it is stored; costs are unknown (null) without it. */
  prices?: PriceTable;
  log: FastifyBaseLogger;
}

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

type Dispatch = Extract<Command, { type: 'dispatch' }>;

/**
 * The effect shell of one workflow driven by this orchestrator: it feeds what happens (agent
 * answers, timeouts, a person's answer) to the pure decider (decider/decide.ts) and performs the
 * commands it returns: commits through the checkpoint writer, calls to agents, retry timers,
 * parking and finishing. Every decision about the workflow is the decider's; ARCHITECTURE.md
 * beside this file says what they are.
 */
export class WorkflowRun {
  readonly done: Promise<WorkflowOutcome>;
  readonly id: string;
  private resolveDone!: (o: WorkflowOutcome) => void;
  private state: RunState;
  /** The calls out now, with when each must have answered: stopping the run aborts them. */
  private readonly calls: AttemptCalls;
  private readonly writer: CheckpointWriter;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Calls waiting at the gate for a slot or their time, aborted when the run stops. */
  private readonly gates = new Set<AbortController>();
  private stopped = false;
  /** The decider chose to park: answers go through the database once it has. */
  private parking = false;
  private readonly deps: RunDeps;
  private readonly startedAt: Date;
  /** The workflow's span, when it started in this process; steps hang under traceParent either way. */
  private readonly span: Span | undefined;

  constructor(init: {
    deps: RunDeps;
    state: RunState;
    description: string | undefined;
    startedAt: Date;
    traceParent?: string | null;
    span?: Span;
  }) {
    this.deps = init.deps;
    this.state = init.state;
    this.id = init.state.id;
    this.startedAt = init.startedAt;
    this.span = init.span;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const d = init.deps;
    this.calls = new AttemptCalls({
      workflowId: this.id,
      description: init.description,
      traceParent: init.traceParent ?? null,
      transport: d.transport,
      metrics: d.metrics,
      progress: d.progress,
      prices: d.prices,
      isStopped: () => this.stopped,
    });
    this.writer = new CheckpointWriter({
      committer: d.committer,
      workflowId: this.id,
      notifier: d.notifier,
      onLost: (reason) => this.stop('abandoned', reason),
    });
  }

  /** Sends what was in flight again (same keys), starts what is ready, parks, or finishes. */
  start(): Promise<boolean> {
    return this.apply({ type: 'start' });
  }

  /**
   * Goes on from commands the caller decided on already and whose first commit it wrote itself (a
   * new workflow's first attempts go in the same statement as its row).
   */
  continueWith(commands: Command[]): void {
    void this.perform(commands);
  }

  /** A person's answer to a waiting approval step; true once it is durable. */
  answer(stepId: string, decision: 'approved' | 'rejected', comment: string | undefined): Promise<boolean> {
    this.waitingStep(stepId);
    return this.apply({ type: 'answered', step: stepId, decision, comment });
  }

  /** Taken up after a deadline: expired approvals fail (their on_failure decides), else it goes on. */
  wake(): Promise<boolean> {
    return this.apply({ type: 'woke' });
  }

  /** The run's budget changed (it is stored already): steps it held back go out if it now allows them. */
  budgetChanged(budget: Budget): Promise<boolean> {
    return this.apply({ type: 'budget_changed', budget });
  }

  /** Whether any step of this workflow is still to be sent to `agent` (or is out with it). */
  uses(agent: string): boolean {
    return usesAgent(this.state, agent);
  }

  /** The agents this run's steps wait for because no instance takes their calls. */
  awaitedAgents(): string[] {
    return awaitedAgents(this.state);
  }

  /** Waiting approval steps, with when each expires; none once the run is parking. */
  waitingSteps(): Array<{ id: string; expiresAt: Date | undefined }> {
    return this.parking ? [] : waitingSteps(this.state);
  }

  get isParking(): boolean {
    return this.parking;
  }

  /** The budget the run goes by now. */
  get budget(): Budget | undefined {
    return this.state.plan.budget;
  }

  /** The budget the run stopped at, when steps wait for it to be raised; undefined otherwise. */
  heldAtBudget(): Budget | undefined {
    return heldByBudget(this.state).length > 0 ? this.state.plan.budget : undefined;
  }

  /** Stops driving the workflow here: in-flight calls are aborted and their results dropped. */
  stop(status: 'cancelled' | 'abandoned' | 'waiting', reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    const why = new AppError('CANCELLED', reason);
    for (const g of this.gates) g.abort(why);
    this.calls.abortAll(why);
    const error =
      status === 'waiting' ? null : { code: status === 'cancelled' ? 'CANCELLED' : 'LEASE_LOST', message: reason, retryable: false };
    this.span?.setAttribute('mesh.outcome', status);
    this.span?.end();
    this.resolveDone({ status, error, results: this.results() });
  }

  results(): StepResult[] {
    return this.state.plan.steps.map((def) => {
      const s = this.state.steps.get(def.id)!;
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

  /**
   * The recovery loop's check that no call outlives its deadline, whatever the reason (a timer that
   * did not fire, a transport that never settles): such a call times out as its timer would have
   * made it. Returns how many it found.
   */
  watchdog(now = Date.now(), graceMs = 1_000): number {
    return this.calls.watchdog(now, graceMs);
  }

  cancel(reason: string): void {
    this.apply({ type: 'cancelled', reason }).catch(() => {});
  }

  private waitingStep(stepId: string): void {
    const s = this.state.steps.get(stepId);
    if (!s || s.def.type !== 'approval') throw new AppError('VALIDATION_FAILED', `workflow ${this.id} has no approval step "${stepId}"`);
    if (s.status !== 'waiting' || this.parking)
      throw new AppError('WORKFLOW_BUSY', `approval step "${stepId}" is ${s.status}, not waiting for an answer here`);
  }

  /** Decides on `event` and performs the commands; resolves true once its commits are durable. */
  private apply(event: RunEvent): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    const { state, commands } = decide(this.state, event, { now: new Date(), jitter: Math.random() });
    this.state = state;
    return this.perform(commands);
  }

  private perform(commands: Command[]): Promise<boolean> {
    let durable: Promise<boolean> = Promise.resolve(true);
    for (const c of commands) {
      switch (c.type) {
        case 'commit': {
          // The final (and the parking) commit waits for every earlier one: the table never shows a
          // finished workflow with unfinished steps.
          durable =
            c.progress.final || c.progress.park
              ? this.writer.settled().then(() => this.writer.commit(c.progress))
              : this.writer.commit(c.progress, c.linger);
          const step = c.progress.step;
          // The ledger's metrics count an attempt once, when its row (with its usage) is durable.
          if (step?.usage) void durable.then((ok) => ok && this.countUsage(step.stepId, step.usage!));
          break;
        }
        case 'dispatch': {
          // A step goes out only once every commit so far is durable: the results it depends on, and its own row.
          const settled = this.writer.settled();
          void settled.then(() => this.schedule(c));
          break;
        }
        case 'finish':
          void durable.then((ok) => ok && this.finish(c.final));
          break;
        case 'park':
          this.parking = true;
          void durable.then((ok) => ok && this.stop('waiting', 'waiting for an answer'));
          break;
        case 'stop':
          this.stop(c.status, c.reason);
          break;
      }
    }
    return durable;
  }

  private schedule(c: Dispatch): void {
    if (this.stopped) return;
    if (c.delayMs <= 0) return void this.call(c);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.call(c);
    }, c.delayMs);
    this.timers.add(timer);
  }

  /** Sends the call once the step's concurrency and rate limit let it go (at once when it has neither). */
  private async call(c: Dispatch): Promise<void> {
    const def = this.state.steps.get(c.step)?.def;
    const gate = this.deps.gate;
    if (!gate || !def || (!def.concurrency && !def.rate_limit)) return this.send(c);
    if (this.stopped) return;
    const waiting = new AbortController();
    this.gates.add(waiting);
    let release: () => void;
    try {
      release = await gate.pass(
        def,
        { workflowId: this.id, step: c.step, attempt: c.attempt, agent: c.agent, input: c.input },
        waiting.signal,
      );
    } catch (err) {
      if (this.stopped) return;
      // The limits could not be read (the database is away): the attempt fails as a call that could
      // not be made does, and its retry policy decides.
      void this.apply({ type: 'failed', step: c.step, attempt: c.attempt, error: serializeError(err), startedAt: new Date() });
      return;
    } finally {
      this.gates.delete(waiting);
    }
    try {
      await this.send(c);
    } finally {
      release();
    }
  }

  private async send(c: Dispatch): Promise<void> {
    if (this.stopped) return;
    const event = await this.calls.call(c);
    if (event && !this.stopped) void this.apply(event);
  }

  private countUsage(stepId: string, usage: Usage): void {
    countStoredUsage(this.deps.metrics, this.state.steps.get(stepId)?.def.agent ?? 'unknown', usage);
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
