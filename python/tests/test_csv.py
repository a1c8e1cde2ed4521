"""The CSV file a script writes: the guide's columns and format, byte for byte."""

from __future__ import annotations

import csv
import os
import tempfile
import threading
import unittest
from unittest import mock

from bioreactor_client import CSVColumnsError, format_csv_value, write_data_to_csv

GUIDE_HEADER = "timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty,peltier_duty,peltier_direction"


def guide_row(**changes: object) -> dict:
    row = {
        "timestamp": "2026-01-25T20:35:11.103915",
        "co2_ppm": 633.0,
        "temperature": 25.4,
        "od_voltages": [0.12, 0.15, 0.18],
        "eyespy_voltages": [],
        "stirrer_duty": 0.0,
        "peltier_duty": 0.0,
        "peltier_direction": "forward",
    }
    row.update(changes)
    return row


class CsvFormatTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bioreactor-csv-")

    def read_bytes(self, name: str = "experiment_data.csv") -> bytes:
        with open(os.path.join(self.dir, name), "rb") as handle:
            return handle.read()

    def test_guide_row_gives_the_guide_header_and_a_json_list_quoted_as_csv_requires(self) -> None:
        path = write_data_to_csv(guide_row(), output_dir=self.dir)
        self.assertEqual(path, os.path.join(self.dir, "experiment_data.csv"))
        self.assertEqual(
            self.read_bytes(),
            (GUIDE_HEADER + "\n" + '2026-01-25T20:35:11.103915,633.0,25.4,"[0.12,0.15,0.18]",[],0.0,0.0,forward\n').encode(),
        )

    def test_header_is_written_once_and_rows_append(self) -> None:
        for co2 in (400.0, 401.5, 402.25):
            write_data_to_csv(guide_row(co2_ppm=co2), output_dir=self.dir)
        lines = self.read_bytes().decode().split("\n")
        self.assertEqual(lines[0], GUIDE_HEADER)
        self.assertEqual([line.split(",")[1] for line in lines[1:4]], ["400.0", "401.5", "402.25"])
        self.assertEqual(lines[4], "", "the file ends with exactly one \\n")
        self.assertNotIn(b"\r", self.read_bytes())

    def test_none_and_nan_are_empty_cells_and_unavailable_list_entries_are_null(self) -> None:
        write_data_to_csv(
            guide_row(co2_ppm=None, temperature=float("nan"), od_voltages=[0.5, None, float("inf")], eyespy_voltages=None),
            output_dir=self.dir,
        )
        row = self.read_bytes().decode().split("\n")[1]
        self.assertEqual(row, '2026-01-25T20:35:11.103915,,,"[0.5,null,null]",,0.0,0.0,forward')

    def test_python_csv_and_json_read_back_what_was_written(self) -> None:
        write_data_to_csv(guide_row(peltier_direction='say "heat", now'), output_dir=self.dir)
        with open(os.path.join(self.dir, "experiment_data.csv"), newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        self.assertEqual(rows[0]["od_voltages"], "[0.12,0.15,0.18]")
        self.assertEqual(rows[0]["peltier_direction"], 'say "heat", now')

    def test_missing_keys_become_empty_cells_in_header_order(self) -> None:
        write_data_to_csv(guide_row(), output_dir=self.dir)
        write_data_to_csv({"peltier_direction": "cool", "timestamp": "t2"}, output_dir=self.dir)
        self.assertEqual(self.read_bytes().decode().split("\n")[2], "t2,,,,,,,cool")

    def test_a_row_with_a_key_the_header_lacks_is_refused_naming_the_key(self) -> None:
        write_data_to_csv(guide_row(), output_dir=self.dir)
        before = self.read_bytes()
        with self.assertRaises(CSVColumnsError) as caught:
            write_data_to_csv(guide_row(od_setpoint=0.4, ring_light_r=5), output_dir=self.dir)
        message = str(caught.exception)
        self.assertIn("'od_setpoint'", message)
        self.assertIn("'ring_light_r'", message)
        self.assertIn("new file", message)
        self.assertEqual(caught.exception.extra_keys, ["od_setpoint", "ring_light_r"])
        self.assertIsInstance(caught.exception, ValueError)
        self.assertEqual(self.read_bytes(), before, "nothing is written for a refused row")
        write_data_to_csv(guide_row(od_setpoint=0.4), filename="with_setpoint.csv", output_dir=self.dir)
        self.assertTrue(self.read_bytes("with_setpoint.csv").startswith((GUIDE_HEADER + ",od_setpoint\n").encode()))

    def test_a_line_cut_short_by_a_killed_run_does_not_swallow_the_next_row(self) -> None:
        write_data_to_csv(guide_row(), output_dir=self.dir)
        with open(os.path.join(self.dir, "experiment_data.csv"), "ab") as handle:
            handle.write(b"2026-01-25T20:35:12.0,63")
        write_data_to_csv(guide_row(timestamp="t3"), output_dir=self.dir)
        lines = self.read_bytes().decode().split("\n")
        self.assertEqual(lines[2], "2026-01-25T20:35:12.0,63")
        self.assertTrue(lines[3].startswith("t3,633.0,"))

    def test_output_dir_defaults_to_OUTPUT_DIR_then_the_current_directory(self) -> None:
        target = os.path.join(self.dir, "made", "for", "output")
        with mock.patch.dict(os.environ, {"OUTPUT_DIR": target}):
            path = write_data_to_csv(guide_row())
        self.assertEqual(path, os.path.join(target, "experiment_data.csv"))
        self.assertTrue(os.path.isfile(path))
        cwd = os.getcwd()
        env = {k: v for k, v in os.environ.items() if k != "OUTPUT_DIR"}
        try:
            os.chdir(self.dir)
            with mock.patch.dict(os.environ, env, clear=True):
                path = write_data_to_csv(guide_row(), filename="here.csv")
        finally:
            os.chdir(cwd)
        self.assertEqual(os.path.realpath(path), os.path.realpath(os.path.join(self.dir, "here.csv")))

    def test_threads_writing_at_once_leave_one_header_and_whole_rows(self) -> None:
        def writer(n: int) -> None:
            for i in range(50):
                write_data_to_csv(guide_row(timestamp=f"t{n}-{i}", od_voltages=[n, i, 0.5]), output_dir=self.dir)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with open(os.path.join(self.dir, "experiment_data.csv"), newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        self.assertEqual(rows[0], GUIDE_HEADER.split(","))
        self.assertEqual(len(rows), 1 + 200)
        self.assertTrue(all(len(r) == 8 for r in rows))
        self.assertEqual(len({r[0] for r in rows[1:]}), 200)

    def test_bad_arguments_say_what_to_pass(self) -> None:
        with self.assertRaisesRegex(ValueError, "non-empty dict"):
            write_data_to_csv({}, output_dir=self.dir)
        with self.assertRaisesRegex(ValueError, "plain file name"):
            write_data_to_csv(guide_row(), filename="../escape.csv", output_dir=self.dir)


class CellFormatTest(unittest.TestCase):
    def test_cells(self) -> None:
        self.assertEqual(format_csv_value(None), "")
        self.assertEqual(format_csv_value(633.0), "633.0")
        self.assertEqual(format_csv_value(0.1 + 0.2), "0.30000000000000004")
        self.assertEqual(format_csv_value(7), "7")
        self.assertEqual(format_csv_value(True), "True")
        self.assertEqual(format_csv_value("heat"), "heat")
        self.assertEqual(format_csv_value((1, 2.5)), "[1,2.5]")
        self.assertEqual(format_csv_value({"a": [None]}), '{"a":[null]}')
        self.assertEqual(format_csv_value(float("-inf")), "")


if __name__ == "__main__":
    unittest.main()
