#!/usr/bin/env bash
# Restores an archive written by scripts/backup.sh: checks it against its manifest, replaces the
# database, puts the Redis snapshot where the server loads it from and writes the volumes back.
# docs/BACKUPS.md has the whole procedure (stop the app first, start Redis after).
#
#   restore.sh [options] <archive path | key or s3://bucket/key in Spaces | latest>
#     --dry-run                 say what would be restored, change nothing
#     --yes                     replace a database that has workflows in it
#     --redis-restart-cmd CMD   Redis is running: shut it down without saving, place the files,
#                               then run CMD (through bash) to start it again
#     --no-redis                leave Redis alone
#     --volume NAME=DIR         write volumes/NAME.tar.gz into DIR (default: the BACKUP_VOLUMES
#                               directory named NAME); repeatable
#     --no-volumes              leave the volumes alone
#
#   DATABASE_URL     database to replace (it must exist; every schema the dump has, and public, is
#                    dropped and recreated from the dump)
#   REDIS_URL        where to reach the running server (redis://, unix:///path.sock), if any
#   REDIS_DATA_DIR   the server's data directory (its `dir`): dump.rdb and appendonlydir/ go there
#   BACKUP_DIR BACKUP_VOLUMES SPACES_*   as for backup.sh; `latest` looks in both places
set -euo pipefail

SCRIPT=restore.sh
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/backup/lib.sh
source "$here/backup/lib.sh"

