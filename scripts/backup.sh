#!/usr/bin/env bash
# One backup of Agentic Mesh: a Postgres dump, a Redis snapshot and the listed data directories in
# one archive, BACKUP_DIR/agentic-mesh-<UTC time>.tar.gz, uploaded to DigitalOcean Spaces, old
# archives pruned (7 daily, 4 weekly, 3 monthly) here and in the bucket, the run recorded in
# backup_runs (the orchestrator's backup_last_success_timestamp_seconds, read by BackupStale).
# docs/BACKUPS.md describes the schedule and the restore.
#
#   DATABASE_URL           Postgres to dump, and where the run is recorded (required)
#   REDIS_URL              redis://, rediss:// or unix:///path.sock; Redis is skipped, saying so, when unset
#   BACKUP_DIR             where archives are kept (/backups)
#   BACKUP_VOLUMES         space-separated directories archived as volumes/<basename>.tar.gz
#   SPACES_BUCKET          bucket to upload to; the upload is skipped, saying so, when unset
#   SPACES_REGION SPACES_ENDPOINT SPACES_ACCESS_KEY_ID SPACES_SECRET_ACCESS_KEY SPACES_PREFIX (backups/)
#   BACKUP_KEEP_DAILY BACKUP_KEEP_WEEKLY BACKUP_KEEP_MONTHLY   (7, 4, 3)
set -euo pipefail

SCRIPT=backup.sh
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/backup/lib.sh
source "$here/backup/lib.sh"

BACKUP_DIR="${BACKUP_DIR:-/backups}"
REDIS_URL="${REDIS_URL:-}"
SPACES_BUCKET="${SPACES_BUCKET:-}"
read -r -a volumes <<<"${BACKUP_VOLUMES:-}"

started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
name="agentic-mesh-$(date -u -d "$started_at" +%Y%m%dT%H%M%SZ).tar.gz"
work=""
partial=""
uploaded=false

