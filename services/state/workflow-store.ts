import type { SerializedError } from '../errors/index.ts';
import type { Queryable } from './db.ts';
import type { DecisionRow, EventRow, NewDecision, NewEvent, NewStep, Plan, StepRow, StepStatus, WorkflowRow, WorkflowStatus } from './rows.ts';

// Every write on the engine's hot path is ONE statement: data-modifying CTEs make it one round trip
// and one commit, and each part is guarded by the lease check in the first CTE, so a replica that
// lost its lease (or a cancelled workflow) writes nothing at all.

const insertStepsSql = (wf: string, newSteps: string, guard: string) => `
  INSERT INTO steps (workflow_id, step_id, attempt, agent, status, input, idempotency_key, started_at)
  SELECT ${wf}, x.step_id, x.attempt, x.agent, x.status, x.input, x.idempotency_key,
         CASE WHEN x.status IN ('running', 'waiting') THEN now() END
  FROM jsonb_to_recordset(${newSteps}::jsonb)
    AS x(step_id text, attempt int, agent text, status text, input jsonb, idempotency_key text)
  ${guard}`;

const insertEventsSql = (wf: string, events: string, guard: string) => `
  INSERT INTO workflow_events (workflow_id, type, step_id, attempt, data)
  SELECT ${wf}, x.e->>'type', x.e->>'step_id', (x.e->>'attempt')::int, coalesce(x.e->'data', '{}'::jsonb)
  FROM jsonb_array_elements(${events}::jsonb) WITH ORDINALITY AS x(e, ord)
  ${guard}
  ORDER BY x.ord`;

/**
 * Who holds a running workflow: the orchestrator (ORCHESTRATOR_ID, stable across restarts, shown to
 * people) and its incarnation (random per process start). Writes are guarded by the incarnation, so a
 * process never mistakes a previous run of itself for itself, nor the other way round.
 */
export interface Lease {
  owner: string;
  incarnation: string;
  ms: number;
}

export interface InsertWorkflow {
  id: string;
  description: string | null;
  status: 'planned' | 'running';
  plan: Plan;
  input: Record<string, unknown>;
  /** Null for a planned workflow: nobody holds it until it is executed. */
  lease: Lease | null;
  steps: NewStep[];
  events: NewEvent[];
  traceParent?: string | null;
  /** The client's Idempotency-Key, unique among workflows. */
  idempotencyKey?: string | null;
  /** Fingerprint of the request that made it, to tell a retry from a reused key. */
  requestHash?: string | null;
}

/**
 * Writes a new workflow with its first attempts and events. False when its id or idempotency key
 * is taken: then nothing at all was written (a retried or racing submit; the caller reads the one
 * that exists).
 */
export async function insertWorkflow(db: Queryable, w: InsertWorkflow): Promise<boolean> {
  const rows = await db.query<{ id: string }>(
    `WITH w AS (
       INSERT INTO workflows (id, description, status, plan, input, lease_owner, lease_incarnation, lease_expires_at, started_at, trace_parent, idempotency_key, request_hash)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::text, $11::uuid,
               CASE WHEN $6::text IS NULL THEN NULL ELSE now() + $7::int * interval '1 millisecond' END,
               CASE WHEN $3 = 'running' THEN now() END, $10::text, $12::text, $13::text)
       ON CONFLICT DO NOTHING
       RETURNING id
     ), s AS (${insertStepsSql('$1::uuid', '$8', 'WHERE EXISTS (SELECT 1 FROM w)')}
     ), e AS (${insertEventsSql('$1::uuid', '$9', 'WHERE EXISTS (SELECT 1 FROM w)')}
     )
     SELECT id FROM w`,
    [w.id, w.description, w.status, JSON.stringify(w.plan), JSON.stringify(w.input), w.lease?.owner ?? null, w.lease?.ms ?? 0, JSON.stringify(w.steps), JSON.stringify(w.events), w.traceParent ?? null, w.lease?.incarnation ?? null, w.idempotencyKey ?? null, w.requestHash ?? null],
  );
  return rows.length === 1;
}

/** The workflow a submit with this idempotency key created, if any. */
export async function getWorkflowByKey(db: Queryable, idempotencyKey: string): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>('SELECT * FROM workflows WHERE idempotency_key = $1', [idempotencyKey]);
  return rows[0] ?? null;
}

