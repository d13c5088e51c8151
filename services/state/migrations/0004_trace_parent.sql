-- The W3C traceparent of a workflow's span: steps run later, or by another orchestrator after a
-- crash, continue the same trace.
ALTER TABLE workflows ADD COLUMN trace_parent text;
