"""Every Bioreactor method against a real simulated node: commands, readings, one-request rows, safe stop."""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest
import warnings
from typing import Any, List, Tuple
from unittest import mock

from bioreactor_client import (
    Bioreactor,
    BioreactorAPIError,
    ComponentUnavailableError,
    SafetyInterlockError,
    UnauthorizedError,
    ValidationError,
    balanced_flow,
    measure_all_data,
    measure_and_write_sensor_data,
    pid_controller,
    ring_light_cycle,
    write_data_to_csv,
)
from tests.node_process import FULL_HARDWARE, REPO_ROOT, NodeTestCase, free_port

GUIDE_COLUMNS = [
    "timestamp",
    "co2_ppm",
    "temperature",
    "od_voltages",
    "eyespy_voltages",
    "stirrer_duty",
    "peltier_duty",
    "peltier_direction",
]
# The guide's ISO 8601 with microseconds, and the UTC offset (the same instant under every runner and zone).
ISO_MICROSECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def count_requests(bioreactor: Bioreactor) -> List[Tuple[str, str]]:
    """Record every request the bioreactor's client sends (they still go to the node)."""
    sent: List[Tuple[str, str]] = []
    send = bioreactor.client._send

    def recording(request: Any) -> Any:
        sent.append((request.get_method(), request.full_url.split("/", 3)[3]))
        return send(request)

    bioreactor.client._send = recording  # type: ignore[method-assign]
    return sent


