import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { describe, expect, it, onTestFinished } from 'vitest';
import { codeReviewAgent } from '../../agents/code-review/index.ts';
import { buildAgentApp, defineAgent, type AgentDefinition } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import type { Db } from '../../services/state/index.ts';
import { contentPieces, startChatDouble } from '../doubles/openai-chat-double.ts';
import { testDatabases } from '../helpers/db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { openEventStream, type SseEvent } from '../helpers/sse.ts';
import { orchestratorOver, transportKinds } from '../helpers/transports.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * An agent that reports a status line and its pieces of text as progress, then holds its answer
 * until the test lets it go: whatever the test saw before that, it saw while the step was running.
 */
function reporter(name: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const definition = defineAgent({
    name,
    description: 'reports progress, then answers with the text it reported',
    capabilities: ['report progress'],
    inputSchema: Type.Object({ pieces: Type.Array(Type.String()) }),
    async execute(input: { pieces: string[] }, ctx) {
      ctx.progress({ message: 'starting', fraction: 0 });
      input.pieces.forEach((text, i) => ctx.progress({ text, fraction: (i + 1) / input.pieces.length }));
      await Promise.race([gate, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))))]);
      return { text: input.pieces.join('') };
    },
  });
  return { definition, release };
}

const uniqueName = () => `p-${randomBytes(4).toString('hex')}`;

async function database(): Promise<Db> {
  const db = await testDatabases[0]!.open();
  onTestFinished(() => db.close());
  return db;
}

/** Plans a one-step task without running it, so the stream is open before the step starts. */
async function planned(app: FastifyInstance, agent: string, input: Record<string, unknown>): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/orchestrate',
    payload: { plan: { steps: [{ id: 'talk', agent, input }] }, execute: false },
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res.json().task_id as string;
}

const progressOf = (events: SseEvent[]) => events.filter((e) => e.event === 'step_progress');
const textOf = (events: SseEvent[]) =>
  progressOf(events)
    .map((e) => (e.data.data as { text?: string }).text ?? '')
    .join('');

