import { context, trace } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import Value from 'typebox/value';
import type { Config } from '../../services/config/index.ts';
import { AppError } from '../../services/errors/index.ts';
import { createLlmGateway, offlineLlm } from '../../services/llm/index.ts';
import {
  addUsage,
  callFingerprint,
  failedAnswer,
  type CheckRequest,
  type CheckVerdict,
  type ExecuteRequest,
  type ExecuteSucceeded,
  type Usage,
} from '../../services/protocol/index.ts';
import { contextFrom, createRegistry, lazyChild, tracer } from '../../services/telemetry/index.ts';
import { createMemoryIdempotencyStore, type IdempotencyStore, type StoredResponse } from './idempotency.ts';
import { searchKnowledge } from './knowledge-client.ts';
import { progressChannel, progressChunks, type ProgressSend } from './progress-channel.ts';
import type { AgentContext, AgentDefinition } from './types.ts';

export interface AgentRuntimeOptions {
  idempotencyStore?: IdempotencyStore;
  idempotencyMaxEntries?: number;
  /** How long draining lets calls in flight finish before aborting them. */
  shutdownGraceMs?: number;
  /** Base URL of the knowledge service, for ctx.searchKnowledge. */
  knowledgeUrl?: string;
  /** INTERNAL_TOKEN, shown to the knowledge service, which wants it (or a key) when it is set. */
  internalToken?: string | undefined;
  /** The model provider for ctx.llm (its metrics go to this agent's registry); offline when not given. */
  llm?: Config['llm'];
}

export interface AgentRuntime {
  readonly registry: Registry;
  readonly store: IdempotencyStore;
  /**
   * Runs one call, whatever carried it (HTTP, a stream entry): input check, idempotency (a repeated
   * key gets the stored answer), the handler, metrics. Failures come back as stored responses too.
   * `onProgress` carries what the handler reports with ctx.progress to the caller; a replayed call
   * reports nothing.
   */
  execute(
    request: ExecuteRequest,
    log: FastifyBaseLogger,
    traceCarrier?: Record<string, unknown>,
    onProgress?: ProgressSend,
  ): Promise<{ response: StoredResponse; replayed: boolean }>;
  /** Refuses new calls from now on, lets those in flight finish for the grace period. */
  drain(): Promise<void>;
  /** Whether a step could run on this input (POST /check): the input schema, then the agent's own check. */
  check(request: CheckRequest): Promise<CheckVerdict>;
}

