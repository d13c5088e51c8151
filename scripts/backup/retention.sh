#!/usr/bin/env bash
# Grandfather-father-son selection over backup archive names read on stdin, one a line (bare names
# or keys with a prefix such as backups/agentic-mesh-20261130T020000Z.tar.gz).
#
#   retention.sh keep     prints the names to keep
#   retention.sh delete   prints the names to delete
#
# Kept: the newest archive of each of the last BACKUP_KEEP_DAILY days (7) that have archives, of the
# last BACKUP_KEEP_WEEKLY ISO weeks (4) and of the last BACKUP_KEEP_MONTHLY months (3). "Last" counts
# periods that have archives, not calendar time, so a backup outage never ages every archive out at
# once. Names that are not ours (no agentic-mesh-YYYYMMDDTHHMMSSZ.tar.gz at the end) are neither kept
# nor deleted: they are not printed at all.
set -euo pipefail

mode="${1:-}"
if [[ "$mode" != keep && "$mode" != delete ]]; then
  echo "usage: retention.sh keep|delete < names" >&2
  exit 2
fi
daily="${BACKUP_KEEP_DAILY:-7}"
weekly="${BACKUP_KEEP_WEEKLY:-4}"
monthly="${BACKUP_KEEP_MONTHLY:-3}"
for n in "$daily" "$weekly" "$monthly"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "retention.sh: keep counts must be whole numbers, got '$n'" >&2; exit 2; }
done

pattern='agentic-mesh-([0-9]{8})T([0-9]{6})Z\.tar\.gz$'

# "timestamp name" lines, newest first; the timestamp sorts as text.
entries=()
while IFS= read -r name || [[ -n "$name" ]]; do
  [[ "$name" =~ $pattern ]] || continue
  entries+=("${BASH_REMATCH[1]}${BASH_REMATCH[2]} $name")
done
((${#entries[@]} > 0)) || exit 0
mapfile -t sorted < <(printf '%s\n' "${entries[@]}" | sort -r -k1,1 -k2)

declare -A seen_day=() seen_week=() seen_month=()
days=0 weeks=0 months=0
for line in "${sorted[@]}"; do
  stamp="${line%% *}"
  name="${line#* }"
  day="${stamp:0:8}"
  month="${stamp:0:6}"
  week="$(date -u -d "${day:0:4}-${day:4:2}-${day:6:2}" +%G-W%V)"
  keep=0
  if [[ -z "${seen_day[$day]:-}" ]] && ((days < daily)); then
    seen_day[$day]=1; days=$((days + 1)); keep=1
  fi
  if [[ -z "${seen_week[$week]:-}" ]] && ((weeks < weekly)); then
    seen_week[$week]=1; weeks=$((weeks + 1)); keep=1
  fi
  if [[ -z "${seen_month[$month]:-}" ]] && ((months < monthly)); then
    seen_month[$month]=1; months=$((months + 1)); keep=1
  fi
  if { [[ "$mode" == keep ]] && ((keep)); } || { [[ "$mode" == delete ]] && ((!keep)); }; then
    printf '%s\n' "$name"
  fi
done
