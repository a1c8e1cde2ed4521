"""Run an experiment script at accelerated time, on the node's twin (a pre-flight; docs/preflight.md).

::

    BIOREACTOR_TIME_SCALE=600 python3 -m bioreactor_client.accelerated user_script.py

The node starts a run that asked for ``time_scale`` this way. Before the script runs, its clock goes
``BIOREACTOR_TIME_SCALE`` times faster than the wall clock: ``time.sleep(60)`` at 600x returns after
0.1 s and ``time.time()`` has moved 60 s meanwhile. Replaced: ``time.sleep``, ``time.time``,
``time.monotonic``, ``time.perf_counter`` (and their ``_ns`` forms), ``time.localtime``/``gmtime``/
``ctime``/``strftime`` without a time, ``datetime.datetime.now``/``utcnow``/``today`` and
``datetime.date.today``. The script's time is the twin's: at the wall-clock instant
``BIOREACTOR_TIME_ORIGIN`` (epoch seconds) the node's simulated clock read ``BIOREACTOR_TIME_AT_ORIGIN``
(epoch seconds; default: the origin itself). From there the script follows the twin's clock, which runs
slower than asked when the node is busy (its simulated world waits rather than jumping ahead): every reply
of the node's hardware API says what the twin's clock read (the ``X-Bioreactor-Clock`` header, which
:class:`~bioreactor_client.BioreactorClient` hands to :func:`observe`), and while the script makes no
call a thread asks ``GET /api/v3/clock`` of ``BIOREACTOR_NODE_API_URL`` twice a wall second. Between
two readings the clock runs at the rate the twin reached lately; it never goes back (it holds until the
twin catches up), and a sleep waits in short slices against it, so a slow twin makes it last longer.

Not scaled: timeouts inside the interpreter's C code (``threading.Event.wait``, ``queue.Queue.get``,
``select``, socket timeouts) and ``asyncio``'s sleeps. The script runs as ``__main__`` with
``runpy.run_path``, so tracebacks name its file and lines. Standard library only.
"""

import datetime as _datetime
import json
import os
import runpy
import sys
import threading
import time as _time
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional, Tuple

__all__ = ["CLOCK_HEADER", "ScaledTime", "install", "installed_scale", "main", "observe"]

#: The reply header with the twin's clock: ``<now_ms>; time_scale=<n>; achieved=<n>``.
CLOCK_HEADER = "X-Bioreactor-Clock"
#: Wall seconds a sleep waits at most before it looks at the clock again.
SLEEP_SLICE_S = 0.25
#: Wall seconds without a reading after which the clock is asked of the node (GET /api/v3/clock).
POLL_INTERVAL_S = 0.5

_real_time = _time.time
_real_monotonic = _time.monotonic
_real_perf_counter = _time.perf_counter
_real_sleep = _time.sleep
_real_localtime = _time.localtime
_real_gmtime = _time.gmtime
_real_ctime = _time.ctime
_real_strftime = _time.strftime
_RealDatetime = _datetime.datetime
_RealDate = _datetime.date
_installed: "ScaledTime | None" = None


def installed_scale() -> float:
    """How many times faster than the wall clock this interpreter's time runs now (1.0 when not accelerated).

    At accelerated time, the rate the twin reached lately: below the asked ``BIOREACTOR_TIME_SCALE`` when
    the node cannot keep up.
    """
    return _installed.rate if _installed is not None else 1.0


def observe(headers: "Mapping[str, str] | Any") -> None:
    """Hands a reply's headers of the node's hardware API to the installed clock (nothing when not accelerated)."""
    clock = _installed
    if clock is None or headers is None:
        return
    value = headers.get(CLOCK_HEADER)
    if value:
        clock.observe_header(value)


def parse_clock_header(value: str) -> "Tuple[float, float, Optional[float]] | None":
    """``"<now_ms>; time_scale=<n>; achieved=<n>"`` → (now in epoch seconds, time_scale, achieved or None)."""
    parts = [p.strip() for p in value.split(";")]
    try:
        now_s = float(parts[0]) / 1000.0
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        scale = float(fields.get("time_scale", "nan"))
        achieved = float(fields["achieved"]) if "achieved" in fields else None
    except (ValueError, IndexError):
        return None
    if not (scale > 0 and now_s > 0):
        return None
    return now_s, scale, achieved


