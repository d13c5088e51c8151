-- Workflows, one row per attempt of each step, and the append-only event log.

CREATE TABLE workflows (
  id               uuid PRIMARY KEY,
  description      text,
  status           text NOT NULL CHECK (status IN ('planned', 'running', 'succeeded', 'failed', 'cancelled')),
  plan             jsonb NOT NULL,
  input            jsonb NOT NULL DEFAULT '{}',
  checkpoint_data  jsonb NOT NULL DEFAULT '{}',
  last_checkpoint  timestamptz,
  lease_owner      text,
  lease_expires_at timestamptz,
  error            jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);

CREATE INDEX workflows_status_created_idx ON workflows (status, created_at DESC, id);
CREATE INDEX workflows_created_idx ON workflows (created_at DESC, id);
-- Recovery scans only running workflows, by lease expiry.
CREATE INDEX workflows_lease_idx ON workflows (lease_expires_at) WHERE status = 'running';

CREATE TABLE steps (
  workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  step_id         text NOT NULL,
  attempt         integer NOT NULL CHECK (attempt >= 1),
  agent           text NOT NULL,
  status          text NOT NULL CHECK (status IN ('running', 'scheduled', 'succeeded', 'failed', 'cancelled')),
  input           jsonb,
  output          jsonb,
  error           jsonb,
  idempotency_key text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  PRIMARY KEY (workflow_id, step_id, attempt)
);

CREATE TABLE workflow_events (
  id          bigserial PRIMARY KEY,
  workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  type        text NOT NULL,
  step_id     text,
  attempt     integer,
  data        jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX workflow_events_workflow_idx ON workflow_events (workflow_id, id);
