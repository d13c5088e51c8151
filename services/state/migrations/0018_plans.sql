-- Less WAL per workflow, again (issue 10; docs/PERFORMANCE.md has the figures).
--
-- 1. A plan is stored once. A new workflow names its plan by the SHA-256 of the plan's jsonb text
--    (plan_hash); the plan itself is a row of `plans`, written by the first workflow that uses it.
--    The diamond's plan was 470 of the 740 bytes of its workflow row, logged again for every run of
--    a named workflow, a schedule or a client that sends the same plan. A row written before this
--    migration keeps its plan in inline_plan, as do a fork and a run whose budget was changed (both
--    rare); readers take inline_plan, else the plan its hash names (planColumn in rows.ts).
--    Retention deletes plans no workflow names, under an advisory lock per plan that writers of
--    plan_hash hold shared (so a plan a submit is about to name is never deleted under it).
-- 2. No checkpoint_data. It copied each succeeded attempt's output into the workflow row, and every
--    commit logged it again (the last column of a row that each step updates). The checkpoint is
--    now read from the attempts, where the outputs already are: each step's latest succeeded one.
-- 3. Retention finds old finished runs through workflows_created_idx (a run finishes after it is
--    created), not an index of its own, and workflows_status_created_idx leaves out succeeded runs
--    (most of them; a listing of those scans workflows_created_idx). Each run's final update, which
--    changes the indexed status and so is never HOT, wrote an entry in both.

CREATE TABLE plans (
  hash       bytea PRIMARY KEY,
  plan       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE workflows RENAME COLUMN plan TO inline_plan;
ALTER TABLE workflows ALTER COLUMN inline_plan DROP NOT NULL;
ALTER TABLE workflows ADD COLUMN plan_hash bytea;
ALTER TABLE workflows ADD CONSTRAINT workflows_plan_check CHECK (inline_plan IS NOT NULL OR plan_hash IS NOT NULL);
ALTER TABLE workflows DROP COLUMN checkpoint_data;

DROP INDEX workflows_finished_idx;
DROP INDEX workflows_status_created_idx;
CREATE INDEX workflows_status_created_idx ON workflows (status, created_at DESC, id) WHERE status <> 'succeeded';
