import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AppError, serializeError } from '../../errors/index.ts';
import { contextFrom, tracer } from '../../telemetry/index.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { ProgressData, Usage } from '../../protocol/index.ts';
import { usageOfError, type AgentReply, type AgentTransport } from '../../protocol/transport/index.ts';
import { priced, type PriceTable } from '../usage/prices.ts';
import type { Command, RunEvent } from './decider/index.ts';
import type { ProgressHub } from './progress-hub.ts';

type Dispatch = Extract<Command, { type: 'dispatch' }>;

export interface AttemptCallsOptions {
  workflowId: string;
  description: string | undefined;
  /** The workflow's trace: every attempt's span hangs under it, wherever the workflow started. */
  traceParent: string | null;
  transport: AgentTransport;
  metrics: EngineMetrics;
  progress?: ProgressHub | undefined;
  prices?: PriceTable | undefined;
  /** The run stopped: progress is no longer published and answers are dropped. */
  isStopped: () => boolean;
}

interface CallOut {
  deadline: number;
  expire: () => void;
  giveUp: (why: unknown) => void;
}

/**
 * The calls one workflow has out to its agents, each with its deadline: an attempt's call, its span,
 * its progress and its answer turned into the decider's event. Stopping the run aborts them all, and
 * the recovery loop's watchdog times out any call that outlived its deadline.
 */
export class AttemptCalls {
  private readonly calls = new Map<AbortController, CallOut>();
  private readonly o: AttemptCallsOptions;

  constructor(options: AttemptCallsOptions) {
    this.o = options;
  }

  /** Aborts every call out now; each settles with `why`, and its answer is dropped. */
  abortAll(why: AppError): void {
    for (const [c, call] of this.calls) {
      c.abort(why);
      call.giveUp(why);
    }
  }

  /** Times out the calls past their deadline by more than `graceMs`, as their timers would have; how many. */
  watchdog(now: number, graceMs: number): number {
    let late = 0;
    for (const [signal, call] of this.calls) {
      if (signal.signal.aborted || call.deadline + graceMs > now) continue;
      late++;
      call.expire();
    }
    return late;
  }

  /** Makes the attempt's call; what came of it as the decider's event, or undefined once the run stopped. */
  async call(c: Dispatch): Promise<RunEvent | undefined> {
    const o = this.o;
    const startedAt = new Date();
    // One controller per call, aborted by the run stopping or by the step's deadline: cheaper than
    // AbortSignal.any, and the timer is cleared when the call ends (AbortSignal.timeout would keep
    // every deadline, minutes long, alive at hundreds of calls a second).
    const signal = new AbortController();
    // Settles the call even if the transport never does once aborted: a deadline always leads somewhere.
    let giveUp!: (why: unknown) => void;
    const abandoned = new Promise<never>((_, reject) => (giveUp = reject));
    let timedOut = false;
    const expire = () => {
      timedOut = true;
      const why = new AppError('STEP_TIMEOUT', `step "${c.step}" took longer than ${c.timeoutMs} ms`);
      signal.abort(why);
      giveUp(why);
    };
    this.calls.set(signal, { deadline: Date.now() + c.timeoutMs, expire, giveUp });
    const timer = setTimeout(expire, c.timeoutMs);
    const started = performance.now();
    const parent = o.traceParent ? contextFrom({ traceparent: o.traceParent }) : context.active();
    const span = tracer().startSpan(
      `step ${c.step}`,
      { attributes: { 'mesh.task_id': o.workflowId, 'mesh.step': c.step, 'mesh.agent': c.agent, 'mesh.attempt': c.attempt } },
      parent,
    );
    // Progress is published as it comes and only while the call is out: it is never part of the
    // decision, and a late chunk after the answer would show a finished step still working.
    let out = true;
    const hub = o.progress;
    const onProgress = hub
      ? (data: ProgressData) => {
          if (!out || o.isStopped()) return;
          o.metrics.progressEvents.inc({ agent: c.agent });
          hub.publish({
            task_id: o.workflowId,
            type: 'step_progress',
            step_id: c.step,
            attempt: c.attempt,
            data,
            created_at: new Date().toISOString(),
          });
        }
      : undefined;
    let reply: AgentReply;
    try {
      reply = await Promise.race([
        abandoned,
        context.with(trace.setSpan(parent, span), () =>
          o.transport.call(
            c.agent,
            {
              idempotency_key: c.key,
              task_id: o.workflowId,
              step_id: c.step,
              attempt: c.attempt,
              input: c.input,
              context: { ...(o.description ? { description: o.description } : {}), dependencies: c.dependencies },
              timeout_ms: c.timeoutMs,
            },
            signal.signal,
            onProgress,
          ),
        ),
      ]);
    } catch (err) {
      span.setAttribute('mesh.outcome', timedOut ? 'timeout' : 'failed');
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.end();
      if (o.isStopped()) return undefined;
      o.metrics.agentCalls.inc({ agent: c.agent, status: timedOut ? 'timeout' : 'failed' });
      o.metrics.agentCallDuration.observe({ agent: c.agent }, (performance.now() - started) / 1000);
      return timedOut
        ? { type: 'timed_out', step: c.step, attempt: c.attempt, timeoutMs: c.timeoutMs, startedAt }
        : {
            type: 'failed',
            step: c.step,
            attempt: c.attempt,
            error: serializeError(err),
            startedAt,
            usage: this.priced(usageOfError(err)),
          };
    } finally {
      out = false;
      clearTimeout(timer);
      this.calls.delete(signal);
    }
    span.setAttribute('mesh.outcome', reply.decision ?? 'succeeded');
    span.end();
    o.metrics.agentCalls.inc({ agent: c.agent, status: 'succeeded' });
    o.metrics.agentCallDuration.observe({ agent: c.agent }, (performance.now() - started) / 1000);
    if (o.isStopped()) return undefined;
    return {
      type: 'succeeded',
      step: c.step,
      attempt: c.attempt,
      output: reply.output,
      decision: reply.decision,
      durationMs: Math.round(performance.now() - started),
      replayed: reply.replayed,
      startedAt,
      usage: this.priced(reply.usage),
    };
  }

  private priced(usage: Usage | undefined): Usage | undefined {
    return usage ? priced(this.o.prices ?? new Map(), usage) : undefined;
  }
}
