import { describe, expect, it, onTestFinished } from 'vitest';
import { defineAgent } from '../../agents/sdk/index.ts';
import { AppError } from '../../services/errors/index.ts';
import { createPgliteDb, migrate, store } from '../../services/state/index.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

describe('circuit breakers (opossum, one per agent)', () => {
  it('opens after repeated failures, refuses calls while open, half-opens after the reset time and closes on success', async () => {
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const health = { down: true, calls: 0 };
    const unstable = defineAgent({
      name: 'unstable',
      description: 'fails while its dependency is down',
      capabilities: ['flaky service'],
      async execute(input: { text?: string }) {
        health.calls += 1;
        if (health.down) throw new AppError('AGENT_ERROR', 'dependency is down');
        return { length: (input.text ?? '').length };
      },
    });
    const { app } = await startPlatform(db, [unstable], {
      AGENT_BREAKERS: 'unstable:volume=2,reset_ms=400,error_percent=50',
      RETRY_BACKOFF_MS: '20',
    });
    const plan = {
      steps: [{ id: 'call', agent: 'unstable', input: { text: 'hello' }, retry: { max_attempts: 20, backoff_ms: 20, backoff_rate: 1 } }],
    };
    const { task_id } = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan } })).json();

    const breakerState = async () =>
      (await app.inject({ url: '/agents' })).json().agents.find((a: { name: string }) => a.name === 'unstable')?.circuit_breaker.state;
    await poll(async () => (await breakerState()) === 'open', { timeoutMs: 10_000, label: 'the breaker to open' });
    expect(metricValue((await app.inject({ url: '/metrics' })).body, 'circuit_breaker_state', { agent: 'unstable' })).toBe(2);
    const callsWhenOpened = health.calls;

    // While open, calls are refused at once without reaching the agent, and the step waits for it.
    await poll(
      async () =>
        (await store.listEvents(db, task_id, 0)).some(
          (e) => e.type === 'step_waiting_for_agent' && (e.data.error as { code?: string }).code === 'CIRCUIT_OPEN',
        ),
      { timeoutMs: 10_000, label: 'a call refused by the open breaker' },
    );
    expect(health.calls).toBe(callsWhenOpened);

    health.down = false;
    const done = await poll(
      async () => {
        const wf = await store.getWorkflow(db, task_id);
        return wf?.status === 'succeeded' ? wf : undefined;
      },
      { timeoutMs: 10_000, label: 'the workflow to succeed once the agent recovers' },
    );
    expect(done.status).toBe('succeeded');
    expect((await store.getCheckpoint(db, task_id)).call).toEqual({ length: 5 });
    expect(await breakerState()).toBe('closed');
    const types = (await store.listEvents(db, task_id, 0)).map((e) => e.type);
    expect(types).toContain('circuit_open');
    expect(types.indexOf('circuit_half_open')).toBeGreaterThan(types.indexOf('circuit_open'));
    expect(types.indexOf('circuit_closed')).toBeGreaterThan(types.indexOf('circuit_half_open'));
  }, 30_000);

  it('does not count an agent refusing a task as the agent failing', async () => {
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const picky = defineAgent({
      name: 'picky',
      description: 'refuses everything',
      capabilities: ['refuse'],
      async execute() {
        throw new AppError('AGENT_TASK_FAILED', 'no');
      },
    });
    const { app } = await startPlatform(db, [picky], { AGENT_BREAKERS: 'picky:volume=1,error_percent=1' });
    for (let i = 0; i < 3; i++)
      await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps: [{ id: 'p', agent: 'picky' }] }, wait: true } });
    const picked = (await app.inject({ url: '/agents' })).json().agents.find((a: { name: string }) => a.name === 'picky');
    expect(picked.circuit_breaker.state).toBe('closed');
  });
});
