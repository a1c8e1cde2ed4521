"""Where the library finds the node, the token and the output directory.

Inside an experiment container the node sets ``BIOREACTOR_NODE_API_URL``, ``EXPERIMENT_ID`` and
``OUTPUT_DIR=/app/output``. On a laptop none of them need be set: the node defaults to
``http://localhost:9000`` (what ``npm start`` serves) and CSV files go to the current directory.
Every value is read when it is needed, never cached at import, so a script may set
``os.environ`` before creating its :class:`~bioreactor_client.Bioreactor`.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = [
    "DEFAULT_NODE_URL",
    "DEFAULT_TIMEOUT_S",
    "node_api_url",
    "api_token",
    "experiment_id",
    "output_dir",
]

#: Where the node listens when nothing else is configured (the guide's port 9000).
DEFAULT_NODE_URL = "http://localhost:9000"

#: Seconds to wait for any one reply. The node serves sensor values from its cache, so a healthy
#: reply takes milliseconds; ten seconds only trips when the node or the network is stuck.
DEFAULT_TIMEOUT_S = 10.0


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name, "").strip()
    return value or None


def node_api_url() -> str:
    """The node's base URL: ``BIOREACTOR_NODE_API_URL``, else ``http://localhost:9000``."""
    return (_env("BIOREACTOR_NODE_API_URL") or DEFAULT_NODE_URL).rstrip("/")


def api_token() -> Optional[str]:
    """The node's service token from ``BIOREACTOR_API_TOKEN`` (sent as ``Authorization: Bearer``)."""
    return _env("BIOREACTOR_API_TOKEN")


def experiment_id() -> Optional[str]:
    """The running experiment's id from ``EXPERIMENT_ID``; ``None`` outside a container."""
    return _env("EXPERIMENT_ID")


def output_dir() -> str:
    """Where CSV files go: ``OUTPUT_DIR`` (``/app/output`` in a container), else the current directory."""
    return _env("OUTPUT_DIR") or os.getcwd()
