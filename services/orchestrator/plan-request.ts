import { AppError } from '../errors/index.ts';
import type { Usage } from '../protocol/usage.ts';
import type { NewEvent, Plan } from '../state/index.ts';
import type { OrchestratorContext } from './context.ts';
import { fillWorkflowInput, normalizePlan, withoutStepRefs } from './engine/index.ts';
import type { AgentTransport } from '../protocol/transport/index.ts';
import { checkPlan, planDescription, refusedPlanError, type AgentProfile, type StepChecker, type StepFinding } from './planner/index.ts';
import type { Concurrency, ConcurrencyStrategy } from './engine/admission.ts';
import { periodMs, readKey, type RateLimit } from './engine/flow-control.ts';

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
  /** For a planned description: what each step's agent said of it (a step that only scaffolds says so). */
  checks?: StepFinding[];
  /** For a description a model planned: what its calls cost (the run's from the start: engine.ts prices it). */
  usage?: Usage;
}

/**
 * Asks agents over the transport (POST /check, within `timeoutMs`: PLAN_CHECK_TIMEOUT_MS); one that
 * cannot say leaves its step unchecked. A check reads the input and answers, and a hung agent should
 * not hold planning long; the default 10 s is not shorter because feature-dev's first check loads
 * the TypeScript parser, half a second idle and seconds on a busy machine.
 */
