"""The example experiments: they import only what an experiment container has, and they run."""

from __future__ import annotations

import ast
import csv
import os
import re
import subprocess
import sys
import tempfile
import unittest
from typing import Dict

from tests.node_process import REPO_ROOT, NodeTestCase

EXAMPLES = os.path.join(REPO_ROOT, "examples")
SRC = os.path.join(REPO_ROOT, "python", "src")
# The guide's allowed packages (pillow imports as PIL, scikit-learn as sklearn).
ALLOWED_PACKAGES = {"numpy", "pandas", "matplotlib", "sklearn", "requests", "scipy", "PIL", "bioreactor_client"}
GUIDE_HEADER = "timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty,peltier_duty,peltier_direction"


def example_paths() -> Dict[str, str]:
    return {name: os.path.join(EXAMPLES, name) for name in sorted(os.listdir(EXAMPLES)) if name.endswith(".py")}


class ExampleSourceTest(unittest.TestCase):
    def test_there_are_the_guide_example_a_pid_hold_and_a_turbidostat(self) -> None:
        self.assertTrue({"guide_example.py", "pid_temperature_hold.py", "turbidostat.py"} <= set(example_paths()))

    def test_examples_parse_as_python_3_9_and_import_only_allowed_modules(self) -> None:
        stdlib = getattr(sys, "stdlib_module_names", None)
        if stdlib is None:
            self.skipTest("sys.stdlib_module_names needs Python 3.10+ to tell the standard library apart")
        for name, path in example_paths().items():
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), filename=name, feature_version=(3, 9))
            for node in ast.walk(tree):
                modules = []
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    self.assertEqual(node.level, 0, f"{name}: relative import")
                    modules = [node.module or ""]
                for module in modules:
                    top = module.split(".")[0]
                    self.assertTrue(top in stdlib or top in ALLOWED_PACKAGES, f"{name} imports {module}")

    def test_the_guide_example_is_the_guides_text(self) -> None:
        with open(os.path.join(EXAMPLES, "guide_example.py"), encoding="utf-8") as handle:
            text = handle.read()
        self.assertIn("data = measure_all_data(bioreactor, include_controls=True)\n        write_data_to_csv(data)", text)
        self.assertIn("max_duration = 300  # 5 minutes", text)


class ExampleRunTest(NodeTestCase):
    """Each example run for a few seconds against the simulated node, as a scientist would on a laptop."""

    hardware = None  # the repository's bioreactor-node-v3/config_hardware.json, as npm start uses

    def run_example(self, name: str, constants: Dict[str, str]) -> str:
        with open(os.path.join(EXAMPLES, name), encoding="utf-8") as handle:
            source = handle.read()
        for pattern, value in constants.items():
            source, count = re.subn(rf"^{pattern} = .*$", f"{pattern} = {value}", source, count=1, flags=re.M)
            self.assertEqual(count, 1, f"{name} has no line '{pattern} = ...'")
        self.out = tempfile.mkdtemp(prefix="bioreactor-example-")
        script = os.path.join(self.out, "user_script.py")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(source)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIOREACTOR_")}
        env.update(
            BIOREACTOR_NODE_API_URL=self.node.url,
            OUTPUT_DIR=os.path.join(self.out, "output"),
            EXPERIMENT_ID="example-test",
            PYTHONPATH=SRC,
            PYTHONUNBUFFERED="1",
        )
        result = subprocess.run(
            [sys.executable, script], cwd=self.out, env=env, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(result.returncode, 0, f"{name} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def rows(self) -> list:
        with open(os.path.join(self.out, "output", "experiment_data.csv"), newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))

    def test_guide_example(self) -> None:
        stdout = self.run_example("guide_example.py", {"max_duration": "1.0", "interval": "0.25"})
        self.assertIn("Experiment complete!", stdout)
        self.assertRegex(stdout, r"CO2: [0-9.]+ ppm")
        rows = self.rows()
        self.assertEqual(",".join(rows[0]), GUIDE_HEADER)
        self.assertGreaterEqual(len(rows), 3)

    def test_pid_temperature_hold(self) -> None:
        stdout = self.run_example(
            "pid_temperature_hold.py", {"DURATION_S": "1.0", "PID_PERIOD_S": "0.2", "MEASURE_PERIOD_S": "0.25"}
        )
        self.assertIn("peltier heat", stdout)
        rows = self.rows()
        self.assertEqual(rows[0], GUIDE_HEADER.split(",")[:5] + ["elapsed"] + GUIDE_HEADER.split(",")[5:])
        self.assertGreaterEqual(len(rows), 3)
        self.assertEqual(rows[1][6], "40.0", "the stirrer ran at 40 % during the run")

    def test_turbidostat(self) -> None:
        stdout = self.run_example("turbidostat.py", {"DURATION_S": "1.0", "PERIOD_S": "0.25", "UPPER_V": "-1.0", "LOWER_V": "-2.0"})
        self.assertIn("diluting", stdout)
        rows = self.rows()
        self.assertEqual(rows[0][-2:], ["dilution_ml_per_s", "medium_added_ml"])
        self.assertEqual(rows[-1][-2], "0.05")


if __name__ == "__main__":
    unittest.main()