export function createAgentRuntime(definition: AgentDefinition, options: AgentRuntimeOptions = {}): AgentRuntime {
  const store = options.idempotencyStore ?? createMemoryIdempotencyStore(options.idempotencyMaxEntries ?? 10_000);
  const registry = createRegistry(`agent-${definition.name}`);
  const requests = new Counter({
    name: 'agent_requests_total',
    help: 'Execute calls by outcome',
    labelNames: ['agent', 'status'],
    registers: [registry],
  });
  const replays = new Counter({
    name: 'agent_idempotent_replays_total',
    help: 'Calls answered from the idempotency store',
    labelNames: ['agent'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'agent_handler_duration_seconds',
    help: 'Time the handler took',
    labelNames: ['agent'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const inflight = new Set<Promise<unknown>>();
  new Gauge({
    name: 'agent_inflight_calls',
    help: 'Handler runs in progress',
    labelNames: ['agent'],
    registers: [registry],
    collect() {
      this.set({ agent: definition.name }, inflight.size);
    },
  });
  const observe = definition.metrics?.(registry);
  const llm = options.llm ? createLlmGateway({ llm: options.llm }, registry) : offlineLlm;
  const shutdown = new AbortController();
  let closing = false;
  const checkInput = definition.inputSchema;
  const progressEvents = new Counter({
    name: 'agent_progress_chunks_total',
    help: 'ctx.progress chunks reported by the handler (sent or not: some are merged or dropped on a slow caller)',
    labelNames: ['agent'],
    registers: [registry],
  });
  const progressDropped = new Counter({
    name: 'agent_progress_dropped_total',
    help: 'Progress chunks dropped because the caller read them too slowly or the call ended first',
    labelNames: ['agent'],
    registers: [registry],
  });

  async function runHandler(body: ExecuteRequest, log: FastifyBaseLogger, onProgress: ProgressSend | undefined): Promise<StoredResponse> {
    const started = performance.now();
    const signals = [shutdown.signal];
    const deadline = new AbortController();
    const timer = body.timeout_ms
      ? setTimeout(() => deadline.abort(new AppError('STEP_TIMEOUT', `deadline of ${body.timeout_ms} ms passed`)), body.timeout_ms)
      : undefined;
    if (timer) signals.push(deadline.signal);
    const channel = onProgress ? progressChannel(onProgress) : undefined;
    // Every model call of this attempt, summed per model: it goes out with the answer, failed or not,
    // and is stored with the answer, so a replay repeats the figures instead of spending again.
    let usage: Usage = [];
    const ctx: AgentContext = {
      taskId: body.task_id,
      stepId: body.step_id,
      attempt: body.attempt,
      idempotencyKey: body.idempotency_key,
      description: body.context?.description,
      dependencies: body.context?.dependencies ?? {},
      signal: AbortSignal.any(signals),
      log: lazyChild(() => log.child({ idempotencyKey: body.idempotency_key }), log.level),
      searchKnowledge: (query, limit = 5) =>
        searchKnowledge(options.knowledgeUrl, query, limit, AbortSignal.any(signals), options.internalToken),
      llm: llm.metered((u) => (usage = addUsage(usage, u))),
      progress(data) {
        // Checked even when nobody listens, so a bad call shows in the agent's own tests.
        const chunks = progressChunks(data);
        progressEvents.inc({ agent: definition.name });
        for (const chunk of chunks) channel?.push(chunk);
      },
    };
    // The e2e suite reads this line to prove no key ever runs the handler twice.
    ctx.log.info({ agent: definition.name, event: 'handler_started' }, 'handler started');
    const meta = { agent: definition.name, idempotency_key: body.idempotency_key };
    try {
      const output = await definition.execute(body.input, ctx);
      observe?.(output);
      const decision = output.decision === 'approved' || output.decision === 'rejected' ? output.decision : undefined;
      const durationMs = Math.round(performance.now() - started);
      const answer: ExecuteSucceeded = {
        ...meta,
        status: 'succeeded',
        output,
        ...(decision ? { decision } : {}),
        duration_ms: durationMs,
        ...(usage.length ? { usage } : {}),
      };
      return { statusCode: 200, body: answer };
    } catch (err) {
      const appErr =
        err instanceof AppError ? err : new AppError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
      if (!(err instanceof AppError)) ctx.log.error({ err }, 'handler failed');
      return { statusCode: appErr.statusCode, body: failedAnswer(appErr, meta, usage) };
    } finally {
      channel?.end();
      if (channel?.dropped) progressDropped.inc({ agent: definition.name }, channel.dropped);
      clearTimeout(timer);
      duration.observe({ agent: definition.name }, (performance.now() - started) / 1000);
    }
  }

  return {
    registry,
    store,
    async execute(body, log, traceCarrier = {}, onProgress) {
      if (closing) throw new AppError('SHUTTING_DOWN', `agent ${definition.name} is shutting down`);
      if (checkInput && !Value.Check(checkInput, body.input)) {
        const problems = [...Value.Errors(checkInput, body.input)].slice(0, 5).map((e) => `input${e.instancePath} ${e.message}`);
        throw new AppError('AGENT_INPUT_INVALID', problems.join('; '), { details: { errors: problems } });
      }
      const fingerprint = callFingerprint(body.step_id, body.input);
      // The call's span continues the trace the caller sent (HTTP headers, stream fields, gRPC metadata).
      const parent = contextFrom(traceCarrier);
      const span = tracer().startSpan(
        `agent ${definition.name}`,
        {
          attributes: {
            'mesh.agent': definition.name,
            'mesh.task_id': body.task_id,
            'mesh.step': body.step_id,
            'mesh.attempt': body.attempt,
          },
        },
        parent,
      );
      const result = await context
        .with(trace.setSpan(parent, span), () =>
          store.run(body.idempotency_key, fingerprint, () => {
            // Log lines inside carry the trace id (the logger's mixin reads the active span).
            const run = runHandler(body, log, onProgress);
            inflight.add(run);
            void run.finally(() => inflight.delete(run));
            return run;
          }),
        )
        .finally(() => span.end());
      span.setAttribute('mesh.replayed', result.replayed);
      if (result.replayed) replays.inc({ agent: definition.name });
      requests.inc({
        agent: definition.name,
        status: result.replayed ? 'replayed' : String(result.response.body.status ?? result.response.statusCode),
      });
      return result;
    },
    async check(request) {
      if (checkInput && !Value.Check(checkInput, request.input)) {
        const problems = [...Value.Errors(checkInput, request.input)].slice(0, 5).map((e) => `input${e.instancePath} ${e.message}`);
        return {
          verdict: 'refused',
          reason: `the input does not match its schema: ${problems.join('; ')}`,
          fix: 'see input_schema in /info',
        };
      }
      return (
        (await definition.check?.(request.input, {
          description: request.context?.description,
          upstream: request.context?.upstream ?? [],
          modelAvailable: llm.available,
        })) ?? { verdict: 'runs' }
      );
    },
    async drain() {
      closing = true;
      const grace = options.shutdownGraceMs ?? 10_000;
      const timer = setTimeout(() => shutdown.abort(new AppError('SHUTTING_DOWN', 'shutdown grace period ended')), grace);
      await Promise.allSettled([...inflight]);
      clearTimeout(timer);
    },
  };
}
