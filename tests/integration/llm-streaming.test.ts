import { Registry } from 'prom-client';
import { request } from 'undici';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { createLlmGateway } from '../../services/llm/index.ts';
import { contentPieces, startChatDouble } from '../doubles/openai-chat-double.ts';
import { metricValue } from '../helpers/metrics.ts';

async function gateway(double: Awaited<ReturnType<typeof startChatDouble>>, env: Record<string, string> = {}) {
  const registry = new Registry();
  const llm = createLlmGateway(loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', ...env }), registry);
  return { llm, registry };
}

const answer = 'Streams carry the answer a few words at a time.';

describe('streamed chat completions', () => {
  it('the double streams as the API does: chunks with role first, content pieces, finish_reason, usage, [DONE]', async () => {
    const double = await startChatDouble();
    double.script({ content: 'two words', usage: { prompt_tokens: 4, completion_tokens: 2 } });
    const res = await request(`${double.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = (await res.body.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')) as Record<string, any>);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'm' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1, 3).map((c) => c.choices[0].delta.content)).toEqual(['two', ' words']);
    expect(chunks[3]!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(chunks[4]).toMatchObject({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } });
    expect(chunks.slice(0, 4).every((c) => c.usage === null)).toBe(true);
  });

  it('hands each delta over as it arrives and returns what the plain call returns, usage included', async () => {
    const double = await startChatDouble({ chunkDelayMs: 20 });
    const { llm, registry } = await gateway(double);
    double.script({ content: answer, usage: { prompt_tokens: 9, completion_tokens: 11 } });
    const deltas: string[] = [];
    const result = await llm.chat({ messages: [{ role: 'user', content: 'explain' }], onDelta: (text) => deltas.push(text) });
    expect(result).toEqual({ content: answer, model: 'test-model', usage: { promptTokens: 9, completionTokens: 11 } });
    expect(deltas).toEqual(contentPieces(answer));
    expect(deltas.length).toBeGreaterThan(3);
    expect(double.calls[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(metricValue(await registry.metrics(), 'llm_call_tokens_total', { model: 'test-model', kind: 'completion' })).toBe(11);

    // Without a listener the call is the plain one.
    double.script({ content: answer });
    expect((await llm.chat({ messages: [{ role: 'user', content: 'again' }] })).content).toBe(answer);
    expect(double.calls[1]!.stream).toBeUndefined();
  });

  it('structured() streams too, and still checks the JSON it gets', async () => {
    const double = await startChatDouble();
    const { llm } = await gateway(double);
    const value = { approved: true, reasons: ['small change', 'tests pass'] };
    double.script({ content: JSON.stringify(value) });
    let text = '';
    const out = await llm.structured({
      name: 'verdict',
      schema: Type.Object({ approved: Type.Boolean(), reasons: Type.Array(Type.String()) }),
      messages: [{ role: 'user', content: 'judge' }],
      onDelta: (d) => (text += d),
    });
    expect(out.value).toEqual(value);
    expect(text).toBe(JSON.stringify(value));
  });

  it('falls back cleanly on an endpoint that ignores stream: the listener hears the whole answer once', async () => {
    const double = await startChatDouble({ streaming: false });
    const { llm } = await gateway(double);
    double.script({ content: answer, usage: { prompt_tokens: 1, completion_tokens: 2 } });
    const deltas: string[] = [];
    const result = await llm.chat({ messages: [{ role: 'user', content: 'x' }], onDelta: (d) => deltas.push(d) });
    expect(result).toEqual({ content: answer, model: 'test-model', usage: { promptTokens: 1, completionTokens: 2 } });
    expect(deltas).toEqual([answer]);
    expect(double.calls[0]!.stream).toBe(true);
  });

  it('retries a refused streamed call as it does a plain one', async () => {
    const double = await startChatDouble();
    const { llm } = await gateway(double, { LLM_MAX_RETRIES: '1' });
    double.script({ status: 429, message: 'slow down', retryAfterSeconds: 0 }, { content: answer });
    const deltas: string[] = [];
    expect((await llm.chat({ messages: [{ role: 'user', content: 'x' }], onDelta: (d) => deltas.push(d) })).content).toBe(answer);
    expect(deltas.join('')).toBe(answer);
    expect(double.calls).toHaveLength(2);
  });
});
