import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Value from 'typebox/value';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp, defineAgent, TaskFailedError } from '../../agents/sdk/index.ts';
import { progressChannel, progressChunks } from '../../agents/sdk/progress-channel.ts';
import { ExecuteFailed, ExecuteSucceeded, PROGRESS_TEXT_MAX, type ProgressData } from '../../services/protocol/index.ts';
import { metricValue } from '../helpers/metrics.ts';

describe('ctx.progress input', () => {
  it('takes a message, a fraction or text, and refuses anything else naming what is wrong', () => {
    expect(progressChunks({ message: 'cloning', fraction: 0.25 })).toEqual([{ message: 'cloning', fraction: 0.25 }]);
    expect(() => progressChunks({})).toThrow(/at least one of them/);
    expect(() => progressChunks('halfway')).toThrow(TypeError);
    expect(() => progressChunks({ fraction: 1.5 })).toThrow(/\/fraction/);
    expect(() => progressChunks({ message: 42 })).toThrow(/\/message/);
    expect(() => progressChunks({ text: 'a', colour: 'red' })).toThrow(/ctx.progress takes/);
    expect(() => progressChunks({ message: 'x'.repeat(1_001) })).toThrow(/\/message/);
  });

  it('cuts text longer than one chunk carries into several, the first keeping the message', () => {
    const text = 'a'.repeat(PROGRESS_TEXT_MAX * 2 + 5);
    const chunks = progressChunks({ text, message: 'writing' });
    expect(chunks.map((c) => c.text?.length)).toEqual([PROGRESS_TEXT_MAX, PROGRESS_TEXT_MAX, 5]);
    expect(chunks[0]!.message).toBe('writing');
    expect(chunks.map((c) => c.text).join('')).toBe(text);
  });
});

describe('the progress channel', () => {
  it('sends at once while the carrier is free, and merges what comes while it is busy', async () => {
    const sent: ProgressData[] = [];
    let free!: () => void;
    const channel = progressChannel((data) => {
      sent.push(data);
      return new Promise<void>((resolve) => (free = resolve));
    });
    channel.push({ message: 'start', fraction: 0 });
    channel.push({ text: 'Hel' });
    channel.push({ text: 'lo', fraction: 0.5 });
    channel.push({ message: 'almost', fraction: 0.9 });
    expect(sent).toEqual([{ message: 'start', fraction: 0 }]);
    free();
    await Promise.resolve();
    expect(sent[1]).toEqual({ text: 'Hello', message: 'almost', fraction: 0.9 });
    expect(channel.dropped).toBe(0);
  });

  it('holds a few chunks for a slow carrier, drops the rest, and sends nothing after end()', async () => {
    const sent: ProgressData[] = [];
    let free!: () => void;
    const channel = progressChannel((data) => {
      sent.push(data);
      return new Promise<void>((resolve) => (free = resolve));
    });
    channel.push({ text: 'first' });
    const full = 'x'.repeat(PROGRESS_TEXT_MAX);
    for (let i = 0; i < 6; i++) channel.push({ text: full });
    expect(channel.dropped).toBe(2);
    channel.end();
    expect(channel.dropped).toBe(6);
    free();
    await Promise.resolve();
    channel.push({ text: 'late' });
    expect(sent).toEqual([{ text: 'first' }]);
  });

  it('a carrier that throws or rejects loses that chunk, never the handler', async () => {
    let calls = 0;
    const channel = progressChannel(() => {
      calls++;
      if (calls === 1) throw new Error('socket gone');
      return Promise.reject(new Error('redis gone'));
    });
    expect(() => channel.push({ text: 'a' })).not.toThrow();
    channel.push({ text: 'b' });
    await new Promise((r) => setImmediate(r));
    channel.push({ text: 'c' });
    expect(calls).toBe(3);
    expect(channel.dropped).toBe(1);
  });

  // The carrier of an HTTP call closes over its request and reply. Something may hold a finished
  // call's channel until a full collection (it was: every call from the orchestrator kept its
  // request and reply alive that long, 100 MB more heap on the bench agents per 20,000 calls).
  it('lets go of its carrier when it ends, so a channel that outlives its call keeps nothing of it', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // A WeakRef's target stays alive until the current job ends: collect in a job of its own.
    const collected = async (ref: WeakRef<object>) => {
      await new Promise((r) => setImmediate(r));
      gc();
      return ref.deref() === undefined;
    };
    const make = () => {
      const reply = { body: new Array(1000).fill('what the call held') };
      const channel = progressChannel(() => void reply.body.length);
      channel.push({ text: 'a' });
      return { channel, reply: new WeakRef(reply) };
    };
    const { channel, reply } = make();
    expect(await collected(reply)).toBe(false);
    channel.end();
    expect(await collected(reply)).toBe(true);
    expect(channel.dropped).toBe(0);
  });
});

