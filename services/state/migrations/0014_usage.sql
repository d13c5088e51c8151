-- The ledger (issue 16): what each attempt spent on models, stored with its result in the same
-- statement. A list of {model, prompt_tokens, completion_tokens, calls, cost_usd} (cost_usd null when
-- the model has no price), priced when the attempt was stored, so a later price change does not
-- rewrite what a run cost. NULL: the attempt called no model (or has not answered).
ALTER TABLE steps ADD COLUMN usage jsonb;
-- GET /usage reads attempts by when they finished; only those that used a model are indexed, so a
-- step that called none still finishes with a HOT update.
CREATE INDEX steps_usage_finished_idx ON steps (finished_at) WHERE usage IS NOT NULL;
-- An API key's default budget for the runs it submits ({usd?, tokens?, on_budget?}); a request's own wins.
ALTER TABLE api_keys ADD COLUMN budget jsonb;
