import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Span } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../errors/index.ts';
import { traceparentOf, tracer } from '../../telemetry/index.ts';
import { concurrencyStore, store, terminalStatuses, type Db, type Plan, type WorkflowRow, type WorkflowStatus } from '../../state/index.ts';

import type { EngineMetrics } from '../metrics.ts';
import type { AgentTransport } from '../../protocol/transport/index.ts';
import { canonicalJson } from '../../protocol/index.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import { validatePlan } from './graph.ts';
import { decide, freshState, stateFromRows, type Command, type RunDefaults, type RunState } from './decider/index.ts';
import { CallGate } from './call-gate.ts';
import { StartClock } from './start-clock.ts';
import { Admission } from './admission.ts';
import { GroupCommitter } from './group-commit.ts';
import { ParkedRuns } from './parked-runs.ts';
import type { ProgressHub } from './progress-hub.ts';
import { WorkflowRun, type WorkflowOutcome } from './workflow-run.ts';
import { plannedRow, queuedRow, runningRow, scheduledRow, type Submission, type Submitted } from './submission.ts';
import type { PriceTable } from '../usage/prices.ts';
import { PlanningSpend, withPlanning } from './planning-spend.ts';
import type { Usage } from '../../protocol/usage.ts';
import type { Budget } from '../../state/plan.ts';
import { writeFork, type ForkSubmission } from './fork.ts';
import { lineageOf } from '../../state/fork-store.ts';

export interface EngineOptions {
  db: Db;
  transport: AgentTransport;
  owner: string;
  leaseMs: number;
  recoveryIntervalMs: number;
  shutdownGraceMs: number;
  defaults: RunDefaults;
  /** Group commit: most workflows in one statement, statements in flight, tries of a failing commit. */
  groupCommit: { maxBatch: number; maxInFlight: number; maxTries: number; lingerMs?: number };
  metrics: EngineMetrics;
  notifier: WorkflowNotifier;
  /** Where agents' progress goes (the task's event streams); without it calls do not ask for progress. */
  progress?: ProgressHub;
  log: FastifyBaseLogger;
  /** Agent names that discovery knows: plans naming others are refused. */
  knownAgents: () => ReadonlySet<string>;
  /** Model prices for the ledger (PRICES_FILE); without them every cost is unknown. */
  prices?: PriceTable;
}

/**
 * Owns the workflows this orchestrator runs: starts them, takes over the ones whose owner died
 * (expired leases), renews its own leases, and hands them back on shutdown.
 */
export class Engine {
  private readonly runs = new Map<string, WorkflowRun>();
  private readonly timers: NodeJS.Timeout[] = [];
  private recovering: Promise<void> | undefined;
  private closed = false;
  private readonly options: EngineOptions;
  /** This process's hold on its workflows: a new incarnation per Engine, so it never claims its own. */
  private readonly lease: store.Lease;
  private readonly committer: GroupCommitter;
  private readonly admission: Admission;
  private readonly clock: StartClock;
  private readonly gate: CallGate;
  private readonly parked: ParkedRuns;
  private readonly planning: PlanningSpend;

  constructor(options: EngineOptions) {
    this.options = options;
    this.lease = { owner: options.owner, incarnation: randomUUID(), ms: options.leaseMs };
    this.planning = new PlanningSpend({ db: options.db, prices: options.prices, metrics: options.metrics });
    this.committer = new GroupCommitter({ db: options.db, lease: this.lease, log: options.log, ...options.groupCommit });
    this.gate = new CallGate({ db: options.db, notifier: options.notifier, log: options.log });
    this.admission = new Admission({
      db: options.db,
      lease: this.lease,
      owner: options.owner,
      log: options.log,
      // A fork starts from its rows (the steps it reuses); anything else from its plan.
      startRun: (row) => (lineageOf(row).forked_from ? this.startFromRows(row) : this.startFresh(row)),
      cancel: (id, reason) => this.cancel(id, reason),
      isClosed: () => this.closed,
      queuedGauge: options.metrics.workflowsQueued,
    });
    this.parked = new ParkedRuns({
      db: options.db,
      lease: this.lease,
      owner: options.owner,
      runs: this.runs,
      adopt: (row, reopenFailed, start) => this.adopt(row, reopenFailed, start),
      mustGet: (id) => this.mustGet(id),
      isClosed: () => this.closed,
    });
    this.clock = new StartClock({
      db: options.db,
      lease: this.lease,
      owner: options.owner,
      log: options.log,
      admission: this.admission,
      startRun: (row) => this.startFresh(row),
      isClosed: () => this.closed,
    });
  }

