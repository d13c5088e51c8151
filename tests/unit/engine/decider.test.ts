import { describe, expect, it } from 'vitest';
import {
  decide,
  freshState,
  stateFromRows,
  type Command,
  type RunEvent,
  type RunState,
} from '../../../services/orchestrator/engine/decider/index.ts';
import { normalizePlan } from '../../../services/orchestrator/engine/index.ts';
import type { DecisionRow, PlanStepInput, StepRow } from '../../../services/state/index.ts';

// The engine's semantics against the decider alone: no database, no timers, no agents.

const defaults = { timeoutMs: 1_000, maxAttempts: 3, backoffMs: 100, backoffRate: 2, unavailableTimeoutMs: 60_000 };
const T0 = new Date('2026-12-01T12:00:00Z');

type Dispatch = Extract<Command, { type: 'dispatch' }>;
type Commit = Extract<Command, { type: 'commit' }>;

/** A run driven by hand: every event goes through decide, and what it answered is kept. */
function runOf(steps: Array<Partial<PlanStepInput> & { id: string }>, state?: RunState) {
  let s = state ?? freshState('wf', normalizePlan({ steps: steps.map((x) => ({ agent: 'math', ...x })) }), defaults);
  let clock = T0.getTime();
  const self = {
    get state() {
      return s;
    },
    last: [] as Command[],
    send(event: RunEvent, opts: { jitter?: number; advanceMs?: number } = {}) {
      clock += opts.advanceMs ?? 10;
      const d = decide(s, event, { now: new Date(clock), jitter: opts.jitter ?? 0.5 });
      s = d.state;
      self.last = d.commands;
      return d.commands;
    },
    ok(step: string, output: Record<string, unknown> = {}, decision?: 'approved' | 'rejected') {
      return self.send({
        type: 'succeeded',
        step,
        attempt: s.steps.get(step)!.attempt,
        output,
        decision,
        durationMs: 5,
        replayed: false,
        startedAt: new Date(clock),
      });
    },
    fail(step: string, retryable = false, code = 'AGENT_ERROR', details?: Record<string, unknown>) {
      return self.send({
        type: 'failed',
        step,
        attempt: s.steps.get(step)!.attempt,
        error: { code, message: `${step} broke`, retryable, ...(details ? { details } : {}) },
      });
    },
    status: (step: string) => s.steps.get(step)!.status,
  };
  return self;
}

const dispatched = (cmds: Command[]) => cmds.filter((c): c is Dispatch => c.type === 'dispatch').map((c) => c.step);
const commits = (cmds: Command[]) => cmds.filter((c): c is Commit => c.type === 'commit').map((c) => c.progress);
const types = (cmds: Command[]) => cmds.map((c) => c.type);
const eventTypes = (cmds: Command[]) =>
  commits(cmds).flatMap((p) => (p.events ?? []).map((e) => `${e.type}${e.step_id ? ` ${e.step_id}` : ''}`));

const diamond = [{ id: 'a' }, { id: 'b', depends_on: ['a'] }, { id: 'c', depends_on: ['a'] }, { id: 'd', depends_on: ['b', 'c'] }];

