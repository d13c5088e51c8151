import { describe, expect, it } from 'vitest';
import { descendantsOf, findCycles, findPlanProblems, validatePlan } from '../../../services/orchestrator/engine/index.ts';
import type { PlanStep } from '../../../services/state/index.ts';

const step = (id: string, depends_on: string[] = [], agent = 'math', input: Record<string, unknown> = {}): PlanStep => ({
  id,
  agent,
  input,
  depends_on,
});
const agents = new Set(['math', 'echo']);

describe('plan validation', () => {
  it('accepts a diamond', () => {
    expect(() => validatePlan({ steps: [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])] }, agents)).not.toThrow();
  });

  it('names unknown agents, unknown dependencies and duplicates together', () => {
    const problems = findPlanProblems({ steps: [step('a', [], 'ghost'), step('b', ['zzz']), step('b')] }, agents);
    expect(problems.unknownAgents).toEqual([{ step: 'a', agent: 'ghost' }]);
    expect(problems.unknownDependencies).toEqual([{ step: 'b', dependency: 'zzz' }]);
    expect(problems.duplicateSteps).toEqual(['b']);
  });

  it('finds cycles, including a step that depends on itself', () => {
    expect(findCycles([step('a', ['c']), step('b', ['a']), step('c', ['b'])])).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles([step('a', ['a'])])).toEqual([['a', 'a']]);
    expect(findCycles([step('a'), step('b', ['a'])])).toEqual([]);
    expect(() => validatePlan({ steps: [step('x', ['y']), step('y', ['x'])] }, agents)).toThrow(/cycle: (x -> y -> x|y -> x -> y)/);
  });

  it('refuses references to outputs of steps that are not upstream', () => {
    const plan = { steps: [step('a'), step('b', [], 'math', { v: '{{steps.a.output.sum}}' })] };
    expect(() => validatePlan(plan, agents)).toThrow('step "b" refers to the output of "a", which it does not depend on');
    const ok = { steps: [step('a'), step('m', ['a']), step('b', ['m'], 'math', { v: '{{steps.a.output.sum}}' })] };
    expect(() => validatePlan(ok, agents)).not.toThrow();
  });

  it('refuses an empty plan', () => {
    expect(() => validatePlan({ steps: [] }, agents)).toThrow('plan has no steps');
  });

  it('finds everything downstream of a step', () => {
    const steps = [step('a'), step('b', ['a']), step('c', ['b']), step('d')];
    expect([...descendantsOf(steps, 'a')].sort()).toEqual(['b', 'c']);
    expect([...descendantsOf(steps, 'd')]).toEqual([]);
  });
});
