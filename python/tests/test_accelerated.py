"""bioreactor_client.accelerated: a script's clock and sleeps at accelerated time, in a real interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from tests.node_process import REPO_ROOT

SRC = os.path.join(REPO_ROOT, "python", "src")


def run_script(source: str, env: "dict[str, str]", timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Runs `source` as a script through the module, as the node does; answers the finished process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "user_script.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source))
        full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SRC, **env}
        return subprocess.run(
            [sys.executable, "-u", "-m", "bioreactor_client.accelerated", path],
            env=full,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class AcceleratedScriptTest(unittest.TestCase):
    def test_a_60_s_sleep_at_600x_takes_a_tenth_of_a_second_and_the_clock_moves_60_s(self) -> None:
        result = run_script(
            """
            import datetime, json, time
            t0, m0, p0, d0 = time.time(), time.monotonic(), time.perf_counter(), datetime.datetime.now()
            time.sleep(60)
            print(json.dumps({
                "time": time.time() - t0,
                "time_ns": (time.time_ns() - int(t0 * 1e9)) / 1e9,
                "monotonic": time.monotonic() - m0,
                "perf_counter": time.perf_counter() - p0,
                "datetime": (datetime.datetime.now() - d0).total_seconds(),
                "is_datetime": isinstance(d0, datetime.datetime),
            }))
            """,
            {"BIOREACTOR_TIME_SCALE": "600"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        for name in ("time", "time_ns", "monotonic", "perf_counter", "datetime"):
            # At least the 60 s slept; little more (the start of the interpreter is not inside the measure).
            self.assertGreaterEqual(seen[name], 60.0, name)
            self.assertLess(seen[name], 60.0 + 0.2 * 600, name)
        self.assertTrue(seen["is_datetime"])

    def test_the_sleep_itself_is_a_tenth_of_a_second_of_wall_time(self) -> None:
        result = run_script(
            """
            import time
            from bioreactor_client import accelerated
            real = accelerated._real_monotonic
            start = real()
            time.sleep(60)
            print(real() - start)
            """,
            {"BIOREACTOR_TIME_SCALE": "600"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        wall = float(result.stdout.strip().splitlines()[-1])
        self.assertGreaterEqual(wall, 0.099)
        self.assertLess(wall, 0.5)

    def test_the_clock_starts_where_the_node_s_twin_was_at_the_origin(self) -> None:
        origin = time.time()
        twin = 1_800_000_000.0  # the twin's clock read this at the wall-clock instant `origin`
        result = run_script(
            """
            import datetime, time
            print(time.time())
            print(datetime.datetime.now(datetime.timezone.utc).isoformat())
            print(datetime.date.today().isoformat())
            """,
            {
                "BIOREACTOR_TIME_SCALE": "60",
                "BIOREACTOR_TIME_ORIGIN": "%.6f" % origin,
                "BIOREACTOR_TIME_AT_ORIGIN": "%.6f" % twin,
            },
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        now, iso, today = result.stdout.strip().splitlines()[-3:]
        elapsed_wall = time.time() - origin
        self.assertGreaterEqual(float(now), twin)
        self.assertLessEqual(float(now), twin + elapsed_wall * 60 + 1)
        self.assertTrue(iso.startswith("2027-01-15T"), iso)
        self.assertEqual(today[:7], "2027-01")

    def test_the_client_s_csv_timestamps_come_from_the_scaled_clock(self) -> None:
        result = run_script(
            """
            import time
            from bioreactor_client.data import _now
            print(_now())
            """,
            {
                "BIOREACTOR_TIME_SCALE": "600",
                "BIOREACTOR_TIME_ORIGIN": "%.6f" % time.time(),
                "BIOREACTOR_TIME_AT_ORIGIN": "1800000000",
            },
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.strip().startswith("2027-01-15T"), result.stdout)

    def test_a_traceback_names_the_script_s_file_and_line(self) -> None:
        result = run_script(
            """
            import time
            time.sleep(1)
            raise ValueError("the culture is too hot")
            """,
            {"BIOREACTOR_TIME_SCALE": "600"},
        )
        self.assertEqual(result.returncode, 1)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(lines[-1], "ValueError: the culture is too hot")
        frame = [line for line in lines if line.strip().startswith("File ")][-1]
        self.assertIn("user_script.py", frame)
        self.assertIn("line 4", frame)
        self.assertIn("<module>", frame)

    def test_the_script_runs_as_main_with_its_folder_on_the_path(self) -> None:
        result = run_script(
            """
            import os, sys
            print(__name__, os.path.basename(sys.argv[0]), os.path.isfile(os.path.join(sys.path[0], "user_script.py")))
            """,
            {"BIOREACTOR_TIME_SCALE": "2"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "__main__ user_script.py True")

    def test_periodic_jobs_run_at_the_scaled_rate(self) -> None:
        result = run_script(
            """
            import time
            from bioreactor_client import accelerated
            from bioreactor_client.jobs import JobRunner
            calls = []
            runner = JobRunner(None, [(lambda b, t: calls.append(t), 10, 60)])
            start = accelerated._real_monotonic()
            runner.start()
            runner.wait(120)
            print(len(calls), round(accelerated._real_monotonic() - start, 3))
            """,
            {"BIOREACTOR_TIME_SCALE": "600"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        calls, wall = result.stdout.strip().split()
        self.assertGreaterEqual(int(calls), 5, "a call every 10 s for 60 s")
        self.assertLess(float(wall), 2.0, "60 s of jobs at 600x take about 0.1 s of wall time")

    def test_a_missing_scale_is_refused_with_what_to_set(self) -> None:
        result = run_script("print('never')", {})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("BIOREACTOR_TIME_SCALE", result.stderr)


if __name__ == "__main__":
    unittest.main()
