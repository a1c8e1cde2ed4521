"""Programs through the client against a real simulated node: preview (dict, YAML text, a file), start, status,
change, stop, the node's problems with their paths, and a program resumed after the node is killed."""

from __future__ import annotations

import os
import signal
import tempfile

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
