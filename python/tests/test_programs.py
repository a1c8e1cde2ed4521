"""Programs through the client against a real simulated node: preview (dict, YAML text, a file), start, status,
change, stop, the node's problems with their paths, and a program resumed after the node is killed."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import urllib.request
from typing import Any, Dict

from bioreactor_client import Bioreactor, BioreactorAPIError, BioreactorClient, ValidationError
from tests.node_process import NodeTestCase

LIGHTS = {
    "name": "lights",
    "tracks": [
        {
            "component": "led",
            "steps": [{"duration": "12h", "set": {"power": 80}}, {"duration": "12h", "set": {"power": 0}}],
            "repeat": "forever",
        }
    ],
    "automations": [{"kind": "thermostat", "setpoint_c": 30}],
}

LIGHTS_YAML = """
name: lights
tracks:
  - component: led
    repeat: 10
    steps:
      - {duration: 12h, set: {power: 80}}
      - {duration: 12h, set: {power: 0}}
"""


class ProgramTest(NodeTestCase):
    def setUp(self) -> None:
        self.client = BioreactorClient(self.node.url)
        self.addCleanup(self._stop)

    def _stop(self) -> None:
        if self.client.program_status()["running"]:
            self.client.stop_program()

    def test_preview_from_a_dict_yaml_text_and_a_file(self) -> None:
        timeline = self.client.preview_program(LIGHTS, hours=48)
        self.assertEqual([c["at_s"] for c in timeline["changes"]], [0, 43200, 86400, 129600])
        from_yaml = self.client.preview_program(LIGHTS_YAML, hours=240)
        self.assertEqual(len(from_yaml["changes"]), 20)
        self.assertEqual(from_yaml["end_s"], 240 * 3600)
        path = os.path.join(tempfile.mkdtemp(prefix="bioreactor-program-"), "lights.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(LIGHTS_YAML)
        self.assertEqual(self.client.preview_program(path, hours=24)["changes"], from_yaml["changes"][:2])

    def test_problems_come_with_their_paths(self) -> None:
        bad = {"name": "bad", "tracks": [{"component": "led", "steps": [{"duration": "1h", "set": {"power": 150}}]}]}
        with self.assertRaises(ValidationError) as caught:
            self.client.start_program(bad)
        self.assertEqual(caught.exception.problems[0]["field"], "tracks[0].steps[0].set.power")

    def test_start_status_change_stop(self) -> None:
        bioreactor = Bioreactor(self.node.url)
        state = bioreactor.start_program(LIGHTS)
        self.assertTrue(state["running"])
        with self.assertRaises(BioreactorAPIError) as caught:
            bioreactor.start_program(LIGHTS)
        self.assertEqual(caught.exception.code, "INVALID_STATE")
        self.assertEqual(bioreactor.program_status()["tracks"][0]["set"], {"power": 80})
        changed = bioreactor.change_program(automation=0, setpoint_c=32)
        self.assertEqual(changed["automations"][0]["params"]["setpoint_c"], 32)
        bioreactor.change_program(track=0, steps=[{"duration": "1h", "set": {"power": 10}}])
        self.assertEqual(bioreactor.program_status()["tracks"][0]["set"], {"power": 10})
        bioreactor.stop_program()
        self.assertFalse(bioreactor.program_status()["running"])
        self.assertEqual(bioreactor.client.get_state("led")["power"], 0)
        self.assertEqual(bioreactor.client.get_state("peltier_driver")["duty_cycle"], 0)

    def test_a_program_outlives_a_killed_node(self) -> None:
        self.client.start_program(LIGHTS)
        before = self.client.program_status()
        process = self.node.process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
        self.node.start()
        after = self.client.program_status()
        self.assertTrue(after["running"])
        self.assertEqual(after["started_at"], before["started_at"])
        self.assertEqual(after["tracks"][0]["set"], {"power": 80})
        # The node put the LED back in the step of now after its start-up safe state.
        self.assertEqual(self.client.get_state("led")["power"], 80)


#: A script that starts a program and ends: the program is the node's, so its LED stays on after the run.
STARTS_AND_EXITS = """
from bioreactor_client import Bioreactor

bioreactor = Bioreactor()
state = bioreactor.start_program({
    "name": "left running",
    "tracks": [{"component": "led", "steps": [{"duration": "1h", "set": {"power": 60}}], "repeat": "forever"}],
})
print("program started by", state["experiment_id"])
"""


class ProgramFromAScriptTest(NodeTestCase):
    """A script's run (the local runner, the node's own TCP hardware API) starts a program and exits."""

    env = {"BIOREACTOR_RUNNER": "local", "BIOREACTOR_EXPERIMENT_STOP_GRACE_S": "2"}

    def setUp(self) -> None:
        self.client = BioreactorClient(self.node.url)

    def tearDown(self) -> None:
        if self.client.program_status()["running"]:
            self.client.stop_program()

    def _wait_for_end(self, experiment_id: str) -> Dict[str, Any]:
        """Follows the node's run.updated events until the run is no longer live."""
        request = urllib.request.Request(self.node.url + "/api/experiments/events", headers={"Accept": "text/event-stream"})
        with urllib.request.urlopen(request, timeout=60) as stream:
            for raw in stream:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                run = json.loads(line[len("data:") :])["experiment"]
                if run["experiment_id"] == experiment_id and run["status"] not in ("starting", "running"):
                    return run  # type: ignore[no-any-return]
        raise AssertionError("the event stream ended before the run did")

    def _post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        request = urllib.request.Request(
            self.node.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def test_the_program_outlives_the_script(self) -> None:
        self._post("/api/experiments/start", {"script_content": STARTS_AND_EXITS, "experiment_id": "starts-a-program"})
        run = self._wait_for_end("starts-a-program")
        self.assertEqual(run["status"], "completed", run)
        # The run's end left the program's LED alone, and said so in the run's log.
        self.assertEqual(self.client.get_state("led")["power"], 60)
        program = self.client.program_status()
        self.assertTrue(program["running"])
        self.assertEqual(program["experiment_id"], "starts-a-program")
        with urllib.request.urlopen(self.node.url + "/api/experiments/starts-a-program/logs?tail=20", timeout=10) as r:
            logs = json.loads(r.read())["logs"]
        self.assertIn("program started by starts-a-program", logs)
        self.assertIn('program "left running" (this run started) goes on and keeps led', logs)
        # The other actuators went to their safe state as at every run's end.
        self.assertEqual(self.client.get_state("peltier_driver")["duty_cycle"], 0)
