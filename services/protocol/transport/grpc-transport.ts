import * as grpc from '@grpc/grpc-js';
import type { Config } from '../../config/index.ts';
import type { Discovery } from '../../discovery/index.ts';
import { AppError } from '../../errors/index.ts';
import type { OutlierEjection } from '../../resilience/index.ts';
import {
  agentService,
  executeRequestMessage,
  type ExecuteEventMessage,
  type ExecuteReplyMessage,
  type ExecuteRequestMessage,
  type InfoReplyMessage,
} from '../agent-proto.ts';
import { traceHeaders } from '../../telemetry/index.ts';
import { internalAuthorization } from '../internal-token.ts';
import { progressFrom } from '../progress.ts';
import { replyFrom } from './reply.ts';
import type { AgentReply, AgentTransport, OnProgress } from './types.ts';

type AgentClient = grpc.Client & {
  Execute(
    req: ExecuteRequestMessage,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply: ExecuteReplyMessage) => void,
  ): grpc.ClientUnaryCall;
  ExecuteStream(
    req: ExecuteRequestMessage,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientReadableStream<ExecuteEventMessage>;
  Info(
    req: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply: InfoReplyMessage) => void,
  ): grpc.ClientUnaryCall;
};

const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);

/** Calls agents over gRPC (proto/agent.proto); `addressOf` gives an agent's host:port. */
export function createGrpcTransport(
  addressOf: (agent: string) => string | undefined,
  options: { internalToken?: string | undefined } = {},
): AgentTransport {
  const clients = new Map<string, AgentClient>();
  const Client = agentService();

  function clientFor(agent: string): AgentClient {
    const address = addressOf(agent);
    if (!address) throw new AppError('AGENT_UNAVAILABLE', `no gRPC address is known for agent "${agent}"`);
    let c = clients.get(address);
    if (!c) {
      c = new Client(address, grpc.credentials.createInsecure()) as unknown as AgentClient;
      clients.set(address, c);
    }
    return c;
  }

  function failure(agent: string, err: grpc.ServiceError, signal: AbortSignal): AppError {
    if (signal.aborted)
      return signal.reason instanceof AppError ? signal.reason : new AppError('CANCELLED', `call to agent "${agent}" was aborted`);
    return new AppError('AGENT_UNAVAILABLE', `agent "${agent}" over gRPC: ${grpc.status[err.code]} ${err.details}`, {
      retryable: RETRYABLE.has(err.code),
      cause: err,
    });
  }

  // Agents that answered ExecuteStream with UNIMPLEMENTED (built before it): they get Execute.
  const unaryOnly = new Set<string>();

  /**
   * ExecuteStream: progress events to `onProgress` as they come, then the result. An agent without
   * the rpc answers UNIMPLEMENTED before anything ran, so the call goes again as Execute.
   */
  function streamed(
    agent: string,
    client: AgentClient,
    request: Parameters<AgentTransport['call']>[1],
    metadata: grpc.Metadata,
    signal: AbortSignal,
    onProgress: OnProgress,
  ): Promise<AgentReply | 'unimplemented'> {
    return new Promise((resolve, reject) => {
      const call = client.ExecuteStream(executeRequestMessage(request), metadata, {});
      const cancel = () => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      let result: ExecuteReplyMessage | undefined;
      call.on('data', (event: ExecuteEventMessage) => {
        if (event.result) result = event.result;
        else if (event.progress && !result) {
          const data = progressFrom(event.progress.data_json);
          if (data) onProgress(data);
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        signal.removeEventListener('abort', cancel);
        if (err.code === grpc.status.UNIMPLEMENTED && !signal.aborted) return resolve('unimplemented');
        reject(failure(agent, err, signal));
      });
      call.on('end', () => {
        signal.removeEventListener('abort', cancel);
        if (!result)
          return reject(
            new AppError('AGENT_UNAVAILABLE', `agent "${agent}" over gRPC: the stream ended before the result`, { retryable: true }),
          );
        try {
          resolve(replyFrom(result.status_code, JSON.parse(result.body_json) as Record<string, unknown>, result.replayed, 'grpc'));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  }

  return {
    name: 'grpc',
    async call(agent, request, signal, onProgress) {
      const client = clientFor(agent);
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(traceHeaders())) metadata.set(k, v);
      if (options.internalToken) metadata.set('authorization', internalAuthorization(options.internalToken));
      const address = addressOf(agent) ?? '';
      if (onProgress && !unaryOnly.has(address)) {
        const reply = await streamed(agent, client, request, metadata, signal, onProgress);
        if (reply !== 'unimplemented') return reply;
        unaryOnly.add(address);
      }
      return new Promise((resolve, reject) => {
        const call = client.Execute(executeRequestMessage(request), metadata, {}, (err, reply) => {
          signal.removeEventListener('abort', cancel);
          if (err) return reject(failure(agent, err, signal));
          try {
            resolve(replyFrom(reply.status_code, JSON.parse(reply.body_json) as Record<string, unknown>, reply.replayed, 'grpc'));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
        const cancel = () => call.cancel();
        signal.addEventListener('abort', cancel, { once: true });
      });
    },
    info(agent, signal) {
      const client = clientFor(agent);
      return new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        if (options.internalToken) metadata.set('authorization', internalAuthorization(options.internalToken));
        const call = client.Info({}, metadata, {}, (err, reply) =>
          err ? reject(failure(agent, err, signal)) : resolve(JSON.parse(reply.info_json) as Record<string, unknown>),
        );
        signal.addEventListener('abort', () => call.cancel(), { once: true });
      });
    },
    async close() {
      for (const c of clients.values()) c.close();
    },
  };
}

/** AGENT_GRPC_URLS when it names the agent; else the instance discovery picks, at its HTTP port plus GRPC_PORT_OFFSET. */
export function grpcAddress(
  config: Pick<Config, 'agentGrpcUrls' | 'grpcPortOffset'>,
  discovery: Discovery,
  agent: string,
  outliers?: OutlierEjection,
): string | undefined {
  const given = config.agentGrpcUrls[agent];
  if (given) return given;
  const instance = (outliers ? discovery.pick(agent, (url) => outliers.usable(url)) : undefined) ?? discovery.pick(agent);
  instance?.release();
  if (!instance) return undefined;
  const url = new URL(instance.url);
  return `${url.hostname}:${Number(url.port || 80) + config.grpcPortOffset}`;
}
