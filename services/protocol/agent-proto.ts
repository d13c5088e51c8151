import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Type, type TObject } from 'typebox';
import { AppError } from '../errors/index.ts';
import { MAX_JSON_DEPTH } from '../http/index.ts';
import { AgentInfo, checkedExecuteRequest, ExecuteReply, ExecuteRequest } from './messages.ts';
import { ProgressData } from './progress.ts';

export const agentProtoPath = fileURLToPath(new URL('../../proto/agent.proto', import.meta.url));

/**
 * What each message of proto/agent.proto carries, as the schemas HTTP calls are checked with. A
 * JSON object travels as JSON text in a field named `<name>_json`, so the proto does not change when
 * an agent's input does. tests/unit/services/agent-proto.test.ts holds the proto and these in step.
 */
const Progress = Type.Object({ data: ProgressData });

export const protoMessages = {
  ExecuteRequest,
  ExecuteReply,
  // A message field names its message; proto3's oneof makes exactly one of the two present.
  ExecuteEvent: Type.Object({ progress: Type.Optional(Progress), result: Type.Optional(ExecuteReply) }),
  Progress,
  InfoRequest: Type.Object({}),
  InfoReply: Type.Object({ info: AgentInfo }),
} satisfies Record<string, TObject>;

type Scalar = string | number | boolean;
/** A schema's type as its proto message: JSON values as text in `<name>_json`; proto3 always has every field. */
type AsMessage<T> = {
  [K in keyof T & string as T[K] extends Scalar | undefined ? K : `${K}_json`]-?: T[K] extends Scalar | undefined
    ? Exclude<T[K], undefined>
    : string;
};

export type ExecuteRequestMessage = AsMessage<ExecuteRequest>;
export type ExecuteReplyMessage = AsMessage<ExecuteReply>;
export type InfoReplyMessage = AsMessage<{ info: AgentInfo }>;
/** One event of ExecuteStream: progress while the step works, then the result. */
export type ExecuteEventMessage =
  { progress: { data_json: string }; result?: undefined } | { progress?: undefined; result: ExecuteReplyMessage };

let loaded: grpc.ServiceClientConstructor | undefined;

/** The Agent service definition from proto/agent.proto (field names kept as written there). */
export function agentService(): grpc.ServiceClientConstructor {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(agentProtoPath, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { agenticmesh: { agent: { v1: { Agent: grpc.ServiceClientConstructor } } } };
  loaded = pkg.agenticmesh.agent.v1.Agent;
  return loaded;
}

/** A call as the caller puts it on the wire. */
export function executeRequestMessage(request: ExecuteRequest): ExecuteRequestMessage {
  return {
    idempotency_key: request.idempotency_key,
    task_id: request.task_id,
    step_id: request.step_id,
    attempt: request.attempt,
    input_json: JSON.stringify(request.input),
    context_json: JSON.stringify(request.context ?? {}),
    timeout_ms: request.timeout_ms ?? 0,
  };
}

/**
 * A call as the agent reads it off the wire, held to what POST /execute takes (checkedExecuteRequest).
 * proto3 cannot tell a missing field from its default, so empty JSON means `{}` and a zero timeout
 * means none.
 */
export function executeRequestFrom(m: ExecuteRequestMessage): ExecuteRequest {
  const request = {
    idempotency_key: m.idempotency_key,
    task_id: m.task_id,
    step_id: m.step_id,
    attempt: m.attempt,
    input: jsonField(m.input_json, 'input_json'),
    context: jsonField(m.context_json, 'context_json'),
    ...(Number(m.timeout_ms) > 0 ? { timeout_ms: Number(m.timeout_ms) } : {}),
  };
  return checkedExecuteRequest(request);
}

function jsonField(text: string, field: string): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // A JSON nesting past what the parser's stack holds is a RangeError: the same refusal as HTTP's.
    if (err instanceof RangeError)
      throw new AppError('TOO_DEEP', `${field} nests deeper than ${MAX_JSON_DEPTH} levels`, { details: { field } });
    throw new AppError('VALIDATION_FAILED', `${field} is not JSON: ${(err as Error).message}`, { details: { field } });
  }
}