export function transportChecker(
  transport: Pick<AgentTransport, 'check'>,
  profiles: readonly AgentProfile[],
  timeoutMs: number,
): StepChecker {
  const checks = new Set(profiles.filter((p) => p.checks).map((p) => p.name));
  return async (agent, request) => {
    if (!checks.has(agent) || !transport.check) return { unchecked: `${agent} does not answer POST /check` };
    try {
      return await transport.check(agent, request, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      return { unchecked: `${agent} could not be asked: ${(err as Error).message}` };
    }
  };
}

export function unknownWorkflow(ctx: Pick<OrchestratorContext, 'workflows'>, name: string): AppError {
  return new AppError('VALIDATION_FAILED', `no workflow named "${name}"; known: ${[...ctx.workflows.keys()].join(', ') || 'none'}`, {
    details: { workflow: name },
  });
}

/**
 * The plan a request runs: a named workflow filled with the input, an explicit plan, or a description
 * planned now. `unused` is told what a model was paid for planning a description that is refused:
 * no run will carry that, so the caller records it (Engine.recordUnstoredPlanning).
 */
export async function planRun(
  // Without a transport (a caller that has none) the steps go unchecked.
  ctx: Pick<OrchestratorContext, 'workflows' | 'agents' | 'llm' | 'config'> & Partial<Pick<OrchestratorContext, 'transport'>>,
  r: RunRequest,
  unused?: (usage: Usage) => Promise<void>,
): Promise<PlannedRun> {
  const input = r.input ?? {};
  const description = r.description ?? (r.workflow ? `workflow ${r.workflow}` : null);
  if (r.workflow) {
    const named = ctx.workflows.get(r.workflow);
    if (!named) throw unknownWorkflow(ctx, r.workflow);
    const plan = fillWorkflowInput(named.plan, input);
    const checks = await checkWorkflow(ctx, named, plan);
    return {
      plan,
      events: [
        { type: 'workflow_planned_by', data: { planner: 'workflow', workflow: named.name } },
        { type: 'plan_checked', data: { checks } },
      ],
      description,
      checks,
    };
  }
  if (r.plan) return { plan: normalizePlan(r.plan as Plan), events: [], description };
  if (r.description) {
    const profiles = await ctx.agents.profiles();
    const checker = transportChecker(ctx.transport ?? {}, profiles, ctx.config.planCheckTimeoutMs);
    const planned = await planDescription(
      r.description,
      profiles,
      input,
      ctx.llm,
      ctx.agents.names(),
      (plan) => checkPlan(plan, profiles, checker, r.description),
      unused,
    );
    if (!planned.checked.runnable) {
      if (planned.usage.length > 0) await unused?.(planned.usage);
      throw refusedPlanError(planned.checked);
    }
    return {
      plan: planned.plan,
      events: [...planned.events, { type: 'plan_checked', data: { checks: planned.checked.findings } }],
      description,
      checks: planned.checked.findings,
      ...(planned.usage.length > 0 ? { usage: planned.usage } : {}),
    };
  }
  throw new AppError(
    'VALIDATION_FAILED',
    'body must have "description" (text to plan), "plan" (steps to run) or "workflow" (a named workflow)',
  );
}

/**
 * A named workflow's steps, filled with the request's input, asked of their agents as a planned
 * description's are: one its input leaves unable to run (feature_implementation with neither spec
 * nor files) is a 422 naming the step, what it lacks and the workflow's inputs, and nothing is
 * stored, instead of a run that fails at that step. The plan is run as written: a step's agent is
 * told what the steps before it hand on, and their "{{steps...}}" references are left out of what
 * it is asked about. An explicit plan is taken as written and not asked about.
 */
async function checkWorkflow(
  ctx: Pick<OrchestratorContext, 'agents' | 'config'> & Partial<Pick<OrchestratorContext, 'transport'>>,
  named: { name: string; inputs?: Record<string, string> | undefined },
  plan: Plan,
): Promise<StepFinding[]> {
  const profiles = await ctx.agents.profiles();
  const checker = transportChecker(ctx.transport ?? {}, profiles, ctx.config.planCheckTimeoutMs);
  const checked = await checkPlan({ steps: plan.steps.map((s) => ({ ...s, input: withoutStepRefs(s.input) })) }, profiles, checker);
  if (checked.runnable) return checked.findings;
  const inputs = Object.entries(named.inputs ?? {});
  const takes = inputs.length > 0 ? ` Workflow ${named.name} takes input ${inputs.map(([k, v]) => `${k} (${v})`).join(', ')}.` : '';
  const refused = checked.findings.filter((f) => f.verdict === 'refused');
  throw new AppError(
    'UNPLANNABLE',
    `workflow ${named.name} cannot run on this input: ${refused.map((f) => `step "${f.step}" (${f.agent}) refuses it: ${f.reason}`).join('; ')}.${takes}`,
    { details: { workflow: named.name, clauses: checked.findings } },
  );
}

/** A run's flow control as a request or its named workflow gives it; the request's own wins. */
export interface RunFlow {
  concurrency?: { key: string; limit: number; strategy?: ConcurrencyStrategy | undefined } | undefined;
  rate_limit?: { key?: string | undefined; limit: number; period: string } | undefined;
  priority?: number | undefined;
}

/**
 * A run's concurrency and rate limit with their keys read from the input: "input.repo" with input
 * {repo: "a/b"} is the key "input.repo=a/b". A 400 naming the field when a key reads nothing or
 * something that is not a value, or a period is not a duration.
 */
export function flowOf(
  flow: RunFlow,
  body: { input?: Record<string, unknown> | undefined; execute?: boolean | undefined },
  defaultKey: string,
): { concurrency?: Concurrency; rateLimit?: RateLimit; priority?: number } {
  const input = body.input ?? {};
  if ((flow.concurrency || flow.rate_limit) && body.execute === false)
    throw new AppError('VALIDATION_FAILED', 'concurrency and rate_limit apply to runs that start: not with execute: false', {
      details: { field: flow.concurrency ? 'concurrency' : 'rate_limit' },
    });
  const key = (field: string, expr: string, names = true) => {
    const reading = readKey(expr, input, names);
    if ('problem' in reading) throw new AppError('VALIDATION_FAILED', `${field} ${reading.problem}`, { details: { field, key: expr } });
    return reading.value;
  };
  const out: { concurrency?: Concurrency; rateLimit?: RateLimit; priority?: number } = {};
  const c = flow.concurrency;
  if (c) out.concurrency = { key: key('concurrency.key', c.key, false), limit: c.limit, strategy: c.strategy ?? 'queue' };
  const r = flow.rate_limit;
  if (r) {
    const ms = periodMs(r.period);
    if (ms === undefined)
      throw new AppError(
        'VALIDATION_FAILED',
        `rate_limit.period "${r.period}" is not a duration with a unit from 1ms to 1d (e.g. "1s", "1m")`,
        {
          details: { field: 'rate_limit.period' },
        },
      );
    out.rateLimit = { key: r.key === undefined ? defaultKey : key('rate_limit.key', r.key), limit: r.limit, periodMs: ms };
  }
  if (flow.priority !== undefined) out.priority = flow.priority;
  return out;
}
