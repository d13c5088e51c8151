import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  agentInfo,
  buildAgentApp,
  createAgentRuntime,
  startGrpcServer,
  startStreamWorker,
  type AgentDefinition,
} from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { chatty, meteredDouble, type Served } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const silent = pino({ level: 'silent' });
type Llm = ReturnType<typeof loadConfig>['llm'];

/** An orchestrator whose one agent is reached over the named transport, its model at the double. */
const transports: Record<string, (agent: AgentDefinition, llm: Llm) => Promise<FastifyInstance>> = {
  async http(agent, llm) {
    const app = buildAgentApp(agent, { logLevel: 'silent', llm });
    onTestFinished(() => app.close());
    return platform({ AGENT_URLS: `${agent.name}=${await listenOnLoopback(app)}` });
  },
  async stream(agent, llm) {
    const redis = new Redis(redisUrl);
    const owner = `orch-${randomBytes(3).toString('hex')}`;
    const worker = startStreamWorker(agent.name, createAgentRuntime(agent, { llm }), redis, {
      claimIdleMs: 30_000,
      concurrency: 2,
      blockMs: 200,
      log: silent,
    });
    onTestFinished(async () => {
      await worker.stop();
      const keys = await redis.keys(`agent.${agent.name}.*`);
      await redis.del(...keys, `orchestrator.${owner}.results`);
      redis.disconnect();
    });
    return platform({
      REDIS_URL: redisUrl,
      AGENT_TRANSPORTS: `${agent.name}=stream`,
      AGENT_URLS: `${agent.name}=http://127.0.0.1:9`,
      ORCHESTRATOR_ID: owner,
    });
  },
  async grpc(agent, llm) {
    const server = await startGrpcServer(() => agentInfo(agent), createAgentRuntime(agent, { llm }), {
      host: '127.0.0.1',
      port: 0,
      log: silent,
    });
    onTestFinished(() => server.close());
    return platform({
      AGENT_TRANSPORTS: `${agent.name}=grpc`,
      AGENT_GRPC_URLS: `${agent.name}=127.0.0.1:${server.port}`,
      AGENT_URLS: `${agent.name}=http://127.0.0.1:9`,
    });
  },
};

async function platform(env: Record<string, string>): Promise<FastifyInstance> {
  const db = await testDatabases[0]!.open();
  onTestFinished(() => db.close());
  return (await startPlatform(db, [], env)).app;
}

const figures = (s: Served) => ({ model: 'test-model', prompt_tokens: s.prompt_tokens, completion_tokens: s.completion_tokens });

describe.each(Object.keys(transports))('usage over %s', (transport) => {
  it('a failed attempt and its retry each carry what they asked of the model, stored once', async () => {
    const { double, served } = await meteredDouble();
    const name = `u-${randomBytes(3).toString('hex')}`;
    const ran: string[] = [];
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const app = await transports[transport]!(chatty(name, ran), llm);
    const submitted = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: { steps: [{ id: 'ask', agent: name, input: { calls: 2, fail_attempts: 1 } }] } },
    });
    expect(submitted.statusCode, submitted.body).toBe(202);
    const task = await poll(
      async () => {
        const t = (await app.inject({ url: `/tasks/${submitted.json().task_id}` })).json();
        return t.status === 'succeeded' || t.status === 'failed' ? t : undefined;
      },
      { timeoutMs: 20_000, label: 'the run to end' },
    );
    expect(task.status).toBe('succeeded');
    expect(served).toHaveLength(4);
    const [first, second] = task.steps[0].attempts;
    const sum = (rows: Served[]) => ({
      ...figures(rows[0]!),
      prompt_tokens: rows.reduce((n, r) => n + r.prompt_tokens, 0),
      completion_tokens: rows.reduce((n, r) => n + r.completion_tokens, 0),
      calls: rows.length,
      cost_usd: null,
    });
    expect(first).toMatchObject({ status: 'failed', usage: [sum(served.slice(0, 2))] });
    expect(second).toMatchObject({ status: 'succeeded', usage: [sum(served.slice(2))] });
    expect(task.usage).toMatchObject({ calls: 4, tokens: served.reduce((n, s) => n + s.prompt_tokens + s.completion_tokens, 0) });
  }, 30_000);
});
