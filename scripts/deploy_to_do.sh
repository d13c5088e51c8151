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
GENERATED_SECRETS=(ADMIN_API_KEY INTERNAL_TOKEN POSTGRES_PASSWORD GRAFANA_ADMIN_PASSWORD)
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
  --extra-port PORT      open one more inbound TCP port in the firewall; repeatable [EXTRA_INBOUND_PORTS, space-separated]
  --ssh-key PATH         SSH public key, default ~/.ssh/id_ed25519.pub [SSH_KEY]
  --ssh-user USER        default root [SSH_USER]
  --env-file PATH        env file shipped as $REMOTE_DIR/.env, default .env at the repository root [ENV_FILE];
                         created from .env.example with generated secrets when missing
  --dry-run              print every step and command (secrets redacted); run only local read-only checks
  --destroy              destroy the droplet, firewall and bucket instead (needs --yes)
  --yes                  confirm --destroy
  -h, --help             this text

Required in the environment: DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY
(the Spaces keys may instead be in the env file). Tools: terraform (or tofu), ssh, scp (or rsync),
npm, git, curl. Waits are bounded: SSH_ATTEMPTS (30), HEALTH_ATTEMPTS (60), WAIT_INTERVAL_S (10).
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
ENV_FILE=${ENV_FILE:-$REPO/.env}
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
    --env-file) need_value "$@"; ENV_FILE=$2; shift 2 ;;
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

