"""Bioreactor.run: periodic jobs that really run, stop when told, and surface their failures."""

from __future__ import annotations

import _thread
import functools
import os
import subprocess
import sys
import threading
import unittest
from typing import Any, List

from bioreactor_client import Bioreactor, pid_controller
from bioreactor_client.jobs import call_job, next_tick
from tests.node_process import REPO_ROOT, NodeTestCase


class TickTest(unittest.TestCase):
    def test_next_tick_is_the_next_multiple_of_the_period(self) -> None:
        self.assertEqual(next_tick(0.0, 2.0), 2.0)
        self.assertEqual(next_tick(1.9, 2.0), 2.0)
        self.assertEqual(next_tick(2.0, 2.0), 4.0)
        self.assertEqual(next_tick(7.3, 2.0), 8.0, "a call that overran skips the ticks it missed")

    def test_jobs_may_take_elapsed_positionally_by_keyword_or_not_at_all(self) -> None:
        seen: List[Any] = []
        call_job(lambda b, t: seen.append(("positional", b, t)), "B", 1.5)
        call_job(lambda b, *, elapsed: seen.append(("keyword", b, elapsed)), "B", 2.5)
        call_job(lambda b: seen.append(("none", b)), "B", 3.5)
        self.assertEqual(seen, [("positional", "B", 1.5), ("keyword", "B", 2.5), ("none", "B")])
        with self.assertRaisesRegex(TypeError, "must accept"):
            call_job(lambda: None, "B", 0)


class RunTest(NodeTestCase):
    def setUp(self) -> None:
        self.bioreactor = Bioreactor(self.node.url)
        self.addCleanup(self.bioreactor.stop_jobs)

    def test_a_job_with_a_duration_runs_periodically_then_ends(self) -> None:
        elapsed: List[float] = []
        self.bioreactor.run([(lambda b, t: elapsed.append(t), 0.2, 1.0)], block=True)
        self.assertGreaterEqual(len(elapsed), 2)
        self.assertLessEqual(len(elapsed), 5, "never more often than every period")
        self.assertLess(elapsed[0], 0.2, "the first call is at once, not after a period")
        self.assertTrue(all(t < 1.0 for t in elapsed[1:]), "no call after the duration")
        ticks = [int((t + 1e-9) / 0.2) for t in elapsed]
        self.assertEqual(ticks, sorted(set(ticks)), f"at most one call per period: {elapsed}")

    def test_run_returns_at_once_like_the_original_and_wait_blocks_until_done(self) -> None:
        release = threading.Event()
        calls: List[float] = []

        def job(bioreactor: Bioreactor, t: float) -> None:
            calls.append(t)
            release.wait(10)

        self.bioreactor.run([(job, 0.01, 0.3)])
        self.assertFalse(self.bioreactor.wait(timeout=0.05), "still running: the job is held")
        release.set()
        self.assertTrue(self.bioreactor.wait())
        self.assertGreaterEqual(len(calls), 1)

    def test_finish_from_a_job_stops_endless_jobs_and_switches_everything_off(self) -> None:
        calls: List[int] = []

        def job(bioreactor: Bioreactor) -> None:
            calls.append(1)
            bioreactor.change_stirrer(30)
            if len(calls) == 3:
                bioreactor.finish()

        other: List[float] = []
        self.bioreactor.run([(job, 0.01, True), (lambda b, t: other.append(t), 0.01, True)], block=True)
        self.assertEqual(len(calls), 3)
        count = len(other)
        self.assertFalse(self.bioreactor._runner.running() if self.bioreactor._runner else True)
        self.assertEqual(len(other), count, "the other endless job stopped too")
        probe = Bioreactor(self.node.url)
        self.assertEqual(probe.get_stirrer_state()["duty_cycle"], 0)

    def test_ctrl_c_stops_the_jobs_and_is_raised(self) -> None:
        calls: List[int] = []

        def job(bioreactor: Bioreactor) -> None:
            calls.append(1)
            if len(calls) == 2:
                _thread.interrupt_main()

        with self.assertRaises(KeyboardInterrupt):
            self.bioreactor.run([(job, 0.01, True)], block=True)
        runner = self.bioreactor._runner
        assert runner is not None
        self.assertTrue(runner.stopped)
        self.assertFalse(runner.running())

    def test_a_failing_job_is_logged_and_keeps_its_schedule(self) -> None:
        calls: List[int] = []

        def flaky(bioreactor: Bioreactor) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("sensor hiccup")

        with self.assertLogs("bioreactor_client", "ERROR") as logs:
            self.bioreactor.run([(flaky, 0.01, 0.2)], block=True)
        self.assertGreaterEqual(len(calls), 2, "it ran again after failing")
        self.assertIn("job flaky failed", logs.output[0])
        self.assertIn("sensor hiccup", "\n".join(logs.output))

    def test_stop_on_error_stops_every_job_and_raises_the_failure(self) -> None:
        other: List[float] = []

        def broken(bioreactor: Bioreactor) -> None:
            raise KeyError("od_setpoint")

        with self.assertLogs("bioreactor_client", "ERROR"):
            with self.assertRaises(KeyError):
                self.bioreactor.run(
                    [(broken, 0.01, True), (lambda b, t: other.append(t), 0.01, True)], block=True, stop_on_error=True
                )
        runner = self.bioreactor._runner
        assert runner is not None
        self.assertFalse(runner.running())

    def test_original_helpers_run_as_jobs(self) -> None:
        pid = functools.partial(pid_controller, setpoint=37.0, kp=5, ki=0)
        self.bioreactor.run([(pid, 0.05, 0.15)], block=True)
        self.assertGreaterEqual(self.bioreactor.job_calls[0], 1)
        self.assertIn(self.bioreactor.get_peltier_state()["mode"], ("heat", "cool", "off"))
        self.assertIsNotNone(self.bioreactor._pid.get("last_error"))

    def test_a_script_that_ends_without_waiting_is_told_its_jobs_stopped(self) -> None:
        script = (
            f"import sys; sys.path.insert(0, {os.path.join(REPO_ROOT, 'python', 'src')!r})\n"
            "from bioreactor_client import Bioreactor\n"
            f"Bioreactor({self.node.url!r}).run([(lambda b: None, 0.1, True)])\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("the script ended while its jobs were still running", result.stderr)
        self.assertIn("block=True", result.stderr)

    def test_bad_jobs_are_refused_with_what_to_pass(self) -> None:
        with self.assertRaisesRegex(ValueError, "period_s must be a positive number"):
            self.bioreactor.run([(lambda b: None, 0, True)])
        with self.assertRaisesRegex(ValueError, r"\(function, period_s, duration_s or True\)"):
            self.bioreactor.run([(lambda b: None, 1)])  # type: ignore[list-item]
        with self.assertRaisesRegex(ValueError, "duration must be a positive number"):
            self.bioreactor.run([(lambda b: None, 1, False)])
        with self.assertRaisesRegex(ValueError, "at least one job"):
            self.bioreactor.run([])


if __name__ == "__main__":
    unittest.main()
