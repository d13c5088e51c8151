-- Less WAL per workflow (issue 10; docs/PERFORMANCE.md has the figures).
--
-- 1. A finished attempt is a HOT update again. steps_usage_finished_idx (0014) named finished_at,
--    which every finished attempt sets, and Postgres 15 counts a column of any index, partial or
--    not, against HOT: each attempt's update wrote a new tuple and a new primary-key entry.
--    GET /usage now finds attempts by time through usage_ledger, which only an attempt that
--    called a model writes a row to.
-- 2. Column order. An update whose new version stays on its page is logged as the bytes between
--    the first and the last changed byte of the row. Columns written once now come first and the
--    ones a step changes last (an attempt's started_at among them: the finish writes the time the
--    call was sent), so the plan, the input and an attempt's input are no longer logged again by
--    every update of their row.
-- 3. An attempt's idempotency key is workflow:step:attempt; the row stores it only when it is
--    something else (a reused attempt of a fork keeps its parent's key).
-- 4. An attempt's row is written small and rewritten about half as big again when it finishes: a
--    page filled to 70% had no room left for the new versions when a hundred workflows ran at
--    once (a non-HOT update and a row lock for most finishes); 40% leaves room for all of them.
-- 5. The row carries its own workflow_started (start_seq, start_owner; the steps are the plan's) and
--    workflow_succeeded (end_seq, at finished_at), as an attempt's row carries step_started and
--    step_succeeded (0009): two event rows and their index entries less per workflow.

CREATE TABLE workflows_0017 (
  id                   uuid NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  priority             smallint NOT NULL DEFAULT 3,
  concurrency_limit    integer,
  forked_from          uuid,
  plan                 jsonb NOT NULL,
  input                jsonb NOT NULL DEFAULT '{}'::jsonb,
  description          text,
  trace_parent         text,
  idempotency_key      text,
  request_hash         text,
  submitted_by         text,
  concurrency_key      text,
  concurrency_strategy text,
  fork_step            text,
  start_seq            integer,
  start_owner          text,
  status               text NOT NULL,
  error                jsonb,
  started_at           timestamptz,
  finished_at          timestamptz,
  wake_at              timestamptz,
  lease_owner          text,
  lease_incarnation    uuid,
  last_checkpoint      timestamptz,
  lease_expires_at     timestamptz,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  event_seq            integer NOT NULL DEFAULT 0,
  end_seq              integer,
  checkpoint_data      jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT workflows_status_check CHECK (status IN ('planned', 'scheduled', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'))
) WITH (fillfactor = 50);

INSERT INTO workflows_0017 (id, created_at, priority, concurrency_limit, forked_from, plan, input, description, trace_parent,
  idempotency_key, request_hash, submitted_by, concurrency_key, concurrency_strategy, fork_step, status, error, started_at,
  finished_at, wake_at, lease_owner, lease_incarnation, last_checkpoint, lease_expires_at, updated_at, event_seq, checkpoint_data)
SELECT id, created_at, priority, concurrency_limit, forked_from, plan, input, description, trace_parent,
  idempotency_key, request_hash, submitted_by, concurrency_key, concurrency_strategy, fork_step, status, error, started_at,
  finished_at, wake_at, lease_owner, lease_incarnation, last_checkpoint, lease_expires_at, updated_at, event_seq, checkpoint_data
FROM workflows;

DROP TABLE workflows;
ALTER TABLE workflows_0017 RENAME TO workflows;
ALTER TABLE workflows ADD CONSTRAINT workflows_pkey PRIMARY KEY (id);
CREATE INDEX workflows_status_created_idx ON workflows (status, created_at DESC, id);
CREATE INDEX workflows_created_idx ON workflows (created_at DESC, id);
CREATE INDEX workflows_wake_idx ON workflows (wake_at) WHERE status = 'waiting';
CREATE UNIQUE INDEX workflows_idempotency_key_idx ON workflows (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflows_submitted_by_idx ON workflows (submitted_by, created_at DESC, id) WHERE submitted_by IS NOT NULL;
CREATE INDEX workflows_finished_idx ON workflows (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX workflows_start_due_idx ON workflows (wake_at) WHERE status = 'scheduled';
CREATE INDEX workflows_queue_idx ON workflows (concurrency_key, priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX workflows_holding_idx ON workflows (concurrency_key) WHERE status IN ('running', 'waiting') AND concurrency_key IS NOT NULL;
CREATE INDEX workflows_forked_from_idx ON workflows (forked_from, created_at) WHERE forked_from IS NOT NULL;

CREATE TABLE steps_0017 (
  workflow_id     uuid NOT NULL,
  step_id         text NOT NULL,
  attempt         integer NOT NULL CHECK (attempt >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  start_seq       integer,
  reused_attempt  integer,
  reused_from     uuid,
  agent           text NOT NULL,
  input           jsonb,
  idempotency_key text,
  status          text NOT NULL,
  started_at      timestamptz,
  finished_at     timestamptz,
  end_seq         integer,
  duration_ms     integer,
  replayed        boolean NOT NULL DEFAULT false,
  error           jsonb,
  output          jsonb,
  usage           jsonb,
  CONSTRAINT steps_status_check CHECK (status IN ('running', 'scheduled', 'waiting', 'succeeded', 'failed', 'cancelled', 'superseded'))
) WITH (fillfactor = 40);

INSERT INTO steps_0017 (workflow_id, step_id, attempt, created_at, start_seq, reused_attempt, reused_from, agent,
  input, idempotency_key, status, started_at, finished_at, end_seq, duration_ms, replayed, error, output, usage)
SELECT workflow_id, step_id, attempt, created_at, start_seq, reused_attempt, reused_from, agent,
  input, NULLIF(idempotency_key, workflow_id::text || ':' || step_id || ':' || attempt), status, started_at, finished_at, end_seq,
  duration_ms, replayed, error, output, usage
FROM steps;

CREATE TABLE usage_ledger (
  workflow_id uuid NOT NULL,
  step_id     text NOT NULL,
  attempt     integer NOT NULL,
  finished_at timestamptz NOT NULL,
  PRIMARY KEY (workflow_id, step_id, attempt)
);
INSERT INTO usage_ledger (workflow_id, step_id, attempt, finished_at)
SELECT workflow_id, step_id, attempt, finished_at FROM steps WHERE usage IS NOT NULL AND finished_at IS NOT NULL;
CREATE INDEX usage_ledger_finished_idx ON usage_ledger (finished_at);

DROP TABLE steps;
ALTER TABLE steps_0017 RENAME TO steps;
ALTER TABLE steps ADD CONSTRAINT steps_pkey PRIMARY KEY (workflow_id, step_id, attempt);
