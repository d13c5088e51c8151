import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Histogram } from 'prom-client';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { AppError, serializeError } from '../../services/errors/index.ts';
import { errorBody, errorHandlerPlugin, healthPlugin, useStrictBodies } from '../../services/http/index.ts';
import { createRegistry, serverLogOptions } from '../../services/telemetry/index.ts';
import { createMemoryIdempotencyStore, type IdempotencyStore, type StoredResponse } from './idempotency.ts';
import type { Config } from '../../services/config/index.ts';
import { createLlmGateway } from '../../services/llm/index.ts';
import { searchKnowledge } from './knowledge-client.ts';
import type { AgentContext, AgentDefinition } from './types.ts';

export const PROTOCOL_VERSION = '1';

const offlineLlm: Config['llm'] = { baseUrl: undefined, apiKey: undefined, model: 'none', timeoutMs: 1, maxRetries: 0 };

export interface AgentAppOptions {
  logLevel?: string;
  bodyLimitBytes?: number;
  idempotencyStore?: IdempotencyStore;
  idempotencyMaxEntries?: number;
  /** How long close() lets calls in flight finish before aborting them. */
  shutdownGraceMs?: number;
  /** Base URL of the knowledge service, for ctx.searchKnowledge. */
  knowledgeUrl?: string;
  /** The model provider for ctx.llm (its metrics go to this agent's registry); offline when not given. */
  llm?: Config['llm'];
}

