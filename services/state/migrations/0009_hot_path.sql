-- The engine's hot path, cheaper for Postgres (docs/PERFORMANCE.md has the figures).
--
-- A finished step updates its workflow row (checkpoint, lease expiry): that update is HOT (no index
-- entry, the new version on the same page) only if it changes no indexed column and the page has
-- room. So the lease expiry is no longer indexed (recovery finds running workflows through the
-- status index; there are few), and the tables keep room on each page for the versions to come.
DROP INDEX workflows_lease_idx;
ALTER TABLE workflows SET (fillfactor = 50);
ALTER TABLE steps SET (fillfactor = 70);

-- Rows of steps, events and decisions are written in the statement that checks the workflow's
-- lease on its row, so the workflow exists; a foreign-key check per row only repeated that.
ALTER TABLE steps DROP CONSTRAINT steps_workflow_id_fkey;
ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_workflow_id_fkey;
ALTER TABLE workflow_decisions DROP CONSTRAINT workflow_decisions_workflow_id_fkey;

-- Events and decisions are only ever read per workflow: one index each, not two.
ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_pkey;
DROP INDEX workflow_events_workflow_idx;
ALTER TABLE workflow_events ADD PRIMARY KEY (workflow_id, id);
ALTER TABLE workflow_decisions DROP CONSTRAINT workflow_decisions_pkey;
DROP INDEX workflow_decisions_workflow_idx;
ALTER TABLE workflow_decisions ADD PRIMARY KEY (workflow_id, id);