describe('decider: scheduling', () => {
  it('starts the roots in one commit, then dispatches them', () => {
    const r = runOf(diamond);
    const cmds = r.send({ type: 'start' });
    expect(types(cmds)).toEqual(['commit', 'dispatch']);
    expect(commits(cmds)[0]!.newSteps).toEqual([
      { step_id: 'a', attempt: 1, agent: 'math', status: 'running', input: {}, idempotency_key: 'wf:a:1' },
    ]);
    expect(cmds[1]).toMatchObject({
      type: 'dispatch',
      step: 'a',
      attempt: 1,
      key: 'wf:a:1',
      timeoutMs: 1_000,
      delayMs: 0,
      dependencies: {},
    });
  });

  it('a finished step is one commit with its output and the attempts it unblocks, which go out after it', () => {
    const r = runOf(diamond);
    r.send({ type: 'start' });
    const cmds = r.ok('a', { sum: 3 });
    expect(types(cmds)).toEqual(['commit', 'dispatch', 'dispatch']);
    const [p] = commits(cmds);
    expect(p!.step).toMatchObject({ stepId: 'a', attempt: 1, status: 'succeeded', output: { sum: 3 } });
    expect(p!.newSteps!.map((n) => n.step_id)).toEqual(['b', 'c']);
    expect(eventTypes(cmds)).toEqual(['step_succeeded a', 'step_started b', 'step_started c']);
    expect((cmds[1] as Dispatch).dependencies).toEqual({ a: { sum: 3 } });
  });

  it('the join waits for both branches; the last step commits the final status and then finishes', () => {
    const r = runOf(diamond);
    r.send({ type: 'start' });
    r.ok('a');
    expect(dispatched(r.ok('c', { sum: 2 }))).toEqual([]);
    expect(dispatched(r.ok('b', { sum: 1 }))).toEqual(['d']);
    const end = r.ok('d', { sum: 3 });
    expect(types(end)).toEqual(['commit', 'finish']);
    expect(commits(end)[0]!.final).toEqual({ status: 'succeeded', error: null });
    expect(eventTypes(end)).toEqual(['step_succeeded d', 'workflow_succeeded']);
    expect(r.state.phase).toBe('finished');
    // Done: later events change nothing.
    expect(r.send({ type: 'start' })).toEqual([]);
  });

  it('a commit that dispatches nothing while a sibling still runs may linger to share its statement; the others may not', () => {
    const r = runOf(diamond);
    const linger = (cmds: Command[]) => cmds.filter((c): c is Commit => c.type === 'commit').map((c) => c.linger ?? false);
    expect(linger(r.send({ type: 'start' }))).toEqual([false]);
    // a's commit sends b and c: they wait for it.
    expect(linger(r.ok('a'))).toEqual([false]);
    // c is done and b still runs: nothing waits on c's commit but c's own durability.
    expect(linger(r.ok('c'))).toEqual([true]);
    // b's commit sends d.
    expect(linger(r.ok('b'))).toEqual([false]);
    expect(linger(r.ok('d'))).toEqual([false]);
    // A failure whose retry goes out after the commit does not linger either.
    const chain = runOf([{ id: 'x' }, { id: 'y', depends_on: ['x'] }, { id: 'z' }]);
    chain.send({ type: 'start' });
    expect(linger(chain.ok('z'))).toEqual([true]);
    chain.ok('x');
    expect(linger(chain.fail('y', true))).toEqual([false]);
  });

  it('resolves {{steps.x.output}} references into the attempt input', () => {
    const r = runOf([{ id: 'a' }, { id: 'b', depends_on: ['a'], input: { files: '{{steps.a.output.files}}', n: 1 } }]);
    r.send({ type: 'start' });
    const cmds = r.ok('a', { files: ['x.ts'] });
    expect(commits(cmds)[0]!.newSteps![0]!.input).toEqual({ files: ['x.ts'], n: 1 });
    expect((cmds[1] as Dispatch).input).toEqual({ files: ['x.ts'], n: 1 });
  });

  it('leaves the state it was given unchanged', () => {
    const r = runOf(diamond);
    r.send({ type: 'start' });
    const before = r.state;
    const snapshot = JSON.stringify([...before.steps.values()].map((s) => [s.status, s.attempt]));
    r.ok('a');
    expect(JSON.stringify([...before.steps.values()].map((s) => [s.status, s.attempt]))).toBe(snapshot);
    expect(r.state).not.toBe(before);
  });

  it('ignores an answer to an attempt that is not the one out (late, or already answered)', () => {
    const r = runOf(diamond);
    r.send({ type: 'start' });
    r.ok('a');
    expect(r.send({ type: 'succeeded', step: 'a', attempt: 1, output: {}, durationMs: 1, replayed: false, startedAt: T0 })).toEqual([]);
    expect(r.send({ type: 'succeeded', step: 'b', attempt: 7, output: {}, durationMs: 1, replayed: false, startedAt: T0 })).toEqual([]);
  });
});

