"""Lists what an experiment script runs with, and checks it against the pins; run inside the image at build time.

    python3 image_packages.py /opt/bioreactor/requirements.txt > /opt/bioreactor/packages.txt

prints ``python==<version>`` and one ``name==version`` line per package pinned in requirements.txt, as installed,
and exits 1 (naming each difference) when an installed version is not the pinned one or a package is missing.
``--label`` prints the same on one line, separated by spaces: the value of the image's ``org.bioreactor.packages``
label, which the node records in every run's manifest (``image_packages``). Standard library only.
"""

import platform
import sys
from importlib import metadata


def pins(path: str) -> "list[tuple[str, str]]":
    pinned = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            name, sep, version = line.partition("==")
            if not sep:
                raise SystemExit(f"image_packages: {path}: '{line}' is not pinned as name==version")
            pinned.append((name.strip(), version.strip()))
    return pinned


def main(argv: "list[str]") -> int:
    label = "--label" in argv
    args = [a for a in argv if a != "--label"]
    if len(args) != 1:
        print("usage: image_packages.py [--label] REQUIREMENTS", file=sys.stderr)
        return 2
    lines = [f"python=={platform.python_version()}"]
    problems = []
    for name, wanted in pins(args[0]):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (pinned {wanted})")
            continue
        if installed != wanted:
            problems.append(f"{name} is {installed}, pinned {wanted}")
        lines.append(f"{name}=={installed}")
    if problems:
        for problem in problems:
            print(f"image_packages: {problem}", file=sys.stderr)
        return 1
    print(" ".join(lines) if label else "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
