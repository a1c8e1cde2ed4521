"""Tests of bioreactor_client; the simulated node they need is started by node_process."""

import os
import sys

# Run from a checkout without installing: the package lives in python/src.
_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
