import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { store, type NewEvent, type Plan } from '../../state/index.ts';
import { isTaskId, type OrchestratorContext } from '../context.ts';
import { fillWorkflowInput, normalizePlan } from '../engine/index.ts';
import { planDescription } from '../planner/index.ts';
import { ErrorReply, ObjectReply, OrchestrateBody, TaskParams, WaitBody } from '../schemas.ts';
import { taskView } from '../task-view.ts';

const errors = { 200: ObjectReply, 202: ObjectReply, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply, 413: ErrorReply, 422: ErrorReply };

export const orchestrateRoutes: FastifyPluginAsync<OrchestratorContext> = async (fastify, ctx) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { engine, db, config } = ctx;

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

  app.post('/orchestrate', {
    schema: {
      tags: ['workflows'],
      summary: 'Plan a description (or take an explicit plan) and run it',
      body: OrchestrateBody,
      response: { ...errors },
    },
  }, async (request, reply) => {
    const body = request.body;
    let plan: Plan;
    let events: NewEvent[] = [];
    if (body.workflow) {
      const named = ctx.workflows.get(body.workflow);
      if (!named) throw new AppError('VALIDATION_FAILED', `no workflow named "${body.workflow}"; known: ${[...ctx.workflows.keys()].join(', ') || 'none'}`);
      plan = fillWorkflowInput(named.plan, body.input ?? {});
      events = [{ type: 'workflow_planned_by', data: { planner: 'workflow', workflow: named.name } }];
    } else if (body.plan) plan = normalizePlan(body.plan as Plan);
    else if (body.description) ({ plan, events } = await planDescription(body.description, await ctx.registry.profiles(), body.input ?? {}, ctx.llm, ctx.registry.names()));
    else throw new AppError('VALIDATION_FAILED', 'body must have "description" (text to plan), "plan" (steps to run) or "workflow" (a named workflow)');
    const { id, status } = await engine.submit({ plan, events, description: body.description ?? (body.workflow ? `workflow ${body.workflow}` : null), input: body.input ?? {}, start: body.execute !== false });
    if (body.wait && status === 'running') {
      const result = await finished(id);
      return reply.status(result.status === 'running' || result.status === 'waiting' ? 202 : 200).send({ ...result, plan });
    }
    return reply.status(202).send({ task_id: id, status, plan, ...links(id) });
  });

  app.get('/workflows', { schema: { tags: ['workflows'], summary: 'Named workflows: POST /orchestrate {workflow, input}', response: { 200: ObjectReply } } }, async () => ({
    workflows: [...ctx.workflows.values()].map((w) => ({ name: w.name, description: w.description, inputs: w.inputs, steps: w.plan.steps })),
  }));

  const waitable = { params: TaskParams, body: Type.Optional(WaitBody), response: { ...errors } };

  app.post('/execute/:task_id', { schema: { tags: ['workflows'], summary: 'Run a planned task', ...waitable } }, async (request, reply) => {
    const id = request.params.task_id;
    if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`);
    await engine.execute(id);
    if (request.body?.wait) return reply.status(200).send(await finished(id));
    return reply.status(202).send({ task_id: id, status: 'running', ...links(id) });
  });

  app.post('/resume/:task_id', { schema: { tags: ['workflows'], summary: 'Resume from the last checkpoint', ...waitable } }, async (request, reply) => {
    const id = request.params.task_id;
    if (!isTaskId(id)) throw new AppError('TASK_NOT_FOUND', `task ${id} not found`);
    await engine.resume(id);
    if (request.body?.wait) return reply.status(200).send(await finished(id));
    return reply.status(202).send({ task_id: id, status: 'running', ...links(id) });
  });
};
