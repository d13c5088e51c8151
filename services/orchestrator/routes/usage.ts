import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { BudgetSchema } from '../../state/index.ts';
import { usageGroups, usageSummary } from '../../state/usage-store.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { ErrorReply, ObjectReply, TaskParams } from '../schemas.ts';

const DEFAULT_WINDOW_MS = 30 * 86_400_000;

// group_by is checked by hand, not by the schema, so a bad one is a 400 naming the field and the choices.
const UsageQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 time, inclusive (default: 30 days before `to`)' })),
    to: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 time, exclusive (default: now)' })),
    group_by: Type.Optional(Type.String({ maxLength: 32, description: 'workflow (each run), agent, model or api_key (default model)' })),
  },
  { additionalProperties: false },
);

/** A time from the query: ISO 8601 with a zone (a bare date is midnight UTC), or a 400 naming the field. */
function timeOf(field: 'from' | 'to', value: string | undefined, fallback: Date): Date {
  if (value === undefined) return fallback;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const at = dateOnly || /(Z|[+-]\d{2}:?\d{2})$/i.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at))
    throw new AppError('VALIDATION_FAILED', `${field} "${value}" is not an ISO 8601 date or time with a zone (e.g. 2026-12-01T00:00:00Z)`, {
      details: { field },
    });
  return new Date(at);
}

export const usageRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/usage',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Model tokens and cost of step attempts that finished in [from, to), grouped by workflow, agent, model or api_key',
        querystring: UsageQuery,
        response: { 200: ObjectReply, 400: ErrorReply },
      },
    },
    async (request) => {
      const q = request.query;
      const groupBy = q.group_by ?? 'model';
      if (!(usageGroups as readonly string[]).includes(groupBy))
        throw new AppError('VALIDATION_FAILED', `group_by "${groupBy}" is not one of ${usageGroups.join(', ')}`, {
          details: { field: 'group_by', allowed: usageGroups },
        });
      const to = timeOf('to', q.to, new Date());
      const from = timeOf('from', q.from, new Date(to.getTime() - DEFAULT_WINDOW_MS));
      if (from.getTime() >= to.getTime())
        throw new AppError('VALIDATION_FAILED', `from (${from.toISOString()}) must be before to (${to.toISOString()})`, {
          details: { field: 'from' },
        });
      const lines = await usageSummary(ctx.db, {
        from,
        to,
        groupBy: groupBy as (typeof usageGroups)[number],
        owner: ctx.ownership.limitedTo(request),
      });
      const sum = (f: 'prompt_tokens' | 'completion_tokens' | 'calls' | 'attempts' | 'unpriced_calls') =>
        lines.reduce((n, l) => n + l[f], 0);
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        group_by: groupBy,
        groups: lines,
        total: {
          prompt_tokens: sum('prompt_tokens'),
          completion_tokens: sum('completion_tokens'),
          tokens: sum('prompt_tokens') + sum('completion_tokens'),
          calls: sum('calls'),
          attempts: sum('attempts'),
          cost_usd: Math.round(lines.reduce((n, l) => n + l.cost_usd, 0) * 1e9) / 1e9,
          unpriced_calls: sum('unpriced_calls'),
        },
      };
    },
  );

  app.post(
    '/tasks/:task_id/budget',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Set or raise a run’s budget; a run parked at its budget (on_budget: wait) goes on at once',
        params: TaskParams,
        body: BudgetSchema,
        response: { 200: ObjectReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply },
      },
    },
    async (request) => {
      const id = request.params.task_id;
      if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });
      await ctx.ownership.visible(request, id);
      const { budget, resumed } = await ctx.engine.setBudget(id, request.body);
      return { task_id: id, budget, resumed };
    },
  );
};