describe('decider: failures and retries', () => {
  it('a retryable failure schedules the next attempt after exponential backoff with jitter', () => {
    const r = runOf([{ id: 'a' }]);
    r.send({ type: 'start' });
    const first = r.send(
      { type: 'failed', step: 'a', attempt: 1, error: { code: 'AGENT_ERROR', message: '502', retryable: true } },
      { jitter: 0 },
    );
    expect(types(first)).toEqual(['commit', 'dispatch']);
    const p = commits(first)[0]!;
    expect(p.step).toMatchObject({ stepId: 'a', attempt: 1, status: 'failed' });
    expect(p.newSteps).toEqual([expect.objectContaining({ step_id: 'a', attempt: 2, status: 'scheduled', idempotency_key: 'wf:a:2' })]);
    // backoff 100 * 2^0 * (0.5 + 0) = 50 ms
    expect(first[1]).toMatchObject({ type: 'dispatch', attempt: 2, delayMs: 50 });
    expect(p.events![0]).toMatchObject({ type: 'step_failed', data: { retry_in_ms: 50, next_attempt: 2 } });
    const second = r.send(
      { type: 'failed', step: 'a', attempt: 2, error: { code: 'AGENT_ERROR', message: '502', retryable: true } },
      { jitter: 0.99 },
    );
    // 100 * 2^1 * 1.49
    expect(second[1]).toMatchObject({ attempt: 3, delayMs: 298 });
  });

  it('when no instance takes the call, the same attempt waits with growing pauses instead of being used up', () => {
    const r = runOf([{ id: 'a' }, { id: 'b', depends_on: ['a'] }]);
    r.send({ type: 'start' });
    const down = { code: 'AGENT_UNAVAILABLE', message: 'agent "math": none of its instances took the call', retryable: true };
    const pauses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const cmds = r.send({ type: 'failed', step: 'a', attempt: 1, error: down }, { jitter: 0.5, advanceMs: 1_000 });
      expect(types(cmds)).toEqual(['commit', 'dispatch']);
      // No attempt row is written or finished: only an event says it waits.
      expect(commits(cmds)[0]).toEqual({
        events: [
          expect.objectContaining({
            type: 'step_waiting_for_agent',
            step_id: 'a',
            attempt: 1,
            data: expect.objectContaining({ agent: 'math', timeout_ms: 60_000 }),
          }),
        ],
      });
      const d = cmds[1] as Dispatch;
      expect([d.attempt, d.key]).toEqual([1, 'wf:a:1']);
      pauses.push(d.delayMs);
    }
    expect(pauses).toEqual([100, 200, 400, 800]);
    // Taken at last: it goes on, and the wait is over.
    expect(dispatched(r.ok('a'))).toEqual(['b']);
    expect(r.state.steps.get('a')!.unavailableSince).toBeUndefined();
  });

  it("an open breaker's retry_after_ms sets the pause; past AGENT_UNAVAILABLE_TIMEOUT_MS the step fails as a retryable failure", () => {
    const r = runOf([{ id: 'a', retry: { max_attempts: 2 } }]);
    r.send({ type: 'start' });
    const open = { code: 'CIRCUIT_OPEN', message: 'breaker open', retryable: true, details: { retry_after_ms: 5_000 } };
    expect(r.send({ type: 'failed', step: 'a', attempt: 1, error: open }, { advanceMs: 0 })[1]).toMatchObject({
      attempt: 1,
      delayMs: 5_000,
    });
    // A minute later no instance has taken it: the attempt is used up, the next one is scheduled.
    const late = r.send({ type: 'failed', step: 'a', attempt: 1, error: open }, { advanceMs: 61_000 });
    expect(commits(late)[0]!.step).toMatchObject({ attempt: 1, status: 'failed' });
    expect(commits(late)[0]!.step!.error!.message).toMatch(/no instance took it for 61\d{3} ms \(AGENT_UNAVAILABLE_TIMEOUT_MS 60000\)/);
    expect(late[1]).toMatchObject({ attempt: 2 });
    // The wait does not start again: the last attempt fails the workflow.
    expect(commits(r.send({ type: 'failed', step: 'a', attempt: 2, error: open }, { advanceMs: 10 }))[0]!.final?.status).toBe('failed');
  });

  it('gives up after max_attempts and fails the workflow naming the step', () => {
    const r = runOf([
      { id: 'a', retry: { max_attempts: 2 } },
      { id: 'b', depends_on: ['a'] },
    ]);
    r.send({ type: 'start' });
    r.fail('a', true);
    const end = r.fail('a', true);
    expect(types(end)).toEqual(['commit', 'finish']);
    const final = commits(end)[0]!.final!;
    expect(final.status).toBe('failed');
    expect(final.error).toMatchObject({ code: 'STEPS_FAILED', details: { failed_steps: ['a'], skipped_steps: ['b'] } });
    expect(final.error!.message).toContain('step "a" (math) failed: a broke');
    expect(eventTypes(end)).toEqual(['step_failed a', 'step_skipped b', 'workflow_failed']);
  });

  it("a non-retryable failure fails at once; an open breaker's retry_after_ms stretches the backoff", () => {
    const r = runOf([{ id: 'a' }]);
    r.send({ type: 'start' });
    expect(types(r.fail('a', false))).toEqual(['commit', 'finish']);
    const b = runOf([{ id: 'a' }]);
    b.send({ type: 'start' });
    expect(b.fail('a', true, 'CIRCUIT_OPEN', { retry_after_ms: 5_000 })[1]).toMatchObject({ delayMs: 5_000 });
  });

  it('a timeout is a retryable STEP_TIMEOUT', () => {
    const r = runOf([{ id: 'a', timeout_ms: 50 }]);
    const start = r.send({ type: 'start' });
    expect(start[1]).toMatchObject({ timeoutMs: 50 });
    const cmds = r.send({ type: 'timed_out', step: 'a', attempt: 1, timeoutMs: 50, startedAt: T0 });
    expect(commits(cmds)[0]!.step).toMatchObject({
      status: 'failed',
      error: { code: 'STEP_TIMEOUT', retryable: true, message: 'step "a" took longer than 50 ms' },
    });
    expect(dispatched(cmds)).toEqual(['a']);
  });

  it('a failing branch stops only what depends on it', () => {
    const r = runOf([{ id: 'bad' }, { id: 'after-bad', depends_on: ['bad'] }, { id: 'good' }, { id: 'after-good', depends_on: ['good'] }]);
    expect(dispatched(r.send({ type: 'start' }))).toEqual(['bad', 'good']);
    const cmds = r.fail('bad');
    expect(eventTypes(cmds)).toEqual(['step_failed bad', 'step_skipped after-bad']);
    expect(types(cmds)).toEqual(['commit']);
    expect(dispatched(r.ok('good'))).toEqual(['after-good']);
    expect(commits(r.ok('after-good'))[0]!.final?.status).toBe('failed');
  });
});

