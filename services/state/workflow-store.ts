import type { Usage } from '../protocol/usage.ts';
import { prepared, type Queryable } from './db.ts';
import { oneEventFromSql, placeEvents } from './event-log.ts';
import type { Budget, Plan } from './plan.ts';
import {
  attemptKeyColumn,
  checkpointOf,
  planColumn,
  planOf,
  planLockArgs,
  storedAttemptKey,
  type DecisionRow,
  type Lease,
  type NewEvent,
  type NewStep,
  type StepRow,
  type WorkflowRow,
  type WorkflowStatus,
} from './rows.ts';

// Every write on the engine's hot path is ONE statement: data-modifying CTEs make it one round trip
// and one commit, and each part is guarded by the lease check in the first CTE, so a replica that
// lost its lease (or a cancelled workflow) writes nothing at all.

export { commitBatch, commitProgress, type CommitMember, type FinishedAttempt, type Progress } from './progress-store.ts';
export type { Lease } from './rows.ts';

export { appendEvents, firstEventData, listEvents } from './event-log.ts';

export interface InsertWorkflow {
  id: string;
  description: string | null;
  status: 'planned' | 'scheduled' | 'queued' | 'running';
  plan: Plan;
  input: Record<string, unknown>;
  /** Null for a planned or scheduled workflow: nobody holds it until it starts. */
  lease: Lease | null;
  /** A scheduled workflow's start time. */
  runAt?: Date | null;
  /** Per-key concurrency: the key's value and its limit (concurrency-store.ts). */
  concurrency?: { key: string; limit: number; strategy?: string } | null;
  /** 1-5, higher first among queued work of one key; 3 when not given. */
  priority?: number;
  steps: NewStep[];
  events: NewEvent[];
  traceParent?: string | null;
  /** The client's Idempotency-Key, unique among workflows. */
  idempotencyKey?: string | null;
  /** Fingerprint of the request that made it, to tell a retry from a reused key. */
  requestHash?: string | null;
  /** The API key that submitted it. */
  submittedBy?: string | null;
  /** What the model planner spent making its plan (priced), when a model planned it. */
  planningUsage?: Usage | null;
}

const insertBatchSql = prepared(
  'mesh_insert_workflows',
  `
  WITH x AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
      AS x(id uuid, description text, status text, plan jsonb, input jsonb, lease_owner text, lease_incarnation uuid, lease_ms int,
           trace_parent text, idempotency_key text, request_hash text, events int, submitted_by text, run_at timestamptz,
           concurrency_key text, concurrency_limit int, concurrency_strategy text, priority int, start_k int, start_owner text,
           planning_usage jsonb)
  ), h AS (
    SELECT x.*, sha256(convert_to(x.plan::text, 'UTF8')) AS plan_hash FROM x
  ), l AS (
    SELECT pg_advisory_xact_lock_shared(${planLockArgs('k.plan_hash')}) FROM (SELECT DISTINCT plan_hash FROM h) k
  ), p AS (
    -- A plan already stored is not written again (a conflict found by the index writes nothing). The
    -- count takes every lock before the first row is looked up.
    INSERT INTO plans (hash, plan)
    SELECT DISTINCT ON (h.plan_hash) h.plan_hash, h.plan FROM h WHERE (SELECT count(*) FROM l) > 0
    ON CONFLICT DO NOTHING
  ), w AS (
    INSERT INTO workflows (id, description, status, plan_hash, input, lease_owner, lease_incarnation, lease_expires_at, started_at, trace_parent, idempotency_key, request_hash, event_seq, submitted_by, wake_at, concurrency_key, concurrency_limit, concurrency_strategy, priority, start_seq, start_owner, planning_usage)
    SELECT id, description, status, plan_hash, input, lease_owner, lease_incarnation,
           CASE WHEN lease_owner IS NULL THEN NULL ELSE now() + lease_ms * interval '1 millisecond' END,
           CASE WHEN status = 'running' THEN now() END, trace_parent, idempotency_key, request_hash, events, submitted_by, run_at, concurrency_key, concurrency_limit, concurrency_strategy, priority,
           start_k, start_owner, planning_usage
    FROM h
    ON CONFLICT DO NOTHING
    RETURNING id
  ), s AS (
    INSERT INTO steps (workflow_id, step_id, attempt, agent, status, input, idempotency_key, started_at, start_seq)
    SELECT x.id, x.step_id, x.attempt, x.agent, x.status, x.input, ${storedAttemptKey},
           CASE WHEN x.status IN ('running', 'waiting') THEN now() END, x.start_k
    FROM jsonb_to_recordset($2::jsonb)
      AS x(id uuid, step_id text, attempt int, agent text, status text, input jsonb, idempotency_key text, start_k int)
    WHERE x.id IN (SELECT id FROM w)
  ), e AS (
    INSERT INTO workflow_events (workflow_id, seq, type, step_id, attempt, data)
    SELECT x.id, x.k, x.type, x.step_id, x.attempt, coalesce(x.data, '{}'::jsonb)
    FROM jsonb_to_recordset($3::jsonb) AS x(id uuid, k int, type text, step_id text, attempt int, data jsonb)
    WHERE x.id IN (SELECT id FROM w)
  )
  SELECT id FROM w`,
);

