import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { createAgentRuntime, defineAgent } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { ConfigError } from '../../services/errors/index.ts';
import type { ModelUsage } from '../../services/protocol/index.ts';
import { loadPriceTable, priced } from '../../services/orchestrator/usage/prices.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { json, llmOnDouble, malformed } from '../helpers/llm.ts';

const silent = pino({ level: 'silent' });

describe('the LLM gateway reports what each call used', () => {
  it('a metered gateway hears every answered call: plain, streamed (from the last chunk) and each round of a structured call', async () => {
    const { double, llm } = await llmOnDouble();
    const heard: ModelUsage[] = [];
    const metered = llm.metered((u) => heard.push(u));
    double.script(
      { content: 'plain', usage: { prompt_tokens: 7, completion_tokens: 2 } },
      { content: 'streamed in pieces', usage: { prompt_tokens: 9, completion_tokens: 4 } },
      ...malformed,
    );
    await metered.chat({ messages: [{ role: 'user', content: 'a' }] });
    await metered.chat({ messages: [{ role: 'user', content: 'b' }], onDelta: () => {} });
    expect(double.calls[1]).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    // Both rounds were answered, and paid for, though the answer was refused.
    await expect(
      metered.structured({
        messages: [{ role: 'user', content: 'c' }],
        name: 'files',
        schema: Type.Object({ files: Type.Array(Type.String()) }),
      }),
    ).rejects.toMatchObject({
      code: 'LLM_OUTPUT_INVALID',
    });
    expect(heard).toEqual([
      { model: 'test-model', prompt_tokens: 7, completion_tokens: 2, calls: 1 },
      { model: 'test-model', prompt_tokens: 9, completion_tokens: 4, calls: 1 },
      { model: 'test-model', prompt_tokens: 10, completion_tokens: 5, calls: 1 },
      { model: 'test-model', prompt_tokens: 10, completion_tokens: 5, calls: 1 },
    ]);
    // The gateway it came from is not metered: a call through it tells nobody.
    double.script(json({ files: [] }));
    await llm.chat({ messages: [{ role: 'user', content: 'd' }] });
    expect(heard).toHaveLength(4);
  });

  it("takes the provider's own cost when it reports one", async () => {
    const { double, llm } = await llmOnDouble();
    const heard: ModelUsage[] = [];
    double.script({ content: 'priced', usage: { prompt_tokens: 100, completion_tokens: 20, cost: 0.00042 } });
    await llm.metered((u) => heard.push(u)).chat({ messages: [{ role: 'user', content: 'a' }] });
    expect(heard).toEqual([{ model: 'test-model', prompt_tokens: 100, completion_tokens: 20, calls: 1, cost_usd: 0.00042 }]);
  });
});

describe("an agent's answer carries its step's usage", () => {
  it('sums the calls per model, on success and on failure, and a replayed key repeats the figures without asking again', async () => {
    const double = await startChatDouble();
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const agent = defineAgent({
      name: 'asker',
      description: 'asks twice, then answers or fails',
      capabilities: ['ask twice'],
      async execute(input: { fail?: boolean }, ctx) {
        await ctx.llm.chat({ messages: [{ role: 'user', content: 'one' }] });
        await ctx.llm.chat({ messages: [{ role: 'user', content: 'two' }], onDelta: () => {} });
        if (input.fail) throw new Error('gave up after asking');
        return { summary: 'asked' };
      },
    });
    const runtime = createAgentRuntime(agent, { llm });
    double.script(
      { content: 'a', usage: { prompt_tokens: 3, completion_tokens: 1 } },
      { content: 'b', usage: { prompt_tokens: 5, completion_tokens: 2 } },
      { content: 'c', usage: { prompt_tokens: 11, completion_tokens: 13 } },
      { content: 'd', usage: { prompt_tokens: 17, completion_tokens: 19 } },
    );
    const call = (key: string, input: Record<string, unknown>) =>
      runtime.execute({ idempotency_key: key, task_id: 't', step_id: 's', attempt: 1, input }, silent);
    const ok = await call('k1', {});
    expect(ok.response.body).toMatchObject({
      status: 'succeeded',
      usage: [{ model: 'test-model', prompt_tokens: 8, completion_tokens: 3, calls: 2 }],
    });
    const failed = await call('k2', { fail: true });
    expect(failed.response.statusCode).toBe(500);
    expect(failed.response.body).toMatchObject({
      status: 'failed',
      usage: [{ model: 'test-model', prompt_tokens: 28, completion_tokens: 32, calls: 2 }],
    });
    const again = await call('k1', {});
    expect(again.replayed).toBe(true);
    expect(again.response.body.usage).toEqual(ok.response.body.usage);
    expect(double.calls).toHaveLength(4);
  });
});

describe('the price table', () => {
  it('prices per 1M tokens, matches dated releases by prefix, keeps a provider cost, and says null for a model it lacks', async () => {
    const table = await loadPriceTable();
    const [mini, dated, own, unknown] = priced(table, [
      { model: 'gpt-4o-mini', prompt_tokens: 1_000_000, completion_tokens: 1_000_000, calls: 1 },
      { model: 'gpt-4o-mini-2024-07-18', prompt_tokens: 2_000, completion_tokens: 500, calls: 1 },
      { model: 'gpt-4o', prompt_tokens: 10, completion_tokens: 10, calls: 1, cost_usd: 0.5 },
      { model: 'no-such-model', prompt_tokens: 10, completion_tokens: 10, calls: 1 },
    ]);
    expect(mini!.cost_usd).toBeCloseTo(0.15 + 0.6, 9);
    expect(dated!.cost_usd).toBeCloseTo((2_000 * 0.15 + 500 * 0.6) / 1e6, 9);
    expect(own!.cost_usd).toBe(0.5);
    expect(unknown!.cost_usd).toBeNull();
  });

  it('a bad file stops the start, naming the file and the problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prices-'));
    const file = join(dir, 'prices.yaml');
    await writeFile(file, 'models:\n  gpt-4o: { input: "cheap", output: 1 }\n');
    await expect(loadPriceTable(file)).rejects.toThrow(ConfigError);
    await expect(loadPriceTable(file)).rejects.toThrow(`PRICES_FILE ${file}: /models/gpt-4o/input`);
    await expect(loadPriceTable(join(dir, 'missing.yaml'))).rejects.toThrow(/PRICES_FILE .*missing\.yaml: ENOENT/);
  });
});
