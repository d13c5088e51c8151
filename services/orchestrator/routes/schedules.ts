import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BudgetSchema, scheduleStore, PlanSchema } from '../../state/index.ts';
import type { OrchestratorContext } from '../context.ts';
import { ErrorReply, ObjectReply } from '../schemas.ts';
import { startScheduledRun } from '../schedules/scheduled-run.ts';
import type { Scheduler } from '../schedules/scheduler.ts';
import type { ScheduleMetrics } from '../schedules/metrics.ts';
import { changeSchedule, checkName, createSchedule, mustGetSchedule, scheduleView, type PlanCheck } from '../schedules/schedule-service.ts';
import { planRun } from '../plan-request.ts';
import { AppError } from '../../errors/index.ts';

// overlap and catch_up are plain strings here: the handler's own check names the field, the value and the choices.
const fields = {
  cron: Type.String({ minLength: 1, maxLength: 200, description: 'Cron: 5 fields, or 6 with seconds first ("*/10 * * * * *")' }),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone the cron is read in; UTC by default' })),
  workflow: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A named workflow (GET /workflows)' })),
  plan: Type.Optional(PlanSchema),
  description: Type.Optional(Type.String({ minLength: 1, maxLength: 10_000, description: 'Text planned on each tick' })),
  input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  overlap: Type.Optional(Type.String({ maxLength: 20, description: 'skip | queue | allow: a tick while the previous run goes on' })),
  catch_up: Type.Optional(Type.String({ maxLength: 20, description: 'none | latest | all: ticks missed while nothing ran' })),
  enabled: Type.Optional(Type.Boolean()),
  budget: Type.Optional(
    Type.Union([BudgetSchema, Type.Null()], {
      description: "What each run may spend on models; null removes it (then the named workflow's, else the creating key's applies)",
    }),
  ),
};

const CreateBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100, description: 'Unique; lower-case letters, digits, ".", "_", "-"' }), ...fields },
  { additionalProperties: false },
);
const PatchBody = Type.Object({ ...fields, cron: Type.Optional(fields.cron) }, { additionalProperties: false });
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 409: ErrorReply, 422: ErrorReply, 429: ErrorReply };

export interface ScheduleRouteOptions extends OrchestratorContext {
  scheduler: Scheduler;
  scheduleMetrics: ScheduleMetrics;
}

/** Schedules: a cron expression that starts a workflow on each tick (the scheduler is schedules/scheduler.ts). */
export const scheduleRoutes: FastifyPluginAsync<ScheduleRouteOptions> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['schedules'];
  /**
   * Plans what a schedule runs as a tick would, when it is written. No run carries what a model was
   * paid for that, refused or not, so it is recorded on its own (GET /usage, under (planner)).
   */
  const planCheckFor =
    (name: string, request: FastifyRequest): PlanCheck =>
    async (target, input) => {
      const who = (outcome: string) => ({
        reason: `schedule ${name}: ${outcome} when written`,
        submittedBy: ctx.ownership.submitter(request),
      });
      const planned = await planRun(ctx, { ...target, input }, (usage) => ctx.engine.recordUnstoredPlanning(usage, who('refused')));
      if (planned.usage) await ctx.engine.recordUnstoredPlanning(planned.usage, who('planned'));
    };

  /**
   * The schedule, if this request may see it: with API_KEY_OWNERSHIP=on a key sees and changes only
   * the schedules it created (another's is "not found", as a task is); admin keys see every one,
   * those declared in workflow files too.
   */
  const visible = async (request: FastifyRequest, name: string) => {
    const row = await mustGetSchedule(ctx.db, name);
    const owner = ctx.ownership.limitedTo(request);
    if (owner !== undefined && row.created_by !== owner)
      throw new AppError('SCHEDULE_NOT_FOUND', `no schedule named "${name}"`, { details: { name } });
    return row;
  };

  app.post(
    '/schedules',
    { schema: { tags, summary: 'Create a schedule', body: CreateBody, response: { 201: ObjectReply, ...errors } } },
    async (request, reply) => {
      const { name, ...spec } = request.body;
      const row = await createSchedule(ctx, name, spec, {
        createdBy: ctx.ownership.submitter(request),
        planCheck: planCheckFor(name, request),
      });
      ctx.scheduler.wake();
      return reply.status(201).send(scheduleView(row));
    },
  );

  app.get(
    '/schedules',
    { schema: { tags, summary: 'Every schedule, by name', response: { 200: ObjectReply, ...errors } } },
    async (request) => {
      const owner = ctx.ownership.limitedTo(request);
      const rows = await scheduleStore.listSchedules(ctx.db);
      return { schedules: rows.filter((r) => owner === undefined || r.created_by === owner).map(scheduleView) };
    },
  );

  app.get(
    '/schedules/:name',
    {
      schema: {
        tags,
        summary: 'One schedule: next run, last run and its outcome',
        params: NameParams,
        response: { 200: ObjectReply, ...errors },
      },
    },
    async (request) => scheduleView(await visible(request, request.params.name)),
  );

  app.patch(
    '/schedules/:name',
    {
      schema: {
        tags,
        summary: 'Change a schedule; {"enabled": false} pauses it, {"enabled": true} resumes it',
        params: NameParams,
        body: PatchBody,
        response: { 200: ObjectReply, ...errors },
      },
    },
    async (request) => {
      checkName(request.params.name);
      await visible(request, request.params.name);
      const row = await changeSchedule(ctx, request.params.name, request.body, { planCheck: planCheckFor(request.params.name, request) });
      ctx.scheduler.wake();
      return scheduleView(row);
    },
  );

  app.delete(
    '/schedules/:name',
    {
      schema: {
        tags,
        summary: 'Delete a schedule (the runs it started stay)',
        params: NameParams,
        response: { 200: ObjectReply, ...errors },
      },
    },
    async (request) => {
      await visible(request, request.params.name);
      if (!(await scheduleStore.deleteSchedule(ctx.db, request.params.name)))
        throw new AppError('SCHEDULE_NOT_FOUND', `no schedule named "${request.params.name}"`, { details: { name: request.params.name } });
      return { deleted: request.params.name };
    },
  );

  app.post(
    '/schedules/:name/trigger',
    {
      schema: {
        tags,
        summary: 'Start a run of the schedule now, whatever its overlap and whether it is paused',
        params: NameParams,
        response: { 202: ObjectReply, ...errors },
      },
    },
    async (request, reply) => {
      const row = await visible(request, request.params.name);
      const { taskId } = await startScheduledRun(ctx, row, null);
      await scheduleStore.recordTrigger(ctx.db, row.id, taskId);
      ctx.scheduleMetrics.ticks.inc({ schedule: row.name, outcome: 'triggered' });
      return reply
        .status(202)
        .send({ schedule: row.name, task_id: taskId, status_url: `/tasks/${taskId}`, events_url: `/tasks/${taskId}/events` });
    },
  );
};
