"""The run store as the dashboard sees it: list saved runs (core's runs folder), save a run stopped early.

A run folder is what the CLI writes (`python -m core train ...`): metrics.json plus the weights
(weights.npz for NumPy nets, model.pt for CNNs). Runs the dashboard stops early get the same two files,
with `"stopped": true` in metrics.json, so every run on disk can be listed and reloaded the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.storage import atomic_write_json, runs_dir


@dataclass(frozen=True)
class SavedRun:
    path: Path
    kind: str  # "softmax", "mlp", "cnn-default", "cnn-seed", ...
    test_accuracy: float | None
    params: int | None
    stopped: bool
    mtime: float
    metrics: dict

    @property
    def label(self) -> str:
        acc = f"{self.test_accuracy * 100:.2f} %" if self.test_accuracy is not None else "no test score"
        return f"{self.path.name}  ({acc}{', stopped early' if self.stopped else ''})"


def weights_file(run: Path) -> Path | None:
    """A run folder's final weights: weights.npz (NumPy / PyTorch MLP runs) or model.pt (CNN runs), if any."""
    for name in ("weights.npz", "model.pt"):  # core.numpy_train.WEIGHTS_NAME, core.cnn.MODEL_NAME (no torch here)
        if (run / name).is_file():
            return run / name
    return None


def list_runs(prefixes: tuple[str, ...] = (), root: Path | None = None) -> list[SavedRun]:
    """Finished or stopped runs (metrics.json and weights present) whose kind starts with a prefix; newest first."""
    root = root or runs_dir()
    out = []
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and p.name != "bench"]
    except OSError:
        return []
    for p in folders:
        try:
            m = json.loads((p / "metrics.json").read_text())
            mtime = (p / "metrics.json").stat().st_mtime
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict) or weights_file(p) is None:
            continue
        kind = str(m.get("model") or p.name.split("-")[0])
        if prefixes and not kind.startswith(prefixes):
            continue
        acc = m.get("test_accuracy")
        out.append(SavedRun(p, kind, float(acc) if isinstance(acc, int | float) else None,
                            m.get("params"), bool(m.get("stopped")), mtime, m))
    return sorted(out, key=lambda r: -r.mtime)


def _partial_metrics(model: str, cfg, snap, history: list[dict], params: int | None, seen: dict,
                     test_accuracy: float | None) -> dict:
    last = history[-1] if history else {}
    return {
        "model": model,
        "test_accuracy": test_accuracy if test_accuracy is not None else last.get("test_accuracy"),
        "test_accuracy_of": "the saved weights" if test_accuracy is not None else "the last epoch's end",
        "train_accuracy": last.get("train_accuracy"),
        "epochs_completed": last.get("epoch", 0),
        "steps": snap.step if snap else 0,
        "params": params,
        "config": asdict(cfg),
        "history": history,
        "timings": {k: seen[k] for k in ("train_seconds", "elapsed") if k in seen},
        "stopped": True,
    }


def save_numpy_partial(run_dir: Path, cfg, snap, history: list[dict], seen: dict | None = None) -> None:
    """weights.npz + metrics.json of a softmax/MLP run stopped before its last step; `seen` (dashboard.training
    .tracked) holds the data and the seconds trained, so the saved weights' own test accuracy is recorded."""
    from core import numpy_nets as nn
    from core.numpy_train import WEIGHTS_NAME, evaluate, kind_of, save_weights

    if snap is None:
        return
    seen = seen or {}
    save_weights(run_dir / WEIGHTS_NAME, snap.params)
    acc = None
    if seen.get("data") is not None:
        from core.data import flat

        d = seen["data"]
        acc = float(evaluate(snap.params, flat(d.test_images), d.test_labels)[1])
    atomic_write_json(run_dir / "metrics.json",
                      _partial_metrics(kind_of(cfg), cfg, snap, history, nn.num_params(snap.params), seen, acc))


def save_cnn_partial(run_dir: Path, cfg, snap, history: list[dict], seen: dict | None = None) -> None:
    """model.pt + metrics.json of a CNN run stopped early (with the saved network's own test accuracy)."""
    from core import cnn

    if snap is None:
        return
    seen = seen or {}
    model = cnn.model_from_numpy(cfg.arch, snap.params)
    cnn.save_model(run_dir / cnn.MODEL_NAME, model, cfg)
    acc = None
    if seen.get("data") is not None:
        acc = float(cnn.evaluate(model, seen["data"].test_images, seen["data"].test_labels)[1])
    atomic_write_json(run_dir / "metrics.json",
                      _partial_metrics(f"cnn-{cfg.arch}", cfg, snap, history, cnn.num_params(model), seen, acc))


def export_task(run: Path):
    """A job body (see JobRegistry.start_task): export, quantize and measure a CNN run into run/onnx."""

    def fn(report) -> dict:
        from core.data import load_mnist
        from core.export import export_run

        report("loading MNIST", 0.0)
        data = load_mnist(fetch=False)
        done = [0]

        def say(what: str) -> None:
            done[0] += 1
            report(what, min(done[0] / 8, 0.95))

        # no Chromium from the dashboard: the web backend is measured by `python -m core export` (needed to ship)
        return export_run(run, run / "onnx", data, f"python -m core export {run} --no-browser", progress=say,
                          browser=False)

    return fn
