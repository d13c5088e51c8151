# shellcheck shell=bash
# Pieces shared by scripts/backup.sh and scripts/restore.sh; sourced, never run.

ARCHIVE_PATTERN='agentic-mesh-[0-9]{8}T[0-9]{6}Z\.tar\.gz$'
SPACES_PREFIX="${SPACES_PREFIX-backups/}"

# The step under way, named in the failure message and in backup_runs.failed_step, and what went wrong.
step=start
failure=""

say() { printf '%s: %s\n' "$SCRIPT" "$*"; }
die() {
  # shellcheck disable=SC2034 # read by backup.sh's exit trap
  failure="$*"
  printf '%s: FAILED at step "%s": %s\n' "$SCRIPT" "$step" "$*" >&2
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
  done
}

# A URL for logs: the password, if any, replaced (also with no user name: redis://:secret@host).
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# redis-cli against REDIS_URL: redis[s]://... as is, unix:///path/to.sock[?db=N] through -s.
redis_cli() {
  if [[ "$REDIS_URL" == unix://* ]]; then
    local rest="${REDIS_URL#unix://}" db=0
    if [[ "$rest" == *\?db=* ]]; then db="${rest##*\?db=}"; fi
    redis-cli -s "${rest%%\?*}" -n "$db" "$@"
  else
    # REDISCLI_AUTH would hide the password from ps, but redis-cli only reads it without -u;
    # --no-auth-warning keeps the warning about -u out of the log. A password with no user name
    # (redis://:secret@host, as compose writes it) names Redis's `default` user: redis-cli 7.0
    # (Debian bookworm) otherwise skips AUTH for ping and sends an empty user name for --rdb.
    local url="$REDIS_URL"
    if [[ "$url" =~ ^(rediss?://):([^@/]*@.*)$ ]]; then url="${BASH_REMATCH[1]}default:${BASH_REMATCH[2]}"; fi
    redis-cli --no-auth-warning -u "$url" "$@"
  fi
}

# The AWS CLI pointed at Spaces. Credentials go through the environment, never the command line.
spaces_setup() {
  [[ -n "${SPACES_ACCESS_KEY_ID:-}" ]] || die "SPACES_BUCKET is set but SPACES_ACCESS_KEY_ID is not"
  [[ -n "${SPACES_SECRET_ACCESS_KEY:-}" ]] || die "SPACES_BUCKET is set but SPACES_SECRET_ACCESS_KEY is not"
  SPACES_REGION="${SPACES_REGION:-nyc3}"
  SPACES_ENDPOINT="${SPACES_ENDPOINT:-https://${SPACES_REGION}.digitaloceanspaces.com}"
  export AWS_ACCESS_KEY_ID="$SPACES_ACCESS_KEY_ID"
  export AWS_SECRET_ACCESS_KEY="$SPACES_SECRET_ACCESS_KEY"
  export AWS_DEFAULT_REGION="$SPACES_REGION"
  # Never ask a cloud metadata service for credentials or a region.
  export AWS_EC2_METADATA_DISABLED=true
  need aws
}

spaces() { aws --endpoint-url "$SPACES_ENDPOINT" "$@"; }

# Keys of our archives in the bucket, one a line (the CLI follows the pages).
spaces_list() {
  local out
  out="$(spaces s3api list-objects-v2 --bucket "$SPACES_BUCKET" --prefix "$SPACES_PREFIX" --query 'Contents[].Key' --output text)" || return 1
  tr '\t' '\n' <<<"$out" | grep -E "$ARCHIVE_PATTERN" || true
}