/**
 * Writes new workflows, each with its first attempts and events, in one statement. Returns those
 * written: a workflow whose id or idempotency key is taken (a retried or racing submit) writes
 * nothing at all, and the caller reads the one that exists.
 */
export async function insertWorkflows(db: Queryable, ws: readonly InsertWorkflow[]): Promise<Set<string>> {
  const rows: unknown[] = [];
  const steps: unknown[] = [];
  const events: unknown[] = [];
  for (const w of ws) {
    const placed = placeEvents(w.events, w.steps, [], { steps: w.plan.steps.length });
    rows.push({
      id: w.id,
      description: w.description,
      status: w.status,
      plan: w.plan,
      input: w.input,
      lease_owner: w.lease?.owner ?? null,
      lease_incarnation: w.lease?.incarnation ?? null,
      lease_ms: w.lease?.ms ?? 0,
      trace_parent: w.traceParent ?? null,
      idempotency_key: w.idempotencyKey ?? null,
      request_hash: w.requestHash ?? null,
      events: placed.count,
      submitted_by: w.submittedBy ?? null,
      run_at: w.runAt?.toISOString() ?? null,
      concurrency_key: w.concurrency?.key ?? null,
      concurrency_limit: w.concurrency?.limit ?? null,
      concurrency_strategy: w.concurrency?.strategy ?? null,
      priority: w.priority ?? 3,
      start_k: placed.workflowStart?.k ?? null,
      start_owner: placed.workflowStart?.owner ?? null,
      planning_usage: w.planningUsage?.length ? w.planningUsage : null,
    });
    for (const s of w.steps) steps.push({ id: w.id, ...s, start_k: placed.starts.get(`${s.step_id}:${s.attempt}`) ?? null });
    for (const { k, event: e } of placed.rows)
      events.push({ id: w.id, k, type: e.type, step_id: e.step_id ?? null, attempt: e.attempt ?? null, data: e.data ?? null });
  }
  const created = await db.query<{ id: string }>(insertBatchSql, [JSON.stringify(rows), JSON.stringify(steps), JSON.stringify(events)]);
  return new Set(created.map((r) => r.id));
}

/** Writes one new workflow; false when its id or idempotency key is taken (nothing was written). */
export async function insertWorkflow(db: Queryable, w: InsertWorkflow): Promise<boolean> {
  return (await insertWorkflows(db, [w])).has(w.id);
}

/** The workflow a submit with this idempotency key created, if any. */
export async function getWorkflowByKey(db: Queryable, idempotencyKey: string): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(`SELECT w.*, ${planColumn('w')} FROM workflows w WHERE idempotency_key = $1`, [idempotencyKey]);
  return rows[0] ?? null;
}

export async function getDecisions(db: Queryable, id: string): Promise<DecisionRow[]> {
  return db.query<DecisionRow>('SELECT * FROM workflow_decisions WHERE workflow_id = $1 ORDER BY id', [id]);
}

/**
 * Scheduled workflows whose start time has come (and whether each has a concurrency key, so joins
 * its key's queue rather than starting), and the next start time after them.
 */
export async function dueScheduled(
  db: Queryable,
  limit: number,
): Promise<{ due: Array<{ id: string; keyed: boolean }>; next: Date | null }> {
  const rows = await db.query<{ id: string | null; keyed: boolean | null; next: Date | null }>(
    `(SELECT id, concurrency_key IS NOT NULL AS keyed, NULL::timestamptz AS next FROM workflows
      WHERE status = 'scheduled' AND wake_at <= now() ORDER BY wake_at LIMIT $1)
     UNION ALL
     (SELECT NULL, NULL, wake_at FROM workflows WHERE status = 'scheduled' AND wake_at > now() ORDER BY wake_at LIMIT 1)`,
    [limit],
  );
  return {
    due: rows.flatMap((r) => (r.id ? [{ id: r.id, keyed: r.keyed === true }] : [])),
    next: rows.find((r) => r.next)?.next ?? null,
  };
}