usage() {
  sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

BACKUP_DIR="${BACKUP_DIR:-/backups}"
REDIS_URL="${REDIS_URL:-}"
REDIS_DATA_DIR="${REDIS_DATA_DIR:-}"
SPACES_BUCKET="${SPACES_BUCKET:-}"
dry_run=false yes=false no_redis=false no_volumes=false restart_cmd="" source_arg=""
declare -A volume_target=()
read -r -a backup_volumes <<<"${BACKUP_VOLUMES:-}"
for dir in "${backup_volumes[@]}"; do volume_target[$(basename "$dir")]="$dir"; done

step=arguments
while (($# > 0)); do
  case "$1" in
    --dry-run) dry_run=true ;;
    --yes) yes=true ;;
    --no-redis) no_redis=true ;;
    --no-volumes) no_volumes=true ;;
    --redis-restart-cmd)
      (($# >= 2)) || usage
      restart_cmd="$2"
      shift
      ;;
    --volume)
      if (($# < 2)) || [[ "$2" != ?*=?* ]]; then usage; fi
      volume_target[${2%%=*}]="${2#*=}"
      shift
      ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *)
      [[ -z "$source_arg" ]] || die "one archive at a time (got $source_arg and $1)"
      source_arg="$1"
      ;;
  esac
  shift
done
[[ -n "$source_arg" ]] || usage
[[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set"
need pg_restore psql tar gzip sha256sum
[[ -z "$SPACES_BUCKET" ]] || spaces_setup

work="$(mktemp -d "${TMPDIR:-/tmp}/agentic-mesh-restore-XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'die "command failed (exit $?): $BASH_COMMAND"' ERR

step=fetch
download() {
  local bucket="$1" key="$2"
  archive="$work/$(basename "$key")"
  say "downloading s3://$bucket/$key"
  spaces s3 cp --only-show-errors "s3://$bucket/$key" "$archive" || die "could not download s3://$bucket/$key"
}
archive=""
if [[ "$source_arg" == latest ]]; then
  candidates=""
  [[ -d "$BACKUP_DIR" ]] && candidates="$(find "$BACKUP_DIR" -maxdepth 1 -type f -printf '%f\n' | grep -E "^$ARCHIVE_PATTERN" || true)"
  if [[ -n "$SPACES_BUCKET" ]]; then
    keys="$(spaces_list)" || die "could not list s3://$SPACES_BUCKET/$SPACES_PREFIX"
    candidates+=$'\n'"$keys"
  fi
  newest="$(grep -E "$ARCHIVE_PATTERN" <<<"$candidates" | awk -F/ '{ print $NF "\t" $0 }' | sort -r | head -n 1 | cut -f2 || true)"
  [[ -n "$newest" ]] || die "no archive in $BACKUP_DIR${SPACES_BUCKET:+ or s3://$SPACES_BUCKET/$SPACES_PREFIX}"
  if [[ -f "$BACKUP_DIR/$(basename "$newest")" ]]; then
    archive="$BACKUP_DIR/$(basename "$newest")"
  else
    download "$SPACES_BUCKET" "$newest"
  fi
elif [[ -f "$source_arg" ]]; then
  archive="$source_arg"
elif [[ "$source_arg" == s3://*/* ]]; then
  rest="${source_arg#s3://}"
  [[ -n "$SPACES_BUCKET" ]] || spaces_setup
  download "${rest%%/*}" "${rest#*/}"
else
  [[ -n "$SPACES_BUCKET" ]] || die "$source_arg is not a file, and SPACES_BUCKET is not set to look for it in Spaces"
  key="$source_arg"
  [[ "$key" == */* ]] || key="$SPACES_PREFIX$key"
  download "$SPACES_BUCKET" "$key"
fi
say "archive $archive"

step=verify
mkdir "$work/x"
tar -xzf "$archive" -C "$work/x" || die "$archive is not a readable tar.gz"
manifest="$work/x/MANIFEST"
[[ -f "$manifest" ]] || die "$archive has no MANIFEST: not written by backup.sh"
listed="$(sed -n '/^files:$/,$p' "$manifest" | tail -n +2)"
[[ -n "$listed" ]] || die "the MANIFEST lists no files"
while read -r sum bytes path; do
  file="$work/x/$path"
  [[ -f "$file" ]] || die "$path is in the MANIFEST but not in the archive"
  [[ "$(stat -c %s "$file")" == "$bytes" ]] || die "$path has $(stat -c %s "$file") bytes, the MANIFEST says $bytes"
  [[ "$(sha256sum "$file" | cut -d' ' -f1)" == "$sum" ]] || die "$path does not match its sha256 in the MANIFEST"
done <<<"$listed"
extra="$(cd "$work/x" && find . -type f ! -name MANIFEST -printf '%P\n' | sort | comm -23 - <(cut -d' ' -f3- <<<"$listed" | sort))"
[[ -z "$extra" ]] || die "files not in the MANIFEST: $extra"
say "checksums match the MANIFEST ($(grep -c . <<<"$listed") files, written $(sed -n 's/^created_at: //p' "$manifest"))"

step=plan
has_rdb=false
[[ -f "$work/x/redis.rdb" ]] && has_rdb=true
if $has_rdb && ! $no_redis; then
  [[ -n "$REDIS_DATA_DIR" ]] || die "REDIS_DATA_DIR is not set: the directory the Redis server keeps its data in (or pass --no-redis)"
  [[ -d "$REDIS_DATA_DIR" ]] || die "REDIS_DATA_DIR $REDIS_DATA_DIR is not a directory"
fi
volume_names=()
if [[ -d "$work/x/volumes" ]]; then
  while IFS= read -r f; do volume_names+=("${f%.tar.gz}"); done < <(find "$work/x/volumes" -name '*.tar.gz' -printf '%f\n' | sort)
fi
if ! $no_volumes; then
  for v in "${volume_names[@]}"; do
    [[ -n "${volume_target[$v]:-}" ]] || die "no directory for volume $v: pass --volume $v=DIR, list it in BACKUP_VOLUMES, or pass --no-volumes"
  done
fi
PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}" psql "$DATABASE_URL" -X -q -c 'SELECT 1' >/dev/null ||
  die "cannot connect to $(redact "$DATABASE_URL"); the database must exist (a new Postgres container creates POSTGRES_DB)"
workflows=0
if [[ "$(psql "$DATABASE_URL" -X -At -c "SELECT to_regclass('workflows') IS NOT NULL")" == t ]]; then
  workflows="$(psql "$DATABASE_URL" -X -At -c 'SELECT count(*) FROM workflows')"
fi

say "plan:"
say "  postgres  postgres.dump -> $(redact "$DATABASE_URL") (it has $workflows workflows now; its schemas are replaced)"
if ! $has_rdb; then
  say "  redis     none in the archive"
elif $no_redis; then
  say "  redis     skipped (--no-redis)"
else
  say "  redis     redis.rdb -> $REDIS_DATA_DIR/dump.rdb and $REDIS_DATA_DIR/appendonlydir/${restart_cmd:+, then: $restart_cmd}"
fi
for v in "${volume_names[@]}"; do
  if $no_volumes; then say "  volume    $v skipped (--no-volumes)"; else say "  volume    $v -> ${volume_target[$v]} (emptied first)"; fi
done
if $dry_run; then
  say "dry run: nothing changed"
  exit 0
fi

step=confirm
if ((workflows > 0)) && ! $yes; then
  die "the target database has $workflows workflows; restoring replaces them all. Stop the platform, then run again with --yes"
fi

step=postgres
# The dump becomes SQL first, so a dump that cannot be read stops the restore before anything is
# dropped; then the drop and the whole restore run as one transaction.
pg_restore --no-owner --no-privileges --file="$work/restore.sql" "$work/x/postgres.dump" || die "pg_restore could not read postgres.dump"
toc="$(pg_restore --list "$work/x/postgres.dump")"
mapfile -t schemas < <(awk '$4 == "SCHEMA" && $5 == "-" { print $6 }' <<<"$toc" | grep -vx public || true)
{
  # The cascades would otherwise be listed one NOTICE a table.
  echo "SET client_min_messages = warning;"
  echo "DROP SCHEMA IF EXISTS public CASCADE;"
  for s in "${schemas[@]}"; do printf 'DROP SCHEMA IF EXISTS "%s" CASCADE;\n' "${s//\"/\"\"}"; done
  # pg_dump leaves out the public schema when it is the stock one; recreate it as initdb makes it.
  if ! grep -qE '^[0-9]+; [0-9]+ [0-9]+ SCHEMA - public ' <<<"$toc"; then
    echo "CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
    echo "GRANT USAGE ON SCHEMA public TO PUBLIC;"
  fi
} >"$work/drop.sql"
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$work/drop.sql" -f "$work/restore.sql" >/dev/null ||
  die "psql failed while replacing the database; nothing was changed (one transaction)"
restored="$(psql "$DATABASE_URL" -X -At -c 'SELECT count(*) FROM workflows' 2>/dev/null || echo '?')"
say "postgres restored: $restored workflows"

step=redis
if $has_rdb && ! $no_redis; then
  redis_up() { [[ -n "$REDIS_URL" ]] && [[ "$(redis_cli ping 2>/dev/null)" == PONG ]]; }
  if redis_up; then
    # A running server writes its own dataset over these files when it stops, so it must stop
    # first, and without saving.
    [[ -n "$restart_cmd" ]] ||
      die "Redis at $(redact "$REDIS_URL") is running: stop it first (docker compose stop redis) and run again, or pass --redis-restart-cmd"
    redis_cli shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 300); do redis_up || break; sleep 0.1; done
    ! redis_up || die "Redis did not stop after SHUTDOWN NOSAVE"
  fi
  # The snapshot goes in twice: as dump.rdb for a server without AOF, and as the base of a fresh
  # multi-part AOF (Redis 7) for one with appendonly yes, which would ignore dump.rdb.
  cp "$work/x/redis.rdb" "$REDIS_DATA_DIR/.dump.rdb.restoring"
  mv "$REDIS_DATA_DIR/.dump.rdb.restoring" "$REDIS_DATA_DIR/dump.rdb"
  if [[ -e "$REDIS_DATA_DIR/appendonlydir" ]]; then
    aside="$REDIS_DATA_DIR/appendonlydir.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
    mv "$REDIS_DATA_DIR/appendonlydir" "$aside"
    say "redis: the previous AOF is kept in $aside"
  fi
  mkdir "$REDIS_DATA_DIR/appendonlydir"
  cp "$work/x/redis.rdb" "$REDIS_DATA_DIR/appendonlydir/appendonly.aof.1.base.rdb"
  printf 'file appendonly.aof.1.base.rdb seq 1 type b\n' >"$REDIS_DATA_DIR/appendonlydir/appendonly.aof.manifest"
  # The server runs as its own user in its container; keep the owner the directory already has.
  chown -R --reference="$REDIS_DATA_DIR" "$REDIS_DATA_DIR/dump.rdb" "$REDIS_DATA_DIR/appendonlydir" 2>/dev/null || true
  if [[ -n "$restart_cmd" ]]; then
    bash -c "$restart_cmd" || die "--redis-restart-cmd failed"
    if [[ -n "$REDIS_URL" ]]; then
      for _ in $(seq 1 300); do redis_up && break; sleep 0.1; done
      redis_up || die "Redis did not answer at $(redact "$REDIS_URL") after --redis-restart-cmd"
      say "redis restored: $(redis_cli dbsize) keys"
    fi
  else
    say "redis: files in place in $REDIS_DATA_DIR; start Redis now (docker compose start redis)"
  fi
fi

step=volumes
if ! $no_volumes; then
  for v in "${volume_names[@]}"; do
    dir="${volume_target[$v]}"
    mkdir -p "$dir"
    find "$dir" -mindepth 1 -delete
    tar --numeric-owner -xzf "$work/x/volumes/$v.tar.gz" -C "$dir" || die "could not unpack volume $v into $dir"
    say "volume $v restored into $dir"
  done
fi

step=finished
say "ok: restored $(basename "$archive"). Start the platform; run a backup soon, since backup_runs now holds the archive's history."
