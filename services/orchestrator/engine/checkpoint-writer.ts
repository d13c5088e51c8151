import type { Progress } from './decider/index.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import type { GroupCommitter } from './group-commit.ts';

/**
 * One workflow's view of the group committer: it knows which of the workflow's commits are still
 * in flight (what a dispatch or the final commit waits for), tells listeners of each durable one,
 * and calls `onLost` when a commit finds the lease gone (or the workflow no longer running) or
 * could not be written: nothing is lost then, the lease runs out and recovery resumes from the
 * last commit.
 */
export class CheckpointWriter {
  private readonly inFlight = new Set<Promise<boolean>>();
  private readonly options: { committer: GroupCommitter; workflowId: string; notifier: WorkflowNotifier; onLost: (reason: string) => void };

  constructor(options: CheckpointWriter['options']) {
    this.options = options;
  }

  commit(progress: Progress, linger = false): Promise<boolean> {
    const p = this.options.committer.commit(this.options.workflowId, progress, linger).then((ok) => {
      if (ok) this.options.notifier.notify(this.options.workflowId);
      else this.options.onLost('lease lost, workflow no longer running, or checkpoint write failed');
      return ok;
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Resolves when every commit issued so far has settled. */
  async settled(): Promise<void> {
    if (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