  get owner(): string {
    return this.options.owner;
  }

  get activeCount(): number {
    return this.runs.size;
  }

  /** For each step here waiting for an instance of its agent, that agent. */
  awaitedAgents(): string[] {
    return [...this.runs.values()].flatMap((r) => r.awaitedAgents());
  }

  validate(plan: Plan): void {
    validatePlan(plan, this.options.knownAgents());
  }

  async submit(sub: Submission): Promise<Submitted> {
    this.validate(sub.plan);
    this.assertOpen();
    const db = this.options.db;
    // Time-ordered ids (UUIDv7): new rows land at the end of each index instead of all over it.
    const id = sub.id ?? uuidv7();
    const planningUsage = this.planning.price(sub.planningUsage);
    if (!sub.start) {
      const created = await store.insertWorkflow(db, plannedRow(id, sub, planningUsage));
      await this.planning.settle(created, planningUsage, sub);
      return { id, status: 'planned', created };
    }
    const runAt = sub.rateLimit ? await this.clock.rateLimitedStart(sub.rateLimit, sub.runAt) : sub.runAt;
    if (runAt && runAt.getTime() > Date.now()) {
      const waited = sub.rateLimit && runAt !== sub.runAt ? runAt.getTime() - Math.max(Date.now(), sub.runAt?.getTime() ?? 0) : 0;
      const created = await store.insertWorkflow(db, scheduledRow(id, sub, planningUsage, runAt, waited));
      await this.planning.settle(created, planningUsage, sub);
      if (created) this.clock.arm(runAt);
      return { id, status: 'scheduled', created };
    }
    if (sub.concurrency) {
      const created = await store.insertWorkflow(db, queuedRow(id, sub, planningUsage, sub.concurrency));
      await this.planning.settle(created, planningUsage, sub);
      if (!created) return { id, status: 'queued', created };
      return { id, status: await this.admission.afterSubmit(id, sub.concurrency), created };
    }
    // The workflow's span; its traceparent is stored so every step, here or after a takeover, joins the trace.
    const span = tracer().startSpan('workflow', { attributes: { 'mesh.task_id': id, 'mesh.steps': sub.plan.steps.length } });
    const traceParent = traceparentOf(span);
    const { state, commands } = decide(
      withPlanning(freshState(id, sub.plan, this.options.defaults), planningUsage),
      { type: 'start' },
      { now: new Date(), jitter: Math.random() },
    );
    // The first commit (the first attempts and their events) goes in the same statement as the workflow row.
    const [first, ...rest] = commands;
    const firstAttempts = first?.type === 'commit' ? first.progress : { newSteps: [], events: [] };
    const created = await this.committer.insert(
      runningRow(id, sub, planningUsage, {
        lease: this.lease,
        owner: this.options.owner,
        traceParent,
        firstSteps: firstAttempts.newSteps ?? [],
        firstEvents: firstAttempts.events ?? [],
      }),
    );
    await this.planning.settle(created, planningUsage, sub);
    if (!created) {
      span.setAttribute('mesh.outcome', 'duplicate submit');
      span.end();
      return { id, status: 'running', created };
    }
    this.track(this.newRun(state, sub.description, new Date(), traceParent, span), first?.type === 'commit' ? rest : commands);
    return { id, status: 'running', created };
  }

  /** Runs a workflow stored as 'planned', or a 'scheduled' one now instead of at its time. */
  async execute(id: string): Promise<void> {
    this.assertOpen();
    if (await this.clock.queueKeyed(id, false)) return;
    const row = await store.claimWorkflow(this.options.db, {
      id,
      lease: this.lease,
      from: ['planned', 'scheduled'],
      onlyExpired: false,
      event: { type: 'workflow_started', data: { owner: this.options.owner } },
    });
    if (!row) {
      const existing = await this.mustGet(id);
      throw new AppError(
        'WORKFLOW_NOT_PLANNED',
        `workflow ${id} is ${existing.status}, not planned or scheduled${existing.status === 'failed' ? ': use POST /resume' : ''}`,
        { details: { status: existing.status } },
      );
    }
    this.startFresh(row);
  }

