// TEST DOUBLE of an OTLP/HTTP trace collector (Jaeger's :4318 in compose; none runs here): it
// takes POST /v1/traces in the OTLP JSON encoding, as the OpenTelemetry exporter sends it, and
// keeps the spans for the test to inspect.
import Fastify from 'fastify';
import { onTestFinished } from 'vitest';
import { listenOnLoopback } from '../helpers/platform.ts';

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  attributes: Record<string, unknown>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
const valueOf = (v: AnyValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));

export async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[] }> {
  const app = Fastify({ logger: false, bodyLimit: 50 * 1_048_576 });
  const spans: ReceivedSpan[] = [];
  app.post('/v1/traces', async (req) => {
    const body = req.body as {
      resourceSpans?: Array<{
        resource?: { attributes?: Array<{ key: string; value: AnyValue }> };
        scopeSpans?: Array<{
          spans?: Array<{
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            name: string;
            attributes?: Array<{ key: string; value: AnyValue }>;
          }>;
        }>;
      }>;
    };
    for (const rs of body.resourceSpans ?? []) {
      const service = String(valueOf(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {}) ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            service,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, valueOf(a.value)])),
          });
        }
      }
    }
    return { partialSuccess: {} };
  });
  const url = await listenOnLoopback(app);
  onTestFinished(() => app.close());
  return { url, spans };
}
