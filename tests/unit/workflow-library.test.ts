import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { builtInWorkflowsDir, loadWorkflows, parseWorkflow } from '../../services/orchestrator/workflow-library.ts';
import { runCli } from '../helpers/processes.ts';

const agents = new Set(['feature-dev', 'code-review', 'cicd']);
const good = `name: demo
description: two steps
steps:
  - id: a
    agent: feature-dev
  - id: b
    agent: code-review
    depends_on: [a]
`;

function problem(text: string): string {
  try {
    parseWorkflow(text, 'wf.yaml', agents);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('named workflows in YAML', () => {
  it('loads the built-in ones', async () => {
    const wfs = await loadWorkflows(
      builtInWorkflowsDir,
      new Set(['feature-dev', 'code-review', 'cicd', 'infrastructure', 'documentation']),
    );
    expect(wfs.get('feature_implementation')?.plan.steps.map((s) => s.id)).toEqual(['develop', 'review', 'ci']);
  });

  it('names the file, the line and the problem', () => {
    expect(parseWorkflow(good, 'wf.yaml', agents).plan.steps[1]!.depends_on).toEqual(['a']);
    expect(problem('name: demo\ndescription: x\nsteps:\n  - id: a\n    agent: [unclosed\n')).toMatch(/^wf\.yaml:\d: not valid YAML: /);
    expect(problem(good.replace('    agent: code-review', '    agnet: code-review'))).toBe('wf.yaml:7: steps.1.agnet is not a known field');
    expect(problem(good.replace('agent: code-review', 'agent: reviewer-9000'))).toBe(
      'wf.yaml:6: step "b" names unknown agent "reviewer-9000" (known: cicd, code-review, feature-dev)',
    );
    expect(problem(`${good}    on_rejection: { action: retry, target: a }\n`)).toBe(
      'wf.yaml:6: step "b" on_rejection loops back to "a" without max_attempts: a loop needs a bound',
    );
    expect(problem(good.replace('depends_on: [a]', 'depends_on: [zz]'))).toBe('wf.yaml:6: step "b" depends on unknown step "zz"');
    expect(problem('name: Bad Name\ndescription: x\nsteps: []\n')).toMatch(/^wf\.yaml:1: name must match pattern/);
  });

  it('a bad file stops the orchestrator from starting, saying where', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-wf-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'broken.yaml'), good.replace('depends_on: [a]', 'depends_on: [b]'));
    const res = await runCli(['orchestrator'], { WORKFLOWS_DIR: dir, PGLITE_DATA_DIR: 'memory://', PORT: '0' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${join(dir, 'broken.yaml')}:6: cycle: b -> b`);
  });
});
