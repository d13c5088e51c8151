-- Which API key submitted a workflow. With API_KEY_OWNERSHIP=on a key sees and acts on its own
-- workflows only (unless it has the admin scope); the index serves its list of tasks.
ALTER TABLE workflows ADD COLUMN submitted_by text;
CREATE INDEX workflows_submitted_by_idx ON workflows (submitted_by, created_at DESC, id) WHERE submitted_by IS NOT NULL;
