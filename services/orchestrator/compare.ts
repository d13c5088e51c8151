import diff, { type Difference } from 'microdiff';
import type { StepRow, WorkflowRow } from '../state/index.ts';
import { lineageOf, reuseOf } from '../state/fork-store.ts';

// GET /tasks/:a/compare/:b: two runs side by side, step by step. Built for a run and its fork (what
// did changing that step change downstream), but any two runs compare: steps line up by id.

export interface RunRecord {
  wf: WorkflowRow;
  rows: readonly StepRow[];
}

/** One run's side of a step. */
interface Side {
  status: string;
  attempts: number;
  /** Where its result came from when it was reused instead of run: the run and attempt whose agent produced it. */
  reused_from: { task_id: string; attempt: number | null } | null;
  /** Time its agents spent on it, over every attempt that ran; 0 when reused. */
  duration_ms: number;
  /** Tokens its model calls used, over every attempt. */
  tokens: number;
  /** What its model calls cost over every attempt (null when none reports a cost). */
  cost_usd: number | null;
}

/** One difference of two outputs. */
interface Change {
  op: 'added' | 'removed' | 'changed';
  path: string;
  old?: unknown;
  value?: unknown;
  timing?: true;
}

type Verdict = 'reused' | 'changed' | 'unchanged' | 'only_a' | 'only_b' | 'not_run';

/** The diff is capped: a step that rewrote a whole document should not make the answer megabytes. */
const MAX_CHANGES = 200;

export function compareRuns(a: RunRecord, b: RunRecord) {
  const [byA, byB] = [byStep(a.rows), byStep(b.rows)];
  const ids = [...new Set([...b.wf.plan.steps.map((s) => s.id), ...a.wf.plan.steps.map((s) => s.id)])];
  const steps = ids.map((id) => {
    const [ra, rb] = [byA.get(id) ?? [], byB.get(id) ?? []];
    const [sa, sb] = [side(ra), side(rb)];
    const [oa, ob] = [finalOutput(ra), finalOutput(rb)];
    const changes = oa !== undefined && ob !== undefined ? diff(oa, ob).map(describe) : [];
    const ranA = ra.some(ran);
    const ranB = rb.some(ran);
    const verdict: Verdict =
      sa.reused_from || sb.reused_from
        ? 'reused'
        : ranA && ranB
          ? changes.some((c) => !c.timing) || oa === undefined || ob === undefined
            ? 'changed'
            : 'unchanged'
          : ranA
            ? 'only_a'
            : ranB
              ? 'only_b'
              : 'not_run';
    return {
      step_id: id,
      verdict,
      a: sa,
      b: sb,
      output_differs: oa !== undefined && ob !== undefined ? changes.length > 0 : oa !== ob,
      diff: changes.slice(0, MAX_CHANGES),
      diff_truncated: changes.length > MAX_CHANGES,
      duration_delta_ms: sb.duration_ms - sa.duration_ms,
      tokens_delta: sb.tokens - sa.tokens,
      cost_delta_usd: sa.cost_usd === null && sb.cost_usd === null ? null : (sb.cost_usd ?? 0) - (sa.cost_usd ?? 0),
    };
  });
  const pick = (v: Verdict) => steps.filter((s) => s.verdict === v).map((s) => s.step_id);
  const [da, db] = [runDuration(a.wf), runDuration(b.wf)];
  const [ca, cb] = [sum(steps.map((s) => s.a.cost_usd)), sum(steps.map((s) => s.b.cost_usd))];
  const [ta, tb] = [steps.reduce((n, s) => n + s.a.tokens, 0), steps.reduce((n, s) => n + s.b.tokens, 0)];
  return {
    a: runSide(a.wf, da, ta, ca),
    b: runSide(b.wf, db, tb, cb),
    relation:
      lineageOf(b.wf).forked_from === a.wf.id ? 'b_forked_from_a' : lineageOf(a.wf).forked_from === b.wf.id ? 'a_forked_from_b' : null,
    summary: {
      reused: pick('reused'),
      ran_in_both: steps.filter((s) => s.verdict === 'changed' || s.verdict === 'unchanged').map((s) => s.step_id),
      changed: pick('changed'),
      unchanged: pick('unchanged'),
      only_a: pick('only_a'),
      only_b: pick('only_b'),
      not_run: pick('not_run'),
      duration_delta_ms: da !== null && db !== null ? db - da : null,
      tokens_delta: tb - ta,
      cost_delta_usd: ca === null && cb === null ? null : (cb ?? 0) - (ca ?? 0),
    },
    steps,
  };
}

function byStep(rows: readonly StepRow[]): Map<string, StepRow[]> {
  const out = new Map<string, StepRow[]>();
  for (const r of [...rows].sort((x, y) => x.attempt - y.attempt)) out.set(r.step_id, [...(out.get(r.step_id) ?? []), r]);
  return out;
}

/** An attempt that went to an agent (or a person): not one copied from another run. */
const ran = (r: StepRow) => reuseOf(r).reused_from === null && r.status !== 'scheduled';

