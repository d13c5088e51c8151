export { withBreakers, type BreakerState, type BreakerTransport } from './breaker-transport.ts';
export { createGrpcTransport, grpcAddress } from './grpc-transport.ts';
export { createHttpTransport } from './http-transport.ts';
export { createRoutingTransport } from './routing-transport.ts';
export { createStreamTransport } from './stream-transport.ts';
export { usageOfError } from './reply.ts';
export type { AgentReply, AgentTransport, OnProgress } from './types.ts';
