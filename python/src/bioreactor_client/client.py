"""HTTP access to one node's hardware API: one method per route, timeouts, retries, typed errors."""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple, Union

from . import config
from .errors import (
    BioreactorConnectionError,
    BioreactorError,
    BioreactorTimeoutError,
    ValidationError,
    api_error_from_response,
)

__all__ = ["BioreactorClient", "COMPONENT_NAMES", "ACTUATOR_NAMES"]

logger = logging.getLogger("bioreactor_client")

#: The deployment guide's nine components, in the order the API lists them. A node may have more (an O2 sensor,
#: gas relays, …): the client does not check names against this list; the node answers an unknown one with 404
#: naming the valid ones, and :meth:`BioreactorClient.get_capabilities` says what it has.
COMPONENT_NAMES = (
    "co2_sensor",
    "temp_sensor",
    "optical_density",
    "eyespy_adc",
    "pumps",
    "stirrer",
    "peltier_driver",
    "led",
    "ring_light",
)
#: The guide's components that accept ``POST /api/v3/{name}/control`` (a node may have more).
ACTUATOR_NAMES = ("pumps", "stirrer", "peltier_driver", "led", "ring_light")

_VERSION = "3.0.0"

#: A program: the document as a dict, its JSON or YAML text, or the path of a .json/.yaml file.
ProgramSource = Union[Dict[str, Any], str, "os.PathLike[str]"]

