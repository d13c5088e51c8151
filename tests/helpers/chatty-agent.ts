import { setTimeout as sleep } from 'node:timers/promises';
import { onTestFinished } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { AppError } from '../../services/errors/index.ts';
import { startChatDouble, type ChatCall, type ChatDouble } from '../doubles/openai-chat-double.ts';
import { listenOnLoopback } from './platform.ts';

/** What the double answered each call with: the figures every total must equal. */
export interface Served {
  step: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
}

/**
 * A chat completions double whose usage differs per call (so a total that counted a call twice, or
 * missed one, cannot come out right by chance), recording what it reported.
 */
export async function meteredDouble(): Promise<{ double: ChatDouble; served: Served[] }> {
  const double = await startChatDouble();
  const served: Served[] = [];
  const answer = (call: ChatCall) => {
    const n = served.length;
    const usage = { prompt_tokens: 11 + 7 * n, completion_tokens: 3 + 5 * n };
    served.push({ step: call.messages[0]!.content.split(' ')[0]!, model: call.model, ...usage });
    return { content: `answer ${n}`, usage };
  };
  double.script(...Array.from({ length: 50 }, () => answer));
  return { double, served };
}

/** An agent that asks the model `calls` times (streamed or not), then fails its first `fail_attempts` attempts. */
export function chatty(name: string, ran: string[]) {
  return defineAgent({
    name,
    description: 'asks the model, then answers',
    capabilities: [`ask the model as ${name}`],
    async execute(input: { calls?: number; stream?: boolean; fail_attempts?: number; ms?: number }, ctx) {
      ran.push(ctx.idempotencyKey);
      for (let i = 0; i < (input.calls ?? 1); i++)
        await ctx.llm.chat({
          messages: [{ role: 'user', content: `${ctx.stepId} call ${i}` }],
          signal: ctx.signal,
          ...(input.stream ? { onDelta: (text: string) => ctx.progress({ text }) } : {}),
        });
      // Retryable, after the model was paid: the failed attempt's usage must still be counted.
      if (ctx.attempt <= (input.fail_attempts ?? 0)) throw new AppError('AGENT_ERROR', `attempt ${ctx.attempt} failed after asking`);
      if (input.ms) await sleep(input.ms, undefined, { signal: ctx.signal });
      return { asked: input.calls ?? 1 };
    },
  });
}

/** The agent on loopback with its model at the double. */
export async function agentOn(double: ChatDouble, name: string, model: string, ran: string[]): Promise<string> {
  const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: model, LLM_MAX_RETRIES: '0' }).llm;
  const app = buildAgentApp(chatty(name, ran), { logLevel: 'silent', llm });
  onTestFinished(() => app.close());
  return `${name}=${await listenOnLoopback(app)}`;
}
