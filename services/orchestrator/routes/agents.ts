import type { FastifyPluginAsync } from 'fastify';
import type { OrchestratorContext } from '../context.ts';

export const agentRoutes: FastifyPluginAsync<OrchestratorContext> = async (app, ctx) => {
  app.get(
    '/agents',
    {
      schema: { tags: ['agents'], summary: 'Known agents: where they answer, whether they are up, what they declare' },
    },
    async () => ({
      discovery: ctx.agents.discoveryKind,
      agents: (await ctx.agents.list(true)).map((a) => ({
        ...a,
        circuit_breaker: ctx.transport.state(a.name) ?? { state: 'closed' },
        ejected_instances: ctx.outliers.ejected(a.name),
      })),
    }),
  );
};
