#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh (or the guide's plain tar of the same three folders):
#
#   scripts/restore.sh bioreactor_backup_20260125.tar.gz
#
# What it does, in order, so that a failed restore never leaves a mix of old and new data:
#   1. checks the archive: gzip intact, only the guide's folders (bioreactor-node-v3/data, bioreactor-hub/data,
#      web-server/config), no absolute paths or '..';
#   2. stops the running containers of the system (bioreactor-node-v3, bioreactor-hub, the web server) so nothing
#      writes while the folders change, and remembers which were running;
#   3. saves the current data as bioreactor_pre_restore_<time>.tar.gz beside the root (unless --no-safety-copy);
#   4. replaces each folder in the archive as a whole (a stale SQLite -wal left beside a restored database would
#      corrupt it), keeping owners and permissions;
#   5. starts again the containers that were running.
# Folders not in the archive are left as they are.
#
# Usage: scripts/restore.sh [--root DIR] [--no-stop] [--no-safety-copy] ARCHIVE
#   --root     the installation folder (default: BIOREACTOR_DATA_ROOT, else the repository this script is in)
#   --no-stop  do not stop or start containers (the services are known to be stopped, or run without Docker)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${BIOREACTOR_DATA_ROOT:-$(cd "$here/.." && pwd)}"
stop=1
safety=1
archive=''
while [ $# -gt 0 ]; do
  case "$1" in
    --root)
      root="${2:?--root needs a folder}"
      shift
      ;;
    --no-stop) stop=0 ;;
    --no-safety-copy) safety=0 ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    -*)
      echo "restore: unknown option '$1' (see --help)" >&2
      exit 2
      ;;
    *)
      [ -z "$archive" ] || {
        echo "restore: one archive at a time ('$archive' and '$1')" >&2
        exit 2
      }
      archive="$1"
      ;;
  esac
  shift
done

DATA_DIRS=(bioreactor-node-v3/data bioreactor-hub/data web-server/config)
CONTAINERS=(bioreactor_website-web-server-1 bioreactor-hub bioreactor-node-v3)
log() { printf 'restore: %s\n' "$*" >&2; }
die() {
  printf 'restore: %s\n' "$*" >&2
  exit 1
}

[ -n "$archive" ] || die "name the archive to restore (scripts/restore.sh bioreactor_backup_YYYYMMDD.tar.gz)"
[ -f "$archive" ] || die "no such archive: $archive"
archive=$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")
root=$(cd "$root" 2>/dev/null && pwd) || die "the root folder does not exist"

# 1. The archive.
gzip -t "$archive" 2>/dev/null || die "$archive is not an intact .tar.gz (truncated copy?)"
mapfile -t entries < <(tar -tzf "$archive")
[ "${#entries[@]}" -gt 0 ] || die "$archive is empty"
included=()
for dir in "${DATA_DIRS[@]}"; do
  for entry in "${entries[@]}"; do
    case "${entry#./}" in "$dir" | "$dir"/*)
      included+=("$dir")
      break
      ;;
    esac
  done
done
for entry in "${entries[@]}"; do
  e="${entry#./}"
  case "$e" in /* | ../* | */../* | *'/..') die "unsafe path in the archive: $entry" ;; esac
  ok=0
  for dir in "${DATA_DIRS[@]}"; do
    case "$e" in "$dir" | "$dir"/* | "${dir%/*}" | "${dir%/*}"/) ok=1 ;; esac
  done
  [ "$ok" = 1 ] || die "$archive holds '$entry', outside ${DATA_DIRS[*]}: not a backup of this system"
done
[ "${#included[@]}" -gt 0 ] || die "$archive holds none of ${DATA_DIRS[*]}"
log "archive holds: ${included[*]}"

# 2. Quiet the services.
was_running=()
if [ "$stop" = 1 ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  for c in "${CONTAINERS[@]}"; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; then
      was_running+=("$c")
    fi
  done
  if [ "${#was_running[@]}" -gt 0 ]; then
    log "stopping ${was_running[*]}"
    docker stop -t 30 "${was_running[@]}" >/dev/null
  fi
fi
restart_services() {
  if [ "${#was_running[@]}" -gt 0 ]; then
    # The node first: the hub reconciles its running experiments with it on start.
    for c in bioreactor-node-v3 bioreactor-hub bioreactor_website-web-server-1; do
      if printf '%s\n' "${was_running[@]}" | grep -qx "$c"; then docker start "$c" >/dev/null && log "started $c"; fi
    done
  fi
}
trap restart_services EXIT

# 3. A way back.
if [ "$safety" = 1 ]; then
  current=()
  for dir in "${included[@]}"; do [ -d "$root/$dir" ] && current+=("$dir"); done
  if [ "${#current[@]}" -gt 0 ]; then
    safety_copy="$root/bioreactor_pre_restore_$(date +%Y%m%d_%H%M%S).tar.gz"
    tar -C "$root" --numeric-owner -czf "$safety_copy" "${current[@]}"
    log "current data saved as $safety_copy"
  fi
fi

# 4. Replace, folder by folder, from a full extraction beside the root (same filesystem: the swap is a rename).
staging=$(mktemp -d "$root/.bioreactor-restore.XXXXXX")
cleanup() {
  rm -rf "$staging"
  restart_services
}
trap cleanup EXIT
tar -C "$staging" --numeric-owner --same-permissions -xzf "$archive"
for dir in "${included[@]}"; do
  mkdir -p "$root/${dir%/*}"
  if [ -e "$root/$dir" ]; then mv "$root/$dir" "$staging/$dir.replaced"; fi
  mv "$staging/$dir" "$root/$dir"
  log "restored $dir ($(find "$root/$dir" -type f | wc -l) files)"
done
log "done; restored from $archive"
