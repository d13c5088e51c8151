import type { SerializedError } from '../errors/index.ts';
import type { Usage } from '../protocol/usage.ts';
import { prepared, type Queryable } from './db.ts';
import { placeEvents } from './event-log.ts';
import {
  storedAttemptKey,
  type AttemptStatus,
  type Lease,
  type NewDecision,
  type NewEvent,
  type NewStep,
  type WorkflowStatus,
} from './rows.ts';

// The engine's hot path: what a running workflow writes when a step finishes. One statement for any
// number of workflows (group commit), prepared once per connection, every part guarded by the lease
// check on the workflow row, so a replica that lost a lease (or a cancelled workflow) writes nothing
// for that workflow while the others in the statement commit. The workflow-row update (lease
// renewal, event numbers) touches no indexed column, so it is a HOT update (migration 0009); the
// outputs are in the attempts' rows only (the checkpoint is read from them, migration 0018).

export interface FinishedAttempt {
  stepId: string;
  attempt: number;
  status: AttemptStatus;
  output?: unknown;
  error?: SerializedError;
  startedAt?: Date;
  /** The models the attempt called, priced: stored with the result, in the same statement. */
  usage?: Usage;
}

export interface Progress {
  workflowId: string;
  lease: Lease;
  /** The attempt that finished, if any. */
  step?: FinishedAttempt;
  /** Steps a loop sends round again: their succeeded attempts become 'superseded' (out of the checkpoint). */
  supersede?: string[];
  newSteps?: NewStep[];
  events?: NewEvent[];
  decisions?: NewDecision[];
  final?: { status: WorkflowStatus; error: SerializedError | null };
  /** Nothing runs, a person must answer: release the lease, look again at wakeAt (a deadline) if any. */
  park?: { wakeAt: Date | null };
}

/** One workflow's part of a batch: one or more of its commits, in order (see the group committer). */
export interface CommitMember extends Omit<Progress, 'lease' | 'step'> {
  finished: FinishedAttempt[];
}

const batchSql = prepared(
  'mesh_commit_batch',
  `
  WITH m AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS m(id uuid, status text, error jsonb, wake_at timestamptz, supersede text[], touched boolean, events int, end_k int)
  ), w AS (
    UPDATE workflows SET
      last_checkpoint = CASE WHEN m.touched THEN now() ELSE workflows.last_checkpoint END,
      lease_expires_at = CASE WHEN m.status IS NULL THEN now() + $7::int * interval '1 millisecond' END,
      lease_owner = CASE WHEN m.status IS NULL THEN workflows.lease_owner END,
      lease_incarnation = CASE WHEN m.status IS NULL THEN workflows.lease_incarnation END,
      status = coalesce(m.status, workflows.status),
      error = CASE WHEN m.status IS NULL OR m.status = 'waiting' THEN workflows.error ELSE m.error END,
      finished_at = CASE WHEN m.status IS NULL OR m.status = 'waiting' THEN workflows.finished_at ELSE now() END,
      wake_at = CASE WHEN m.status = 'waiting' THEN m.wake_at END,
      event_seq = workflows.event_seq + m.events,
      end_seq = CASE WHEN m.end_k IS NULL THEN workflows.end_seq ELSE workflows.event_seq + m.end_k END,
      updated_at = now()
    FROM m
    -- The id list lets the planner fetch each row by primary key instead of joining every running one.
    WHERE workflows.id = ANY($8::uuid[]) AND workflows.id = m.id AND workflows.lease_incarnation = $1 AND workflows.status = 'running'
    -- base: the number of the workflow's last event before this write; its events are base + k.
    RETURNING workflows.id, workflows.event_seq - m.events AS base
  ), f AS (
    UPDATE steps SET status = f.status, output = f.output, error = f.error, finished_at = now(),
      started_at = coalesce(f.started_at, steps.started_at),
      end_seq = w.base + f.end_k, duration_ms = f.duration_ms, replayed = coalesce(f.replayed, false),
      usage = coalesce(f.usage, steps.usage)
    FROM jsonb_to_recordset($3::jsonb)
      AS f(id uuid, step_id text, attempt int, status text, output jsonb, error jsonb, started_at timestamptz, end_k int, duration_ms int,
           replayed boolean, usage jsonb)
    JOIN w ON w.id = f.id
    WHERE steps.workflow_id = f.id AND steps.step_id = f.step_id AND steps.attempt = f.attempt
    RETURNING steps.workflow_id, steps.step_id, steps.attempt, f.usage IS NOT NULL AS priced
  ), u AS (
    -- GET /usage finds priced attempts by when they finished through this table, not an index on
    -- steps, which would make every finished attempt a non-HOT update (migration 0017).
    INSERT INTO usage_ledger (workflow_id, step_id, attempt, finished_at)
    SELECT workflow_id, step_id, attempt, now() FROM f WHERE priced
    ON CONFLICT DO NOTHING
  ), old AS (
    UPDATE steps SET status = 'superseded'
    FROM (SELECT m.id, unnest(m.supersede) AS step_id FROM m WHERE m.supersede IS NOT NULL) x
    WHERE steps.workflow_id = x.id AND steps.step_id = x.step_id AND steps.status = 'succeeded' AND x.id IN (SELECT id FROM w)
  ), n AS (
    INSERT INTO steps (workflow_id, step_id, attempt, agent, status, input, idempotency_key, started_at, start_seq)
    SELECT x.id, x.step_id, x.attempt, x.agent, x.status, x.input, ${storedAttemptKey},
           CASE WHEN x.status IN ('running', 'waiting') THEN now() END, w.base + x.start_k
    FROM jsonb_to_recordset($4::jsonb)
      AS x(id uuid, step_id text, attempt int, agent text, status text, input jsonb, idempotency_key text, start_k int)
    JOIN w ON w.id = x.id
  ), e AS (
    INSERT INTO workflow_events (workflow_id, seq, type, step_id, attempt, data)
    SELECT x.id, w.base + x.k, x.type, x.step_id, x.attempt, coalesce(x.data, '{}'::jsonb)
    FROM jsonb_to_recordset($5::jsonb) AS x(id uuid, k int, type text, step_id text, attempt int, data jsonb)
    JOIN w ON w.id = x.id
  ), d AS (
    INSERT INTO workflow_decisions (workflow_id, step_id, attempt, outcome, branch, action, target, iteration, reason)
    SELECT x.id, x.step_id, x.attempt, x.outcome, x.branch, x.action, x.target, x.iteration, x.reason
    FROM jsonb_to_recordset($6::jsonb)
      AS x(id uuid, seq int, step_id text, attempt int, outcome text, branch text, action text, target text, iteration int, reason text)
    WHERE x.id IN (SELECT id FROM w)
    ORDER BY x.seq
  )
  SELECT id FROM w`,
);

