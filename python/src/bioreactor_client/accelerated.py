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
(epoch seconds; default: the origin itself), and both run at the same rate from there.

Not scaled: timeouts inside the interpreter's C code (``threading.Event.wait``, ``queue.Queue.get``,
``select``, socket timeouts) and ``asyncio``'s sleeps. The script runs as ``__main__`` with
``runpy.run_path``, so tracebacks name its file and lines. Standard library only.
"""

import datetime as _datetime
import os
import runpy
import sys
import time as _time
from typing import Any, Optional, Tuple

__all__ = ["ScaledTime", "install", "installed_scale", "main"]

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
    """How many times faster than the wall clock this interpreter's time runs (1.0 when not accelerated)."""
    return _installed.scale if _installed is not None else 1.0


class ScaledTime:
    """Time ``scale`` times faster than the wall clock.

    ``origin`` is a wall-clock instant (epoch seconds) and ``at_origin`` what this clock read then
    (epoch seconds). The monotonic clocks start at their real values and advance ``scale`` times
    faster from the moment this object is made.
    """

    def __init__(self, scale: float, origin: "float | None" = None, at_origin: "float | None" = None) -> None:
        if not scale > 0:
            raise ValueError("the time scale must be a positive number, not %r" % (scale,))
        self.scale = float(scale)
        self.origin = _real_time() if origin is None else float(origin)
        self.at_origin = self.origin if at_origin is None else float(at_origin)
        self._mono0 = _real_monotonic()
        self._perf0 = _real_perf_counter()

    def time(self) -> float:
        """Epoch seconds on the scaled clock."""
        return self.at_origin + (_real_time() - self.origin) * self.scale

    def monotonic(self) -> float:
        return self._mono0 + (_real_monotonic() - self._mono0) * self.scale

    def perf_counter(self) -> float:
        return self._perf0 + (_real_perf_counter() - self._perf0) * self.scale

    def sleep(self, seconds: float) -> None:
        """Sleeps ``seconds`` of scaled time (``seconds / scale`` of the wall clock)."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        # Against a deadline on the monotonic clock, so that many short sleeps do not drift.
        deadline = self.monotonic() + seconds
        while True:
            left = deadline - self.monotonic()
            if left <= 0:
                return
            _real_sleep(left / self.scale)


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
    return ScaledTime(scale, origin, at_origin)


def main(argv: "list[str] | None" = None) -> None:
    """``python3 -m bioreactor_client.accelerated SCRIPT [ARGS...]``: runs SCRIPT as __main__ at scaled time."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python3 -m bioreactor_client.accelerated SCRIPT [ARGS...]")
    clock = _from_env(dict(os.environ))
    install(clock)
    script = args[0]
    sys.argv = list(args)
    # The script's folder first on the path, as `python3 script.py` has it.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    # `-m` runs a second copy of this file as __main__: the one the client imports must hold the installed clock.
    from bioreactor_client.accelerated import main as _main

    _main()
