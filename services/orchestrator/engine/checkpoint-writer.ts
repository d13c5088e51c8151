import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { store, type Queryable } from '../../state/index.ts';
import type { WorkflowNotifier } from './event-bus.ts';

export type Progress = Omit<store.Progress, 'workflowId' | 'lease'>;

/**
 * Writes one workflow's progress: each commit is one statement, retried on database errors. A
 * commit that finds the lease gone (or the workflow no longer running) or keeps failing calls
 * `onLost`: nothing is lost, the lease runs out and recovery resumes from the last commit.
 */
export class CheckpointWriter {
  private readonly inFlight = new Set<Promise<boolean>>();
  private readonly o: { db: Queryable; workflowId: string; lease: store.Lease; notifier: WorkflowNotifier; log: FastifyBaseLogger; onLost: (reason: string) => void; isStopped: () => boolean };

  constructor(options: CheckpointWriter['o']) {
    this.o = options;
  }

  commit(progress: Progress): Promise<boolean> {
    const p = this.write({ ...progress, workflowId: this.o.workflowId, lease: this.o.lease });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Resolves when every commit issued so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async write(progress: store.Progress): Promise<boolean> {
    for (let i = 0; ; i++) {
      try {
        const ok = await store.commitProgress(this.o.db, progress);
        if (ok) this.o.notifier.notify(this.o.workflowId);
        else this.o.onLost('lease lost or workflow no longer running');
        return ok;
      } catch (err) {
        if (this.o.isStopped()) return false;
        if (i >= 4) {
          this.o.log.error({ err, workflowId: this.o.workflowId }, 'checkpoint write failed; leaving the workflow to recovery');
          this.o.onLost(`checkpoint write failed: ${(err as Error).message}`);
          return false;
        }
        await sleep(50 * 2 ** i);
      }
    }
  }
}
