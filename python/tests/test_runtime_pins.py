"""The experiment image's pins agree everywhere they are written, and image_packages.py checks them.

runtime/requirements.txt is the list; runtime/Dockerfile's org.bioreactor.packages label repeats it (a Dockerfile label
cannot be computed), and runtime/debian-packages.txt pins Debian's builds of the same upstream versions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import unittest

RUNTIME = os.path.join(os.path.dirname(__file__), "..", "..", "runtime")

# Debian's package for each Python distribution the image allows.
DEBIAN_NAMES = {
    "numpy": "python3-numpy",
    "pandas": "python3-pandas",
    "matplotlib": "python3-matplotlib",
    "scikit-learn": "python3-sklearn",
    "requests": "python3-requests",
    "scipy": "python3-scipy",
    "pillow": "python3-pil",
}


def lines(name: str) -> list[str]:
    with open(os.path.join(RUNTIME, name), encoding="utf-8") as f:
        return [line.split("#", 1)[0].strip() for line in f if line.split("#", 1)[0].strip()]


def requirements() -> dict[str, str]:
    return dict(line.split("==", 1) for line in lines("requirements.txt"))


def upstream(debian_version: str) -> str:
    """1:1.24.2-1+deb12u1 -> 1.24.2; 1.5.3+dfsg-2 -> 1.5.3."""
    version = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[+~]", version, maxsplit=1)[0]


class RuntimePinsTest(unittest.TestCase):
    def test_every_requirement_is_pinned_to_one_version(self) -> None:
        for line in lines("requirements.txt"):
            self.assertRegex(line, r"^[a-z0-9-]+==[0-9][0-9.]*$")
        self.assertEqual(sorted(requirements()), sorted(DEBIAN_NAMES))

    def test_the_dockerfile_label_lists_the_requirements(self) -> None:
        with open(os.path.join(RUNTIME, "Dockerfile"), encoding="utf-8") as f:
            match = re.search(r'org\.bioreactor\.packages="([^"]*)"', f.read())
        self.assertIsNotNone(match)
        assert match is not None
        labelled = dict(item.split("==", 1) for item in match.group(1).split())
        self.assertEqual(labelled.pop("python"), "3.11")
        self.assertEqual(labelled, requirements())

    def test_debian_pins_are_the_same_upstream_versions(self) -> None:
        debian = dict(line.split("=", 1) for line in lines("debian-packages.txt"))
        self.assertTrue(debian["python3"].startswith("3.11."))
        for name, version in requirements().items():
            self.assertEqual(upstream(debian[DEBIAN_NAMES[name]]), version, name)

    def run_image_packages(self, pins: str, *args: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory() as site:
            # A distribution that importlib.metadata finds on PYTHONPATH, installed at 1.2.3.
            info = os.path.join(site, "fake_pinned-1.2.3.dist-info")
            os.mkdir(info)
            with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
                f.write("Metadata-Version: 2.1\nName: fake-pinned\nVersion: 1.2.3\n")
            reqs = os.path.join(site, "requirements.txt")
            with open(reqs, "w", encoding="utf-8") as f:
                f.write(pins)
            return subprocess.run(
                [sys.executable, os.path.join(RUNTIME, "image_packages.py"), *args, reqs],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": site},
                check=False,
            )

    def test_image_packages_lists_python_and_each_pin(self) -> None:
        result = self.run_image_packages("# comment\nfake-pinned==1.2.3\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        python = ".".join(str(n) for n in sys.version_info[:3])
        self.assertEqual(result.stdout.split(), [f"python=={python}", "fake-pinned==1.2.3"])
        label = self.run_image_packages("fake-pinned==1.2.3\n", "--label")
        self.assertEqual(label.stdout.strip(), f"python=={python} fake-pinned==1.2.3")

    def test_image_packages_fails_on_another_version_or_a_missing_package(self) -> None:
        result = self.run_image_packages("fake-pinned==1.2.4\nnot-installed-anywhere==1.0\n")
        self.assertEqual(result.returncode, 1)
        self.assertIn("fake-pinned is 1.2.3, pinned 1.2.4", result.stderr)
        self.assertIn("not-installed-anywhere is not installed", result.stderr)


if __name__ == "__main__":
    unittest.main()
