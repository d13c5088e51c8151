import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { AgentContext } from '../../agents/sdk/index.ts';
import { createLlmGateway } from '../../services/llm/index.ts';

/** An AgentContext for calling an agent's execute() directly: silent logger, live signal, no dependencies. */
export function fakeContext(partial: Partial<AgentContext> = {}): AgentContext {
  return {
    taskId: `task-${randomUUID()}`,
    stepId: 'step-1',
    attempt: 1,
    idempotencyKey: randomUUID(),
    description: undefined,
    dependencies: {},
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    searchKnowledge: async () => [],
    llm: createLlmGateway({ llm: { baseUrl: undefined, apiKey: undefined, model: '', timeoutMs: 0, maxRetries: 0 } }, new Registry()),
    ...partial,
  };
}
