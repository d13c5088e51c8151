#!/usr/bin/env bash
# One command from a laptop to a running Agentic Mesh on a DigitalOcean droplet:
# preflight, synth + terraform apply, wait for SSH, ship the bundle and .env, compose up,
# wait for every health check, print the URLs. `--dry-run` prints all of it and touches nothing.
# The guide: docs/DEPLOYMENT_GUIDE.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=terraform/cdktf.out/stacks/droplet
# Overridable only so the test can run the droplet side in a temp dir.
REMOTE_DIR=${DEPLOY_REMOTE_DIR:-/opt/agentic-mesh}
GENERATED_SECRETS=(ADMIN_API_KEY INTERNAL_TOKEN POSTGRES_PASSWORD REDIS_PASSWORD GRAFANA_ADMIN_PASSWORD)
SPACES_REGIONS=" nyc3 sfo2 sfo3 ams3 sgp1 fra1 syd1 blr1 "
# Host ports the compose stack binds to 127.0.0.1 on the droplet (reached over an SSH tunnel).
TUNNEL_PORTS=(3000 9090 16686 9093 8500 8000)

usage() {
  cat <<EOF
Usage: scripts/deploy_to_do.sh [options]

Provision a droplet with Terraform (the CDKTF app in terraform/), ship this repository's HEAD
and .env to $REMOTE_DIR, start the Compose stack and wait until it is healthy.

Options (each also read from the environment variable in brackets):
  --admin-ip IP[/CIDR]   address allowed to SSH to the droplet, required [ADMIN_IP]
  --domain NAME          the API's domain, with an A record to the droplet [DOMAIN, or DOMAIN in the env file]
  --region SLUG          droplet region, default nyc3 [REGION]
  --size SLUG            droplet size, default s-4vcpu-8gb [SIZE]
  --spaces-region SLUG   region of the backup bucket, default the droplet's region when it has Spaces, else nyc3 [SPACES_REGION]
  --name NAME            droplet and resource name, default agentic-mesh [DEPLOY_NAME]
  --extra-port PORT      open one more TCP port to the admin IP; repeatable [EXTRA_INBOUND_PORTS, space-separated]
  --ssh-key PATH         SSH public key, default ~/.ssh/id_ed25519.pub [SSH_KEY]
  --ssh-user USER        default root [SSH_USER]
  --ssh-port PORT        the droplet's SSH port as this machine reaches it, default 22 [SSH_PORT]
  --https-port PORT      the port this machine reaches the droplet's 443 on, for the final health
                         check, default 443; differs only behind port forwarding [HTTPS_PORT]
  --local-build          build the platform's images on this machine (docker build of the same HEAD
                         bundle) and send them to the droplet (docker save | ssh docker load) instead
                         of building there: for a droplet short of memory or CPU for npm ci and tsc,
                         and a faster deploy; needs Docker here. An image the droplet already has
                         (same id) is not sent again [LOCAL_BUILD=1]
  --env-file PATH        env file shipped as $REMOTE_DIR/.env, default .env at the repository root [ENV_FILE];
                         created from .env.example with generated secrets when missing
  --dry-run              print every step and command (secrets redacted); run only local read-only checks
  --destroy              destroy the droplet, firewall and bucket instead (needs --yes)
  --yes                  confirm --destroy
  -h, --help             this text

NODE_IMAGE in the environment overrides the env file's (the base image the build starts from,
e.g. a mirror of node:24-trixie-slim); AGENTIC_MESH_IMAGE in the env file names the built image.

