import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgliteDb, migrate, store, type Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

const reviewLoop = (flaws: number) => ({
  steps: [
    { id: 'write', agent: 'writer', input: { flaws } },
    { id: 'review', agent: 'reviewer', depends_on: ['write'], on_rejection: { action: 'retry', target: 'write', max_attempts: 3 } },
    { id: 'ship', agent: 'math', input: { values: [1] }, depends_on: ['review'] },
  ],
});

describe.each(testDatabases)('branching on $name', (t) => {
  async function setup(env: Record<string, string> = {}) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const { log, agents } = testAgents();
    return { db, log, ...(await startPlatform(db, agents, env)) };
  }

  it('a rejection loops back for a revision, then the approved work goes on', async () => {
    const { app, log } = await setup();
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: reviewLoop(2), wait: true } })).json();
    expect(body.status).toBe('succeeded');
    expect(log.runs.map((r) => r.key.split(':').slice(1).join(':'))).toEqual([
      'write:1',
      'review:1',
      'write:2',
      'review:2',
      'write:3',
      'review:3',
      'ship:1',
    ]);
    const task = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
    expect(task.steps.map((s: { id: string; status: string; attempts: unknown[] }) => [s.id, s.status, s.attempts.length])).toEqual([
      ['write', 'succeeded', 3],
      ['review', 'succeeded', 3],
      ['ship', 'succeeded', 1],
    ]);
    expect(task.steps[1].attempts.map((a: { status: string }) => a.status)).toEqual(['superseded', 'superseded', 'succeeded']);
    expect(
      task.decisions.map((d: { step_id: string; outcome: string; action: string; target: string | null; iteration: number }) => [
        d.step_id,
        d.outcome,
        d.action,
        d.target,
        d.iteration,
      ]),
    ).toEqual([
      ['review', 'rejected', 'retry', 'write', 1],
      ['review', 'rejected', 'retry', 'write', 2],
      ['review', 'approved', 'continue', null, 0],
    ]);
    expect(task.checkpoint.write).toEqual({ flaws: 0, revised: true });
  });

  it('hitting max_attempts ends the workflow failed, saying why', async () => {
    const { app } = await setup();
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: reviewLoop(5), wait: true } })).json();
    expect(body.status).toBe('failed');
    expect(body.error.message).toBe(
      'step "review" (reviewer) failed: step "review" answered rejected 3 times (on_rejection max_attempts 3); last answer: 3 flaw(s)',
    );
    const task = (await app.inject({ url: `/tasks/${body.task_id}` })).json();
    expect(task.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'failed', 'skipped']);
    expect(task.decisions.at(-1)).toMatchObject({ step_id: 'review', action: 'fail', iteration: 0 });
  });

  it('routes to the step a decision names; the branch not taken is skipped', async () => {
    const { app, log } = await setup();
    const plan = {
      steps: [
        { id: 'write', agent: 'writer', input: { flaws: 0 } },
        { id: 'review', agent: 'reviewer', depends_on: ['write'], on_approval: 'ship', on_rejection: 'escalate' },
        { id: 'ship', agent: 'math', input: { values: [7] }, depends_on: ['review'] },
        { id: 'escalate', agent: 'math', input: { values: [0] }, depends_on: ['review'] },
      ],
    };
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect(body.status).toBe('succeeded');
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'skipped']);
    expect(log.runs.map((r) => r.step)).not.toContain('escalate');
  });

  it('an on_failure route handles the failure: the handler runs and the workflow succeeds', async () => {
    const { app } = await setup();
    const plan = {
      steps: [
        { id: 'risky', agent: 'flaky', input: { fail_attempts: 9, retryable: false }, on_failure: 'cleanup' },
        { id: 'cleanup', agent: 'math', input: { values: [1] }, depends_on: ['risky'] },
        { id: 'next', agent: 'math', input: {}, depends_on: ['risky'] },
      ],
    };
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect(body.status).toBe('succeeded');
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['failed', 'succeeded', 'skipped']);
  });

  it('an on_failure retry runs the step again after a backoff, within max_attempts', async () => {
    const { app, db, log } = await setup();
    const plan = {
      steps: [{ id: 'f', agent: 'flaky', input: { fail_attempts: 2, retryable: false }, on_failure: { action: 'retry', max_attempts: 3 } }],
    };
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect(body.status).toBe('succeeded');
    expect(log.runs.map((r) => r.key.split(':').slice(1).join(':'))).toEqual(['f:1', 'f:2', 'f:3']);
    const loops = (await store.listEvents(db, body.task_id, 0)).filter((e) => e.type === 'branch_taken');
    expect(loops.map((e) => [e.data.iteration, Number(e.data.delay_ms) > 0])).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  it('refuses loops without a bound and routes to steps that do not wait for the branch', async () => {
    const { app } = await setup();
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: {
        plan: {
          steps: [
            { id: 'write', agent: 'writer' },
            {
              id: 'review',
              agent: 'reviewer',
              depends_on: ['write'],
              on_rejection: { action: 'retry', target: 'write' },
              on_approval: 'ship',
            },
            { id: 'ship', agent: 'math' },
          ],
        },
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain('step "review" on_rejection loops back to "write" without max_attempts: a loop needs a bound');
    expect(res.json().message).toContain('step "review" on_approval routes to "ship", which must list "review" in depends_on');
  });

  it('an approval step parks the workflow durably until a person answers, across a restart', async () => {
    const first = await setup();
    const plan = {
      steps: [
        { id: 'build', agent: 'math', input: { values: [1] } },
        { id: 'sign-off', type: 'approval', prompt: 'Ship it?', depends_on: ['build'], on_approval: 'ship', on_rejection: 'discard' },
        { id: 'ship', agent: 'math', input: { values: [2] }, depends_on: ['sign-off'] },
        { id: 'discard', agent: 'math', input: { values: [3] }, depends_on: ['sign-off'] },
      ],
    };
    const submitted = await first.app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } });
    expect(submitted.statusCode).toBe(202);
    const id = submitted.json().task_id as string;
    const parked = await store.getWorkflow(first.db, id);
    expect(parked).toMatchObject({ status: 'waiting', lease_owner: null });
    await first.app.close();

    // Another orchestrator, on the same database, takes the answer.
    const { agents } = testAgents();
    const second = await startPlatform(first.db, agents);
    const task = (await second.app.inject({ url: `/tasks/${id}` })).json();
    expect(task.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'waiting', 'pending', 'pending']);
    const answer = await second.app.inject({ method: 'POST', url: `/tasks/${id}/reject`, payload: { comment: 'not this week' } });
    expect(answer.json()).toEqual({ task_id: id, step_id: 'sign-off', decision: 'rejected' });
    const done = await poll(
      async () => {
        const wf = await store.getWorkflow(first.db, id);
        return wf?.status === 'succeeded' ? wf : undefined;
      },
      { timeoutMs: 10_000, label: 'workflow to finish after the answer' },
    );
    expect(done.status).toBe('succeeded');
    expect((await store.getCheckpoint(first.db, id))['sign-off']).toMatchObject({ decision: 'rejected', comment: 'not this week' });
    const view = (await second.app.inject({ url: `/tasks/${id}` })).json();
    expect(view.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'skipped', 'succeeded']);
    expect((await second.app.inject({ method: 'POST', url: `/tasks/${id}/approve` })).statusCode).toBe(409);
  });

  it('an approval nobody answers expires at its deadline and takes its failure branch', async () => {
    const { app, db } = await setup({ RECOVERY_INTERVAL_MS: '100' });
    const plan = {
      steps: [
        { id: 'ok', type: 'approval', deadline_ms: 200 },
        { id: 'after', agent: 'math', depends_on: ['ok'] },
      ],
    };
    const submitted = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan } });
    expect(submitted.statusCode).toBe(202);
    const { task_id } = submitted.json();
    const done = await poll(
      async () => {
        const wf = await store.getWorkflow(db, task_id);
        return wf?.status === 'failed' ? wf : undefined;
      },
      { timeoutMs: 10_000, label: 'approval to expire' },
    );
    expect(done.error?.message).toContain('nobody answered step "ok" within 200 ms');
  });

  it('a rejected approval with no on_rejection branch holds back what it gates: the run fails and nothing after it runs', async () => {
    const { app, db, log } = await setup();
    const plan = {
      steps: [
        { id: 'build', agent: 'math', input: { values: [1] } },
        { id: 'sign-off', type: 'approval', prompt: 'Deploy?', depends_on: ['build'] },
        { id: 'deploy', agent: 'math', input: { values: [2] }, depends_on: ['sign-off'] },
      ],
    };
    const { task_id } = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect((await store.getWorkflow(db, task_id))?.status).toBe('waiting');
    const answer = await app.inject({ method: 'POST', url: `/tasks/${task_id}/reject`, payload: { comment: 'freeze until Monday' } });
    expect(answer.json()).toEqual({ task_id, step_id: 'sign-off', decision: 'rejected' });
    const done = await poll(
      async () => {
        const wf = await store.getWorkflow(db, task_id);
        return wf?.status === 'failed' ? wf : undefined;
      },
      { timeoutMs: 10_000, label: 'workflow to fail after the rejection' },
    );
    expect(done.error?.message).toContain('step "sign-off" was rejected: freeze until Monday');
    const task = (await app.inject({ url: `/tasks/${task_id}` })).json();
    expect(task.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ['build', 'succeeded'],
      ['sign-off', 'failed'],
      ['deploy', 'skipped'],
    ]);
    const gate = task.steps.find((s: { id: string }) => s.id === 'sign-off').attempts.at(-1);
    expect(gate.error).toMatchObject({ code: 'APPROVAL_REJECTED' });
    // Who said no, and why, stays with the attempt.
    expect(gate.output).toMatchObject({ decision: 'rejected', comment: 'freeze until Monday' });
    expect(log.runs.map((r) => r.key.split(':')[1])).toEqual(['build']);

    // Rejected by mistake: resuming asks again, and this time the answer lets deploy run.
    expect((await app.inject({ method: 'POST', url: `/resume/${task_id}` })).statusCode).toBe(202);
    await poll(async () => ((await store.getWorkflow(db, task_id))?.status === 'waiting' ? true : undefined), {
      timeoutMs: 10_000,
      label: 'the resumed approval to wait again',
    });
    expect((await app.inject({ method: 'POST', url: `/tasks/${task_id}/approve` })).statusCode).toBe(200);
    await poll(async () => ((await store.getWorkflow(db, task_id))?.status === 'succeeded' ? true : undefined), {
      timeoutMs: 10_000,
      label: 'the approved run to finish',
    });
    expect(log.runs.map((r) => r.key.split(':')[1])).toEqual(['build', 'deploy']);
  });
});

describe('answering approvals: bad requests', () => {
  it('404 for an unknown task, 409 when nothing waits', async () => {
    const db: Db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents);
    expect((await app.inject({ method: 'POST', url: '/tasks/5b0c8a53-55a4-4b0c-9d36-5a4f1a2b3c4d/approve' })).statusCode).toBe(404);
    const { task_id } = (
      await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps: [{ id: 'a', agent: 'math' }] }, wait: true } })
    ).json();
    const res = await app.inject({ method: 'POST', url: `/tasks/${task_id}/approve`, payload: { comment: 'late' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('WORKFLOW_FINISHED');
  });
});
