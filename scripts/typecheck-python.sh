#!/usr/bin/env bash
# Type-checks bioreactor_client and the experiment entrypoint with mypy --strict (settings in python/pyproject.toml).
# mypy comes from Debian (apt-get install python3-mypy), so it may live only in /usr/bin/python3 when another
# python3 comes first on PATH. CI installs it and fails without it; elsewhere the check is skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/../python"
for python in python3 /usr/bin/python3; do
  if command -v "$python" >/dev/null && "$python" -c 'import mypy' 2>/dev/null; then
    exec "$python" -m mypy
  fi
done
if [ -n "${CI:-}" ]; then
  echo "typecheck-python: mypy is missing (apt-get install python3-mypy)" >&2
  exit 1
fi
echo "typecheck-python: skipped, mypy is not installed (apt-get install python3-mypy)" >&2
