export { createHttpTransport } from './http-transport.ts';
export type { AgentReply, AgentRequest, AgentTransport } from './types.ts';
