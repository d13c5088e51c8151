import Value from 'typebox/value';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadBuiltInAgents } from '../../agents/index.ts';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { AgentInfo, CheckVerdict, ExecuteFailed, ExecuteSucceeded, ProgressData } from '../../services/protocol/index.ts';
import { metricValue } from '../helpers/metrics.ts';

// One suite every agent passes: the protocol of docs/AGENT_PROTOCOL.md.
const samples: Record<string, Record<string, unknown>> = {
  'feature-dev': { spec: 'Create slugify(text: string): string that lowercases and dashes a title' },
  'code-review': { files: [{ path: 'src/a.ts', content: 'export const a: number = 1;\n' }] },
  infrastructure: { task: 'deploy a redis cache' },
  cicd: { files: [{ path: 'src/a.ts', content: 'export const a: number = 1;\n' }], steps: ['lint'] },
  documentation: { files: [{ path: 'src/a.ts', content: '/** The answer. */\nexport const a: number = 42;\n' }] },
};

// Agents that report progress on their sample even offline, so the streamed form is exercised for real.
const reportsProgress = new Set(['cicd']);

function envelope(key: string, input: Record<string, unknown>) {
  return { idempotency_key: key, task_id: 't-1', step_id: 's-1', attempt: 1, input, context: { dependencies: {} }, timeout_ms: 60_000 };
}

const builtInAgents = await loadBuiltInAgents();

describe('every built-in agent has a contract sample', () => {
  it('names match the list', () => {
    expect(builtInAgents.map((a) => a.name).sort()).toEqual(Object.keys(samples).sort());
  });
});

describe.each(builtInAgents.map((a) => [a.name, a] as const))('agent contract: %s', (name, definition) => {
  function app() {
    const a = buildAgentApp(definition, { logLevel: 'silent' });
    onTestFinished(() => a.close());
    return a;
  }

  it('describes itself on GET /info and answers health, ready and metrics', async () => {
    const a = app();
    const info = (await a.inject({ url: '/info' })).json();
    expect(Value.Check(AgentInfo, info), JSON.stringify(info)).toBe(true);
    expect(info).toMatchObject({ name, protocol: '1' });
    expect(info.capabilities.length).toBeGreaterThan(2);
    expect(info.capabilities.every((c: unknown) => typeof c === 'string' && c.length > 0)).toBe(true);
    expect((await a.inject({ url: '/health' })).statusCode).toBe(200);
    expect((await a.inject({ url: '/ready' })).statusCode).toBe(200);
    expect((await a.inject({ url: '/metrics' })).body).toContain('process_cpu_seconds_total');
  });

  it('refuses a malformed envelope with 400 naming the field', async () => {
    const res = await app().inject({ method: 'POST', url: '/execute', payload: { task_id: 't', step_id: 's', attempt: 1, input: {} } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('idempotency_key') });
  });

  it('says clearly when the input gives it nothing to work on', async () => {
    const res = await app().inject({ method: 'POST', url: '/execute', payload: envelope('empty-1', {}) });
    expect([400, 422]).toContain(res.statusCode);
    expect(['AGENT_TASK_FAILED', 'AGENT_INPUT_INVALID']).toContain(res.json().code);
    expect(Value.Check(ExecuteFailed, res.json()), res.body).toBe(true);
    expect(res.json().message.length).toBeGreaterThan(10);
  });

  it('answers POST /check from the input alone: the sample runs, an empty input is refused with what to write, nothing is stored', async () => {
    const a = app();
    const info = (await a.inject({ url: '/info' })).json();
    expect(info.checks).toBe(true);
    const sample = await a.inject({ method: 'POST', url: '/check', payload: { input: samples[name]! } });
    expect(sample.statusCode, sample.body).toBe(200);
    expect(Value.Check(CheckVerdict, sample.json()), sample.body).toBe(true);
    expect(['runs', 'scaffold']).toContain(sample.json().verdict);
    const empty = await a.inject({ method: 'POST', url: '/check', payload: { input: {} } });
    expect(empty.json()).toMatchObject({ verdict: 'refused', reason: expect.any(String), fix: expect.any(String) });
    // Declared output fields are what a later step's check relies on: an upstream writer makes "files" available.
    const afterWriter = await a.inject({
      method: 'POST',
      url: '/check',
      payload: {
        input: { task: 'deploy redis and document it' },
        context: { upstream: [{ step: 'w', agent: 'w', outputs: ['files:source'] }] },
      },
    });
    expect(afterWriter.statusCode).toBe(200);
    const bad = await a.inject({ method: 'POST', url: '/check', payload: { input: 'x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('input') });
    const ready = (await a.inject({ url: '/ready' })).json();
    expect(JSON.stringify(ready)).toContain('"idempotency_entries":"0"');
    expect(metricValue((await a.inject({ url: '/metrics' })).body, 'agent_handler_duration_seconds_count', { agent: name }) ?? 0).toBe(0);
  });

  it('does real work on a sample and replays a repeated key without running again', async () => {
    const a = app();
    const first = await a.inject({ method: 'POST', url: '/execute', payload: envelope('key-1', samples[name]!) });
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json();
    expect(Value.Check(ExecuteSucceeded, body), first.body).toBe(true);
    expect(body).toMatchObject({ status: 'succeeded', idempotency_key: 'key-1', agent: name });
    expect(typeof body.output.summary).toBe('string');
    for (const output of definition.outputs ?? []) expect(body.output, `declared output ${output}`).toHaveProperty(output.split(':')[0]!);

    const again = await a.inject({ method: 'POST', url: '/execute', payload: envelope('key-1', samples[name]!) });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(body);
    const metrics = (await a.inject({ url: '/metrics' })).body;
    expect(metricValue(metrics, 'agent_idempotent_replays_total', { agent: name })).toBe(1);
    expect(metricValue(metrics, 'agent_handler_duration_seconds_count', { agent: name })).toBe(1);

    const conflict = await a.inject({ method: 'POST', url: '/execute', payload: envelope('key-1', { ...samples[name]!, extra: 1 }) });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('IDEMPOTENCY_CONFLICT');
  }, 30_000);

  it('answers a caller that accepts the streamed form with the plain answer or progress lines then the result', async () => {
    const res = await app().inject({
      method: 'POST',
      url: '/execute',
      headers: { accept: 'application/x-ndjson, application/json' },
      payload: envelope('key-streamed', samples[name]!),
    });
    expect(res.statusCode, res.body).toBe(200);
    let answer: unknown;
    const streamed = String(res.headers['content-type']).startsWith('application/x-ndjson');
    expect(streamed).toBe(reportsProgress.has(name));
    if (streamed) {
      const lines = res.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; data?: unknown; status_code?: number; body?: unknown });
      for (const line of lines.slice(0, -1)) expect(Value.Check(ProgressData, line.data), JSON.stringify(line)).toBe(true);
      expect(lines.at(-1)).toMatchObject({ type: 'result', status_code: 200, replayed: false });
      answer = lines.at(-1)!.body;
    } else answer = res.json();
    expect(Value.Check(ExecuteSucceeded, answer), JSON.stringify(answer)).toBe(true);
  }, 30_000);
});
