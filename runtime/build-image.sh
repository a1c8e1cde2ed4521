#!/usr/bin/env bash
# Builds the experiment image (default tag bioreactor-experiment) without any container registry:
# debootstrap Debian bookworm with the allowed scientific packages at their pinned versions, write it as a base image,
# then add bioreactor_client (python/src) and the container entrypoint (runtime/experiment_entrypoint.py).
#
# Pinned: runtime/debian-packages.txt names each Debian package and its exact version, runtime/requirements.txt the
# Python-level version of each (numpy==1.24.2 …); the build stops, naming the difference, when the mirror installs
# anything else. The image lists what it holds in /opt/bioreactor/packages.txt (python and each pinned package),
# /opt/bioreactor/debian-packages.txt (every Debian package) and its label org.bioreactor.packages, which the node
# records in every run's manifest (image_packages).
#
# --arch arm64 on an x86 machine (or amd64 on a Pi) builds for the other architecture under qemu-user-static; the tag
# is then bioreactor-experiment:<arch> unless BIOREACTOR_EXPERIMENT_IMAGE names one.
#
# Idempotent: the image carries a label with a hash of its inputs (the pins, this script, the entrypoint and
# python/src/bioreactor_client); when the tag already has that hash nothing is done. The slow base (debootstrap,
# minutes) is cached as its own image and rebuilt only when the pins or this script change, so editing the client
# library costs seconds. --force rebuilds everything.
#
# Needs root, debootstrap, python3 and a running Docker engine (scripts/docker-engine.sh). Where a registry is
# reachable, `docker build -f runtime/Dockerfile -t bioreactor-experiment .` from the repository root makes the same
# image from python:3.11-slim with the same pins.
#
# Usage: runtime/build-image.sh [--force] [--arch amd64|arm64]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host_arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
arch="$host_arch"
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --arch)
      arch="${2:-}"
      shift
      ;;
    *)
      printf 'build-image: unknown argument %s (use --force or --arch amd64|arm64)\n' "$1" >&2
      exit 2
      ;;
  esac
  shift
done
case "$arch" in amd64 | arm64) ;; x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *)
  printf 'build-image: --arch takes amd64 or arm64, not %s\n' "$arch" >&2
  exit 2
  ;;
esac
default_tag=bioreactor-experiment
[ "$arch" = "$host_arch" ] || default_tag="bioreactor-experiment:$arch"
tag="${BIOREACTOR_EXPERIMENT_IMAGE:-$default_tag}"
repo="${tag%%:*}"
base_tag="${repo}-base:bookworm"
[ "$arch" = "$host_arch" ] || base_tag="${repo}-base:bookworm-$arch"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
# name=version lines of runtime/debian-packages.txt, without comments.
pinned_debs="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$root/runtime/debian-packages.txt")"
packages="$(printf '%s\n' "$pinned_debs" | cut -d= -f1 | paste -sd, -)"
experiment_uid=10001

log() { printf 'build-image: %s\n' "$*" >&2; }

command -v docker >/dev/null || { log "docker CLI not found (apt-get install docker.io)"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers; start one with scripts/docker-engine.sh"; exit 1; }

hash_files() { (cd "$root" && find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z |
  xargs -0 sha256sum) | sha256sum | cut -c1-32; }

base_hash="$(printf '%s\n%s\n%s\n%s\n%s\n' "$suite" "$arch" "$experiment_uid" "$(hash_files runtime/debian-packages.txt runtime/requirements.txt runtime/image_packages.py)" "$(sed -n '/^# ---- base ----$/,/^# ---- end base ----$/p' "$0")" |
  sha256sum | cut -c1-32)"
inputs_hash="$(printf '%s %s\n' "$base_hash" "$(hash_files runtime/experiment_entrypoint.py runtime/client_label.py python/src/bioreactor_client)" |
  sha256sum | cut -c1-32)"
# Which bioreactor_client the image holds (version, API level, hash of python/src): the node refuses an image whose
# client is older than its API or another than its own (apps/node/src/runner/client-check.ts).
client_label="$(python3 "$root/runtime/client_label.py")"

label_of() { docker image inspect "$1" --format "{{ index .Config.Labels \"$2\" }}" 2>/dev/null || true; }

if [ "$force" = 0 ] && [ "$(label_of "$tag" org.bioreactor.inputs)" = "$inputs_hash" ]; then
  log "$tag is up to date (inputs $inputs_hash)"
  exit 0
fi

