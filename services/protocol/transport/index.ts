export { withBreakers, type BreakerState, type BreakerTransport } from './breaker-transport.ts';
export { createGrpcTransport } from './grpc-transport.ts';
export { grpcAddress } from './grpc-address.ts';
export { createHttpTransport } from './http-transport.ts';
export { createRoutingTransport } from './routing-transport.ts';
export { createStreamTransport } from './stream-transport.ts';
export type { AgentReply, AgentTransport } from './types.ts';
