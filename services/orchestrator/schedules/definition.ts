import { AppError } from '../../errors/index.ts';
import type { Budget, Plan, ScheduleRow } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';
import { normalizePlan } from '../engine/index.ts';
import { unknownWorkflow } from '../plan-request.ts';
import { cronProblem } from './cron.ts';
import { catchUps, overlaps, type CatchUp, type Overlap } from './tick-plan.ts';

/** A schedule as the API and the workflow files give it. */
export interface ScheduleSpec {
  cron: string;
  timezone?: string | undefined;
  workflow?: string | undefined;
  plan?: unknown;
  description?: string | undefined;
  input?: Record<string, unknown> | undefined;
  overlap?: string | undefined;
  catch_up?: string | undefined;
  enabled?: boolean | undefined;
  /** What each run may spend; null (in a change) removes it. */
  budget?: Budget | null | undefined;
}

export interface CheckedSchedule {
  cron: string;
  timezone: string;
  target: ScheduleRow['target'];
  input: Record<string, unknown>;
  overlap: Overlap;
  catch_up: CatchUp;
  enabled: boolean;
  budget: Budget | null;
}

export const defaultOverlap: Overlap = 'skip';
export const defaultCatchUp: CatchUp = 'latest';

export const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Checks a schedule; every problem is a 400 that names the field and the value. */
export function checkSchedule(ctx: Pick<OrchestratorContext, 'workflows' | 'engine'>, spec: ScheduleSpec): CheckedSchedule {
  const timezone = spec.timezone ?? 'UTC';
  const problem = cronProblem(spec.cron, timezone);
  if (problem) throw new AppError('VALIDATION_FAILED', problem, { details: { cron: spec.cron, timezone } });
  const overlap = spec.overlap ?? defaultOverlap;
  if (!overlaps.includes(overlap as Overlap))
    throw new AppError('VALIDATION_FAILED', `overlap must be one of ${overlaps.join(', ')}; got ${JSON.stringify(overlap)}`);
  const catchUp = spec.catch_up ?? defaultCatchUp;
  if (!catchUps.includes(catchUp as CatchUp))
    throw new AppError('VALIDATION_FAILED', `catch_up must be one of ${catchUps.join(', ')}; got ${JSON.stringify(catchUp)}`);
  const given = (['workflow', 'plan', 'description'] as const).filter((k) => spec[k] !== undefined);
  if (given.length !== 1)
    throw new AppError(
      'VALIDATION_FAILED',
      given.length === 0
        ? 'a schedule needs what to run: "workflow" (a named workflow), "plan" (steps) or "description" (text to plan on each tick)'
        : `give one of "workflow", "plan" or "description", not ${given.map((g) => `"${g}"`).join(' and ')}`,
    );
  let target: ScheduleRow['target'];
  if (spec.workflow !== undefined) {
    if (!ctx.workflows.has(spec.workflow)) throw unknownWorkflow(ctx, spec.workflow);
    target = { workflow: spec.workflow };
  } else if (spec.plan !== undefined) {
    const plan = normalizePlan(spec.plan as Plan);
    // Refused now (unknown agents, cycles...), not on the first tick.
    ctx.engine.validate(plan);
    target = { plan };
  } else target = { description: spec.description! };
  return {
    cron: spec.cron,
    timezone,
    target,
    input: spec.input ?? {},
    overlap: overlap as Overlap,
    catch_up: catchUp as CatchUp,
    enabled: spec.enabled ?? true,
    budget: spec.budget ?? null,
  };
}