# ---- base ----
if [ "$force" = 1 ] || [ "$(label_of "$base_tag" org.bioreactor.base)" != "$base_hash" ]; then
  command -v debootstrap >/dev/null || { log "debootstrap not found (apt-get install debootstrap)"; exit 1; }
  command -v python3 >/dev/null || { log "python3 is needed to write the image (scripts/import-rootfs.py)"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
  if [ "$arch" != "$host_arch" ]; then
    qemu=qemu-aarch64
    [ "$arch" = amd64 ] && qemu=qemu-x86_64
    grep -qx enabled "/proc/sys/fs/binfmt_misc/$qemu" 2>/dev/null || {
      log "$arch programs do not run here: apt-get install qemu-user-static binfmt-support, then update-binfmts --enable $qemu"
      exit 1
    }
  fi
  rootfs="$(mktemp -d /var/tmp/bioreactor-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $suite ($arch) with $packages (a few minutes)"
  # Downloaded packages are kept between builds, so a rebuild does not fetch them again.
  cache_dir="${BIOREACTOR_DEBOOTSTRAP_CACHE:-/var/cache/bioreactor-debootstrap}/experiment-$arch"
  mkdir -p "$cache_dir"
  debootstrap --variant=minbase --arch="$arch" --cache-dir="$cache_dir" --include="$packages" "$suite" "$rootfs" "$mirror" >&2
  # The pins: each Debian package at its version, then each Python package at its version (image_packages.py).
  mismatch=0
  while IFS='=' read -r name version; do
    installed="$(chroot "$rootfs" dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)"
    if [ "$installed" != "$version" ]; then
      log "runtime/debian-packages.txt pins $name=$version, the mirror installed ${installed:-nothing}: update the pin"
      mismatch=1
    fi
  done <<<"$pinned_debs"
  [ "$mismatch" = 0 ] || exit 1
  mkdir -p "$rootfs/opt/bioreactor/lib" "$rootfs/app/output" "$rootfs/run/bioreactor"
  install -m 0644 "$root/runtime/requirements.txt" "$root/runtime/image_packages.py" "$rootfs/opt/bioreactor/"
  chroot "$rootfs" python3 /opt/bioreactor/image_packages.py /opt/bioreactor/requirements.txt >"$rootfs/opt/bioreactor/packages.txt" || {
    log "the Python packages differ from runtime/requirements.txt (above)"
    exit 1
  }
  packages_label="$(tr '\n' ' ' <"$rootfs/opt/bioreactor/packages.txt" | sed 's/ $//')"
  chroot "$rootfs" dpkg-query -W -f='${Package}=${Version}\n' | sort >"$rootfs/opt/bioreactor/debian-packages.txt"
  # Only what a run needs: no package caches, docs or manuals in the image.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  echo "experiment:x:${experiment_uid}:${experiment_uid}:experiment:/tmp:/usr/sbin/nologin" >>"$rootfs/etc/passwd"
  echo "experiment:x:${experiment_uid}:" >>"$rootfs/etc/group"
  log "importing the base as $base_tag ($arch): $packages_label"
  python3 "$root/scripts/import-rootfs.py" "$rootfs" "$base_tag" --arch "$arch" --comment "debootstrap $suite" \
    --label "org.bioreactor.base=$base_hash" --label "org.bioreactor.packages=$packages_label" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi
# ---- end base ----

log "adding bioreactor_client and the entrypoint to $tag"
cid="$(docker create "$base_tag" /bin/true)"
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
tar -C "$root/python/src" --exclude=__pycache__ --exclude='*.pyc' --owner=0 --group=0 -c bioreactor_client |
  docker cp - "$cid:/opt/bioreactor/lib"
tar -C "$root/runtime" --owner=0 --group=0 -c experiment_entrypoint.py | docker cp - "$cid:/opt/bioreactor"
# The base's labels (org.bioreactor.packages among them) carry over to the image.
docker commit \
  --change "LABEL org.bioreactor.inputs=$inputs_hash" \
  --change "LABEL org.bioreactor.client=\"$client_label\"" \
  --change "LABEL org.opencontainers.image.title=bioreactor-experiment" \
  --change "LABEL org.opencontainers.image.description=\"Runs one bioreactor experiment script\"" \
  --change "ENV PYTHONPATH=/opt/bioreactor/lib PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib MPLBACKEND=Agg" \
  --change "WORKDIR /app" \
  --change "USER ${experiment_uid}:${experiment_uid}" \
  --change 'ENTRYPOINT ["python3", "/opt/bioreactor/experiment_entrypoint.py"]' \
  --change 'CMD ["/app/user_script.py"]' \
  "$cid" "$tag" >/dev/null
log "built $tag (inputs $inputs_hash, client $client_label): $(docker image inspect "$tag" --format '{{.Id}} {{.Size}} bytes, {{.Architecture}}')"
