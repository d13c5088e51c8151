import { AppError } from '../../errors/index.ts';
import { gives, type CheckRequest, type CheckVerdict } from '../../protocol/index.ts';
import type { Plan, PlanStep } from '../../state/index.ts';
import type { AgentProfile } from './routing-table.ts';

/** Asks one agent whether a step could run; undefined when the agent cannot say (no /check, or no answer). */
export type StepChecker = (agent: string, request: CheckRequest) => Promise<CheckVerdict | { unchecked: string }>;

/** One step of a planned description and what its agent said of it. */
export interface StepFinding {
  step: string;
  /** The words of the description the step was made from. */
  clause: string;
  agent: string;
  verdict: 'runs' | 'scaffold' | 'refused' | 'unchecked';
  reason?: string;
  fix?: string;
  /** Steps it was made to wait for: it works on what they hand on ("files"). */
  waits_for?: string[];
}

export interface CheckedPlan {
  plan: Plan;
  findings: StepFinding[];
  runnable: boolean;
}

/** Every step a step waits for, directly or not. */
function ancestors(steps: readonly PlanStep[], id: string, seen = new Set<string>()): Set<string> {
  for (const dep of steps.find((s) => s.id === id)?.depends_on ?? []) {
    if (seen.has(dep)) continue;
    seen.add(dep);
    ancestors(steps, dep, seen);
  }
  return seen;
}

/**
 * Asks each step's agent, before anything is stored, whether the step could run on its input and
 * what its dependencies will hand on. A step refused for want of something an earlier step hands on
 * ("review it" beside "build X": files) is made to wait for that step and asked again; "and" in a
 * description often means "and then".
 */
export async function checkPlan(
  plan: Plan,
  agents: readonly AgentProfile[],
  checker: StepChecker,
  description?: string,
): Promise<CheckedPlan> {
  const outputs = new Map(agents.map((a) => [a.name, a.outputs ?? []]));
  const agentOf = new Map(plan.steps.map((s) => [s.id, s.agent]));
  // The planner gives the run's input to every step; a step after one that writes code works on that
  // code instead ("review the code, fix the findings, then run the tests" tests the fixed files).
  const afterCode = (s: PlanStep) => s.depends_on.some((id) => gives(outputs.get(agentOf.get(id) ?? '') ?? [], 'files:source'));
  const steps = plan.steps.map((s) => ({
    ...s,
    depends_on: [...s.depends_on],
    ...(afterCode(s) && s.input.files !== undefined ? { input: withoutFiles(s.input) } : {}),
  }));
  const ask = (step: PlanStep) =>
    checker(step.agent, {
      input: step.input,
      context: {
        ...(description ? { description } : {}),
        upstream: step.depends_on.map((id) => {
          const agent = steps.find((s) => s.id === id)?.agent ?? '';
          return { step: id, agent, outputs: outputs.get(agent) ?? [] };
        }),
      },
    });
  const verdicts = await Promise.all(steps.map((s) => (s.type === 'approval' ? Promise.resolve({ verdict: 'runs' as const }) : ask(s))));
  const waits = new Map<string, string[]>();
  for (const [i, step] of steps.entries()) {
    const v = verdicts[i];
    if (!('verdict' in v) || v.verdict !== 'refused' || !v.wants?.length) continue;
    // A step sees only its direct dependencies' outputs, so an ancestor that writes files may still be the one to add.
    const giver = steps
      .slice(0, i)
      .reverse()
      .find(
        (s) =>
          !step.depends_on.includes(s.id) &&
          !ancestors(steps, s.id).has(step.id) &&
          v.wants!.every((w) => gives(outputs.get(s.agent) ?? [], w)),
      );
    if (!giver) continue;
    step.depends_on.push(giver.id);
    waits.set(step.id, [giver.id]);
    verdicts[i] = await ask(step);
  }
  const findings = steps.map((step, i): StepFinding => {
    const v = verdicts[i];
    const base = { step: step.id, clause: step.description ?? String(step.input.task ?? step.id), agent: step.agent };
    const waitsFor = waits.get(step.id);
    const extra = waitsFor ? { waits_for: waitsFor } : {};
    if (!('verdict' in v)) return { ...base, verdict: 'unchecked', reason: v.unchecked, ...extra };
    if (v.verdict === 'runs') return { ...base, verdict: 'runs', ...extra };
    if (v.verdict === 'scaffold') return { ...base, verdict: 'scaffold', reason: v.reason, ...extra };
    return { ...base, verdict: 'refused', reason: v.reason, fix: v.fix, ...extra };
  });
  return { plan: { steps }, findings, runnable: findings.every((f) => f.verdict !== 'refused') };
}

function withoutFiles(input: Record<string, unknown>): Record<string, unknown> {
  const { files: _files, ...rest } = input;
  return rest;
}

/** The 422 for a plan whose agents refuse it: each refused clause, where it went, why, and what to write instead. */
export function refusedPlanError(checked: CheckedPlan): AppError {
  const refused = checked.findings.filter((f) => f.verdict === 'refused');
  const message = refused.map((f) => `"${f.clause}" went to ${f.agent}, which refuses it: ${f.reason}; instead, ${f.fix}`).join('. ');
  return new AppError('UNPLANNABLE', `the plan cannot run: ${message}`, {
    details: { clauses: checked.findings, plan: checked.plan },
  });
}
