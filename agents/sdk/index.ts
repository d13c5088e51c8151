export { agentInfo, buildAgentApp, type AgentAppOptions } from './app.ts';
export { startGrpcServer } from './grpc-server.ts';
export { createAgentRuntime, type AgentRuntime, type AgentRuntimeOptions } from './runtime.ts';
export { createMemoryIdempotencyStore, type IdempotencyStore, type StoredResponse } from './idempotency.ts';
export { createRedisIdempotencyStore, type RedisIdempotencyOptions } from './redis-idempotency.ts';
export {
  defineAgent,
  TaskFailedError,
  type AgentContext,
  type AgentDefinition,
  type AgentOutput,
  type CheckContext,
  type CheckVerdict,
  type KnowledgeHit,
  type UpstreamStep,
} from './types.ts';
export { startStreamWorker, type StreamWorkerOptions } from './stream-worker.ts';
export { startAgent, type RunningAgent, type StartAgentOptions } from './start-agent.ts';