export interface Progress {
  workflowId: string;
  lease: Lease;
  /** The attempt that finished, if any. */
  step?: { stepId: string; attempt: number; status: StepStatus; output?: unknown; error?: SerializedError; startedAt?: Date };
  /** Outputs to merge into checkpoint_data, by step id. */
  checkpoint?: Record<string, unknown>;
  /** Steps a loop sends round again: their succeeded attempts become 'superseded', their checkpoints go. */
  supersede?: string[];
  newSteps?: NewStep[];
  events?: NewEvent[];
  decisions?: NewDecision[];
  final?: { status: WorkflowStatus; error: SerializedError | null };
  /** Nothing runs, a person must answer: release the lease, look again at wakeAt (a deadline) if any. */
  park?: { wakeAt: Date | null };
}

/** Records a finished attempt, its checkpoint, the attempts it unblocks, decisions and events. False: lease lost. */
export async function commitProgress(db: Queryable, p: Progress): Promise<boolean> {
  const s = p.step;
  const newStatus = p.final?.status ?? (p.park ? 'waiting' : null);
  const rows = await db.query<{ id: string }>(
    `WITH w AS (
       UPDATE workflows SET
         checkpoint_data = (CASE WHEN $4::jsonb IS NULL THEN checkpoint_data ELSE checkpoint_data || $4::jsonb END) - $16::text[],
         last_checkpoint = CASE WHEN $14::text IS NULL THEN last_checkpoint ELSE now() END,
         lease_expires_at = CASE WHEN $5::text IS NULL THEN now() + $3::int * interval '1 millisecond' ELSE NULL END,
         lease_owner = CASE WHEN $5::text IS NULL THEN lease_owner ELSE NULL END,
         lease_incarnation = CASE WHEN $5::text IS NULL THEN lease_incarnation ELSE NULL END,
         status = coalesce($5::text, status),
         error = CASE WHEN $5::text IS NULL OR $5::text = 'waiting' THEN error ELSE $6::jsonb END,
         finished_at = CASE WHEN $5::text IS NULL OR $5::text = 'waiting' THEN finished_at ELSE now() END,
         wake_at = CASE WHEN $5::text = 'waiting' THEN $18::timestamptz ELSE NULL END,
         updated_at = now()
       WHERE id = $1 AND lease_incarnation = $2 AND status = 'running'
       RETURNING id
     ), s AS (
       UPDATE steps SET status = $8, output = $9::jsonb, error = $10::jsonb, finished_at = now(),
         started_at = coalesce($15::timestamptz, started_at)
       WHERE workflow_id = $1 AND step_id = $7 AND attempt = $11 AND EXISTS (SELECT 1 FROM w)
     ), old AS (
       UPDATE steps SET status = 'superseded'
       WHERE workflow_id = $1 AND step_id = ANY($16::text[]) AND status = 'succeeded'
         AND NOT (step_id = $7 AND attempt = $11) AND EXISTS (SELECT 1 FROM w)
     ), n AS (${insertStepsSql('$1::uuid', '$12', 'WHERE EXISTS (SELECT 1 FROM w)')}
     ), e AS (${insertEventsSql('$1::uuid', '$13', 'WHERE EXISTS (SELECT 1 FROM w)')}
     ), d AS (
       INSERT INTO workflow_decisions (workflow_id, step_id, attempt, outcome, branch, action, target, iteration, reason)
       SELECT $1, x->>'step_id', (x->>'attempt')::int, x->>'outcome', x->>'branch', x->>'action', x->>'target', (x->>'iteration')::int, x->>'reason'
       FROM jsonb_array_elements($17::jsonb) AS x
       WHERE EXISTS (SELECT 1 FROM w)
     )
     SELECT id FROM w`,
    [
      p.workflowId,
      p.lease.incarnation,
      p.lease.ms,
      p.checkpoint ? JSON.stringify(p.checkpoint) : null,
      newStatus,
      p.final?.error ? JSON.stringify(p.final.error) : null,
      s?.stepId ?? null,
      s?.status ?? null,
      s?.output === undefined ? null : JSON.stringify(s.output),
      s?.error ? JSON.stringify(s.error) : null,
      s?.attempt ?? null,
      JSON.stringify(p.newSteps ?? []),
      JSON.stringify(p.events ?? []),
      s ? 'checkpoint' : null,
      s?.startedAt ?? null,
      p.supersede ?? [],
      JSON.stringify(p.decisions ?? []),
      p.park?.wakeAt ?? null,
    ],
  );
  return rows.length === 1;
}

export async function getDecisions(db: Queryable, id: string): Promise<DecisionRow[]> {
  return db.query<DecisionRow>('SELECT * FROM workflow_decisions WHERE workflow_id = $1 ORDER BY id', [id]);
}

