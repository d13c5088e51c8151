import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { agentOn, meteredDouble } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { mcpTools } from '../helpers/mcp-client.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { runCli } from '../helpers/processes.ts';

const postgres = testDatabases.find((d) => d.name === 'postgres')!;
const chain = {
  steps: ['s1', 's2', 's3'].map((id, i) => ({ id, agent: 'chatty', input: {}, ...(i ? { depends_on: [`s${i}`] } : {}) })),
};

/** An orchestrator on loopback whose one agent asks the metered double (11+3 tokens, then 18+8, ...). */
async function orchestrator() {
  const db = await postgres.open();
  onTestFinished(() => db.close());
  const { double, served } = await meteredDouble();
  const ran: string[] = [];
  const { app } = await startPlatform(db, [], { AGENT_URLS: await agentOn(double, 'chatty', 'test-model', ran) });
  return { url: await listenOnLoopback(app), served, ran };
}

describe('usage and budgets through the CLI and the MCP tools', () => {
  it(
    'agentic-mesh run --budget-tokens prints the usage and the refusal; status and usage print the ledger',
    { timeout: 120_000 },
    async () => {
      const { url, served } = await orchestrator();
      const dir = await mkdtemp(join(tmpdir(), 'mesh-usage-'));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'plan.json'), JSON.stringify(chain));
      const cli = (...args: string[]) => runCli([...args, '--url', url], { LOG_LEVEL: 'silent' });

      const run = await cli('run', '--plan', join(dir, 'plan.json'), '--budget-tokens', '39');
      expect(run.code, run.stderr).toBe(1);
      expect(served).toHaveLength(2);
      expect(run.stdout).toContain(
        'usage: 40 tokens (29 prompt, 11 completion) in 2 model call(s), $0.00 (cost unknown for test-model: no price)',
      );
      expect(run.stdout).toMatch(/error: the run reached its budget of 39 tokens \(used 40\); not dispatched: s3/);
      expect(run.stdout).toMatch(/s1 \(chatty\): succeeded, 1 attempt\(s\) \d+ ms, 14 tokens, \$0\.00 \+ unknown/);
      const taskId = /task ([0-9a-f-]{36}) submitted/.exec(run.stdout)![1]!;

      const byAgent = await cli('usage', '--group-by', 'agent');
      expect(byAgent.code, byAgent.stderr).toBe(0);
      expect(byAgent.stdout).toContain('chatty: 40 tokens in 2 call(s), $0.00 (2 call(s) without a price)');
      const byRun = await cli('usage', '--group-by', 'workflow', '--from', '2020-01-01');
      expect(byRun.stdout).toContain(`${taskId}: 40 tokens in 2 call(s)`);
      const bad = await cli('usage', '--group-by', 'step');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('group_by "step" is not one of workflow, agent, model, api_key');

      // A failed run takes a higher budget for a resume to go on with.
      const raised = await cli('budget', taskId, '--budget-tokens', '1000');
      expect(raised.code, raised.stderr).toBe(0);
      expect(raised.stdout).toBe(`task ${taskId}: budget 1,000 tokens\n`);
      const resumed = await cli('resume', taskId);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(served).toHaveLength(3);
      expect(resumed.stdout).toContain('usage: 78 tokens (54 prompt, 24 completion) in 3 model call(s)');
    },
  );

  it('the MCP tools: orchestrate with a budget, get_usage, set_budget', { timeout: 120_000 }, async () => {
    const { url, served } = await orchestrator();
    const call = await mcpTools(url);

    const ran = await call('orchestrate', { plan: chain, budget: { tokens: 15 }, wait: true });
    expect(ran.isError).toBeFalsy();
    // s1 alone (14 tokens) stays under 15, s2 takes it past: s3 is never sent.
    expect(ran.structuredContent).toMatchObject({ status: 'failed', error: { code: 'BUDGET_EXCEEDED', details: { held_steps: ['s3'] } } });
    expect(served).toHaveLength(2);

    const usage = await call('get_usage', { group_by: 'model' });
    expect(usage.isError).toBeFalsy();
    expect(usage.structuredContent).toMatchObject({
      group_by: 'model',
      groups: [{ key: 'test-model', tokens: 40, calls: 2, unpriced_calls: 2 }],
      total: { tokens: 40, prompt_tokens: 29, completion_tokens: 11 },
    });
    const badDate = await call('get_usage', { from: 'last week' });
    expect(badDate.isError).toBe(true);
    expect(badDate.content[0]!.text).toMatch(/^VALIDATION_FAILED: from "last week"/);

    const id = ran.structuredContent!.task_id as string;
    const raised = await call('set_budget', { task_id: id, tokens: 100 });
    expect(raised.structuredContent).toMatchObject({ budget: { tokens: 100 }, resumed: false });
    expect((await call('resume_task', { task_id: id })).isError).toBeFalsy();
    await poll(async () => (await call('get_task', { task_id: id })).structuredContent?.status === 'succeeded', {
      timeoutMs: 20_000,
      label: 'the resumed task to succeed',
    });
    expect(served).toHaveLength(3);
    const late = await call('set_budget', { task_id: id, tokens: 200 });
    expect(late.isError).toBe(true);
    expect(late.content[0]!.text).toMatch(/^WORKFLOW_FINISHED: /);
  });
});