class BioreactorTest(NodeTestCase):
    def setUp(self) -> None:
        self.bioreactor = Bioreactor(self.node.url)
        self.addCleanup(self.bioreactor.stop_all)

    # ---- construction ----

    def test_construction_asks_the_node_for_its_components(self) -> None:
        self.assertEqual(
            set(self.bioreactor.capabilities),
            {"co2_sensor", "temp_sensor", "optical_density", "eyespy_adc", "pumps", "stirrer", "peltier_driver", "led", "ring_light"},
        )

    def test_the_url_comes_from_BIOREACTOR_NODE_API_URL(self) -> None:
        with mock.patch.dict(os.environ, {"BIOREACTOR_NODE_API_URL": self.node.url + "/", "EXPERIMENT_ID": "exp-7"}):
            bioreactor = Bioreactor()
        self.assertEqual(bioreactor.client.api_url, self.node.url)
        self.assertEqual(bioreactor.experiment_id, "exp-7")

    # ---- actuators: command, then read the state back ----

    def test_stirrer(self) -> None:
        reply = self.bioreactor.change_stirrer(42.5)
        self.assertEqual(reply["duty_cycle"], 42.5)
        self.assertEqual(self.bioreactor.get_stirrer_state(), {"duty_cycle": 42.5, "active": True})
        self.bioreactor.change_stirrer(0)
        self.assertEqual(self.bioreactor.get_stirrer_state(), {"duty_cycle": 0, "active": False})

    def test_peltier_forward_heats_and_backward_cools_as_in_the_original(self) -> None:
        self.bioreactor.change_peltier(30, forward=True)
        state = self.bioreactor.get_peltier_state()
        self.assertEqual((state["duty_cycle"], state["direction"], state["mode"], state["active"]), (30, "heat", "heat", True))
        self.bioreactor.change_peltier(20, False)
        state = self.bioreactor.get_peltier_state()
        self.assertEqual((state["duty_cycle"], state["direction"], state["mode"]), (20, "cool", "cool"))
        self.bioreactor.change_peltier(10, direction="reverse")
        self.assertEqual(self.bioreactor.get_peltier_state()["direction"], "reverse")
        self.assertEqual(set(state), {"duty_cycle", "direction", "active", "mode", "cutoff"})

    def test_led_on_off_and_power(self) -> None:
        self.assertEqual(self.bioreactor.change_led(True)["power"], 100)
        self.assertEqual(self.bioreactor.get_led_state(), {"power": 100, "active": True})
        self.bioreactor.change_led(35)
        self.assertEqual(self.bioreactor.get_led_state()["power"], 35)
        self.bioreactor.change_led(False)
        self.assertEqual(self.bioreactor.get_led_state(), {"power": 0, "active": False})

    def test_ring_light_whole_ring_tuple_and_one_pixel(self) -> None:
        self.bioreactor.change_ring_light(10, 20, 30)
        state = self.bioreactor.get_ring_light_state()
        self.assertEqual((state["red"], state["green"], state["blue"], state["active"]), (10, 20, 30, True))
        self.assertGreater(state["pixel_count"], 0)
        self.bioreactor.change_ring_light((0, 0, 0))
        self.assertFalse(self.bioreactor.get_ring_light_state()["active"])
        self.bioreactor.change_ring_light(255, 0, 0, pixel=0)
        with self.assertRaises(ValidationError) as caught:
            self.bioreactor.change_ring_light(1, 2, 3, pixel=state["pixel_count"])
        self.assertIn("ring_light: ", str(caught.exception))

    def test_pumps(self) -> None:
        self.assertEqual(self.bioreactor.get_pump_names(), ["inflow", "outflow"])
        self.bioreactor.change_pump("inflow", 0.15)
        pumps = {p["pump_name"]: p for p in self.bioreactor.get_pump_states()}
        self.assertEqual((pumps["inflow"]["velocity"], pumps["inflow"]["active"]), (0.15, True))
        self.assertEqual(pumps["outflow"]["velocity"], 0)
        self.bioreactor.change_pump("inflow", 0)
        self.assertFalse({p["pump_name"]: p for p in self.bioreactor.get_pump_states()}["inflow"]["active"])

    # ---- sensors ----

    def test_sensor_readings_have_the_right_shapes(self) -> None:
        co2 = self.bioreactor.get_co2()
        self.assertIsInstance(co2, float)
        temperature = self.bioreactor.get_temperature()
        self.assertIsInstance(temperature, float)
        assert temperature is not None
        self.assertTrue(0 < temperature < 100)
        temperatures = self.bioreactor.get_temperatures()
        self.assertGreaterEqual(len(temperatures), 1)
        self.assertEqual(self.bioreactor.get_od_channels(), ["135", "Ref", "90"], "the hardware file's order")
        self.assertEqual(len(self.bioreactor.get_od_voltages()), 3)
        self.assertEqual(len(self.bioreactor.get_eyespy_voltages()), 2)
        self.assertTrue(all(isinstance(v, float) for v in self.bioreactor.get_od_voltages()))

    def test_v2_era_getters_still_answer_and_say_what_replaced_them(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertEqual(len(self.bioreactor.get_photodiodes()), 3)
            self.assertGreaterEqual(len(self.bioreactor.get_vial_temp()), 1)
            self.assertEqual(self.bioreactor.get_io_temp(), [])
            self.assertIsNone(self.bioreactor.get_peltier_curr())
        self.assertEqual([w.category for w in caught], [DeprecationWarning] * 4)
        self.assertIn("get_od_voltages", str(caught[0].message))

    def test_node_status_and_all_states(self) -> None:
        self.assertEqual(self.bioreactor.get_status()["hardware_mode"], "simulation")
        states = self.bioreactor.get_all_states()
        self.assertEqual(states["unavailable"], {})
        self.assertIn("co2_sensor", states["components"])

    def test_history_of_a_sensor(self) -> None:
        history = self.bioreactor.get_history("temp_sensor", limit=5)
        self.assertEqual(history["component"], "temp_sensor")
        self.assertGreaterEqual(len(history["samples"]), 1)
        self.assertLessEqual(len(history["samples"]), 5)
        self.assertEqual(len(history["samples"][0]["values"]), len(history["channels"]))
        with self.assertRaises(BioreactorAPIError) as caught:
            self.bioreactor.get_history("stirrer")
        self.assertEqual(caught.exception.status // 100, 4)

    # ---- errors from the node ----

    def test_out_of_range_is_a_validation_error_naming_the_component_and_the_node_message(self) -> None:
        with self.assertRaises(ValidationError) as caught:
            self.bioreactor.change_stirrer(150)
        error = caught.exception
        self.assertEqual((error.code, error.status, error.component), ("VALIDATION_FAILED", 400, "stirrer"))
        self.assertTrue(str(error).startswith("stirrer: "), str(error))
        self.assertIn("duty_cycle", str(error))
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(error, RuntimeError, "scripts catching the original RuntimeError still work")
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 0, "the refused command changed nothing")

    def test_an_unknown_pump_is_refused_with_the_node_message(self) -> None:
        with self.assertRaises(BioreactorAPIError) as caught:
            self.bioreactor.change_pump("media_in", 1)
        self.assertEqual(caught.exception.component, "pumps")
        self.assertIn("media_in", str(caught.exception))
        self.assertEqual(caught.exception.status // 100, 4)

    def test_wrong_types_are_refused_before_sending(self) -> None:
        with self.assertRaisesRegex(TypeError, "stirrer duty cycle must be a number"):
            self.bioreactor.change_stirrer("fast")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "heat, cool, forward, reverse"):
            self.bioreactor.change_peltier(10, direction="warm")
        with self.assertRaisesRegex(TypeError, "whole number"):
            self.bioreactor.change_ring_light(1.5, 2, 3)

    # ---- stop ----

    def test_stop_all_switches_every_actuator_off(self) -> None:
        self.bioreactor.change_stirrer(60)
        self.bioreactor.change_peltier(40, True)
        self.bioreactor.change_pump("inflow", 0.15)
        self.bioreactor.change_pump("outflow", 0.15)
        self.bioreactor.change_led(True)
        self.bioreactor.change_ring_light(9, 9, 9)
        self.bioreactor.stop_all()
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 0)
        self.assertEqual(self.bioreactor.get_peltier_state()["duty_cycle"], 0)
        self.assertTrue(all(p["velocity"] == 0 for p in self.bioreactor.get_pump_states()))
        self.assertEqual(self.bioreactor.get_led_state()["power"], 0)
        self.assertFalse(self.bioreactor.get_ring_light_state()["active"])

    def test_the_with_block_stops_everything_even_when_the_script_fails(self) -> None:
        with Bioreactor(self.node.url) as bioreactor:
            bioreactor.change_stirrer(50)
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 0)
        with self.assertRaisesRegex(ZeroDivisionError, "division"):
            with Bioreactor(self.node.url) as bioreactor:
                bioreactor.change_peltier(25, True)
                _ = 1 / 0
        self.assertEqual(self.bioreactor.get_peltier_state()["duty_cycle"], 0)

    def test_a_stopped_experiment_sigterm_still_switches_everything_off(self) -> None:
        script = textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {os.path.join(REPO_ROOT, "python", "src")!r})
            from bioreactor_client import Bioreactor
            with Bioreactor({self.node.url!r}) as bioreactor:
                bioreactor.change_stirrer(55)
                print("stirring", flush=True)
                while True:
                    time.sleep(0.05)
            """
        )
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        self.addCleanup(process.kill)
        assert process.stdout is not None
        self.assertEqual(process.stdout.readline().strip(), "stirring")
        process.stdout.close()
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 55)
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=30), 143)
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 0)

    # ---- rows ----

    def test_measure_all_data_is_one_request_in_the_guide_column_order(self) -> None:
        self.bioreactor.change_stirrer(33)
        self.bioreactor.change_peltier(12, False)
        sent = count_requests(self.bioreactor)
        row = measure_all_data(self.bioreactor, include_controls=True)
        self.assertEqual(sent, [("GET", "api/v3/state")])
        self.assertEqual(list(row), GUIDE_COLUMNS)
        self.assertRegex(row["timestamp"], ISO_MICROSECONDS)
        written = datetime.datetime.fromisoformat(row["timestamp"])
        self.assertLess(abs((datetime.datetime.now(datetime.timezone.utc) - written).total_seconds()), 60)
        self.assertEqual((row["stirrer_duty"], row["peltier_duty"], row["peltier_direction"]), (33, 12, "cool"))
        self.assertIsInstance(row["co2_ppm"], float)
        self.assertEqual(len(row["od_voltages"]), 3)
        self.assertEqual(len(row["eyespy_voltages"]), 2)

    def test_elapsed_ring_light_and_sensors_only_rows(self) -> None:
        self.bioreactor.change_ring_light(1, 2, 3)
        row = measure_all_data(self.bioreactor, elapsed=12.5, include_ring_light=True)
        self.assertEqual(
            list(row),
            GUIDE_COLUMNS[:5] + ["elapsed"] + GUIDE_COLUMNS[5:] + ["ring_light_r", "ring_light_g", "ring_light_b"],
        )
        self.assertEqual((row["elapsed"], row["ring_light_r"], row["ring_light_g"], row["ring_light_b"]), (12.5, 1, 2, 3))
        self.assertEqual(list(measure_all_data(self.bioreactor, include_controls=False)), GUIDE_COLUMNS[:5])

    def test_extra_readings_follow_the_guide_columns_from_the_same_request(self) -> None:
        self.bioreactor.change_pump("inflow", 0.1)
        sent = count_requests(self.bioreactor)
        row = measure_all_data(self.bioreactor, extra=("pump_volumes_ml",))
        self.assertEqual(sent, [("GET", "api/v3/state?readings=true")])
        self.assertEqual(list(row), GUIDE_COLUMNS + ["pump_volumes_ml"])
        self.assertEqual(len(row["pump_volumes_ml"]), 2)
        self.assertTrue(all(isinstance(v, float) for v in row["pump_volumes_ml"]))
        self.assertEqual(list(measure_all_data(self.bioreactor, extra="co2_ppm")), GUIDE_COLUMNS, "already there")
        with self.assertRaisesRegex(ValueError, r"reports no reading 'o2_percnt'; it reports co2_ppm, temperature, "):
            measure_all_data(self.bioreactor, extra=("o2_percnt",))

    def test_any_reading_by_its_column_name_and_the_node_names_the_components(self) -> None:
        self.assertIsInstance(self.bioreactor.get_reading("co2_ppm"), float)
        self.assertEqual(self.bioreactor.get_readings()["stirrer_duty"], self.bioreactor.get_stirrer_state()["duty_cycle"])
        with self.assertRaisesRegex(ValueError, "reports no reading 'oxygen'"):
            self.bioreactor.get_reading("oxygen")
        # No list in the client: the node's 404 says which components there are.
        with self.assertRaises(ComponentUnavailableError) as caught:
            self.bioreactor.client.get_state("oxygen_sensor")
        self.assertIn("co2_sensor, temp_sensor", str(caught.exception))

    def test_a_measured_row_written_to_csv_has_the_guide_header(self) -> None:
        self.bioreactor.change_stirrer(0)
        self.bioreactor.change_peltier(0, True)
        out = tempfile.mkdtemp(prefix="bioreactor-rows-")
        write_data_to_csv(measure_all_data(self.bioreactor), output_dir=out)
        write_data_to_csv(measure_all_data(self.bioreactor), output_dir=out)
        with open(os.path.join(out, "experiment_data.csv"), "rb") as handle:
            lines = handle.read().split(b"\n")
        self.assertEqual(lines[0], ",".join(GUIDE_COLUMNS).encode())
        self.assertEqual(len(lines), 4)
        self.assertRegex(lines[1].decode(), r'^[0-9T:.-]+\+00:00,[0-9.]+,[0-9.]+,"\[[0-9.,]+\]","\[[0-9.,]+\]",0\.0,0\.0,heat$')

    def test_measure_and_write_sensor_data_really_writes(self) -> None:
        out = tempfile.mkdtemp(prefix="bioreactor-rows-")
        row = measure_and_write_sensor_data(self.bioreactor, elapsed=3, output_dir=out)
        self.assertEqual(list(row), GUIDE_COLUMNS[:5] + ["elapsed"])
        with open(os.path.join(out, "experiment_data.csv"), encoding="utf-8") as handle:
            self.assertEqual(handle.readline(), "timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,elapsed\n")

    def test_a_node_gone_mid_experiment_gives_an_empty_row_not_a_crash(self) -> None:
        bioreactor = Bioreactor(self.node.url, retries=0)
        bioreactor.client.api_url = f"http://127.0.0.1:{free_port()}"
        with self.assertLogs("bioreactor_client", "WARNING") as logs:
            row = measure_all_data(bioreactor)
        self.assertEqual(list(row), GUIDE_COLUMNS)
        self.assertTrue(all(row[k] is None for k in GUIDE_COLUMNS[1:]))
        self.assertIn("Cannot reach the bioreactor node", logs.output[0])

    # ---- controllers ----

    def test_pid_heats_below_the_setpoint_cools_above_and_integrates(self) -> None:
        first = pid_controller(self.bioreactor, setpoint=37, current_temp=36, kp=10, ki=1, elapsed=0)
        self.assertEqual((first["direction"], first["duty_cycle"]), ("heat", 11))
        self.assertEqual(self.bioreactor.get_peltier_state()["mode"], "heat")
        second = pid_controller(self.bioreactor, setpoint=37, current_temp=36, kp=10, ki=1, elapsed=2)
        self.assertEqual(second["duty_cycle"], 13, "integral of 1 °C over 1 s then 2 s more")
        self.bioreactor._pid.clear()
        cooling = pid_controller(self.bioreactor, setpoint=30, current_temp=32, kp=10, ki=0)
        self.assertEqual((cooling["direction"], cooling["duty_cycle"]), ("cool", 20))
        self.assertEqual(self.bioreactor.get_peltier_state()["mode"], "cool")

    def test_pid_saturates_at_100_without_winding_up(self) -> None:
        for t in range(20):
            result = pid_controller(self.bioreactor, setpoint=37, current_temp=20, kp=10, ki=1, elapsed=t)
        self.assertEqual(result["duty_cycle"], 100)
        self.assertEqual(self.bioreactor._pid["integral"], 0.0, "no integration while saturated")

    def test_pid_reads_the_temperature_itself_when_not_given(self) -> None:
        result = pid_controller(self.bioreactor, setpoint=37)
        self.assertIsInstance(result["temperature"], float)

    def test_balanced_flow_runs_both_pumps_and_stops_both(self) -> None:
        self.assertEqual(balanced_flow(self.bioreactor, "inflow", 0.2), {"inflow": 0.2, "outflow": 0.2})
        self.assertEqual({p["pump_name"]: p["velocity"] for p in self.bioreactor.get_pump_states()}, {"inflow": 0.2, "outflow": 0.2})
        balanced_flow(self.bioreactor, "outflow", 0)
        self.assertTrue(all(p["velocity"] == 0 for p in self.bioreactor.get_pump_states()))
        with self.assertRaisesRegex(ValueError, "_in/_out"):
            balanced_flow(self.bioreactor, "media", 0.1)

    def test_balanced_flow_stops_the_first_pump_if_its_partner_is_refused(self) -> None:
        with self.assertRaises(BioreactorAPIError):
            balanced_flow(self.bioreactor, "inflow", 0.2, counterpart="waste_out")
        self.assertTrue(all(p["velocity"] == 0 for p in self.bioreactor.get_pump_states()))

    def test_ring_light_cycle_follows_elapsed_and_only_sends_changes(self) -> None:
        sent = count_requests(self.bioreactor)
        self.assertTrue(ring_light_cycle(self.bioreactor, (5, 6, 7), on_time=10, off_time=5, elapsed=0))
        self.assertTrue(ring_light_cycle(self.bioreactor, (5, 6, 7), on_time=10, off_time=5, elapsed=9))
        self.assertEqual(len(sent), 1)
        self.assertEqual(self.bioreactor.get_ring_light_state()["red"], 5)
        self.assertFalse(ring_light_cycle(self.bioreactor, (5, 6, 7), on_time=10, off_time=5, elapsed=11))
        self.assertFalse(self.bioreactor.get_ring_light_state()["active"])
        self.assertTrue(ring_light_cycle(self.bioreactor, (5, 6, 7), on_time=10, off_time=5, elapsed=15))


class MissingComponentsTest(NodeTestCase):
    """A node without eyespy boards or a ring light."""

    hardware = {
        **FULL_HARDWARE,
        "init_components": {**FULL_HARDWARE["init_components"], "eyespy_adc": False, "ring_light": False},
    }

    def setUp(self) -> None:
        self.bioreactor = Bioreactor(self.node.url)

    def test_reading_an_absent_sensor_raises_naming_it(self) -> None:
        with self.assertRaises(ComponentUnavailableError) as caught:
            self.bioreactor.get_eyespy_voltages()
        self.assertEqual(caught.exception.component, "eyespy_adc")
        self.assertEqual(caught.exception.status, 404)
        self.assertTrue(str(caught.exception).startswith("eyespy_adc: "))

    def test_commanding_an_absent_actuator_raises_naming_it(self) -> None:
        with self.assertRaises(ComponentUnavailableError) as caught:
            self.bioreactor.change_ring_light(1, 2, 3)
        self.assertIn("ring_light", str(caught.exception))

    def test_rows_have_empty_cells_for_absent_components(self) -> None:
        row = measure_all_data(self.bioreactor, include_ring_light=True)
        self.assertIsNone(row["eyespy_voltages"])
        self.assertEqual((row["ring_light_r"], row["ring_light_g"], row["ring_light_b"]), (None, None, None))
        self.assertIsNotNone(row["od_voltages"])
        out = tempfile.mkdtemp(prefix="bioreactor-rows-")
        write_data_to_csv(row, output_dir=out)
        with open(os.path.join(out, "experiment_data.csv"), encoding="utf-8") as handle:
            cells = handle.read().split("\n")[1].split('"')
        self.assertTrue(cells[-1].endswith(",,,"), "ring light r, g, b empty")
        self.assertTrue(cells[2].startswith(",,"), "eyespy empty right after the OD list")

    def test_stop_all_leaves_absent_components_alone(self) -> None:
        self.bioreactor.change_stirrer(20)
        self.bioreactor.stop_all()
        self.assertEqual(self.bioreactor.get_stirrer_state()["duty_cycle"], 0)


class TokenProtectedNodeTest(NodeTestCase):
    token = "test-token-0123456789abcdef"

    def test_without_the_token_the_error_says_which_variable_to_set(self) -> None:
        with mock.patch.dict(os.environ, {"BIOREACTOR_API_TOKEN": ""}):
            with self.assertRaises(UnauthorizedError) as caught:
                Bioreactor(self.node.url)
        self.assertEqual(caught.exception.status, 401)
        self.assertIn("BIOREACTOR_API_TOKEN", str(caught.exception))

    def test_the_token_from_the_environment_is_sent(self) -> None:
        with mock.patch.dict(os.environ, {"BIOREACTOR_API_TOKEN": self.token}):
            bioreactor = Bioreactor(self.node.url)
        self.assertEqual(bioreactor.change_stirrer(5)["duty_cycle"], 5)
        self.assertEqual(measure_all_data(bioreactor)["stirrer_duty"], 5)
        bioreactor.stop_all()

    def test_a_wrong_token_is_not_hidden_as_an_empty_row(self) -> None:
        bioreactor = Bioreactor(self.node.url, token="wrong-token-0123456789", check=False)
        with self.assertRaises(UnauthorizedError):
            measure_all_data(bioreactor)


if __name__ == "__main__":
    unittest.main()


class GasRelayTest(NodeTestCase):
    """A node whose hardware file enables the gas relays and the O2 sensor (both off by default)."""

    hardware = {
        **FULL_HARDWARE,
        "init_components": {**FULL_HARDWARE["init_components"], "gas_relays": True, "o2_sensor": True},
        "gas_relays": {"relays": {"co2_valve": {"gpio": 5, "gas": "co2", "max_dose_s": 5, "max_doses_per_hour": 3}}},
    }

    def setUp(self) -> None:
        self.bioreactor = Bioreactor(self.node.url)
        self.addCleanup(self.bioreactor.stop_all)

    def test_a_dose_its_limit_its_counters_in_the_row_and_stop_all_closes_the_valve(self) -> None:
        reply = self.bioreactor.dose_gas("co2_valve", 3)
        self.assertTrue(reply["relays"][0]["open"])
        with self.assertRaises(SafetyInterlockError) as caught:
            self.bioreactor.dose_gas("co2_valve", 6)
        self.assertIn("max_dose_s is 5 s", str(caught.exception))
        row = measure_all_data(self.bioreactor, extra=("gas_doses", "gas_open_s"))
        self.assertEqual(list(row)[-2:], ["gas_doses", "gas_open_s"])
        self.assertEqual(row["gas_doses"], [1.0])
        self.bioreactor.stop_all()
        self.assertFalse(self.bioreactor.client.get_state("gas_relays")["relays"][0]["open"])

    def test_the_o2_sensor_known_to_the_client_only_through_the_node(self) -> None:
        self.assertIn("o2_sensor", self.bioreactor.capabilities)
        o2 = self.bioreactor.get_reading("o2_percent")
        self.assertIsInstance(o2, float)
        self.assertTrue(15 < o2 < 25, o2)
        self.assertEqual(self.bioreactor.client.get_state("o2_sensor")["unit"], "percent")
        row = measure_all_data(self.bioreactor, extra=("o2_percent",))
        self.assertEqual(list(row), GUIDE_COLUMNS + ["o2_percent"])
        self.assertIsInstance(row["o2_percent"], float)