/**
 * Commits the progress of several workflows held by `lease` in one statement (one transaction):
 * for each, its finished attempts, the attempts they unblock, decisions, events, and the
 * final or parked status. Returns the workflows whose lease held; the others wrote nothing. Each
 * workflow may appear once.
 */
export async function commitBatch(
  db: Queryable,
  lease: Pick<Lease, 'incarnation' | 'ms'>,
  members: readonly CommitMember[],
): Promise<Set<string>> {
  const workflows: unknown[] = [];
  const finished: unknown[] = [];
  const newSteps: unknown[] = [];
  const events: unknown[] = [];
  const decisions: unknown[] = [];
  for (const m of members) {
    const id = m.workflowId;
    const placed = placeEvents(m.events ?? [], m.newSteps ?? [], m.finished, { succeeds: m.final?.status === 'succeeded' });
    workflows.push({
      id,
      status: m.final?.status ?? (m.park ? 'waiting' : null),
      error: m.final?.error ?? null,
      wake_at: m.park?.wakeAt ?? null,
      supersede: m.supersede?.length ? m.supersede : null,
      touched: m.finished.length > 0,
      events: placed.count,
      end_k: placed.workflowEnd ?? null,
    });
    for (const f of m.finished) {
      const end = placed.ends.get(`${f.stepId}:${f.attempt}`);
      finished.push({
        id,
        step_id: f.stepId,
        attempt: f.attempt,
        status: f.status,
        output: f.output ?? null,
        error: f.error ?? null,
        started_at: f.startedAt ?? null,
        end_k: end?.k ?? null,
        duration_ms: end?.durationMs ?? null,
        replayed: end?.replayed ?? false,
        usage: f.usage?.length ? f.usage : null,
      });
    }
    for (const n of m.newSteps ?? []) newSteps.push({ id, ...n, start_k: placed.starts.get(`${n.step_id}:${n.attempt}`) ?? null });
    for (const { k, event: e } of placed.rows)
      events.push({ id, k, type: e.type, step_id: e.step_id ?? null, attempt: e.attempt ?? null, data: e.data ?? null });
    for (const d of m.decisions ?? []) decisions.push({ id, seq: decisions.length, ...d });
  }
  const rows = await db.query<{ id: string }>(batchSql, [
    lease.incarnation,
    JSON.stringify(workflows),
    JSON.stringify(finished),
    JSON.stringify(newSteps),
    JSON.stringify(events),
    JSON.stringify(decisions),
    lease.ms,
    members.map((m) => m.workflowId),
  ]);
  return new Set(rows.map((r) => r.id));
}

/** Commits one workflow's progress. False: the lease is lost (or the workflow no longer runs), nothing was written. */
export async function commitProgress(db: Queryable, p: Progress): Promise<boolean> {
  const { lease, step, ...rest } = p;
  const committed = await commitBatch(db, lease, [{ ...rest, finished: step ? [step] : [] }]);
  return committed.has(p.workflowId);
}
