import type { Queryable } from './db.ts';
import { planColumn, type EventRow, type NewEvent, type NewStep } from './rows.ts';

// A workflow's event log: numbered per workflow (workflows.event_seq counts them), from three places.
// Most of it is the step rows themselves: an attempt's row says when it started (start_seq) and
// when it succeeded (end_seq, duration_ms, replayed), so `step_started` and `step_succeeded` are
// read back from it rather than written twice. The workflow's row likewise carries the
// `workflow_started` of its submit and its `workflow_succeeded` (start_seq, end_seq). Everything
// else (a start after a queue or a delay, a failure and its retry, a skip, a branch, an approval, a
// takeover, a failed or cancelled end) is a row of workflow_events.
// A write numbers its events in the order it was given them, so the log reads back in that order.

/** Where each event of one write goes: its number within the write (1-based), and whether a step row carries it. */
export interface PlacedEvents {
  count: number;
  rows: Array<{ k: number; event: NewEvent }>;
  /** step:attempt of a new attempt row -> the number of its step_started event. */
  starts: Map<string, number>;
  /** step:attempt of a finished attempt -> its step_succeeded event. */
  ends: Map<string, { k: number; durationMs: number | null; replayed: boolean }>;
  /** The workflow_started a new workflow's row carries: its number and owner. */
  workflowStart?: { k: number; owner: string };
  /** The number of the workflow_succeeded the row of a workflow that succeeds here carries. */
  workflowEnd?: number;
}

/** What the workflow row of a write can carry: a new row's start (its plan has `steps` steps), a success. */
export interface RowCarries {
  steps?: number;
  succeeds?: boolean;
}

const attemptKey = (step: string | undefined, attempt: number | undefined) => `${step}:${attempt}`;

/**
 * Decides which events of a write the step rows it writes can carry: a `step_started` of an
 * attempt row it inserts as running, and a `step_succeeded` of an attempt it finishes, when their
 * data is exactly what the row can give back (agent, duration, replayed, decision).
 */
export function placeEvents(
  events: readonly NewEvent[],
  newSteps: readonly NewStep[],
  finished: ReadonlyArray<{ stepId: string; attempt: number; output?: unknown }>,
  carries: RowCarries = {},
): PlacedEvents {
  const running = new Map(newSteps.filter((s) => s.status === 'running').map((s) => [attemptKey(s.step_id, s.attempt), s]));
  const done = new Map(finished.map((f) => [attemptKey(f.stepId, f.attempt), f]));
  const placed: PlacedEvents = { count: events.length, rows: [], starts: new Map(), ends: new Map() };
  events.forEach((event, i) => {
    const k = i + 1;
    const key = attemptKey(event.step_id, event.attempt);
    const data = event.data ?? {};
    const row = running.get(key);
    if (event.type === 'step_started' && row && !placed.starts.has(key) && sameKeys(data, ['agent']) && data.agent === row.agent) {
      placed.starts.set(key, k);
      return;
    }
    const fin = done.get(key);
    if (event.type === 'step_succeeded' && fin && !placed.ends.has(key) && carriesSuccess(data, fin.output)) {
      placed.ends.set(key, {
        k,
        durationMs: typeof data.duration_ms === 'number' ? data.duration_ms : null,
        replayed: data.replayed === true,
      });
      return;
    }
    if (
      event.type === 'workflow_started' &&
      carries.steps !== undefined &&
      !placed.workflowStart &&
      sameKeys(data, ['owner', 'steps']) &&
      typeof data.owner === 'string' &&
      data.steps === carries.steps
    ) {
      placed.workflowStart = { k, owner: data.owner };
      return;
    }
    if (event.type === 'workflow_succeeded' && carries.succeeds && placed.workflowEnd === undefined && Object.keys(data).length === 0) {
      placed.workflowEnd = k;
      return;
    }
    placed.rows.push({ k, event });
  });
  return placed;
}

function sameKeys(data: Record<string, unknown>, allowed: string[]): boolean {
  return Object.keys(data).every((k) => allowed.includes(k));
}