describe('decider: branches and loops', () => {
  const reviewLoop = [
    { id: 'write', agent: 'writer' },
    {
      id: 'review',
      agent: 'reviewer',
      depends_on: ['write'],
      on_rejection: { action: 'retry' as const, target: 'write', max_attempts: 3 },
    },
    { id: 'ship', depends_on: ['review'] },
  ];

  it('a rejection loops back: the target gets feedback and its previous output, the old attempts are superseded', () => {
    const r = runOf(reviewLoop);
    r.send({ type: 'start' });
    r.ok('write', { draft: 1 });
    const cmds = r.ok('review', { summary: '2 flaws' }, 'rejected');
    const p = commits(cmds)[0]!;
    expect(p.step).toMatchObject({ stepId: 'review', status: 'superseded' });
    expect(p.supersede).toEqual(['write', 'review']);
    expect(p.decisions).toEqual([
      expect.objectContaining({
        step_id: 'review',
        outcome: 'rejected',
        branch: 'on_rejection',
        action: 'retry',
        target: 'write',
        iteration: 1,
      }),
    ]);
    expect(p.newSteps).toEqual([expect.objectContaining({ step_id: 'write', attempt: 2 })]);
    expect(p.newSteps![0]!.input).toMatchObject({
      feedback: { step: 'review', outcome: 'rejected', iteration: 1, output: { summary: '2 flaws' } },
      previous_output: { draft: 1 },
    });
    expect(eventTypes(cmds)).toEqual(['step_succeeded review', 'branch_taken review', 'step_started write']);
    expect(cmds.find((c) => c.type === 'dispatch')).toMatchObject({ step: 'write', attempt: 2, delayMs: 0 });
  });

  it('stops looping at max_attempts with BRANCH_LIMIT_REACHED and the last answer', () => {
    const r = runOf(reviewLoop);
    r.send({ type: 'start' });
    for (let i = 0; i < 2; i++) {
      r.ok('write');
      r.ok('review', { summary: `round ${i}` }, 'rejected');
    }
    r.ok('write');
    const end = r.ok('review', { summary: 'still bad' }, 'rejected');
    const final = commits(end)[0]!.final!;
    expect(final.error).toMatchObject({ code: 'STEPS_FAILED' });
    expect(final.error!.message).toContain('answered rejected 3 times (on_rejection max_attempts 3); last answer: still bad');
    expect(commits(end)[0]!.step).toMatchObject({ status: 'failed', error: { code: 'BRANCH_LIMIT_REACHED' } });
    expect(r.status('ship')).toBe('skipped');
  });

  it('an approval ends the loop and the workflow goes on', () => {
    const r = runOf(reviewLoop);
    r.send({ type: 'start' });
    r.ok('write');
    const cmds = r.ok('review', { summary: 'fine' }, 'approved');
    expect(dispatched(cmds)).toEqual(['ship']);
    expect(commits(cmds)[0]!.decisions).toEqual([expect.objectContaining({ outcome: 'approved', branch: 'none', action: 'continue' })]);
  });

  it('a failure loop waits a backoff before going round', () => {
    const r = runOf([
      { id: 'build' },
      { id: 'test', depends_on: ['build'], on_failure: { action: 'retry', target: 'build', max_attempts: 2 } },
    ]);
    r.send({ type: 'start' });
    r.ok('build');
    const cmds = r.send(
      { type: 'failed', step: 'test', attempt: 1, error: { code: 'AGENT_TASK_FAILED', message: 'red', retryable: false } },
      { jitter: 0.5 },
    );
    expect(cmds.find((c) => c.type === 'dispatch')).toMatchObject({ step: 'build', attempt: 2, delayMs: 100 });
    expect(commits(cmds)[0]!.newSteps![0]!.input).toMatchObject({
      feedback: { step: 'test', outcome: 'failed', error: { message: 'red' } },
    });
  });

  it('routes: on_success and on_failure pick a gated step, the other is skipped; a routed failure is handled', () => {
    const plan = [
      { id: 'try', on_success: 'celebrate', on_failure: 'recover' },
      { id: 'celebrate', depends_on: ['try'] },
      { id: 'recover', depends_on: ['try'] },
    ];
    const ok = runOf(plan);
    ok.send({ type: 'start' });
    const good = ok.ok('try');
    expect(dispatched(good)).toEqual(['celebrate']);
    expect(eventTypes(good)).toContain('step_skipped recover');
    expect(commits(ok.ok('celebrate'))[0]!.final).toEqual({ status: 'succeeded', error: null });

    const bad = runOf(plan);
    bad.send({ type: 'start' });
    const failed = bad.fail('try');
    expect(dispatched(failed)).toEqual(['recover']);
    expect(commits(failed)[0]!.decisions).toEqual([expect.objectContaining({ branch: 'on_failure', action: 'route', target: 'recover' })]);
    // The failure was handled, so the workflow succeeds.
    expect(commits(bad.ok('recover'))[0]!.final).toEqual({ status: 'succeeded', error: null });
  });

  it('an approved decision takes on_approval, or falls back to on_success; a plain success never takes on_approval', () => {
    const plan = (branches: Record<string, string>) => [
      { id: 'review', ...branches },
      { id: 'merge', depends_on: ['review'] },
      { id: 'revise', depends_on: ['review'] },
    ];
    const approval = runOf(plan({ on_approval: 'merge', on_rejection: 'revise' }));
    approval.send({ type: 'start' });
    const cmds = approval.ok('review', {}, 'approved');
    expect(dispatched(cmds)).toEqual(['merge']);
    expect(commits(cmds)[0]!.decisions).toEqual([
      expect.objectContaining({ outcome: 'approved', branch: 'on_approval', action: 'route', target: 'merge' }),
    ]);
    expect(approval.status('revise')).toBe('skipped');

    const fallback = runOf(plan({ on_success: 'merge', on_rejection: 'revise' }));
    fallback.send({ type: 'start' });
    expect(dispatched(fallback.ok('review', {}, 'approved'))).toEqual(['merge']);

    const plain = runOf(plan({ on_approval: 'merge', on_success: 'revise' }));
    plain.send({ type: 'start' });
    expect(dispatched(plain.ok('review', {}))).toEqual(['revise']);
  });

  it('a fail branch ends the workflow with BRANCH_FAILED', () => {
    const r = runOf([
      { id: 'gate', on_rejection: { action: 'fail' } },
      { id: 'next', depends_on: ['gate'] },
    ]);
    r.send({ type: 'start' });
    const end = r.ok('gate', {}, 'rejected');
    expect(commits(end)[0]!.step).toMatchObject({ status: 'failed', error: { code: 'BRANCH_FAILED' } });
    expect(commits(end)[0]!.final?.status).toBe('failed');
  });
});

