// TEST DOUBLE of the OpenAI chat completions API (POST /v1/chat/completions), for the LLM gateway and
// the agents' LLM paths: no model provider can be reached from here. It follows the documented
// contract: Bearer auth, {model, messages, response_format?, stream?, stream_options?} in;
// {id, object: "chat.completion", created, model, choices: [{index, message: {role, content},
// finish_reason}], usage} out; errors as {error: {message, type, code}} with 400/401/429/5xx.
// With `stream: true` it answers as the API streams (text/event-stream): `data:` events of
// object "chat.completion.chunk", the first with delta {role: "assistant", content: ""}, then one per
// piece of content, then one with an empty delta and finish_reason "stop"; with
// stream_options.include_usage every chunk has usage null and one last chunk has choices [] and the
// usage; then `data: [DONE]`.
// Where it differs from the real API: answers are scripted by the test, not generated; content is cut
// into pieces at word boundaries (a word and the spaces before it), not into model tokens; usage is
// scripted (10 prompt and 5 completion tokens unless the script says, and `cost` when it gives one, as
// OpenRouter reports a call's price); no logprobs, tools, n > 1 or
// system_fingerprint; an error inside a stream is not modelled. `chunkDelayMs` (for the double, or
// per answer) waits that long before each content chunk, so a test can see tokens arrive over time;
// `streaming: false` makes it ignore `stream` and answer whole, as some compatible endpoints do.
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { onTestFinished } from 'vitest';
import { listenOnLoopback } from '../helpers/platform.ts';

export interface ChatCall {
  model: string;
  messages: Array<{ role: string; content: string }>;
  response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  authorization: string | undefined;
}

export type Scripted =
  | {
      content: string;
      usage?: { prompt_tokens: number; completion_tokens: number; cost?: number };
      chunkDelayMs?: number;
      /** How long the answer takes before its first byte (a slow model). */
      delayMs?: number;
    }
  | { status: number; message: string; retryAfterSeconds?: number };

export interface ChatDouble {
  /** Base URL as LLM_BASE_URL takes it (ends in /v1). */
  baseUrl: string;
  calls: ChatCall[];
  /** Answers to give, in order; each call takes the next one. */
  script(...answers: Array<Scripted | ((call: ChatCall) => Scripted)>): void;
}

/** Content cut as the double streams it: each word with the whitespace before it. */
export function contentPieces(content: string): string[] {
  return content.match(/\s*\S+|\s+$/g) ?? [];
}

export async function startChatDouble(options: { apiKey?: string; chunkDelayMs?: number; streaming?: boolean } = {}): Promise<ChatDouble> {
  const app: FastifyInstance = Fastify({ logger: false });
  const calls: ChatCall[] = [];
  const queue: Array<Scripted | ((call: ChatCall) => Scripted)> = [];
  const error = (status: number, message: string, type: string, code: string | null) => ({
    status,
    body: { error: { message, type, param: null, code } },
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    const body = req.body as Partial<ChatCall> | undefined;
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      const e = error(401, 'Incorrect API key provided', 'invalid_request_error', 'invalid_api_key');
      return reply.status(e.status).send(e.body);
    }
    if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages) || body.messages.length === 0) {
      const e = error(400, "'model' and a non-empty 'messages' are required", 'invalid_request_error', null);
      return reply.status(e.status).send(e.body);
    }
    const call: ChatCall = {
      model: body.model,
      messages: body.messages,
      ...(body.response_format ? { response_format: body.response_format } : {}),
      ...(body.stream !== undefined ? { stream: body.stream } : {}),
      ...(body.stream_options ? { stream_options: body.stream_options } : {}),
      authorization: req.headers.authorization,
    };
    calls.push(call);
    const next = queue.shift();
    const answer = typeof next === 'function' ? next(call) : next;
    if (!answer) {
      const e = error(500, 'the test double has no scripted answer left', 'server_error', null);
      return reply.status(e.status).send(e.body);
    }
    if ('status' in answer) {
      if (answer.retryAfterSeconds !== undefined) void reply.header('retry-after', String(answer.retryAfterSeconds));
      const e = error(answer.status, answer.message, answer.status === 429 ? 'rate_limit_exceeded' : 'server_error', null);
      return reply.status(e.status).send(e.body);
    }
    const usage = answer.usage ?? { prompt_tokens: 10, completion_tokens: 5 };
    if (answer.delayMs) await sleep(answer.delayMs);
    if (call.stream === true && options.streaming !== false) {
      const delayMs = answer.chunkDelayMs ?? options.chunkDelayMs ?? 0;
      const withUsage = call.stream_options?.include_usage === true;
      const base = {
        id: `chatcmpl-${calls.length}`,
        object: 'chat.completion.chunk',
        created: Math.floor(Date.now() / 1000),
        model: call.model,
      };
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ ...base, choices, ...(withUsage ? { usage: null } : {}), ...extra })}\n\n`;
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      reply.raw.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
      for (const piece of contentPieces(answer.content)) {
        if (delayMs > 0) await sleep(delayMs);
        if (reply.raw.destroyed) return;
        reply.raw.write(chunk([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
      }
      reply.raw.write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
      if (withUsage) reply.raw.write(chunk([], { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }));
      reply.raw.end('data: [DONE]\n\n');
      return;
    }
    return {
      id: `chatcmpl-${calls.length}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: call.model,
      choices: [{ index: 0, message: { role: 'assistant', content: answer.content }, finish_reason: 'stop' }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    };
  });

  const url = await listenOnLoopback(app);
  onTestFinished(() => app.close());
  return { baseUrl: `${url}/v1`, calls, script: (...answers) => queue.push(...answers) };
}
