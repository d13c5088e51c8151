import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { concurrencyStore, store } from '../../state/index.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { AnswerBody, CancelBody, ErrorReply, ListQuery, ObjectReply, TaskParams } from '../schemas.ts';
import { taskSummary, taskView } from '../task-view.ts';
import { listForks } from '../../state/fork-store.ts';
import { checkName } from '../schedules/schedule-service.ts';

export const taskRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, engine } = ctx;

  const notFound = (id: string) => new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });

  app.get(
    '/tasks/:task_id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Status, each step with its attempts and timings, and the checkpoint',
        params: TaskParams,
        response: { 200: ObjectReply, 404: ErrorReply },
      },
    },
    async (request) => {
      const id = request.params.task_id;
      if (!isTaskId(id)) throw notFound(id);
      const wf = await ctx.ownership.visible(request, id);
      const [steps, decisions, forks, tick] = await Promise.all([
        store.getSteps(db, id),
        store.getDecisions(db, id),
        listForks(db, id, ctx.ownership.limitedTo(request)),
        // Only a schedule's runs have a key starting "schedule " (a client's key has no spaces).
        wf.idempotency_key?.startsWith('schedule ') ? store.firstEventData(db, id, 'schedule_tick') : null,
      ]);
      const view = taskView({ ...wf, schedule_tick: tick }, steps, decisions);
      const jaeger = ctx.config.tracing.jaegerUiUrl;
      // A queued workflow's place in its key's queue (1 = next).
      const position = wf.status === 'queued' ? { queue_position: await concurrencyStore.queuePosition(db, id) } : {};
      return { ...view, forks, ...position, trace_url: jaeger && view.trace_id ? `${jaeger}/trace/${view.trace_id}` : null };
    },
  );

  for (const decision of ['approved', 'rejected'] as const) {
    const verb = decision === 'approved' ? 'approve' : 'reject';
    app.post(
      `/tasks/:task_id/${verb}`,
      {
        schema: {
          tags: ['workflows'],
          summary: `${decision === 'approved' ? 'Approve' : 'Reject'} a waiting approval step; the answer drives its branch`,
          params: TaskParams,
          body: Type.Optional(AnswerBody),
          response: { 200: ObjectReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply },
        },
      },
      async (request) => {
        const id = request.params.task_id;
        if (!isTaskId(id)) throw notFound(id);
        await ctx.ownership.visible(request, id);
        const step = await engine.answer(id, decision, request.body?.comment, request.body?.step_id);
        return { task_id: id, step_id: step, decision };
      },
    );
  }

  app.get(
    '/tasks',
    {
      schema: {
        tags: ['workflows'],
        summary:
          'Tasks, newest first, optionally by status, a text in the description or the schedule that started them; follow next_cursor for more',
        querystring: ListQuery,
        response: { 200: ObjectReply, 400: ErrorReply },
      },
    },
    async (request) => {
      const { status, limit, cursor, q, schedule } = request.query;
      if (schedule !== undefined) checkName(schedule);
      const after = cursor ? decodeCursor(cursor) : undefined;
      const owner = ctx.ownership.limitedTo(request);
      const rows = await store.listWorkflows(db, {
        ...(status ? { status } : {}),
        ...(q ? { search: q } : {}),
        ...(schedule ? { schedule } : {}),
        limit: limit + 1,
        ...(after ? { after } : {}),
        ...(owner ? { submittedBy: owner } : {}),
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        tasks: page.map(taskSummary),
        next_cursor: rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null,
      };
    },
  );

  app.post(
    '/tasks/:task_id/cancel',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Cancel a planned or running task',
        params: TaskParams,
        body: Type.Optional(CancelBody),
        response: { 200: ObjectReply, 404: ErrorReply, 409: ErrorReply },
      },
    },
    async (request) => {
      const id = request.params.task_id;
      if (!isTaskId(id)) throw notFound(id);
      await ctx.ownership.visible(request, id);
      const row = await engine.cancel(id, request.body?.reason ?? 'cancelled by request');
      return { task_id: id, status: row.status, error: row.error };
    },
  );
};

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [ts, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(ts ?? '');
  if (!id || !isTaskId(id) || Number.isNaN(createdAt.getTime())) {
    throw new AppError('VALIDATION_FAILED', 'cursor is not a cursor this API returned', { details: { field: 'cursor' } });
  }
  return { createdAt, id };
}
