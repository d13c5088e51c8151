import type { FastifyBaseLogger } from 'fastify';
import type { EngineMetrics } from '../metrics.ts';
import { concurrencyStore, store, type Db, type Lease, type WorkflowRow } from '../../state/index.ts';

export type ConcurrencyStrategy = 'queue' | 'cancel_newest' | 'cancel_in_progress';

/** A workflow's concurrency: its key's value (the key expression read from its input) and limit. */
export interface Concurrency {
  key: string;
  limit: number;
  strategy: ConcurrencyStrategy;
}

interface AdmissionOptions {
  db: Db;
  lease: Lease;
  owner: string;
  log: FastifyBaseLogger;
  /** Runs a workflow this replica just took from its queue. */
  startRun: (row: WorkflowRow) => void;
  /** Cancels a workflow (here or on another replica) and stops its run if it is here. */
  cancel: (id: string, reason: string) => Promise<unknown>;
  isClosed: () => boolean;
  queuedGauge: EngineMetrics['workflowsQueued'];
}

/** Passes over queued keys per recovery pass: enough for many keys, bounded per pass. */
const KEYS_PER_PASS = 100;

/**
 * Per-key concurrency: workflows submitted with a key wait 'queued' in Postgres until their key has
 * a free slot, and start on whichever replica admits them (concurrency-store.ts decides under a
 * lock per key). A slot frees when a workflow of the key finishes here (its replica admits the
 * next at once) or, on any replica, at the next recovery pass.
 */
export class Admission {
  /** The key of each workflow this replica runs that holds a slot. */
  private readonly held = new Map<string, string>();

  private readonly o: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.o = options;
  }

  /** After a keyed workflow was stored 'queued': applies the strategy, then admits what fits. Where it stands then. */
  async afterSubmit(id: string, c: Concurrency): Promise<'running' | 'queued' | 'cancelled'> {
    if (c.strategy === 'cancel_in_progress') {
      // The newest wins: the oldest holders are cancelled until the new one fits.
      const over = (await concurrencyStore.holding(this.o.db, c.key)) - c.limit + 1;
      if (over > 0) {
        for (const old of await concurrencyStore.oldestHolders(this.o.db, c.key, over))
          await this.o.cancel(
            old,
            `cancelled for a newer workflow of concurrency key ${c.key} (limit ${c.limit}, strategy cancel_in_progress)`,
          );
      }
    }
    if ((await this.admit(c.key)).includes(id)) return 'running';
    // Another admission (a slot freed here meanwhile, or another replica's pass) may have taken it.
    const now = (await store.getWorkflow(this.o.db, id))?.status;
    if (now === 'cancelled') return 'cancelled';
    if (now !== 'queued') return 'running';
    if (c.strategy === 'cancel_newest') {
      await this.o.cancel(id, `concurrency key ${c.key} is at its limit of ${c.limit} (strategy cancel_newest)`);
      return 'cancelled';
    }
    return 'queued';
  }

  /** Takes the workflows of `key` that fit under its limit and starts them here. */
  async admit(key: string): Promise<string[]> {
    if (this.o.isClosed()) return [];
    const rows = await concurrencyStore.admitQueued(this.o.db, key, this.o.lease, {
      type: 'workflow_started',
      data: { owner: this.o.owner, concurrency_key: key },
    });
    for (const row of rows) {
      this.held.set(row.id, key);
      this.o.startRun(row);
    }
    return rows.map((r) => r.id);
  }

  /** Every key with queued work, the longest-waiting first (one pass admits each in turn). */
  async admitAll(): Promise<void> {
    for (const key of await concurrencyStore.queuedKeys(this.o.db, KEYS_PER_PASS)) await this.admit(key);
    const counts = await concurrencyStore.queuedCounts(this.o.db);
    this.o.queuedGauge.reset();
    for (const { key, n } of counts) this.o.queuedGauge.set({ concurrency_key: key }, n);
  }

  /** A workflow taken over here (recovered, resumed) keeps the slot of its key. */
  adopted(row: WorkflowRow): void {
    if (row.concurrency_key) this.held.set(row.id, row.concurrency_key);
  }

  /** A run here ended (or was handed on): its key may admit the next. */
  ended(id: string): void {
    const key = this.held.get(id);
    if (!key) return;
    this.held.delete(id);
    // Most keys have nothing waiting: one indexed read spares the admission's locked transaction.
    concurrencyStore
      .hasQueued(this.o.db, key)
      .then((waiting) => (waiting ? this.admit(key) : []))
      .catch((err: unknown) => this.o.log.error({ err, key }, 'admitting queued workflows failed; the next recovery pass retries'));
  }
}