describe('decider: approvals', () => {
  const approval = [
    { id: 'sign-off', type: 'approval' as const, agent: 'person', deadline_ms: 60_000, on_rejection: { action: 'fail' as const } },
    { id: 'deploy', depends_on: ['sign-off'] },
  ];

  it('an approval step waits without a call; with nothing else running the run parks until its deadline', () => {
    const r = runOf(approval);
    const cmds = r.send({ type: 'start' });
    expect(types(cmds)).toEqual(['commit', 'commit', 'park']);
    expect(commits(cmds)[0]!.newSteps).toEqual([expect.objectContaining({ step_id: 'sign-off', status: 'waiting' })]);
    expect(eventTypes(cmds)).toEqual(['approval_requested sign-off', 'workflow_waiting']);
    const park = commits(cmds)[1]!.park!;
    expect(park.wakeAt!.getTime()).toBe(r.state.steps.get('sign-off')!.startedAt!.getTime() + 60_000);
    expect(r.state.phase).toBe('parked');
  });

  it('an answer drives the branches: approved goes on, rejected takes on_rejection', () => {
    const parked = runOf(approval);
    parked.send({ type: 'start' });
    // Taken up again (as the engine does after a claim): a state rebuilt and running.
    const again = () => runOf([], { ...parked.state, phase: 'running' });
    const yes = again();
    const cmds = yes.send({ type: 'answered', step: 'sign-off', decision: 'approved', comment: 'ship it' });
    expect(commits(cmds)[0]!.step).toMatchObject({
      status: 'succeeded',
      output: { decision: 'approved', comment: 'ship it', summary: 'approved: ship it' },
    });
    expect(dispatched(cmds)).toEqual(['deploy']);
    const no = again();
    expect(commits(no.send({ type: 'answered', step: 'sign-off', decision: 'rejected' }))[0]!.final?.status).toBe('failed');
    // Only a waiting step can be answered.
    expect(yes.send({ type: 'answered', step: 'deploy', decision: 'approved' })).toEqual([]);
  });

  it('rejected without an on_rejection branch, an approval holds back what it gates: the step fails and on_failure decides', () => {
    const gate = (extra: Partial<PlanStepInput> = {}) => [
      { id: 'sign-off', type: 'approval' as const, agent: 'person', ...extra },
      { id: 'deploy', depends_on: ['sign-off'] },
      { id: 'notify', depends_on: ['sign-off'] },
    ];
    const answerNo = (steps: ReturnType<typeof gate>) => {
      const parked = runOf(steps);
      parked.send({ type: 'start' });
      const r = runOf([], { ...parked.state, phase: 'running' });
      return { r, cmds: r.send({ type: 'answered', step: 'sign-off', decision: 'rejected', comment: 'not this week' }) };
    };

    const { r, cmds } = answerNo(gate());
    expect(dispatched(cmds)).toEqual([]);
    const commit = commits(cmds)[0]!;
    expect(commit.step).toMatchObject({
      status: 'failed',
      error: { code: 'APPROVAL_REJECTED', message: 'step "sign-off" was rejected: not this week', retryable: false },
      // Who said no and why stays with the step.
      output: { decision: 'rejected', comment: 'not this week' },
    });
    expect(r.status('deploy')).toBe('skipped');
    expect(r.status('notify')).toBe('skipped');
    expect(commit.final).toMatchObject({ status: 'failed', error: { code: 'STEPS_FAILED', details: { failed_steps: ['sign-off'] } } });
    expect(commit.final!.error!.message).toContain('was rejected: not this week');

    // An on_failure route takes the rejection as it takes an expiry.
    const routed = answerNo([
      { id: 'sign-off', type: 'approval' as const, agent: 'person', on_failure: 'notify' },
      { id: 'deploy', depends_on: ['sign-off'] },
      { id: 'notify', depends_on: ['sign-off'] },
    ]);
    expect(dispatched(routed.cmds)).toEqual(['notify']);
    expect(routed.r.status('deploy')).toBe('skipped');
    expect(commits(routed.cmds)[0]!.final).toBeUndefined();

    // With on_rejection, the branch decides, as for any step's decision.
    const explicit = answerNo([
      { id: 'sign-off', type: 'approval' as const, agent: 'person', on_approval: 'deploy', on_rejection: 'notify' },
      { id: 'deploy', depends_on: ['sign-off'] },
      { id: 'notify', depends_on: ['sign-off'] },
    ]);
    expect(commits(explicit.cmds)[0]!.step).toMatchObject({ status: 'succeeded' });
    expect(dispatched(explicit.cmds)).toEqual(['notify']);
    expect(explicit.r.status('deploy')).toBe('skipped');
  });

  it('a step after an approval sees what was approved: the gate passes its own dependencies on', () => {
    const r = runOf([
      { id: 'build' },
      { id: 'sign-off', type: 'approval', agent: 'person', depends_on: ['build'] },
      { id: 'ci', depends_on: ['sign-off'] },
    ]);
    r.send({ type: 'start' });
    r.ok('build', { files: [{ path: 'src/a.ts', content: 'export const a = 1;\n' }] });
    const again = runOf([], { ...r.state, phase: 'running' });
    const cmds = again.send({ type: 'answered', step: 'sign-off', decision: 'approved', comment: 'go' });
    const ci = cmds.find((c): c is Dispatch => c.type === 'dispatch' && c.step === 'ci')!;
    expect(Object.keys(ci.dependencies)).toEqual(['sign-off', 'build']);
    expect(ci.dependencies['build']).toEqual({ files: [{ path: 'src/a.ts', content: 'export const a = 1;\n' }] });
    expect(ci.dependencies['sign-off']).toMatchObject({ decision: 'approved', comment: 'go' });
  });

  it('woken after the deadline, an unanswered approval expires; before it, the run just goes on', () => {
    const parked = runOf(approval);
    parked.send({ type: 'start' });
    const early = runOf([], { ...parked.state, phase: 'running' });
    expect(types(early.send({ type: 'woke' }))).toEqual(['commit', 'park']);
    const late = runOf([], { ...parked.state, phase: 'running' });
    const cmds = late.send({ type: 'woke' }, { advanceMs: 61_000 });
    expect(commits(cmds)[0]!.step).toMatchObject({ stepId: 'sign-off', status: 'failed', error: { code: 'APPROVAL_EXPIRED' } });
    expect(commits(cmds)[0]!.final?.status).toBe('failed');
  });
});

