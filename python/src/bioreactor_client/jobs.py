"""Periodic jobs for :meth:`Bioreactor.run <bioreactor_client.Bioreactor.run>`: one thread per job.

A job is ``(func, period_s, duration)``: ``func(bioreactor, elapsed)`` is called every ``period_s``
seconds, first at once, until ``duration`` seconds have passed (``True`` means until the
experiment stops). Each job has its own thread so that a slow one (a 1.5 s CO2 read) never
delays the others. Ticks are counted from the start, so they do not drift; a tick missed because
the previous call overran is skipped rather than run late in a burst.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["Job", "JobRunner", "next_tick", "call_job"]

logger = logging.getLogger("bioreactor_client")

#: ``(func, period_s, duration_s or True)``
Job = Tuple[Callable[..., Any], float, Union[float, bool]]


def next_tick(elapsed: float, period: float) -> float:
    """The first tick time (a multiple of ``period``) strictly after ``elapsed``.

    Used after a call so that an overrunning call skips the ticks it missed instead of
    running them back to back.
    """
    return (math.floor(elapsed / period) + 1) * period


def _validate(job: Any, index: int) -> Tuple[Callable[..., Any], float, Optional[float]]:
    if not isinstance(job, (tuple, list)) or len(job) != 3:
        raise ValueError(
            f"job {index} is {job!r}; each job must be (function, period_s, duration_s or True)"
        )
    func, period, duration = job
    if not callable(func):
        raise ValueError(f"job {index}: {func!r} is not a function")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
        raise ValueError(f"job {index} ({_name(func)}): period_s must be a positive number, not {period!r}")
    if duration is True:
        return func, float(period), None
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        raise ValueError(
            f"job {index} ({_name(func)}): duration must be a positive number of seconds, or True "
            f"to run until the experiment stops, not {duration!r}"
        )
    return func, float(period), float(duration)


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__name__", None) or repr(func)


def call_job(func: Callable[..., Any], bioreactor: Any, elapsed: float) -> Any:
    """Call ``func(bioreactor, elapsed)``, or ``func(bioreactor, elapsed=...)``, or ``func(bioreactor)``,
    whichever its signature accepts (the original helpers take ``elapsed`` as a keyword)."""
    try:
        signature: Optional[inspect.Signature] = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    if signature is None:
        return func(bioreactor, elapsed)
    attempts: Tuple[Tuple[Tuple[Any, ...], Dict[str, Any]], ...] = (
        ((bioreactor, elapsed), {}),
        ((bioreactor,), {"elapsed": elapsed}),
        ((bioreactor,), {}),
    )
    for args, kwargs in attempts:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            continue
        return func(*args, **kwargs)
    raise TypeError(
        f"job {_name(func)} must accept (bioreactor, elapsed) or (bioreactor); its signature is {signature}"
    )


def _time_scale() -> float:
    """How much faster than the wall clock the script's time runs (a pre-flight, bioreactor_client.accelerated)."""
    # Looked up, not imported: `python3 -m bioreactor_client.accelerated` must be the first to import that module.
    accelerated = sys.modules.get("bioreactor_client.accelerated")
    return float(accelerated.installed_scale()) if accelerated is not None else 1.0


class JobRunner:
    """Runs a set of jobs in threads until they finish or :meth:`stop` is called."""

    def __init__(
        self,
        bioreactor: Any,
        jobs: Union[Sequence[Job], Job],
        *,
        stop_on_error: bool = False,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        listed: Sequence[Any] = jobs
        if isinstance(jobs, tuple) and len(jobs) == 3 and callable(jobs[0]):
            listed = [jobs]  # one job passed on its own
        if not listed:
            raise ValueError("run() needs at least one job: [(function, period_s, duration_s or True)]")
        self._jobs = [_validate(job, i) for i, job in enumerate(listed)]
        self._bioreactor = bioreactor
        self._stop_on_error = stop_on_error
        # Looked up at each call: a run at accelerated time replaces time.monotonic after this module is imported.
        self._clock = clock if clock is not None else (lambda: time.monotonic())
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._error: Optional[BaseException] = None
        self._start = 0.0
        #: Calls made per job, in job order.
        self.calls: List[int] = [0] * len(self._jobs)
        #: Exceptions raised by jobs (logged; kept for inspection).
        self.errors: List[BaseException] = []

    @property
    def error(self) -> Optional[BaseException]:
        """The exception that stopped the jobs (only with ``stop_on_error``)."""
        return self._error

    def start(self) -> None:
        """Start every job's thread."""
        self._start = self._clock()
        for index, (func, period, duration) in enumerate(self._jobs):
            thread = threading.Thread(
                target=self._loop,
                args=(index, func, period, duration),
                name=f"bioreactor-job-{index}-{_name(func)}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _loop(self, index: int, func: Callable[..., Any], period: float, duration: Optional[float]) -> None:
        due = 0.0
        called = False
        while not self._stopped.is_set():
            elapsed = self._clock() - self._start
            # The first call is always made, even if this thread started late on a busy machine.
            if duration is not None and elapsed >= duration and called:
                return
            if elapsed < due:
                wait = due - elapsed
                if duration is not None:
                    wait = min(wait, duration - elapsed)
                # Event.wait takes wall seconds; at accelerated time the script's seconds are shorter.
                self._stopped.wait(wait / _time_scale())
                continue
            try:
                call_job(func, self._bioreactor, elapsed)
            except Exception as exc:  # a job's failure must not kill the other jobs silently
                self.errors.append(exc)
                if self._stop_on_error:
                    logger.error("job %s failed at %.1f s; stopping all jobs", _name(func), elapsed, exc_info=True)
                    with self._lock:
                        if self._error is None:
                            self._error = exc
                    self._stopped.set()
                    return
                logger.error("job %s failed at %.1f s; it runs again at its next tick", _name(func), elapsed, exc_info=True)
            called = True
            with self._lock:
                self.calls[index] += 1
            due = next_tick(self._clock() - self._start, period)

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Ask every job to stop and wait (up to ``timeout`` s each) for calls in progress to return."""
        self._stopped.set()
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout)

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called or a job failed with ``stop_on_error``."""
        return self._stopped.is_set()

    def running(self) -> bool:
        """Whether any job thread is still running."""
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until every job has finished or stopped; ``True`` if they have, ``False`` on timeout.

        Waits in short slices so that Ctrl-C reaches the main thread at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            while thread.is_alive():
                if deadline is None:
                    thread.join(0.2)
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    thread.join(min(0.2, left))
        return True
