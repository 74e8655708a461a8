"""`python -m core bench numpy`: phase 1-2 accuracy on full MNIST, and NumPy vs PyTorch MLP throughput.

Throughput is measured side by side in one process: the same 784-H-10 MLP, batch size, data, SGD
recipe and thread count, alternating NumPy and PyTorch rounds so both see the same machine state.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from core import numpy_nets, numpy_train
from core.data import MNIST, flat, load_mnist
from core.loop import EpochMetrics, Finished
from core.numpy_train import MLPConfig, SoftmaxConfig
from core.runtime import machine_info, set_threads, usable_cores
from core.storage import atomic_write_json, runs_dir


def _numpy_steps(X: np.ndarray, y: np.ndarray, cfg: MLPConfig, steps: int):
    """A closure running `steps` NumPy MLP SGD steps over pre-shuffled batches; state carried across calls."""
    state = {"p": numpy_nets.init_mlp(np.random.default_rng(0), cfg.hidden)}
    state["v"] = numpy_nets.tree_map(np.zeros_like, state["p"])
    B = cfg.batch_size

    def run() -> None:
        p, v = state["p"], state["v"]
        for i in range(steps):
            xb, yb = X[i * B : (i + 1) * B], y[i * B : (i + 1) * B]
            loss, g = numpy_nets.mlp_backward(p, numpy_nets.mlp_forward(p, xb), yb, cfg.l2)
            p, v = numpy_nets.sgd_step(p, g, v, 0.01, cfg.momentum)
        state["p"], state["v"] = p, v

    return run


def _torch_steps(X: np.ndarray, y: np.ndarray, cfg: MLPConfig, steps: int):
    """The same MLP and recipe in PyTorch: nn.Linear layers, F.cross_entropy, optim.SGD(weight_decay=l2)."""
    import torch

    torch.manual_seed(0)
    D, K = numpy_nets.D, numpy_nets.K
    model = torch.nn.Sequential(torch.nn.Linear(D, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, K))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=cfg.momentum, weight_decay=cfg.l2)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    B = cfg.batch_size

    def run() -> None:
        for i in range(steps):
            xb, yb = Xt[i * B : (i + 1) * B], yt[i * B : (i + 1) * B]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()

    return run


def throughput(data: MNIST, cfg: MLPConfig, threads: int, steps: int = 150, rounds: int = 5) -> dict:
    """Median training examples/s of NumPy and PyTorch MLPs, alternating rounds, at `threads` threads."""
    import torch  # noqa: F401  (imported first so that set_threads pins torch's pools too)

    set_threads(threads)
    order = np.random.default_rng(0).permutation(60_000)[: steps * cfg.batch_size]
    X, y = flat(data.train_images[order]), data.train_labels[order].astype(np.intp)
    runners = {"numpy": _numpy_steps(X, y, cfg, steps), "torch": _torch_steps(X, y, cfg, steps)}
    for run in runners.values():  # warm-up: allocator, BLAS pools, torch's first-call costs
        run()
    rates: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            run()
            rates[name].append(steps * cfg.batch_size / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "threads": threads,
        "hidden": cfg.hidden,
        "batch_size": cfg.batch_size,
        "numpy_examples_per_s": med["numpy"],
        "torch_examples_per_s": med["torch"],
        "torch_over_numpy": med["torch"] / med["numpy"],  # > 1 means NumPy is slower
        "rounds": {k: [round(r) for r in v] for k, v in rates.items()},
    }


def full_run(cfg: SoftmaxConfig, data: MNIST, target: float | None = None) -> dict:
    """Train on full MNIST; test accuracy, wall time and (optionally) time to first reach `target`."""
    reached = None
    for rec in numpy_train.train(cfg, data):
        if isinstance(rec, EpochMetrics) and target and reached is None and rec.test_accuracy >= target:
            reached = rec.elapsed
        if isinstance(rec, Finished):
            m = rec.metrics
    return {
        "model": m["model"],
        "test_accuracy": m["test_accuracy"],
        "wall_seconds": m["timings"]["wall_seconds"],
        "train_seconds": m["timings"]["train_seconds"],
        "examples_per_s": m["timings"]["examples_per_s"],
        "epochs": m["epochs_completed"],
        "params": m["params"],
        "target": target,
        "seconds_to_target": reached,
        "config": asdict(cfg),
    }


def run_bench(quick: bool = False, threads: int | None = None) -> dict:
    data = load_mnist()
    threads = threads or 1
    softmax_cfg, mlp_cfg = SoftmaxConfig(threads=threads), MLPConfig(threads=threads)
    if quick:
        softmax_cfg, mlp_cfg = replace(softmax_cfg, epochs=1), replace(mlp_cfg, epochs=1)
    steps, rounds = (20, 2) if quick else (150, 5)
    thread_counts = sorted({threads, usable_cores()})
    return {
        "machine": machine_info(),
        "softmax": full_run(softmax_cfg, data),
        "mlp": full_run(mlp_cfg, data, target=0.98),
        "throughput": [throughput(data, MLPConfig(), t, steps, rounds) for t in thread_counts],
        "quick": quick,
    }


def format_table(r: dict) -> str:
    sm, mlp = r["softmax"], r["mlp"]
    to98 = f"{mlp['seconds_to_target']:.1f} s" if mlp["seconds_to_target"] is not None else "not reached"
    lines = [
        "Phase 1-2 on full MNIST (60k train / 10k test)",
        f"{'model':<28}{'test acc':>10}{'epochs':>8}{'wall s':>9}{'params':>9}",
        f"{'softmax regression (NumPy)':<28}{sm['test_accuracy'] * 100:>9.2f}%{sm['epochs']:>8}"
        f"{sm['wall_seconds']:>9.1f}{sm['params']:>9}",
        f"{'MLP 784-256-10 (NumPy)':<28}{mlp['test_accuracy'] * 100:>9.2f}%{mlp['epochs']:>8}"
        f"{mlp['wall_seconds']:>9.1f}{mlp['params']:>9}",
        f"MLP time to first reach 98.0 % test accuracy: {to98}",
        "",
        "MLP training throughput, same net/batch/recipe (medians of alternating rounds)",
        f"{'threads':>7}{'NumPy ex/s':>13}{'PyTorch ex/s':>15}  NumPy time / PyTorch time (bar: <= 1.30)",
    ]
    for t in r["throughput"]:
        lines.append(f"{t['threads']:>7}{t['numpy_examples_per_s']:>13,.0f}{t['torch_examples_per_s']:>15,.0f}"
                     f"  {t['torch_over_numpy']:.2f}")
    return "\n".join(lines)


def bench_args(p) -> None:
    p.add_argument("--quick", action="store_true", help="one epoch each and few throughput steps (smoke test)")
    p.add_argument("--threads", type=int, default=None, help="threads for training runs (default 1); "
                   "throughput is measured at this count and at all usable cores")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON (default: runs/bench/numpy.json)")


def bench_main(a) -> int:
    result = run_bench(quick=a.quick, threads=a.threads)
    out = atomic_write_json(a.json or runs_dir() / "bench" / "numpy.json", result)
    print(format_table(result))
    print(f"\nJSON written to {out}")
    return 0
