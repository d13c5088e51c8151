import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { runCli } from '../helpers/processes.ts';
import { testAgents } from '../helpers/test-agents.ts';

const chain = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
    { id: 'c', agent: 'math', input: { values: [100] }, depends_on: ['b'] },
  ],
};
const postgres = testDatabases.find((d) => d.name === 'postgres')!;

async function platform() {
  const db = await postgres.open();
  onTestFinished(() => db.close());
  const { log, agents } = testAgents();
  const { app } = await startPlatform(db, agents);
  const url = await listenOnLoopback(app);
  const parent = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: chain, wait: true } })).json<{
    task_id: string;
  }>();
  return { app, url, log, parent: parent.task_id };
}

describe('fork and compare through the CLI and the MCP tools', () => {
  it(
    'agentic-mesh fork prints what it reused and how the fork compares; agentic-mesh compare prints the same',
    { timeout: 120_000 },
    async () => {
      const { url, log, parent } = await platform();
      const dir = await mkdtemp(join(tmpdir(), 'mesh-fork-'));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'patch.json'), JSON.stringify({ values: [1000] }));
      const cli = (...args: string[]) => runCli([...args, '--url', url], { LOG_LEVEL: 'silent' });

      const forked = await cli('fork', parent, '--from', 'b', '--input-patch', join(dir, 'patch.json'));
      expect(forked.code, forked.stderr).toBe(0);
      const id = new RegExp(`^task (\\S+) forked from ${parent} at step b: reused a; succeeded$`, 'm').exec(forked.stdout)?.[1];
      expect(id, forked.stdout).toBeDefined();
      expect(log.runs.filter((r) => r.key.startsWith(`${id}:`)).map((r) => r.step)).toEqual(['b', 'c']);
      expect(forked.stdout).toContain(`b ${id} succeeded (forked from a)`);
      expect(forked.stdout).toMatch(/^ {2}a: reused {2}\[succeeded \| succeeded\]$/m);
      expect(forked.stdout).toMatch(/^ {2}b: changed {2}\[succeeded \| succeeded\] {2}\d+ -> \d+ ms/m);
      expect(forked.stdout).toMatch(/^ {6}changed \/sum 13 -> 1003$/m);
      expect(forked.stdout).toMatch(/^ {6}changed \/sum 113 -> 1103$/m);
      expect(forked.stdout).toContain('  reused: a; changed: b, c');

      const compared = await cli('compare', parent, id!);
      expect(compared.code, compared.stderr).toBe(0);
      expect(compared.stdout).toContain('  reused: a; changed: b, c');

      const bad = await cli('fork', parent, '--from', 'nope');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/VALIDATION_FAILED: from_step "nope" is not a step of this run/);
    },
  );

  it('the MCP tools fork_task and compare_tasks', { timeout: 120_000 }, async () => {
    const { url, log, parent } = await platform();
    const mcp = buildMcpGatewayApp({ orchestratorUrl: url, knowledgeUrl: undefined, logLevel: 'silent' });
    onTestFinished(() => mcp.close());
    const client = new Client({ name: 'fork-check', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${await listenOnLoopback(mcp)}/mcp`)));
    onTestFinished(() => client.close());
    const call = async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })) as {
        isError?: boolean;
        structuredContent?: Record<string, any>;
        content: Array<{ text: string }>;
      };

    const forked = await call('fork_task', {
      task_id: parent,
      from_step: 'c',
      plan_patch: { steps: { c: { input: { values: [200] } } } },
      wait: true,
    });
    expect(forked.isError, forked.content[0]?.text).toBeFalsy();
    expect(forked.structuredContent).toMatchObject({
      status: 'succeeded',
      reused: ['a', 'b'],
      forked_from: { task_id: parent, step_id: 'c' },
    });
    const id = forked.structuredContent!.task_id as string;
    expect(log.runs.filter((r) => r.key.startsWith(`${id}:`)).map((r) => r.step)).toEqual(['c']);

    const cmp = await call('compare_tasks', { task_a: parent, task_b: id });
    expect(cmp.structuredContent!.summary).toMatchObject({ reused: ['a', 'b'], changed: ['c'] });
    const c = cmp.structuredContent!.steps.find((s: { step_id: string }) => s.step_id === 'c');
    expect(c.diff).toEqual([{ op: 'changed', path: '/sum', old: 113, value: 213 }]);

    const refused = await call('fork_task', { task_id: parent, from_step: 'c', plan_patch: { steps: { a: { input: {} } } } });
    expect(refused.isError).toBe(true);
    expect(refused.content[0]!.text).toMatch(/^VALIDATION_FAILED: plan_patch.steps.a: "a" is upstream of from_step "c"/);
  });
});
