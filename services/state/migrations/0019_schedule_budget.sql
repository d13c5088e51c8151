-- A schedule's budget: what each of its runs may spend on models (the plan's `budget`, issue 16).
-- A schedule runs unattended, tick after tick, so it is where a spending limit matters most. Null:
-- its runs take the named workflow's budget, else the budget of the API key that created it.
ALTER TABLE schedules ADD COLUMN budget jsonb;
