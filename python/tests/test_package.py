"""The package itself: Python 3.9 syntax, standard library only, typed, every public name documented."""

from __future__ import annotations

import ast
import inspect
import os
import sys
import unittest

import bioreactor_client

PACKAGE_DIR = os.path.dirname(bioreactor_client.__file__)


def modules():
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE_DIR, name), encoding="utf-8") as handle:
                yield name, handle.read()


class PackageTest(unittest.TestCase):
    def test_every_module_parses_as_python_3_9(self) -> None:
        for name, source in modules():
            ast.parse(source, filename=name, feature_version=(3, 9))

    def test_only_the_standard_library_is_imported(self) -> None:
        stdlib = getattr(sys, "stdlib_module_names", None)
        if stdlib is None:
            self.skipTest("sys.stdlib_module_names needs Python 3.10+ to tell the standard library apart")
        for name, source in modules():
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    tops = [(node.module or "").split(".")[0]]
                else:
                    continue
                for top in tops:
                    # The package itself may be named (accelerated.py's `-m` entry imports its own module).
                    allowed = top in stdlib or top in ("__future__", "bioreactor_client")
                    self.assertTrue(allowed, f"{name} imports {top}")

    def test_py_typed_marks_the_package_as_typed(self) -> None:
        self.assertTrue(os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed")))

    def test_every_public_name_and_method_has_a_docstring(self) -> None:
        missing = []
        for name in bioreactor_client.__all__:
            obj = getattr(bioreactor_client, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(name)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if (inspect.isfunction(member) or isinstance(member, property)) and not inspect.getdoc(member):
                        missing.append(f"{name}.{attr}")
        self.assertEqual(missing, [])

    def test_the_original_public_surface_is_there(self) -> None:
        for name in (
            "Bioreactor",
            "measure_all_data",
            "measure_and_write_sensor_data",
            "write_data_to_csv",
            "pid_controller",
            "balanced_flow",
            "ring_light_cycle",
        ):
            self.assertIn(name, bioreactor_client.__all__)
        for method in (
            "change_led",
            "change_ring_light",
            "change_peltier",
            "change_pump",
            "change_stirrer",
            "get_co2",
            "get_temperature",
            "get_od_voltages",
            "get_eyespy_voltages",
            "get_peltier_state",
            "get_stirrer_state",
            "get_ring_light_state",
            "get_photodiodes",
            "get_vial_temp",
            "get_io_temp",
            "get_peltier_curr",
            "stop_all",
            "finish",
            "run",
            "__enter__",
            "__exit__",
        ):
            self.assertTrue(callable(getattr(bioreactor_client.Bioreactor, method)), method)


if __name__ == "__main__":
    unittest.main()
