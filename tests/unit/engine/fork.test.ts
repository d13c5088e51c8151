import { describe, expect, it } from 'vitest';
import { forkSeed, mergePatch, patchPlan, rerunSet } from '../../../services/orchestrator/engine/fork.ts';
import { normalizePlan } from '../../../services/orchestrator/engine/index.ts';
import { compareRuns } from '../../../services/orchestrator/compare.ts';
import type { AppError } from '../../../services/errors/index.ts';
import type { DecisionRow, PlanStepInput, StepRow, WorkflowRow } from '../../../services/state/index.ts';

// What a fork keeps and what it changes, and what a comparison says, without a database.

const plan = (steps: Array<Partial<PlanStepInput> & { id: string }>) =>
  normalizePlan({ steps: steps.map((s) => ({ agent: 'math', ...s })) });
const diamond = plan([
  { id: 'a', input: { n: 1 } },
  { id: 'b', depends_on: ['a'], input: { n: 2, opts: { x: 1, y: 2 } } },
  { id: 'c', depends_on: ['a'] },
  { id: 'd', depends_on: ['b', 'c'] },
]);

function row(
  step: string,
  attempt: number,
  status: StepRow['status'],
  output: Record<string, unknown> | null,
  extra: object = {},
): StepRow {
  return {
    workflow_id: 'parent',
    step_id: step,
    attempt,
    agent: 'math',
    status,
    input: {},
    output,
    error: null,
    idempotency_key: `parent:${step}:${attempt}`,
    created_at: new Date(0),
    started_at: new Date(1_000),
    finished_at: new Date(1_000 + 10 * attempt),
    start_seq: null,
    end_seq: null,
    duration_ms: 10 * attempt,
    replayed: false,
    ...extra,
  } as StepRow;
}

const refused = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error('not refused');
};

