export { fallbackReason, NO_MODEL_CONFIGURED, type LlmUse } from './agent-use.ts';
export { createLlmGateway, offlineLlm } from './gateway.ts';
export type { ChatMessage, ChatRequest, ChatResult, LlmGateway, StructuredRequest } from './types.ts';
