import { randomUUID } from 'node:crypto';
import { keyBudget } from '../../auth/index.ts';
import { store, type ScheduleRow } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';
import { flowOf, planRun } from '../plan-request.ts';

/**
 * The idempotency key of a tick. It has spaces, which a client's Idempotency-Key never has, so no
 * request can take a tick's key; the schedule's id (new on each create) keeps a re-created schedule
 * of the same name apart from the old one.
 */
export const tickKey = (scheduleId: string, tick: Date) => `schedule ${scheduleId} ${tick.toISOString()}`;

/**
 * Starts the workflow of one tick (or, with no tick, a run by hand) and returns its task id. A tick
 * whose key is already taken started earlier, on this replica or on one that died before it
 * recorded the tick: that workflow is the tick's, and no second one is made.
 */
export async function startScheduledRun(
  ctx: Pick<OrchestratorContext, 'engine' | 'db' | 'workflows' | 'agents' | 'llm' | 'config'>,
  s: Pick<ScheduleRow, 'id' | 'name' | 'target' | 'input' | 'created_by' | 'budget'>,
  tick: Date | null,
  /** The tick was missed (more than the misfire window late) and runs because of catch_up. */
  caughtUp = false,
): Promise<{ taskId: string; created: boolean }> {
  const key = tick ? tickKey(s.id, tick) : `schedule ${s.id} trigger ${randomUUID()}`;
  if (tick && s.target.description !== undefined) {
    // A description's planner may call a model, and need not for a tick that ran. (A workflow or a
    // plan costs nothing to prepare: the insert's unique key alone tells a tick that ran.)
    const existing = await store.getWorkflowByKey(ctx.db, key);
    if (existing) return { taskId: existing.id, created: false };
  }
  const planned = await planRun(ctx, { ...s.target, input: s.input }, (usage) =>
    ctx.engine.recordUnstoredPlanning(usage, { reason: `schedule ${s.name}: tick refused`, submittedBy: s.created_by }),
  );
  const { events, description } = planned;
  // As for a request: the schedule's own budget, else the named workflow's (in its plan), else that
  // of the key that created the schedule.
  const budget = s.budget ?? planned.plan.budget ?? (s.created_by ? await keyBudget(ctx.db, s.created_by) : null);
  const plan = budget ? { ...planned.plan, budget } : planned.plan;
  // A named workflow's concurrency, rate limit and priority hold for its scheduled runs too.
  const named = s.target.workflow ? ctx.workflows.get(s.target.workflow) : undefined;
  const flow = named ? flowOf(named.flow, { input: s.input }, `workflow:${named.name}`) : {};
  const submitted = await ctx.engine.submit({
    plan,
    events: [{ type: 'schedule_tick', data: { schedule: s.name, tick: tick?.toISOString() ?? null, caught_up: caughtUp } }, ...events],
    description: description ?? `schedule ${s.name}`,
    input: s.input,
    start: true,
    idempotencyKey: key,
    ...flow,
    ...(planned.usage ? { planningUsage: planned.usage } : {}),
    ...(s.created_by ? { submittedBy: s.created_by } : {}),
  });
  if (submitted.created) return { taskId: submitted.id, created: true };
  const existing = await store.getWorkflowByKey(ctx.db, key);
  return { taskId: existing?.id ?? submitted.id, created: false };
}