/** Parked workflows whose earliest approval deadline has passed. */
export async function dueParked(db: Queryable, limit: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM workflows WHERE status = 'waiting' AND wake_at < now() ORDER BY wake_at LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}

export interface Claim {
  id: string;
  lease: Lease;
  from: WorkflowStatus[];
  /** For 'running' workflows: only take them when the lease expired or a previous incarnation of this orchestrator held it. */
  onlyExpired: boolean;
  event: NewEvent;
}

/**
 * Takes ownership of one workflow and sets it running; null when it is not in a claimable state.
 * Its start is the clock's time, not the transaction's: an admission (concurrency-store.ts) may
 * have begun before it waited for its key's lock, and its start must not precede what it waited for.
 */
export async function claimWorkflow(db: Queryable, c: Claim): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(
    `WITH w AS (
       UPDATE workflows SET status = 'running', lease_owner = $2, lease_incarnation = $7::uuid,
         lease_expires_at = now() + $3::int * interval '1 millisecond', event_seq = event_seq + 1,
         error = NULL, finished_at = NULL, wake_at = NULL, started_at = coalesce(started_at, clock_timestamp()), updated_at = now()
       WHERE id = $1 AND status = ANY($4::text[])
         AND (NOT $5::boolean OR status <> 'running' OR lease_expires_at < now()
              OR (lease_owner = $2 AND lease_incarnation IS DISTINCT FROM $7::uuid))
       RETURNING *, ${planColumn('workflows')}
     ), e AS (
       INSERT INTO workflow_events (workflow_id, seq, type, data)
       SELECT w.id, w.event_seq, $6::jsonb->>'type', coalesce($6::jsonb->'data', '{}'::jsonb) FROM w
     )
     SELECT * FROM w`,
    [c.id, c.lease.owner, c.lease.ms, c.from, c.onlyExpired, JSON.stringify(c.event), c.lease.incarnation],
  );
  return rows[0] ?? null;
}

/**
 * Claims running workflows whose lease expired, or that a previous incarnation of this orchestrator
 * held. Never one this incarnation holds: whatever it committed, it is driving (or about to).
 */
export async function claimExpired(db: Queryable, lease: Lease, limit: number): Promise<WorkflowRow[]> {
  return db.query<WorkflowRow>(
    `WITH c AS (
       SELECT id, lease_owner FROM workflows
       WHERE status = 'running'
         AND (lease_expires_at < now() OR (lease_owner = $1 AND lease_incarnation IS DISTINCT FROM $4::uuid))
       ORDER BY lease_expires_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     ), w AS (
       UPDATE workflows SET lease_owner = $1, lease_incarnation = $4::uuid,
         lease_expires_at = now() + $2::int * interval '1 millisecond', event_seq = event_seq + 1, updated_at = now()
       FROM c WHERE workflows.id = c.id
       RETURNING workflows.*, ${planColumn('workflows')}, c.lease_owner AS previous_owner
     ), e AS (${oneEventFromSql('workflow_recovered', `jsonb_build_object('owner', $1::text, 'previous_owner', w.previous_owner)`)}
     )
     SELECT * FROM w`,
    [lease.owner, lease.ms, limit, lease.incarnation],
  );
}

/**
 * Extends the leases of these workflows, and says which are still this incarnation's, each with its
 * stored budget when its plan is its own (a changed budget makes it so; null otherwise), so that a
 * budget changed through another replica reaches the run. A row locked right now is skipped, not
 * waited for: only this process's own commit can hold it (and renews it as it commits), and waiting
 * could deadlock with such a commit of several workflows.
 */
export async function renewLeases(db: Queryable, lease: Lease, ids: string[]): Promise<Array<{ id: string; budget: Budget | null }>> {
  if (ids.length === 0) return [];
  return db.query<{ id: string; budget: Budget | null }>(
    `WITH mine AS (
       SELECT id, CASE WHEN plan_hash IS NULL THEN inline_plan->'budget' END AS budget
       FROM workflows WHERE id = ANY($2::uuid[]) AND lease_incarnation = $1 AND status = 'running'
     ), c AS (
       SELECT id FROM workflows WHERE id IN (SELECT id FROM mine) FOR NO KEY UPDATE SKIP LOCKED
     ), u AS (
       UPDATE workflows SET lease_expires_at = now() + $3::int * interval '1 millisecond' FROM c WHERE workflows.id = c.id
     )
     SELECT id, budget FROM mine`,
    [lease.incarnation, ids, lease.ms],
  );
}

