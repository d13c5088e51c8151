import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { AgentContext } from '../../agents/sdk/index.ts';
import { progressChunks } from '../../agents/sdk/progress-channel.ts';
import { offlineLlm } from '../../services/llm/index.ts';

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
    llm: offlineLlm,
    // Checked as the SDK checks it, so an agent's bad progress fails its unit tests too.
    progress: (data) => void progressChunks(data),
    ...partial,
  };
}
