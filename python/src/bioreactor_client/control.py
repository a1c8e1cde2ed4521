"""Ready-made controllers for jobs: temperature PID, balanced pumping, ring-light cycling."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Dict, Optional, Sequence

from .errors import BioreactorError

__all__ = ["pid_controller", "balanced_flow", "ring_light_cycle", "counterpart_pump"]

logger = logging.getLogger("bioreactor_client")


def pid_controller(
    bioreactor: Any,
    setpoint: float,
    current_temp: Optional[float] = None,
    kp: float = 10.0,
    ki: float = 1.0,
    kd: float = 0.0,
    dt: float = 1.0,
    elapsed: Optional[float] = None,
) -> Dict[str, Any]:
    """One step of a PID loop that holds the vessel at ``setpoint`` °C with the peltier.

    Call it periodically, e.g. as a job: ``bioreactor.run([(partial(pid_controller, setpoint=37), 5, True)])``.
    The output ``kp·e + ki·∫e dt + kd·de/dt`` (``e = setpoint - temperature``) sets the peltier's
    duty to ``min(|output|, 100)`` %, heating when it is positive and cooling when negative.

    Args:
        bioreactor: the :class:`~bioreactor_client.Bioreactor`.
        setpoint: the target temperature, °C.
        current_temp: the measured temperature; read from the node when omitted.
        kp, ki, kd: the gains (percent duty per °C, per °C·s, per °C/s).
        dt: seconds between calls; when ``elapsed`` is given (as jobs pass it) the real interval
            since the previous call is used instead.
        elapsed: seconds since the jobs started.

    The integral only accumulates while the output is not saturated (anti-windup), so the loop does
    not overshoot after a long heat-up. If the temperature is unavailable the peltier is switched
    off for safety and nothing else changes. The controller's memory lives on the bioreactor, so
    one bioreactor holds one PID loop. Returns ``{temperature, error, output, duty_cycle, direction}``.
    """
    state = bioreactor._pid
    temperature = current_temp if current_temp is not None else bioreactor.get_temperature()
    if temperature is None or not math.isfinite(temperature):
        logger.warning("pid_controller: no valid temperature reading; switching the peltier off")
        bioreactor.change_peltier(0, True)
        return {"temperature": None, "error": None, "output": 0.0, "duty_cycle": 0, "direction": "off"}
    step = dt
    last_elapsed = state.get("elapsed")
    if elapsed is not None and last_elapsed is not None and elapsed > last_elapsed:
        step = elapsed - last_elapsed
    if step <= 0:
        raise ValueError(f"dt must be a positive number of seconds, not {dt!r}")
    error = setpoint - temperature
    last_error = state.get("last_error")
    derivative = 0.0 if last_error is None else (error - last_error) / step
    integral = float(state.get("integral", 0.0))
    candidate = integral + error * step
    output = kp * error + ki * candidate + kd * derivative
    if abs(output) <= 100 or (output > 0) != (error > 0):
        integral = candidate  # not saturated, or the error is pulling the output back: keep integrating
    else:
        output = kp * error + ki * integral + kd * derivative
    duty = int(min(abs(output), 100.0))
    direction = "heat" if output >= 0 else "cool"
    bioreactor.change_peltier(duty, direction)
    state.update(integral=integral, last_error=error, elapsed=elapsed)
    return {"temperature": temperature, "error": error, "output": output, "duty_cycle": duty, "direction": direction}


def counterpart_pump(pump_name: str) -> str:
    """The pump that balances ``pump_name``: ``media_in`` ↔ ``media_out``, ``inflow`` ↔ ``outflow``."""
    for a, b in (("_in", "_out"), ("inflow", "outflow")):
        if pump_name.endswith(a):
            return pump_name[: -len(a)] + b
        if pump_name.endswith(b):
            return pump_name[: -len(b)] + a
    raise ValueError(
        f"cannot tell which pump balances {pump_name!r}: name pumps in pairs ending in _in/_out "
        f"(media_in, media_out) or inflow/outflow, or pass counterpart="
    )


def balanced_flow(
    bioreactor: Any,
    pump_name: str,
    ml_per_sec: float,
    elapsed: Optional[float] = None,
    counterpart: Optional[str] = None,
) -> Dict[str, Any]:
    """Run ``pump_name`` and its counterpart at the same rate, so the vessel's volume stays constant.

    The counterpart is found from the name (``media_in`` ↔ ``media_out``, ``inflow`` ↔
    ``outflow``) unless given. When starting, the outgoing pump starts first, and when stopping
    (rate 0) the incoming pump stops first, so the vessel never briefly overfills. If the second
    pump fails, the first is stopped again and the error raised. Returns the two pumps' rates.
    ``elapsed`` is accepted so the function can be a job.
    """
    partner = counterpart or counterpart_pump(pump_name)
    names = sorted((pump_name, partner), key=lambda n: n.endswith(("_in", "inflow")))
    outgoing, incoming = names[0], names[1]
    order = (outgoing, incoming) if ml_per_sec != 0 else (incoming, outgoing)
    bioreactor.change_pump(order[0], ml_per_sec)
    try:
        bioreactor.change_pump(order[1], ml_per_sec)
    except BioreactorError:
        if ml_per_sec != 0:
            try:
                bioreactor.change_pump(order[0], 0)
            except BioreactorError:
                logger.error("balanced_flow: could not stop %s after %s failed", order[0], order[1])
        raise
    return {pump_name: ml_per_sec, partner: ml_per_sec}


def ring_light_cycle(
    bioreactor: Any,
    color: Sequence[int] = (50, 50, 50),
    on_time: float = 60.0,
    off_time: float = 60.0,
    elapsed: Optional[float] = None,
) -> bool:
    """Cycle the ring light: ``color`` for ``on_time`` seconds, then off for ``off_time`` seconds.

    Call it periodically (e.g. as a job every second). The phase is taken from ``elapsed`` when
    given, else from the first call; the node is only sent a command when the light must change.
    Returns whether the light is now on.
    """
    if on_time < 0 or off_time < 0 or on_time + off_time <= 0:
        raise ValueError("on_time and off_time must be 0 or more seconds, and not both 0")
    state = bioreactor._ring_cycle
    if elapsed is None:
        start = state.setdefault("start", time.monotonic())
        elapsed = time.monotonic() - start
    on = (elapsed % (on_time + off_time)) < on_time
    wanted = tuple(int(c) for c in color) if on else (0, 0, 0)
    if state.get("applied") != wanted:
        bioreactor.change_ring_light(*wanted)
        state["applied"] = wanted
    return on
