import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';

async function json(url: string, init?: RequestInit): Promise<Record<string, any>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  return (await res.json()) as Record<string, any>;
}

describe('a budget after SIGKILL of the orchestrator (child processes, real Postgres)', () => {
  it('the restarted orchestrator counts what the stored attempts spent and still refuses step 3', async () => {
    const double = await startChatDouble();
    const served: number[] = [];
    double.script(
      ...Array.from({ length: 10 }, () => () => {
        // 11+3 tokens, then 18+8: 40 after two calls.
        const usage = { prompt_tokens: 11 + 7 * served.length, completion_tokens: 3 + 5 * served.length };
        served.push(usage.prompt_tokens + usage.completion_tokens);
        return { content: 'ok', usage };
      }),
    );
    // The agent lives in this process, so it outlives the orchestrator and keeps its answers (its idempotency store).
    const handled: string[] = [];
    const agent = defineAgent({
      name: 'chatty',
      description: 'asks the model once, then takes its time',
      capabilities: ['ask the model'],
      async execute(input: { ms?: number }, ctx) {
        handled.push(ctx.idempotencyKey);
        await ctx.llm.chat({ messages: [{ role: 'user', content: ctx.stepId }], signal: ctx.signal });
        if (input.ms) await sleep(input.ms, undefined, { signal: ctx.signal });
        return { done: ctx.stepId };
      },
    });
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const agentApp = buildAgentApp(agent, { logLevel: 'silent', llm, shutdownGraceMs: 100 });
    onTestFinished(() => agentApp.close());
    const env = {
      DATABASE_URL: await schemaDatabaseUrl('budget'),
      AGENT_URLS: `chatty=${await listenOnLoopback(agentApp)}`,
      LEASE_MS: '2000',
      RECOVERY_INTERVAL_MS: '300',
      LOG_LEVEL: 'warn',
    };

    const first = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'budget-first' }, 1);
    const plan = {
      steps: [
        { id: 's1', agent: 'chatty', input: {} },
        // Long enough to be killed in: s1 is stored, s2's model call is made and its handler still runs.
        { id: 's2', agent: 'chatty', input: { ms: 3_000 }, depends_on: ['s1'] },
        { id: 's3', agent: 'chatty', input: {}, depends_on: ['s2'] },
      ],
    };
    const { task_id } = await json(`${first.urls.orchestrator}/orchestrate`, {
      method: 'POST',
      body: JSON.stringify({ plan, budget: { tokens: 39 } }),
    });
    expect(task_id).toMatch(/^[0-9a-f-]{36}$/);
    await poll(() => served.length === 2 && handled.includes(`${task_id}:s2:1`), {
      timeoutMs: 20_000,
      label: "s2's model call made, its handler running",
    });
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    // Before the kill only s1's spend (14 tokens) was stored: under the budget of 39.
    expect(served).toEqual([14, 26]);

    const second = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'budget-second' }, 1);
    const done = await poll(
      async () => {
        const task = await json(`${second.urls.orchestrator}/tasks/${task_id}`);
        return task.status === 'succeeded' || task.status === 'failed' ? task : undefined;
      },
      { timeoutMs: 30_000, label: 'the run to end on the second orchestrator', intervalMs: 100 },
    );
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { spent: { tokens: 40 }, held_steps: ['s3'] } });
    expect(done.error.message).toContain('39 tokens (used 40)');
    // s2 was sent again with its key and answered from the agent's store: one handler run, one
    // model call, its usage stored once. s3 was never sent.
    expect(handled).toEqual([`${task_id}:s1:1`, `${task_id}:s2:1`]);
    expect(served).toHaveLength(2);
    expect(done.usage).toMatchObject({ tokens: 40, calls: 2 });
    expect(done.steps.map((s: { status: string; attempts: unknown[] }) => [s.status, s.attempts.length])).toEqual([
      ['succeeded', 1],
      ['succeeded', 1],
      ['skipped', 0],
    ]);
  }, 90_000);
});