function side(rows: readonly StepRow[]): Side {
  const last = rows.at(-1);
  const mark = last ? reuseOf(last) : null;
  return {
    status: last ? (last.status === 'superseded' ? 'pending' : last.status) : 'not_run',
    attempts: rows.filter(ran).length,
    reused_from: mark?.reused_from ? { task_id: mark.reused_from, attempt: mark.reused_attempt } : null,
    duration_ms: rows.filter(ran).reduce((n, r) => n + attemptMs(r), 0),
    tokens: rows.reduce((n, r) => n + attemptTokens(r), 0),
    cost_usd: sum(rows.map(attemptCost)),
  };
}

function attemptMs(r: StepRow): number {
  if (r.duration_ms !== null) return r.duration_ms;
  return r.started_at && r.finished_at ? r.finished_at.getTime() - r.started_at.getTime() : 0;
}

/** What an attempt's model calls were, as the ledger stores them with the result (steps.usage, migration 0014). */
type UsageLine = { prompt_tokens?: number; completion_tokens?: number; cost_usd?: number | null };

function usageOf(r: StepRow): UsageLine[] {
  // A reused attempt cost nothing here, whatever it cost where it ran (its row carries no usage).
  const usage = (r as StepRow & { usage?: UsageLine[] | null }).usage;
  return Array.isArray(usage) ? usage : [];
}

/** Null when nothing was spent on models, or when a model it used has no price: unknown, not zero. */
function attemptCost(r: StepRow): number | null {
  const lines = usageOf(r);
  if (lines.length === 0 || lines.some((u) => typeof u.cost_usd !== 'number')) return null;
  return lines.reduce((n, u) => n + (u.cost_usd ?? 0), 0);
}

function attemptTokens(r: StepRow): number {
  return usageOf(r).reduce((n, u) => n + (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0), 0);
}

function sum(xs: ReadonlyArray<number | null>): number | null {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : known.reduce((n, x) => n + x, 0);
}

function finalOutput(rows: readonly StepRow[]): Record<string, unknown> | undefined {
  const last = rows.at(-1);
  return last?.status === 'succeeded' && last.output ? last.output : undefined;
}

function runDuration(wf: WorkflowRow): number | null {
  return wf.started_at && wf.finished_at ? wf.finished_at.getTime() - wf.started_at.getTime() : null;
}

function runSide(wf: WorkflowRow, durationMs: number | null, tokens: number, costUsd: number | null) {
  const { forked_from, fork_step } = lineageOf(wf);
  return { task_id: wf.id, status: wf.status, forked_from, fork_step, duration_ms: durationMs, tokens, cost_usd: costUsd };
}

/**
 * A change as JSON can say it: the path as a JSON pointer-like string, and the values before and
 * after; `timing` when only a time differs, which a run again always changes and which does not make
 * the step's result another one.
 */
function describe(d: Difference): Change {
  const path = d.path.length === 0 ? '/' : `/${d.path.map(String).join('/')}`;
  switch (d.type) {
    case 'CREATE':
      return { op: 'added', path, value: d.value as unknown };
    case 'REMOVE':
      return { op: 'removed', path, old: d.oldValue as unknown };
    case 'CHANGE':
      return {
        op: 'changed',
        path,
        old: d.oldValue as unknown,
        value: d.value as unknown,
        ...(isTiming(d.path.at(-1), d.oldValue, d.value) ? { timing: true as const } : {}),
      };
  }
}

// A field that holds a time or a duration: duration_ms, elapsed, finished_at, startedAt, durationMs.
const TIME_KEY = /^(duration|elapsed|took|latency|timestamp|time)(_?(ms|us|ns|s|sec|seconds))?$|_(ms|at)$|[a-z](Ms|At)$/i;
// A field holding a process's log: log_tail, logs, stdout, stderr.
const LOG_KEY = /log|stdout|stderr/i;
// In a log (a test runner's): a date-time, a clock time, or an amount of time ("0.495ms", "1.2 s").
const TIME_IN_TEXT =
  /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?|\b\d{1,2}:\d{2}:\d{2}(\.\d+)?|\d+(\.\d+)?\s?(ns|µs|μs|us|ms|s|secs?|seconds|mins?|minutes|h)\b/g;

function isTiming(key: string | number | undefined, before: unknown, after: unknown): boolean {
  if (typeof key === 'string' && TIME_KEY.test(key)) {
    const timeLike = (v: unknown) => typeof v === 'number' || (typeof v === 'string' && !Number.isNaN(Date.parse(v)));
    if (timeLike(before) && timeLike(after)) return true;
  }
  // Only in a log: in an answer ("it takes 5 minutes"), a time is what was asked.
  return (
    typeof key === 'string' &&
    LOG_KEY.test(key) &&
    typeof before === 'string' &&
    typeof after === 'string' &&
    before.replace(TIME_IN_TEXT, '#') === after.replace(TIME_IN_TEXT, '#')
  );
}
