import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildKnowledgeApp, createMemoryCache } from '../../services/knowledge/index.ts';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

async function gateway() {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  const { agents } = testAgents();
  const { app: orchestrator } = await startPlatform(db, agents);
  const orchestratorUrl = await listenOnLoopback(orchestrator);
  const knowledge = buildKnowledgeApp({ db, cache: createMemoryCache(60_000), logLevel: 'silent', indexProjectDocs: false });
  onTestFinished(() => knowledge.close());
  const knowledgeUrl = await listenOnLoopback(knowledge);
  await knowledge.inject({
    method: 'POST',
    url: '/documents',
    payload: { source: 'runbook.md', content: '# Restarting\nA restarted orchestrator resumes workflows from their checkpoints.' },
  });
  const mcp = buildMcpGatewayApp({ orchestratorUrl, knowledgeUrl, logLevel: 'silent' });
  onTestFinished(() => mcp.close());
  const url = await listenOnLoopback(mcp);
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  onTestFinished(() => client.close());
  return { client, url, mcp };
}

describe('MCP gateway, driven by the SDK client', () => {
  it('lists the platform tools with their input schemas', async () => {
    const { client } = await gateway();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'approve_task',
      'cancel_task',
      'compare_tasks',
      'create_schedule',
      'delete_schedule',
      'fork_task',
      'get_schedule',
      'get_task',
      'get_usage',
      'list_agents',
      'list_schedules',
      'list_tasks',
      'orchestrate',
      'pause_schedule',
      'reject_task',
      'resume_schedule',
      'resume_task',
      'search_knowledge',
      'set_budget',
      'trigger_schedule',
    ]);
    expect(tools.find((t) => t.name === 'get_task')!.inputSchema.required).toEqual(['task_id']);
  });

  it('runs a workflow, reads it back, and says so when resuming a finished one', async () => {
    const { client } = await gateway();
    const run = await client.callTool({
      name: 'orchestrate',
      arguments: { plan: { steps: [{ id: 'a', agent: 'math', input: { values: [20, 22] } }] }, wait: true },
    });
    expect(run.isError).toBeFalsy();
    const body = run.structuredContent as { task_id: string; status: string; results: Array<{ output: { sum: number } }> };
    expect(body.status).toBe('succeeded');
    expect(body.results[0]!.output.sum).toBe(42);

    const task = await client.callTool({ name: 'get_task', arguments: { task_id: body.task_id } });
    expect((task.structuredContent as { steps: Array<{ status: string }> }).steps[0]!.status).toBe('succeeded');
    const listed = await client.callTool({ name: 'list_tasks', arguments: { status: 'succeeded', limit: 5 } });
    expect((listed.structuredContent as { tasks: Array<{ task_id: string; schedule: unknown }> }).tasks).toContainEqual(
      expect.objectContaining({ task_id: body.task_id, status: 'succeeded', schedule: null }),
    );
    const none = await client.callTool({ name: 'list_tasks', arguments: { status: 'failed' } });
    expect(none.structuredContent).toEqual({ tasks: [], next_cursor: null });
    const badList = await client.callTool({ name: 'list_tasks', arguments: { status: 'done' } });
    expect(badList.isError).toBe(true);
    expect((badList.content as Array<{ text: string }>)[0]!.text).toContain('status');

    // A retried call with the same idempotency key is the same task, not a second one.
    const keyed = {
      plan: { steps: [{ id: 'a', agent: 'math', input: { values: [1] } }] },
      wait: true,
      idempotency_key: `mcp-${body.task_id}`,
    };
    const first = (await client.callTool({ name: 'orchestrate', arguments: keyed })).structuredContent as { task_id: string };
    const retried = (await client.callTool({ name: 'orchestrate', arguments: keyed })).structuredContent as {
      task_id: string;
      status: string;
    };
    expect(retried).toMatchObject({ task_id: first.task_id, status: 'succeeded' });
    const clash = await client.callTool({
      name: 'orchestrate',
      arguments: { ...keyed, plan: { steps: [{ id: 'b', agent: 'math', input: {} }] } },
    });
    expect((clash.content as Array<{ text: string }>)[0]!.text).toMatch(/^IDEMPOTENCY_CONFLICT: /);

    const resumed = await client.callTool({ name: 'resume_task', arguments: { task_id: body.task_id } });
    expect(resumed.isError).toBe(true);
    expect((resumed.content as Array<{ text: string }>)[0]!.text).toMatch(/^WORKFLOW_FINISHED: /);
  });

  it('cancels, lists agents and searches the knowledge base', async () => {
    const { client } = await gateway();
    const started = await client.callTool({
      name: 'orchestrate',
      arguments: { plan: { steps: [{ id: 'slow', agent: 'math', input: { ms: 5_000 } }] } },
    });
    const { task_id } = started.structuredContent as { task_id: string };
    const cancelled = await client.callTool({ name: 'cancel_task', arguments: { task_id, reason: 'not needed' } });
    expect(cancelled.structuredContent).toMatchObject({ status: 'cancelled' });
    const later = await client.callTool({
      name: 'orchestrate',
      arguments: { plan: { steps: [{ id: 'sum', agent: 'math', input: { values: [1] } }] }, delay: '1h' },
    });
    expect(later.structuredContent).toMatchObject({ status: 'scheduled', run_at: expect.any(String) });

    const agents = await client.callTool({ name: 'list_agents', arguments: {} });
    expect((agents.structuredContent as { agents: Array<{ name: string }> }).agents.map((a) => a.name)).toContain('math');

    const found = await client.callTool({ name: 'search_knowledge', arguments: { query: 'restarted orchestrator' } });
    expect((found.structuredContent as { results: Array<{ source: string }> }).results[0]!.source).toBe('runbook.md');
  });

  it('answers a waiting approval step: approved, the run goes on; rejected, its branch decides', async () => {
    const { client } = await gateway();
    const gated = (onRejection?: Record<string, unknown>) => ({
      plan: {
        steps: [
          { id: 'gate', type: 'approval', prompt: 'Add them up?', ...(onRejection ? { on_rejection: onRejection } : {}) },
          { id: 'sum', agent: 'math', input: { values: [40, 2] }, depends_on: ['gate'] },
        ],
      },
    });
    const text = (res: Awaited<ReturnType<typeof client.callTool>>) => (res.content as Array<{ text: string }>)[0]!.text;
    const idOf = async (args: Record<string, unknown>) =>
      ((await client.callTool({ name: 'orchestrate', arguments: args })).structuredContent as { task_id: string }).task_id;
    const statusOf = async (task_id: string) => {
      for (let i = 0; i < 100; i++) {
        const task = (await client.callTool({ name: 'get_task', arguments: { task_id } })).structuredContent as { status: string };
        if (!['running', 'queued'].includes(task.status)) return task;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`task ${task_id} still running`);
    };

    const approved = await idOf(gated());
    expect(await statusOf(approved)).toMatchObject({ status: 'waiting' });
    const answer = await client.callTool({ name: 'approve_task', arguments: { task_id: approved, comment: 'go ahead' } });
    expect(answer.isError).toBeFalsy();
    expect(answer.structuredContent).toEqual({ task_id: approved, step_id: 'gate', decision: 'approved' });
    const done = (await statusOf(approved)) as unknown as { status: string; steps: Array<{ id: string; output: unknown }> };
    expect(done.status).toBe('succeeded');
    expect(done.steps.find((s) => s.id === 'sum')!.output).toMatchObject({ sum: 42 });
    // Nothing waits any more: the platform's 409, with its code.
    expect(text(await client.callTool({ name: 'reject_task', arguments: { task_id: approved } }))).toMatch(/^WORKFLOW_\w+: /);

    const rejected = await idOf(gated({ action: 'fail' }));
    expect(await statusOf(rejected)).toMatchObject({ status: 'waiting' });
    const no = await client.callTool({ name: 'reject_task', arguments: { task_id: rejected, step_id: 'gate', comment: 'not now' } });
    expect(no.structuredContent).toEqual({ task_id: rejected, step_id: 'gate', decision: 'rejected' });
    expect(await statusOf(rejected)).toMatchObject({ status: 'failed' });

    expect(text(await client.callTool({ name: 'approve_task', arguments: { task_id: rejected, step: 'gate' } }))).toContain(
      'step is not an argument approve_task takes; it takes task_id, comment, step_id',
    );
  });

  it('refuses bad tool arguments before calling the platform', async () => {
    const { client } = await gateway();
    const bad = await client.callTool({ name: 'get_task', arguments: { task_id: 'not-a-uuid' } });
    expect(bad.isError).toBe(true);
    expect((bad.content as Array<{ text: string }>)[0]!.text).toContain('task_id');
  });

  it('names an argument a tool does not take instead of dropping it, and what was meant', async () => {
    const { client } = await gateway();
    const text = async (name: string, args: Record<string, unknown>) => {
      const res = await client.callTool({ name, arguments: args });
      expect(res.isError).toBe(true);
      return (res.content as Array<{ text: string }>)[0]!.text;
    };
    // Dropped, "descripton" left a call with neither description nor plan, or ran without the misspelt option.
    expect(await text('orchestrate', { descripton: 'write a haiku' })).toContain(
      'descripton is not an argument orchestrate takes; did you mean description?',
    );
    const both = await text('orchestrate', {
      plan: { steps: [{ id: 'a', agent: 'docs-agent', input: {} }] },
      wiat: true,
      budget: { token: 5 },
    });
    expect(both).toContain('wiat is not an argument orchestrate takes; did you mean wait?');
    expect(both).toContain('unknown field token (did you mean tokens?) at budget');
    expect(await text('orchestrate', { description: 'write a haiku', waitt: true })).toContain('did you mean wait?');
    expect(await text('get_usage', { tenant: 'x' })).toMatch(/tenant is not an argument get_usage takes; it takes \w+/);
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'orchestrate')!.inputSchema.additionalProperties).toBe(false);
  });

  it('answers GET /mcp with 405 and has health and readiness', async () => {
    const { mcp } = await gateway();
    expect((await mcp.inject({ url: '/mcp' })).statusCode).toBe(405);
    expect((await mcp.inject({ url: '/ready' })).json()).toMatchObject({ status: 'ready' });
  });
});
