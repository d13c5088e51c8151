import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { poll } from '../helpers/poll.ts';
import { startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

async function platform(env: Record<string, string> = {}) {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  return startPlatform(db, testAgents().agents, env);
}

const sum = (ms = 0) => ({ steps: [{ id: 'a', agent: 'math', input: { values: [1, 2], ms } }] });

// What the run viewer reads beyond the long-standing API: a search, its agents' calls in flight, a trace link.
describe('the API the run viewer reads', () => {
  it('GET /tasks?q= keeps the tasks whose description holds the text, with status and paging as before', async () => {
    const { app } = await platform();
    for (const description of ['Deploy the Redis cache', 'Write docs for the cache', 'Review slugify'])
      expect(
        (await app.inject({ method: 'POST', url: '/orchestrate', payload: { description, plan: sum(), wait: true } })).statusCode,
      ).toBe(200);
    const list = async (query: string) =>
      (await app.inject({ url: `/tasks?${query}` })).json() as { tasks: Array<{ description: string }>; next_cursor: string | null };
    expect((await list('q=CACHE')).tasks.map((t) => t.description)).toEqual(['Write docs for the cache', 'Deploy the Redis cache']);
    const first = await list('q=cache&limit=1');
    expect(first.tasks.map((t) => t.description)).toEqual(['Write docs for the cache']);
    expect((await list(`q=cache&limit=1&cursor=${first.next_cursor}`)).tasks.map((t) => t.description)).toEqual(['Deploy the Redis cache']);
    expect((await list('q=cache&status=failed')).tasks).toEqual([]);
    const bad = await app.inject({ url: '/tasks?q=' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('q');
  });

  it('GET /agents counts the calls out with each agent and lists its instances', async () => {
    const { app, agentUrls } = await platform();
    const agents = async () =>
      (await app.inject({ url: '/agents' })).json().agents as Array<{ name: string; calls_in_flight: number; instances: unknown[] }>;
    const math = async () => (await agents()).find((a) => a.name === 'math')!;
    expect(await math()).toMatchObject({ calls_in_flight: 0, instances: [{ url: agentUrls.math, ejected: false }] });

    const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: sum(1_500) } });
    const id = res.json().task_id as string;
    await poll(async () => (await math()).calls_in_flight === 1, { timeoutMs: 5_000, label: 'the call to show as in flight' });
    await poll(async () => (await app.inject({ url: `/tasks/${id}` })).json().status === 'succeeded', {
      timeoutMs: 10_000,
      label: 'the task to finish',
    });
    expect((await math()).calls_in_flight).toBe(0);
  });

  it('GET /tasks/:id has trace_url only when JAEGER_UI_URL is set and the run was traced, and each attempt its input and output', async () => {
    const { app } = await platform({ JAEGER_UI_URL: 'http://localhost:16686' });
    const done = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: sum(), wait: true } })).json();
    const task = (await app.inject({ url: `/tasks/${done.task_id}` })).json();
    // Tracing is off here (no OTEL_EXPORTER_OTLP_ENDPOINT): no trace, so no link; tests/e2e/tracing.test.ts has one.
    expect(task.trace_id).toBeNull();
    expect(task.trace_url).toBeNull();
    expect(task.steps[0].attempts[0]).toMatchObject({ input: { values: [1, 2], ms: 0 }, output: { sum: 3 } });
  });
});
