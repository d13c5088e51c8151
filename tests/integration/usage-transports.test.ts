import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import type { Db } from '../../services/state/index.ts';
import { chatty, meteredDouble, type Served } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { orchestratorOver, transportKinds } from '../helpers/transports.ts';

async function database(): Promise<Db> {
  const db = await testDatabases[0]!.open();
  onTestFinished(() => db.close());
  return db;
}

const figures = (s: Served) => ({ model: 'test-model', prompt_tokens: s.prompt_tokens, completion_tokens: s.completion_tokens });

describe.each(transportKinds)('usage over %s', (transport) => {
  it('a failed attempt and its retry each carry what they asked of the model, stored once', async () => {
    const { double, served } = await meteredDouble();
    const name = `u-${randomBytes(3).toString('hex')}`;
    const ran: string[] = [];
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const app = await orchestratorOver(transport, chatty(name, ran), await database(), llm);
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
