#!/usr/bin/env bash
# Builds the four images of a deployment for one architecture with no image registry: the base images
# (scripts/build-base-images.sh), the node, hub and web server images (deploy/*.Dockerfile) and the experiment image
# (runtime/build-image.sh). For the other architecture (arm64 on an x86 machine, for a Raspberry Pi), everything that
# runs in the image (Debian's packages, npm's native modules: better-sqlite3, i2c-bus, spi-device, usb) runs under
# qemu-user-static, while the JavaScript build runs natively; the tags then end in :arm64 (or :amd64), so they never
# replace this machine's own images.
#
#   sudo scripts/build-images.sh --arch arm64                         all four, tagged …:arm64
#   sudo scripts/build-images.sh --arch arm64 --only node             the node image alone
#   sudo scripts/build-images.sh --arch arm64 --save images.tar       and write them to one file for docker load
#
# Copying them to a Pi with no registry (docs/raspberry-pi.md): docker save … | ssh pi docker load.
#
# Usage: scripts/build-images.sh [--arch amd64|arm64] [--only node,hub,web,experiment] [--save FILE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

host_arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
arch="$host_arch"
only='node,hub,web,experiment'
save=''
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:-}"; shift ;;
    --only) only="${2:-}"; shift ;;
    --save) save="${2:-}"; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
case "$arch" in amd64 | arm64) ;; x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *)
  echo "build-images: --arch takes amd64 or arm64, not '$arch'" >&2
  exit 2
  ;;
esac

log() { printf 'build-images: %s\n' "$*" >&2; }
wants() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
seconds() { date +%s; }

suffix=''
node_image='node:24-bookworm-slim'
if [ "$arch" != "$host_arch" ]; then
  suffix=":$arch"
  case "$arch" in arm64) node_image='arm64v8/node:24-bookworm-slim' ;; amd64) node_image='amd64/node:24-bookworm-slim' ;; esac
fi
declare -A tag_of=([node]="bioreactor-node-v3$suffix" [hub]="bioreactor-hub$suffix" [web]="bioreactor-web-server$suffix"
  [experiment]="bioreactor-experiment$suffix")

start=$(seconds)
built=()
if wants node || wants hub || wants web; then
  t=$(seconds)
  scripts/build-base-images.sh --only node --arch "$arch"
  # The JavaScript build stage runs on this machine's own Node.js image.
  [ "$arch" = "$host_arch" ] || scripts/build-base-images.sh --only node
  log "base image $node_image ready in $(($(seconds) - t)) s"
  for service in node hub web; do
    wants "$service" || continue
    t=$(seconds)
    log "building ${tag_of[$service]} ($arch) from deploy/$service.Dockerfile"
    DOCKER_BUILDKIT=0 docker build --quiet -f "deploy/$service.Dockerfile" --build-arg "NODE_IMAGE=$node_image" \
      -t "${tag_of[$service]}" . >/dev/null
    log "${tag_of[$service]}: $(docker image inspect -f '{{.Architecture}}, {{.Size}}' "${tag_of[$service]}" |
      awk -F', ' '{printf "%s, %d MB", $1, $2/1048576}') in $(($(seconds) - t)) s"
    built+=("${tag_of[$service]}")
  done
fi
if wants experiment; then
  t=$(seconds)
  BIOREACTOR_EXPERIMENT_IMAGE="${tag_of[experiment]}" runtime/build-image.sh --arch "$arch"
  log "${tag_of[experiment]} in $(($(seconds) - t)) s"
  built+=("${tag_of[experiment]}")
fi
log "built ${built[*]} in $(($(seconds) - start)) s"

if [ -n "$save" ]; then
  t=$(seconds)
  docker save "${built[@]}" -o "$save"
  log "saved to $save ($(du -h "$save" | cut -f1)) in $(($(seconds) - t)) s; on the Pi: docker load -i $(basename "$save")"
fi
