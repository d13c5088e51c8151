import type { Db } from '../../state/index.ts';
import { PLANNER, recordPlanningSpend } from '../../state/usage-store.ts';
import type { Usage } from '../../protocol/usage.ts';
import { countStoredUsage, type EngineMetrics } from '../metrics.ts';
import { priced, type PriceTable } from '../usage/prices.ts';
import { addSpend, type RunState } from './decider/index.ts';
import type { Submission } from './submission.ts';

// What planning a description with a model cost. It was paid for whatever came of it, so it is
// stored, priced, and counted in the metrics exactly once: with its run when the run is stored, on
// its own when no run carries it (a description refused, a schedule's check, a duplicate submit).

export class PlanningSpend {
  private readonly db: Db;
  private readonly prices: PriceTable;
  private readonly metrics: EngineMetrics;

  constructor(o: { db: Db; prices: PriceTable | undefined; metrics: EngineMetrics }) {
    this.db = o.db;
    this.prices = o.prices ?? new Map();
    this.metrics = o.metrics;
  }

  /** A submit's planning, priced to be stored with its run; null when no model planned it. */
  price(usage: Usage | undefined): Usage | null {
    return usage?.length ? priced(this.prices, usage) : null;
  }

  /**
   * A submit's planning once its insert is decided: it went with its run, or, when another request
   * made the task first (a retry that raced it past the check for an existing task, both planning),
   * it is stored as planning no run carries: it was paid for all the same.
   */
  async settle(created: boolean, usage: Usage | null, sub: Pick<Submission, 'submittedBy'>): Promise<void> {
    if (!usage) return;
    if (!created)
      await recordPlanningSpend(this.db, {
        usage,
        reason: 'duplicate submit: another request made the task',
        submittedBy: sub.submittedBy,
      });
    this.count(usage);
  }

  /** Planning no run will carry (a refused description, a schedule's check): stored on its own, and counted. */
  async recordUnstored(usage: Usage, who: { reason: string; submittedBy?: string | null | undefined }): Promise<void> {
    if (usage.length === 0) return;
    const spent = priced(this.prices, usage);
    await recordPlanningSpend(this.db, { usage: spent, ...who });
    this.count(spent);
  }

  /** The metrics count planning once, when it is stored, as a step's usage is counted when committed. */
  private count(usage: Usage): void {
    countStoredUsage(this.metrics, PLANNER, usage);
  }
}

/** A run's spend starts with what planning it cost: its budget holds for the whole run, planning included. */
export function withPlanning(state: RunState, usage: Usage | null | undefined): RunState {
  if (usage) state.spent = addSpend(state.spent, usage);
  return state;
}
