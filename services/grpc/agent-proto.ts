import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const agentProtoPath = fileURLToPath(new URL('../../proto/agent.proto', import.meta.url));

export interface ExecuteRequestMessage {
  idempotency_key: string;
  task_id: string;
  step_id: string;
  attempt: number;
  input_json: string;
  context_json: string;
  timeout_ms: string | number;
}

export interface ExecuteReplyMessage {
  status_code: number;
  body_json: string;
  replayed: boolean;
}

let loaded: grpc.ServiceClientConstructor | undefined;

/** The Agent service definition from proto/agent.proto (field names kept as written there). */
export function agentService(): grpc.ServiceClientConstructor {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(agentProtoPath, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { agenticmesh: { agent: { v1: { Agent: grpc.ServiceClientConstructor } } } };
  loaded = pkg.agenticmesh.agent.v1.Agent;
  return loaded;
}
