import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { concurrencyStore, store, type Plan, type WorkflowRow, type WorkflowStatus } from '../../state/index.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { durationMs } from '../engine/flow-control.ts';
import { flowOf, planRun, type PlannedRun } from '../plan-request.ts';
import type { StepFinding } from '../planner/index.ts';
import { ErrorReply, ObjectReply, OrchestrateBody, SubmitHeaders, TaskParams, WaitBody } from '../schemas.ts';
import { submitIdentity, type SubmitIdentity } from '../submit-identity.ts';
import { taskView } from '../task-view.ts';

const errors = { 200: ObjectReply, 202: ObjectReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply, 413: ErrorReply, 422: ErrorReply };

/** The longest delay a run may be scheduled with: past it, a schedule (POST /schedules) is the tool. */
const MAX_DELAY_MS = 366 * 24 * 3_600_000;

/** When a delayed run starts (run_at or delay), undefined for now; a 400 naming the field when it cannot be read. */
function startTime(body: { run_at?: string | undefined; delay?: string | undefined; execute?: boolean | undefined }): Date | undefined {
  if (body.run_at === undefined && body.delay === undefined) return undefined;
  if (body.run_at !== undefined && body.delay !== undefined)
    throw new AppError('VALIDATION_FAILED', 'give run_at or delay, not both', { details: { field: 'delay' } });
  if (body.execute === false) {
    const field = body.run_at === undefined ? 'delay' : 'run_at';
    throw new AppError('VALIDATION_FAILED', `${field} starts the run later; execute: false only plans it`, { details: { field } });
  }
  let at: number;
  if (body.run_at !== undefined) {
    // A zone is required: a time without one would be read in the server's zone, not the caller's.
    at = /(Z|[+-]\d{2}:?\d{2})$/i.test(body.run_at) ? Date.parse(body.run_at) : NaN;
    if (Number.isNaN(at))
      throw new AppError('VALIDATION_FAILED', `run_at "${body.run_at}" is not an ISO 8601 time with a zone (e.g. 2026-12-24T18:00:00Z)`, {
        details: { field: 'run_at' },
      });
  } else {
    const ms = durationMs(body.delay!);
    if (ms === undefined)
      throw new AppError('VALIDATION_FAILED', `delay "${body.delay}" is not a duration with a unit (e.g. "90s", "5m", "2h", "1d")`, {
        details: { field: 'delay' },
      });
    at = Date.now() + ms;
  }
  if (at - Date.now() > MAX_DELAY_MS) {
    const field = body.run_at === undefined ? 'delay' : 'run_at';
    throw new AppError('VALIDATION_FAILED', `${field} is more than a year away; use a schedule (POST /schedules)`, { details: { field } });
  }
  return new Date(at);
}

const isRefusedPlan = (details: unknown): details is { plan: Plan; clauses: StepFinding[] } =>
  typeof details === 'object' && details !== null && 'plan' in details && 'clauses' in details;