describe.each(transportKinds)('step progress over %s', (transport) => {
  it('reaches the task stream while the step runs, without ids, and stays out of the log', async () => {
    const db = await database();
    const { definition, release } = reporter(uniqueName());
    const app = await orchestratorOver(transport, definition, db);
    onTestFinished(release); // a failed check must not leave the handler (and the worker's stop) waiting
    const url = await listenOnLoopback(app);
    const pieces = ['The ', 'answer ', 'is ', '42.'];
    const taskId = await planned(app, definition.name, { pieces });
    const live = await openEventStream(`${url}/tasks/${taskId}/events`);
    expect((await app.inject({ method: 'POST', url: `/execute/${taskId}` })).statusCode).toBeLessThan(300);

    await poll(() => textOf(live.events) === pieces.join(''), { timeoutMs: 10_000, label: 'every piece of text as progress' });
    // Still running: the agent has not answered, and the stream has no result for the step.
    expect((await app.inject({ url: `/tasks/${taskId}` })).json().status).toBe('running');
    expect(live.events.some((e) => e.event === 'step_succeeded')).toBe(false);
    const first = progressOf(live.events)[0]!;
    expect(first.id).toBeUndefined();
    expect(first.data).toEqual({
      task_id: taskId,
      type: 'step_progress',
      step_id: 'talk',
      attempt: 1,
      data: { message: 'starting', fraction: 0 },
      created_at: expect.any(String),
    });
    expect(progressOf(live.events).every((e) => e.id === undefined)).toBe(true);

    release();
    await live.ended; // the stream ends after workflow_succeeded
    const types = live.events.map((e) => e.event);
    expect(types.lastIndexOf('step_progress')).toBeLessThan(types.indexOf('step_succeeded'));
    expect(types.at(-1)).toBe('workflow_succeeded');
    const task = (await app.inject({ url: `/tasks/${taskId}` })).json();
    expect(task.steps[0].output).toEqual({ text: pieces.join('') });

    // Progress is not stored: neither the task nor the event table has any.
    expect(JSON.stringify(task)).not.toContain('step_progress');
    const stored = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflow_events WHERE type = 'step_progress'`);
    expect(stored[0]!.n).toBe(0);

    // A reconnect after the first durable event gets the durable events after it, and no progress.
    const durable = live.events.filter((e) => e.id !== undefined);
    const again = await openEventStream(`${url}/tasks/${taskId}/events`, { lastEventId: durable[0]!.id! });
    await again.ended;
    expect(again.events.map((e) => e.id)).toEqual(durable.slice(1).map((e) => e.id));
    expect(progressOf(again.events)).toEqual([]);
  }, 30_000);
});

describe('step progress across replicas', () => {
  it('with Redis, a stream open on one replica sees the progress of a step another replica runs', async () => {
    const db = await database();
    const { definition, release } = reporter(uniqueName());
    onTestFinished(release);
    const env = { REDIS_URL: redisUrl };
    const { app: runner, agentUrls } = await startPlatform(db, [definition], env);
    // The watcher knows the agent (so the plan is valid there too) but never calls it: the runner holds the lease.
    const { app: watcher } = await startPlatform(db, [], { ...env, AGENT_URLS: `${definition.name}=${agentUrls[definition.name]}` });
    const url = await listenOnLoopback(watcher);
    const taskId = await planned(runner, definition.name, { pieces: ['far ', 'away'] });
    const live = await openEventStream(`${url}/tasks/${taskId}/events`);
    expect((await runner.inject({ method: 'POST', url: `/execute/${taskId}` })).statusCode).toBeLessThan(300);
    await poll(() => textOf(live.events) === 'far away', { timeoutMs: 10_000, label: "the runner's progress on the watcher's stream" });
    release();
    await live.ended;
    expect(live.events.at(-1)!.event).toBe('workflow_succeeded');
    const metrics = (await runner.inject({ url: '/metrics' })).body;
    expect(metricValue(metrics, 'agent_progress_events_total', { agent: definition.name })).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe("a model's answer, token by token", () => {
  /** An agent app on loopback whose model is the chat completions double, streaming slowly. */
  async function agentOnDouble(definition: AgentDefinition, chunkDelayMs: number) {
    const double = await startChatDouble({ chunkDelayMs });
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const app = buildAgentApp(definition, { logLevel: 'silent', llm });
    onTestFinished(() => app.close());
    return { double, url: await listenOnLoopback(app) };
  }

  async function run(agent: string, agentUrl: string, input: Record<string, unknown>) {
    const db = await database();
    const { app } = await startPlatform(db, [], { AGENT_URLS: `${agent}=${agentUrl}` });
    const url = await listenOnLoopback(app);
    const taskId = await planned(app, agent, input);
    const live = await openEventStream(`${url}/tasks/${taskId}/events`);
    expect((await app.inject({ method: 'POST', url: `/execute/${taskId}` })).statusCode).toBeLessThan(300);
    // Three pieces of the answer on the stream, and no result for the step yet at that moment.
    const early = await poll(() => (progressOf(live.events).length >= 3 ? [...live.events] : undefined), {
      timeoutMs: 15_000,
      label: 'three pieces of the answer',
    });
    expect(early.some((e) => e.event === 'step_succeeded')).toBe(false);
    await live.ended;
    const task = (await app.inject({ url: `/tasks/${taskId}` })).json();
    return { live, early, task };
  }

  it('a step that asks the model with onDelta shows the answer as it is written, and returns all of it', async () => {
    const answer = 'Durable steps keep their results, so a crash costs nothing that already finished.';
    const definition = defineAgent({
      name: 'explainer',
      description: 'asks the model and answers with what it wrote',
      capabilities: ['explain'],
      async execute(input: { question?: string }, ctx) {
        const result = await ctx.llm.chat({
          messages: [{ role: 'user', content: String(input.question) }],
          signal: ctx.signal,
          onDelta: (text) => ctx.progress({ text }),
        });
        return { summary: 'answered', answer: result.content };
      },
    });
    const { double, url } = await agentOnDouble(definition, 25);
    double.script({ content: answer });
    const { live, task } = await run('explainer', url, { question: 'why durable?' });
    expect(progressOf(live.events).length).toBeGreaterThanOrEqual(contentPieces(answer).length / 2);
    expect(textOf(live.events)).toBe(answer);
    expect(task.steps[0].output).toEqual({ summary: 'answered', answer });
    expect(double.calls[0]).toMatchObject({ stream: true });
  }, 30_000);

  it('a built-in agent (code-review) forwards its model answer as progress text', async () => {
    const answer = JSON.stringify({
      comments: [{ file: 'src/divide.ts', line: 2, severity: 'error', message: 'Dividing by zero returns Infinity; reject b === 0.' }],
    });
    const { double, url } = await agentOnDouble(codeReviewAgent, 10);
    double.script({ content: answer });
    const divide = { path: 'src/divide.ts', content: 'export function divide(a: number, b: number): number {\n  return a / b;\n}\n' };
    const { live, task } = await run('code-review', url, { files: [divide] });
    expect(textOf(live.events)).toBe(answer);
    const output = task.steps[0].output;
    expect(output.llm).toMatchObject({ used: true, comments: 1 });
    expect(output.findings).toContainEqual(expect.objectContaining({ rule: 'llm-review', line: 2, severity: 'error' }));
  }, 30_000);
});
