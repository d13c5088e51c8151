import type { FastifyPluginAsync } from 'fastify';
import type { OrchestratorContext } from '../context.ts';

export const agentRoutes: FastifyPluginAsync<OrchestratorContext> = async (app, ctx) => {
  app.get(
    '/agents',
    {
      schema: {
        tags: ['agents'],
        summary: 'Known agents: where they answer, whether they are up, what they declare, their breaker and calls in flight',
      },
    },
    async () => ({
      discovery: ctx.agents.discoveryKind,
      agents: (await ctx.agents.list(true)).map((a) => {
        const ejected = ctx.outliers.ejected(a.name);
        return {
          ...a,
          circuit_breaker: ctx.transport.state(a.name) ?? { state: 'closed' },
          ejected_instances: ejected,
          instances: ctx.agents.instances(a.name).map((url) => ({ url, ejected: ejected.some((e) => e.url === url) })),
          calls_in_flight: ctx.callsInFlight.of(a.name),
        };
      }),
    }),
  );
};
