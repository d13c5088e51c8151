# shellcheck shell=bash
# Sourced by scripts/deploy_to_do.sh, which sets the settings read here (SC2154): how a command is
# shown, run (or, in a dry run, only shown), retried, and sent to the droplet.
# shellcheck disable=SC2154
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
# -o Port rather than -p/-P: ssh, scp and rsync's ssh all take it the same way.
ssh_opts() {
  [[ $SSH_PORT == 22 ]] || SSH_OPTS+=(-o "Port=$SSH_PORT")
  [[ -f $SSH_PRIVATE_KEY ]] && SSH_OPTS+=(-i "$SSH_PRIVATE_KEY")
  [[ -z $SSH_KNOWN_HOSTS ]] || SSH_OPTS+=(-o "UserKnownHostsFile=$SSH_KNOWN_HOSTS")
  return 0
}
# How known_hosts names the droplet: with a port other than 22, as [address]:port.
known_host_name() { if [[ $SSH_PORT == 22 ]]; then printf '%s' "$IP"; else printf "'[%s]:%s'" "$IP" "$SSH_PORT"; fi; }
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
  local errors
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if errors=$("$@" 2>&1 >/dev/null); then return 0; fi
    ((attempt == attempts)) || sleep "$WAIT_INTERVAL_S"
  done
  # What the last attempt said is usually why (refused, timed out, a key or host key refused).
  [[ -z $errors ]] || say "    the last attempt said: $(tail -n 3 <<<"$errors" | paste -sd ' ')"
  return 1
}
