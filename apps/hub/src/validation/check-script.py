"""Checks experiment scripts for the hub: syntax (as this Python reports it) and imports outside the allowed set.

Reads one JSON request per line on stdin, {"id": ..., "source": "..."}, and writes one JSON reply per line,
{"id": ..., "problems": [{"line", "column", "message"}]}. It stays running so a check costs no interpreter start.
"""

import ast
import json
import sys
import warnings

ALLOWED_PACKAGES = {"bioreactor_client", "numpy", "pandas", "matplotlib", "sklearn", "requests", "scipy", "PIL"}
ALLOWED = set(sys.stdlib_module_names) | ALLOWED_PACKAGES
HINTS = {
    "scikit_learn": "scikit-learn is imported as sklearn",
    "skimage": "scikit-image is not installed in the experiment container",
    "pillow": "Pillow is imported as PIL",
    "Pillow": "Pillow is imported as PIL",
    "src": "the node's own modules are not available; use bioreactor_client",
    "bioreactor": "the client library is bioreactor_client",
    "bioreactor_v3": "the hardware library is not available inside the container; use bioreactor_client",
}
ALLOWED_TEXT = "the standard library, bioreactor_client, numpy, pandas, matplotlib, sklearn, requests, scipy and PIL"


def check(source):
    problems = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename="user_script.py")
    except SyntaxError as err:
        message = f"SyntaxError: {err.msg}"
        return [{"line": err.lineno or 1, "column": err.offset or 1, "message": message}]
    except (ValueError, RecursionError) as err:
        return [{"line": 1, "column": 1, "message": f"The script cannot be parsed: {err}"}]
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                problems.append({
                    "line": node.lineno,
                    "column": node.col_offset + 1,
                    "message": "Relative imports cannot work: the script runs on its own, not inside a package",
                })
                continue
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top in ALLOWED:
                continue
            hint = HINTS.get(top)
            message = f"Module '{top}' is not available in the experiment container (allowed: {ALLOWED_TEXT})"
            if hint:
                message += f"; {hint}"
            problems.append({"line": node.lineno, "column": node.col_offset + 1, "message": message})
    problems.sort(key=lambda p: (p["line"], p["column"]))
    return problems


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            problems = check(request["source"])
        except Exception as err:  # noqa: BLE001 - a checker bug must not kill the worker
            problems = [{"line": 1, "column": 1, "message": f"The checker failed on this script: {err}"}]
        sys.stdout.write(json.dumps({"id": request["id"], "problems": problems}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