class ScaledTime:
    """Time ``scale`` times faster than the wall clock, following the node's twin when it says its time.

    ``origin`` is a wall-clock instant (epoch seconds) and ``at_origin`` what this clock read then
    (epoch seconds). ``clock_url`` (the node's ``/api/v3/clock``) is asked for the twin's time whenever
    no reading came for :data:`POLL_INTERVAL_S` wall seconds, once :meth:`follow_node` started its
    thread. The monotonic clocks start at their real values and move as this clock does.
    """

    def __init__(
        self,
        scale: float,
        origin: "float | None" = None,
        at_origin: "float | None" = None,
        *,
        clock_url: "str | None" = None,
        token: "str | None" = None,
    ) -> None:
        if not scale > 0:
            raise ValueError("the time scale must be a positive number, not %r" % (scale,))
        self.scale = float(scale)
        self.origin = _real_time() if origin is None else float(origin)
        self.at_origin = self.origin if at_origin is None else float(at_origin)
        self.clock_url = clock_url
        self._token = token
        self._lock = threading.Lock()
        mono = _real_monotonic()
        # The anchor: the script's time `_at` at the wall's monotonic `_wall`, moving at `rate` from there.
        self._wall = mono
        self._at = self.at_origin + (_real_time() - self.origin) * self.scale
        self.rate = self.scale
        self._shown = self._at
        self._read_at: "float | None" = None
        self._time0 = self._at
        self._mono0 = mono
        self._perf0 = _real_perf_counter()
        self._poller: "threading.Thread | None" = None

    def _extrapolated(self) -> float:
        return self._at + (_real_monotonic() - self._wall) * self.rate

    def time(self) -> float:
        """Epoch seconds on the scaled clock; never less than a value it answered before."""
        with self._lock:
            t = self._extrapolated()
            if t > self._shown:
                self._shown = t
            return self._shown

    def monotonic(self) -> float:
        return self._mono0 + (self.time() - self._time0)

    def perf_counter(self) -> float:
        return self._perf0 + (self.time() - self._time0)

    def follow(self, now_s: float, time_scale: float, achieved: "float | None" = None) -> None:
        """Re-anchors on the twin: its clock reads ``now_s`` (epoch seconds) now, asked to run ``time_scale``
        times faster than the wall clock and lately reaching ``achieved``."""
        rate = time_scale if achieved is None else min(max(achieved, 0.0), time_scale)
        with self._lock:
            self._wall = _real_monotonic()
            self._at = now_s
            # A stalled twin still moves a little, so that a sleep's slices stay finite until the next reading.
            self.rate = max(rate, time_scale / 100.0)
            self._read_at = self._wall

    def observe_header(self, value: str) -> None:
        """Re-anchors on an ``X-Bioreactor-Clock`` header value, received just now."""
        parsed = parse_clock_header(value)
        if parsed is not None:
            self.follow(*parsed)

    def sleep(self, seconds: float) -> None:
        """Sleeps ``seconds`` of the twin's time: about ``seconds / scale`` of the wall clock, longer when the
        twin lags."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        # Against a deadline on this clock, so that many short sleeps do not drift.
        deadline = self.time() + seconds
        while True:
            with self._lock:
                ahead = self._extrapolated()
                # What ends the sleep is shown: a reading that moves the anchor back must not take it back again.
                if ahead > self._shown:
                    self._shown = ahead
                shown = self._shown
                rate = self.rate
            if shown >= deadline:
                return
            # In slices: a reading of the twin's clock in between (a reply, the poller) may move the deadline away.
            _real_sleep(min((deadline - ahead) / rate, SLEEP_SLICE_S))

    def poll(self, timeout: float = 2.0) -> bool:
        """Asks the node for the twin's clock once; whether it answered (False also without a ``clock_url``)."""
        if not self.clock_url:
            return False
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = "Bearer %s" % self._token
        request = urllib.request.Request(self.clock_url, headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            body = json.loads(response.read().decode("utf-8"))
        # Anchored at its arrival: a busy node makes a request wait before it reads its clock, rarely after.
        self.follow(
            float(body["now_ms"]) / 1000.0,
            float(body["time_scale"]),
            float(body["achieved_time_scale"]) if body.get("achieved_time_scale") is not None else None,
        )
        return True

    def follow_node(self) -> None:
        """Reads the twin's clock now and starts the thread that asks for it whenever replies stop coming."""
        if not self.clock_url or self._poller is not None:
            return
        try:
            if self.poll():
                # Before the script has read this clock it may still go back: the environment's anchor ran at the
                # asked rate while the interpreter started, which the twin may not have reached.
                with self._lock:
                    self._shown = self._time0 = self._at
        except urllib.error.HTTPError as err:
            # A node without the route (an older node, a real one's own port): the scaled wall clock it is.
            if 400 <= err.code < 500:
                return
        except (OSError, ValueError, KeyError):
            pass
        self._poller = threading.Thread(target=self._poll_forever, name="bioreactor-twin-clock", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while True:
            with self._lock:
                since = None if self._read_at is None else _real_monotonic() - self._read_at
            if since is not None and since < POLL_INTERVAL_S:
                _real_sleep(POLL_INTERVAL_S - since)
                continue
            try:
                self.poll()
            except urllib.error.HTTPError as err:
                if 400 <= err.code < 500:
                    return
            except (OSError, ValueError, KeyError):
                pass  # the node restarting, or the run's API closed at its end: the clock goes on as it was
            _real_sleep(POLL_INTERVAL_S)


def _datetime_classes(clock: ScaledTime) -> Tuple[Any, Any]:
    """Subclasses of datetime.date and datetime.datetime whose now/today read ``clock``."""

    class _DateMeta(type(_RealDate)):  # type: ignore[misc]
        # Dates made before the switch (or by C code) still count as dates.
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, _RealDate)

    class _DatetimeMeta(type(_RealDatetime)):  # type: ignore[misc]
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, _RealDatetime)

    class date(_RealDate, metaclass=_DateMeta):  # noqa: N801 - stands in for datetime.date
        @classmethod
        def today(cls) -> Any:
            t = _RealDate.fromtimestamp(clock.time())
            return cls(t.year, t.month, t.day)

    class datetime(_RealDatetime, metaclass=_DatetimeMeta):  # noqa: N801 - stands in for datetime.datetime
        @classmethod
        def now(cls, tz: Optional[_datetime.tzinfo] = None) -> Any:
            return cls.fromtimestamp(clock.time(), tz)

        @classmethod
        def utcnow(cls) -> Any:
            return cls.fromtimestamp(clock.time(), _datetime.timezone.utc).replace(tzinfo=None)

        @classmethod
        def today(cls) -> Any:
            return cls.fromtimestamp(clock.time())

    return date, datetime