describe('decider: cancellation and recovery', () => {
  it('cancelled: the run stops and nothing after it is decided', () => {
    const r = runOf(diamond);
    r.send({ type: 'start' });
    expect(r.send({ type: 'cancelled', reason: 'no longer needed' })).toEqual([
      { type: 'stop', status: 'cancelled', reason: 'no longer needed' },
    ]);
    expect(r.ok('a')).toEqual([]);
  });

  const row = (step_id: string, attempt: number, status: StepRow['status'], output: Record<string, unknown> | null = null): StepRow => ({
    workflow_id: 'wf',
    step_id,
    attempt,
    agent: 'math',
    status,
    input: { n: attempt },
    output,
    error: status === 'failed' ? { code: 'X', message: 'no', retryable: false } : null,
    idempotency_key: `wf:${step_id}:${attempt}`,
    created_at: T0,
    started_at: T0,
    finished_at: status === 'running' ? null : T0,
    start_seq: null,
    end_seq: null,
    duration_ms: null,
    replayed: false,
    usage: null,
  });

  it('rebuilt from rows, a recovered run re-sends what was in flight with the same key and keeps what finished', () => {
    const plan = normalizePlan({ steps: diamond.map((s) => ({ agent: 'math', ...s })) });
    const state = stateFromRows(
      'wf',
      plan,
      defaults,
      [row('a', 1, 'succeeded', { sum: 3 }), row('b', 1, 'running'), row('c', 1, 'succeeded', { sum: 4 })],
      [],
      false,
    );
    const r = runOf([], state);
    const cmds = r.send({ type: 'start' });
    expect(types(cmds)).toEqual(['dispatch']);
    expect(cmds[0]).toMatchObject({ step: 'b', attempt: 1, key: 'wf:b:1', input: { n: 1 } });
    expect(dispatched(r.ok('b'))).toEqual(['d']);
  });

  it('resuming a failed workflow reopens the failed step with a fresh attempt budget', () => {
    const plan = normalizePlan({
      steps: [
        { id: 'a', agent: 'math' },
        { id: 'b', agent: 'math', depends_on: ['a'] },
      ],
    });
    const decisions: DecisionRow[] = [];
    const state = stateFromRows('wf', plan, defaults, [row('a', 3, 'failed')], decisions, true);
    const r = runOf([], state);
    const cmds = r.send({ type: 'start' });
    expect(commits(cmds)[0]!.newSteps).toEqual([expect.objectContaining({ step_id: 'a', attempt: 4 })]);
    // The budget counts from attempt 4: two more retryable failures still retry.
    r.fail('a', true);
    expect(dispatched(r.fail('a', true))).toEqual(['a']);
  });
});