const ExecuteBody = Type.Object(
  {
    idempotency_key: Type.String({ minLength: 1, maxLength: 256 }),
    task_id: Type.String({ minLength: 1, maxLength: 128 }),
    step_id: Type.String({ minLength: 1, maxLength: 128 }),
    attempt: Type.Integer({ minimum: 1 }),
    input: Type.Record(Type.String(), Type.Unknown()),
    context: Type.Optional(
      Type.Object({
        description: Type.Optional(Type.String()),
        dependencies: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
    ),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

/** Builds the Fastify service for one agent; never listens (main.ts does). */
export function buildAgentApp(definition: AgentDefinition<any>, options: AgentAppOptions = {}): FastifyInstance {
  const app = Fastify({
    ...serverLogOptions(options.logLevel ?? 'info', `agent-${definition.name}`),
    bodyLimit: options.bodyLimitBytes ?? 1_048_576,
  }).withTypeProvider<TypeBoxTypeProvider>();

  useStrictBodies(app);
  const store = options.idempotencyStore ?? createMemoryIdempotencyStore(options.idempotencyMaxEntries ?? 10_000);
  const registry = createRegistry(`agent-${definition.name}`);
  const requests = new Counter({ name: 'agent_requests_total', help: 'Execute calls by outcome', labelNames: ['agent', 'status'], registers: [registry] });
  const replays = new Counter({ name: 'agent_idempotent_replays_total', help: 'Calls answered from the idempotency store', labelNames: ['agent'], registers: [registry] });
  const duration = new Histogram({
    name: 'agent_handler_duration_seconds',
    help: 'Time the handler took',
    labelNames: ['agent'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inflight = new Set<Promise<unknown>>();
  new Gauge({ name: 'agent_inflight_calls', help: 'Handler runs in progress', labelNames: ['agent'], registers: [registry], collect() { this.set({ agent: definition.name }, inflight.size); } });

  const observe = definition.metrics?.(registry);
  const llm = createLlmGateway({ llm: options.llm ?? offlineLlm }, registry);
  const shutdown = new AbortController();
  let closing = false;
  const checkInput = definition.inputSchema;

  void app.register(errorHandlerPlugin);
  void app.register(healthPlugin, { registry, checkReady: async () => ({ idempotency_entries: String(store.size()) }) });

  app.get('/info', { schema: { tags: ['agent'] } }, async () => ({
    name: definition.name,
    description: definition.description,
    version: definition.version ?? '0.1.0',
    protocol: PROTOCOL_VERSION,
    capabilities: definition.capabilities,
    input_schema: definition.inputSchema ?? { type: 'object' },
  }));

  app.post('/execute', { schema: { tags: ['agent'], body: ExecuteBody } }, async (request, reply) => {
    const body = request.body;
    const headerKey = request.headers['idempotency-key'];
    if (typeof headerKey === 'string' && headerKey !== body.idempotency_key) {
      throw new AppError('VALIDATION_FAILED', 'Idempotency-Key header and body idempotency_key differ');
    }
    if (closing) throw new AppError('SHUTTING_DOWN', `agent ${definition.name} is shutting down`);
    if (checkInput && !Value.Check(checkInput, body.input)) {
      const problems = [...Value.Errors(checkInput, body.input)].slice(0, 5).map((e) => `input${e.instancePath} ${e.message}`);
      throw new AppError('AGENT_INPUT_INVALID', problems.join('; '), { details: { errors: problems } });
    }
    const fingerprint = createHash('sha1').update(body.step_id).update(JSON.stringify(body.input)).digest('base64');
    const { response, replayed } = await store.run(body.idempotency_key, fingerprint, () => {
      const run = runHandler(body, request.log);
      inflight.add(run);
      void run.finally(() => inflight.delete(run));
      return run;
    });
    if (replayed) {
      replays.inc({ agent: definition.name });
      void reply.header('idempotent-replayed', 'true');
    }
    requests.inc({ agent: definition.name, status: replayed ? 'replayed' : String(response.body.status ?? response.statusCode) });
    return reply.status(response.statusCode).send(response.body);
  });

  async function runHandler(body: Static<typeof ExecuteBody>, log: FastifyInstance['log']): Promise<StoredResponse> {
    const started = performance.now();
    const signals = [shutdown.signal];
    const deadline = new AbortController();
    const timer = body.timeout_ms ? setTimeout(() => deadline.abort(new AppError('STEP_TIMEOUT', `deadline of ${body.timeout_ms} ms passed`)), body.timeout_ms) : undefined;
    if (timer) signals.push(deadline.signal);
    const ctx: AgentContext = {
      taskId: body.task_id,
      stepId: body.step_id,
      attempt: body.attempt,
      idempotencyKey: body.idempotency_key,
      description: body.context?.description,
      dependencies: body.context?.dependencies ?? {},
      signal: AbortSignal.any(signals),
      log: log.child({ idempotencyKey: body.idempotency_key }),
      searchKnowledge: (query, limit = 5) => searchKnowledge(options.knowledgeUrl, query, limit, AbortSignal.any(signals)),
      llm,
    };
    // The e2e suite reads this line to prove no key ever runs the handler twice.
    ctx.log.info({ agent: definition.name, event: 'handler_started' }, 'handler started');
    const meta = { agent: definition.name, idempotency_key: body.idempotency_key };
    try {
      const output = await definition.execute(body.input, ctx);
      observe?.(output);
      const decision = output.decision === 'approved' || output.decision === 'rejected' ? output.decision : undefined;
      const durationMs = Math.round(performance.now() - started);
      return { statusCode: 200, body: { ...meta, status: 'succeeded', output, ...(decision ? { decision } : {}), duration_ms: durationMs } };
    } catch (err) {
      const appErr = err instanceof AppError ? err : new AppError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
      if (!(err instanceof AppError)) ctx.log.error({ err }, 'handler failed');
      return { statusCode: appErr.statusCode, body: { ...errorBody(appErr), ...meta, status: 'failed', failure: serializeError(appErr) } };
    } finally {
      clearTimeout(timer);
      duration.observe({ agent: definition.name }, (performance.now() - started) / 1000);
    }
  }

  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    const grace = options.shutdownGraceMs ?? 10_000;
    const all = Promise.allSettled([...inflight]);
    const timer = setTimeout(() => shutdown.abort(new AppError('SHUTTING_DOWN', 'shutdown grace period ended')), grace);
    await all;
    clearTimeout(timer);
  });

  return app;
}
