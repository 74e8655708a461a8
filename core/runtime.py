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

    OpenBLAS's threads busy-wait between the many small matmuls of mini-batch training, so as soon as
    another process wants a core a 2-thread pool runs many times slower than one thread (README, "Threads").
    The NumPy trainers therefore default to 1 thread, the CNN trainer to every core (its convolutions are big
    enough to share), benchmarks report both, and the count is always set explicitly and recorded in metrics.
    n = None or 0 means all usable cores.
    """
    from threadpoolctl import threadpool_limits

    n = n or usable_cores()
    threadpool_limits(limits=n)  # kept for the process's lifetime (not used as a context manager)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def threads_beside_a_live_view() -> int:
    """Training threads when a live view (a dashboard redrawing, a browser rendering) shares the machine: every
    usable core but one. A BLAS thread that has to share its core with the view stalls the others."""
    return max(1, usable_cores() - 1)


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


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")  # the ones that change int8 and BLAS speed


def cpu_info() -> dict:
    """The CPU's model name (as lscpu shows it) and which of CPU_FLAGS it has, from /proc/cpuinfo."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine()):
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return {"model": model, "flags": [f for f in CPU_FLAGS if f in flags]}


def machine_info() -> dict:
    """Where a figure was measured: CPU model and flags, usable cores, Python and NumPy versions."""
    import numpy as np

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu_info()["model"],
        "cpu_flags": cpu_info()["flags"],
        "usable_cores": usable_cores(),
    }
