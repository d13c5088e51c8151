import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../errors/index.ts';
import { scheduleStore, type ClaimedSchedule, type Db, type ScheduleRow } from '../../state/index.ts';
import { ticker, type Ticker } from './cron.ts';
import type { ScheduleMetrics } from './metrics.ts';
import { planTicks } from './tick-plan.ts';

export interface SchedulerOptions {
  db: Db;
  owner: string;
  /** How long a replica holds a due schedule while it starts its ticks. */
  claimMs: number;
  /** A tick later than this was missed (nothing ran), and catch_up decides; a tick less late just runs. */
  misfireMs: number;
  /** Longest the scheduler sleeps without looking (schedules made on other replicas, held ticks). */
  intervalMs: number;
  /** Starts the workflow of one tick; resolves to its task id. */
  start: (s: ScheduleRow, tick: Date, caughtUp: boolean) => Promise<{ taskId: string; created: boolean }>;
  metrics: ScheduleMetrics;
  log: FastifyBaseLogger;
}

/** Due schedules claimed in one statement. */
const CLAIM_BATCH = 200;
const ACTIVE = new Set(['planned', 'running', 'waiting']);

/**
 * Starts the workflows of due schedule ticks. Every replica runs one; they share the due schedules
 * through claims, and a tick's idempotency key makes its workflow exactly one whoever starts it.
 * The next tick is written only after the tick's workflow is, so a replica killed in between
 * leaves the tick due, and the replica that takes it over finds the workflow instead of making a
 * second one.
 */
export class Scheduler {
  private readonly o: SchedulerOptions;
  private closed = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(options: SchedulerOptions) {
    this.o = options;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A schedule changed here: look again now rather than at the end of the sleep. */
  wake(): void {
    this.wakeUp?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp?.();
    await this.loop;
  }

  /** One pass: claims due schedules and handles them; returns how many it claimed. */
  async pass(): Promise<number> {
    const claimed = await scheduleStore.claimDue(this.o.db, this.o.owner, this.o.claimMs, CLAIM_BATCH);
    const handled = await Promise.allSettled(claimed.map((s) => this.handle(s)));
    handled.forEach((h, i) => {
      if (h.status === 'rejected')
        this.o.log.warn(
          { err: h.reason, schedule: claimed[i].name },
          'schedule tick not started; its claim runs out and it is tried again',
        );
    });
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let claimed = 0;
      try {
        claimed = await this.pass();
      } catch (err) {
        this.o.log.warn({ err }, 'scheduler pass failed; trying again');
      }
      if (this.closed) break;
      let delay = this.o.intervalMs;
      if (claimed < CLAIM_BATCH) {
        try {
          const { next, now } = await scheduleStore.earliestDue(this.o.db);
          if (next) delay = Math.min(delay, Math.max(0, next.getTime() - now.getTime()));
        } catch {
          // The database is away: look again on the interval.
        }
      } else delay = 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  private async handle(s: ClaimedSchedule): Promise<void> {
    const { metrics, log } = this.o;
    const finish = (r: Pick<scheduleStore.TickRecord, 'nextRunAt' | 'held' | 'last' | 'startedTaskId'>) =>
      scheduleStore.finishPass(this.o.db, { name: s.name, id: s.id, owner: this.o.owner, version: s.version, ...r });
    let cron: Ticker;
    try {
      if (!s.next_run_at) throw new Error('no next tick');
      cron = ticker(s.cron, s.timezone);
    } catch (err) {
      // Only a time zone the runtime stopped knowing can get here (the API checks both): park the schedule.
      const problem = (err as Error).message;
      log.error({ schedule: s.name, problem }, 'schedule cannot be computed; it stays at no next tick');
      await finish({ nextRunAt: null, held: false, last: { tickAt: s.db_now, outcome: `failed: ${problem}` }, startedTaskId: null });
      return;
    }
    const previousActive = s.last_status !== null && ACTIVE.has(s.last_status);
    const plan = planTicks(
      { nextRunAt: s.next_run_at, held: s.held, overlap: s.overlap, catchUp: s.catch_up },
      cron,
      s.db_now,
      this.o.misfireMs,
      previousActive,
    );
    const outcomes: Array<{ tickAt: Date; outcome: string }> = plan.skipped.map((tickAt) => ({ tickAt, outcome: 'skipped' }));
    if (plan.skipped.length) metrics.ticks.inc({ schedule: s.name, outcome: 'skipped' }, plan.skipped.length);
    if (plan.missed) metrics.ticks.inc({ schedule: s.name, outcome: 'missed' }, plan.missed);
    if (plan.hold) outcomes.push({ tickAt: plan.hold, outcome: 'queued' });
    let startedTaskId: string | null = null;
    for (const tick of plan.start) {
      try {
        const caughtUp = s.db_now.getTime() - tick.getTime() > this.o.misfireMs;
        const { taskId, created } = await this.o.start(s, tick, caughtUp);
        startedTaskId = taskId;
        outcomes.push({ tickAt: tick, outcome: 'started' });
        // A tick another replica started before it died was counted there.
        if (created) {
          metrics.ticks.inc({ schedule: s.name, outcome: 'started' });
          metrics.lag.observe(Math.max(0, Date.now() - tick.getTime()) / 1000);
        }
      } catch (err) {
        // The database or the engine is away: leave the tick due; the claim runs out and a replica tries again.
        if (!(err instanceof AppError) || err.retryable) throw err;
        // The schedule itself is wrong now (its workflow left the files, its plan names a removed agent): say so, go on.
        // An expected refusal, once per tick: its code and message say it all, a stack would bury it.
        log.warn({ code: err.code, reason: err.message, schedule: s.name, tick }, 'scheduled run refused');
        metrics.ticks.inc({ schedule: s.name, outcome: 'failed' });
        outcomes.push({ tickAt: tick, outcome: `failed: ${err.code}: ${err.message}` });
      }
    }
    const last = outcomes.reduce<{ tickAt: Date; outcome: string } | null>((a, b) => (!a || b.tickAt >= a.tickAt ? b : a), null);
    await finish({ nextRunAt: plan.nextRunAt, held: plan.hold !== null, last, startedTaskId });
  }
}