# A failed run is recorded too when the database answers, so the failure is visible in SQL; the
# alert reads successes only.
on_exit() {
  local rc=$?
  [[ -n "$work" ]] && rm -rf "$work"
  [[ -n "$partial" ]] && rm -f "$partial"
  if ((rc != 0)) && [[ -n "${DATABASE_URL:-}" && "$step" != check ]]; then
    PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v archive="$name" -v started="$started_at" -v step="$step" \
      -v error="${failure:-exit status $rc}" >/dev/null 2>&1 <<'SQL' || true
INSERT INTO backup_runs (archive, status, started_at, finished_at, failed_step, error)
VALUES (:'archive', 'failed', :'started', now(), :'step', :'error');
SQL
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'die "command failed (exit $?): $BASH_COMMAND"' ERR

step=check
[[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set"
need pg_dump psql tar gzip sha256sum flock
[[ -z "$REDIS_URL" ]] || need redis-cli
[[ -z "$SPACES_BUCKET" ]] || spaces_setup
declare -A volume_names=()
for dir in "${volumes[@]}"; do
  [[ -d "$dir" ]] || die "BACKUP_VOLUMES names $dir, which is not a directory"
  base="$(basename "$dir")"
  [[ -z "${volume_names[$base]:-}" ]] || die "BACKUP_VOLUMES has two directories named $base"
  volume_names[$base]="$dir"
done
mkdir -p "$BACKUP_DIR"

step=lock
exec 9>"$BACKUP_DIR/.backup.lock"
flock -n 9 || die "another backup is running in $BACKUP_DIR"
[[ ! -e "$BACKUP_DIR/$name" ]] || die "$BACKUP_DIR/$name already exists"
# Left by a run that was killed; never an archive, since only a finished one gets its real name.
find "$BACKUP_DIR" -maxdepth 1 -name '.agentic-mesh-*.partial' -delete
work="$(mktemp -d "$BACKUP_DIR/.work-XXXXXX")"
say "writing $name ($(redact "$DATABASE_URL"))"

step=postgres
pg_dump --format=custom --file="$work/postgres.dump" "$DATABASE_URL" || die "pg_dump failed"

step=redis
if [[ -n "$REDIS_URL" ]]; then
  # --rdb asks the server for a fresh snapshot over the replication protocol: no access to its disk.
  # It reports progress on stderr; that is noise unless it fails.
  out="$(redis_cli --rdb "$work/redis.rdb" 2>&1)" || die "redis-cli --rdb failed against $(redact "$REDIS_URL"): $out"
else
  say "redis: skipped, REDIS_URL is not set"
fi

step=volumes
if ((${#volumes[@]} > 0)); then
  mkdir "$work/volumes"
  for base in "${!volume_names[@]}"; do
    tar --numeric-owner -C "${volume_names[$base]}" -czf "$work/volumes/$base.tar.gz" . || die "could not archive ${volume_names[$base]}"
  done
fi

step=manifest
{
  echo "# Agentic Mesh backup. Files: sha256, bytes, path."
  echo "format: 1"
  echo "archive: $name"
  echo "started_at: $started_at"
  echo "created_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -n)"
  echo "database: $(redact "$DATABASE_URL")"
  echo "postgres_server: $(psql "$DATABASE_URL" -X -At -c 'SHOW server_version')"
  echo "pg_dump: $(pg_dump --version)"
  if [[ -n "$REDIS_URL" ]]; then
    echo "redis_server: $(redis_cli info server | tr -d '\r' | sed -n 's/^redis_version://p')"
  fi
  echo "tar: $(tar --version | head -n 1)"
  for base in "${!volume_names[@]}"; do echo "volume: $base ${volume_names[$base]}"; done
  echo "files:"
  (cd "$work" && find . -type f ! -name MANIFEST | sed 's#^\./##' | sort | while IFS= read -r f; do
    printf '%s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
  done)
} >"$work/MANIFEST"

step=archive
partial="$BACKUP_DIR/.$name.partial"
parts=(MANIFEST postgres.dump)
[[ -f "$work/redis.rdb" ]] && parts+=(redis.rdb)
[[ -d "$work/volumes" ]] && parts+=(volumes)
# The parts are compressed already: a light gzip keeps the run short.
tar --numeric-owner -C "$work" -cf - "${parts[@]}" | gzip -1 >"$partial" || die "could not write $partial"
# Only a complete archive gets its real name, so a half-written one never counts.
mv "$partial" "$BACKUP_DIR/$name"
partial=""
size="$(stat -c %s "$BACKUP_DIR/$name")"
say "archive $BACKUP_DIR/$name ($size bytes)"

step=upload
if [[ -n "$SPACES_BUCKET" ]]; then
  key="$SPACES_PREFIX$name"
  spaces s3 cp --only-show-errors "$BACKUP_DIR/$name" "s3://$SPACES_BUCKET/$key" || die "upload to s3://$SPACES_BUCKET/$key failed"
  remote_size="$(spaces s3api head-object --bucket "$SPACES_BUCKET" --key "$key" --query ContentLength --output text)" || die "could not read back s3://$SPACES_BUCKET/$key"
  [[ "$remote_size" == "$size" ]] || die "s3://$SPACES_BUCKET/$key has $remote_size bytes, the archive $size"
  uploaded=true
  say "uploaded to s3://$SPACES_BUCKET/$key ($(redact "$SPACES_ENDPOINT"))"
else
  say "upload: skipped, SPACES_BUCKET is not set (the archive is only in $BACKUP_DIR)"
fi

step=retention-local
while IFS= read -r old; do
  rm -f "$BACKUP_DIR/$old"
  say "pruned $BACKUP_DIR/$old"
done < <(find "$BACKUP_DIR" -maxdepth 1 -type f -printf '%f\n' | "$here/backup/retention.sh" delete)

step=retention-spaces
if [[ -n "$SPACES_BUCKET" ]]; then
  keys="$(spaces_list)" || die "could not list s3://$SPACES_BUCKET/$SPACES_PREFIX"
  mapfile -t doomed < <("$here/backup/retention.sh" delete <<<"$keys")
  # One DeleteObjects call per 1000 keys (the API's limit) rather than a CLI start per key. Our keys
  # match ARCHIVE_PATTERN, so they need no JSON escaping.
  for ((i = 0; i < ${#doomed[@]}; i += 1000)); do
    batch=("${doomed[@]:i:1000}")
    printf '{"Quiet":true,"Objects":[%s]}' "$(printf '{"Key":"%s"},' "${batch[@]}" | sed 's/,$//')" >"$work/delete.json"
    errors="$(spaces s3api delete-objects --bucket "$SPACES_BUCKET" --delete "file://$work/delete.json" --query 'Errors[].[Key,Code]' --output text)" ||
      die "could not delete old archives from s3://$SPACES_BUCKET"
    [[ -z "$errors" || "$errors" == None ]] || die "s3://$SPACES_BUCKET refused to delete: $errors"
  done
  for old in "${doomed[@]}"; do say "pruned s3://$SPACES_BUCKET/$old"; done
fi

step=record
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v archive="$name" -v started="$started_at" -v size="$size" -v uploaded="$uploaded" >/dev/null <<'SQL' || die "could not record the run in backup_runs"
INSERT INTO backup_runs (archive, status, started_at, finished_at, size_bytes, uploaded)
VALUES (:'archive', 'succeeded', :'started', now(), :'size', :'uploaded');
SQL
step=finished
say "ok: $name"
