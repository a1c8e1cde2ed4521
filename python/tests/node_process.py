"""Starts a real simulated node (apps/node) on a free loopback port for a test class, and stops it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from typing import Any, Dict, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO_HARDWARE_FILE = os.path.join("bioreactor-node-v3", "config_hardware.json")
STARTUP_TIMEOUT_S = 60.0  # ~1 s on an idle machine; CI machines run other suites beside this one

#: Every component, two pumps; what most tests run against.
FULL_HARDWARE: Dict[str, Any] = {
    "hardware_mode": "simulation",
    "init_components": {
        name: True
        for name in (
            "co2_sensor",
            "temp_sensor",
            "optical_density",
            "eyespy_adc",
            "pumps",
            "stirrer",
            "peltier_driver",
            "led",
            "ring_light",
        )
    },
    # Pins with hardware PWM on a Pi 5 (12, 13, 18, 19): the node refuses the others.
    "stirrer": {"pwm_pin": 12, "frequency_hz": 1000},
    "peltier_driver": {"pwm_pin": 18, "dir_pin": 20, "frequency_hz": 1000},
    "led": {"pwm_pin": 13, "frequency_hz": 500},
    "eyespy_adc": {
        "boards": {
            "eyespy1": {"i2c_address": "0x49", "gain": 1, "chip": "ads1114"},
            "eyespy2": {"i2c_address": "0x4a", "gain": 1, "chip": "ads1114"},
        }
    },
    "pumps": {
        name: {"serial": serial, "steps_per_ml": 10000000, "direction": "forward", "step_mode": 3, "current_limit": 32}
        for name, serial in (("inflow", "00473498"), ("outflow", "00473497"))
    },
}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimulatedNode:
    """``node --import tsx apps/node/src/server.ts`` in simulation, with its own data directory."""

    def __init__(
        self,
        hardware: Optional[Dict[str, Any]] = None,
        token: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.hardware = hardware
        self.token = token
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="bioreactor-client-test-")
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._log_path = os.path.join(self.tmp, "node.log")

    def start(self) -> "SimulatedNode":
        node = shutil.which("node")
        if node is None:
            raise unittest.SkipTest("Node.js is not on PATH (`node`); the client tests need a simulated node")
        hardware_file = REPO_HARDWARE_FILE
        if self.hardware is not None:
            hardware_file = os.path.join(self.tmp, "config_hardware.json")
            with open(hardware_file, "w", encoding="utf-8") as handle:
                json.dump(self.hardware, handle)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIOREACTOR_")}
        env.update(
            PORT=str(self.port),
            HOST="127.0.0.1",
            HARDWARE_MODE="simulation",
            DATA_DIR=os.path.join(self.tmp, "data"),
            BIOREACTOR_HARDWARE_CONFIG=hardware_file,
            LOG_LEVEL="ERROR",
        )
        if self.token:
            env["BIOREACTOR_API_TOKEN"] = self.token
        env.update(self.env)
        log = open(self._log_path, "wb")
        try:
            self.process = subprocess.Popen(
                [node, "--import", "tsx", "apps/node/src/server.ts"],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self._wait_healthy()
        self._wait_first_samples()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulated node exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulated node did not answer /health in {STARTUP_TIMEOUT_S:g} s:\n{self.log()}")
            time.sleep(0.1)  # polling interval while waiting for the condition (/health answering)

    def _wait_first_samples(self) -> None:
        """Until each sensor has taken its first sample (the CO2 sensor's takes two seconds), its
        reading is null; tests that compare readings wait for them."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            request = urllib.request.Request(self.url + "/api/v3/state", headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                components = json.loads(response.read())["components"]
            sensors = [components[n] for n in ("co2_sensor", "temp_sensor", "optical_density", "eyespy_adc") if n in components]
            if all(s.get("timestamp") for s in sensors):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulated node's sensors gave no sample in {STARTUP_TIMEOUT_S:g} s: {sensors}")
            time.sleep(0.1)  # polling interval while waiting for the condition (a first sample)

    def log(self) -> str:
        try:
            with open(self._log_path, "r", encoding="utf-8", errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None
        shutil.rmtree(self.tmp, ignore_errors=True)


class NodeTestCase(unittest.TestCase):
    """A test class sharing one simulated node (startup is about a second)."""

    hardware: Optional[Dict[str, Any]] = FULL_HARDWARE
    token: Optional[str] = None
    #: Extra environment of the node (BIOREACTOR_RUNNER=local for tests that run scripts).
    env: Optional[Dict[str, str]] = None
    node: SimulatedNode

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.node = SimulatedNode(cls.hardware, cls.token, cls.env).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.stop()
        super().tearDownClass()
