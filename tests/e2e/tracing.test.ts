import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { startOtlpReceiver, type ReceivedSpan } from '../doubles/otlp-receiver.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';

const files = [{ path: 'src/a.ts', content: '/** Adds. */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n' }];

describe('one workflow, one trace (child processes, OTLP receiver)', () => {
  it('spans from the orchestrator and the agents form one tree per workflow', async () => {
    const receiver = await startOtlpReceiver();
    // code-review is reached over Redis Streams, documentation over gRPC, infrastructure over HTTP:
    // the trace has to cross all three.
    const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const transports = { REDIS_URL: redisUrl, AGENT_TRANSPORTS: 'code-review=stream,documentation=grpc' };
    onTestFinished(async () => {
      const r = new Redis(redisUrl);
      const keys = [
        ...(await r.keys('agent.code-review.*')),
        ...(await r.keys('mesh:idem:*')),
        ...(await r.keys('orchestrator.trace-orch.*')),
      ];
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, LOG_LEVEL: 'warn', ...transports };
    const agents = await startProcess(['agents'], tracing, 5);
    const agentUrls = Object.entries(agents.urls)
      .map(([name, url]) => `${name.replace(/^agent /, '')}=${url}`)
      .join(',');
    const grpcPort = /agent documentation listening on \S+ \(grpc 127\.0\.0\.1:(\d+)/.exec(agents.stdout())![1];
    // Real Postgres, so the pg client's spans show up in the trace too.
    const databaseUrl = await schemaDatabaseUrl('trace');
    const orch = await startProcess(
      ['orchestrator'],
      {
        ...tracing,
        AGENT_URLS: agentUrls,
        AGENT_GRPC_URLS: `documentation=127.0.0.1:${grpcPort}`,
        DATABASE_URL: databaseUrl,
        ORCHESTRATOR_ID: 'trace-orch',
        JAEGER_UI_URL: 'http://jaeger.example:16686/',
      },
      1,
    );
    const api = orch.urls.orchestrator!;

    const plan = {
      steps: [
        { id: 'review', agent: 'code-review', input: { files } },
        { id: 'docs', agent: 'documentation', input: { files }, depends_on: ['review'] },
        { id: 'infra', agent: 'infrastructure', input: { task: 'deploy a redis cache' }, depends_on: ['review'] },
      ],
    };
    const res = (await (
      await fetch(`${api}/orchestrate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plan, wait: true }),
      })
    ).json()) as { task_id: string; status: string };
    expect(res.status).toBe('succeeded');
    const task = (await (await fetch(`${api}/tasks/${res.task_id}`)).json()) as { trace_id: string; trace_url: string };
    expect(task.trace_id).toMatch(/^[0-9a-f]{32}$/);
    // The run viewer's link to the trace (JAEGER_UI_URL).
    expect(task.trace_url).toBe(`http://jaeger.example:16686/trace/${task.trace_id}`);

    // Shutting down flushes the span buffers.
    for (const p of [orch, agents]) {
      p.child.kill('SIGTERM');
      await new Promise((resolve) => p.child.once('exit', resolve));
    }
    const spans = await poll(
      () => {
        const mine = receiver.spans.filter((s) => s.traceId === task.trace_id);
        return mine.filter((s) => s.name.startsWith('agent ')).length >= 3 ? mine : undefined;
      },
      { timeoutMs: 10_000, label: 'the spans of the workflow to arrive' },
    );

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors = (s: ReceivedSpan): ReceivedSpan[] => {
      const out: ReceivedSpan[] = [];
      for (let p = s.parentSpanId ? byId.get(s.parentSpanId) : undefined; p; p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined)
        out.push(p);
      return out;
    };
    const workflow = spans.find((s) => s.name === 'workflow')!;
    expect(workflow).toMatchObject({ service: 'orchestrator', attributes: { 'mesh.task_id': res.task_id, 'mesh.outcome': 'succeeded' } });
    const steps = spans.filter((s) => s.name.startsWith('step '));
    expect(steps.map((s) => s.name).sort()).toEqual(['step docs', 'step infra', 'step review']);
    for (const step of steps) {
      expect(step.parentSpanId).toBe(workflow.spanId);
      expect(step.attributes).toMatchObject({ 'mesh.task_id': res.task_id, 'mesh.attempt': 1, 'mesh.outcome': expect.any(String) });
    }
    // Each agent's span, in the agents' process, hangs under its step's span: the trace crossed the
    // stream entry's traceparent field, the gRPC metadata and the HTTP headers alike.
    const agentSpans = spans.filter((s) => s.name.startsWith('agent '));
    expect(new Set(agentSpans.map((s) => s.service))).toEqual(new Set(['agents']));
    for (const a of agentSpans) {
      const step = steps.find((s) => s.attributes['mesh.step'] === a.attributes['mesh.step'])!;
      expect(ancestors(a).map((s) => s.spanId)).toContain(step.spanId);
    }
    // HTTP client (undici) and server spans, and the checkpoint writes (pg), are part of the same trace.
    expect(spans.some((s) => s.service === 'agents' && /POST/.test(s.name))).toBe(true);
    const clientCalls = spans.filter(
      (s) =>
        s.service === 'orchestrator' && s.attributes['url.full'] !== undefined && String(s.attributes['url.full']).endsWith('/execute'),
    );
    expect(clientCalls.length, JSON.stringify(spans.map((s) => [s.service, s.name, s.attributes['url.full']]))).toBe(1);
    for (const c of clientCalls) expect(steps.map((s) => s.spanId)).toContain(c.parentSpanId);
    const queries = spans.filter((s) => s.service === 'orchestrator' && s.name.startsWith('pg.query'));
    expect(queries.length, JSON.stringify(spans.map((s) => [s.service, s.name]))).toBeGreaterThan(0);
    for (const q of queries) expect(ancestors(q).map((s) => s.spanId)).toContain(workflow.parentSpanId ?? workflow.spanId);
    // Two processes that load the OpenTelemetry SDK start slowly on a loaded two-core machine (once
    // past 60 s while other suites ran beside it); alone the test takes about 5 s.
  }, 150_000);
});
