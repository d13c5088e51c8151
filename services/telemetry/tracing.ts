import { context, propagation, trace, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { Config } from '../config/index.ts';

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set (off otherwise: the API is
 * then a no-op and costs nothing). Must run before the modules it instruments are loaded.
 */
export function startTracing(config: Pick<Config, 'tracing'>, serviceName: string): boolean {
  if (!config.tracing.endpoint || sdk) return false;
  sdk = new NodeSDK({
    serviceName,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${config.tracing.endpoint}/v1/traces` }), scheduledDelayMillis: 1_000 })],
    // The ratio decides for a trace's root (a workflow); every span below follows its parent.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.tracing.sampleRatio) }),
    // Only inside a trace: pool pings and lease renewals outside any workflow would be noise.
    instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation(), new PgInstrumentation({ requireParentSpan: true }), new IORedisInstrumentation({ requireParentSpan: true })],
  });
  sdk.start();
  return true;
}

/** Sends what is buffered; a process calls it before it exits. */
export async function stopTracing(): Promise<void> {
  await sdk?.shutdown().catch(() => {});
  sdk = undefined;
}

export const tracer = () => trace.getTracer('agentic-mesh');

/** W3C trace context of `ctx` (default: the active one) as carrier fields: `traceparent`, `tracestate`. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a carrier (headers, stream fields, gRPC metadata as an object) says a call belongs to. */
export function contextFrom(carrier: Record<string, unknown>): Context {
  return propagation.extract(context.active(), carrier, {
    get: (c, key) => {
      const v = (c as Record<string, unknown>)[key];
      return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
    },
    keys: (c) => Object.keys(c as Record<string, unknown>),
  });
}

/** The trace id in a W3C traceparent, or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  const m = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent ?? '');
  return m && m[1] !== '0'.repeat(32) ? m[1]! : null;
}

/** A span's own traceparent, to store and continue the trace elsewhere (another process, later). */
export function traceparentOf(span: Span): string | null {
  const c = span.spanContext();
  return trace.isSpanContextValid(c) ? `00-${c.traceId}-${c.spanId}-0${c.traceFlags.toString(16)}` : null;
}