  /** Continues from the last checkpoint: a failed workflow retries what failed, an orphaned one goes on. */
  async resume(id: string): Promise<void> {
    this.assertOpen();
    const existing = await this.mustGet(id);
    if (existing.status === 'succeeded' || existing.status === 'cancelled') {
      throw new AppError('WORKFLOW_FINISHED', `workflow ${id} already ${existing.status}; nothing to resume`, {
        details: { status: existing.status },
      });
    }
    if (existing.status === 'planned')
      throw new AppError('WORKFLOW_NOT_PLANNED', `workflow ${id} has not started: use POST /execute/${id}`);
    if (existing.status === 'scheduled')
      throw new AppError(
        'WORKFLOW_NOT_PLANNED',
        `workflow ${id} is scheduled to start at ${existing.wake_at?.toISOString() ?? '?'}: POST /execute/${id} starts it now`,
        { details: { status: existing.status } },
      );
    if (existing.status === 'waiting')
      throw new AppError('WORKFLOW_BUSY', `workflow ${id} is waiting for an answer: POST /tasks/${id}/approve or /reject`);
    if (this.runs.has(id)) throw new AppError('WORKFLOW_BUSY', `workflow ${id} is already running on this orchestrator`);
    const claim = {
      id,
      lease: this.lease,
      from: ['running', 'failed'] as WorkflowStatus[],
      onlyExpired: true,
      event: { type: 'workflow_resumed', data: { owner: this.options.owner, from: existing.status } },
    };
    // A failed workflow with a key gave its slot back: it runs again only if one is free.
    const key = existing.status === 'failed' ? existing.concurrency_key : null;
    const row = key
      ? await concurrencyStore.claimWithinLimit(this.options.db, key, existing.concurrency_limit ?? 1, claim)
      : await store.claimWorkflow(this.options.db, claim);
    if (row === 'full')
      throw new AppError(
        'WORKFLOW_BUSY',
        `concurrency key ${key} is at its limit of ${existing.concurrency_limit ?? 1}; resume workflow ${id} when one of its runs has finished`,
        { details: { status: existing.status, concurrency_key: key } },
      );
    if (row && key) this.admission.adopted(row);
    if (!row) {
      const now = await this.mustGet(id);
      throw new AppError(
        'WORKFLOW_BUSY',
        `workflow ${id} is ${now.status}, leased by ${now.lease_owner ?? 'nobody'} until ${now.lease_expires_at?.toISOString() ?? '-'}`,
        { details: { status: now.status, lease_owner: now.lease_owner } },
      );
    }
    await this.adopt(row, existing.status === 'failed');
  }

  /**
   * A new run of a finished workflow from one of its steps (fork.ts): written under this replica's
   * lease, then driven from its rows as a recovered workflow is, so the kept steps (succeeded
   * attempts) call no agent, and a crash before the first dispatch leaves it to recovery.
   */
  async fork(f: ForkSubmission): Promise<Submitted> {
    this.assertOpen();
    const db = this.options.db;
    const w = await writeFork(db, this.lease, this.options.owner, f, (plan) => this.validate(plan));
    if (w.created && w.concurrency) {
      // Queued behind its key: the admission starts it, from its rows, when the key has a slot.
      w.span.setAttribute('mesh.outcome', 'queued');
      w.span.end();
      return { id: w.id, status: await this.admission.afterSubmit(w.id, w.concurrency), created: true };
    }
    if (w.created) {
      const [rows, decisions] = await Promise.all([store.getSteps(db, w.id), store.getDecisions(db, w.id)]);
      const state = stateFromRows(w.id, w.plan, this.options.defaults, rows, decisions, false);
      this.track(this.newRun(state, f.parent.description, new Date(), w.traceParent, w.span));
    }
    return { id: w.id, status: 'running', created: w.created };
  }

