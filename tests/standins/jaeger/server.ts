// The jaegertracing/jaeger stand-in (no registry here, and no Jaeger binary): an OTLP/HTTP trace
// receiver where Jaeger takes OTLP, and a small part of Jaeger's query API where its UI is.
//   :4318 POST /v1/traces    OTLP/HTTP, JSON encoding (what @opentelemetry/exporter-trace-otlp-http
//                            sends), gzip or not. Protobuf bodies get 415; OTLP/gRPC (:4317) is
//                            not served.
//   :16686 GET /             a plain page (the compose healthcheck fetches it); no UI
//          GET /api/services                          {"data": [service names]}
//          GET /api/traces?service=S[&operation=O][&limit=N]
//                            traces with a span of S, in the shape Jaeger's query API answers
//                            ({"data": [{traceID, spans: [{spanID, operationName, references,
//                            startTime, duration, tags, processID}], processes}]}), newest first
// Like Jaeger's in-memory storage it keeps a bounded number of spans (JAEGER_STANDIN_MAX_SPANS,
// 100000 by default; the oldest go first) and loses them on restart.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
}
interface OtlpRequest {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

interface StoredSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  startUs: number;
  durationUs: number;
  attributes: KeyValue[];
}

const maxSpans = Number(process.env.JAEGER_STANDIN_MAX_SPANS ?? 100_000);
const spans: StoredSpan[] = [];

const valueOf = (v: AnyValue | undefined): string | number | boolean | undefined =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : (v?.boolValue ?? v?.doubleValue));

// Nanoseconds arrive as decimal strings wider than a double holds exactly; microseconds fit.
const micros = (nanos: string | number | undefined): number => (nanos === undefined ? 0 : Number(BigInt(nanos) / 1000n));

function store(body: OtlpRequest): number {
  let count = 0;
  for (const rs of body.resourceSpans ?? []) {
    const service = String(valueOf(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value) ?? 'unknown_service');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const startUs = micros(s.startTimeUnixNano);
        spans.push({
          service,
          traceId: s.traceId.toLowerCase(),
          spanId: s.spanId.toLowerCase(),
          parentSpanId: s.parentSpanId ? s.parentSpanId.toLowerCase() : undefined,
          name: s.name,
          startUs,
          durationUs: Math.max(0, micros(s.endTimeUnixNano) - startUs),
          attributes: s.attributes ?? [],
        });
        count += 1;
      }
    }
  }
  if (spans.length > maxSpans) spans.splice(0, spans.length - maxSpans);
  return count;
}

function tag(kv: KeyValue): { key: string; type: string; value: unknown } {
  const v = valueOf(kv.value);
  const type = typeof v === 'number' ? (Number.isInteger(v) ? 'int64' : 'float64') : typeof v === 'boolean' ? 'bool' : 'string';
  return { key: kv.key, type, value: v ?? '' };
}

function traces(service: string, operation: string | null, limit: number): unknown[] {
  const matching = new Set<string>();
  for (let i = spans.length - 1; i >= 0 && matching.size < limit; i--) {
    const s = spans[i];
    if (s.service === service && (operation === null || s.name === operation)) matching.add(s.traceId);
  }
  return [...matching].map((traceID) => {
    const own = spans.filter((s) => s.traceId === traceID);
    const processIds = new Map<string, string>();
    for (const s of own) if (!processIds.has(s.service)) processIds.set(s.service, `p${processIds.size + 1}`);
    return {
      traceID,
      spans: own.map((s) => ({
        traceID,
        spanID: s.spanId,
        operationName: s.name,
        references: s.parentSpanId ? [{ refType: 'CHILD_OF', traceID, spanID: s.parentSpanId }] : [],
        startTime: s.startUs,
        duration: s.durationUs,
        tags: s.attributes.map(tag),
        processID: processIds.get(s.service),
      })),
      processes: Object.fromEntries([...processIds].map(([serviceName, id]) => [id, { serviceName, tags: [] }])),
    };
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json' });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

const otlp = createServer((req, res) => {
  if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/traces') return send(res, 404, { error: 'POST /v1/traces only' });
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return send(res, 415, { error: 'only the OTLP JSON encoding is accepted by this stand-in' });
  }
  readBody(req).then(
    (body) => {
      let parsed: OtlpRequest;
      try {
        parsed = JSON.parse(body.toString('utf8')) as OtlpRequest;
      } catch {
        return send(res, 400, { error: 'body is not JSON' });
      }
      store(parsed);
      send(res, 200, { partialSuccess: {} });
    },
    (err: unknown) => send(res, 400, { error: String(err) }),
  );
});

const query = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  if (req.method !== 'GET') return send(res, 405, { error: 'GET only' });
  if (url.pathname === '/') return send(res, 200, '<!doctype html><title>Jaeger stand-in</title><p>Jaeger stand-in: see /api/traces');
  if (url.pathname === '/api/services') return send(res, 200, { data: [...new Set(spans.map((s) => s.service))].sort(), errors: null });
  if (url.pathname === '/api/traces') {
    const service = url.searchParams.get('service');
    if (!service) return send(res, 400, { data: null, errors: [{ code: 400, msg: 'parameter service is required' }] });
    const limit = Number(url.searchParams.get('limit') ?? 20) || 20;
    const data = traces(service, url.searchParams.get('operation'), limit);
    return send(res, 200, { data, total: data.length, limit: 0, offset: 0, errors: null });
  }
  send(res, 404, { error: 'not served by the Jaeger stand-in' });
});

const otlpPort = Number(process.env.JAEGER_STANDIN_OTLP_PORT ?? 4318);
const queryPort = Number(process.env.JAEGER_STANDIN_QUERY_PORT ?? 16686);
otlp.listen(otlpPort, '0.0.0.0');
query.listen(queryPort, '0.0.0.0');
console.log(`jaeger stand-in: OTLP/HTTP JSON on :${otlpPort}, query API on :${queryPort}`);

// PID 1 in the container: without handlers, SIGTERM from `docker stop` would be ignored for 10 s.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    otlp.close();
    query.close();
    process.exit(0);
  });
}
