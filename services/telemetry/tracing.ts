import { context, propagation, trace, type Context, type Span } from '@opentelemetry/api';
import type { Config } from '../config/index.ts';

let sdk: { shutdown(): Promise<void> } | undefined;

/**
 * Starts the OpenTelemetry SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set (off otherwise: the API is
 * then a no-op and costs nothing, and the SDK is not even loaded). Must run, and be awaited, before
 * the modules it instruments are loaded.
 */
export async function startTracing(config: Pick<Config, 'tracing'>, serviceName: string): Promise<boolean> {
  const endpoint = config.tracing.endpoint;
  if (!endpoint || sdk) return false;
  const { startSdk } = await import('./tracing-sdk.ts');
  sdk = startSdk({ ...config.tracing, endpoint }, serviceName);
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
      const v = c[key];
      return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
    },
    keys: (c) => Object.keys(c),
  });
}

/** The trace id in a W3C traceparent, or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  const m = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent ?? '');
  return m && m[1] !== '0'.repeat(32) ? m[1] : null;
}

/** A span's own traceparent, to store and continue the trace elsewhere (another process, later). */
export function traceparentOf(span: Span): string | null {
  const c = span.spanContext();
  return trace.isSpanContextValid(c) ? `00-${c.traceId}-${c.spanId}-0${c.traceFlags.toString(16)}` : null;
}
