#!/usr/bin/env bash
# Runs on the droplet, shipped beside the bundle by scripts/deploy_to_do.sh:
#   remote.sh install <bundle.tar.gz> <env file> [target]   unpack the bundle, install .env (0600)
#   remote.sh up [target]                                    start the stack (the shared compose command)
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

up() {
  local target=${1:-$DEFAULT_TARGET}
  cd "$target"
  compose up -d --build
  # The nightly timer runs the backup image; build it now, so a broken build shows at deploy
  # time rather than as a BackupStale alert the next day.
  docker compose --env-file .env -f compose/docker-compose.yml --profile backup build backup
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
