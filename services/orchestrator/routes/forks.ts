import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { canonicalJson } from '../../protocol/index.ts';
import { concurrencyStore, PlanStepSchema, store, type WorkflowRow } from '../../state/index.ts';
import { lineageOf } from '../../state/fork-store.ts';
import { compareRuns } from '../compare.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { rerunSet } from '../engine/fork.ts';
import { ErrorReply, ObjectReply, SubmitHeaders, TaskParams } from '../schemas.ts';
import { submitIdentity } from '../submit-identity.ts';
import { taskView } from '../task-view.ts';

// A step's graph (id, type, depends_on) stays in a fork, so the fork and its parent line up step by step.
const StepPatch = Type.Partial(Type.Omit(PlanStepSchema, ['id', 'type', 'depends_on']), { additionalProperties: false });

const ForkBody = Type.Object(
  {
    from_step: Type.String({ minLength: 1, maxLength: 64, description: 'Run this step and everything downstream of it again' }),
    input_patch: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: "A JSON merge patch (RFC 7386) of from_step's input: null removes a key" }),
    ),
    plan_patch: Type.Optional(
      Type.Object(
        {
          steps: Type.Optional(
            Type.Record(Type.String(), StepPatch, {
              description: 'By step id (from_step or downstream of it): input is a merge patch, other fields replace',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    wait: Type.Optional(Type.Boolean({ description: 'Answer with the finished fork instead of 202' })),
  },
  { additionalProperties: false },
);

const CompareParams = Type.Object({
  task_id: Type.String({ minLength: 1, maxLength: 64 }),
  other_id: Type.String({ minLength: 1, maxLength: 64 }),
});

const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply };

export const forkRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, engine, config } = ctx;

  const visible = (request: FastifyRequest, id: string): Promise<WorkflowRow> => {
    if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`, { details: { task_id: id } });
    return ctx.ownership.visible(request, id);
  };

  /** The fork as it stands (finished, with wait): what it kept, what it ran, and how each step ended. */
  async function forkAnswer(id: string) {
    const wf = (await store.getWorkflow(db, id))!;
    const view = taskView(wf, await store.getSteps(db, id));
    const { forked_from, fork_step } = lineageOf(wf);
    // Queued behind the parent's concurrency key: which key, and its place in the key's queue (1 = next).
    const queue =
      wf.status === 'queued'
        ? { queue: { concurrency_key: wf.concurrency_key, position: await concurrencyStore.queuePosition(db, id) } }
        : {};
    return {
      task_id: id,
      status: wf.status,
      ...queue,
      error: wf.error,
      forked_from: forked_from ? { task_id: forked_from, step_id: fork_step } : null,
      reused: view.steps.filter((s) => s.reused).map((s) => s.id),
      rerun: [...rerunSet(wf.plan, fork_step ?? '')],
      results: view.steps.map((s) => ({ step_id: s.id, agent: s.agent, status: s.status, reused: s.reused, output: s.output })),
      status_url: `/tasks/${id}`,
      events_url: `/tasks/${id}/events`,
      compare_url: forked_from ? `/tasks/${forked_from}/compare/${id}` : null,
    };
  }

  app.post(
    '/tasks/:task_id/fork',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Run a finished task again from one step: the steps above it keep their results, the rest run (optionally patched)',
        params: TaskParams,
        headers: SubmitHeaders,
        body: ForkBody,
        response: { 200: ObjectReply, 202: ObjectReply, ...errors },
      },
    },
    async (request, reply) => {
      const parent = await visible(request, request.params.task_id);
      const body = request.body;
      const identity = submitIdentity(request.headers['idempotency-key'], {});
      const storedKey = ctx.ownership.idempotencyKey(request, identity.key);
      const requestHash = identity.key
        ? createHash('sha256')
            .update(
              canonicalJson({
                fork_of: parent.id,
                from_step: body.from_step,
                input_patch: body.input_patch ?? null,
                plan_patch: body.plan_patch ?? null,
              }),
            )
            .digest('base64url')
        : undefined;
      const replay = async (existing: WorkflowRow) => {
        const owner = ctx.ownership.limitedTo(request);
        if ((owner !== undefined && existing.submitted_by !== owner) || existing.request_hash !== requestHash)
          throw new AppError(
            'IDEMPOTENCY_CONFLICT',
            `Idempotency-Key "${identity.key}" was used for task ${existing.id} with a different request; send the same request to get that task, or a new key for a new one`,
            { details: { idempotency_key: identity.key, task_id: existing.id } },
          );
        void reply.header('idempotent-replayed', 'true');
        return finish(existing.id);
      };
      const finish = async (id: string) => {
        if (body.wait) {
          await engine.wait(id, config.waitTimeoutMs);
          const answer = await forkAnswer(id);
          return reply.status(['queued', 'running', 'waiting'].includes(answer.status) ? 202 : 200).send(answer);
        }
        return reply.status(202).send(await forkAnswer(id));
      };
      if (storedKey) {
        const existing = await store.getWorkflowByKey(db, storedKey);
        if (existing) return replay(existing);
      }
      const submitter = ctx.ownership.submitter(request);
      const forked = await engine.fork({
        parent,
        request: { fromStep: body.from_step, inputPatch: body.input_patch, planPatch: body.plan_patch },
        ...(storedKey ? { idempotencyKey: storedKey } : {}),
        ...(requestHash ? { requestHash } : {}),
        ...(submitter ? { submittedBy: submitter } : {}),
      });
      if (!forked.created) {
        // Another request with this key won the insert.
        const existing = storedKey ? await store.getWorkflowByKey(db, storedKey) : null;
        if (!existing) throw new AppError('WORKFLOW_BUSY', 'the fork is being created by another request; try again');
        return replay(existing);
      }
      return finish(forked.id);
    },
  );

  app.get(
    '/tasks/:task_id/compare/:other_id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Two runs step by step: which steps were reused, which ran in both and how their outputs differ, and the time and cost',
        params: CompareParams,
        response: { 200: ObjectReply, 404: ErrorReply },
      },
    },
    async (request) => {
      const [a, b] = await Promise.all([visible(request, request.params.task_id), visible(request, request.params.other_id)]);
      const [ra, rb] = await Promise.all([store.getSteps(db, a.id), store.getSteps(db, b.id)]);
      return compareRuns({ wf: a, rows: ra }, { wf: b, rows: rb });
    },
  );
};
