-- Rate limits (`rate_limit: {key, limit, period}` on a run's start or on a step's agent calls): each
-- start or call reserves a time under a lock per key, at the earliest moment that keeps the key
-- within `limit` per `period`; rows older than a period are pruned by the next reservation of the key.
CREATE TABLE rate_limit_slots (
  key text NOT NULL,
  at  timestamptz NOT NULL
);
CREATE INDEX rate_limit_slots_key_at_idx ON rate_limit_slots (key, at DESC);

-- Step-level concurrency (`concurrency: {key, limit}` on an agent step): a call waits in its key's
-- queue (seq: first come, first served) until fewer than `limit` calls of the key hold a slot. A row
-- whose lease lapsed (its orchestrator died) is dropped by the next admission of the key.
CREATE TABLE call_slots (
  key              text NOT NULL,
  holder           text NOT NULL,
  seq              bigserial,
  holding          boolean NOT NULL DEFAULT false,
  lease_expires_at timestamptz NOT NULL,
  PRIMARY KEY (key, holder)
);
CREATE INDEX call_slots_queue_idx ON call_slots (key, seq);

-- A delayed or rate-limited run with a concurrency key applies its strategy when its time comes.
ALTER TABLE workflows ADD COLUMN concurrency_strategy text;
