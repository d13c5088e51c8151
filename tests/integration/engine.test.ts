import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { store } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

const diamond = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
    { id: 'c', agent: 'math', input: { values: [100] }, depends_on: ['a'] },
    { id: 'd', agent: 'math', input: { values: [] }, depends_on: ['b', 'c'] },
  ],
};

describe.each(testDatabases)('engine on $name', (t) => {
  async function setup(env: Record<string, string> = {}) {
    const db = await t.open();
    const { log, agents } = testAgents();
    const platform = await startPlatform(db, agents, env);
    // The database closes after the apps (cleanup runs in reverse order of registration).
    return { db, log, ...platform, close: () => db.close() };
  }

  it('runs a diamond, passing outputs along, with results in plan order and one commit per step', async () => {
    const { app, log, close } = await setup();
    try {
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: diamond, wait: true } });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.status).toBe('succeeded');
      expect(body.results.map((r: { step_id: string }) => r.step_id)).toEqual(['a', 'b', 'c', 'd']);
      // d = (3 + 10) + (3 + 100): each step saw its dependencies' outputs.
      expect(body.results[3].output).toEqual({ sum: 116, from: ['b', 'c'] });
      expect(log.runs).toHaveLength(4);

      const task = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
      expect(task.status).toBe('succeeded');
      expect(task.checkpoint).toEqual({
        a: { sum: 3, from: [] },
        b: { sum: 13, from: ['a'] },
        c: { sum: 103, from: ['a'] },
        d: { sum: 116, from: ['b', 'c'] },
      });
      expect(task.steps.map((s: { attempts: unknown[] }) => s.attempts.length)).toEqual([1, 1, 1, 1]);
      expect(task.steps[0].attempts[0].idempotency_key).toBe(`${body.task_id}:a:1`);
      expect(task.last_checkpoint).toBeTruthy();
    } finally {
      await close();
    }
  });

  it('dispatches independent steps concurrently', async () => {
    const { app, log, close } = await setup();
    try {
      const plan = {
        steps: [
          { id: 'slow1', agent: 'math', input: { values: [1], ms: 300 } },
          { id: 'slow2', agent: 'math', input: { values: [2], ms: 300 } },
          { id: 'after', agent: 'math', input: {}, depends_on: ['slow1', 'slow2'] },
        ],
      };
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } });
      expect(res.json().status).toBe('succeeded');
      const [s1, s2, after] = ['slow1', 'slow2', 'after'].map((s) => log.runs.find((r) => r.step === s)!);
      // Both branches were in their handlers at the same time; the join started after both ended.
      expect(s2!.start).toBeLessThan(s1!.end!);
      expect(s1!.start).toBeLessThan(s2!.end!);
      expect(after!.start).toBeGreaterThanOrEqual(Math.max(s1!.end!, s2!.end!));
    } finally {
      await close();
    }
  });

  it('a failing branch stops only what depends on it', async () => {
    const { app, close } = await setup();
    try {
      const plan = {
        steps: [
          { id: 'bad', agent: 'flaky', input: { fail_attempts: 5, retryable: false } },
          { id: 'after-bad', agent: 'math', input: {}, depends_on: ['bad'] },
          { id: 'good', agent: 'math', input: { values: [5] } },
          { id: 'after-good', agent: 'math', input: {}, depends_on: ['good'] },
        ],
      };
      const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
      expect(body.status).toBe('failed');
      expect(body.error.code).toBe('STEPS_FAILED');
      expect(body.error.message).toContain('step "bad" (flaky) failed: attempt 1 refused');
      expect(body.results.map((r: { status: string }) => r.status)).toEqual(['failed', 'skipped', 'succeeded', 'succeeded']);
      const task = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
      expect(task.steps.map((s: { status: string }) => s.status)).toEqual(['failed', 'skipped', 'succeeded', 'succeeded']);
      // Not retryable: one attempt only.
      expect(task.steps[0].attempts).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it('retries retryable failures with new attempts and idempotency keys', async () => {
    const { app, db, log, close } = await setup();
    try {
      const plan = { steps: [{ id: 'f', agent: 'flaky', input: { fail_attempts: 2 }, retry: { max_attempts: 3, backoff_ms: 5 } }] };
      const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
      expect(body.status).toBe('succeeded');
      expect(body.results[0].output).toEqual({ attempt: 3 });
      expect(log.runs.map((r) => r.key)).toEqual([1, 2, 3].map((n) => `${body.task_id}:f:${n}`));
      const events = await store.listEvents(db, body.task_id, 0);
      expect(events.filter((e) => e.type === 'step_failed').map((e) => e.data.next_attempt)).toEqual([2, 3]);
    } finally {
      await close();
    }
  });

  it('times a step out and reports which one', async () => {
    const { app, close } = await setup();
    try {
      const plan = { steps: [{ id: 'slow', agent: 'math', input: { ms: 2_000 }, timeout_ms: 50, retry: { max_attempts: 1 } }] };
      const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
      expect(body.status).toBe('failed');
      expect(body.results[0].error).toMatchObject({ code: 'STEP_TIMEOUT', message: 'step "slow" took longer than 50 ms' });
    } finally {
      await close();
    }
  });

  it('cancels a running workflow', async () => {
    const { app, close } = await setup();
    try {
      const plan = {
        steps: [
          { id: 'slow', agent: 'math', input: { ms: 5_000 } },
          { id: 'next', agent: 'math', input: {}, depends_on: ['slow'] },
        ],
      };
      const { task_id } = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan } })).json();
      const res = await app.inject({ method: 'POST', url: `/tasks/${task_id}/cancel`, payload: { reason: 'changed my mind' } });
      expect(res.statusCode).toBe(200);
      const task = (await app.inject({ url: `/tasks/${task_id}` })).json();
      expect(task.status).toBe('cancelled');
      expect(task.error.message).toBe('changed my mind');
      expect(task.steps.map((s: { status: string }) => s.status)).toEqual(['cancelled', 'cancelled']);
      expect((await app.inject({ method: 'POST', url: `/tasks/${task_id}/cancel` })).statusCode).toBe(409);
      expect((await app.inject({ method: 'POST', url: `/resume/${task_id}` })).statusCode).toBe(409);
    } finally {
      await close();
    }
  });

  it('plans without running, then executes', async () => {
    const { app, close } = await setup();
    try {
      const created = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: diamond, execute: false } })).json();
      expect(created.status).toBe('planned');
      const res = await app.inject({ method: 'POST', url: `/execute/${created.task_id}`, payload: { wait: true } });
      expect(res.statusCode).toBe(200);
      expect(res.json().status).toBe('succeeded');
      expect((await app.inject({ method: 'POST', url: `/execute/${created.task_id}` })).statusCode).toBe(409);
    } finally {
      await close();
    }
  });

  it('resumes a failed workflow from its checkpoint, running only what failed', async () => {
    const { app, log, close } = await setup();
    try {
      const plan = {
        steps: [
          { id: 'ok', agent: 'math', input: { values: [1] } },
          { id: 'f', agent: 'flaky', input: { fail_attempts: 1, retryable: false }, depends_on: ['ok'] },
          { id: 'last', agent: 'math', input: {}, depends_on: ['f'] },
        ],
      };
      const first = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
      expect(first.status).toBe('failed');
      const resumed = await app.inject({ method: 'POST', url: `/resume/${first.task_id}`, payload: { wait: true } });
      expect(resumed.statusCode).toBe(200);
      expect(resumed.json().status).toBe('succeeded');
      // 'ok' ran once in all; 'f' got a second attempt with its own key.
      expect(log.runs.map((r) => r.key)).toEqual([
        `${first.task_id}:ok:1`,
        `${first.task_id}:f:1`,
        `${first.task_id}:f:2`,
        `${first.task_id}:last:1`,
      ]);
      expect((await app.inject({ method: 'POST', url: `/resume/${first.task_id}` })).statusCode).toBe(409);
    } finally {
      await close();
    }
  });

  it('takes over a workflow whose owner died, resending the in-flight attempt with the same key', async () => {
    const { db, log, close } = await setup({ RECOVERY_INTERVAL_MS: '100' });
    try {
      // A workflow another orchestrator started: 'a' finished, 'b' was in flight when it died.
      const id = randomUUID();
      const dead = { owner: 'dead-replica', incarnation: randomUUID(), ms: 1 };
      await store.insertWorkflow(db, {
        id,
        description: null,
        status: 'running',
        plan: { steps: diamond.steps.map((s) => ({ depends_on: [], ...s })) },
        input: {},
        lease: dead,
        steps: [{ step_id: 'a', attempt: 1, agent: 'math', status: 'running', input: { values: [1, 2] }, idempotency_key: `${id}:a:1` }],
        events: [],
      });
      await store.commitProgress(db, {
        workflowId: id,
        lease: dead,
        step: { stepId: 'a', attempt: 1, status: 'succeeded', output: { sum: 3, from: [] } },
        newSteps: ['b', 'c'].map((s) => ({
          step_id: s,
          attempt: 1,
          agent: 'math',
          status: 'running' as const,
          input: { values: [s === 'b' ? 10 : 100] },
          idempotency_key: `${id}:${s}:1`,
        })),
      });
      const done = await poll(
        async () => {
          const wf = await store.getWorkflow(db, id);
          return wf?.status === 'succeeded' ? wf : undefined;
        },
        { timeoutMs: 10_000, label: 'recovered workflow to succeed' },
      );
      expect(done.status).toBe('succeeded');
      expect((await store.getCheckpoint(db, id)).d).toEqual({ sum: 116, from: ['b', 'c'] });
      // 'a' was never sent again; b and c went out with the keys the dead replica had written.
      expect(log.runs.map((r) => r.key).sort()).toEqual([`${id}:b:1`, `${id}:c:1`, `${id}:d:1`]);
      const events = await store.listEvents(db, id, 0);
      expect(events.some((e) => e.type === 'workflow_recovered' && e.data.previous_owner === 'dead-replica')).toBe(true);
    } finally {
      await close();
    }
  });
});
