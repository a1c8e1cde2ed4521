"""Queue an experiment script on the hub from Python (a notebook, a lab's own tooling), standard library only.

::

    from bioreactor_client import submit_experiment

    reply = submit_experiment("growth_curve.py", name="growth curve", max_duration_s=7 * 86400)
    print(reply["experiment_id"], reply["queue_position"])

Every submission carries an ``Idempotency-Key`` (a new UUID unless you pass one): a request that times out or whose
connection breaks is sent again with the same key, and the hub answers the retry with the experiment the first
request queued instead of queueing the script twice (docs/queue.md, "Idempotent submission").
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional, Union

from .errors import BioreactorConnectionError, BioreactorTimeoutError, api_error_from_response

__all__ = ["submit_experiment", "DEFAULT_HUB_URL"]

#: The hub's address when ``BIOREACTOR_HUB_API_URL`` is not set (the deployment guide's port 8000).
DEFAULT_HUB_URL = "http://localhost:8000"

#: Attempts in all, and the wait before each retry in seconds (doubling): a hub restarting takes a few seconds.
_ATTEMPTS = 4
_FIRST_BACKOFF_S = 1.0


def _script_text(script: Union[str, "os.PathLike[str]"]) -> str:
    """The script's source: ``script`` itself when it has a line break, else the file it names."""
    text = os.fspath(script)
    if "\n" in text:
        return text
    with open(text, encoding="utf-8") as handle:
        return handle.read()


def submit_experiment(
    script: Union[str, "os.PathLike[str]"],
    *,
    name: Optional[str] = None,
    max_duration_s: Optional[int] = None,
    node: Optional[str] = None,
    hub_url: Optional[str] = None,
    session_id: Optional[str] = None,
    token: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    timeout: float = 30.0,
) -> Dict[str, Any]:
    """Queue ``script`` (a path to a ``.py`` file, or the source itself) on the hub.

    Args:
        name: a label shown in the queue.
        max_duration_s: how long it may run, in seconds; the hub refuses at once what no node takes.
        node: pin it to one node of the hub.
        hub_url: the hub, default ``BIOREACTOR_HUB_API_URL`` or ``http://localhost:8000``.
        session_id: who submits it (``X-Session-ID``), default ``BIOREACTOR_SESSION_ID`` if set.
        token: the service token (``Authorization: Bearer``), default ``BIOREACTOR_API_TOKEN`` if set.
        idempotency_key: the key of this submission; a new UUID when omitted. Pass the same key to send the same
            submission again later (after a crash of your own program) without queueing it twice.
        timeout: seconds to wait for each attempt.

    Returns:
        The hub's reply: ``{experiment_id, status, queue_position, estimated_start, max_duration_s, message}``
        plus ``idempotency_key`` and ``replayed`` (True when the hub had already queued it).

    Raises:
        BioreactorAPIError (or a subclass): the hub refused it (a script that does not validate, a limit); not retried.
        BioreactorConnectionError / BioreactorTimeoutError: the hub could not be reached after 4 attempts (1, 2 and
            4 s apart); the same ``idempotency_key`` can then be passed to a later call.
    """
    base = (hub_url or os.environ.get("BIOREACTOR_HUB_API_URL") or DEFAULT_HUB_URL).rstrip("/")
    key = idempotency_key or str(uuid.uuid4())
    body: Dict[str, Any] = {"script_content": _script_text(script)}
    if name is not None:
        body["name"] = name
    if max_duration_s is not None:
        body["max_duration_s"] = int(max_duration_s)
    if node is not None:
        body["node"] = node
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "Accept": "application/json"}
    session = session_id or os.environ.get("BIOREACTOR_SESSION_ID")
    if session:
        headers["X-Session-ID"] = session
    bearer = token or os.environ.get("BIOREACTOR_API_TOKEN")
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = json.dumps(body).encode("utf-8")
    backoff = _FIRST_BACKOFF_S
    last: Optional[BioreactorConnectionError] = None
    for attempt in range(_ATTEMPTS):
        if attempt > 0:
            time.sleep(backoff)
            backoff *= 2
        request = urllib.request.Request(f"{base}/api/experiments/start", data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply: Dict[str, Any] = json.loads(response.read().decode("utf-8"))
                reply["idempotency_key"] = key
                reply["replayed"] = response.headers.get("Idempotency-Replayed") == "true"
                return reply
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            # A proxy's 502/503/504 while the hub restarts is worth a retry; the hub's own refusals are not.
            if exc.code in (502, 503, 504) and attempt + 1 < _ATTEMPTS:
                last = BioreactorConnectionError(f"the hub at {base} answered HTTP {exc.code}")
                continue
            try:
                parsed: Any = json.loads(raw)
            except ValueError:
                parsed = raw
            raise api_error_from_response(exc.code, parsed) from None
        except (TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                last = BioreactorTimeoutError(f"the hub at {base} did not answer within {timeout} s")
            else:
                last = BioreactorConnectionError(f"cannot reach the hub at {base}: {reason}")
    assert last is not None
    raise last
