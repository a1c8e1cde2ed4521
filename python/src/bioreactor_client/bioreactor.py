"""The :class:`Bioreactor` an experiment script drives: commands, readings, periodic jobs, safe stop."""

from __future__ import annotations

import atexit
import logging
import numbers
import signal
import threading
import warnings
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

from . import config
from .client import BioreactorClient
from .data import as_float
from .errors import BioreactorAPIError, BioreactorError
from .jobs import Job, JobRunner

__all__ = ["Bioreactor"]

logger = logging.getLogger("bioreactor_client")

Number = Union[int, float]

_PELTIER_DIRECTIONS = ("heat", "cool", "forward", "reverse")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {value!r}")
    return float(value)


def _pick(state: Dict[str, Any], keys: Sequence[str], numeric: Sequence[str] = ()) -> Dict[str, Any]:
    return {key: as_float(state.get(key)) if key in numeric else state.get(key) for key in keys}


def _raise_system_exit(signum: int, frame: Any) -> None:
    logger.info("stopping: received signal %d", signum)
    raise SystemExit(128 + signum)


def _exit_cleanly_on_sigterm() -> None:
    # Python's default for SIGTERM is to die at once, skipping every cleanup; docker stop (which
    # ends a cancelled experiment) sends SIGTERM and waits before killing, time enough to clean up.
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_system_exit)
    except (ValueError, OSError, AttributeError):  # platforms or embedders without signals
        return


