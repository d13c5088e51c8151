-- Forks: a run made from another run (POST /tasks/:id/fork) records its parent and the step it was
-- forked at; the parent finds its forks through the index. An attempt copied from the parent instead
-- of sent to an agent names the run and attempt it was copied from, so the fork's view, its event
-- log and a comparison can tell a reused result from one that ran.
ALTER TABLE workflows ADD COLUMN forked_from uuid;
ALTER TABLE workflows ADD COLUMN fork_step text;
CREATE INDEX workflows_forked_from_idx ON workflows (forked_from, created_at) WHERE forked_from IS NOT NULL;
ALTER TABLE steps ADD COLUMN reused_from uuid;
ALTER TABLE steps ADD COLUMN reused_attempt integer;
