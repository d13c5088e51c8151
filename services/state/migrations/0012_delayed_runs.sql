-- Delayed runs: POST /orchestrate with run_at or delay stores the workflow at once as 'scheduled',
-- with nobody holding it and wake_at set to when it must start. Any replica starts it when wake_at
-- passes (claimed like a parked workflow, so exactly one does); cancel works until then.
ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
  CHECK (status IN ('planned', 'scheduled', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'));
CREATE INDEX workflows_start_due_idx ON workflows (wake_at) WHERE status = 'scheduled';
