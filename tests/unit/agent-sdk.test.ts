import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

function slowAgent(runs: string[]) {
  return defineAgent({
    name: 'slow',
    description: 'waits, then echoes its input length',
    capabilities: ['wait a while'],
    async execute(input: { ms?: number; text?: string }, ctx) {
      runs.push(ctx.idempotencyKey);
      await sleep(input.ms ?? 0, undefined, { signal: ctx.signal });
      return { length: (input.text ?? '').length };
    },
  });
}

const call = (key: string, input: Record<string, unknown>) => ({ idempotency_key: key, task_id: 't', step_id: 's', attempt: 1, input });

describe('agent SDK', () => {
  it('joins a repeated key while the first call is still running instead of running twice', async () => {
    const runs: string[] = [];
    const app = buildAgentApp(slowAgent(runs), { logLevel: 'silent' });
    try {
      const [a, b] = await Promise.all([
        app.inject({ method: 'POST', url: '/execute', payload: call('k', { ms: 100, text: 'abc' }) }),
        app.inject({ method: 'POST', url: '/execute', payload: call('k', { ms: 100, text: 'abc' }) }),
      ]);
      expect(a.json().output).toEqual({ length: 3 });
      expect(b.json()).toEqual(a.json());
      expect(runs).toEqual(['k']);
    } finally {
      await app.close();
    }
  });

  it('finishes calls in flight on close', async () => {
    const runs: string[] = [];
    const app = buildAgentApp(slowAgent(runs), { logLevel: 'silent', shutdownGraceMs: 5_000 });
    const url = await listenOnLoopback(app);
    const inFlight = fetch(`${url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(call('k1', { ms: 300, text: 'hello' })),
    });
    await poll(() => runs.length > 0, { timeoutMs: 5_000, label: 'the handler to start' });
    const closing = app.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { output: unknown }).output).toEqual({ length: 5 });
    await closing;
  });

  it('rejects names that cannot be a DNS label and agents without capabilities', () => {
    expect(() => defineAgent({ name: 'Bad Name', description: '', capabilities: ['x'], execute: async () => ({}) })).toThrow(/lowercase/);
    expect(() => defineAgent({ name: 'ok', description: '', capabilities: [], execute: async () => ({}) })).toThrow(/no capabilities/);
  });
});

describe('call fingerprints', () => {
  it('ignore key order (jsonb reorders keys) but not values or the step', async () => {
    const { callFingerprint } = await import('../../services/protocol/index.ts');
    expect(callFingerprint('s', { values: [1, 2], ms: 400, nested: { b: 1, a: 2 } })).toBe(
      callFingerprint('s', { nested: { a: 2, b: 1 }, ms: 400, values: [1, 2] }),
    );
    expect(callFingerprint('s', { values: [1, 2] })).not.toBe(callFingerprint('s', { values: [2, 1] }));
    expect(callFingerprint('s', { a: 1 })).not.toBe(callFingerprint('t', { a: 1 }));
  });
});
