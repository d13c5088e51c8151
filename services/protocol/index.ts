// The agent protocol, imported by agents and the orchestrator alike (docs/AGENT_PROTOCOL.md). The
// callers' side, transports and their decorators, has its own index (./transport/index.ts), so an
// agent process never loads the clients.
export {
  agentProtoPath,
  agentService,
  executeRequestFrom,
  executeRequestMessage,
  protoMessages,
  type ExecuteEventMessage,
  type ExecuteReplyMessage,
  type ExecuteRequestMessage,
  type InfoReplyMessage,
} from './agent-proto.ts';
export { CheckRequest, CheckVerdict, gives, UpstreamStep, upstreamGives } from './check.ts';
export { callFingerprint, canonicalJson } from './fingerprint.ts';
export { internalAuthorization, requireInternalToken } from './internal-token.ts';
export {
  AgentInfo,
  checkedExecuteRequest,
  ExecuteAnswer,
  ExecuteFailed,
  ExecuteReply,
  ExecuteRequest,
  ExecuteSucceeded,
  failedAnswer,
  PROTOCOL_VERSION,
} from './messages.ts';
export { addUsage, ModelUsage, Usage, usageFrom } from './usage.ts';
export { deadLetterStream, fieldsOf, requestStream, resultStream, type StreamEntries } from './streams.ts';
export {
  NDJSON,
  PROGRESS_TEXT_MAX,
  ProgressData,
  progressFrom,
  progressLine,
  progressProblems,
  resultLine,
  type StreamedLine,
} from './progress.ts';
