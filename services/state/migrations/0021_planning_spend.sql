-- Planning no stored run carries: a description its agents refused (422 UNPLANNABLE, or execute:
-- false answered "refused"), a schedule's description planned when it is written, and a schedule
-- tick whose plan was refused. The model was paid all the same, so GET /usage counts it, under
-- (planner), at the time it was spent, and with the API key that asked.
CREATE TABLE planning_spend (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  submitted_by text,
  reason       text NOT NULL,
  usage        jsonb NOT NULL
);
CREATE INDEX planning_spend_at_idx ON planning_spend (at);
