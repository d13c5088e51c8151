-- Branching workflows: decisions as rows, attempts superseded by a loop, approval steps that wait
-- for a person with the workflow parked (no orchestrator holds it) until an answer or a deadline.

ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
  CHECK (status IN ('planned', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'));
-- When a parked workflow must be looked at again (the earliest approval deadline).
ALTER TABLE workflows ADD COLUMN wake_at timestamptz;
CREATE INDEX workflows_wake_idx ON workflows (wake_at) WHERE status = 'waiting';

ALTER TABLE steps DROP CONSTRAINT steps_status_check;
ALTER TABLE steps ADD CONSTRAINT steps_status_check
  CHECK (status IN ('running', 'scheduled', 'waiting', 'succeeded', 'failed', 'cancelled', 'superseded'));

CREATE TABLE workflow_decisions (
  id          bigserial PRIMARY KEY,
  workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  step_id     text NOT NULL,
  attempt     integer NOT NULL,
  outcome     text NOT NULL,
  branch      text NOT NULL,
  action      text NOT NULL,
  target      text,
  iteration   integer NOT NULL DEFAULT 0,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX workflow_decisions_workflow_idx ON workflow_decisions (workflow_id, id);
