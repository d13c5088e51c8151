import type {} from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';

export interface HealthOptions {
  registry: Registry;
  /** Resolves when the service's dependencies answer; throws naming the one that does not. */
  checkReady: () => Promise<Record<string, string>>;
}

const HealthReply = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

/** GET /health (alive), GET /ready (dependencies answer), GET /metrics (Prometheus text). */
export const healthPlugin = fp<HealthOptions>(
  async (app: FastifyInstance, opts) => {
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    // Answers still going out during shutdown close their connection, or close() would wait for
    // the client's keep-alive to time out.
    app.addHook('onSend', async (_request, reply) => {
      if (closing) void reply.header('connection', 'close');
    });
    app.get('/health', { schema: { tags: ['ops'], response: { 200: HealthReply } } }, async () => ({ status: 'ok' }));
    app.get('/ready', { schema: { tags: ['ops'], response: { 200: HealthReply, 503: HealthReply } } }, async (_req, reply) => {
      if (closing) return reply.status(503).send({ status: 'shutting_down' });
      try {
        return { status: 'ready', checks: await opts.checkReady() };
      } catch (err) {
        return reply.status(503).send({ status: 'not_ready', checks: { error: err instanceof Error ? err.message : String(err) } });
      }
    });
    app.get('/metrics', { schema: { tags: ['ops'], hide: true } }, async (_req, reply) => {
      void reply.header('content-type', opts.registry.contentType);
      return opts.registry.metrics();
    });
  },
  { name: 'agentic-mesh-health' },
);