const envelope = (key: string, input: Record<string, unknown>) => ({
  idempotency_key: key,
  task_id: 't',
  step_id: 's',
  attempt: 1,
  input,
  context: { dependencies: {} },
});

const talker = defineAgent({
  name: 'talker',
  description: 'reports each word as progress, then answers with the sentence (or refuses when told to)',
  capabilities: ['talk'],
  async execute(input: { words?: string[]; refuse?: boolean }, ctx) {
    for (const w of input.words ?? []) ctx.progress({ text: w });
    if (input.refuse) throw new TaskFailedError('told to refuse after talking');
    return { sentence: (input.words ?? []).join('') };
  },
});

function lines(body: string) {
  return body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('POST /execute, streamed (Accept: application/x-ndjson)', () => {
  function app() {
    const a = buildAgentApp(talker, { logLevel: 'silent' });
    onTestFinished(() => a.close());
    return a;
  }
  const ndjson = { accept: 'application/x-ndjson, application/json' };

  it('sends progress lines, then the answer the plain reply would have had as the last line', async () => {
    const a = app();
    const res = await a.inject({ method: 'POST', url: '/execute', headers: ndjson, payload: envelope('k1', { words: ['Hi', ' there'] }) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const all = lines(res.body);
    expect(all.slice(0, -1)).toEqual([
      { type: 'progress', data: { text: 'Hi' } },
      { type: 'progress', data: { text: ' there' } },
    ]);
    const last = all.at(-1)!;
    expect(last).toMatchObject({ type: 'result', status_code: 200, replayed: false });
    expect(Value.Check(ExecuteSucceeded, last.body)).toBe(true);
    expect(last.body.output).toEqual({ sentence: 'Hi there' });

    // A repeated key is answered from the store: plain JSON, no progress, as before.
    const again = await a.inject({
      method: 'POST',
      url: '/execute',
      headers: ndjson,
      payload: envelope('k1', { words: ['Hi', ' there'] }),
    });
    expect(again.headers['content-type']).toMatch(/^application\/json/);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(last.body);
    expect(metricValue((await a.inject({ url: '/metrics' })).body, 'agent_progress_chunks_total', { agent: 'talker' })).toBe(2);
  });

  it('carries a failure after progress as the last line, with the status and body of the plain reply', async () => {
    const res = await app().inject({
      method: 'POST',
      url: '/execute',
      headers: ndjson,
      payload: envelope('k2', { words: ['Hm'], refuse: true }),
    });
    expect(res.statusCode).toBe(200);
    const last = lines(res.body).at(-1)!;
    expect(last).toMatchObject({ type: 'result', status_code: 422, replayed: false });
    expect(Value.Check(ExecuteFailed, last.body)).toBe(true);
    expect(last.body.failure).toMatchObject({ code: 'AGENT_TASK_FAILED', retryable: false });
  });

  it('answers plain JSON to a caller that does not ask, and when no progress came', async () => {
    const a = app();
    const plain = await a.inject({ method: 'POST', url: '/execute', payload: envelope('k3', { words: ['a', 'b'] }) });
    expect(plain.headers['content-type']).toMatch(/^application\/json/);
    expect(plain.json()).toMatchObject({ status: 'succeeded', output: { sentence: 'ab' } });
    const quiet = await a.inject({ method: 'POST', url: '/execute', headers: ndjson, payload: envelope('k4', {}) });
    expect(quiet.headers['content-type']).toMatch(/^application\/json/);
    expect(quiet.json()).toMatchObject({ status: 'succeeded', output: { sentence: '' } });
    // Refused before the handler ran: the status code says so, as always.
    const conflict = await a.inject({ method: 'POST', url: '/execute', headers: ndjson, payload: envelope('k3', { words: ['c'] }) });
    expect(conflict.statusCode).toBe(409);
  });
});
