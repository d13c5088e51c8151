import * as grpc from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { HealthImplementation } from 'grpc-health-check';
import { AppError } from '../../services/errors/index.ts';
import {
  agentService,
  executeRequestFrom,
  failedAnswer,
  requireInternalToken,
  type AgentInfo,
  type ExecuteEventMessage,
  type ExecuteReplyMessage,
  type ExecuteRequestMessage,
  type InfoReplyMessage,
} from '../../services/protocol/index.ts';
import type { ProgressSend } from './progress-channel.ts';
import type { AgentRuntime } from './runtime.ts';

/**
 * The agent over gRPC (proto/agent.proto) on a second port, with the standard grpc.health.v1
 * service. Calls go through the same runtime (idempotency, metrics) as HTTP calls.
 */
export async function startGrpcServer(
  info: () => AgentInfo,
  runtime: AgentRuntime,
  options: { host: string; port: number; log: FastifyBaseLogger; internalToken?: string | undefined; agent?: string },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'SERVING', 'agenticmesh.agent.v1.Agent': 'SERVING' });
  health.addToServer(server);
  const agent = options.agent ?? 'agent';
  /** What Execute answers; errors become the same failed answer POST /execute would send. */
  async function answer(
    call: grpc.ServerUnaryCall<ExecuteRequestMessage, unknown>,
    onProgress?: ProgressSend,
  ): Promise<ExecuteReplyMessage> {
    try {
      requireInternalToken(call.metadata.get('authorization')[0], options.internalToken, agent);
      const request = executeRequestFrom(call.request);
      const { response, replayed } = await runtime.execute(request, options.log, call.metadata.getMap(), onProgress);
      return { status_code: response.statusCode, body_json: JSON.stringify(response.body), replayed };
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError('VALIDATION_FAILED', `not a call: ${(err as Error).message}`);
      return { status_code: e.statusCode, body_json: JSON.stringify(failedAnswer(e)), replayed: false };
    }
  }
  server.addService(agentService().service, {
    Execute(call: grpc.ServerUnaryCall<ExecuteRequestMessage, ExecuteReplyMessage>, callback: grpc.sendUnaryData<ExecuteReplyMessage>) {
      void answer(call).then((reply) => callback(null, reply));
    },
    // Progress events while the handler works, then the result as the last event.
    ExecuteStream(call: grpc.ServerWritableStream<ExecuteRequestMessage, ExecuteEventMessage>) {
      call.on('error', () => {}); // a caller that went away: the handler finishes and its result is kept
      const onProgress: ProgressSend = (data) => {
        if (call.cancelled || call.writableEnded) return;
        if (call.write({ progress: { data_json: JSON.stringify(data) } })) return;
        return new Promise<void>((resolve) => {
          call.once('drain', resolve);
          call.once('close', resolve);
        });
      };
      void answer(call, onProgress).then((result) => {
        if (call.cancelled || call.writableEnded) return;
        call.write({ result });
        call.end();
      });
    },
    Info(call: grpc.ServerUnaryCall<unknown, InfoReplyMessage>, callback: grpc.sendUnaryData<InfoReplyMessage>) {
      try {
        requireInternalToken(call.metadata.get('authorization')[0], options.internalToken, options.agent ?? 'agent');
      } catch (err) {
        return callback({ code: grpc.status.UNAUTHENTICATED, details: (err as Error).message });
      }
      callback(null, { info_json: JSON.stringify(info()) });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return {
    port,
    async close() {
      health.setStatus('', 'NOT_SERVING');
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
