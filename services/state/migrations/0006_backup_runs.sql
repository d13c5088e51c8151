-- One row per run of scripts/backup.sh. The orchestrator exports the newest successful finish as
-- backup_last_success_timestamp_seconds, which the BackupStale alert reads; failed runs are kept
-- for the record (which step failed) and never count as fresh.
CREATE TABLE backup_runs (
  id          bigserial PRIMARY KEY,
  archive     text NOT NULL,
  status      text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  size_bytes  bigint,
  uploaded    boolean NOT NULL DEFAULT false,
  failed_step text,
  error       text,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);

CREATE INDEX backup_runs_succeeded_idx ON backup_runs (finished_at DESC) WHERE status = 'succeeded';
