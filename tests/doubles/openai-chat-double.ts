// TEST DOUBLE of the OpenAI chat completions API (POST /v1/chat/completions), for the LLM gateway and
// the agents' LLM paths: no model provider can be reached from here. It follows the documented
// contract: Bearer auth, {model, messages, response_format?} in; {id, object: "chat.completion",
// created, model, choices: [{index, message: {role, content}, finish_reason}], usage} out; errors as
// {error: {message, type, code}} with 400/401/429/5xx. Answers are scripted by the test.
import Fastify, { type FastifyInstance } from 'fastify';
import { onTestFinished } from 'vitest';
import { listenOnLoopback } from '../helpers/platform.ts';

export interface ChatCall {
  model: string;
  messages: Array<{ role: string; content: string }>;
  response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
  authorization: string | undefined;
}

export type Scripted =
  | { content: string; usage?: { prompt_tokens: number; completion_tokens: number } }
  | { status: number; message: string; retryAfterSeconds?: number };

export interface ChatDouble {
  /** Base URL as LLM_BASE_URL takes it (ends in /v1). */
  baseUrl: string;
  calls: ChatCall[];
  /** Answers to give, in order; each call takes the next one. */
  script(...answers: Array<Scripted | ((call: ChatCall) => Scripted)>): void;
}

export async function startChatDouble(options: { apiKey?: string } = {}): Promise<ChatDouble> {
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
