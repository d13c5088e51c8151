-- Idempotent submit. A client may choose the task id (the primary key) or send an Idempotency-Key;
-- either way a retried POST /orchestrate finds the workflow the first one created instead of making
-- another. The unique index, not a lookup, is what makes two racing submits (two replicas) create
-- one workflow. request_hash is the fingerprint of the request, so a reused key with a different
-- body is told apart from a retry.
ALTER TABLE workflows ADD COLUMN idempotency_key text;
ALTER TABLE workflows ADD COLUMN request_hash text;
CREATE UNIQUE INDEX workflows_idempotency_key_idx ON workflows (idempotency_key) WHERE idempotency_key IS NOT NULL;
