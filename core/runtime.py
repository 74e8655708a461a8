"""Thread control and timing helpers shared by trainers and benchmarks."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable


def usable_cores() -> int:
    """Cores this process may run on (affinity/cgroup aware where the OS says so)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def set_threads(n: int | None = None) -> int:
    """Pin BLAS/OpenMP pools (NumPy's OpenBLAS, torch's MKL/OpenMP) to `n` threads; returns n.

    OpenBLAS's threads busy-wait between the many small matmuls of mini-batch training; as soon as
    another process wants a core, a 2-thread pool runs 7-14x slower than a single thread (measured on
    this 2-core machine: MLP epoch 1.2 s at 1 thread vs 8-17 s at 2). So trainers default to 1 thread,
    benchmarks report 1 and all cores, and the count is always set explicitly and recorded in metrics.
    n = None or 0 means all usable cores.
    """
    from threadpoolctl import threadpool_limits

    n = n or usable_cores()
    threadpool_limits(limits=n)  # kept for the process's lifetime (not used as a context manager)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def median_seconds(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeat` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_info() -> dict:
    import numpy as np

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "usable_cores": usable_cores(),
    }