  async cancel(id: string, reason: string): Promise<WorkflowRow> {
    const row = await store.cancelWorkflow(this.options.db, id, reason);
    if (!row) {
      const existing = await this.mustGet(id);
      throw new AppError('WORKFLOW_FINISHED', `workflow ${id} already ${existing.status}; nothing to cancel`, {
        details: { status: existing.status },
      });
    }
    this.runs.get(id)?.cancel(reason);
    this.options.metrics.workflowsTotal.inc({ status: 'cancelled' });
    this.options.notifier.notify(id);
    return row;
  }

  /** A person's answer to a waiting approval step; the step it answered. */
  answer(id: string, decision: 'approved' | 'rejected', comment: string | undefined, stepId: string | undefined): Promise<string> {
    this.assertOpen();
    return this.parked.answer(id, decision, comment, stepId);
  }

  /** Changes a run's budget (POST /tasks/:id/budget); resumed: a run parked at its budget was taken up here. */
  setBudget(id: string, budget: Budget): Promise<{ budget: Budget; resumed: boolean }> {
    this.assertOpen();
    return this.parked.setBudget(id, budget);
  }

  /** A breaker changed state: every workflow here that still needs that agent gets an event saying so. */
  async breakerChanged(agent: string, state: string): Promise<void> {
    const affected = [...this.runs.values()].filter((r) => r.uses(agent));
    await Promise.all(
      affected.map((r) =>
        store.appendEvents(this.options.db, r.id, [{ type: `circuit_${state}`, data: { agent } }]).then(
          () => this.options.notifier.notify(r.id),
          (err: unknown) => this.options.log.error({ err, workflowId: r.id }, 'could not record a breaker event'),
        ),
      ),
    );
  }

