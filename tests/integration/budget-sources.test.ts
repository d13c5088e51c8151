import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { codeReviewAgent } from '../../agents/code-review/index.ts';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { agentOn, meteredDouble } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { json, malformed } from '../helpers/llm.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

const postgres = testDatabases.find((d) => d.name === 'postgres')!;

async function platform(env: Record<string, string>) {
  const db = await postgres.open();
  onTestFinished(() => db.close());
  return (await startPlatform(db, [], env)).app;
}

async function ended(app: FastifyInstance, id: string, headers: Record<string, string> = {}) {
  return poll(
    async () => {
      const t = (await app.inject({ url: `/tasks/${id}`, headers })).json();
      return ['succeeded', 'failed', 'waiting'].includes(t.status) ? t : undefined;
    },
    { timeoutMs: 20_000, label: 'the run to end' },
  );
}

describe('where a budget comes from', () => {
  it("a named workflow's YAML gives its runs a budget, and a request's own replaces it", async () => {
    const { double } = await meteredDouble();
    const dir = await mkdtemp(join(tmpdir(), 'mesh-budget-wf-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'thrifty.yaml'),
      [
        'name: thrifty',
        'description: three questions to the model, at most 30 tokens',
        'budget: { tokens: 30 }',
        'steps:',
        '  - { id: s1, agent: chatty }',
        '  - { id: s2, agent: chatty, depends_on: [s1] }',
        '  - { id: s3, agent: chatty, depends_on: [s2] }',
        '',
      ].join('\n'),
    );
    const app = await platform({ WORKFLOWS_DIR: dir, AGENT_URLS: await agentOn(double, 'chatty', 'test-model', []) });
    const run = async (body: Record<string, unknown>) => {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { workflow: 'thrifty', ...body } });
      expect(res.statusCode, res.body).toBe(202);
      return ended(app, res.json().task_id);
    };
    const capped = await run({});
    expect(capped.budget).toEqual({ tokens: 30 });
    expect(capped.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { held_steps: ['s3'] } });
    const roomier = await run({ budget: { tokens: 10_000 } });
    expect(roomier.status).toBe('succeeded');
    expect(roomier.budget).toEqual({ tokens: 10_000 });
  });

  it("an API key's budget is the default for the runs it submits; a request's own wins", async () => {
    const { double } = await meteredDouble();
    const admin = `adm-${randomBytes(16).toString('hex')}`;
    const app = await platform({ ADMIN_API_KEY: admin, AGENT_URLS: await agentOn(double, 'chatty', 'test-model', []) });
    const made = await app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { authorization: `Bearer ${admin}` },
      payload: { name: 'capped-bot', scopes: ['submit', 'read'], budget: { tokens: 15, on_budget: 'fail' } },
    });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json().budget).toEqual({ tokens: 15, on_budget: 'fail' });
    const headers = { authorization: `Bearer ${made.json().key}` };
    const plan = { steps: ['s1', 's2', 's3'].map((id, i) => ({ id, agent: 'chatty', ...(i ? { depends_on: [`s${i}`] } : {}) })) };
    const submit = async (body: Record<string, unknown>) => {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', headers, payload: body });
      expect(res.statusCode, res.body).toBe(202);
      return ended(app, res.json().task_id, headers);
    };
    const capped = await submit({ plan });
    expect(capped.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { budget: { tokens: 15 }, held_steps: ['s3'] } });
    const own = await submit({ plan, budget: { tokens: 100_000 } });
    expect(own.status).toBe('succeeded');
    // The ledger by key: both runs under this key.
    const byKey = (await app.inject({ url: '/usage?group_by=api_key', headers: { authorization: `Bearer ${admin}` } })).json();
    expect(byKey.groups).toEqual([expect.objectContaining({ key: made.json().id, calls: 5 })]);
  });

  it("a schedule's runs: its own budget, else the named workflow's, else the budget of the key that created it", async () => {
    const { double } = await meteredDouble();
    const dir = await mkdtemp(join(tmpdir(), 'mesh-budget-sched-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'thrifty.yaml'),
      [
        'name: thrifty',
        'description: one question, at most 30 tokens',
        'budget: { tokens: 30 }',
        'steps:',
        '  - { id: s1, agent: chatty }',
        '',
      ].join('\n'),
    );
    const admin = `adm-${randomBytes(16).toString('hex')}`;
    const app = await platform({ ADMIN_API_KEY: admin, WORKFLOWS_DIR: dir, AGENT_URLS: await agentOn(double, 'chatty', 'test-model', []) });
    const made = await app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: { authorization: `Bearer ${admin}` },
      payload: { name: 'cron-bot', scopes: ['submit', 'read'], budget: { tokens: 15 } },
    });
    const headers = { authorization: `Bearer ${made.json().key}` };
    const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: Record<string, unknown>) =>
      app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    const plan = { steps: [{ id: 's1', agent: 'chatty' }] };
    const yearly = '0 0 1 1 *';
    const triggered = async (name: string) => {
      const res = await call('POST', `/schedules/${name}/trigger`);
      expect(res.statusCode, res.body).toBe(202);
      return ended(app, res.json().task_id, headers);
    };

    expect((await call('POST', '/schedules', { name: 'plain', cron: yearly, plan })).json().budget).toBeNull();
    expect((await triggered('plain')).budget).toEqual({ tokens: 15 });
    await call('POST', '/schedules', { name: 'named', cron: yearly, workflow: 'thrifty' });
    expect((await triggered('named')).budget).toEqual({ tokens: 30 });
    const own = await call('POST', '/schedules', { name: 'own', cron: yearly, workflow: 'thrifty', budget: { usd: 2, on_budget: 'wait' } });
    expect(own.json().budget).toEqual({ usd: 2, on_budget: 'wait' });
    expect((await triggered('own')).budget).toEqual({ usd: 2, on_budget: 'wait' });
    // null takes the schedule's own away: the named workflow's applies again.
    expect((await call('PATCH', '/schedules/own', { budget: null })).json().budget).toBeNull();
    expect((await triggered('own')).budget).toEqual({ tokens: 30 });
    const bad = await call('POST', '/schedules', { name: 'bad', cron: yearly, plan, budget: { usd: -1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('budget');
    expect((await call('GET', '/schedules/bad')).statusCode).toBe(404);
  });

  it('a built-in agent that calls the model (code-review) has its calls in the ledger, the refused ones too', async () => {
    const double = await startChatDouble();
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'gpt-4o-mini', LLM_MAX_RETRIES: '0' }).llm;
    const review = buildAgentApp(codeReviewAgent, { logLevel: 'silent', llm });
    onTestFinished(() => review.close());
    const app = await platform({ AGENT_URLS: `code-review=${await listenOnLoopback(review)}` });
    const files = [{ path: 'src/add.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' }];
    // First review: the model answers at once; second: two answers it cannot use (the agent falls back offline).
    double.script({ ...json({ comments: [] }), usage: { prompt_tokens: 400, completion_tokens: 30 } }, ...malformed);
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: {
        plan: {
          steps: [
            { id: 'first', agent: 'code-review', input: { files } },
            { id: 'second', agent: 'code-review', input: { files }, depends_on: ['first'] },
          ],
        },
      },
    });
    const task = await ended(app, res.json().task_id);
    expect(task.status).toBe('succeeded');
    expect(task.steps[0].output.llm).toMatchObject({ used: true, model: 'gpt-4o-mini' });
    expect(task.steps[1].output.llm).toMatchObject({ used: false });
    expect(task.steps[0].usage).toMatchObject({ prompt_tokens: 400, completion_tokens: 30, calls: 1 });
    expect(task.steps[1].usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 10, calls: 2 });
    // gpt-4o-mini is in the default price table: $0.15 and $0.60 per 1M tokens.
    expect(task.usage.cost_usd).toBeCloseTo((420 * 0.15 + 40 * 0.6) / 1e6, 12);
    expect(task.usage.unpriced_models).toEqual([]);
  });
});