# ---------------------------------------------------------------- env file, read without sourcing it
# Sourcing would run whatever the file holds; compose reads it as plain KEY=VALUE, so do we.
env_get() {
  local file=$1 key=$2 line value=""
  [[ -f $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == "$key="* ]] && value=${line#"$key="}
  done <"$file"
  value=${value%$'\r'}
  if [[ $value == \"*\" || $value == \'*\' ]]; then value=${value:1:${#value}-2}; fi
  printf '%s' "$value"
}

# Replaces KEY's line or appends one; only ever called on files this script writes.
env_set() {
  local file=$1 key=$2 value=$3 line found=0 tmp
  tmp=$(mktemp "$file.XXXXXX")
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $found == 0 && $line == "$key="* ]]; then
      printf '%s=%s\n' "$key" "$value"
      found=1
    else
      printf '%s\n' "$line"
    fi
  done <"$file" >"$tmp"
  [[ $found == 1 ]] || printf '%s=%s\n' "$key" "$value" >>"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$file"
}

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

# ---------------------------------------------------------------- preflight
PROBLEMS=()
problem() { PROBLEMS+=("$1"); }
TF=""
COPY=""
preflight() {
  if command -v terraform >/dev/null 2>&1; then
    TF=terraform
  elif command -v tofu >/dev/null 2>&1; then
    TF=tofu
  else
    problem "terraform (or OpenTofu's tofu) is not installed: https://developer.hashicorp.com/terraform/install or https://opentofu.org/docs/intro/install/"
  fi
  if command -v scp >/dev/null 2>&1; then
    COPY=scp
  elif command -v rsync >/dev/null 2>&1; then
    COPY=rsync
  elif [[ $DESTROY == 0 ]]; then
    problem "scp (or rsync) is not installed: install OpenSSH's client (Debian/Ubuntu: apt-get install openssh-client)"
  fi
  local tool
  local tools=(npm git)
  [[ $DESTROY == 1 ]] || tools+=(ssh curl)
  for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      case $tool in
        ssh) problem "ssh is not installed: install OpenSSH's client (Debian/Ubuntu: apt-get install openssh-client)" ;;
        npm) problem "npm is not installed: install Node.js (any recent npm; the project brings its own Node 24)" ;;
        git) problem "git is not installed: the bundle is made with git archive (apt-get install git)" ;;
        curl) problem "curl is not installed: it checks https://DOMAIN/health at the end (apt-get install curl)" ;;
      esac
    fi
  done

  [[ -n ${DIGITALOCEAN_TOKEN:-} ]] ||
    problem "DIGITALOCEAN_TOKEN is not set: create a read/write token at https://cloud.digitalocean.com/account/api/tokens and export DIGITALOCEAN_TOKEN=..."
  [[ -n $SPACES_KEY_ID ]] ||
    problem "SPACES_ACCESS_KEY_ID is not set: create a Spaces key at https://cloud.digitalocean.com/spaces/access_keys and export it (or put it in $ENV_FILE)"
  [[ -n $SPACES_SECRET ]] ||
    problem "SPACES_SECRET_ACCESS_KEY is not set: it comes with the Spaces key (export it, or put it in $ENV_FILE)"
  if [[ -z $ADMIN_IP ]]; then
    problem "ADMIN_IP is not set: pass --admin-ip with your public address (the only one allowed to SSH in), e.g. --admin-ip 203.0.113.7"
  elif ! [[ $ADMIN_IP =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$ || $ADMIN_IP =~ ^[0-9a-fA-F:]+:[0-9a-fA-F:]*(/[0-9]{1,3})?$ ]]; then
    problem "ADMIN_IP '$ADMIN_IP' is not an IPv4/IPv6 address or CIDR"
  fi
  [[ -n $DOMAIN ]] ||
    problem "DOMAIN is not set: pass --domain api.example.com (or set DOMAIN in $ENV_FILE); after the apply, point its A record at the droplet's address"
  if [[ ! -f $SSH_KEY ]]; then
    problem "SSH public key $SSH_KEY not found: create one with ssh-keygen -t ed25519, or pass --ssh-key PATH"
  elif [[ $(head -c 4 "$SSH_KEY") != ssh- && $(head -c 6 "$SSH_KEY") != ecdsa- ]]; then
    problem "$SSH_KEY does not look like an SSH public key (expected a line starting with ssh-ed25519, ssh-rsa or ecdsa-)"
  fi
  local port
  for port in ${EXTRA_PORTS[@]+"${EXTRA_PORTS[@]}"}; do
    [[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || problem "--extra-port '$port' is not a port number"
  done
  for var in SSH_ATTEMPTS HEALTH_ATTEMPTS WAIT_INTERVAL_S; do
    [[ ${!var} =~ ^[1-9][0-9]*$ ]] || problem "$var='${!var}' is not a positive whole number"
  done

  [[ -f terraform/main.ts ]] || problem "terraform/main.ts is missing: this checkout has no CDKTF app to synthesize"
  [[ -d node_modules/cdktf ]] || problem "node_modules/cdktf is missing: run npm ci in $REPO first"

  if [[ $DESTROY == 0 ]]; then
    if command -v git >/dev/null 2>&1 && ! git rev-parse --verify -q HEAD >/dev/null; then
      problem "$REPO has no commit to ship: the bundle is git archive HEAD"
    fi
    [[ -f compose/docker-compose.yml ]] || problem "compose/docker-compose.yml is missing: nothing to run on the droplet"
    if [[ $ENV_EXISTS == 1 ]]; then
      local key value
      for key in "${GENERATED_SECRETS[@]}"; do
        value=$(env_get "$ENV_FILE" "$key")
        if [[ -z $value ]]; then
          problem "$key is empty in $ENV_FILE: set it to a new secret, e.g. $key=\$(openssl rand -hex 32)"
        elif [[ ${#value} -lt 32 && ($key == ADMIN_API_KEY || $key == INTERNAL_TOKEN) ]]; then
          problem "$key in $ENV_FILE is shorter than 32 characters: the platform refuses it (openssl rand -hex 32 makes one)"
        fi
      done
    else
      [[ -f .env.example ]] || problem "$ENV_FILE does not exist and there is no .env.example to create it from"
      command -v openssl >/dev/null 2>&1 || problem "openssl is not installed: it generates the secrets of the new $ENV_FILE (apt-get install openssl)"
    fi
  elif [[ $CONFIRMED == 0 && $DRY_RUN == 0 ]]; then
    problem "--destroy deletes the droplet, its firewall and the backup bucket: add --yes to confirm"
  fi

  if ((${#PROBLEMS[@]} > 0)); then
    printf 'Cannot deploy yet, %d problem(s):\n' "${#PROBLEMS[@]}" >&2
    local p
    for p in "${PROBLEMS[@]}"; do printf '  - %s\n' "$(redact "$p")" >&2; done
    exit 1
  fi
  if [[ $DESTROY == 0 ]]; then
    # --no-optional-locks: a plain status refreshes .git/index, and preflight writes nothing.
    if [[ -n $(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null) ]]; then
      warn "uncommitted changes are not shipped: the bundle is git archive HEAD ($(git rev-parse --short HEAD))"
    fi
    if [[ $ENV_FILE == "$REPO/.env" ]] && ! git check-ignore -q .env; then
      warn ".env is not in .gitignore: keep it out of commits, it holds the platform's secrets"
    fi
  fi
  [[ -z $(env_get "$ENV_FILE" ACME_EMAIL) ]] && [[ $ENV_EXISTS == 1 ]] &&
    warn "ACME_EMAIL is empty in $ENV_FILE: Let's Encrypt will not be able to warn you about expiring certificates"
  return 0
}

# ---------------------------------------------------------------- running, or showing, commands
STEP=0
STEPS=7
[[ $DESTROY == 1 ]] && STEPS=3
step() {
  STEP=$((STEP + 1))
  say ""
  say "==> [$STEP/$STEPS] $1"
}
# Display only: secrets masked per word, quotes only where a word needs them.
show() {
  local words=() arg
  for arg in "$@"; do
    arg=$(redact "$arg")
    if [[ $arg =~ ^[][A-Za-z0-9_./:=@,+%\<\>-]+$ ]]; then
      words+=("$arg")
    else
      words+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  say "  \$ ${words[*]}"
}
# run CMD...: prints it; runs it unless this is a dry run.
run() {
  show "$@"
  [[ $DRY_RUN == 1 ]] || "$@"
}

# Terraform reads these from its environment (exported, never on a command line where ps would
# show them, never written to a file).
TF_ENV=()
tf_env() {
  TF_ENV=(
    "DIGITALOCEAN_TOKEN=${DIGITALOCEAN_TOKEN:-}"
    "SPACES_ACCESS_KEY_ID=$SPACES_KEY_ID"
    "SPACES_SECRET_ACCESS_KEY=$SPACES_SECRET"
    "TF_VAR_region=$REGION"
    "TF_VAR_size=$SIZE"
    "TF_VAR_admin_ip=$ADMIN_IP"
    "TF_VAR_domain=$DOMAIN"
    "TF_VAR_spaces_region=$SPACES_REGION"
  )
  if [[ -f $SSH_KEY ]]; then
    TF_ENV+=("TF_VAR_ssh_public_key=$(tr -d '\r\n' <"$SSH_KEY")")
  else
    TF_ENV+=("TF_VAR_ssh_public_key=<contents of $SSH_KEY>")
  fi
  [[ -z $DEPLOY_NAME ]] || TF_ENV+=("TF_VAR_name=$DEPLOY_NAME")
  if ((${#EXTRA_PORTS[@]} > 0)); then
    local joined
    joined=$(IFS=,; printf '%s' "${EXTRA_PORTS[*]}")
    TF_ENV+=("TF_VAR_extra_inbound_ports=[$joined]")
  fi
}
# The subshell keeps the token and keys away from every other command the script runs.
tf() {
  show "${TF_BIN[@]}" -chdir="$STACK_DIR" "$@"
  [[ $DRY_RUN == 1 ]] || (export "${TF_ENV[@]}" && "${TF_BIN[@]}" -chdir="$STACK_DIR" "$@")
}
tf_output() { (export "${TF_ENV[@]}" && "${TF_BIN[@]}" -chdir="$STACK_DIR" output -raw "$1"); }
TF_BIN=()

SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=15)
ssh_opts() { [[ -f $SSH_PRIVATE_KEY ]] && SSH_OPTS+=(-i "$SSH_PRIVATE_KEY"); return 0; }
remote() { run ssh "${SSH_OPTS[@]}" "$SSH_USER@$IP" "$@"; }
copy_to() {
  local dest=$1
  shift
  if [[ $COPY == scp ]]; then
    run scp -q "${SSH_OPTS[@]}" "$@" "$SSH_USER@$IP:$dest"
  else
    run rsync -q -e "ssh ${SSH_OPTS[*]}" "$@" "$SSH_USER@$IP:$dest"
  fi
}

# Retries CMD up to ATTEMPTS times, INTERVAL seconds apart; the dry run shows it once.
retry() {
  local attempts=$1 label=$2 attempt
  shift 2
  show "$@"
  say "    (up to $attempts attempts, $WAIT_INTERVAL_S s apart: $label)"
  [[ $DRY_RUN == 0 ]] || return 0
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    ((attempt == attempts)) || sleep "$WAIT_INTERVAL_S"
  done
  return 1
}

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
    die "no SSH answer from $SSH_USER@$IP after $SSH_ATTEMPTS attempts. Is $ADMIN_IP still your public address? If the droplet was recreated with the same address, remove the old host key: ssh-keygen -R $IP"
  # The bundle lands in a directory cloud-init creates, beside units it installs.
  # Exit 2 is "done, with recoverable errors" (deprecated keys and the like) since cloud-init 23.4.
  # shellcheck disable=SC2016 # expanded by the droplet's shell
  remote 'timeout 900 cloud-init status --wait >/dev/null; rc=$?; cloud-init status; [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]' ||
    die "cloud-init did not finish cleanly on the droplet: read ssh $SSH_USER@$IP cat /var/log/cloud-init-output.log"
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
}
cp_local() {
  if [[ $DRY_RUN == 1 ]]; then show cp "$@"; else cp "$@"; fi
}

up() {
  step "up: docker compose up on the droplet (profiles core and observability; images built there)"
  say "  runs: cd $REMOTE_DIR && docker compose --env-file .env -f compose/docker-compose.yml --profile core --profile observability up -d --build"
  remote bash "$STAGE/remote.sh" up "$REMOTE_DIR" ||
    die "docker compose up failed on $IP (its output is above); fix the cause and re-run this script"
}

health() {
  step "health: every container healthy, then https://$DOMAIN/health through Caddy"
  remote bash "$STAGE/remote.sh" wait-healthy "$REMOTE_DIR" "$HEALTH_ATTEMPTS" "$WAIT_INTERVAL_S" ||
    die "the stack on $IP did not become healthy (the containers are named above); fix the cause and re-run this script"
  # --resolve: the laptop's resolver may not have the new A record yet; Let's Encrypt needs it
  # in public DNS all the same, so a failure here usually means the record is missing.
  retry "$HEALTH_ATTEMPTS" "the certificate is issued once DNS points at the droplet" \
    curl -fsS --max-time 10 --resolve "$DOMAIN:443:$IP" "https://$DOMAIN/health" ||
    die "https://$DOMAIN/health did not answer. Check that $DOMAIN has an A record for $IP, then read Caddy's log: ssh $SSH_USER@$IP 'cd $REMOTE_DIR && docker compose -f compose/docker-compose.yml logs --tail=100 caddy'. Re-running this script is safe."
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
  SSH           ssh $SSH_USER@$IP
  Dashboards    ssh -N$forwards $SSH_USER@$IP
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