export const orchestrateRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { engine, db, config } = ctx;

  /** Where a queued workflow stands: its key and place in the key's queue (1 = next). */
  const queueOf = async (id: string, key: string | null) => ({
    concurrency_key: key,
    position: await concurrencyStore.queuePosition(db, id),
  });

  const links = (id: string) => ({ status_url: `/tasks/${id}`, events_url: `/tasks/${id}/events` });

  /** The finished result from memory when it ran here, else from the database. */
  async function finished(id: string) {
    const outcome = await engine.wait(id, config.waitTimeoutMs);
    if (outcome) return { task_id: id, status: outcome.status, error: outcome.error, results: outcome.results, ...links(id) };
    // Parked or finished elsewhere: the database has it.
    const wf = await store.getWorkflow(db, id);
    const view = taskView(wf!, await store.getSteps(db, id));
    return {
      ...links(id),
      task_id: id,
      status: view.status,
      error: view.error,
      results: view.steps.map((s) => ({ step_id: s.id, agent: s.agent, status: s.status, attempts: s.attempts.length, output: s.output })),
    };
  }

  /** The answer to a submit: 202 with the task, or with `wait` the finished result (202 if it is still going). */
  async function answer(
    reply: FastifyReply,
    id: string,
    status: WorkflowStatus,
    plan: Plan,
    wait: boolean | undefined,
    checks?: StepFinding[],
  ) {
    const checked = checks ? { checks } : {};
    if (wait && status !== 'planned') {
      const result = await finished(id);
      const going = ['scheduled', 'queued', 'running', 'waiting'].includes(result.status);
      return reply.status(going ? 202 : 200).send({ ...result, plan, ...checked });
    }
    const wf = status === 'scheduled' || status === 'queued' || status === 'cancelled' ? await store.getWorkflow(db, id) : null;
    const scheduled = status === 'scheduled' ? { run_at: wf?.wake_at ?? null } : {};
    const queued = status === 'queued' ? { queue: await queueOf(id, wf?.concurrency_key ?? null) } : {};
    const refused = status === 'cancelled' ? { error: wf?.error ?? null } : {};
    return reply.status(202).send({ task_id: id, status, ...scheduled, ...queued, ...refused, plan, ...checked, ...links(id) });
  }

  /** A retried submit gets the task the first one made, answered the same way; a reused key with another request, a 409. */
  async function replay(
    request: FastifyRequest,
    reply: FastifyReply,
    existing: WorkflowRow,
    identity: SubmitIdentity,
    wait: boolean | undefined,
  ) {
    const owner = ctx.ownership.limitedTo(request);
    if (owner !== undefined && existing.submitted_by !== owner) {
      // Another key's task: say only that the id is taken, nothing of the task.
      throw new AppError('IDEMPOTENCY_CONFLICT', `task_id ${existing.id} is taken; choose another`, { details: { task_id: existing.id } });
    }
    if (existing.request_hash !== identity.requestHash) {
      const message = identity.key
        ? `Idempotency-Key "${identity.key}" was used for task ${existing.id} with a different request; send the same request to get that task, or a new key for a new one`
        : `task_id ${existing.id} is a task made by a different request; send the same request to get it, or choose a new task_id for a new one`;
      throw new AppError('IDEMPOTENCY_CONFLICT', message, {
        details: { task_id: existing.id, ...(identity.key ? { idempotency_key: identity.key } : {}) },
      });
    }
    void reply.header('idempotent-replayed', 'true');
    // A planned description was answered with its checks: they are in its log, the plan_checked event.
    const checked = existing.description ? await store.firstEventData(db, existing.id, 'plan_checked') : null;
    const checks = Array.isArray(checked?.checks) ? (checked.checks as StepFinding[]) : undefined;
    return answer(reply, existing.id, existing.status, existing.plan, wait, checks);
  }

  const existingFor = async (storedKey: string | undefined, id: string | undefined) =>
    (storedKey ? await store.getWorkflowByKey(db, storedKey) : null) ?? (id ? await store.getWorkflow(db, id) : null);

  app.post(
    '/orchestrate',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Plan a description (or take an explicit plan) and run it; idempotent with task_id or an Idempotency-Key',
        headers: SubmitHeaders,
        body: OrchestrateBody,
        response: { ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const identity = submitIdentity(request.headers['idempotency-key'], body);
      // With ownership on, a key's Idempotency-Keys are its own: two keys never meet on one.
      const storedKey = ctx.ownership.idempotencyKey(request, identity.key);
      // A retry is answered before planning: the planner may call a model, and need not run twice.
      if (identity.requestHash) {
        const existing = await existingFor(storedKey, identity.taskId);
        if (existing) return replay(request, reply, existing, identity, body.wait);
      }
      const runAt = startTime(body);
      const named = body.workflow ? ctx.workflows.get(body.workflow) : undefined;
      const flow = flowOf(
        {
          concurrency: body.concurrency ?? named?.flow.concurrency,
          rate_limit: body.rate_limit ?? named?.flow.rate_limit,
          priority: body.priority ?? named?.flow.priority,
        },
        body,
        named ? `workflow:${named.name}` : 'runs',
      );
      let planned: PlannedRun;
      try {
        planned = await planRun(ctx, body, (usage) =>
          engine.recordUnstoredPlanning(usage, { reason: 'description refused', submittedBy: ctx.ownership.submitter(request) }),
        );
      } catch (err) {
        // Only planning was asked for: the refused plan is the answer, with what each agent said; nothing is stored.
        if (body.execute === false && err instanceof AppError && err.code === 'UNPLANNABLE' && isRefusedPlan(err.details))
          return reply
            .status(200)
            .send({ task_id: null, status: 'refused', message: err.message, plan: err.details.plan, checks: err.details.clauses });
        throw err;
      }
      const { events, description, checks } = planned;
      // The request's budget, else the named workflow's (already in its plan), else the API key's default.
      const budget = body.budget ?? planned.plan.budget ?? request.principal?.budget;
      const plan = budget ? { ...planned.plan, budget } : planned.plan;
      const submitted = await engine.submit({
        ...(runAt ? { runAt } : {}),
        ...flow,
        plan,
        events,
        description,
        input: body.input ?? {},
        start: body.execute !== false,
        ...(planned.usage ? { planningUsage: planned.usage } : {}),
        ...(identity.taskId ? { id: identity.taskId } : {}),
        ...(storedKey ? { idempotencyKey: storedKey } : {}),
        ...(identity.requestHash ? { requestHash: identity.requestHash } : {}),
        ...(ctx.ownership.submitter(request) ? { submittedBy: ctx.ownership.submitter(request)! } : {}),
      });
      if (!submitted.created) {
        // Another submit with this id or key won the insert (a retry racing the first, or another replica).
        const existing = await existingFor(storedKey, submitted.id);
        if (!existing) throw new AppError('WORKFLOW_BUSY', `task ${submitted.id} is being created by another request; try again`);
        return replay(request, reply, existing, identity, body.wait);
      }
      return answer(reply, submitted.id, submitted.status, plan, body.wait, checks);
    },
  );

  app.get(
    '/workflows',
    { schema: { tags: ['workflows'], summary: 'Named workflows: POST /orchestrate {workflow, input}', response: { 200: ObjectReply } } },
    async () => ({
      workflows: [...ctx.workflows.values()].map((w) => ({
        name: w.name,
        description: w.description,
        inputs: w.inputs,
        steps: w.plan.steps,
      })),
    }),
  );

  const waitable = { params: TaskParams, body: Type.Optional(WaitBody), response: { ...errors } };

  app.post('/execute/:task_id', { schema: { tags: ['workflows'], summary: 'Run a planned task', ...waitable } }, async (request, reply) => {
    const id = request.params.task_id;
    if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`);
    await ctx.ownership.visible(request, id);
    await engine.execute(id);
    if (request.body?.wait) return reply.status(200).send(await finished(id));
    return reply.status(202).send({ task_id: id, status: 'running', ...links(id) });
  });

  app.post(
    '/resume/:task_id',
    { schema: { tags: ['workflows'], summary: 'Resume from the last checkpoint', ...waitable } },
    async (request, reply) => {
      const id = request.params.task_id;
      if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`);
      await ctx.ownership.visible(request, id);
      await engine.resume(id);
      if (request.body?.wait) return reply.status(200).send(await finished(id));
      return reply.status(202).send({ task_id: id, status: 'running', ...links(id) });
    },
  );
};
