# shellcheck shell=bash
# Sourced by scripts/deploy_to_do.sh: reading and writing KEY=VALUE env files.
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
