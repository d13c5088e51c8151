-- The engine's hot path, cheaper for Postgres (docs/PERFORMANCE.md has the figures).
--
-- A finished step updates its workflow row (checkpoint, lease expiry, event count): that update is
-- HOT (no index entry, the new version on the same page) only if it changes no indexed column and
-- the page has room. So the lease expiry is no longer indexed (recovery finds running workflows
-- through the status index; there are few), and the tables keep room on each page for the
-- versions to come.
DROP INDEX workflows_lease_idx;
ALTER TABLE workflows SET (fillfactor = 50);
ALTER TABLE steps SET (fillfactor = 70);

-- Rows of steps, events and decisions are written in the statement that checks the workflow's
-- lease on its row, so the workflow exists; a foreign-key check per row only repeated that.
ALTER TABLE steps DROP CONSTRAINT steps_workflow_id_fkey;
ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_workflow_id_fkey;
ALTER TABLE workflow_decisions DROP CONSTRAINT workflow_decisions_workflow_id_fkey;

-- Decisions are only ever read per workflow: one index, not two.
ALTER TABLE workflow_decisions DROP CONSTRAINT workflow_decisions_pkey;
DROP INDEX workflow_decisions_workflow_idx;
ALTER TABLE workflow_decisions ADD PRIMARY KEY (workflow_id, id);

-- The event log is numbered per workflow (workflows.event_seq counts it). An attempt's row carries
-- its own step_started (start_seq) and step_succeeded (end_seq, duration_ms, replayed) events
-- instead of a second row saying the same; the other events stay rows of workflow_events.
ALTER TABLE workflows ADD COLUMN event_seq integer NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN start_seq integer;
ALTER TABLE steps ADD COLUMN end_seq integer;
ALTER TABLE steps ADD COLUMN duration_ms integer;
ALTER TABLE steps ADD COLUMN replayed boolean NOT NULL DEFAULT false;
ALTER TABLE workflow_events ADD COLUMN seq integer;
UPDATE workflow_events e SET seq = r.n
  FROM (SELECT id, row_number() OVER (PARTITION BY workflow_id ORDER BY id) AS n FROM workflow_events) r
  WHERE e.id = r.id;
UPDATE workflows w SET event_seq = c.n
  FROM (SELECT workflow_id, max(seq) AS n FROM workflow_events GROUP BY workflow_id) c
  WHERE w.id = c.workflow_id;
DROP INDEX workflow_events_workflow_idx;
ALTER TABLE workflow_events DROP CONSTRAINT workflow_events_pkey;
ALTER TABLE workflow_events DROP COLUMN id;
ALTER TABLE workflow_events ALTER COLUMN seq SET NOT NULL;
ALTER TABLE workflow_events ADD PRIMARY KEY (workflow_id, seq);