def install(clock: ScaledTime) -> None:
    """Replaces the time and datetime functions of this interpreter with ``clock``'s."""
    global _installed
    _installed = clock
    replaced = {
        "time": clock.time,
        "time_ns": lambda: int(clock.time() * 1e9),
        "monotonic": clock.monotonic,
        "monotonic_ns": lambda: int(clock.monotonic() * 1e9),
        "perf_counter": clock.perf_counter,
        "perf_counter_ns": lambda: int(clock.perf_counter() * 1e9),
        "sleep": clock.sleep,
        "localtime": lambda secs=None: _real_localtime(clock.time() if secs is None else secs),
        "gmtime": lambda secs=None: _real_gmtime(clock.time() if secs is None else secs),
        "ctime": lambda secs=None: _real_ctime(clock.time() if secs is None else secs),
        "strftime": lambda fmt, t=None: _real_strftime(fmt, _real_localtime(clock.time()) if t is None else t),
    }
    for name, function in replaced.items():
        setattr(_time, name, function)
    date, datetime = _datetime_classes(clock)
    setattr(_datetime, "date", date)
    setattr(_datetime, "datetime", datetime)


def _from_env(environ: "dict[str, str]") -> ScaledTime:
    try:
        scale = float(environ["BIOREACTOR_TIME_SCALE"])
        origin = float(environ["BIOREACTOR_TIME_ORIGIN"]) if environ.get("BIOREACTOR_TIME_ORIGIN") else None
        at_origin = float(environ["BIOREACTOR_TIME_AT_ORIGIN"]) if environ.get("BIOREACTOR_TIME_AT_ORIGIN") else None
    except (KeyError, ValueError) as err:
        raise SystemExit(
            "bioreactor_client.accelerated: set BIOREACTOR_TIME_SCALE (a number above 0) and optionally "
            "BIOREACTOR_TIME_ORIGIN and BIOREACTOR_TIME_AT_ORIGIN (epoch seconds): %s" % err
        )
    node = (environ.get("BIOREACTOR_NODE_API_URL") or "").strip().rstrip("/")
    return ScaledTime(
        scale,
        origin,
        at_origin,
        clock_url=node + "/api/v3/clock" if node else None,
        token=(environ.get("BIOREACTOR_API_TOKEN") or "").strip() or None,
    )


def main(argv: "list[str] | None" = None) -> None:
    """``python3 -m bioreactor_client.accelerated SCRIPT [ARGS...]``: runs SCRIPT as __main__ at scaled time."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python3 -m bioreactor_client.accelerated SCRIPT [ARGS...]")
    clock = _from_env(dict(os.environ))
    install(clock)
    clock.follow_node()
    script = args[0]
    sys.argv = list(args)
    # The script's folder first on the path, as `python3 script.py` has it.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    # `-m` runs a second copy of this file as __main__: the one the client imports must hold the installed clock.
    from bioreactor_client.accelerated import main as _main

    _main()
