import { Registry } from 'prom-client';
import { loadConfig } from '../../services/config/index.ts';
import { createLlmGateway, type LlmGateway } from '../../services/llm/index.ts';
import { startChatDouble, type ChatDouble, type Scripted } from '../doubles/openai-chat-double.ts';

/** A gateway on the chat completions double, without retries so a failure shows on the first call. */
export async function llmOnDouble(): Promise<{ double: ChatDouble; llm: LlmGateway }> {
  const double = await startChatDouble();
  const llm = createLlmGateway(loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }), new Registry());
  return { double, llm };
}

/** A model answer with `value` as its JSON content. */
export const json = (value: unknown): Scripted => ({ content: JSON.stringify(value) });

/** Two answers the gateway cannot use (it asks once more after the first), so structured() fails. */
export const malformed: Scripted[] = [{ content: 'Sure! Here are the files you asked for.' }, { content: '{"files": "none"}' }];
