"""bioreactor_client.accelerated: a script's clock and sleeps at accelerated time, in a real interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional

from tests.node_process import REPO_ROOT

SRC = os.path.join(REPO_ROOT, "python", "src")


def run_script(
    source: str, env: "dict[str, str]", timeout: float = 30.0, steps: "Optional[List[Callable[[], None]]]" = None
) -> subprocess.CompletedProcess:
    """Runs `source` as a script through the module, as the node does; answers the finished process.

    With `steps`, the script reads a line from its stdin before each step's effect is due: after each of its
    printed lines, the next step runs and then a line is sent.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "user_script.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source))
        full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SRC, **env}
        argv = [sys.executable, "-u", "-m", "bioreactor_client.accelerated", path]
        if not steps:
            return subprocess.run(argv, env=full, cwd=tmp, capture_output=True, text=True, timeout=timeout)
        with subprocess.Popen(
            argv, env=full, cwd=tmp, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            lines = []
            for step in steps:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line)
                step()
                process.stdin.write("\n")
                process.stdin.flush()
            out, err = process.communicate(timeout=timeout)
            return subprocess.CompletedProcess(argv, process.returncode, "".join(lines) + out, err)


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
            # 60x, not more: a job period of 10 s is then 167 ms of wall time, which a loaded machine still keeps.
            {"BIOREACTOR_TIME_SCALE": "60"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        calls, wall = result.stdout.strip().split()
        self.assertGreaterEqual(int(calls), 5, "a call every 10 s for 60 s")
        self.assertLess(float(wall), 5.0, "60 s of jobs at 60x take about 1 s of wall time, not 60")

    def test_a_missing_scale_is_refused_with_what_to_set(self) -> None:
        result = run_script("print('never')", {})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("BIOREACTOR_TIME_SCALE", result.stderr)


class FakeTwin:
    """A node's private hardware API on 127.0.0.1 whose twin clock the test sets: every reply carries it in the
    X-Bioreactor-Clock header, and GET /api/v3/clock answers it (or 404, to leave the header as the only source)."""

    def __init__(self, rate: float, time_scale: float, start_s: float = 1_800_000_000.0, clock_route: bool = True):
        self.rate = rate
        self.time_scale = time_scale
        self.start_s = start_s
        self.clock_route = clock_route
        self.wall0 = time.monotonic()
        #: Set by a test: the next replies' twin time in epoch seconds, instead of the running clock.
        self.fixed: Optional[float] = None
        self.clock_requests = 0
        self.seen: List[float] = []
        twin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                now_s = twin.now()
                twin.seen.append(now_s)
                header = "%.3f; time_scale=%g; achieved=%g" % (now_s * 1000, twin.time_scale, twin.rate)
                if self.path == "/api/v3/clock":
                    twin.clock_requests += 1
                    if not twin.clock_route:
                        return self._reply(404, {"error": "NOT_FOUND", "message": "no such route"}, header)
                    body = {"now_ms": now_s * 1000, "time_scale": twin.time_scale, "achieved_time_scale": twin.rate}
                    return self._reply(200, body, header)
                self._reply(200, {"components": {}, "timestamp": "2027-01-15T08:00:00Z"}, header)

            def _reply(self, status: int, body: object, header: str) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Bioreactor-Clock", header)
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def now(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return self.start_s + (time.monotonic() - self.wall0) * self.rate

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FollowingTheTwinTest(unittest.TestCase):
    """The script's clock follows the node's twin, which runs slower than asked on a busy node."""

    def test_the_clock_re_anchors_on_each_reply_s_header_and_never_goes_back(self) -> None:
        twin = FakeTwin(rate=600, time_scale=600, clock_route=False)
        self.addCleanup(twin.close)
        twin.fixed = 2_000_000_000.0  # far from the anchor of the environment: only the header can bring it
        result = run_script(
            """
            import json, sys, time
            from bioreactor_client import BioreactorClient
            client = BioreactorClient()
            client.get_all_states()
            first = time.time()
            print(first, flush=True)
            sys.stdin.readline()  # the test moves the twin's clock back meanwhile
            client.get_all_states()
            held = [time.time(), time.time()]
            print("held", flush=True)
            sys.stdin.readline()  # and then forward
            client.get_all_states()
            print(json.dumps({"first": first, "held": held, "after": time.time()}))
            """,
            {
                "BIOREACTOR_TIME_SCALE": "600",
                "BIOREACTOR_TIME_ORIGIN": "%.6f" % time.time(),
                "BIOREACTOR_TIME_AT_ORIGIN": "1800000000",
                "BIOREACTOR_NODE_API_URL": twin.url,
            },
            steps=[
                lambda: setattr(twin, "fixed", 2_000_000_000.0 - 3600),
                lambda: setattr(twin, "fixed", 2_000_086_400.0),
            ],
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        # The twin's time from the header, not the environment's anchor 200,000,000 s earlier.
        self.assertGreaterEqual(seen["first"], 2_000_000_000.0)
        self.assertLess(seen["first"], 2_000_000_000.0 + 60)
        # A reply an hour behind what the script already saw: the clock holds rather than going back.
        for t in seen["held"]:
            self.assertGreaterEqual(t, seen["first"])
            self.assertLess(t, seen["first"] + 60)
        # A day ahead: it jumps there.
        self.assertGreaterEqual(seen["after"], 2_000_086_400.0)
        self.assertLess(seen["after"], 2_000_086_400.0 + 60)
        # Without the clock route (an older node) it asked once and then only followed the replies.
        self.assertEqual(twin.clock_requests, 1)

    def test_a_sleep_lasts_as_long_as_the_twin_takes_when_it_lags(self) -> None:
        # Asked for 600x, the twin reaches 150x: 300 s of its time take 2 s of wall time, not 0.5 s.
        twin = FakeTwin(rate=150, time_scale=600)
        self.addCleanup(twin.close)
        result = run_script(
            """
            import json, time, urllib.request
            from bioreactor_client import accelerated
            def twin_now():
                with urllib.request.urlopen(accelerated._installed.clock_url) as reply:
                    return json.loads(reply.read())["now_ms"] / 1000
            twin0, t0, wall0 = twin_now(), time.time(), accelerated._real_monotonic()
            time.sleep(300)
            print(json.dumps({
                "script": time.time() - t0,
                "twin": twin_now() - twin0,
                "wall": accelerated._real_monotonic() - wall0,
            }))
            """,
            {
                "BIOREACTOR_TIME_SCALE": "600",
                "BIOREACTOR_TIME_ORIGIN": "%.6f" % time.time(),
                "BIOREACTOR_TIME_AT_ORIGIN": "1800000000",
                "BIOREACTOR_NODE_API_URL": twin.url,
            },
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertGreaterEqual(seen["script"], 300)
        self.assertGreaterEqual(seen["wall"], 1.9, "300 s at the twin's 150x are 2 s of wall time")
        self.assertGreaterEqual(seen["twin"], 300 * 0.98)
        self.assertLess(seen["twin"], 300 * 1.1)
        self.assertLess(abs(seen["script"] - seen["twin"]) / seen["twin"], 0.02)

    def test_a_script_making_no_call_follows_the_twin_through_the_clock_route(self) -> None:
        twin = FakeTwin(rate=200, time_scale=600)
        self.addCleanup(twin.close)
        result = run_script(
            """
            import time
            from bioreactor_client import accelerated
            t0, wall0 = time.time(), accelerated._real_monotonic()
            time.sleep(600)
            print(time.time() - t0, accelerated._real_monotonic() - wall0)
            """,
            {
                "BIOREACTOR_TIME_SCALE": "600",
                "BIOREACTOR_TIME_ORIGIN": "%.6f" % time.time(),
                "BIOREACTOR_TIME_AT_ORIGIN": "1800000000",
                "BIOREACTOR_NODE_API_URL": twin.url,
            },
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        script, wall = (float(x) for x in result.stdout.strip().splitlines()[-1].split())
        self.assertGreaterEqual(script, 600)
        # 600 s at the twin's 200x are 3 wall seconds (1 s at the asked 600x): it asked the node for the clock
        # about twice a second meanwhile.
        self.assertGreaterEqual(wall, 3 * 0.98)
        self.assertLess(wall, 6)
        self.assertGreaterEqual(twin.clock_requests, 4)
        self.assertLessEqual(twin.clock_requests, 14)


if __name__ == "__main__":
    unittest.main()
