import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { pruneFinished, pruneUnnamedPlans, type Db, type Pruned } from '../state/index.ts';

/** What a pass deleted: the finished workflows' rows, and the stored plans none of the rest names. */
export type PassTotals = Pruned & { plans: number };

declare module 'fastify' {
  interface FastifyInstance {
    /** Retention of finished workflows: pruneNow() runs a pass at once (operators' scripts, tests). */
    retention: Retention;
  }
}

export interface RetentionOptions {
  db: Db;
  /** Finished workflows older than this many days are deleted; 0 keeps everything. */
  days: number;
  intervalMs: number;
  batchSize: number;
  registry: Registry;
  log: FastifyBaseLogger;
}

/**
 * Deletes finished workflows past RETENTION_DAYS, with their steps, events and decisions, then the
 * stored plans no workflow names any more. Any
 * replica may run it at any time: each batch is one short statement over rows no one else has
 * locked, so replicas running it together share the work, and the engine never waits on it.
 */
export class Retention {
  private readonly o: RetentionOptions;
  private readonly pruned: Counter<'kind'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PassTotals> | undefined;
  private closed = false;

  constructor(options: RetentionOptions) {
    this.o = options;
    this.pruned = new Counter({
      name: 'retention_pruned_total',
      help: 'Rows deleted by retention (RETENTION_DAYS): finished workflows, their steps, events and decisions, and plans no run names',
      labelNames: ['kind'],
      registers: [options.registry],
    });
  }

  start(): void {
    if (this.o.days === 0 || this.timer) return;
    const tick = () => {
      void this.pruneNow()
        .catch((err: unknown) => this.o.log.warn({ err }, 'retention pass failed; trying again on the next interval'))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.o.intervalMs).unref();
        });
    };
    // Not at once: a starting replica has better things to do, and a fleet restarting together spreads out.
    this.timer = setTimeout(tick, Math.min(this.o.intervalMs, 5_000 + Math.random() * 5_000)).unref();
  }

  /** One pass: batches until one comes back short. Returns what it deleted. */
  pruneNow(): Promise<PassTotals> {
    this.running ??= this.prune().finally(() => (this.running = undefined));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async prune(): Promise<PassTotals> {
    const total: PassTotals = { workflows: 0, steps: 0, events: 0, decisions: 0, plans: 0 };
    if (this.o.days === 0) return total;
    while (!this.closed) {
      const batch = await pruneFinished(this.o.db, this.o.days, this.o.batchSize);
      for (const kind of ['workflows', 'steps', 'events', 'decisions'] as const) {
        total[kind] += batch[kind];
        if (batch[kind] > 0) this.pruned.inc({ kind }, batch[kind]);
      }
      if (batch.workflows < this.o.batchSize) break;
    }
    while (!this.closed) {
      const plans = await pruneUnnamedPlans(this.o.db, this.o.batchSize);
      total.plans += plans;
      if (plans > 0) this.pruned.inc({ kind: 'plans' }, plans);
      if (plans < this.o.batchSize) break;
    }
    if (total.workflows > 0) this.o.log.info({ pruned: total, retentionDays: this.o.days }, 'retention deleted finished workflows');
    return total;
  }
}
