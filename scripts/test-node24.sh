#!/usr/bin/env bash
# Runs the Vitest suite again on Node.js 24 (the images' Node.js, deploy/node-version.env), after `npm ci` and
# `npm test` on the machine's own Node.js (20.19 or newer): the code must run on both.
#
# Native addons: npm ci built them for the machine's Node.js, whose ABI Node.js 24 refuses. Each one (better-sqlite3,
# and i2c-bus / spi-device where they installed) is built once more, for Node.js 24, into <package>/build/node-v<ABI>/
# beside the first build, and scripts/native-abi.cjs (preloaded) makes Node.js 24 load that one. node_modules stays
# usable by the machine's Node.js throughout, so this can run on a developer's checkout too.
#
# Usage: scripts/test-node24.sh [vitest arguments…]     e.g. scripts/test-node24.sh --project hub
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'test-node24: %s\n' "$*" >&2; }

node_dir="$(scripts/node-runtime.sh)"
npm_dir="$(scripts/node-runtime.sh --npm)"
node24="$node_dir/bin/node"
abi="$("$node24" -p process.versions.modules)"
log "$("$node24" --version) (ABI $abi) from $node_dir"

# Every installed package that npm ci compiled with node-gyp (prebuilt addons, as usb's, have no build/Release).
addons=()
while IFS= read -r gyp; do
  pkg="$(dirname "$gyp")"
  [ -f "$pkg/package.json" ] && [ -d "$pkg/build/Release" ] && addons+=("$pkg")
done < <(find node_modules -mindepth 2 -maxdepth 3 -name binding.gyp | sort)

for pkg in ${addons[@]+"${addons[@]}"}; do
  version="$("$node24" -p "require('./$pkg/package.json').version")"
  target="$pkg/build/node-v$abi"
  stamp="$target/.built-for"
  want="$(basename "$pkg")@$version node $("$node24" --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  log "building $want"
  # A copy inside node_modules, so the build finds the packages it needs (nan) as the original would.
  work="$root/node_modules/.cache/node-v$abi/$(basename "$pkg")"
  rm -rf "$work"
  mkdir -p "$work"
  cp -a "$pkg/." "$work/"
  rm -rf "$work/build"
  # node-gyp from the pinned npm, run by Node.js 24, against Node.js 24's own headers (no download).
  (cd "$work" && PATH="$node_dir/bin:$PATH" "$node24" "$npm_dir/node_modules/node-gyp/bin/node-gyp.js" rebuild \
    --release --nodedir="$node_dir" >"$work.log" 2>&1) || {
    tail -n 30 "$work.log" >&2
    log "could not build $pkg for Node.js 24"
    exit 1
  }
  rm -rf "$target"
  mkdir -p "$target"
  cp "$work"/build/Release/*.node "$target/"
  printf '%s\n' "$want" >"$stamp"
  rm -rf "$work" "$work.log"
done

# Node.js 24 first on PATH, so what the tests start as `node` is Node.js 24 as well.
export PATH="$node_dir/bin:$PATH"
export NODE_OPTIONS="--require $root/scripts/native-abi.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
exec "$node24" node_modules/vitest/vitest.mjs run "$@"
