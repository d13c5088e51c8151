import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../../services/errors/index.ts';
import { errorHandlerPlugin, healthPlugin, serverOptions, useStrictBodies } from '../../services/http/index.ts';
import { ExecuteRequest, PROTOCOL_VERSION, requireInternalToken, type AgentInfo } from '../../services/protocol/index.ts';
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
    if (path === '/execute' || path === '/info')
      requireInternalToken(request.headers.authorization, options.internalToken, definition.name);
  });

  app.get('/info', { schema: { tags: ['agent'] } }, async () => agentInfo(definition));

  app.post('/execute', { schema: { tags: ['agent'], body: ExecuteRequest } }, async (request, reply) => {
    const body = request.body;
    const headerKey = request.headers['idempotency-key'];
    if (typeof headerKey === 'string' && headerKey !== body.idempotency_key) {
      throw new AppError('VALIDATION_FAILED', 'Idempotency-Key header and body idempotency_key differ');
    }
    const { response, replayed } = await runtime.execute(body, request.log, request.headers);
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return reply.status(response.statusCode).send(response.body);
  });

  // Calls in flight finish (for the grace period) before the server goes.
  app.addHook('onClose', () => runtime.drain());
  return app;
}
