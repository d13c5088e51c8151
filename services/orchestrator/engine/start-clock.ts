import type { FastifyBaseLogger } from 'fastify';
import { concurrencyStore, rateLimitStore, store, type Db, type Lease, type WorkflowRow } from '../../state/index.ts';
import type { Admission, Concurrency } from './admission.ts';
import type { RateLimit } from './flow-control.ts';

/** Scheduled workflows started per pass; a full batch makes the next pass come at once. */
const DUE_BATCH = 50;

interface StartClockOptions {
  db: Db;
  lease: Lease;
  owner: string;
  log: FastifyBaseLogger;
  admission: Admission;
  /** Runs a scheduled workflow this replica just claimed, from its plan. */
  startRun: (row: WorkflowRow) => void;
  isClosed: () => boolean;
}

/**
 * Workflows that start later: at their `run_at` (a delay, or the time a rate limit reserved for
 * them), or, with a concurrency key, by joining the key's queue when that time comes. One timer per
 * replica, for the earliest start time it knows; the recovery pass finds those submitted elsewhere.
 */
export class StartClock {
  private timer: { at: number; handle: NodeJS.Timeout } | undefined;
  private readonly o: StartClockOptions;

  constructor(options: StartClockOptions) {
    this.o = options;
  }

  /** The start time a rate-limited run reserved for its key (rate-limit-store.ts); now or later. */
  async rateLimitedStart(r: RateLimit, runAt: Date | undefined): Promise<Date | undefined> {
    const at = await rateLimitStore.reserve(this.o.db, `start:${r.key}`, r.limit, r.periodMs, runAt);
    return at.getTime() - Date.now() > 5 ? at : runAt;
  }

  /**
   * Starts the scheduled workflows whose time has come; whichever replica claims one first runs it.
   * Each pass learns the next start time in the table and sets a timer for it, so a run starts on
   * time on every replica that has looked (the others race for it, one wins); one submitted on
   * another replica since is found by the next recovery pass at the latest.
   */
  async startDue(): Promise<void> {
    const { due, next } = await store.dueScheduled(this.o.db, DUE_BATCH);
    for (const { id, keyed } of due) {
      if (this.o.isClosed()) return;
      if (keyed && (await this.queueKeyed(id, true))) continue;
      const row = await store.claimWorkflow(this.o.db, {
        id,
        lease: this.o.lease,
        from: ['scheduled'],
        onlyExpired: false,
        event: { type: 'workflow_started', data: { owner: this.o.owner, scheduled: true } },
      });
      if (row) this.o.startRun(row);
    }
    if (due.length === DUE_BATCH) this.arm(new Date());
    else if (next) this.arm(next);
  }

  /**
   * A scheduled workflow with a concurrency key joins its key's queue when it is due (or started now
   * by POST /execute), and its strategy applies then; false for one without a key.
   */
  async queueKeyed(id: string, onlyDue: boolean): Promise<boolean> {
    const row = await concurrencyStore.queueScheduled(this.o.db, id, onlyDue);
    if (!row) return false;
    const strategy = (row.concurrency_strategy ?? 'queue') as Concurrency['strategy'];
    await this.o.admission.afterSubmit(row.id, { key: row.concurrency_key!, limit: row.concurrency_limit ?? 1, strategy });
    return true;
  }

  /** Sets the timer for `at` if it is the earliest known here; re-armed (at most an hour ahead) by each pass. */
  arm(at: Date): void {
    if (this.o.isClosed()) return;
    const when = Math.min(at.getTime(), Date.now() + 3_600_000);
    if (this.timer && this.timer.at <= when) return;
    clearTimeout(this.timer?.handle);
    const handle = setTimeout(
      () => {
        this.timer = undefined;
        this.startDue().catch((err: unknown) => this.o.log.error({ err }, 'starting scheduled workflows failed'));
      },
      Math.max(0, when - Date.now()),
    ).unref();
    this.timer = { at: when, handle };
  }

  stop(): void {
    clearTimeout(this.timer?.handle);
    this.timer = undefined;
  }
}