/** Lets another replica take these workflows at once, instead of after the lease runs out. */
export async function releaseLeases(db: Queryable, lease: Lease, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE workflows SET lease_expires_at = now() WHERE id = ANY($2::uuid[]) AND lease_incarnation = $1 AND status = 'running'`,
    [lease.incarnation, ids],
  );
}

export async function cancelWorkflow(db: Queryable, id: string, reason: string): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(
    `WITH w AS (
       UPDATE workflows SET status = 'cancelled', lease_owner = NULL, lease_incarnation = NULL, lease_expires_at = NULL,
         error = jsonb_build_object('code', 'CANCELLED', 'message', $2::text, 'retryable', false),
         finished_at = now(), wake_at = NULL, event_seq = event_seq + 1, updated_at = now()
       WHERE id = $1 AND status IN ('planned', 'scheduled', 'queued', 'running', 'waiting')
       RETURNING *, ${planColumn('workflows')}
     ), s AS (
       UPDATE steps SET status = 'cancelled', finished_at = now()
       WHERE workflow_id = $1 AND status IN ('running', 'scheduled', 'waiting') AND EXISTS (SELECT 1 FROM w)
     ), e AS (${oneEventFromSql('workflow_cancelled', `jsonb_build_object('reason', $2::text)`)}
     )
     SELECT * FROM w`,
    [id, reason],
  );
  return rows[0] ?? null;
}

export async function getWorkflow(db: Queryable, id: string): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(`SELECT w.*, ${planColumn('w')} FROM workflows w WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/** A run's checkpoint (checkpointOf): each step's latest succeeded output. */
export async function getCheckpoint(db: Queryable, id: string): Promise<Record<string, unknown>> {
  return checkpointOf(await getSteps(db, id));
}

export async function getSteps(db: Queryable, id: string): Promise<StepRow[]> {
  return db.query<StepRow>(
    `SELECT workflow_id, step_id, attempt, agent, status, input, output, error, ${attemptKeyColumn}, created_at, started_at,
            finished_at, start_seq, end_seq, duration_ms, replayed, usage, reused_from, reused_attempt
     FROM steps WHERE workflow_id = $1 ORDER BY step_id, attempt`,
    [id],
  );
}

export interface ListQuery {
  status?: WorkflowStatus;
  /** Only the workflows this API key submitted. */
  submittedBy?: string;
  /** Only the workflows whose description holds this text, in any case (taken literally: no wildcards). */
  search?: string;
  /** Only the workflows this schedule (by name) started. */
  schedule?: string;
  limit: number;
  /** Keyset cursor: the last row of the previous page. */
  after?: { createdAt: Date; id: string };
}

const likeLiteral = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

/**
 * The data of the `schedule_tick` event of a workflow a schedule started ({schedule, tick,
 * caught_up}), else null. Only a schedule's runs have a key starting "schedule " (a client's key has
 * no spaces), so other rows cost no lookup; a tick's event is its workflow's first.
 */
const scheduleTickOf = (w: string) =>
  `CASE WHEN ${w}.idempotency_key LIKE 'schedule %' THEN
     (SELECT e.data FROM workflow_events e WHERE e.workflow_id = ${w}.id AND e.type = 'schedule_tick' ORDER BY e.seq LIMIT 1)
   END`;

export async function listWorkflows(db: Queryable, q: ListQuery): Promise<WorkflowRow[]> {
  return db.query<WorkflowRow>(
    `SELECT id, description, status, error, created_at, updated_at, started_at, finished_at, last_checkpoint, lease_owner,
            jsonb_path_query_array(${planOf('workflows')}, '$.steps[*].id') AS step_ids, ${scheduleTickOf('workflows')} AS schedule_tick
     FROM workflows
     WHERE ($1::text IS NULL OR status = $1)
       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       AND ($5::text IS NULL OR submitted_by = $5)
       AND ($6::text IS NULL OR description ILIKE $6)
       AND ($7::text IS NULL OR ${scheduleTickOf('workflows')} ->> 'schedule' = $7)
     ORDER BY created_at DESC, id DESC
     LIMIT $4`,
    [
      q.status ?? null,
      q.after?.createdAt ?? null,
      q.after?.id ?? null,
      q.limit,
      q.submittedBy ?? null,
      q.search ? likeLiteral(q.search) : null,
      q.schedule ?? null,
    ],
  );
}
