import { AppError } from '../errors/index.ts';
import type { NewEvent, Plan } from '../state/index.ts';
import type { OrchestratorContext } from './context.ts';
import { fillWorkflowInput, normalizePlan } from './engine/index.ts';
import { planDescription } from './planner/index.ts';

/** What a run is made of, as POST /orchestrate and a schedule both say it: one of workflow, plan or description. */
export interface RunRequest {
  workflow?: string | undefined;
  plan?: unknown;
  description?: string | undefined;
  input?: Record<string, unknown> | undefined;
}

export interface PlannedRun {
  plan: Plan;
  /** How the plan was made, written first in the event log. */
  events: NewEvent[];
  description: string | null;
}

export function unknownWorkflow(ctx: Pick<OrchestratorContext, 'workflows'>, name: string): AppError {
  return new AppError('VALIDATION_FAILED', `no workflow named "${name}"; known: ${[...ctx.workflows.keys()].join(', ') || 'none'}`, {
    details: { workflow: name },
  });
}

/** The plan a request runs: a named workflow filled with the input, an explicit plan, or a description planned now. */
export async function planRun(ctx: Pick<OrchestratorContext, 'workflows' | 'agents' | 'llm'>, r: RunRequest): Promise<PlannedRun> {
  const input = r.input ?? {};
  const description = r.description ?? (r.workflow ? `workflow ${r.workflow}` : null);
  if (r.workflow) {
    const named = ctx.workflows.get(r.workflow);
    if (!named) throw unknownWorkflow(ctx, r.workflow);
    return {
      plan: fillWorkflowInput(named.plan, input),
      events: [{ type: 'workflow_planned_by', data: { planner: 'workflow', workflow: named.name } }],
      description,
    };
  }
  if (r.plan) return { plan: normalizePlan(r.plan as Plan), events: [], description };
  if (r.description) {
    const planned = await planDescription(r.description, await ctx.agents.profiles(), input, ctx.llm, ctx.agents.names());
    return { ...planned, description };
  }
  throw new AppError(
    'VALIDATION_FAILED',
    'body must have "description" (text to plan), "plan" (steps to run) or "workflow" (a named workflow)',
  );
}
