import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Histogram, type Registry } from 'prom-client';
import { request } from 'undici';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import type { Config } from '../config/index.ts';
import { AppError } from '../errors/index.ts';
import type { ModelUsage } from '../protocol/usage.ts';
import { readCompletionStream, type CompletionAnswer } from './completion-stream.ts';
import type { ChatRequest, ChatResult, LlmGateway, StructuredRequest } from './types.ts';

interface Metrics {
  requests: Counter<'model' | 'status'>;
  duration: Histogram<'model'>;
  tokens: Counter<'model' | 'kind'>;
}

function metricsIn(registry: Registry): Metrics {
  return {
    requests: new Counter({
      name: 'llm_requests_total',
      help: 'Chat completion calls by outcome',
      labelNames: ['model', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'llm_request_duration_seconds',
      help: 'Chat completion latency, retries included',
      labelNames: ['model'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 60, 120],
      registers: [registry],
    }),
    tokens: new Counter({
      // llm_tokens_total is the orchestrator's ledger (per stored attempt); this counts the calls a process made.
      name: 'llm_call_tokens_total',
      help: 'Tokens this process was charged for its model calls, by kind (prompt, completion)',
      labelNames: ['model', 'kind'],
      registers: [registry],
    }),
  };
}

/** The gateway when no provider is configured: callers take their offline path. */
export const offlineLlm: LlmGateway = {
  available: false,
  model: undefined,
  chat: () => Promise.reject(new AppError('LLM_UNAVAILABLE', 'no language model is configured (LLM_BASE_URL)')),
  structured: () => Promise.reject(new AppError('LLM_UNAVAILABLE', 'no language model is configured (LLM_BASE_URL)')),
  metered: () => offlineLlm,
};

/** A call's usage as the provider reported it; `cost` where the provider prices its own calls (OpenRouter and the like). */
function usageOf(json: CompletionAnswer, model: string): ModelUsage {
  const count = (v: unknown) => (Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : 0);
  const cost = Number(json.usage?.cost);
  return {
    model,
    prompt_tokens: count(json.usage?.prompt_tokens),
    completion_tokens: count(json.usage?.completion_tokens),
    calls: 1,
    ...(json.usage?.cost !== undefined && Number.isFinite(cost) && cost >= 0 ? { cost_usd: cost } : {}),
  };
}

type UsageSink = ((usage: ModelUsage) => void) | undefined;

/** OpenAI-compatible chat completions (OpenAI, DigitalOcean Gradient, Ollama, vLLM), or offline. */
export function createLlmGateway(config: Pick<Config, 'llm'>, registry: Registry): LlmGateway {
  const { baseUrl, apiKey, model, timeoutMs, maxRetries } = config.llm;
  if (!baseUrl) return offlineLlm;
  const metrics = metricsIn(registry);
  const endpoint = `${baseUrl}/chat/completions`;

  /**
   * One request. With `onDelta` it asks for a stream and reads it as it comes (`streamed`, and how
   * many `deltas` went out); an endpoint that answers with plain JSON instead is read as usual.
   */
  async function once(
    body: Record<string, unknown>,
    signal: AbortSignal | undefined,
    onDelta: ((text: string) => void) | undefined,
  ): Promise<{ status: number; json: CompletionAnswer; retryAfterMs?: number; streamed: boolean; deltas: number }> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await request(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify(onDelta ? { ...body, stream: true, stream_options: { include_usage: true } } : body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (onDelta && res.statusCode === 200 && String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      const { answer, deltas } = await readCompletionStream(res.body, onDelta);
      // A stream that broke off counts as a server error: retried, unless text already went out.
      return { status: answer.error ? 502 : 200, json: answer, streamed: true, deltas };
    }
    const text = await res.body.text();
    let json: CompletionAnswer;
    try {
      // Read field by field below, each checked: a provider's answer is not trusted to have the shape.
      json = text ? (JSON.parse(text) as CompletionAnswer) : {};
    } catch {
      json = { error: { message: `not JSON: ${text.slice(0, 200)}` } };
    }
    const retryAfter = Number(res.headers['retry-after']);
    return {
      status: res.statusCode,
      json,
      streamed: false,
      deltas: 0,
      ...(Number.isFinite(retryAfter) ? { retryAfterMs: retryAfter * 1000 } : {}),
    };
  }

  async function chat(req: ChatRequest, sink: UsageSink, extra: Record<string, unknown> = {}): Promise<ChatResult> {
    const body = {
      model,
      messages: req.messages,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
      ...extra,
    };
    const started = performance.now();
    let lastError = '';
    try {
      for (let attempt = 0; attempt <= maxRetries; attempt++) {
        let res: Awaited<ReturnType<typeof once>> | undefined;
        try {
          res = await once(body, req.signal, req.onDelta);
        } catch (err) {
          if (req.signal?.aborted) throw new AppError('CANCELLED', 'model call aborted', { cause: err });
          lastError = `${(err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err as Error).message}`;
        }
        if (res && res.status === 200) {
          const content = res.json.choices?.[0]?.message?.content;
          const answeredBy = String(res.json.model ?? model);
          const used = usageOf(res.json, answeredBy);
          // Heard before the content is checked: a call the provider answered is charged whatever it said.
          sink?.(used);
          if (typeof content !== 'string') throw new AppError('LLM_ERROR', `model ${model} answered without choices[0].message.content`);
          const usage = { promptTokens: used.prompt_tokens, completionTokens: used.completion_tokens };
          metrics.requests.inc({ model, status: 'ok' });
          metrics.tokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
          metrics.tokens.inc({ model, kind: 'completion' }, usage.completionTokens);
          // An endpoint that ignored `stream`: the listener still hears the answer, whole.
          if (req.onDelta && !res.streamed && content) req.onDelta(content);
          return { content, model: answeredBy, usage };
        }
        if (res) {
          lastError = `${res.status}: ${res.json.error?.message ?? 'no message'}`;
          // 4xx other than 429 will not change by asking again (bad key, bad request). A stream that
          // broke off after text went out is not asked again either: the listener would hear it twice.
          if ((res.status !== 429 && res.status < 500) || res.deltas > 0) break;
        }
        if (attempt < maxRetries) {
          const backoff = Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random());
          await sleep(res?.retryAfterMs ?? backoff, undefined, req.signal ? { signal: req.signal } : {});
        }
      }
      metrics.requests.inc({ model, status: 'error' });
      throw new AppError('LLM_ERROR', `model ${model} at ${baseUrl} failed: ${lastError}`);
    } finally {
      metrics.duration.observe({ model }, (performance.now() - started) / 1000);
    }
  }

  async function structured<S extends TSchema>(req: StructuredRequest<S>, sink: UsageSink) {
    const format = { response_format: { type: 'json_schema', json_schema: { name: req.name, schema: req.schema, strict: false } } };
    let messages = req.messages;
    let problem = '';
    // One correction round: models that ignore response_format usually fix their answer when told what is wrong.
    for (let round = 0; round < 2; round++) {
      const result = await chat({ ...req, messages }, sink, format);
      const parsed = parseJson(result.content);
      if (parsed.ok && Value.Check(req.schema, parsed.value)) return { value: parsed.value as never, result };
      problem = parsed.ok
        ? [...Value.Errors(req.schema, parsed.value)]
            .slice(0, 5)
            .map((e) => `${e.instancePath || '/'} ${e.message}`)
            .join('; ')
        : `not JSON (${parsed.error})`;
      metrics.requests.inc({ model, status: 'invalid_output' });
      messages = [
        ...req.messages,
        { role: 'assistant', content: result.content },
        { role: 'user', content: `That answer is invalid: ${problem}. Reply with only JSON matching the schema "${req.name}".` },
      ];
    }
    throw new AppError('LLM_OUTPUT_INVALID', `model ${model} did not produce valid ${req.name}: ${problem}`);
  }

  const gateway = (sink: UsageSink): LlmGateway => ({
    available: true,
    model,
    chat: (req) => chat(req, sink),
    structured: (req) => structured(req, sink),
    metered: (next) => gateway(next),
  });
  return gateway(undefined);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  // Some models wrap JSON in a Markdown fence despite response_format.
  const unfenced = text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1');
  try {
    return { ok: true, value: JSON.parse(unfenced) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
