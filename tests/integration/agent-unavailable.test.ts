import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { store } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

/** A loopback port nothing listens on (yet). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

describe.each(testDatabases)('a step whose agent no instance serves, on $name', (t) => {
  it('waits for it with growing pauses, visible as events and a metric, and runs once it comes up, on its first attempt', async () => {
    const db = await t.open();
    onTestFinished(() => db.close());
    const port = await freePort();
    // The agent's breaker would open after a few refused calls and hold the next try for its reset
    // time; this test is about the wait itself, so it is kept out of the way.
    const { app } = await startPlatform(db, [], {
      AGENT_URLS: `math=http://127.0.0.1:${port}`,
      RETRY_BACKOFF_MS: '50',
      STEP_MAX_ATTEMPTS: '2',
      BREAKER_VOLUME: '1000',
    });
    const { task_id } = (
      await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 's', agent: 'math', input: { values: [2, 3] } }] } },
      })
    ).json();

    // Two quick attempts would have failed it before; now it waits.
    await poll(async () => (await store.listEvents(db, task_id, 0)).filter((e) => e.type === 'step_waiting_for_agent').length >= 3, {
      timeoutMs: 10_000,
      label: 'the step to wait for its agent',
    });
    expect(metricValue((await app.inject({ url: '/metrics' })).body, 'steps_waiting_for_agent', { agent: 'math' })).toBe(1);
    const waits = (await store.listEvents(db, task_id, 0)).filter((e) => e.type === 'step_waiting_for_agent');
    expect(waits[0]).toMatchObject({
      step_id: 's',
      attempt: 1,
      data: { agent: 'math', error: { code: 'AGENT_UNAVAILABLE' }, timeout_ms: 300_000 },
    });
    // Growing: the n-th pause is 50 ms × 2^n with jitter (×0.5 to ×1.5), so two in a row may swap by
    // jitter, but each is within its band and the bands grow.
    const pauses = waits.map((w) => Number(w.data.retry_in_ms));
    pauses.forEach((ms, n) => {
      expect(ms, `pause ${n}`).toBeGreaterThanOrEqual(Math.floor(50 * 2 ** n * 0.5));
      expect(ms, `pause ${n}`).toBeLessThanOrEqual(Math.ceil(50 * 2 ** n * 1.5));
    });
    expect(pauses.at(-1)!).toBeGreaterThan(pauses[0]!);
    expect((await app.inject({ url: `/tasks/${task_id}` })).json().status).toBe('running');

    const { agents, log } = testAgents();
    const agentApp = buildAgentApp(
      agents.find((a) => a.name === 'math')!,
      { logLevel: 'silent' },
    );
    onTestFinished(() => agentApp.close());
    await agentApp.listen({ host: '127.0.0.1', port });

    const task = await poll(
      async () => {
        const view = (await app.inject({ url: `/tasks/${task_id}` })).json();
        return view.status === 'succeeded' ? view : undefined;
      },
      { timeoutMs: 15_000, label: 'the workflow to finish once the agent is up' },
    );
    expect(task.steps[0].attempts).toHaveLength(1);
    expect(task.checkpoint.s).toEqual({ sum: 5, from: [] });
    expect(log.runs.map((r) => r.key)).toEqual([`${task_id}:s:1`]);
    expect(metricValue((await app.inject({ url: '/metrics' })).body, 'steps_waiting_for_agent', { agent: 'math' })).toBeUndefined();
  }, 40_000);

  it('fails the step once AGENT_UNAVAILABLE_TIMEOUT_MS has passed, saying so', async () => {
    const db = await t.open();
    onTestFinished(() => db.close());
    const port = await freePort();
    const { app } = await startPlatform(db, [], {
      AGENT_URLS: `math=http://127.0.0.1:${port}`,
      RETRY_BACKOFF_MS: '50',
      AGENT_UNAVAILABLE_TIMEOUT_MS: '600',
      STEP_MAX_ATTEMPTS: '1',
    });
    const res = (
      await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps: [{ id: 's', agent: 'math' }] }, wait: true } })
    ).json();
    expect(res.status).toBe('failed');
    // Refused by every instance, or by the breaker that opened meanwhile: either way, named.
    expect(res.error.message).toMatch(/agent "math".*no instance took it for \d+ ms \(AGENT_UNAVAILABLE_TIMEOUT_MS 600\)/);
  }, 20_000);
});
