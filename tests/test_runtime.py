"""core.runtime: set_threads really pins NumPy's BLAS and torch's pools (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.storage import REPO_ROOT

_CHILD = """
import json, sys
import numpy, torch
from threadpoolctl import threadpool_info
from core.runtime import set_threads
n = set_threads(int(sys.argv[1]))
print(json.dumps({"n": n, "pools": [p["num_threads"] for p in threadpool_info()], "torch": torch.get_num_threads()}))
"""


@pytest.mark.parametrize("n", [1, 2])
def test_set_threads_pins_every_pool(n):
    r = subprocess.run([sys.executable, "-c", _CHILD, str(n)], capture_output=True, text=True, cwd=REPO_ROOT,
                       timeout=120, check=True)
    got = json.loads(r.stdout)
    assert got["n"] == n and got["torch"] == n
    assert got["pools"] and all(t == n for t in got["pools"]), got  # OpenBLAS (NumPy), OpenMP/MKL (torch)
