# shellcheck shell=bash
# Sourced by scripts/deploy_to_do.sh, which sets the settings read here (SC2154), reads the TF
# and COPY chosen here (SC2034), and defines say/warn/redact/env_get before sourcing.
# shellcheck disable=SC2154,SC2034
PROBLEMS=()
problem() { PROBLEMS+=("$1"); }
TF=""
COPY=""
LOCAL_ARCH=""
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

  if [[ $LOCAL_BUILD == 1 && $DESTROY == 0 ]]; then
    if ! command -v docker >/dev/null 2>&1; then
      problem "--local-build needs Docker on this machine (https://docs.docker.com/engine/install/), or deploy without it to build on the droplet"
    elif ! LOCAL_ARCH=$(docker info --format '{{.Architecture}}' 2>/dev/null) || [[ -z $LOCAL_ARCH ]]; then
      problem "--local-build: no Docker engine answers here (docker info failed); start it, or deploy without --local-build"
    fi
  fi

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
  for var in SSH_PORT HTTPS_PORT; do
    [[ ${!var} =~ ^[0-9]+$ && ${!var} -ge 1 && ${!var} -le 65535 ]] || problem "$var='${!var}' is not a port number"
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
