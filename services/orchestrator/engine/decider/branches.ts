import type { Branch, Plan, PlanStep } from '../../../state/index.ts';
import { ancestorsOf, descendantsOf } from '../graph.ts';

export type BranchName = 'on_success' | 'on_failure' | 'on_approval' | 'on_rejection';
export const branchNames: readonly BranchName[] = ['on_success', 'on_failure', 'on_approval', 'on_rejection'];

/** What a step's answer was: its decision when it gave one, else whether it worked. */
export type Outcome = 'succeeded' | 'failed' | 'approved' | 'rejected';

export interface NormalBranch {
  name: BranchName;
  action: 'route' | 'retry' | 'fail';
  target: string | undefined;
  maxAttempts: number | undefined;
}

export function normalize(name: BranchName, b: Branch | undefined): NormalBranch | undefined {
  if (b === undefined) return undefined;
  if (typeof b === 'string') return { name, action: 'route', target: b, maxAttempts: undefined };
  return { name, action: b.action ?? (b.target ? 'route' : 'retry'), target: b.target, maxAttempts: b.max_attempts };
}

/** The branch an outcome takes; approvals fall back to on_success, nothing else does. */
export function branchFor(def: PlanStep, outcome: Outcome): NormalBranch | undefined {
  switch (outcome) {
    case 'failed':
      return normalize('on_failure', def.on_failure);
    case 'approved':
      return normalize('on_approval', def.on_approval) ?? normalize('on_success', def.on_success);
    case 'rejected':
      return normalize('on_rejection', def.on_rejection);
    case 'succeeded':
      return normalize('on_success', def.on_success);
  }
}

export function hasBranches(def: PlanStep): boolean {
  return branchNames.some((n) => def[n] !== undefined);
}

/** Steps that run only when a branch routes to them, with the step whose branch it is. */
export function gatedSteps(plan: Plan): Map<string, string> {
  const gated = new Map<string, string>();
  for (const def of plan.steps) {
    for (const n of branchNames) {
      const b = normalize(n, def[n]);
      if (b?.action === 'route' && b.target) gated.set(b.target, def.id);
    }
  }
  return gated;
}

/** What a loop from `source` back to `target` runs again: target, the steps between, and source. */
export function loopSet(plan: Plan, target: string, source: string): string[] {
  if (target === source) return [source];
  const ancestorsOfSource = ancestorsOf(plan.steps).get(source) ?? new Set<string>();
  const between = [...descendantsOf(plan.steps, target)].filter((id) => ancestorsOfSource.has(id));
  return [target, ...between, source];
}

/** Problems with the branches of a plan, as messages naming the step. */
export function branchProblems(plan: Plan): string[] {
  const ids = new Set(plan.steps.map((s) => s.id));
  const ancestors = ancestorsOf(plan.steps);
  const problems: string[] = [];
  const routedFrom = new Map<string, string>();
  for (const def of plan.steps) {
    for (const n of branchNames) {
      const b = normalize(n, def[n]);
      if (!b) continue;
      const where = `step "${def.id}" ${n}`;
      if (b.target !== undefined && !ids.has(b.target)) {
        problems.push(`${where} names unknown step "${b.target}"`);
        continue;
      }
      if (b.action === 'retry') {
        if (b.maxAttempts === undefined)
          problems.push(`${where} loops back to "${b.target ?? def.id}" without max_attempts: a loop needs a bound`);
        if (b.target !== undefined && b.target !== def.id && !ancestors.get(def.id)?.has(b.target)) {
          problems.push(`${where} retries "${b.target}", which is not upstream of it`);
        }
      }
      if (b.action === 'route') {
        if (!b.target) problems.push(`${where} routes nowhere: give a target step`);
        else if (!plan.steps.find((s) => s.id === b.target)!.depends_on.includes(def.id)) {
          problems.push(`${where} routes to "${b.target}", which must list "${def.id}" in depends_on`);
        } else if (routedFrom.has(b.target) && routedFrom.get(b.target) !== def.id) {
          problems.push(`step "${b.target}" is the target of branches of both "${routedFrom.get(b.target)}" and "${def.id}"`);
        } else routedFrom.set(b.target, def.id);
      }
    }
    if ((def.on_approval !== undefined || def.on_rejection !== undefined) && def.type !== 'approval' && def.agent === 'person') {
      problems.push(`step "${def.id}" has approval branches but no agent`);
    }
  }
  return problems;
}
