import * as grpc from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { HealthImplementation } from 'grpc-health-check';
import { AppError, serializeError } from '../../services/errors/index.ts';
import { agentService, type ExecuteReplyMessage, type ExecuteRequestMessage } from '../../services/grpc/agent-proto.ts';
import { errorBody } from '../../services/http/index.ts';
import { requireInternalToken } from './internal-auth.ts';
import type { AgentRuntime, ExecuteRequest } from './runtime.ts';

/**
 * The agent over gRPC (proto/agent.proto) on a second port, with the standard grpc.health.v1
 * service. Calls go through the same runtime (idempotency, metrics) as HTTP calls.
 */
export async function startGrpcServer(info: () => Record<string, unknown>, runtime: AgentRuntime, options: { host: string; port: number; log: FastifyBaseLogger; internalToken?: string | undefined; agent?: string }): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'SERVING', 'agenticmesh.agent.v1.Agent': 'SERVING' });
  health.addToServer(server);
  server.addService(agentService().service, {
    Execute(call: grpc.ServerUnaryCall<ExecuteRequestMessage, ExecuteReplyMessage>, callback: grpc.sendUnaryData<ExecuteReplyMessage>) {
      void (async () => {
        let reply: ExecuteReplyMessage;
        try {
          requireInternalToken(call.metadata.get('authorization')[0], options.internalToken, options.agent ?? 'agent');
          const m = call.request;
          const request: ExecuteRequest = {
            idempotency_key: m.idempotency_key,
            task_id: m.task_id,
            step_id: m.step_id,
            attempt: m.attempt,
            input: JSON.parse(m.input_json || '{}') as Record<string, unknown>,
            context: JSON.parse(m.context_json || '{}') as ExecuteRequest['context'],
            ...(Number(m.timeout_ms) > 0 ? { timeout_ms: Number(m.timeout_ms) } : {}),
          };
          if (!request.idempotency_key || !request.task_id || !request.step_id || request.attempt < 1) throw new AppError('VALIDATION_FAILED', 'idempotency_key, task_id, step_id and attempt are required');
          const { response, replayed } = await runtime.execute(request, options.log, call.metadata.getMap());
          reply = { status_code: response.statusCode, body_json: JSON.stringify(response.body), replayed };
        } catch (err) {
          const e = err instanceof AppError ? err : new AppError('VALIDATION_FAILED', `not a call: ${(err as Error).message}`);
          reply = { status_code: e.statusCode, body_json: JSON.stringify({ ...errorBody(e), status: 'failed', failure: serializeError(e) }), replayed: false };
        }
        callback(null, reply);
      })();
    },
    Info(call: grpc.ServerUnaryCall<unknown, { info_json: string }>, callback: grpc.sendUnaryData<{ info_json: string }>) {
      try {
        requireInternalToken(call.metadata.get('authorization')[0], options.internalToken, options.agent ?? 'agent');
      } catch (err) {
        return callback({ code: grpc.status.UNAUTHENTICATED, details: (err as Error).message });
      }
      callback(null, { info_json: JSON.stringify(info()) });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    port,
    async close() {
      health.setStatus('', 'NOT_SERVING');
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
