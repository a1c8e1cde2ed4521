#!/usr/bin/env bash
# Builds the experiment image (default tag bioreactor-experiment) without any container registry:
# debootstrap Debian bookworm with the allowed scientific packages, `docker import` it as a base image, then add
# bioreactor_client (python/src) and the container entrypoint (runtime/experiment_entrypoint.py).
#
# Idempotent: the image carries a label with a hash of its inputs (package list, this script, the entrypoint and
# python/src/bioreactor_client); when the tag already has that hash nothing is done. The slow base (debootstrap,
# minutes) is cached as its own image and rebuilt only when the package list or this script changes, so editing
# the client library costs seconds. --force rebuilds everything.
#
# Needs root, debootstrap and a running Docker engine (scripts/docker-engine.sh). Where a registry is reachable,
# `docker build -f runtime/Dockerfile -t bioreactor-experiment .` from the repository root makes the same image
# from python:3.11-slim.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="${BIOREACTOR_EXPERIMENT_IMAGE:-bioreactor-experiment}"
repo="${tag%%:*}"
base_tag="${repo}-base:bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
packages=python3,python3-numpy,python3-pandas,python3-matplotlib,python3-sklearn,python3-requests,python3-scipy,python3-pil
experiment_uid=10001
force=0
[ "${1:-}" = "--force" ] && force=1

log() { printf 'build-image: %s\n' "$*" >&2; }

command -v docker >/dev/null || { log "docker CLI not found (apt-get install docker.io)"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers; start one with scripts/docker-engine.sh"; exit 1; }

hash_files() { (cd "$root" && find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z |
  xargs -0 sha256sum) | sha256sum | cut -c1-32; }

base_hash="$(printf '%s\n%s\n%s\n%s\n' "$suite" "$packages" "$experiment_uid" "$(sed -n '/^# ---- base ----$/,/^# ---- end base ----$/p' "$0")" |
  sha256sum | cut -c1-32)"
inputs_hash="$(printf '%s %s\n' "$base_hash" "$(hash_files runtime/experiment_entrypoint.py python/src/bioreactor_client)" |
  sha256sum | cut -c1-32)"

label_of() { docker image inspect "$1" --format "{{ index .Config.Labels \"$2\" }}" 2>/dev/null || true; }

if [ "$force" = 0 ] && [ "$(label_of "$tag" org.bioreactor.inputs)" = "$inputs_hash" ]; then
  log "$tag is up to date (inputs $inputs_hash)"
  exit 0
fi

# ---- base ----
if [ "$force" = 1 ] || [ "$(label_of "$base_tag" org.bioreactor.base)" != "$base_hash" ]; then
  command -v debootstrap >/dev/null || { log "debootstrap not found (apt-get install debootstrap)"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
  rootfs="$(mktemp -d /var/tmp/bioreactor-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $suite with $packages (a few minutes)"
  # Downloaded packages are kept between builds, so a rebuild does not fetch them again.
  cache_dir="${BIOREACTOR_DEBOOTSTRAP_CACHE:-/var/cache/bioreactor-debootstrap}"
  mkdir -p "$cache_dir"
  debootstrap --variant=minbase --cache-dir="$cache_dir" --include="$packages" "$suite" "$rootfs" "$mirror" >&2
  # Only what a run needs: no package caches, docs or manuals in the image.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  mkdir -p "$rootfs/opt/bioreactor/lib" "$rootfs/app/output" "$rootfs/run/bioreactor"
  echo "experiment:x:${experiment_uid}:${experiment_uid}:experiment:/tmp:/usr/sbin/nologin" >>"$rootfs/etc/passwd"
  echo "experiment:x:${experiment_uid}:" >>"$rootfs/etc/group"
  log "importing the base as $base_tag"
  tar --numeric-owner -C "$rootfs" -c . | docker import --change "LABEL org.bioreactor.base=$base_hash" - "$base_tag" >/dev/null
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
docker commit \
  --change "LABEL org.bioreactor.inputs=$inputs_hash" \
  --change "LABEL org.opencontainers.image.title=bioreactor-experiment" \
  --change "LABEL org.opencontainers.image.description=\"Runs one bioreactor experiment script\"" \
  --change "ENV PYTHONPATH=/opt/bioreactor/lib PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib MPLBACKEND=Agg" \
  --change "WORKDIR /app" \
  --change "USER ${experiment_uid}:${experiment_uid}" \
  --change 'ENTRYPOINT ["python3", "/opt/bioreactor/experiment_entrypoint.py"]' \
  --change 'CMD ["/app/user_script.py"]' \
  "$cid" "$tag" >/dev/null
log "built $tag (inputs $inputs_hash): $(docker image inspect "$tag" --format '{{.Id}} {{.Size}}') bytes"
