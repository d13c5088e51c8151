import { v7 as uuidv7 } from 'uuid';
import { AppError } from '../../errors/index.ts';
import { scheduleStore, type Db, type ScheduleRow } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';
import { ticker } from './cron.ts';
import { checkSchedule, NAME, type CheckedSchedule, type ScheduleSpec } from './definition.ts';

type Ctx = Pick<OrchestratorContext, 'workflows' | 'engine' | 'db'>;

export function checkName(name: string): void {
  if (!NAME.test(name))
    throw new AppError(
      'VALIDATION_FAILED',
      `schedule name must be 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit; got ${JSON.stringify(name)}`,
    );
}

/** The first tick after now, or null while paused (a resumed schedule starts from the time it resumes). */
function nextTick(c: Pick<CheckedSchedule, 'cron' | 'timezone' | 'enabled'>, now = new Date()): Date | null {
  return c.enabled ? ticker(c.cron, c.timezone).next(now) : null;
}

/** Plans a description or fills a named workflow as a tick would; throws what its agents refuse. */
export type PlanCheck = (target: { description: string } | { workflow: string }, input: Record<string, unknown>) => Promise<unknown>;

/**
 * A description or named-workflow schedule written through the API is planned once (422
 * UNPLANNABLE naming the part no agent can do on its input), so one that can never run is refused
 * when it is written, not reported at 3 a.m. on every tick. An explicit plan is taken as written.
 * Schedules from workflow files are not: start-up does not wait on planning.
 */
async function checkPlannable(c: CheckedSchedule, planCheck: PlanCheck | undefined): Promise<void> {
  if (!planCheck) return;
  if ('description' in c.target && c.target.description) await planCheck({ description: c.target.description }, c.input);
  else if ('workflow' in c.target && c.target.workflow) await planCheck({ workflow: c.target.workflow }, c.input);
}

export async function createSchedule(
  ctx: Ctx,
  name: string,
  spec: ScheduleSpec,
  who: { createdBy?: string | undefined; source?: 'api' | 'file'; definitionHash?: string | null; planCheck?: PlanCheck } = {},
): Promise<ScheduleRow> {
  checkName(name);
  const c = checkSchedule(ctx, spec);
  await checkPlannable(c, who.planCheck);
  const row = await scheduleStore.insertSchedule(ctx.db, {
    name,
    id: uuidv7(),
    ...c,
    source: who.source ?? 'api',
    definition_hash: who.definitionHash ?? null,
    created_by: who.createdBy ?? null,
    next_run_at: nextTick(c),
  });
  if (!row)
    throw new AppError('SCHEDULE_EXISTS', `a schedule named "${name}" exists; change it with PATCH /schedules/${name}`, {
      details: { name },
    });
  return row;
}

export async function mustGetSchedule(db: Db, name: string): Promise<ScheduleRow> {
  const row = await scheduleStore.getSchedule(db, name);
  if (!row) throw new AppError('SCHEDULE_NOT_FOUND', `no schedule named "${name}"`, { details: { name } });
  return row;
}

/** The schedule as the API gives it back: what to run as workflow/plan/description, and no claim bookkeeping. */
export function specOf(row: ScheduleRow): ScheduleSpec {
  return {
    cron: row.cron,
    timezone: row.timezone,
    ...row.target,
    input: row.input,
    overlap: row.overlap,
    catch_up: row.catch_up,
    enabled: row.enabled,
    budget: row.budget,
  };
}

/**
 * Changes a schedule: fields not given keep their values (giving one of workflow/plan/description
 * replaces the other). A new cron or time zone, or a resume, recomputes the next tick from now.
 */
export async function changeSchedule(
  ctx: Ctx,
  name: string,
  patch: Partial<ScheduleSpec>,
  from: { definitionHash?: string | null; source?: 'api' | 'file'; planCheck?: PlanCheck } = {},
): Promise<ScheduleRow> {
  const current = await mustGetSchedule(ctx.db, name);
  const before = specOf(current);
  const retarget = patch.workflow !== undefined || patch.plan !== undefined || patch.description !== undefined;
  const merged: ScheduleSpec = {
    ...before,
    ...(retarget ? { workflow: undefined, plan: undefined, description: undefined } : {}),
    ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
  };
  const c = checkSchedule(ctx, merged);
  // Planned again only when what it plans changed.
  if (patch.description !== undefined || (patch.input !== undefined && 'description' in current.target))
    await checkPlannable(c, from.planCheck);
  const retime = c.cron !== current.cron || c.timezone !== current.timezone || (c.enabled && !current.enabled);
  const row = await scheduleStore.updateSchedule(ctx.db, name, {
    ...c,
    definition_hash: from.definitionHash === undefined ? current.definition_hash : from.definitionHash,
    source: from.source ?? current.source,
    next_run_at: !c.enabled ? current.next_run_at : retime ? nextTick(c) : current.next_run_at,
    resetHold: retime || !c.enabled,
  });
  if (!row) throw new AppError('SCHEDULE_NOT_FOUND', `no schedule named "${name}"`, { details: { name } });
  return row;
}

export function scheduleView(row: ScheduleRow): Record<string, unknown> {
  return {
    name: row.name,
    ...specOf(row),
    source: row.source,
    // A paused schedule has no next run; resuming it computes one from the time it resumes.
    next_run_at: row.enabled ? row.next_run_at : null,
    waiting_for_previous_run: row.held,
    last_run: row.last_task_id
      ? { task_id: row.last_task_id, started_at: row.last_run_at, status: row.last_status, status_url: `/tasks/${row.last_task_id}` }
      : null,
    last_tick_at: row.last_tick_at,
    last_outcome: row.last_outcome,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
