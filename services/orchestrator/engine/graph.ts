import { AppError } from '../../errors/index.ts';
import type { Plan, PlanStep } from '../../state/index.ts';
import { branchProblems } from './decider/branches.ts';
import { flowControlProblems } from './flow-control.ts';
import { referencedSteps } from './input-refs.ts';

export interface PlanProblems {
  duplicateSteps: string[];
  unknownAgents: Array<{ step: string; agent: string }>;
  unknownDependencies: Array<{ step: string; dependency: string }>;
  cycles: string[][];
  badReferences: Array<{ step: string; reference: string }>;
  branches: string[];
  missingAgents: string[];
  /** A step's concurrency or rate_limit that cannot work (flow-control.ts). */
  flowControl: string[];
}

/** Every problem in the graph at once, so one 400 names them all. */
export function findPlanProblems(plan: Plan, knownAgents: ReadonlySet<string>): PlanProblems {
  const ids = new Set<string>();
  const duplicateSteps: string[] = [];
  for (const s of plan.steps) {
    if (ids.has(s.id)) duplicateSteps.push(s.id);
    ids.add(s.id);
  }
  const unknownAgents = plan.steps
    .filter((s) => s.type !== 'approval' && s.agent !== '' && !knownAgents.has(s.agent))
    .map((s) => ({ step: s.id, agent: s.agent }));
  const missingAgents = plan.steps.filter((s) => s.type !== 'approval' && s.agent === '').map((s) => s.id);
  const unknownDependencies = plan.steps.flatMap((s) =>
    s.depends_on.filter((d) => !ids.has(d)).map((dependency) => ({ step: s.id, dependency })),
  );
  const cycles = findCycles(plan.steps);
  const badReferences: PlanProblems['badReferences'] = [];
  if (cycles.length === 0) {
    const ancestors = ancestorsOf(plan.steps);
    for (const s of plan.steps) {
      for (const ref of referencedSteps(s.input)) {
        if (!ancestors.get(s.id)?.has(ref)) badReferences.push({ step: s.id, reference: ref });
      }
    }
  }
  const branches = cycles.length === 0 && unknownDependencies.length === 0 ? branchProblems(plan) : [];
  const flowControl = flowControlProblems(plan.steps);
  return { duplicateSteps, unknownAgents, unknownDependencies, cycles, badReferences, branches, missingAgents, flowControl };
}

export function validatePlan(plan: Plan, knownAgents: ReadonlySet<string>): void {
  if (plan.steps.length === 0) throw new AppError('INVALID_PLAN', 'plan has no steps');
  const p = findPlanProblems(plan, knownAgents);
  const messages = [
    ...p.duplicateSteps.map((s) => `duplicate step id "${s}"`),
    ...p.missingAgents.map((id) => `step "${id}" has no agent (only approval steps may leave it out)`),
    ...p.unknownAgents.map((u) => `step "${u.step}" names unknown agent "${u.agent}" (known: ${[...knownAgents].sort().join(', ')})`),
    ...p.unknownDependencies.map((u) => `step "${u.step}" depends on unknown step "${u.dependency}"`),
    ...p.cycles.map((c) => `cycle: ${c.join(' -> ')}`),
    ...p.badReferences.map((r) => `step "${r.step}" refers to the output of "${r.reference}", which it does not depend on`),
    ...p.branches,
    ...p.flowControl,
  ];
  if (messages.length > 0) {
    throw new AppError('INVALID_PLAN', `invalid plan: ${messages.join('; ')}`, { details: { ...p } });
  }
}

/** Each elementary cycle reported once, as a path that returns to its start (a -> b -> a). */
export function findCycles(steps: readonly PlanStep[]): string[][] {
  const deps = new Map(steps.map((s) => [s.id, s.depends_on]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue;
      if (state.get(d) === 'visiting') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const s of steps) if (!state.has(s.id)) visit(s.id);
  // Edges point at dependencies; report cycles in execution order.
  return cycles.map((c) => c.reverse());
}

export function ancestorsOf(steps: readonly PlanStep[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, Set<string>>();
  const get = (id: string): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const out = new Set<string>();
    memo.set(id, out);
    for (const d of byId.get(id)?.depends_on ?? []) {
      out.add(d);
      for (const a of get(d)) out.add(a);
    }
    return out;
  };
  for (const s of steps) get(s.id);
  return memo;
}

/** Steps that depend on `id`, directly or through others. */
export function descendantsOf(steps: readonly PlanStep[], id: string): Set<string> {
  const out = new Set<string>();
  let frontier = [id];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const s of steps) {
      if (!out.has(s.id) && s.depends_on.some((d) => frontier.includes(d))) {
        out.add(s.id);
        next.push(s.id);
      }
    }
    frontier = next;
  }
  return out;
}

/** A plan as the API and YAML give it, with the defaults filled in (approval steps run as "person"). */
export function normalizePlan(plan: { steps: Array<Partial<PlanStep> & { id: string }> }): Plan {
  return {
    steps: plan.steps.map((s) => ({
      ...s,
      id: s.id,
      agent: s.agent ?? (s.type === 'approval' ? 'person' : ''),
      input: s.input ?? {},
      depends_on: s.depends_on ?? [],
    })),
  };
}
