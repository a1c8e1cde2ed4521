"""Measurements as rows, and rows appended to the experiment's CSV file (the guide's V3 format)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import math
import os
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import config
from .errors import BioreactorAPIError, BioreactorConnectionError, CSVColumnsError

__all__ = [
    "measure_all_data",
    "measure_and_write_sensor_data",
    "write_data_to_csv",
    "format_csv_value",
    "DEFAULT_CSV_FILENAME",
]

logger = logging.getLogger("bioreactor_client")

#: The file the dashboard follows during an experiment.
DEFAULT_CSV_FILENAME = "experiment_data.csv"

# One lock per file: jobs run in threads and may append to the same CSV at once.
_file_locks: Dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _now() -> str:
    """The time of a row: ISO 8601 with microseconds (the guide's format) and the UTC offset, so that every runner
    (a container in UTC, the local runner in the machine's zone) writes the same instant the same way and a
    dashboard in any zone draws it where it belongs: ``2026-01-25T20:35:11.103915+00:00``."""
    # timespec keeps the microseconds even when they are zero, so every row has the same width.
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def _json_safe(value: Any) -> Any:
    if not isinstance(value, (str, bytes)) and callable(getattr(value, "tolist", None)):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


def format_csv_value(value: Any) -> str:
    """The text of one CSV cell.

    ``None`` and non-finite numbers become an empty cell; lists, tuples and dicts compact JSON
    (``[0.12,0.15,0.18]``); datetimes ISO 8601; everything else ``str()`` (``633.0``, ``forward``,
    ``True``). Quoting is left to the CSV writer.
    """
    if value is None:
        return ""
    if not isinstance(value, (str, bytes)) and callable(getattr(value, "tolist", None)):
        value = value.tolist()  # numpy scalars and arrays become plain Python values
        if value is None:
            return ""
    if isinstance(value, float):
        # float.__repr__, not repr(): a float subclass (numpy.float64) may print its type name.
        return float.__repr__(value) if math.isfinite(value) else ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_json_safe(value), separators=(",", ":"), allow_nan=False, default=str)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _all_states(bioreactor: Any, readings: bool) -> Dict[str, Any]:
    """The node's batched state in one request; ``{}`` (with a warning) when the node cannot be reached or
    fails, so that a long experiment records a gap instead of stopping."""
    try:
        reply = bioreactor.client.get_all_states(readings=True) if readings else bioreactor.client.get_all_states()
    except BioreactorConnectionError as exc:
        logger.warning("no readings this time, the row is left empty: %s", exc)
        return {}
    except BioreactorAPIError as exc:
        if exc.status >= 500:
            logger.warning("no readings this time, the row is left empty: %s", exc)
            return {}
        raise
    return reply if isinstance(reply, dict) else {}


def _states(reply: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    components = reply.get("components")
    return components if isinstance(components, dict) else {}


def as_float(value: Any) -> Any:
    """A JSON number as a float (the node sends ``428`` for 428.0); lists element-wise; anything else as is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [as_float(v) for v in value]
    return value


def _field(states: Mapping[str, Any], component: str, key: str, numeric: bool = True) -> Any:
    state = states.get(component)
    if not isinstance(state, dict):
        return None
    value = state.get(key)
    return as_float(value) if numeric else value


def measure_all_data(
    bioreactor: Any,
    include_controls: bool = True,
    elapsed: Optional[float] = None,
    include_ring_light: bool = False,
    extra: Union[str, Sequence[str]] = (),
) -> Dict[str, Any]:
    """Read every sensor (and actuator state) in one request to the node and return one row.

    Keys, in CSV column order: ``timestamp`` (local time, ISO 8601 with microseconds),
    ``co2_ppm``, ``temperature``, ``od_voltages``, ``eyespy_voltages``, then ``elapsed`` if given,
    then with ``include_controls`` ``stirrer_duty``, ``peltier_duty``, ``peltier_direction``, and
    with ``include_ring_light`` also ``ring_light_r``, ``ring_light_g``, ``ring_light_b``.

    ``extra`` adds other readings the node reports, by their column names, after those:
    ``extra=("o2_percent",)``, ``extra=("o2_percent", "pump_volumes_ml")``. The node says which it has
    (the same request, ``GET /api/v3/state?readings=true``); a name it does not report raises
    :class:`ValueError` listing the ones it does. Without ``extra`` the row is the guide's, as before.

    A value the node cannot give (component not fitted, sensor fault, node briefly unreachable)
    is ``None``, which :func:`write_data_to_csv` writes as an empty cell; this function does not
    raise for it. It does raise for mistakes that no retry can fix, such as a missing token.
    """
    names = [extra] if isinstance(extra, str) else list(extra)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"extra names readings by their column names, like 'o2_percent', not {name!r}")
    timestamp = _now()
    reply = _all_states(bioreactor, readings=bool(names))
    states = _states(reply)
    row: Dict[str, Any] = {
        "timestamp": timestamp,
        "co2_ppm": _field(states, "co2_sensor", "co2_ppm"),
        "temperature": _field(states, "temp_sensor", "temperature"),
        "od_voltages": _field(states, "optical_density", "voltages"),
        "eyespy_voltages": _field(states, "eyespy_adc", "voltages"),
    }
    if elapsed is not None:
        row["elapsed"] = elapsed
    if include_controls:
        row["stirrer_duty"] = _field(states, "stirrer", "duty_cycle")
        row["peltier_duty"] = _field(states, "peltier_driver", "duty_cycle")
        row["peltier_direction"] = _field(states, "peltier_driver", "direction", numeric=False)
    if include_ring_light:
        row["ring_light_r"] = _field(states, "ring_light", "red", numeric=False)
        row["ring_light_g"] = _field(states, "ring_light", "green", numeric=False)
        row["ring_light_b"] = _field(states, "ring_light", "blue", numeric=False)
    readings = reply.get("readings")
    for name in names:
        if name in row:
            continue
        if isinstance(readings, dict) and name not in readings:
            raise ValueError(
                f"the node reports no reading {name!r}; it reports {', '.join(readings) or 'none'} "
                f"(a component the hardware file leaves off reports nothing)"
            )
        # No reply at all (the node briefly unreachable): an empty cell, as for the guide's columns.
        row[name] = as_float(readings.get(name)) if isinstance(readings, dict) else None
    return row


def measure_and_write_sensor_data(
    bioreactor: Any,
    elapsed: Optional[float] = None,
    filename: str = DEFAULT_CSV_FILENAME,
    output_dir: Optional[str] = None,
) -> Dict[str, Any]:
    """Read the sensors (no actuator states), append the row to the CSV file and return it.

    The row is :func:`measure_all_data` with ``include_controls=False``; use that function and
    :func:`write_data_to_csv` for the guide's full eight columns.
    """
    row = measure_all_data(bioreactor, include_controls=False, elapsed=elapsed)
    write_data_to_csv(row, filename=filename, output_dir=output_dir)
    return row


def _lock_for(path: str) -> threading.Lock:
    with _file_locks_guard:
        lock = _file_locks.get(path)
        if lock is None:
            lock = _file_locks[path] = threading.Lock()
        return lock


def _read_header(path: str) -> Optional[List[str]]:
    """The header of an existing, non-empty CSV file, or ``None``."""
    try:
        if os.path.getsize(path) == 0:
            return None
        with open(path, "r", encoding="utf-8", newline="") as handle:
            first = handle.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([first]), [])


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def write_data_to_csv(
    data: Mapping[str, Any],
    filename: str = DEFAULT_CSV_FILENAME,
    output_dir: Optional[str] = None,
) -> str:
    """Append one row to a CSV file and return the file's path.

    The file is ``output_dir/filename``; ``output_dir`` defaults to ``OUTPUT_DIR`` (``/app/output``
    in an experiment container, whose ``experiment_data.csv`` the live dashboard follows), else
    the current directory. The directory is created if needed.

    The first row written to a new (or empty) file also writes the header, from that row's keys in
    their order. Later rows are matched to the header by key: a missing key gives an empty cell,
    and a key the header lacks raises :class:`~bioreactor_client.CSVColumnsError` naming it,
    because the value would otherwise be lost (write such rows to another file).

    Cells: ``None`` is empty, lists are compact JSON quoted as CSV requires
    (``"[0.12,0.15,0.18]"``), floats keep Python's shortest form (``633.0``); lines end in ``\\n``.
    Safe to call from several jobs at once.
    """
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"write_data_to_csv needs a non-empty dict of column → value, not {data!r}")
    if not filename or os.path.basename(filename) != filename:
        raise ValueError(f"filename must be a plain file name such as 'experiment_data.csv', not {filename!r}")
    directory = output_dir or config.output_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, filename)
    keys = [str(k) for k in data.keys()]
    with _lock_for(os.path.abspath(path)):
        header = _read_header(path)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header is None:
            header = keys
            writer.writerow(header)
            mode = "w"
        else:
            extra = [k for k in keys if k not in header]
            if extra:
                raise CSVColumnsError(path, extra, header)
            mode = "a"
            # A run killed in the middle of a line leaves no newline; start on a fresh line.
            if not _ends_with_newline(path):
                buffer.write("\n")
        values = {str(k): v for k, v in data.items()}
        writer.writerow([format_csv_value(values.get(column)) for column in header])
        with open(path, mode, encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
    return path
