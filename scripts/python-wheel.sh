#!/usr/bin/env bash
# Builds the Python client as a wheel with Debian's own tooling (no PyPI: apt-get install python3-build
# python3-wheel python3-setuptools python3-venv), then proves it installs offline: a fresh virtual environment,
# `pip install --no-index` of the wheel alone, and an import of bioreactor_client from outside the checkout.
#
# Usage: scripts/python-wheel.sh            the wheel lands in python/dist/
# Env:   PYTHON (default /usr/bin/python3, Debian's, which has the build module; another python3 may come first on PATH)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"

log() { printf 'python-wheel: %s\n' "$*" >&2; }

"$python" -c 'import build, setuptools, wheel' 2>/dev/null || {
  log "$python lacks build, setuptools or wheel: apt-get install python3-build python3-wheel python3-setuptools python3-venv"
  exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Built from a copy, so build/ and *.egg-info never land in the checkout.
cp -r "$root/python" "$work/src"
rm -rf "$work/src/dist" "$work/src/build"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$root/python/dist"
"$python" -m build --no-isolation --wheel --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 || {
  tail -n 30 "$work/build.log" >&2
  log 'the wheel did not build'
  exit 1
}
wheel="$(ls "$work"/dist/*.whl)"
cp "$wheel" "$root/python/dist/"
wheel="$root/python/dist/$(basename "$wheel")"
log "built $(basename "$wheel")"

"$python" -m venv "$work/venv"
# No index and no links: the wheel alone, as on a machine that reaches no package index.
PIP_FIND_LINKS='' PIP_NO_INDEX=1 "$work/venv/bin/pip" install --quiet --no-index "$wheel"
version="$(cd "$work" && "$work/venv/bin/python" -c '
import importlib.metadata, bioreactor_client
assert bioreactor_client.__file__.startswith(__import__("sys").prefix), bioreactor_client.__file__
print(importlib.metadata.version("bioreactor-client"), importlib.metadata.metadata("bioreactor-client")["License"])
')"
log "installed offline into a fresh venv and imported: bioreactor-client $version"
