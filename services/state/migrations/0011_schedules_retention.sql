-- Schedules (a cron expression that starts a workflow on each tick) and what retention needs.
--
-- A tick starts its workflow with an idempotency key made of the schedule's id and the tick's time
-- (workflows_idempotency_key_idx, 0008), so whichever replica fires it, and however often a crash
-- makes one fire it again, a tick makes one workflow. The schedule row is claimed for a few seconds
-- while a replica handles its due ticks (claimed_by/claimed_until), so replicas share the work
-- instead of all doing it; a claim left by a dead replica simply runs out.
CREATE TABLE schedules (
  name            text PRIMARY KEY,
  -- A new id each time a schedule of this name is created: a deleted and re-created schedule never
  -- meets the old one's ticks.
  id              uuid NOT NULL UNIQUE,
  cron            text NOT NULL,
  timezone        text NOT NULL DEFAULT 'UTC',
  -- What each tick runs: {"workflow": name} | {"plan": {...}} | {"description": text}.
  target          jsonb NOT NULL,
  input           jsonb NOT NULL DEFAULT '{}',
  overlap         text NOT NULL CHECK (overlap IN ('skip', 'queue', 'allow')),
  catch_up        text NOT NULL CHECK (catch_up IN ('none', 'latest', 'all')),
  enabled         boolean NOT NULL DEFAULT true,
  -- 'file': declared in a named workflow's YAML, written at start; definition_hash tells whether
  -- the file changed since (a change in the file wins over what the API set).
  source          text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file')),
  definition_hash text,
  created_by      text,
  -- Bumped by every change through the API or a file, so a replica that computed the next tick
  -- from the old definition does not write it back.
  version         integer NOT NULL DEFAULT 1,
  -- The next tick to handle. With overlap 'queue', held: that tick waits for the previous run.
  next_run_at     timestamptz,
  held            boolean NOT NULL DEFAULT false,
  claimed_by      text,
  claimed_until   timestamptz,
  last_tick_at    timestamptz,
  last_task_id    uuid,
  last_outcome    text,
  last_run_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE enabled;

-- Retention deletes finished workflows oldest first, in small batches. The final update of a
-- workflow changes its (indexed) status anyway, so this index costs the hot path nothing.
CREATE INDEX workflows_finished_idx ON workflows (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
