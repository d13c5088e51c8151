-- What planning a description cost (the model planner's calls, priced as a step's are), stored with
-- the run it planned: part of the run's usage, its budget and GET /usage, where before it showed
-- only in the orchestrator's llm_call_tokens_total. Written once, at insert, so neither the column
-- nor the index below stands in the way of HOT updates.
ALTER TABLE workflows ADD COLUMN planning_usage jsonb;
-- GET /usage finds planning by the time its run was created.
CREATE INDEX workflows_planning_usage_idx ON workflows (created_at) WHERE planning_usage IS NOT NULL;