describe('fork', () => {
  it('merge-patches as RFC 7386 says: objects merge, null removes, anything else replaces', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, x: 4 }, e: [2], f: 'new' })).toEqual({
      a: 1,
      b: { d: 3, x: 4 },
      e: [2],
      f: 'new',
    });
    expect(mergePatch({ a: 1 }, [1, 2])).toEqual([1, 2]);
  });

  it('re-runs the step and what is downstream of it, not its siblings', () => {
    expect([...rerunSet(diamond, 'b')].sort()).toEqual(['b', 'd']);
    expect([...rerunSet(diamond, 'a')].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('patches from_step and below; refuses an unknown step or a patch of a reused one, naming the field', () => {
    const patched = patchPlan(diamond, {
      fromStep: 'b',
      inputPatch: { opts: { y: null, z: 3 } },
      planPatch: { steps: { d: { agent: 'other', timeout_ms: 5 } } },
    });
    expect(patched.steps[1]!.input).toEqual({ n: 2, opts: { x: 1, z: 3 } });
    expect(patched.steps[3]).toMatchObject({ agent: 'other', timeout_ms: 5, depends_on: ['b', 'c'] });
    expect(diamond.steps[1]!.input).toEqual({ n: 2, opts: { x: 1, y: 2 } });
    expect(patchPlan({ ...diamond, budget: { usd: 2 } }, { fromStep: 'd' }).budget).toEqual({ usd: 2 });
    expect(refused(() => patchPlan(diamond, { fromStep: 'x' })).details).toMatchObject({ field: 'from_step' });
    const upstream = refused(() => patchPlan(diamond, { fromStep: 'b', planPatch: { steps: { c: { input: {} } } } }));
    expect(upstream.details).toMatchObject({ field: 'plan_patch.steps.c' });
    expect(upstream.message).toContain('fork from "c"');
    expect(refused(() => patchPlan(diamond, { fromStep: 'b', planPatch: { steps: { q: {} } } })).details).toMatchObject({
      field: 'plan_patch.steps.q',
    });
  });

  it('keeps each succeeded step outside the re-run set whose dependencies are kept, with its decisions, naming where it ran', () => {
    const rows = [
      row('a', 1, 'failed', null),
      row('a', 2, 'succeeded', { v: 'a' }, { reused_from: 'grandparent', reused_attempt: 7 }),
      row('c', 1, 'succeeded', { v: 'c' }),
      row('b', 1, 'succeeded', { v: 'b' }),
      row('d', 1, 'failed', null),
    ];
    const decisions = [
      { step_id: 'a', attempt: 2, outcome: 'succeeded', branch: 'on_success', action: 'route', target: 'c', iteration: 0, reason: 'r' },
      { step_id: 'b', attempt: 1, outcome: 'succeeded', branch: 'on_success', action: 'route', target: 'd', iteration: 0, reason: 'r' },
    ] as DecisionRow[];
    const seed = forkSeed('fork', 'parent', diamond, 'b', rows, decisions);
    expect(seed.reused.map((r) => [r.step_id, r.attempt, r.reused_from, r.reused_attempt, r.output])).toEqual([
      ['a', 1, 'grandparent', 7, { v: 'a' }],
      ['c', 1, 'parent', 1, { v: 'c' }],
    ]);
    expect(seed.reused[0]!.idempotency_key).toBe('fork:a:1');
    expect(seed.decisions).toEqual([expect.objectContaining({ step_id: 'a', attempt: 1, target: 'c' })]);
    expect(seed.events.map((e) => [e.type, e.step_id])).toEqual([
      ['workflow_forked', undefined],
      ['step_reused', 'a'],
      ['step_reused', 'c'],
    ]);
    // A branch target the kept source did not route to cannot be forked from: nothing would run.
    const gated = plan([
      { id: 'gate', type: 'approval', on_approval: 'ship', on_rejection: 'undo' },
      { id: 'ship', depends_on: ['gate'] },
      { id: 'undo', depends_on: ['gate'] },
    ]);
    const answered = [row('gate', 1, 'succeeded', { decision: 'approved' }), row('ship', 1, 'succeeded', {})];
    const chose = [
      {
        step_id: 'gate',
        attempt: 1,
        outcome: 'approved',
        branch: 'on_approval',
        action: 'route',
        target: 'ship',
        iteration: 0,
        reason: 'r',
      },
    ];
    const notTaken = refused(() => forkSeed('fork', 'parent', gated, 'undo', answered, chose as DecisionRow[]));
    expect(notTaken.details).toMatchObject({ field: 'from_step', branch_of: 'gate' });
    expect(forkSeed('fork', 'parent', gated, 'ship', answered, chose as DecisionRow[]).reused.map((r) => r.step_id)).toEqual(['gate']);
    // A step the parent did not finish is not kept, and neither is what depends on it.
    const failedA = forkSeed('fork', 'parent', diamond, 'd', [row('a', 1, 'failed', null), row('c', 1, 'succeeded', {})], []);
    expect(failedA.reused).toEqual([]);
  });
});

describe('compare', () => {
  const wf = (id: string, extra: object = {}) =>
    ({
      id,
      status: 'succeeded',
      plan: diamond,
      started_at: new Date(0),
      finished_at: new Date(100),
      forked_from: null,
      fork_step: null,
      ...extra,
    }) as unknown as WorkflowRow;
  const usage = (cost: number | null) => ({ usage: [{ model: 'm', prompt_tokens: 10, completion_tokens: 5, calls: 1, cost_usd: cost }] });

  it('says per step what was reused, what ran in both and what changed, with the differences in time, tokens and cost', () => {
    const a = [
      row('a', 1, 'succeeded', { v: 1 }, usage(0.01)),
      row('b', 1, 'succeeded', { v: 2, list: [1, 2] }, usage(0.02)),
      row('c', 1, 'succeeded', { v: 3 }),
      row('d', 1, 'failed', null),
    ];
    const b = [
      row('a', 1, 'succeeded', { v: 1 }, { reused_from: 'A', reused_attempt: 1, started_at: null, finished_at: null, duration_ms: null }),
      row('b', 1, 'failed', null, usage(0.01)),
      row('b', 2, 'succeeded', { v: 2, list: [1, 3], extra: true }, usage(0.03)),
      row('c', 1, 'succeeded', { v: 3 }),
    ];
    const cmp = compareRuns(
      { wf: wf('A'), rows: a },
      { wf: wf('B', { forked_from: 'A', fork_step: 'b', finished_at: new Date(250) }), rows: b },
    );
    expect(cmp.relation).toBe('b_forked_from_a');
    expect(cmp.summary).toEqual({
      reused: ['a'],
      ran_in_both: ['b', 'c'],
      changed: ['b'],
      unchanged: ['c'],
      only_a: ['d'],
      only_b: [],
      not_run: [],
      duration_delta_ms: 150,
      tokens_delta: 0,
      cost_delta_usd: expect.closeTo(0.01, 10),
    });
    const [sa, sb] = [cmp.steps[0]!, cmp.steps[1]!];
    expect(sa).toMatchObject({
      verdict: 'reused',
      b: { reused_from: { task_id: 'A', attempt: 1 }, attempts: 0, duration_ms: 0, tokens: 0 },
    });
    expect(sb.diff).toEqual([
      { op: 'changed', path: '/list/1', old: 2, value: 3 },
      { op: 'added', path: '/extra', value: true },
    ]);
    // Both of b's attempts count, the failed one too: 10 + 20 ms, and both were paid for.
    expect(sb).toMatchObject({
      a: { duration_ms: 10, attempts: 1 },
      b: { duration_ms: 30, attempts: 2, tokens: 30 },
      duration_delta_ms: 20,
    });
    expect(sb.cost_delta_usd).toBeCloseTo(0.02, 10);
  });

  it('a step whose outputs differ only in timings is unchanged, with those differences listed as timing', () => {
    const log = (ms: string, verdict = 'passed') => `✔ slugify is exported (${ms}ms)\nTests 1 ${verdict}\nDuration 1.2${ms.slice(-1)}s`;
    const out = (ms: string, duration: number, at: string, verdict?: string) => ({
      steps: [{ name: 'test', status: 'passed', duration_ms: duration, log_tail: log(ms, verdict), finished_at: at }],
      elapsed: duration / 1000,
    });
    const cmp = compareRuns(
      {
        wf: wf('A'),
        rows: [
          row('a', 1, 'succeeded', out('0.495', 89, '2026-12-03T13:26:34.521Z')),
          row('b', 1, 'succeeded', out('0.495', 89, '2026-12-03T13:26:34.521Z')),
        ],
      },
      {
        wf: wf('B'),
        rows: [
          row('a', 1, 'succeeded', out('0.532', 78, '2026-12-03T13:28:01.003Z')),
          row('b', 1, 'succeeded', out('0.532', 78, '2026-12-03T13:28:01.003Z', 'failed')),
        ],
      },
    );
    const [sa, sb] = [cmp.steps[0]!, cmp.steps[1]!];
    expect(sa.verdict).toBe('unchanged');
    expect(sa.output_differs).toBe(true);
    expect(sa.diff).toEqual([
      { op: 'changed', path: '/steps/0/duration_ms', old: 89, value: 78, timing: true },
      { op: 'changed', path: '/steps/0/log_tail', old: log('0.495'), value: log('0.532'), timing: true },
      { op: 'changed', path: '/steps/0/finished_at', old: '2026-12-03T13:26:34.521Z', value: '2026-12-03T13:28:01.003Z', timing: true },
      { op: 'changed', path: '/elapsed', old: 0.089, value: 0.078, timing: true },
    ]);
    // A log whose words changed is a change, whatever its timings did; so is a time in an answer.
    const answer = compareRuns(
      { wf: wf('A'), rows: [row('a', 1, 'succeeded', { text: 'It takes 5 s' })] },
      { wf: wf('B'), rows: [row('a', 1, 'succeeded', { text: 'It takes 9 s' })] },
    );
    expect(answer.steps[0]).toMatchObject({ verdict: 'changed', diff: [{ op: 'changed', path: '/text' }] });
    expect(answer.steps[0]!.diff[0]).not.toHaveProperty('timing');
    expect(sb.verdict).toBe('changed');
    expect(cmp.summary).toMatchObject({ changed: ['b'], unchanged: ['a'] });
  });

  it('an unpriced model leaves the cost unknown, not zero', () => {
    const cmp = compareRuns({ wf: wf('A'), rows: [row('a', 1, 'succeeded', {}, usage(null))] }, { wf: wf('B'), rows: [] });
    expect(cmp.steps[0]!.a.cost_usd).toBeNull();
    expect(cmp.steps[0]!.a.tokens).toBe(15);
    expect(cmp.summary.only_a).toEqual(['a']);
  });
});
