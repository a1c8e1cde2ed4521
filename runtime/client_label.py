#!/usr/bin/env python3
"""Prints which bioreactor_client an experiment image holds: ``version=3.0.0 api=2 sha256=<32 hex>``.

The client's ``__version__`` and ``__api_level__`` (read from its ``__init__.py``, nothing imported) and a hash of
every file of the package (``__pycache__`` and ``.pyc`` left out): for each file, sorted by its path as
``python/src/bioreactor_client/<path in the package>``, ``<sha256 of its bytes>  <that path>`` and a newline; the
label holds the first 32 hex digits of the sha256 of those lines. The node computes the same of its own
``python/src`` (apps/node/src/runner/client-check.ts) and refuses an image whose client is older than its API, or
another than its own.

runtime/build-image.sh puts it in the image's ``org.bioreactor.client`` label; runtime/Dockerfile writes it to
``/opt/bioreactor/client.txt`` in the image (the node reads either).

Usage: client_label.py [PACKAGE_DIR]   (default: this repository's python/src/bioreactor_client)
"""

import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "python/src/bioreactor_client"


def client_hash(package: str) -> str:
    paths = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".pyc"):
                paths.append(os.path.relpath(os.path.join(folder, name), package).replace(os.sep, "/"))
    lines = []
    for path in sorted(paths):
        with open(os.path.join(package, path), "rb") as handle:
            lines.append(f"{hashlib.sha256(handle.read()).hexdigest()}  {PREFIX}/{path}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()[:32]


def label(package: str) -> str:
    with open(os.path.join(package, "__init__.py"), encoding="utf-8") as handle:
        source = handle.read()
    version = re.search(r'^__version__ = "([^"]+)"', source, re.M)
    api = re.search(r"^__api_level__ = (\d+)", source, re.M)
    if not version or not api:
        sys.exit("client_label: __version__ or __api_level__ not found in bioreactor_client/__init__.py")
    return f"version={version.group(1)} api={api.group(1)} sha256={client_hash(package)}"


if __name__ == "__main__":
    print(label(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, *PREFIX.split("/"))))
