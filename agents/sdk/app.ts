import { PassThrough } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../services/errors/index.ts';
import { errorHandlerPlugin, healthPlugin, serverOptions, useStrictBodies } from '../../services/http/index.ts';
import {
  CheckRequest,
  ExecuteRequest,
  failedAnswer,
  NDJSON,
  progressLine,
  PROTOCOL_VERSION,
  requireInternalToken,
  resultLine,
  type AgentInfo,
} from '../../services/protocol/index.ts';
import type { ProgressSend } from './progress-channel.ts';
import { createAgentRuntime, type AgentRuntime, type AgentRuntimeOptions } from './runtime.ts';
import type { AgentDefinition } from './types.ts';

export interface AgentAppOptions extends AgentRuntimeOptions {
  logLevel?: string;
  bodyLimitBytes?: number;
  /** A runtime shared with other carriers of calls (the stream worker); one is made otherwise. */
  runtime?: AgentRuntime;
  /** When set, /execute and /info want `Authorization: Bearer <token>` (the orchestrator's INTERNAL_TOKEN). */
  internalToken?: string | undefined;
}

/** What GET /info (and gRPC Info) answers. */
export function agentInfo(definition: AgentDefinition): AgentInfo {
  return {
    name: definition.name,
    description: definition.description,
    version: definition.version ?? '0.1.0',
    protocol: PROTOCOL_VERSION,
    capabilities: definition.capabilities,
    input_schema: definition.inputSchema ?? { type: 'object' },
    checks: definition.check !== undefined,
    outputs: definition.outputs ?? [],
  };
}

/** Builds the Fastify service for one agent; never listens (main.ts does). */
export function buildAgentApp(definition: AgentDefinition, options: AgentAppOptions = {}): FastifyInstance {
  const app = Fastify(
    serverOptions(`agent-${definition.name}`, { logLevel: options.logLevel ?? 'info', bodyLimit: options.bodyLimitBytes ?? 1_048_576 }),
  ).withTypeProvider<TypeBoxTypeProvider>();

  useStrictBodies(app);
  const runtime = options.runtime ?? createAgentRuntime(definition, options);

  void app.register(errorHandlerPlugin);
  void app.register(healthPlugin, {
    registry: runtime.registry,
    checkReady: async () => {
      // A Redis-backed idempotency store (shared by replicas, and by stream workers) must answer.
      await runtime.store.ready?.();
      return { idempotency_entries: String(runtime.store.size()), ...(runtime.store.ready ? { idempotency_store: 'redis' } : {}) };
    },
  });

  // Probes and scrapes stay open; the calls that do work, or describe it, need the token.
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0];
    if (path === '/execute' || path === '/info' || path === '/check')
      requireInternalToken(request.headers.authorization, options.internalToken, definition.name);
  });

  app.get('/info', { schema: { tags: ['agent'] } }, async () => agentInfo(definition));

  // A dry run for the planner: reads the input, does no work, stores nothing.
  app.post('/check', { schema: { tags: ['agent'], body: CheckRequest } }, async (request) => runtime.check(request.body));

  // A caller that accepts application/x-ndjson gets the handler's progress as it comes: the reply
  // turns into a stream at the first ctx.progress (progress lines, then one result line carrying the
  // status and body the plain reply would have had). Until then, and for everyone else, the reply is
  // the plain JSON answer, so a call refused before the handler runs keeps its status code.
  app.post('/execute', { schema: { tags: ['agent'], body: ExecuteRequest } }, async (request, reply) => {
    const body = request.body;
    const headerKey = request.headers['idempotency-key'];
    if (typeof headerKey === 'string' && headerKey !== body.idempotency_key) {
      throw new AppError('VALIDATION_FAILED', 'Idempotency-Key header and body idempotency_key differ');
    }
    let stream: PassThrough | undefined;
    const onProgress: ProgressSend | undefined = request.headers.accept?.includes(NDJSON)
      ? (data) => {
          if (!stream) {
            stream = new PassThrough();
            void reply.status(200).type(NDJSON).send(stream);
          }
          if (stream.write(progressLine(data))) return;
          // The caller reads slowly: the SDK holds or drops progress until the buffer drains.
          const s = stream;
          return new Promise<void>((resolve) => {
            s.once('drain', resolve);
            s.once('close', resolve);
          });
        }
      : undefined;
    const outcome = await runtime.execute(body, request.log, request.headers, onProgress).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    if ('error' in outcome) {
      if (!stream) throw outcome.error;
      // The status line is gone: the error travels as the last line, as the plain reply would have carried it.
      const e =
        outcome.error instanceof AppError ? outcome.error : new AppError('INTERNAL', String(outcome.error), { cause: outcome.error });
      stream.end(resultLine(e.statusCode, failedAnswer(e, { agent: definition.name, idempotency_key: body.idempotency_key }), false));
      return reply;
    }
    const { response, replayed } = outcome.result;
    if (stream) {
      stream.end(resultLine(response.statusCode, response.body, replayed));
      return reply;
    }
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return reply.status(response.statusCode).send(response.body);
  });

  // Calls in flight finish (for the grace period) before the server goes.
  app.addHook('onClose', () => runtime.drain());
  return app;
}