# Failures that happen before the node has processed anything, so repeating the request is safe.
# A node restarting (npm start, a container restart) refuses connections for a second or two.
_TRANSIENT_ERRORS: Tuple[type, ...] = (
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _reason(inner)
        return str(inner)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "the connection was closed before a reply"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    return str(exc) or type(exc).__name__


def _unwrap(exc: BaseException) -> BaseException:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return exc.reason
    return exc


def _check_finite(body: Any, component: Optional[str], path: str = "") -> None:
    """JSON has no NaN or infinity; catch them here with a message instead of an opaque node error."""
    if isinstance(body, float) and not math.isfinite(body):
        field = path or "value"
        raise ValidationError(
            "VALIDATION_FAILED",
            0,
            f"{field} is {body}; send a finite number",
            component=component,
            problems=[{"message": "must be a finite number", "field": field}],
        )
    if isinstance(body, dict):
        for key, value in body.items():
            _check_finite(value, component, f"{path}.{key}" if path else str(key))
    elif isinstance(body, (list, tuple)):
        for index, value in enumerate(body):
            _check_finite(value, component, f"{path}[{index}]")


class BioreactorClient:
    """A synchronous client for one node's hardware API (standard library only).

    Args:
        api_url: the node's base URL; default ``BIOREACTOR_NODE_API_URL`` or ``http://localhost:9000``.
        token: the node's service token; default ``BIOREACTOR_API_TOKEN``. Sent as
            ``Authorization: Bearer <token>`` when set.
        timeout: seconds to wait for each reply.
        retries: extra attempts after a connection is refused, reset or times out. Every call
            is safe to repeat: reads change nothing and controls set absolute values.
        retry_delay: seconds before the first retry; doubles for each further one.

    Every method raises :class:`~bioreactor_client.BioreactorConnectionError` (or its
    :class:`~bioreactor_client.BioreactorTimeoutError`) when the node cannot be reached, and a
    :class:`~bioreactor_client.BioreactorAPIError` subclass when the node reports an error.
    """

    def __init__(
        self,
        api_url: Optional[str] = None,
        *,
        token: Optional[str] = None,
        timeout: float = config.DEFAULT_TIMEOUT_S,
        retries: int = 2,
        retry_delay: float = 0.25,
    ) -> None:
        url = (api_url or config.node_api_url()).strip().rstrip("/")
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"The node URL {url!r} is not an http(s) URL; set BIOREACTOR_NODE_API_URL "
                f"(or pass api_url) like http://localhost:9000"
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries!r}")
        self.api_url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.retry_delay = float(retry_delay)
        self._token = token if token is not None else config.api_token()
        # No proxy: the node is on the lab network or localhost, and a laptop's HTTP(S)_PROXY
        # settings would otherwise send hardware commands through a corporate proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __repr__(self) -> str:
        return f"BioreactorClient({self.api_url!r})"

    # ---- transport ----

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Dict[str, Any]] = None,
        *,
        component: Optional[str] = None,
        content: Optional[Tuple[str, bytes]] = None,
    ) -> Any:
        """Send one request and return the parsed JSON reply.

        Args:
            method: ``"GET"`` or ``"POST"``.
            path: the route, e.g. ``"/api/v3/state"``.
            body: the JSON body of a POST.
            component: the component the request is about, named in error messages.
            content: instead of ``body``, ``(content_type, bytes)`` sent as they are (a YAML program).
        """
        if body is not None:
            _check_finite(body, component)
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {
            "Accept": "application/json",
            "User-Agent": f"bioreactor-client/{_VERSION}",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        if content is not None:
            headers["Content-Type"], data = content
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = self.api_url + path
        what = f"{method} {path}"
        attempts = self.retries + 1
        delay = self.retry_delay
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                status, raw = self._send(request)
            except urllib.error.HTTPError as exc:
                _observe_clock(exc.headers)
                try:
                    raw_error = exc.read()
                finally:
                    exc.close()
                raise api_error_from_response(exc.code, _parse(raw_error), component) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                cause = _unwrap(exc)
                timed_out = isinstance(cause, (socket.timeout, TimeoutError))
                transient = timed_out or isinstance(cause, _TRANSIENT_ERRORS)
                if transient and attempt < attempts:
                    logger.debug("%s failed (%s); retry %d in %.2fs", what, _reason(cause), attempt, delay)
                    time.sleep(delay)
                    delay *= 2
                    continue
                tried = f" after {attempt} attempts" if attempt > 1 else ""
                if timed_out:
                    raise BioreactorTimeoutError(
                        f"The bioreactor node at {self.api_url} did not answer {what} within "
                        f"{self.timeout:g} s{tried}. It may be overloaded or stuck; check it with "
                        f"curl {self.api_url}/health, or pass a longer timeout."
                    ) from None
                raise BioreactorConnectionError(
                    f"Cannot reach the bioreactor node at {self.api_url} ({what}): "
                    f"{_reason(cause)}{tried}. Is the node running? Outside an experiment "
                    f"container, set BIOREACTOR_NODE_API_URL to its address (npm start serves "
                    f"http://localhost:9000)."
                ) from None
            parsed = _parse(raw)
            if status >= 400:
                raise api_error_from_response(status, parsed, component)
            if isinstance(parsed, str):
                raise BioreactorError(
                    f"The node answered {what} with something that is not JSON: {parsed[:200]!r}. "
                    f"Is {self.api_url} really a bioreactor node?"
                )
            return parsed
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, request: urllib.request.Request) -> Tuple[int, bytes]:
        with self._opener.open(request, timeout=self.timeout) as response:
            _observe_clock(response.headers)
            return response.status, response.read()

    # ---- routes ----

    def get_health(self) -> Dict[str, Any]:
        """``GET /health``: liveness, hardware mode and which components initialised (no token needed)."""
        return self.request("GET", "/health")  # type: ignore[no-any-return]

    def get_status(self) -> Dict[str, Any]:
        """``GET /api/status``: node status, available and unavailable components, experiment runner."""
        return self.request("GET", "/api/status")  # type: ignore[no-any-return]

    def get_capabilities(self) -> Dict[str, Dict[str, Any]]:
        """``GET /api/v3/capabilities``: every available component with its units, ranges and names."""
        return self.request("GET", "/api/v3/capabilities")  # type: ignore[no-any-return]

    def get_all_states(self, readings: bool = False) -> Dict[str, Any]:
        """``GET /api/v3/state``: every available component's state in one reply.

        Returns ``{"timestamp", "hardware_mode", "components": {name: state}, "unavailable": {name: why}}``;
        with ``readings=True`` also ``"readings"``: every reading the node reports by its column name
        (``co2_ppm``, ``temperature``, …, ``o2_percent``), ``None`` while its component is unavailable.
        """
        path = "/api/v3/state?readings=true" if readings else "/api/v3/state"
        return self.request("GET", path)  # type: ignore[no-any-return]

    def get_history(
        self, component: str, since: Optional[str] = None, limit: Optional[int] = None
    ) -> Dict[str, Any]:
        """``GET /api/v3/history``: a sensor's recent samples kept by the node, oldest first.

        Returns ``{"component", "unit", "channels", "samples": [{"timestamp", "values"}]}``;
        ``since`` (ISO 8601) keeps only later samples, ``limit`` the newest N.
        """
        _check_name(component)
        query: Dict[str, Any] = {"component": component}
        if since is not None:
            query["since"] = since
        if limit is not None:
            query["limit"] = int(limit)
        return self.request(  # type: ignore[no-any-return]
            "GET", "/api/v3/history?" + urllib.parse.urlencode(query), component=component
        )

    def get_state(self, component: str) -> Dict[str, Any]:
        """``GET /api/v3/{component}/state``: one component's latest state (the node's 404 names the valid ones)."""
        _check_name(component)
        return self.request(  # type: ignore[no-any-return]
            "GET", f"/api/v3/{component}/state", component=component
        )

    def control(self, component: str, **fields: Any) -> Dict[str, Any]:
        """``POST /api/v3/{component}/control`` with ``fields`` as the JSON body; returns the node's reply."""
        _check_name(component)
        return self.request(  # type: ignore[no-any-return]
            "POST", f"/api/v3/{component}/control", fields, component=component
        )

    # ---- programs: tracks and automations the node runs itself (docs/programs.md) ----

    def preview_program(self, program: ProgramSource, hours: float = 240) -> Dict[str, Any]:
        """``POST /api/v3/programs/preview``: validate a program and expand its first ``hours``.

        ``program`` is the document as a dict, JSON or YAML text, or the path of a ``.json``/``.yaml`` file.
        Returns the timeline: ``{"name", "from_s", "to_s", "end_s", "changes": [{"at_s", "component", "set",
        "track", "step", "cycle"}], "automations": [...], "truncated", "planned_inflow_ml"}`` (seconds after
        the start). A program with problems raises :class:`~bioreactor_client.ValidationError` listing each
        with its JSON path.
        """
        query = urllib.parse.urlencode({"hours": _positive(hours, "hours")})
        reply = self._program_request("POST", f"/api/v3/programs/preview?{query}", program)
        return reply["timeline"]  # type: ignore[no-any-return]

    def start_program(self, program: ProgramSource) -> Dict[str, Any]:
        """``POST /api/v3/programs``: the node starts running the program (one at a time) and returns its state.

        The program goes on without this script: a node restart resumes it where it was. Raises
        :class:`~bioreactor_client.BioreactorAPIError` with code ``INVALID_STATE`` (409) while another runs.
        """
        return self._program_request("POST", "/api/v3/programs", program)  # type: ignore[no-any-return]

    def program_status(self) -> Dict[str, Any]:
        """``GET /api/v3/programs/current``: ``{"running", "name", "started_at", "elapsed_s", "next_change_at",
        "tracks": [{"component", "step", "set", "next_change_at", ...}], "automations": [{"kind", "params",
        "values"}], ...}``; ``running`` is False when no program runs."""
        return self.request("GET", "/api/v3/programs/current")  # type: ignore[no-any-return]

    def change_program(
        self,
        *,
        automation: Optional[int] = None,
        track: Optional[int] = None,
        steps: Optional[List[Dict[str, Any]]] = None,
        repeat: Union[int, str, None] = None,
        **params: Any,
    ) -> Dict[str, Any]:
        """``PATCH /api/v3/programs/current``: change the running program; returns its state.

        ``change_program(automation=0, setpoint_c=30)`` changes that automation's parameters (at once);
        ``change_program(track=1, steps=[{"duration": "1h", "set": {"duty_cycle": 50}}], repeat="forever")``
        replaces a track's steps, which start now.
        """
        body: Dict[str, Any] = {}
        if automation is not None:
            body["automation"] = {"index": int(automation), "set": params}
        elif params:
            raise ValueError(f"{', '.join(params)}: name the automation to change, e.g. automation=0")
        if track is not None:
            if not steps:
                raise ValueError("a track change needs its new steps: steps=[{'duration': '12h', 'set': {...}}]")
            body["track"] = {"index": int(track), "steps": steps}
            if repeat is not None:
                body["track"]["repeat"] = repeat
        if not body:
            raise ValueError(
                "nothing to change: give automation=<index> with its parameters, or track=<index>, steps=[...]"
            )
        return self.request("PATCH", "/api/v3/programs/current", body)  # type: ignore[no-any-return]

    def stop_program(self) -> Dict[str, Any]:
        """``DELETE /api/v3/programs/current``: stop it; every actuator it drove goes back to its safe state."""
        return self.request("DELETE", "/api/v3/programs/current")  # type: ignore[no-any-return]

    def _program_request(self, method: str, path: str, program: ProgramSource) -> Any:
        if isinstance(program, dict):
            return self.request(method, path, program)
        text = os.fspath(program)
        # A document's text never names an existing file; a short path does.
        if "\n" not in text and not text.lstrip().startswith("{") and os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        if text.lstrip().startswith("{"):
            return self.request(method, path, json.loads(text))
        # YAML: the node parses it (this client uses the standard library only).
        return self.request(method, path, content=("application/yaml", text.encode("utf-8")))


def _observe_clock(headers: Any) -> None:
    """At accelerated time (a pre-flight), the script's clock follows the twin's from each reply's header."""
    # Looked up, not imported: `python3 -m bioreactor_client.accelerated` must be the first to import that module.
    accelerated = sys.modules.get("bioreactor_client.accelerated")
    if accelerated is not None:
        accelerated.observe(headers)


def _positive(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, not {value!r}")
    return float(value)


def _check_name(component: str) -> None:
    """Only that it can be a path segment: which components exist is the node's to say (its 404 lists them)."""
    if not isinstance(component, str) or not component.replace("_", "").isalnum():
        raise ValueError(f"{component!r} is not a component name; names are like co2_sensor or o2_sensor")


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