Required in the environment: DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY
(the Spaces keys may instead be in the env file). Tools: terraform (or tofu), ssh, scp (or rsync),
npm, git, curl. Waits are bounded: SSH_ATTEMPTS (30), HEALTH_ATTEMPTS (60), WAIT_INTERVAL_S (10).
SSH_KNOWN_HOSTS names the known_hosts file for the droplet's host key (default: ssh's own,
~/.ssh/known_hosts of your passwd entry; ssh does not read $HOME).
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- options
DRY_RUN=0
DESTROY=0
CONFIRMED=0
ADMIN_IP=${ADMIN_IP:-}
DOMAIN_ARG=${DOMAIN:-}
REGION=${REGION:-nyc3}
SIZE=${SIZE:-s-4vcpu-8gb}
SPACES_REGION_ARG=${SPACES_REGION:-}
DEPLOY_NAME=${DEPLOY_NAME:-}
read -r -a EXTRA_PORTS <<<"${EXTRA_INBOUND_PORTS:-}"
SSH_KEY=${SSH_KEY:-$HOME/.ssh/id_ed25519.pub}
SSH_USER=${SSH_USER:-root}
SSH_PORT=${SSH_PORT:-22}
SSH_KNOWN_HOSTS=${SSH_KNOWN_HOSTS:-}
HTTPS_PORT=${HTTPS_PORT:-443}
ENV_FILE=${ENV_FILE:-$REPO/.env}
LOCAL_BUILD=${LOCAL_BUILD:-0}
NODE_IMAGE_ARG=${NODE_IMAGE:-}
SSH_ATTEMPTS=${SSH_ATTEMPTS:-30}
HEALTH_ATTEMPTS=${HEALTH_ATTEMPTS:-60}
WAIT_INTERVAL_S=${WAIT_INTERVAL_S:-10}

need_value() { [[ $# -ge 2 && -n $2 && $2 != --* ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --admin-ip) need_value "$@"; ADMIN_IP=$2; shift 2 ;;
    --domain) need_value "$@"; DOMAIN_ARG=$2; shift 2 ;;
    --region) need_value "$@"; REGION=$2; shift 2 ;;
    --size) need_value "$@"; SIZE=$2; shift 2 ;;
    --spaces-region) need_value "$@"; SPACES_REGION_ARG=$2; shift 2 ;;
    --name) need_value "$@"; DEPLOY_NAME=$2; shift 2 ;;
    --extra-port) need_value "$@"; EXTRA_PORTS+=("$2"); shift 2 ;;
    --ssh-key) need_value "$@"; SSH_KEY=$2; shift 2 ;;
    --ssh-user) need_value "$@"; SSH_USER=$2; shift 2 ;;
    --ssh-port) need_value "$@"; SSH_PORT=$2; shift 2 ;;
    --https-port) need_value "$@"; HTTPS_PORT=$2; shift 2 ;;
    --env-file) need_value "$@"; ENV_FILE=$2; shift 2 ;;
    --local-build) LOCAL_BUILD=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --destroy) DESTROY=1; shift ;;
    --yes) CONFIRMED=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
