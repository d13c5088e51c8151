import { describe, expect, it } from 'vitest';
import { AppError } from '../../services/errors/index.ts';
import { matchAgent, planFromDescription, type AgentProfile } from '../../services/orchestrator/planner/index.ts';

const agents: AgentProfile[] = [
  { name: 'feature-dev', capabilities: ['build feature', 'implement functionality', 'write code'] },
  { name: 'infrastructure', capabilities: ['deploy infrastructure', 'provision server', 'docker compose service'] },
  { name: 'documentation', capabilities: ['write api docs', 'document code'] },
  { name: 'code-review', capabilities: ['review code', 'lint code'] },
];

describe('rule planner', () => {
  it('"X AND Y" gives two parallel subtasks on the agents whose capabilities match', () => {
    const plan = planFromDescription('Build feature X AND deploy infrastructure Y', agents);
    expect(plan.steps.map((s) => [s.id, s.agent, s.depends_on, s.input.task])).toEqual([
      ['feature-dev', 'feature-dev', [], 'Build feature X'],
      ['infrastructure', 'infrastructure', [], 'deploy infrastructure Y'],
    ]);
  });

  it('"then" makes everything after depend on everything before', () => {
    const plan = planFromDescription(
      'build the login feature and deploy infrastructure for redis, then document the code and then review code',
      agents,
    );
    expect(plan.steps.map((s) => [s.id, s.depends_on])).toEqual([
      ['feature-dev', []],
      ['infrastructure', []],
      ['documentation', ['feature-dev', 'infrastructure']],
      ['code-review', ['documentation']],
    ]);
  });

  it('reads a fragment that matches no agent as part of the subtask before it', () => {
    const plan = planFromDescription('implement a login page and a signup form', agents);
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]!.input.task).toBe('implement a login page and a signup form');
  });

  it('chooses by declared capabilities, so a new agent is picked with no planner change', () => {
    const withNew = [...agents, { name: 'translator', capabilities: ['translate text', 'localize strings'] }];
    expect(planFromDescription('translate the README', withNew).steps[0]!.agent).toBe('translator');
    expect(matchAgent('localizing strings', withNew)?.agent).toBe('translator');
  });

  it('gives every step the request input and its own subtask', () => {
    const plan = planFromDescription('review code then write api docs', agents, { files: [{ path: 'a.ts', content: '' }] });
    expect(plan.steps[1]!.input).toEqual({ files: [{ path: 'a.ts', content: '' }], task: 'write api docs' });
  });

  it('numbers repeated agents', () => {
    expect(planFromDescription('review code then lint code', agents).steps.map((s) => s.id)).toEqual(['code-review', 'code-review-2']);
  });

  it('422 names the part it cannot map and the agents that exist', () => {
    let err: unknown;
    try {
      planFromDescription('review code then bake a cake', agents);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).statusCode).toBe(422);
    expect((err as AppError).message).toMatch(/^no agent can do "bake a cake". Agents: feature-dev \(build feature/);
    expect((err as AppError).details).toMatchObject({ part: 'bake a cake' });
  });
});
