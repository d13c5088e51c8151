export { createGrpcTransport } from './grpc-transport.ts';
export { grpcAddress } from './grpc-address.ts';
export { createHttpTransport } from './http-transport.ts';
export { createRoutingTransport } from './routing-transport.ts';
export { createStreamTransport } from './stream-transport.ts';
export type { AgentReply, AgentRequest, AgentTransport } from './types.ts';