# Paths given relative to where the script was started from, before it moves to the repository.
absolute() { if [[ $1 == /* ]]; then printf '%s' "$1"; else printf '%s/%s' "$PWD" "$1"; fi; }
ENV_FILE=$(absolute "$ENV_FILE")
SSH_KEY=$(absolute "$SSH_KEY")
cd "$REPO"

# shellcheck source=scripts/deploy/env-file.sh
source "$REPO/scripts/deploy/env-file.sh"

# ---------------------------------------------------------------- settings
ENV_EXISTS=0
[[ -f $ENV_FILE ]] && ENV_EXISTS=1
DOMAIN=${DOMAIN_ARG:-$(env_get "$ENV_FILE" DOMAIN)}
SPACES_KEY_ID=${SPACES_ACCESS_KEY_ID:-$(env_get "$ENV_FILE" SPACES_ACCESS_KEY_ID)}
SPACES_SECRET=${SPACES_SECRET_ACCESS_KEY:-$(env_get "$ENV_FILE" SPACES_SECRET_ACCESS_KEY)}
if [[ -n $SPACES_REGION_ARG ]]; then
  SPACES_REGION=$SPACES_REGION_ARG
elif [[ $SPACES_REGIONS == *" $REGION "* ]]; then
  SPACES_REGION=$REGION
else
  SPACES_REGION=nyc3
fi
SSH_PRIVATE_KEY=${SSH_KEY%.pub}
# The names compose/docker-compose.yml gives the images it builds.
APP_IMAGE=$(env_get "$ENV_FILE" AGENTIC_MESH_IMAGE)
APP_IMAGE=${APP_IMAGE:-agentic-mesh:local}
NODE_IMAGE=${NODE_IMAGE_ARG:-$(env_get "$ENV_FILE" NODE_IMAGE)}
# For the commands printed for the user to copy.
SSH_PORT_ARG=""
[[ $SSH_PORT == 22 ]] || SSH_PORT_ARG=" -p $SSH_PORT"

# Every value that must never reach the terminal; redact() masks them in anything printed.
SECRETS=()
add_secret() { [[ ${#1} -ge 4 ]] && SECRETS+=("$1"); return 0; }
add_secret "${DIGITALOCEAN_TOKEN:-}"
add_secret "$SPACES_KEY_ID"
add_secret "$SPACES_SECRET"
for key in "${GENERATED_SECRETS[@]}" LLM_API_KEY SLACK_WEBHOOK_URL; do
  add_secret "$(env_get "$ENV_FILE" "$key")"
done
redact() {
  local text=$1 secret
  for secret in ${SECRETS[@]+"${SECRETS[@]}"}; do
    text=${text//"$secret"/[redacted]}
  done
  printf '%s' "$text"
}

# shellcheck source=scripts/deploy/preflight.sh
source "$REPO/scripts/deploy/preflight.sh"
# shellcheck source=scripts/deploy/commands.sh
source "$REPO/scripts/deploy/commands.sh"

# ---------------------------------------------------------------- the deploy
create_env_file() {
  step "env: $ENV_FILE"
  if [[ $ENV_EXISTS == 1 ]]; then
    say "  using $ENV_FILE (DOMAIN=$DOMAIN)"
    return 0
  fi
  say "  $ENV_FILE does not exist: create it from .env.example with generated ${GENERATED_SECRETS[*]} (openssl rand -hex 32), DOMAIN=$DOMAIN"
  if [[ $DRY_RUN == 1 ]]; then
    say "  (dry run: not created)"
    return 0
  fi
  (umask 077 && cp .env.example "$ENV_FILE")
  chmod 600 "$ENV_FILE"
  local key value
  for key in "${GENERATED_SECRETS[@]}"; do
    if [[ -z $(env_get "$ENV_FILE" "$key") ]]; then
      value=$(openssl rand -hex 32)
      env_set "$ENV_FILE" "$key" "$value"
      add_secret "$value"
    fi
  done
  [[ -n $(env_get "$ENV_FILE" DOMAIN) ]] || env_set "$ENV_FILE" DOMAIN "$DOMAIN"
  ENV_EXISTS=1
  say "  created $ENV_FILE (mode 600) with new secrets; review ACME_EMAIL, LLM_* and SLACK_WEBHOOK_URL in it"
}

synth() {
  step "synth: the CDKTF app to Terraform JSON in $STACK_DIR"
  run npm run synth
}

apply() {
  step "apply: terraform init + apply (droplet, firewall, Spaces bucket)"
  say "  with this environment:"
  local assignment
  for assignment in "${TF_ENV[@]}"; do show "$assignment"; done
  tf init -input=false
  tf apply -auto-approve -input=false
  if [[ $DRY_RUN == 1 ]]; then
    show "${TF_BIN[@]}" -chdir="$STACK_DIR" output -raw droplet_ip
    show "${TF_BIN[@]}" -chdir="$STACK_DIR" output -raw spaces_bucket
    IP="<droplet_ip>"
    BUCKET="<spaces_bucket>"
  else
    IP=$(tf_output droplet_ip)
    BUCKET=$(tf_output spaces_bucket)
    [[ -n $IP ]] || die "terraform output droplet_ip is empty"
    say "  droplet $IP, bucket $BUCKET"
    say "  DNS: $DOMAIN needs an A record pointing at $IP (Let's Encrypt checks it before issuing the certificate)"
  fi
}

wait_for_ssh() {
  step "ssh: wait until the droplet answers and cloud-init has finished"
  ssh_opts
  retry "$SSH_ATTEMPTS" "sshd on a new droplet" ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" true ||
    die "no SSH answer from $SSH_USER@$IP after $SSH_ATTEMPTS attempts. Is $ADMIN_IP still your public address? If the droplet was recreated with the same address, remove the old host key: ssh-keygen -R $(known_host_name)${SSH_KNOWN_HOSTS:+ -f $SSH_KNOWN_HOSTS}"
  # The bundle lands in a directory cloud-init creates, beside units it installs.
  # Exit 2 is "done, with recoverable errors" (deprecated keys and the like) since cloud-init 23.4.
  # shellcheck disable=SC2016 # expanded by the droplet's shell
  remote 'timeout 900 cloud-init status --wait >/dev/null; rc=$?; cloud-init status; [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]' ||
    die "cloud-init did not finish cleanly on the droplet: read ssh$SSH_PORT_ARG $SSH_USER@$IP cat /var/log/cloud-init-output.log"
}

ship() {
  step "ship: HEAD as a bundle, and the env file, to $REMOTE_DIR"
  local work="<local temp dir>"
  [[ $DRY_RUN == 1 ]] || work=$(mktemp -d)
  LOCAL_WORK=$work
  run git archive --format=tar.gz -o "$work/bundle.tar.gz" HEAD
  say "  the env file shipped is $ENV_FILE, with SPACES_BUCKET/SPACES_REGION/SPACES_ENDPOINT/SPACES_* keys filled from the apply when empty"
  if [[ $DRY_RUN == 0 ]]; then
    (umask 077 && cp "$ENV_FILE" "$work/env")
    # The domain Terraform and the health check use is the one Caddy must serve.
    [[ $(env_get "$work/env" DOMAIN) == "$DOMAIN" ]] || env_set "$work/env" DOMAIN "$DOMAIN"
    [[ -n $(env_get "$work/env" SPACES_BUCKET) ]] || env_set "$work/env" SPACES_BUCKET "$BUCKET"
    [[ -n $(env_get "$work/env" SPACES_REGION) ]] || env_set "$work/env" SPACES_REGION "$SPACES_REGION"
    [[ -n $(env_get "$work/env" SPACES_ENDPOINT) ]] || env_set "$work/env" SPACES_ENDPOINT "https://$SPACES_REGION.digitaloceanspaces.com"
    [[ -n $(env_get "$work/env" SPACES_ACCESS_KEY_ID) ]] || env_set "$work/env" SPACES_ACCESS_KEY_ID "$SPACES_KEY_ID"
    [[ -n $(env_get "$work/env" SPACES_SECRET_ACCESS_KEY) ]] || env_set "$work/env" SPACES_SECRET_ACCESS_KEY "$SPACES_SECRET"
    # The droplet builds from the same base as --local-build does here (and rebuilds with it at boot).
    [[ -z $NODE_IMAGE_ARG || $(env_get "$work/env" NODE_IMAGE) == "$NODE_IMAGE_ARG" ]] || env_set "$work/env" NODE_IMAGE "$NODE_IMAGE_ARG"
  fi
  cp_local "$REPO/scripts/deploy/remote.sh" "$work/remote.sh"
  if [[ $DRY_RUN == 1 ]]; then
    show ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" mktemp -d /tmp/agentic-mesh-deploy.XXXXXX
    STAGE="<remote temp dir>"
  else
    STAGE=$(ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" mktemp -d /tmp/agentic-mesh-deploy.XXXXXX)
  fi
  copy_to "$STAGE/" "$work/bundle.tar.gz" "$work/env" "$work/remote.sh"
  remote bash "$STAGE/remote.sh" install "$STAGE/bundle.tar.gz" "$STAGE/env" "$REMOTE_DIR"
  [[ $LOCAL_BUILD == 0 ]] || build_and_send "$work/bundle.tar.gz"
}

# --local-build: the images `up --build` would make on the droplet, made here from the bundle just
# shipped (unpacked, so uncommitted changes stay out of the image as they stay out of the tree),
# then loaded into the droplet's engine. A directory rather than the tar.gz on the build's stdin:
# the legacy builder's cache keys hash each file's tar header, and git archive's (mode 0664, owner
# names) differ from the docker CLI's, so a build from the tarball never reuses the layers a build
# of the same files from a checkout made.
build_and_send() {
  local bundle=$1 context=$LOCAL_WORK/context target image missing=()
  local args=(-f "$context/compose/Dockerfile")
  [[ -z $NODE_IMAGE ]] || args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
  # The droplet is amd64; a build on another architecture (an ARM laptop) needs BuildKit's emulation.
  [[ $LOCAL_ARCH == x86_64 || $LOCAL_ARCH == amd64 ]] || args+=(--platform linux/amd64)
  run mkdir -p "$context"
  # Files as a checkout has them (umask modes), whoever runs this.
  run tar -xzf "$bundle" -C "$context" --no-same-owner --no-same-permissions
  for target in runtime backup; do
    image=$APP_IMAGE
    [[ $target == runtime ]] || image=$APP_IMAGE-$target
    show docker build "${args[@]}" --target "$target" -t "$image" "$context"
    if [[ $DRY_RUN == 0 ]]; then
      docker build "${args[@]}" --target "$target" -t "$image" "$context" ||
        die "docker build of $image (target $target of compose/Dockerfile) failed on this machine; its output is above"
    fi
    # shellcheck disable=SC2029 # the image's name is meant to expand here
    if [[ $DRY_RUN == 0 && $(docker image inspect -f '{{.Id}}' "$image") == "$(ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" "docker image inspect -f '{{.Id}}' '$image' 2>/dev/null" || true)" ]]; then
      say "  $image: the droplet already has this build"
    else
      missing+=("$image")
    fi
  done
  ((${#missing[@]} > 0)) || return 0
  # One stream: the layers the images share cross once.
  show docker save "${missing[@]}" "|" ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" docker load -q
  if [[ $DRY_RUN == 0 ]]; then
    docker save "${missing[@]}" | ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" docker load -q ||
      die "sending ${missing[*]} to the droplet failed (docker save | ssh docker load); is its disk full? ssh$SSH_PORT_ARG $SSH_USER@$IP df -h /var/lib/docker"
  fi
}
cp_local() {
  if [[ $DRY_RUN == 1 ]]; then show cp "$@"; else cp "$@"; fi
}

up() {
  if [[ $LOCAL_BUILD == 1 ]]; then
    step "up: docker compose up on the droplet (profiles core and observability; the images sent from here)"
    say "  runs: cd $REMOTE_DIR && docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d"
    remote bash "$STAGE/remote.sh" up "$REMOTE_DIR" --no-build ||
      die "docker compose up failed on $IP (its output is above); fix the cause and re-run this script"
    return 0
  fi
  step "up: docker compose up on the droplet (profiles core and observability; images built there)"
  say "  runs: cd $REMOTE_DIR && docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d --build"
  say "  then: docker compose --env-file .env -f compose/docker-compose.yml --profile backup build backup (the nightly backup's image)"
  remote bash "$STAGE/remote.sh" up "$REMOTE_DIR" ||
    die "docker compose up failed on $IP (its output is above); fix the cause and re-run this script"
}

health() {
  step "health: every container healthy, then https://$DOMAIN/health through Caddy"
  remote bash "$STAGE/remote.sh" wait-healthy "$REMOTE_DIR" "$HEALTH_ATTEMPTS" "$WAIT_INTERVAL_S" ||
    die "the stack on $IP did not become healthy (the containers are named above); fix the cause and re-run this script"
  # --resolve: the laptop's resolver may not have the new A record yet; Let's Encrypt needs it
  # in public DNS all the same, so a failure here usually means the record is missing.
  local to=(--resolve "$DOMAIN:443:$IP")
  [[ $HTTPS_PORT == 443 ]] || to=(--connect-to "$DOMAIN:443:$IP:$HTTPS_PORT")
  retry "$HEALTH_ATTEMPTS" "the certificate is issued once DNS points at the droplet" \
    curl -fsS --max-time 10 "${to[@]}" "https://$DOMAIN/health" ||
    die "https://$DOMAIN/health did not answer. Check that $DOMAIN has an A record for $IP, then read Caddy's log: ssh$SSH_PORT_ARG $SSH_USER@$IP 'cd $REMOTE_DIR && docker compose -f compose/docker-compose.yml logs --tail=100 caddy'. Re-running this script is safe."
  remote rm -rf "$STAGE"
}

report() {
  local forwards="" port
  for port in "${TUNNEL_PORTS[@]}"; do forwards+=" -L $port:127.0.0.1:$port"; done
  say ""
  if [[ $DRY_RUN == 1 ]]; then
    say "Dry run complete: nothing was created, changed or uploaded."
    say "It would then print the API URL (https://$DOMAIN), the SSH tunnel command and where the admin key is."
    return 0
  fi
  cat <<EOF
Agentic Mesh is up.

  API           https://$DOMAIN   (try: curl https://$DOMAIN/health)
  SSH           ssh$SSH_PORT_ARG $SSH_USER@$IP
  Dashboards    ssh -N$forwards$SSH_PORT_ARG $SSH_USER@$IP
                then Grafana http://localhost:3000 (user admin, GRAFANA_ADMIN_PASSWORD in $ENV_FILE),
                Prometheus http://localhost:9090, Jaeger http://localhost:16686,
                Alertmanager http://localhost:9093, Consul http://localhost:8500,
                the MCP gateway for an IDE http://localhost:8000/mcp (with an API key)
  Admin key     grep ^ADMIN_API_KEY= $ENV_FILE   (send it as Authorization: Bearer <key>; create
                narrower keys with it: docs/DEPLOYMENT_GUIDE.md, "API keys")
  Backups       nightly at 02:00 UTC to the Spaces bucket $BUCKET
EOF
}

destroy() {
  step "synth: the CDKTF app to Terraform JSON in $STACK_DIR"
  run npm run synth
  step "init"
  say "  with this environment:"
  local assignment
  for assignment in "${TF_ENV[@]}"; do show "$assignment"; done
  tf init -input=false
  step "destroy: droplet, firewall, SSH key and Spaces bucket"
  tf destroy -auto-approve -input=false
  say ""
  if [[ $DRY_RUN == 1 ]]; then say "Dry run complete: nothing was destroyed."; else say "Destroyed. $ENV_FILE is kept on this machine."; fi
}

cleanup() {
  if [[ -n ${LOCAL_WORK:-} && -d ${LOCAL_WORK:-} ]]; then rm -rf -- "$LOCAL_WORK"; fi
}
trap cleanup EXIT

main() {
  if [[ $DRY_RUN == 1 ]]; then
    say "Agentic Mesh -> DigitalOcean: DRY RUN (only local read-only checks; no terraform, no ssh, no file written)"
  else
    say "Agentic Mesh -> DigitalOcean"
  fi
  preflight
  TF_BIN=("$TF")
  tf_env
  say "  terraform CLI    $TF"
  say "  region / size    $REGION / $SIZE (Spaces: $SPACES_REGION)"
  say "  domain           $DOMAIN"
  say "  admin IP         $ADMIN_IP"
  say "  SSH key          $SSH_KEY"
  say "  env file         $ENV_FILE$([[ $ENV_EXISTS == 1 ]] || printf ' (to be created)')"
  say "  DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY: set ([redacted])"
  if [[ $DESTROY == 1 ]]; then
    destroy
    return 0
  fi
  IP="" BUCKET="" STAGE=""
  create_env_file
  synth
  apply
  wait_for_ssh
  ship
  up
  health
  report
}

main