  /** Resolves when the workflow reaches a final status, here or on another replica. */
  async wait(id: string, timeoutMs: number): Promise<WorkflowOutcome | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const run = this.runs.get(id);
      if (run) {
        const outcome = await raceDeadline(run.done, deadline - Date.now());
        if (outcome && outcome.status !== 'abandoned') return outcome;
      }
      const row = await store.getWorkflow(this.options.db, id);
      if (row && terminalStatuses.has(row.status)) return undefined;
      await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    }
    return undefined;
  }

  /** Claims workflows whose owner stopped renewing its lease and resumes them here. */
  recoverExpired(): Promise<void> {
    this.recovering ??= (async () => {
      try {
        for (const run of this.runs.values()) {
          const late = run.watchdog();
          if (late > 0) this.options.log.warn({ workflowId: run.id, calls: late }, 'calls past their deadline timed out by the watchdog');
        }
        const rows = await store.claimExpired(this.options.db, this.lease, 100);
        for (const row of rows) {
          if (this.runs.has(row.id)) continue;
          this.options.log.info({ workflowId: row.id }, 'recovering workflow from its last checkpoint');
          await this.adopt(row, false);
        }
        await this.parked.wakeDue();
        await this.clock.startDue();
        await this.admission.admitAll();
        await this.gate.count(this.options.metrics.callsQueued);
      } catch (err) {
        this.options.log.error({ err }, 'recovery pass failed');
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  /** Recovery at start and periodically, and lease renewal well before expiry. */
  start(): Promise<void> {
    this.timers.push(setInterval(() => void this.recoverExpired(), this.options.recoveryIntervalMs).unref());
    this.timers.push(setInterval(() => void this.renew(), Math.max(50, Math.floor(this.options.leaseMs / 3))).unref());
    return this.recoverExpired();
  }

  /** Lets running workflows finish for the grace period, then hands the rest to other replicas. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.clock.stop();
    await this.recovering;
    const running = [...this.runs.values()];
    await raceDeadline(Promise.allSettled(running.map((r) => r.done)), this.options.shutdownGraceMs);
    const left = [...this.runs.keys()];
    for (const run of this.runs.values()) run.stop('abandoned', 'orchestrator shutting down');
    // Commits already made go in before the leases are let go.
    await this.committer.drained();
    await store
      .releaseLeases(this.options.db, this.lease, left)
      .catch((err: unknown) => this.options.log.error({ err }, 'could not release leases'));
  }

  private async renew(): Promise<void> {
    const ids = [...this.runs.keys()];
    try {
      const kept = new Map((await store.renewLeases(this.options.db, this.lease, ids)).map((k) => [k.id, k.budget]));
      for (const id of ids) {
        const run = this.runs.get(id);
        // A run parking now is its park commit's to stop (its row may read waiting already), and
        // once parked it reads the stored budget again (wakeIfBudgetMoved): a raise is not lost.
        if (!run || run.isParking) continue;
        if (!kept.has(id)) run.stop('abandoned', 'lease lost or workflow no longer running');
        // A budget changed through another replica (POST /tasks/:id/budget there) reaches the run here.
        const stored = kept.get(id);
        if (stored && canonicalJson(stored) !== canonicalJson(run.budget ?? null))
          run
            .budgetChanged(stored)
            .catch((err: unknown) => this.options.log.error({ err, workflowId: id }, 'could not apply a changed budget'));
      }
    } catch (err) {
      this.options.log.error({ err }, 'lease renewal failed');
    }
  }

  private async adopt(row: WorkflowRow, reopenFailed: boolean, start = true): Promise<WorkflowRun> {
    this.admission.adopted(row);
    const [rows, decisions] = await Promise.all([store.getSteps(this.options.db, row.id), store.getDecisions(this.options.db, row.id)]);
    const run = this.newRun(
      withPlanning(stateFromRows(row.id, row.plan, this.options.defaults, rows, decisions, reopenFailed), row.planning_usage),
      row.description,
      row.started_at ?? new Date(),
      row.trace_parent,
    );
    this.track(run, start ? undefined : []);
    return run;
  }

  private newRun(
    state: RunState,
    description: string | null,
    startedAt: Date,
    traceParent: string | null = null,
    span?: Span,
  ): WorkflowRun {
    const o = this.options;
    return new WorkflowRun({
      deps: {
        committer: this.committer,
        transport: o.transport,
        metrics: o.metrics,
        notifier: o.notifier,
        log: o.log,
        ...(o.progress ? { progress: o.progress } : {}),
        ...(o.prices ? { prices: o.prices } : {}),
        gate: this.gate,
      },
      state,
      description: description ?? undefined,
      startedAt,
      traceParent,
      ...(span ? { span } : {}),
    });
  }

  /** Runs a workflow just claimed that has not started before (planned, scheduled or queued). */
  private startFromRows(row: WorkflowRow): void {
    this.adopt(row, false).catch((err: unknown) =>
      this.options.log.error({ err, workflowId: row.id }, 'workflow start failed; leaving it to recovery once its lease expires'),
    );
  }

  private startFresh(row: WorkflowRow): void {
    const state = withPlanning(freshState(row.id, row.plan, this.options.defaults), row.planning_usage);
    this.track(this.newRun(state, row.description, new Date(), row.trace_parent));
  }

  /** Planning a model was paid for that no run will carry (a refused description, a schedule's check). */
  recordUnstoredPlanning(usage: Usage, who: { reason: string; submittedBy?: string | null | undefined }): Promise<void> {
    return this.planning.recordUnstored(usage, who);
  }

  /** Registers the run and starts it, or goes on with `commands` decided already ([] to leave it idle). */
  private track(run: WorkflowRun, commands?: Command[]): void {
    this.runs.set(run.id, run);
    void run.done.then((outcome) => {
      if (this.runs.get(run.id) === run) this.runs.delete(run.id);
      this.admission.ended(run.id);
      if (outcome.status === 'waiting')
        this.parked
          .wakeIfBudgetMoved(run)
          .catch((err: unknown) => this.options.log.error({ err, workflowId: run.id }, 'could not read the budget of a run parked at it'));
    });
    if (commands) return run.continueWith(commands);
    run.start().catch((err: unknown) => {
      this.options.log.error({ err, workflowId: run.id }, 'workflow start failed; leaving it to recovery');
      run.stop('abandoned', `start failed: ${(err as Error).message}`);
    });
  }

  private async mustGet(id: string): Promise<WorkflowRow> {
    const row = await store.getWorkflow(this.options.db, id);
    if (!row) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });
    return row;
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'orchestrator is shutting down');
  }
}

/**
 * The promise's value, or undefined once `ms` pass; the timer is cleared either way. A plain timer,
 * not an aborted sleep: aborting one builds an AbortError (with its stack) on every call.
 */
function raceDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms), undefined)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
