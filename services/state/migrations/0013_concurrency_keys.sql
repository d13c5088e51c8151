-- Per-key concurrency: a workflow submitted with `concurrency: {key, limit}` is stored 'queued'
-- with the key's value, and starts only while fewer than `limit` workflows of that key are running
-- or waiting. Admission takes an advisory lock per key, so replicas never admit past the limit;
-- the queue is FIFO within a key, higher priority first.
ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
  CHECK (status IN ('planned', 'scheduled', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE workflows ADD COLUMN concurrency_key text;
ALTER TABLE workflows ADD COLUMN concurrency_limit integer;
-- 1 (lowest) to 5; among waiting work of one key, higher goes first.
ALTER TABLE workflows ADD COLUMN priority smallint NOT NULL DEFAULT 3;
CREATE INDEX workflows_queue_idx ON workflows (concurrency_key, priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX workflows_holding_idx ON workflows (concurrency_key) WHERE status IN ('running', 'waiting') AND concurrency_key IS NOT NULL;
