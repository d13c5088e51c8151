import { describe, expect, it } from 'vitest';
import { corpus } from '../planner/corpus.ts';
import { builtInPlanner, planEntry } from '../planner/run-corpus.ts';

const planner = await builtInPlanner();

describe("planner corpus: the rule planner and the built-in agents' checks", () => {
  it('has at least 80 descriptions from every source', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(80);
    expect(new Set(corpus.map((e) => e.from))).toEqual(new Set(['issue', 'design', 'readme', 'workflow', 'team', 'typo']));
  });

  it.each(corpus.map((e) => [e.description, e] as const))('%s', async (_, entry) => {
    const outcome = await planEntry(entry, planner);
    if (entry.plan) expect(outcome.plan, outcome.message).toEqual(entry.plan);
    else if (entry.refused) expect(outcome.refused, JSON.stringify(outcome.plan)).toEqual(entry.refused);
    else expect(outcome.unplannable, JSON.stringify(outcome)).toBe(entry.unplannable);
  });
});

describe("the issue's examples", () => {
  it('"Build feature Z then document feature Z": feature-dev, then documentation on its files; feature-dev says it only scaffolds', async () => {
    const { checkPlan, planFromDescription } = await import('../../services/orchestrator/planner/index.ts');
    const description = 'Build feature Z then document feature Z';
    const checked = await checkPlan(planFromDescription(description, planner.profiles), planner.profiles, planner.checker, description);
    expect(checked.findings).toEqual([
      {
        step: 'feature-dev',
        clause: 'Build feature Z',
        agent: 'feature-dev',
        verdict: 'scaffold',
        reason: expect.stringContaining('scaffold'),
      },
      { step: 'documentation', clause: 'document feature Z', agent: 'documentation', verdict: 'runs' },
    ]);
  });

  it('"Test workflow 7" is refused naming cicd, why, and to pass input.files', async () => {
    const outcome = await planEntry({ description: 'Test workflow 7', from: 'issue' }, planner);
    expect(outcome.message).toMatch(/"Test workflow 7" went to cicd, which refuses it: cicd works on code and has none.*pass input\.files/);
  });

  it('"Build feature X AND deploy infrastructure Y" is refused naming a known service to write', async () => {
    const outcome = await planEntry({ description: 'Build feature X AND deploy infrastructure Y', from: 'issue' }, planner);
    expect(outcome.refused).toEqual(['infrastructure']);
    expect(outcome.message).toMatch(/"deploy infrastructure Y" went to infrastructure.*name a known service \(redis, postgres/);
  });

  it('"and" becomes "then" where a step works on what another writes, and the finding says so', async () => {
    const { checkPlan, planFromDescription } = await import('../../services/orchestrator/planner/index.ts');
    const description = 'Implement a slugify function and review it';
    const checked = await checkPlan(planFromDescription(description, planner.profiles), planner.profiles, planner.checker, description);
    expect(checked.findings[1]).toEqual({
      step: 'code-review',
      clause: 'review it',
      agent: 'code-review',
      verdict: 'runs',
      waits_for: ['feature-dev'],
    });
  });
});
