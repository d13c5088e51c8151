import { Registry } from 'prom-client';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { createLlmGateway } from '../../services/llm/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { metricValue } from '../helpers/metrics.ts';

async function gateway(env: Record<string, string> = {}) {
  const double = await startChatDouble({ apiKey: 'sk-test' });
  const registry = new Registry();
  const llm = createLlmGateway(
    loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_API_KEY: 'sk-test', LLM_MODEL: 'test-model', ...env }),
    registry,
  );
  return { double, llm, registry };
}

const Verdict = Type.Object({ approved: Type.Boolean(), reasons: Type.Array(Type.String()) });

describe('LLM gateway against a double of the chat completions API', () => {
  it('is unavailable without LLM_BASE_URL, so callers take their offline path', async () => {
    const llm = createLlmGateway(loadConfig({}), new Registry());
    expect(llm.available).toBe(false);
    await expect(llm.chat({ messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
  });

  it('sends the model, messages and key, and returns content and usage, counted per model', async () => {
    const { double, llm, registry } = await gateway();
    double.script({ content: 'hello there', usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const result = await llm.chat({ messages: [{ role: 'user', content: 'say hello' }] });
    expect(result).toEqual({ content: 'hello there', model: 'test-model', usage: { promptTokens: 12, completionTokens: 3 } });
    expect(double.calls[0]).toMatchObject({
      model: 'test-model',
      authorization: 'Bearer sk-test',
      messages: [{ role: 'user', content: 'say hello' }],
    });
    const metrics = await registry.metrics();
    expect(metricValue(metrics, 'llm_call_tokens_total', { model: 'test-model', kind: 'prompt' })).toBe(12);
    expect(metricValue(metrics, 'llm_requests_total', { model: 'test-model', status: 'ok' })).toBe(1);
    expect(metricValue(metrics, 'llm_request_duration_seconds_count', { model: 'test-model' })).toBe(1);
  });

  it('retries 429 and 5xx with backoff, then succeeds', async () => {
    const { double, llm } = await gateway();
    double.script(
      { status: 429, message: 'Rate limit reached', retryAfterSeconds: 0 },
      { status: 503, message: 'overloaded' },
      { content: 'ok' },
    );
    expect((await llm.chat({ messages: [{ role: 'user', content: 'x' }] })).content).toBe('ok');
    expect(double.calls).toHaveLength(3);
  });

  it('gives up after the configured retries, naming the last failure', async () => {
    const { double, llm } = await gateway({ LLM_MAX_RETRIES: '1' });
    double.script({ status: 500, message: 'boom' }, { status: 500, message: 'still boom' });
    await expect(llm.chat({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      code: 'LLM_ERROR',
      retryable: true,
      message: expect.stringContaining('500: still boom'),
    });
  });

  it('does not retry a bad key', async () => {
    const double = await startChatDouble({ apiKey: 'sk-right' });
    const llm = createLlmGateway(loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_API_KEY: 'sk-wrong' }), new Registry());
    await expect(llm.chat({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      code: 'LLM_ERROR',
      message: expect.stringContaining('401: Incorrect API key provided'),
    });
  });

  it('asks for JSON by schema and returns the checked value', async () => {
    const { double, llm } = await gateway();
    double.script({ content: '```json\n{"approved": true, "reasons": ["clean"]}\n```' });
    const { value } = await llm.structured({ name: 'verdict', schema: Verdict, messages: [{ role: 'user', content: 'judge' }] });
    expect(value).toEqual({ approved: true, reasons: ['clean'] });
    expect(double.calls[0]!.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'verdict' } });
  });

  it('tells the model what was wrong with a malformed answer, once, then fails clearly', async () => {
    const { double, llm } = await gateway();
    double.script({ content: '{"approved": "yes"' }, (call) => ({
      content: call.messages.at(-1)!.content.includes('invalid') ? '{"approved": false, "reasons": []}' : 'no',
    }));
    const { value } = await llm.structured({ name: 'verdict', schema: Verdict, messages: [{ role: 'user', content: 'judge' }] });
    expect(value).toEqual({ approved: false, reasons: [] });

    double.script({ content: '{"approved": "yes", "reasons": []}' }, { content: 'still not it' });
    await expect(
      llm.structured({ name: 'verdict', schema: Verdict, messages: [{ role: 'user', content: 'judge' }] }),
    ).rejects.toMatchObject({ code: 'LLM_OUTPUT_INVALID', message: expect.stringContaining('not JSON') });
  });
});