/** Can the finished row give this event's data back: its agent, duration, replayed, and the output's decision? */
function carriesSuccess(data: Record<string, unknown>, output: unknown): boolean {
  if (!sameKeys(data, ['agent', 'duration_ms', 'replayed', 'decision']) || typeof data.agent !== 'string') return false;
  if (data.replayed !== undefined && data.replayed !== true) return false;
  if (data.duration_ms !== undefined && !Number.isInteger(data.duration_ms)) return false;
  const decision = (output as { decision?: unknown } | null | undefined)?.decision;
  return data.decision === (decision === 'approved' || decision === 'rejected' ? decision : undefined);
}

/** The log of one workflow after event number `after`, in order; `id` is the event's number. */
export async function listEvents(db: Queryable, workflowId: string, after: number, limit = 500): Promise<EventRow[]> {
  return db.query<EventRow>(
    `SELECT * FROM (
       SELECT seq AS id, workflow_id, type, step_id, attempt, data, created_at
       FROM workflow_events WHERE workflow_id = $1 AND seq > $2
       UNION ALL
       SELECT start_seq, workflow_id, 'step_started', step_id, attempt, jsonb_build_object('agent', agent), coalesce(started_at, created_at)
       FROM steps WHERE workflow_id = $1 AND start_seq > $2
       UNION ALL
       SELECT end_seq, workflow_id, 'step_succeeded', step_id, attempt,
              jsonb_build_object('agent', agent)
                || CASE WHEN duration_ms IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('duration_ms', duration_ms) END
                || CASE WHEN replayed THEN '{"replayed": true}'::jsonb ELSE '{}'::jsonb END
                || CASE WHEN output->>'decision' IN ('approved', 'rejected') THEN jsonb_build_object('decision', output->>'decision') ELSE '{}'::jsonb END,
              coalesce(finished_at, created_at)
       FROM steps WHERE workflow_id = $1 AND end_seq > $2
       UNION ALL
       SELECT start_seq, id, 'workflow_started', NULL, NULL,
              jsonb_build_object('owner', start_owner, 'steps', jsonb_array_length(w.plan->'steps')), created_at
       FROM (SELECT start_seq, id, start_owner, created_at, ${planColumn('workflows')} FROM workflows WHERE id = $1 AND start_seq > $2) w
       UNION ALL
       SELECT end_seq, id, 'workflow_succeeded', NULL, NULL, '{}'::jsonb, finished_at
       FROM workflows WHERE id = $1 AND end_seq > $2
     ) e
     ORDER BY id
     LIMIT $3`,
    [workflowId, after, limit],
  );
}

/** Events outside a step's commit (a breaker opening, say); not lease-guarded: they only inform. */
/** The data of a workflow's first event of one type (its planning's `plan_checked`, say), or null. */
export async function firstEventData(db: Queryable, workflowId: string, type: string): Promise<Record<string, unknown> | null> {
  const rows = await db.query<{ data: Record<string, unknown> }>(
    'SELECT data FROM workflow_events WHERE workflow_id = $1 AND type = $2 ORDER BY seq LIMIT 1',
    [workflowId, type],
  );
  return rows[0]?.data ?? null;
}

export async function appendEvents(db: Queryable, workflowId: string, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.query(
    `WITH w AS (
       UPDATE workflows SET event_seq = event_seq + $3 WHERE id = $1 RETURNING event_seq - $3 AS base
     )
     INSERT INTO workflow_events (workflow_id, seq, type, step_id, attempt, data)
     SELECT $1, w.base + x.k, x.e->>'type', x.e->>'step_id', (x.e->>'attempt')::int, coalesce(x.e->'data', '{}'::jsonb)
     FROM w, jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(e, k)`,
    [workflowId, JSON.stringify(events), events.length],
  );
}

/**
 * One event written by a statement that also bumps the workflow's count: `w` is its CTE over the
 * updated workflows, returning `id` and the new `event_seq`.
 */
export const oneEventFromSql = (type: string, data: string) => `
  INSERT INTO workflow_events (workflow_id, seq, type, data)
  SELECT w.id, w.event_seq, '${type}', ${data} FROM w`;
