import { Type, type Static } from 'typebox';
import { AppError } from '../../errors/index.ts';
import type { LlmGateway } from '../../llm/index.ts';
import { addUsage, type Usage } from '../../protocol/usage.ts';
import type { NewEvent, Plan } from '../../state/index.ts';
import { validatePlan } from '../engine/index.ts';
import type { CheckedPlan } from './plan-check.ts';
import { planFromDescription, type AgentProfile } from './rule-planner.ts';

const ModelPlan = Type.Object({
  steps: Type.Array(
    Type.Object({
      id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
      agent: Type.String(),
      task: Type.String({ minLength: 1 }),
      depends_on: Type.Array(Type.String()),
    }),
    { minItems: 1, maxItems: 50 },
  ),
});

export interface Planned {
  plan: Plan;
  /** How the plan was made, for the workflow's event log. */
  events: NewEvent[];
  /** What each step's agent said of it; the plan may be refused (runnable false). */
  checked: CheckedPlan;
  /**
   * What the model's calls cost, per model, as the provider reported them (unpriced here): every
   * call it answered, the plan used or not (a fallback to the rules was paid for all the same).
   */
  usage: Usage;
}

/** Checks a plan with its agents (plan-check.ts). */
export type PlanCheck = (plan: Plan) => Promise<CheckedPlan>;

function prompt(description: string, agents: readonly AgentProfile[]) {
  const catalogue = agents.map((a) => `- ${a.name}: ${a.description ?? ''} Capabilities: ${a.capabilities.join('; ')}`).join('\n');
  return [
    {
      role: 'system' as const,
      content:
        'You split a software task into steps for agents. Use only these agents:\n' +
        `${catalogue}\n` +
        'Each step has a short unique id, the agent, the subtask text for that agent, and depends_on: the ids of steps whose results it needs. ' +
        'Steps without a dependency between them run in parallel. Answer with JSON only: {"steps": [{"id", "agent", "task", "depends_on"}]}.',
    },
    { role: 'user' as const, content: description },
  ];
}

/**
 * With a model: the description becomes a plan through it, checked like any other plan and then by
 * its agents. A model failure, an invalid plan or one its agents refuse falls back to the rules,
 * and the event log says why.
 */
export async function planDescription(
  description: string,
  agents: readonly AgentProfile[],
  input: Record<string, unknown>,
  llm: LlmGateway,
  knownAgents: ReadonlySet<string>,
  check: PlanCheck,
  /** Told what the model's calls cost when no plan comes of them (the rules then refuse the description). */
  unused?: (usage: Usage) => Promise<void>,
): Promise<Planned> {
  let usage: Usage = [];
  const metered = llm.metered((u) => (usage = addUsage(usage, u)));
  const byRules = async (event: NewEvent): Promise<Planned> => {
    try {
      const checked = await check(planFromDescription(description, agents, input));
      return { plan: checked.plan, checked, events: [event], usage };
    } catch (err) {
      if (usage.length > 0) await unused?.(usage);
      throw err;
    }
  };
  if (!llm.available) return byRules({ type: 'workflow_planned_by', data: { planner: 'rules', reason: 'no language model configured' } });
  let reason: string;
  try {
    const { value } = await metered.structured({
      name: 'workflow_plan',
      schema: ModelPlan,
      messages: prompt(description, agents),
      temperature: 0,
    });
    const plan = toPlan(value, input);
    validatePlan(plan, knownAgents);
    const checked = await check(plan);
    if (checked.runnable)
      return { plan: checked.plan, checked, events: [{ type: 'workflow_planned_by', data: { planner: 'llm', model: llm.model } }], usage };
    const refused = checked.findings.filter((f) => f.verdict === 'refused');
    reason = `its agents refuse the model's plan: ${refused.map((f) => `${f.step} (${f.agent}): ${f.reason}`).join('; ')}`;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    reason = `${err.code}: ${err.message}`;
  }
  return byRules({ type: 'planner_fallback', data: { planner: 'rules', model: llm.model, reason } });
}

function toPlan(value: Static<typeof ModelPlan>, input: Record<string, unknown>): Plan {
  return {
    steps: value.steps.map((s) => ({
      id: s.id,
      agent: s.agent,
      description: s.task,
      input: { ...input, task: s.task },
      depends_on: s.depends_on,
    })),
  };
}
