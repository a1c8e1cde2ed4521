"""Figures for bioreactor_client against a running node: row latency, one request vs one per component,
command latency, and CSV append throughput.

    npm start    # or any node
    BIOREACTOR_NODE_API_URL=http://localhost:9000 PYTHONPATH=python/src python3 python/bench/client_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from typing import Callable, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))


def timed(label: str, action: Callable[[], object], rounds: int = ROUNDS) -> List[float]:
    action()  # warm the connection path and the node's caches
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<44} median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms   ({rounds} rounds)")
    return samples


def per_component_row(bioreactor: Bioreactor) -> int:
    """What the original client did for one row: one request per reading (of the fitted components)."""
    getters = {
        "co2_sensor": bioreactor.get_co2,
        "temp_sensor": bioreactor.get_temperature,
        "optical_density": bioreactor.get_od_voltages,
        "eyespy_adc": bioreactor.get_eyespy_voltages,
        "stirrer": bioreactor.get_stirrer_state,
        "peltier_driver": bioreactor.get_peltier_state,
    }
    fitted = [get for name, get in getters.items() if name in bioreactor.capabilities]
    for get in fitted:
        get()
    return len(fitted)


def main() -> None:
    bioreactor = Bioreactor()
    print(f"node {bioreactor.client.api_url}, components: {', '.join(bioreactor.capabilities)}")
    timed("measure_all_data (1 request)", lambda: measure_all_data(bioreactor))
    requests = per_component_row(bioreactor)
    timed(f"same values, one request per component ({requests})", lambda: per_component_row(bioreactor))
    if "stirrer" in bioreactor.capabilities:
        timed("change_stirrer", lambda: bioreactor.change_stirrer(30))
    row = measure_all_data(bioreactor)
    with tempfile.TemporaryDirectory() as out:
        count = 5000
        start = time.perf_counter()
        for _ in range(count):
            write_data_to_csv(row, output_dir=out)
        seconds = time.perf_counter() - start
        size = os.path.getsize(os.path.join(out, "experiment_data.csv"))
    print(f"{'write_data_to_csv':<44} {count / seconds:8.0f} rows/s   ({count} rows, {size / count:.0f} bytes/row)")
    bioreactor.stop_all()


if __name__ == "__main__":
    main()
