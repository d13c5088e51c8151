// Runs parked in the database ('waiting': at an approval, or held at their budget) and what takes
// them up again on this replica: a person's answer, a changed budget, an approval's deadline.
import { AppError } from '../../errors/index.ts';
import { canonicalJson } from '../../protocol/index.ts';
import type { Budget } from '../../state/plan.ts';
import { setBudget } from '../../state/usage-store.ts';
import { store, terminalStatuses, type Db, type WorkflowRow } from '../../state/index.ts';
import type { WorkflowRun } from './workflow-run.ts';

export interface ParkedRunsOptions {
  db: Db;
  lease: store.Lease;
  owner: string;
  /** The runs this replica drives now. */
  runs: ReadonlyMap<string, WorkflowRun>;
  /** Drives a claimed row here; `start` false leaves it idle for the caller to wake or answer. */
  adopt: (row: WorkflowRow, reopenFailed: boolean, start: boolean) => Promise<WorkflowRun>;
  mustGet: (id: string) => Promise<WorkflowRow>;
  isClosed: () => boolean;
}

export class ParkedRuns {
  private readonly o: ParkedRunsOptions;

  constructor(options: ParkedRunsOptions) {
    this.o = options;
  }

  /** Takes a parked run for this replica, with the event saying what woke it; null when it is not parked (any more). */
  private claim(id: string, woken: Record<string, unknown>): Promise<WorkflowRow | null> {
    return store.claimWorkflow(this.o.db, {
      id,
      lease: this.o.lease,
      from: ['waiting'],
      onlyExpired: false,
      event: { type: 'workflow_woken', data: { owner: this.o.owner, ...woken } },
    });
  }

  /**
   * A person's answer to a waiting approval step. A parked workflow is taken up here; one running on
   * another replica is refused, naming the owner.
   */
  async answer(id: string, decision: 'approved' | 'rejected', comment: string | undefined, stepId: string | undefined): Promise<string> {
    let run = this.o.runs.get(id);
    // Parking here right now: the answer goes through the database once it is parked.
    if (run?.isParking) {
      await run.done;
      run = undefined;
    }
    let adopted = false;
    if (!run) {
      const row = await this.claim(id, { by: decision });
      if (!row) {
        const now = await this.o.mustGet(id);
        if (terminalStatuses.has(now.status))
          throw new AppError('WORKFLOW_FINISHED', `workflow ${id} already ${now.status}; nothing to answer`, {
            details: { status: now.status },
          });
        throw new AppError(
          'WORKFLOW_BUSY',
          `workflow ${id} is ${now.status}${now.lease_owner ? ` on ${now.lease_owner}` : ''}; it has no approval waiting here`,
          { details: { status: now.status, lease_owner: now.lease_owner } },
        );
      }
      run = await this.o.adopt(row, false, false);
      adopted = true;
    }
    const waiting = run.waitingSteps().map((w) => w.id);
    const target = stepId ?? (waiting.length === 1 ? waiting[0] : undefined);
    try {
      if (!target)
        throw new AppError(
          'VALIDATION_FAILED',
          waiting.length === 0
            ? `workflow ${id} has no approval step waiting`
            : `${waiting.length} approval steps are waiting (${waiting.join(', ')}): name one with step_id`,
        );
      // Answered once the answer is durable; never acknowledged when it could not be stored.
      if (!(await run.answer(target, decision, comment))) {
        throw new AppError(
          'DATABASE_UNAVAILABLE',
          `the answer to step "${target}" of workflow ${id} was not stored (the database failed, or another orchestrator took the workflow); it was not taken: send it again`,
        );
      }
      return target;
    } catch (err) {
      // Taken up for nothing: park it again.
      if (adopted) void run.start().catch(() => {});
      throw err;
    }
  }

  /**
   * Changes a run's budget (POST /tasks/:id/budget): stored first, then a run parked at its budget is
   * taken up here and dispatches what the budget held back; one this replica drives goes on with it.
   */
  async setBudget(id: string, budget: Budget): Promise<{ budget: Budget; resumed: boolean }> {
    const set = await setBudget(this.o.db, id, budget);
    if (!set) {
      const now = await this.o.mustGet(id);
      throw new AppError('WORKFLOW_FINISHED', `workflow ${id} already ${now.status}; its budget no longer matters`, {
        details: { status: now.status },
      });
    }
    const here = this.o.runs.get(id);
    if (here && !here.isParking) {
      await here.budgetChanged(set.budget);
      return { budget: set.budget, resumed: false };
    }
    if (here) await here.done;
    // Running on another replica, it is left be: that replica's lease renewal brings it the stored
    // budget (renew), and a run it parks at the old one is looked at again (wakeIfBudgetMoved).
    return { budget: set.budget, resumed: await this.takeUpAtBudget(id, set.budget) };
  }

  /** Takes a run parked at its budget up here after the budget changed; false if it is not parked (any more). */
  private async takeUpAtBudget(id: string, budget: Budget): Promise<boolean> {
    const row = await this.claim(id, { by: 'budget', budget });
    if (!row) return false;
    const run = await this.o.adopt(row, false, false);
    await run.wake();
    return true;
  }

  /**
   * A run that parked at its budget may have missed a raise: POST /tasks/:id/budget on another
   * replica stores it and, finding the run still running, leaves it to its driver. So once parked
   * the stored budget is read again, and a changed one takes the run up. (A raise stored after this
   * read finds the run parked and takes it up itself.)
   */
  async wakeIfBudgetMoved(run: WorkflowRun): Promise<void> {
    const parkedAt = run.heldAtBudget();
    if (!parkedAt || this.o.isClosed()) return;
    const row = await store.getWorkflow(this.o.db, run.id);
    const stored = row?.plan.budget;
    if (row?.status !== 'waiting' || !stored || canonicalJson(stored) === canonicalJson(parkedAt)) return;
    await this.takeUpAtBudget(run.id, stored);
  }

  /** Parked workflows whose approval deadline passed: the expired approvals fail (their on_failure decides). */
  async wakeDue(): Promise<void> {
    for (const id of await store.dueParked(this.o.db, 50)) {
      const row = await this.claim(id, { by: 'deadline' });
      if (!row) continue;
      const run = await this.o.adopt(row, false, false);
      await run.wake();
    }
  }
}
