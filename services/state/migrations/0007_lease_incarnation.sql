-- Which run of an orchestrator holds a lease. lease_owner is the orchestrator's id (ORCHESTRATOR_ID,
-- stable across restarts); lease_incarnation is random per process start. A live process tells its
-- own workflows from those of its previous incarnation by this column alone, so recovery never
-- claims a workflow the process is still driving, and a restarted process takes its old ones back
-- at once.
ALTER TABLE workflows ADD COLUMN lease_incarnation uuid;
