import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { store, type EventRow } from '../../state/index.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { ErrorReply, TaskParams } from '../schemas.ts';

const FINAL = new Set(['workflow_succeeded', 'workflow_failed', 'workflow_cancelled']);
const BATCH = 500;

/**
 * GET /tasks/:id/events: server-sent events, replayed from the start (or after Last-Event-ID),
 * then live. Local commits wake the stream at once; the notifier's one shared poll picks up other
 * replicas' events. A task that has finished is replayed and the stream ends at once.
 *
 * Between them, while the stream is open, `step_progress` events: what agents report as their steps
 * run (ctx.progress), from the progress hub. They are not in the log, so they carry no `id:` line:
 * a client's Last-Event-ID stays on the last durable event, and a reconnect replays only those.
 */
export const eventRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Open streams never end by themselves while a workflow runs: close them so app.close() can finish.
  const open = new Set<() => void>();
  fastify.addHook('preClose', async () => {
    for (const close of open) close();
  });

  app.get(
    '/tasks/:task_id/events',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Server-sent events of a task, from the start then live; ends after the final status',
        params: TaskParams,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })) }),
        response: { 404: ErrorReply },
      },
    },
    async (request, reply) => {
      const id = request.params.task_id;
      if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });
      const wf = await ctx.ownership.visible(request, id);
      const finished = wf.status === 'succeeded' || wf.status === 'failed' || wf.status === 'cancelled';

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let lastId = Number(request.headers['last-event-id'] ?? 0);
      let closed = false;
      let running = false;
      let again = false;

      const write = (e: EventRow) => {
        const data = {
          id: e.id,
          task_id: id,
          type: e.type,
          step_id: e.step_id,
          attempt: e.attempt,
          data: e.data,
          created_at: e.created_at,
        };
        raw.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
      };

      const pump = async (): Promise<void> => {
        if (closed) return;
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          do {
            again = false;
            const events = await store.listEvents(ctx.db, id, lastId, BATCH);
            for (const e of events) {
              write(e);
              lastId = e.id;
            }
            // Ends on a final status only if nothing follows it (a failed workflow may be resumed).
            const last = events.at(-1);
            if (last && FINAL.has(last.type) && events.length < BATCH) return close();
            if (events.length === BATCH) again = true;
          } while (again && !closed);
        } catch (err) {
          request.log.error({ err }, 'event stream read failed');
          close();
        } finally {
          running = false;
        }
      };

      const unsubscribe = ctx.notifier.subscribe(id, () => void pump());
      const progress = finished
        ? undefined
        : ctx.progress.subscribe(id, (p) => {
            if (!closed) raw.write(`event: step_progress\ndata: ${JSON.stringify(p)}\n\n`);
          });
      const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
      function close() {
        if (closed) return;
        closed = true;
        open.delete(close);
        unsubscribe();
        progress?.close();
        clearInterval(keepAlive);
        raw.end();
      }
      open.add(close);
      request.raw.on('close', close);
      // Subscribed before the replay, so no progress falls between the two (bounded: progress is best-effort).
      if (progress) {
        const bound = new AbortController();
        await Promise.race([progress.ready, sleep(1_000, undefined, { signal: bound.signal }).catch(() => {})]);
        bound.abort();
      }
      await pump();
      // Finished before the stream opened (a reconnect after the last event, say): nothing more will come.
      if (finished) close();
    },
  );
};