class Bioreactor:
    """One bioreactor node, driven from an experiment script.

    Create it with no arguments inside an experiment container (the node sets
    ``BIOREACTOR_NODE_API_URL``); on a laptop it talks to ``http://localhost:9000`` unless that
    variable is set. Use it as a context manager so that every actuator is switched off when the
    script ends, fails or is interrupted::

        with Bioreactor() as bioreactor:
            bioreactor.change_stirrer(40)
            print(bioreactor.get_temperature())

    Args:
        api_url: the node's base URL (default ``BIOREACTOR_NODE_API_URL`` or ``http://localhost:9000``).
        token: the node's service token (default ``BIOREACTOR_API_TOKEN``).
        timeout: seconds to wait for each reply from the node.
        retries: extra attempts when the connection is refused, reset or times out.
        check: ask the node for its components at once, so that a wrong URL or a stopped node
            fails here with a clear message rather than at the first reading.
        handle_sigterm: turn SIGTERM (how an experiment is stopped or cancelled) into
            ``SystemExit(143)`` so that ``with`` and ``finally`` blocks run and the actuators are
            switched off. Only done in the main thread, and only if no other handler is installed.

    Attributes:
        client: the underlying :class:`~bioreactor_client.BioreactorClient`.
        experiment_id: ``EXPERIMENT_ID`` inside a container, else ``None``.
        capabilities: the node's available components (``GET /api/v3/capabilities``), read at
            construction when ``check`` is true and refreshed by :meth:`stop_all`.

    Readings: ``get_co2``, ``get_temperature``, ``get_od_voltages`` and ``get_eyespy_voltages``
    return ``None`` (or ``None`` entries) when the component is fitted but has no valid value,
    and raise :class:`~bioreactor_client.ComponentUnavailableError` when it is not available at
    all; every method raises :class:`~bioreactor_client.BioreactorConnectionError` when the
    node cannot be reached. Only :func:`~bioreactor_client.measure_all_data` is lenient.
    """

    def __init__(
        self,
        api_url: Optional[str] = None,
        *,
        token: Optional[str] = None,
        timeout: float = config.DEFAULT_TIMEOUT_S,
        retries: int = 2,
        check: bool = True,
        handle_sigterm: bool = True,
    ) -> None:
        self.client = BioreactorClient(api_url, token=token, timeout=timeout, retries=retries)
        self.experiment_id = config.experiment_id()
        self.capabilities: Dict[str, Dict[str, Any]] = {}
        self._runner: Optional[JobRunner] = None
        self._runner_lock = threading.Lock()
        self._finished = False
        self._atexit_registered = False
        # Controller memories for pid_controller and ring_light_cycle, kept per bioreactor.
        self._pid: Dict[str, Any] = {}
        self._ring_cycle: Dict[str, Any] = {}
        if handle_sigterm:
            _exit_cleanly_on_sigterm()
        if check:
            self.capabilities = self.client.get_capabilities()
            logger.info(
                "connected to the bioreactor node at %s (components: %s)",
                self.client.api_url,
                ", ".join(self.capabilities) or "none",
            )

    def __repr__(self) -> str:
        return f"Bioreactor({self.client.api_url!r})"

    # ---- programs: the node runs them itself, so they outlive this script (docs/programs.md) ----

    def start_program(self, program: Any) -> Dict[str, Any]:
        """Start a program on the node (a dict, JSON or YAML text, or a file path); see :meth:`BioreactorClient.start_program`."""
        return self.client.start_program(program)

    def program_status(self) -> Dict[str, Any]:
        """The running program's state (``running`` False when none); see :meth:`BioreactorClient.program_status`."""
        return self.client.program_status()

    def change_program(self, **changes: Any) -> Dict[str, Any]:
        """``change_program(automation=0, setpoint_c=30)`` or ``change_program(track=1, steps=[...])``."""
        return self.client.change_program(**changes)

    def stop_program(self) -> Dict[str, Any]:
        """Stop the running program; every actuator it drove goes back to its safe state."""
        return self.client.stop_program()

    def preview_program(self, program: Any, hours: float = 240) -> Dict[str, Any]:
        """The program's timeline over its first ``hours``, validated by the node; see :meth:`BioreactorClient.preview_program`."""
        return self.client.preview_program(program, hours)

    def __enter__(self) -> Bioreactor:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.finish()
            return
        # The script is already failing: switch everything off as far as possible, but let
        # the original error be the one the scientist sees.
        try:
            self.finish()
        except Exception:
            logger.warning("could not switch every actuator off while stopping after an error", exc_info=True)

    # ---- actuators ----

    def change_led(self, state: Union[bool, Number] = True) -> Dict[str, Any]:
        """Switch the LED on (``True``, full power) or off (``False``), or set its power in percent (0-100).

        Returns the node's reply (the LED's new state).
        """
        if isinstance(state, bool):
            power = 100.0 if state else 0.0
        else:
            power = _number(state, "LED power")
        return self.client.control("led", power=power)

    def change_ring_light(
        self,
        red: Union[int, Sequence[int]],
        green: Optional[int] = None,
        blue: Optional[int] = None,
        pixel: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Set the ring light's colour (each channel 0-255), for the whole ring or one ``pixel``.

        ``change_ring_light(50, 0, 20)`` or ``change_ring_light((50, 0, 20))``; ``(0, 0, 0)`` is off.
        Returns the node's reply.
        """
        if green is None and blue is None and not isinstance(red, numbers.Real):
            channels = tuple(red)  # type: ignore[arg-type]
            if len(channels) != 3:
                raise ValueError(f"a colour is (red, green, blue), not {red!r}")
            red, green, blue = channels
        if green is None or blue is None:
            raise TypeError("change_ring_light needs red, green and blue (or one (r, g, b) tuple)")
        body: Dict[str, Any] = {"red": red, "green": green, "blue": blue}
        for name, value in body.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                if isinstance(value, float) and value.is_integer():
                    body[name] = int(value)
                    continue
                raise TypeError(f"ring light {name} must be a whole number 0-255, not {value!r}")
            body[name] = int(value)
        if pixel is not None:
            if isinstance(pixel, bool) or not isinstance(pixel, numbers.Integral):
                raise TypeError(f"pixel must be a whole number, not {pixel!r}")
            body["pixel_index"] = int(pixel)
        return self.client.control("ring_light", **body)

    def change_peltier(
        self,
        power: Number,
        forward: Union[bool, str] = True,
        *,
        direction: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Drive the peltier at ``power`` percent (0-100).

        ``forward=True`` heats and ``forward=False`` cools, as in the original client. Pass
        ``direction="heat"|"cool"|"forward"|"reverse"`` (or that word as ``forward``) to name the
        direction outright. Returns the node's reply, whose ``mode`` says what the peltier does.
        """
        if direction is None:
            direction = forward if isinstance(forward, str) else ("heat" if forward else "cool")
        if direction not in _PELTIER_DIRECTIONS:
            raise ValueError(f"peltier direction must be one of {', '.join(_PELTIER_DIRECTIONS)}, not {direction!r}")
        return self.client.control(
            "peltier_driver", duty_cycle=_number(power, "peltier power"), direction=direction
        )

    def change_pump(self, pump_name: str, ml_per_sec: Number) -> Dict[str, Any]:
        """Run pump ``pump_name`` at ``ml_per_sec`` mL/s; 0 stops it, a negative rate runs it in reverse.

        The names are the node's configured pumps (see :meth:`get_pump_names`). Returns the node's reply.
        """
        if not isinstance(pump_name, str) or not pump_name:
            raise TypeError(f"pump_name must be a pump's name, not {pump_name!r}")
        return self.client.control("pumps", pump_name=pump_name, velocity=_number(ml_per_sec, "pump rate"))

    def change_stirrer(self, duty_cycle: Number) -> Dict[str, Any]:
        """Set the stirrer's duty cycle in percent (0-100; 0 stops it). Returns the node's reply."""
        return self.client.control("stirrer", duty_cycle=_number(duty_cycle, "stirrer duty cycle"))

    def dose_gas(self, relay: str, seconds: Number) -> Dict[str, Any]:
        """Open gas relay ``relay`` (e.g. ``"co2_valve"``) for ``seconds``; the node closes it again.

        The node refuses (:class:`~bioreactor_client.SafetyInterlockError`, 409) a dose longer than the relay's
        ``max_dose_s`` or one more than its ``max_doses_per_hour``. Returns the node's reply (every relay's state).
        """
        if not isinstance(relay, str) or not relay:
            raise TypeError(f"relay must be a gas relay's name, not {relay!r}")
        return self.client.control("gas_relays", relay=relay, dose_s=_number(seconds, "gas dose"))

    def set_gas_relay(self, relay: str, open: bool) -> Dict[str, Any]:
        """Open (``True``) or close (``False``) gas relay ``relay``; an open relay is closed by the node after
        its ``max_dose_s``. Returns the node's reply."""
        if not isinstance(open, bool):
            raise TypeError(f"open must be True or False, not {open!r}")
        return self.client.control("gas_relays", relay=relay, open=open)

    # ---- sensors ----

    def get_co2(self) -> Optional[float]:
        """The CO2 concentration in ppm, or ``None`` if the sensor has no valid reading."""
        return as_float(self.client.get_state("co2_sensor").get("co2_ppm"))  # type: ignore[no-any-return]

    def get_temperature(self) -> Optional[float]:
        """The vessel temperature in °C (the first sensor), or ``None`` if it has no valid reading."""
        return as_float(self.client.get_state("temp_sensor").get("temperature"))  # type: ignore[no-any-return]

    def get_temperatures(self) -> List[Optional[float]]:
        """Every temperature sensor in °C, in configured order (``None`` for one without a valid reading)."""
        return list(as_float(self.client.get_state("temp_sensor").get("temperatures") or []))

    def get_od_voltages(self) -> List[Optional[float]]:
        """The optical-density photodiode voltages, one per channel (see :meth:`get_od_channels`)."""
        return list(as_float(self.client.get_state("optical_density").get("voltages") or []))

    def get_od_channels(self) -> List[str]:
        """The optical-density channel names, in the order of :meth:`get_od_voltages` (e.g. ``135, Ref, 90``)."""
        return list(self.client.get_state("optical_density").get("channels") or [])

    def get_eyespy_voltages(self) -> List[Optional[float]]:
        """The eyespy ADC voltages, one per board."""
        return list(as_float(self.client.get_state("eyespy_adc").get("voltages") or []))

    def get_readings(self) -> Dict[str, Any]:
        """Every reading the node reports, by its CSV column name, in one request.

        ``{"co2_ppm": 412.0, "temperature": 37.1, "od_voltages": [...], ..., "o2_percent": 20.9}``: the guide's
        columns and whatever else the node's components measure (``None`` while a component is unavailable).
        """
        readings = self.client.get_all_states(readings=True).get("readings") or {}
        return {name: as_float(value) for name, value in readings.items()}

    def get_reading(self, name: str) -> Any:
        """One reading by its column name, e.g. ``get_reading("o2_percent")``: any reading the node reports.

        Raises :class:`ValueError` naming the readings the node has when it reports no such one.
        """
        readings = self.get_readings()
        if name not in readings:
            raise ValueError(f"the node reports no reading {name!r}; it reports {', '.join(readings) or 'none'}")
        return readings[name]

    # ---- actuator states ----

    def get_peltier_state(self) -> Dict[str, Any]:
        """The peltier's last command: ``{duty_cycle, direction, active, mode, cutoff}``.

        ``mode`` is ``heat``, ``cool`` or ``off``; ``cutoff`` says why a safety cutoff holds it off, if one does.
        """
        state = self.client.get_state("peltier_driver")
        return _pick(state, ("duty_cycle", "direction", "active", "mode", "cutoff"), numeric=("duty_cycle",))

    def get_stirrer_state(self) -> Dict[str, Any]:
        """The stirrer's last command: ``{duty_cycle, active}``."""
        return _pick(self.client.get_state("stirrer"), ("duty_cycle", "active"), numeric=("duty_cycle",))

    def get_ring_light_state(self) -> Dict[str, Any]:
        """The ring light's last colour: ``{red, green, blue, active, pixel_count}``."""
        return _pick(self.client.get_state("ring_light"), ("red", "green", "blue", "active", "pixel_count"))

    def get_led_state(self) -> Dict[str, Any]:
        """The LED's last command: ``{power, active}``."""
        return _pick(self.client.get_state("led"), ("power", "active"), numeric=("power",))

    def get_pump_states(self) -> List[Dict[str, Any]]:
        """Every configured pump: ``[{pump_name, velocity, direction, active, total_volume_ml}]``."""
        pumps = self.client.get_state("pumps").get("pumps") or []
        return [_pick(p, ("pump_name", "velocity", "direction", "active", "total_volume_ml"), ("velocity", "total_volume_ml")) for p in pumps]

    def get_pump_names(self) -> List[str]:
        """The configured pumps' names, e.g. ``["inflow", "outflow"]``."""
        return [str(p.get("pump_name")) for p in self.get_pump_states()]

    # ---- node ----

    def get_status(self) -> Dict[str, Any]:
        """The node's status: hardware mode, available and unavailable components, experiment runner."""
        return self.client.get_status()

    def get_all_states(self) -> Dict[str, Any]:
        """Every available component's state in one request (``GET /api/v3/state``)."""
        return self.client.get_all_states()

    def get_history(
        self, component: str, since: Optional[str] = None, limit: Optional[int] = None
    ) -> Dict[str, Any]:
        """A sensor's recent samples as the node kept them (about a day at its sampling rate).

        ``{"component", "unit", "channels", "samples": [{"timestamp", "values": [...]}]}``, oldest
        first; ``since`` (ISO 8601) keeps only later samples and ``limit`` the newest N. Useful to
        look back at what happened before the script started, e.g. the temperature trend.
        """
        return self.client.get_history(component, since=since, limit=limit)

    # ---- the original client's v2-era getters ----

    def get_photodiodes(self) -> List[Optional[float]]:
        """Deprecated name of :meth:`get_od_voltages` (the v2 photodiodes are the OD channels)."""
        warnings.warn("get_photodiodes() is get_od_voltages()", DeprecationWarning, stacklevel=2)
        return self.get_od_voltages()

    def get_vial_temp(self) -> List[Optional[float]]:
        """Deprecated name of :meth:`get_temperatures` (every temperature sensor, °C)."""
        warnings.warn("get_vial_temp() is get_temperatures()", DeprecationWarning, stacklevel=2)
        return self.get_temperatures()

    def get_io_temp(self) -> List[Optional[float]]:
        """Deprecated: the v3 hardware has no inflow/outflow temperature probes, so this is always ``[]``."""
        warnings.warn("get_io_temp(): v3 hardware has no I/O temperature probes", DeprecationWarning, stacklevel=2)
        return []

    def get_peltier_curr(self) -> Optional[float]:
        """Deprecated name of ``get_reading("peltier_current")``: the peltier's current in A when the node has a
        current sensor (``peltier_current`` in its hardware file), else ``None``."""
        warnings.warn('get_peltier_curr() is get_reading("peltier_current")', DeprecationWarning, stacklevel=2)
        return self.get_readings().get("peltier_current")

    # ---- jobs and lifecycle ----

    def run(self, jobs: Union[Sequence[Job], Job], *, block: bool = False, stop_on_error: bool = False) -> None:
        """Run periodic jobs, each in its own thread.

        Each job is ``(func, period_s, duration)``: ``func(bioreactor, elapsed)`` runs at once and
        then every ``period_s`` seconds until ``duration`` seconds have passed, or, with
        ``duration=True``, until :meth:`finish` (or the end of the ``with`` block).

        As in the original library, ``run`` returns at once and the jobs run in the background,
        so the script must keep running (a ``while`` loop, or :meth:`wait`). With ``block=True`` it
        waits until every job has finished (for ``True`` jobs: until :meth:`finish` is called from
        a job, or Ctrl-C).

        A job that raises is logged with its traceback and runs again at its next tick; with
        ``stop_on_error=True`` the first failure stops every job and :meth:`wait` (or
        ``run(block=True)``) raises it.
        """
        if self._finished:
            raise BioreactorError("this Bioreactor is finished; create a new one to run more jobs")
        with self._runner_lock:
            if self._runner is not None and self._runner.running():
                raise BioreactorError("jobs are already running; call finish() or wait() before run() again")
            runner = JobRunner(self, jobs, stop_on_error=stop_on_error)
            self._runner = runner
            runner.start()
            if not self._atexit_registered:
                atexit.register(self._warn_if_jobs_outlive_script)
                self._atexit_registered = True
        if block:
            self.wait()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the jobs of :meth:`run` are done; ``False`` if ``timeout`` seconds passed first.

        Ctrl-C stops every job and is then raised as usual. If a job failed with
        ``stop_on_error``, its exception is raised here.
        """
        runner = self._runner
        if runner is None:
            return True
        try:
            done = runner.wait(timeout)
        except KeyboardInterrupt:
            logger.info("interrupted: stopping the jobs")
            runner.stop()
            raise
        if runner.error is not None:
            raise runner.error
        return done

    def _warn_if_jobs_outlive_script(self) -> None:
        # run() returns at once; a script that then simply ends kills its jobs with it, which
        # looks like an experiment that did nothing. Say so in the log the scientist will read.
        runner = self._runner
        if runner is not None and runner.running() and not runner.stopped:
            logger.warning(
                "the script ended while its jobs were still running, so they stopped with it; "
                "use bioreactor.run(jobs, block=True) or bioreactor.wait() to let them finish"
            )
            runner.stop(timeout=1.0)

    @property
    def job_calls(self) -> List[int]:
        """How many times each job of the last :meth:`run` has been called, in job order."""
        return list(self._runner.calls) if self._runner else []

    def stop_jobs(self) -> None:
        """Stop the jobs of :meth:`run`, waiting for calls in progress to return."""
        runner = self._runner
        if runner is not None:
            runner.stop()

    def stop_all(self) -> None:
        """Switch every available actuator off: peltier, gas relays, stirrer, every pump, LED and ring light.

        Tries each one even if another fails, then raises a
        :class:`~bioreactor_client.BioreactorError` listing the failures, if any.
        """
        self.capabilities = self.client.get_capabilities()
        failures: List[Tuple[str, BaseException]] = []

        def attempt(name: str, action: Any) -> None:
            try:
                action()
            except BioreactorError as exc:
                failures.append((name, exc))

        if "peltier_driver" in self.capabilities:
            attempt("peltier_driver", lambda: self.client.control("peltier_driver", duty_cycle=0, direction="heat"))
        for relay in self.capabilities.get("gas_relays", {}).get("available_relays", []):
            attempt(
                f"gas relay {relay}", lambda r=relay: self.client.control("gas_relays", relay=r, open=False)
            )
        if "stirrer" in self.capabilities:
            attempt("stirrer", lambda: self.client.control("stirrer", duty_cycle=0))
        if "pumps" in self.capabilities:
            try:
                names = self.get_pump_names()
            except BioreactorError as exc:
                failures.append(("pumps", exc))
                names = []
            for name in names:
                attempt(f"pump {name}", lambda n=name: self.client.control("pumps", pump_name=n, velocity=0))
        if "led" in self.capabilities:
            attempt("led", lambda: self.client.control("led", power=0))
        if "ring_light" in self.capabilities:
            attempt("ring_light", lambda: self.client.control("ring_light", red=0, green=0, blue=0))
        if failures:
            details = "; ".join(
                f"{name}: {exc.message if isinstance(exc, BioreactorAPIError) else exc}" for name, exc in failures
            )
            raise BioreactorError(f"could not switch off {len(failures)} actuator(s): {details}")

    def finish(self) -> None:
        """End the experiment: stop the jobs of :meth:`run`, then switch every actuator off (:meth:`stop_all`)."""
        self._finished = True
        self.stop_jobs()
        self.stop_all()
