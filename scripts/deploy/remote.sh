#!/usr/bin/env bash
# Runs on the droplet, shipped beside the bundle by scripts/deploy_to_do.sh:
#   remote.sh install <bundle.tar.gz> <env file> [target]   unpack the bundle, install .env (0600)
#   remote.sh up [target] [--no-build]                       start the stack (the shared compose command)
#   remote.sh wait-healthy [target] [attempts] [interval s]  until every container is healthy
#   remote.sh classify                                       read container states on stdin (see below)
# Kept to bash, coreutils, tar and the docker CLI: that is what the Docker marketplace image has.
set -euo pipefail

DEFAULT_TARGET=/opt/agentic-mesh

compose() {
  docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability "$@"
}

# Unpacks over the existing tree instead of swapping directories: the stack bind-mounts files
# from it (Prometheus and Grafana config), and a container keeps the inode it started with.
# --overwrite rewrites files in place, so a restarted container sees the new content.
install_bundle() (
  local bundle=$1 env_file=$2 target=${3:-$DEFAULT_TARGET}
  [[ -f $bundle ]] || { echo "remote: no bundle at $bundle" >&2; return 1; }
  [[ -f $env_file ]] || { echo "remote: no env file at $env_file" >&2; return 1; }
  mkdir -p "$target"
  local listing
  listing=$(mktemp)
  # shellcheck disable=SC2064 # expand now: the local is gone when the trap runs
  trap "rm -f '$listing'" EXIT
  tar -tzf "$bundle" | sed -e 's#^\./##' -e 's#/$##' | grep -v '^$' | sort -u >"$listing"
  tar -xzf "$bundle" --overwrite --no-same-owner -C "$target"

  # Files that left the repository leave the droplet too; .env and runtime data never came
  # from the bundle, so they are kept.
  local path
  while IFS= read -r path; do
    case $path in
      .env | .data | .data/*) continue ;;
    esac
    if ! grep -qxF -- "$path" "$listing"; then
      rm -rf -- "${target:?}/$path"
    fi
  done < <(cd "$target" && find . -mindepth 1 -depth \( -type f -o -type l \) -print | sed 's#^\./##' | sort)
  find "$target" -mindepth 1 -depth -type d -empty ! -path "$target/.data*" -delete

  install -m 600 "$env_file" "$target/.env"
  rm -f -- "$env_file"
  echo "remote: $(wc -l <"$listing") paths unpacked into $target, .env installed (mode 600)"
)

# `remote.sh up [target] [--no-build]`; --no-build when the deploy sent the images (--local-build).
up() {
  local target=${1:-$DEFAULT_TARGET} build=(--build)
  [[ ${2:-} != --no-build ]] || build=()
  cd "$target"
  up_once_more_if_unhealthy "${build[@]}"
  ((${#build[@]} > 0)) || return 0
  # The nightly timer runs the backup image; build it now, so a broken build shows at deploy
  # time rather than as a BackupStale alert the next day.
  docker compose --env-file .env -f compose/docker-compose.yml --profile backup build backup
}

# `up` stops, with the rest of the stack not started, when a container another depends on reports
# unhealthy (Compose v2: "dependency failed to start: container X is unhealthy"; 1.29: "for X
# Container ... is unhealthy"). On a small or busy droplet a health check can time out while the
# service is still coming up, and it turns healthy a check or two later: say which container and
# why, wait for the health checks to settle, then run `up` once more. A build error or a
# container that stays unhealthy still fails.
up_once_more_if_unhealthy() {
  local log rc=0
  log=$(mktemp)
  compose up -d "$@" 2>&1 | tee "$log" || rc=$?
  if ((rc != 0)) && grep -q 'is unhealthy' "$log"; then
    echo "remote: up stopped at a container that was not healthy yet:" >&2
    describe_unready >&2
    settle "${SETTLE_ATTEMPTS:-30}" "${SETTLE_INTERVAL_S:-10}"
    echo "remote: running up once more" >&2
    rc=0
    compose up -d "$@" || rc=$?
    ((rc == 0)) || describe_unready >&2
  fi
  rm -f -- "$log"
  return "$rc"
}

# Each container that is not running-and-healthy: its state, its last health check's output and
# its last log lines.
describe_unready() {
  local ids id line
  ids=$(compose ps -a -q) || return 0
  for id in $ids; do
    line=$(docker inspect --format '{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.State.ExitCode}}' "$id") || continue
    classify <<<"$line" >/dev/null && continue
    echo "  $(classify <<<"$line" | head -n 1)"
    docker inspect --format '{{if .State.Health}}{{range .State.Health.Log}}{{printf "%q" .Output}}{{"\n"}}{{end}}{{end}}' "$id" |
      grep -v '^$' | tail -n 1 | sed 's/^/    last health check: /' || true
    docker logs --tail 10 "$id" 2>&1 | sed 's/^/    | /' || true
  done
}

# Until no container's health check is still starting or failing (they may yet pass), bounded.
settle() {
  local attempts=$1 interval=$2 attempt pending name status health
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    pending=""
    while IFS='|' read -r name status health _; do
      if [[ $status == running && ($health == starting || $health == unhealthy) ]]; then pending+="${name#/} ($health) "; fi
    done < <(states)
    [[ -n $pending ]] || return 0
    echo "remote: waiting for health checks ($attempt/$attempts): $pending" >&2
    sleep "$interval"
  done
  return 0
}

# Input, one container a line: name|status|health|exit code, as printed by `docker inspect` with
# the format in states() below. Prints the containers that are not ready; exits 0 when all are.
# Ready: running and healthy, running without a healthcheck, or a one-shot that exited 0.
classify() {
  local name status health code seen=0 waiting=0
  while IFS='|' read -r name status health code; do
    [[ -n $name ]] || continue
    seen=$((seen + 1))
    name=${name#/}
    case "$status/$health" in
      running/healthy | running/none) ;;
      exited/*) [[ $code == 0 ]] || { echo "$name exited with code $code"; waiting=$((waiting + 1)); } ;;
      *) echo "$name is $status${health:+ ($health)}"; waiting=$((waiting + 1)) ;;
    esac
  done
  if ((seen == 0)); then
    echo "no containers yet"
    return 1
  fi
  ((waiting == 0))
}

states() {
  local ids
  ids=$(compose ps -a -q)
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086 # one container id per word
  docker inspect --format '{{.Name}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.State.ExitCode}}' $ids
}

# `docker inspect` rather than parsing `docker compose ps --format json`: the JSON's shape
# changed between Compose releases (one array, then one object a line), inspect's did not.
wait_healthy() {
  local target=${1:-$DEFAULT_TARGET} attempts=${2:-60} interval=${3:-10} attempt report
  cd "$target"
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if report=$(states | classify); then
      echo "remote: every container is ready"
      return 0
    fi
    echo "remote: waiting ($attempt/$attempts): $(tr '\n' ';' <<<"$report" | sed 's/;$//; s/;/; /g')"
    ((attempt == attempts)) || sleep "$interval"
  done
  echo "remote: not every container became ready; last state:" >&2
  echo "$report" >&2
  echo "remote: read their logs with: cd $target && docker compose -f compose/docker-compose.yml logs --tail=100 <service>" >&2
  return 1
}

main() {
  local command=${1:-}
  shift || true
  case $command in
    install) install_bundle "$@" ;;
    up) up "$@" ;;
    wait-healthy) wait_healthy "$@" ;;
    classify) classify ;;
    *)
      echo "usage: remote.sh install <bundle.tar.gz> <env file> [target] | up [target] | wait-healthy [target] [attempts] [interval] | classify" >&2
      return 2
      ;;
  esac
}

main "$@"
