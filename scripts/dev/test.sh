#!/usr/bin/env bash
# The README's test command, and what .ci/run calls: on a fresh Debian machine of the kind the
# project is developed on, set up everything the tests drive for real, then run them all.
#   1. the Debian tools the tests run (promtool, docker-compose, caddy, shellcheck, the AWS CLI,
#      kubectl, pg_dump, redis, openssl, ssh, the Docker engine, debootstrap), installed when missing;
#   2. Postgres, Redis and dockerd, started when they are not running (a dockerd started here is
#      stopped again on exit; its images stay in its data root, so the next run reuses them);
#   3. the npm packages (npm ci when node_modules does not match the lockfile);
#   4. npm run lint, then the main suite (npm test), then the local images
#      (scripts/dev/local-images.sh, cached on the files they come from) and the Docker suite
#      (npm run test:docker: the Compose stack and the deploy, for real).
# SKIP_DOCKER_TESTS=1 stops after the main suite, for a machine without a Docker engine; the run
# then says so at the end rather than passing quietly.
set -euo pipefail
cd "$(dirname "$0")/../.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
DOCKER_DATA_ROOT="${DOCKER_DATA_ROOT:-/var/lib/docker}"
skip_docker="${SKIP_DOCKER_TESTS:-}"

step() { printf '\n== %s\n' "$*"; }

step "Debian tools"
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want promtool prometheus
want docker-compose docker-compose
want caddy caddy
want shellcheck shellcheck
want ssh-keygen openssh-client
want aws awscli
want kubectl kubernetes-client
want pg_dump postgresql-client
want redis-cli redis-tools
want redis-server redis-server
want openssl openssl
want jq jq
want chromium chromium
if [ -z "$skip_docker" ]; then
  want dockerd docker.io
  want debootstrap debootstrap
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "all present"
fi

step "Postgres and Redis"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 || { echo "Postgres is not answering on 127.0.0.1:5432 (TEST_DATABASE_URL=$TEST_DATABASE_URL)" >&2; exit 1; }
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
redis-cli -h 127.0.0.1 -p 6379 ping

started_dockerd=""
stop_dockerd() {
  if [ -n "$started_dockerd" ]; then
    kill "$started_dockerd" 2>/dev/null || true
    # Containers the tests left would keep their shims; the daemon stops them on its way out.
    for _ in $(seq 1 30); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
  fi
}
trap stop_dockerd EXIT
if [ -z "$skip_docker" ]; then
  step "Docker engine"
  if ! docker info >/dev/null 2>&1; then
    mkdir -p "$DOCKER_DATA_ROOT"
    dockerd --data-root "$DOCKER_DATA_ROOT" >/var/log/agentic-mesh-dockerd.log 2>&1 &
    started_dockerd=$!
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      kill -0 "$started_dockerd" 2>/dev/null || break
      sleep 1
    done
    docker info >/dev/null 2>&1 || {
      echo "dockerd did not start; its log:" >&2
      tail -n 30 /var/log/agentic-mesh-dockerd.log >&2
      exit 1
    }
    echo "started dockerd (pid $started_dockerd, data root $DOCKER_DATA_ROOT)"
  else
    echo "already running"
  fi
fi

step "npm packages"
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null \
  && ! node -e 'const a=require("./package-lock.json").packages,b=require("./node_modules/.package-lock.json").packages;for(const k in b)if(a[k]?.version!==b[k].version)process.exit(1);for(const k in a)if(k&&!a[k].optional&&!b[k])process.exit(1)' 2>/dev/null; then
  npm ci --no-audit --no-fund
else
  echo "node_modules matches package-lock.json"
fi

step "lint"
npm run lint

step "tests"
npm test

if [ -n "$skip_docker" ]; then
  printf '\nSKIP_DOCKER_TESTS is set: the Docker suite (the Compose stack and the deploy) did NOT run.\n'
  exit 0
fi

step "local images"
scripts/dev/local-images.sh

step "Docker tests"
npm run test:docker
