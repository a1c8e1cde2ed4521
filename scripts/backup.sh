#!/usr/bin/env bash
# Backs up the system's data into the deployment guide's tarball, safely while everything runs:
#
#   bioreactor_backup_YYYYMMDD.tar.gz  =  bioreactor-node-v3/data  bioreactor-hub/data  web-server/config
#
# The paths inside are the guide's, so `tar -xzf` in the installation folder restores it (scripts/restore.sh does
# that more safely). Why not a plain tar of the live folders: the hub's SQLite database is written in WAL mode, and a
# file copy taken mid-write can be torn or miss committed rows still in the -wal file. Every SQLite database found is
# therefore copied with SQLite's online backup API (a consistent snapshot, writers are not blocked); the other files
# are copied first and archived from that copy, so a CSV growing under a running experiment is archived as the
# prefix it had, never as a tar error.
#
# Usage: scripts/backup.sh [--root DIR] [--output DIR|FILE.tar.gz] [--keep N]
#   --root    the installation folder holding the three data folders (default: BIOREACTOR_DATA_ROOT, else the
#             repository this script is in)
#   --output  a folder for the dated tarball (default: the root) or the tarball's exact name
#   --keep    after a successful backup, delete all but the newest N dated tarballs in the output folder (for cron)
# Cron, daily at 02:00:  0 2 * * * /home/pi/bioreactor_website/scripts/backup.sh --keep 14
# Needs tar, gzip and, for the SQLite snapshot, python3 (standard library) or the sqlite3 command.
set -euo pipefail

root="${BIOREACTOR_DATA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
output=''
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root)
      root="${2:?--root needs a folder}"
      shift
      ;;
    --output)
      output="${2:?--output needs a folder or a file name}"
      shift
      ;;
    --keep)
      keep="${2:?--keep needs a number}"
      shift
      ;;
    -h | --help)
      sed -n '2,19p' "$0"
      exit 0
      ;;
    *)
      echo "backup: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
case "$keep" in '' | *[!0-9]*)
  echo "backup: --keep takes a whole number, not '$keep'" >&2
  exit 2
  ;;
esac

DATA_DIRS=(bioreactor-node-v3/data bioreactor-hub/data web-server/config)
log() { printf 'backup: %s\n' "$*" >&2; }
die() {
  printf 'backup: %s\n' "$*" >&2
  exit 1
}

root=$(cd "$root" 2>/dev/null && pwd) || die "the root folder does not exist"
present=()
for dir in "${DATA_DIRS[@]}"; do
  [ -d "$root/$dir" ] && present+=("$dir")
done
[ "${#present[@]}" -gt 0 ] || die "none of ${DATA_DIRS[*]} is in $root (is --root the installation folder?)"

stamp=$(date +%Y%m%d)
if [ -z "$output" ]; then output="$root"; fi
if [ -d "$output" ]; then
  out_dir=$(cd "$output" && pwd)
  archive="$out_dir/bioreactor_backup_$stamp.tar.gz"
  # A second backup the same day keeps the first.
  [ -e "$archive" ] && archive="$out_dir/bioreactor_backup_${stamp}_$(date +%H%M%S).tar.gz"
else
  out_dir=$(cd "$(dirname "$output")" 2>/dev/null && pwd) || die "the output folder $(dirname "$output") does not exist"
  archive="$out_dir/$(basename "$output")"
fi

# Finds the SQLite databases under the staged folders (by their header, whatever their name), and replaces each
# staged file copy, which may be torn, with a snapshot taken from the live file by the online backup API. Prints
# how many. One python3 process for all of them; the sqlite3 command is the fallback (files named *.db, *.sqlite*).
snapshot_databases() {
  if command -v python3 >/dev/null; then
    python3 - "$root" "$staging" "${present[@]}" <<'PY'
import os, sqlite3, sys

root, staging, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
count = 0
for top in dirs:
    for folder, _, files in os.walk(os.path.join(root, top)):
        for name in files:
            if name.endswith(("-wal", "-shm", "-journal")):
                continue
            live = os.path.join(folder, name)
            try:
                with open(live, "rb") as f:
                    if f.read(16) != b"SQLite format 3\x00":
                        continue
            except OSError:
                continue
            copy = os.path.join(staging, os.path.relpath(live, root))
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(copy + suffix):
                    os.remove(copy + suffix)
            # Read-only: the backup never creates a -wal or -shm owned by whoever runs it beside the live database.
            src = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
            dst = sqlite3.connect(copy)
            src.backup(dst)
            # One self-contained file: the restored database needs no -wal beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            dst.close()
            src.close()
            if ok != "ok":
                sys.exit(f"backup: the copy of {live} fails its integrity check: {ok}")
            # The owner and mode of the live file, as the file copies keep theirs: the hub (uid 1000) must be able to
            # write the database once restored, even when root took the backup.
            st = os.stat(live)
            os.chmod(copy, st.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(copy, st.st_uid, st.st_gid)
            count += 1
print(count)
PY
  elif command -v sqlite3 >/dev/null; then
    local count=0 db rel
    while IFS= read -r -d '' db; do
      rel="${db#"$root"/}"
      rm -f "$staging/$rel" "$staging/$rel-wal" "$staging/$rel-shm" "$staging/$rel-journal"
      sqlite3 "file:$db?mode=ro" ".timeout 30000" ".backup '$staging/$rel'" >&2 || die "SQLite snapshot of $rel failed"
      sqlite3 "$staging/$rel" 'PRAGMA journal_mode=DELETE;' >/dev/null
      count=$((count + 1))
    done < <(for dir in "${present[@]}"; do find "$root/$dir" -type f \( -name '*.db' -o -name '*.sqlite' -o -name '*.sqlite3' \) -print0; done)
    echo "$count"
  else
    die "copying SQLite databases consistently needs python3 or sqlite3 (apt-get install python3)"
  fi
}

staging=$(mktemp -d "$out_dir/.bioreactor-backup.XXXXXX")
trap 'rm -rf "$staging"' EXIT

for dir in "${present[@]}"; do
  mkdir -p "$staging/${dir%/*}"
  # Files may appear, grow or vanish while the services run; a vanished one is simply not in the backup.
  cp -a "$root/$dir" "$staging/$dir" 2>"$staging/.cp-errors" || {
    if grep -qv 'No such file or directory' "$staging/.cp-errors"; then
      cat "$staging/.cp-errors" >&2
      die "copying $dir failed"
    fi
  }
  rm -f "$staging/.cp-errors"
done
databases=$(snapshot_databases) || die "the SQLite snapshot failed"

tmp_archive="$staging/archive.tar.gz"
tar -C "$staging" --numeric-owner -czf "$tmp_archive" "${present[@]}"
gzip -t "$tmp_archive"
mv "$tmp_archive" "$archive"

files=$(tar -tzf "$archive" | grep -vc '/$' || true)
log "wrote $archive ($(du -h "$archive" | cut -f1), $files files, $databases SQLite database(s) by online backup)"
[ "${#present[@]}" -eq "${#DATA_DIRS[@]}" ] || log "not present, so not in it: $(printf '%s\n' "${DATA_DIRS[@]}" "${present[@]}" | sort | uniq -u | tr '\n' ' ')"

if [ "$keep" -gt 0 ]; then
  mapfile -t old < <(find "$out_dir" -maxdepth 1 -name 'bioreactor_backup_*.tar.gz' -printf '%T@ %p\n' | sort -rn |
    tail -n +"$((keep + 1))" | cut -d' ' -f2-)
  for f in "${old[@]}"; do
    rm -f "$f"
    log "removed old backup $f"
  done
fi
printf '%s\n' "$archive"
