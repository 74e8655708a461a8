"""core.runtime: set_threads really pins NumPy's BLAS and torch's pools (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

from core.storage import REPO_ROOT

_CHILD = """
import json
import numpy, torch
from threadpoolctl import threadpool_info
from core.runtime import set_threads
for n in (1, 2, 1):
    got = set_threads(n)
    pools = [p["num_threads"] for p in threadpool_info()]
    print(json.dumps({"n": got, "pools": pools, "torch": torch.get_num_threads()}))
"""


def test_set_threads_pins_every_pool():
    r = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                       check=True)
    for n, line in zip((1, 2, 1), r.stdout.splitlines(), strict=True):
        got = json.loads(line)
        assert got["n"] == n and got["torch"] == n, got
        assert got["pools"] and all(t == n for t in got["pools"]), got  # OpenBLAS (NumPy), OpenMP/MKL (torch)