/** Parked workflows whose earliest approval deadline has passed. */
export async function dueParked(db: Queryable, limit: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM workflows WHERE status = 'waiting' AND wake_at < now() ORDER BY wake_at LIMIT $1`, [limit]);
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

/** Takes ownership of one workflow and sets it running; null when it is not in a claimable state. */
export async function claimWorkflow(db: Queryable, c: Claim): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>(
    `WITH w AS (
       UPDATE workflows SET status = 'running', lease_owner = $2, lease_incarnation = $7::uuid,
         lease_expires_at = now() + $3::int * interval '1 millisecond',
         error = NULL, finished_at = NULL, wake_at = NULL, started_at = coalesce(started_at, now()), updated_at = now()
       WHERE id = $1 AND status = ANY($4::text[])
         AND (NOT $5::boolean OR status <> 'running' OR lease_expires_at < now()
              OR (lease_owner = $2 AND lease_incarnation IS DISTINCT FROM $7::uuid))
       RETURNING *
     ), e AS (${insertEventsSql('$1::uuid', '$6', 'WHERE EXISTS (SELECT 1 FROM w)')}
     )
     SELECT * FROM w`,
    [c.id, c.lease.owner, c.lease.ms, c.from, c.onlyExpired, JSON.stringify([c.event]), c.lease.incarnation],
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
         lease_expires_at = now() + $2::int * interval '1 millisecond', updated_at = now()
       FROM c WHERE workflows.id = c.id
       RETURNING workflows.*, c.lease_owner AS previous_owner
     ), e AS (
       INSERT INTO workflow_events (workflow_id, type, data)
       SELECT id, 'workflow_recovered', jsonb_build_object('owner', $1::text, 'previous_owner', previous_owner) FROM w
     )
     SELECT * FROM w`,
    [lease.owner, lease.ms, limit, lease.incarnation],
  );
}

export async function renewLeases(db: Queryable, lease: Lease, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.query<{ id: string }>(
    `UPDATE workflows SET lease_expires_at = now() + $3::int * interval '1 millisecond'
     WHERE id = ANY($2::uuid[]) AND lease_incarnation = $1 AND status = 'running' RETURNING id`,
    [lease.incarnation, ids, lease.ms],
  );
  return rows.map((r) => r.id);
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
         finished_at = now(), wake_at = NULL, updated_at = now()
       WHERE id = $1 AND status IN ('planned', 'running', 'waiting')
       RETURNING *
     ), s AS (
       UPDATE steps SET status = 'cancelled', finished_at = now()
       WHERE workflow_id = $1 AND status IN ('running', 'scheduled', 'waiting') AND EXISTS (SELECT 1 FROM w)
     ), e AS (
       INSERT INTO workflow_events (workflow_id, type, data)
       SELECT id, 'workflow_cancelled', jsonb_build_object('reason', $2::text) FROM w
     )
     SELECT * FROM w`,
    [id, reason],
  );
  return rows[0] ?? null;
}

export async function getWorkflow(db: Queryable, id: string): Promise<WorkflowRow | null> {
  const rows = await db.query<WorkflowRow>('SELECT * FROM workflows WHERE id = $1', [id]);
  return rows[0] ?? null;
}

export async function getSteps(db: Queryable, id: string): Promise<StepRow[]> {
  return db.query<StepRow>('SELECT * FROM steps WHERE workflow_id = $1 ORDER BY step_id, attempt', [id]);
}

export interface ListQuery {
  status?: WorkflowStatus;
  limit: number;
  /** Keyset cursor: the last row of the previous page. */
  after?: { createdAt: Date; id: string };
}

export async function listWorkflows(db: Queryable, q: ListQuery): Promise<WorkflowRow[]> {
  return db.query<WorkflowRow>(
    `SELECT id, description, status, error, created_at, updated_at, started_at, finished_at, last_checkpoint, lease_owner
     FROM workflows
     WHERE ($1::text IS NULL OR status = $1)
       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
     ORDER BY created_at DESC, id DESC
     LIMIT $4`,
    [q.status ?? null, q.after?.createdAt ?? null, q.after?.id ?? null, q.limit],
  );
}

export async function listEvents(db: Queryable, id: string, afterId: number, limit = 500): Promise<EventRow[]> {
  return db.query<EventRow>(
    'SELECT * FROM workflow_events WHERE workflow_id = $1 AND id > $2 ORDER BY id LIMIT $3',
    [id, afterId, limit],
  );
}

/** Events outside a step's commit (a breaker opening, say); not lease-guarded: they only inform. */
export async function appendEvents(db: Queryable, id: string, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.query(`${insertEventsSql('$1::uuid', '$2', '')}`, [id, JSON.stringify(events)]);
}
