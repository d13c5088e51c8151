export { createLlmGateway } from './gateway.ts';
export type { ChatMessage, ChatRequest, ChatResult, LlmGateway, StructuredRequest } from './types.ts';
