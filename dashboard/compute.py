"""Cached computations behind the pages (st.cache_data / st.cache_resource around calls into core).

Each function is keyed on plain values (paths with their mtimes, indices, settings), so a page rerun
that changes nothing recomputes nothing, and a changed file on disk is picked up.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import streamlit as st

from core.errors import UserError
from dashboard import state
from dashboard.runs import weights_file

# --- Home: the phase ladder --------------------------------------------------------------------------------

def _phase(name: str) -> str:
    n = name.lower()
    if "softmax" in n:
        return "1 · softmax (NumPy)"
    if "mlp" in n:
        return "3 · MLP (PyTorch)" if "torch" in n else "2 · MLP (NumPy)"
    return "4 · CNN" if any(w in n for w in ("cnn", "shipped", "seed", "onnx")) else "—"


def _rows_from_ladder(doc: dict | list | None) -> list[dict]:
    """Rows of core/assets/ladder.json (`python -m core bench models`), tolerant of its exact layout."""
    if doc is None:
        return []
    items = doc.get("rows", doc.get("models", [])) if isinstance(doc, dict) else doc
    measured = isinstance(items, list) and any("published" in str(i.get("name", "")) for i in items
                                               if isinstance(i, dict))
    if isinstance(doc, dict) and isinstance(doc.get("seed_published"), dict) and not measured:
        items = list(items) + [doc["seed_published"]]  # the seed's own figures, when not measured here
    rows = []
    for it in items if isinstance(items, list) else []:
        if not isinstance(it, dict):
            continue
        name = str(it.get("name") or it.get("model") or "?")
        lat = next((it[k] for k in ("latency_ms_1", "latency_ms", "latency_ms_p50") if it.get(k) is not None), None)
        rows.append({
            "phase": it.get("phase") or _phase(name), "model": name, "source": "core/assets/ladder.json",
            "test_accuracy": it.get("test_accuracy", it.get("published_accuracy")),
            "params": it.get("params"), "size_bytes": it.get("size_bytes"), "latency_ms": lat,
            "train_s": it.get("train_seconds"), "shipped": name.lower().startswith("shipped"), "partial": False,
        })
    return rows


def ladder_rows() -> list[dict]:
    """Every model side by side: the shipped figures (ladder.json), the shipped model, and saved runs."""
    rows = _rows_from_ladder(state.ladder())
    try:
        m = state.shipped_model()
        met = m.contract.get("metrics") or {}
        if not any(r["shipped"] for r in rows):
            lat = met.get("latency_ms_1", met.get("latency_ms"))
            rows.append({"phase": "4 · CNN", "model": f"shipped {m.path.name}", "source": "core/assets/model.json",
                         "test_accuracy": met.get("test_accuracy"),
                         "params": (m.contract.get("architecture") or {}).get("params"),
                         "size_bytes": m.contract.get("size_bytes"), "latency_ms": lat, "train_s": None,
                         "shipped": True, "partial": False})
    except UserError:
        pass
    for run in state.saved_runs():
        wf = weights_file(run.path)  # listed runs always have one
        rows.append({"phase": _phase(run.kind), "model": run.kind, "source": f"runs/{run.path.name}",
                     "test_accuracy": run.test_accuracy, "params": run.params,
                     "size_bytes": wf.stat().st_size if wf else None, "latency_ms": None,
                     "train_s": (run.metrics.get("timings") or {}).get("train_seconds"), "shipped": False,
                     "partial": partial_run(run)})
    return rows


def partial_run(run) -> str | None:
    """Why a saved run is not a showcase model (stopped early, cut short by max steps, a fine-tuned variant), if so."""
    cfg = run.metrics.get("config") or {}
    if run.stopped:
        return "stopped early"
    if cfg.get("max_steps"):
        return f"cut short at {cfg['max_steps']} steps"
    if "finetuned" in run.kind:
        return "fine-tuned on your digits"
    return None


def ladder_caption() -> str:
    """One line of the headline figures in ladder.json (time to 99 %, shipped vs seed latency), if present."""
    doc = state.ladder() or {}
    parts = []
    t99 = doc.get("time_to_99") or {}
    if t99.get("reached"):
        parts.append(f"the default CNN first reaches {t99['target']:.0%} test accuracy after "
                     f"{t99['train_seconds']:.0f} s of training ({t99.get('threads', '?')} thread)")
    lat = doc.get("shipped_vs_seed_latency") or {}
    if lat.get("ratio"):
        parts.append(f"the shipped model takes {lat['shipped_ms'] * 1e3:.0f} µs per image, "
                     f"{lat['ratio']:.2f}× the seed's network")
    return f"Measured on {measured_where(doc)} by `python -m core bench models`: " + "; ".join(parts) + "." \
        if parts else ""


def measured_where(doc: dict) -> str:
    """'<CPU> (<n> cores), <date>' from a figure file's `machine` and `generated` fields (never 'this machine')."""
    machine = doc.get("machine") or {}
    cores = f" ({machine['usable_cores']} cores)" if machine.get("usable_cores") else ""
    when = str(doc.get("generated") or "")[:10] or "date not recorded"
    return f"{machine.get('cpu') or 'a CPU not recorded'}{cores}, {when}"


def mlp_train_seconds() -> str:
    """How long the ladder's 20-epoch NumPy MLP took to train, and where: '' when the ladder has no such row."""
    doc = state.ladder() or {}
    row = next((r for r in doc.get("rows", []) if r["name"].startswith("MLP") and "NumPy" in r["name"]), None)
    if not row or not row.get("train_seconds"):
        return ""
    return (f"{row.get('epochs', '?')} epochs took {row['train_seconds']:.0f} s on {measured_where(doc)} "
            f"({row.get('train_threads', '?')} thread; core/assets/ladder.json)")


# --- Phase 3: NumPy vs PyTorch -----------------------------------------------------------------------------


PARITY_DEFAULTS = {"hidden": 256, "seed": 0, "index": 0, "batch": 128}  # the Phase 3 page's first view


@st.cache_data(show_spinner="Running both frameworks…", max_entries=16)
def parity_report(weights: str | None, mtime: float, hidden: int, seed: int, index: int, batch: int) -> dict:
    """The same MLP weights through NumPy and PyTorch: one digit's logits, max |Δ|s, one SGD step timed in each."""
    import torch

    from core import numpy_nets as nn
    from core import parity
    from core import torch_mlp as tm
    from core.data import flat

    data = state.mnist()
    if weights:
        p = state.numpy_weights(weights, mtime)
        if not isinstance(p, nn.MLPParams):
            raise UserError(f"{weights} holds softmax weights; pick an MLP run")
    else:
        p = nn.init_mlp(np.random.default_rng(seed), hidden)
    x = flat(data.test_images[index:index + 1])  # (1,784)
    z_np = nn.logits(p, x)[0]
    with torch.no_grad():
        z_t = tm.from_numpy(p)(torch.from_numpy(x)).numpy()[0]
    lo = min(index, len(data.test_labels) - batch)
    X, y = flat(data.test_images[lo:lo + batch]), data.test_labels[lo:lo + batch].astype(np.intp)
    par = parity.parity(p, X, y)
    return {"label": int(data.test_labels[index]), "image": data.test_images[index], "z_np": z_np, "z_t": z_t,
            "parity": dataclasses.asdict(par), "tolerances": dict(parity.TOLERANCES),
            "batch": batch, "hidden": p.W1.shape[1], "torch": torch.__version__, "numpy": np.__version__}


PARITY_LABELS = {  # core.parity.Parity's fields, in words
    "logits_f32": "logits (float32)", "loss_f64": "loss (float64)", "grads_f64": "every gradient (float64)",
    "step_f64": "weights after 1 SGD step (float64)", "steps3_f64": "weights after 3 SGD steps (float64)",
}


@st.cache_data(show_spinner="Timing both frameworks…", max_entries=16)
def parity_timings(weights: str | None, mtime: float, hidden: int, seed: int, batch: int, rounds: int = 15) -> dict:
    """Milliseconds for a forward pass and for one SGD step on the same batch in NumPy and PyTorch, each timed over
    `rounds` interleaved rounds: {operation: {"NumPy": [ms...], "PyTorch": [ms...]}}. Kept apart from the digit shown
    (parity_report), so choosing another digit neither re-times nor moves the bars."""
    import time

    import torch

    from core import numpy_nets as nn
    from core import parity
    from core import torch_mlp as tm
    from core.data import flat

    data = state.mnist()
    p = state.numpy_weights(weights, mtime) if weights else nn.init_mlp(np.random.default_rng(seed), hidden)
    X, y = flat(data.test_images[:batch]), data.test_labels[:batch].astype(np.intp)
    xt, mod = torch.from_numpy(X), tm.from_numpy(p)

    def fwd_torch():
        with torch.no_grad():
            mod(xt)

    ops = {"forward": (lambda: nn.logits(p, X), fwd_torch),
           "one SGD step": (lambda: parity.numpy_sgd_steps(p, X, y, 0.1, 0.9, 1e-4),
                            lambda: parity.torch_sgd_steps(p, X, y, 0.1, 0.9, 1e-4))}
    out = {op: {"NumPy": [], "PyTorch": []} for op in ops}
    for fns in ops.values():  # warm-up
        for f in fns:
            f()
    for _ in range(rounds):
        for op, fns in ops.items():
            for who, f in zip(("NumPy", "PyTorch"), fns, strict=True):
                t = time.perf_counter()
                f()
                out[op][who].append((time.perf_counter() - t) * 1e3)
    return out


# --- Phase 4: CNN inspection -------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the CNN…", max_entries=4)
def cnn_model(path: str, mtime: float):
    from core import cnn

    model, cfg = cnn.load_model(Path(path))
    return model, cfg


@st.cache_data(show_spinner=False, max_entries=8)
def cnn_filters(path: str, mtime: float) -> np.ndarray:
    """The first conv layer's kernels (C,1,k,k) of a saved network."""
    from core import cnn

    model, _ = cnn_model(path, mtime)
    return model.state_dict()[cnn.FIRST_CONV].detach().numpy().copy()


@st.cache_data(show_spinner=False)
def arch_summary(arch: str) -> dict:
    """What an architecture is made of (core.cnn.build_model): conv stages, channels per stage, parameters."""
    from torch import nn

    from core import cnn

    m = cnn.build_model(arch)
    convs = [layer.out_channels for layer in m.features if isinstance(layer, nn.Conv2d)]
    return {"stages": sum(isinstance(layer, nn.MaxPool2d) for layer in m.features), "channels": convs,
            "batchnorm": any(isinstance(layer, nn.BatchNorm2d) for layer in m.features), "params": cnn.num_params(m)}


def cnn_networks() -> dict[str, Path]:
    """CNN weights to look inside: the shipped network's (core.finetune.base_model_path), then every saved CNN run."""
    from core.errors import UserError
    from core.finetune import base_model_path

    out = {}
    try:
        base = base_model_path()
        out[f"the shipped network ({base.parent.name}/{base.name})"] = base
    except UserError:
        pass
    for run in state.saved_runs(("cnn",)):
        wf = weights_file(run.path)
        if wf is not None and wf.suffix == ".pt" and wf not in out.values():
            out[run.label] = wf
    return out


@st.cache_data(show_spinner=False, max_entries=32)
def cnn_inside(path: str, mtime: float, image: np.ndarray, method: str):
    """core.explain.cnn_inside for one 28x28 input: feature maps, probabilities, saliency."""
    from core import explain

    model, _ = cnn_model(path, mtime)
    return explain.cnn_inside(model, image, method)


@st.cache_data(show_spinner=False, max_entries=16)
def augmentation(index: int, seed: int, rotate: float, translate: float, scale: tuple[float, float]) -> np.ndarray:
    from core.augment import AffineRanges, augmentation_preview

    ranges = AffineRanges(rotate=rotate, translate=translate, scale_min=scale[0], scale_max=scale[1])
    img = state.mnist().train_images[index:index + 1]
    return np.concatenate([img[:, None] / 255.0, augmentation_preview(img, 7, seed, ranges)], axis=1)[0]


# --- Playground --------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def camera_like(index: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """A 640x480 camera-like frame of MNIST test digit `index` on paper (core.camera_set), and its label."""
    from core import camera_set

    data = state.mnist()
    rng = np.random.default_rng([seed, index])
    return camera_set.camera_frame(data.test_images[index], rng, 640, 480), int(data.test_labels[index])


@st.cache_data(show_spinner=False, max_entries=32)
def pipeline(frame: np.ndarray, settings: dict) -> dict:
    """Every stage of core.preprocess for one frame (core.preprocess.Stages) and how long it took (ms)."""
    from core.preprocess import PreprocessConfig, stages

    cfg = PreprocessConfig.from_dict(settings)
    t = time.perf_counter()
    s = stages(frame, cfg)
    return {"stages": s, "ms": (time.perf_counter() - t) * 1e3}


# --- Phase 4: quantization ---------------------------------------------------------------------------------


def export_summary(run: Path) -> dict | None:
    """run/onnx/export.json written by `python -m core export RUN` (or the page's Export button), if any."""
    import json

    try:
        return json.loads((Path(run) / "onnx" / "export.json").read_text())
    except (OSError, ValueError):
        return None


@st.cache_data(show_spinner="Running every model on the 10,000 test digits…", max_entries=8)
def quantization_flips(onnx_dir: str, mtime: float) -> dict:
    """Test-set predictions of each exported format; the digits where an int8 model disagrees with fp32."""
    from core.inference import load_model, to_model_input

    summary = export_summary(Path(onnx_dir).parent) or {}
    data = state.mnist()
    x = to_model_input(data.test_images)
    preds = {}
    for fmt, row in (summary.get("models") or {}).items():
        m = load_model(Path(onnx_dir) / row["file"])
        preds[fmt] = np.concatenate([m.logits(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    base = preds.get("fp32")
    flips = {k: np.flatnonzero(p != base) for k, p in preds.items() if k != "fp32" and base is not None}
    return {"preds": preds, "flips": flips, "labels": data.test_labels}


def quantization_rows(summary: dict, flips: dict) -> list[dict]:
    """The fp32 vs int8 table of an export (export.json), sizes in kB with one decimal."""
    return [{"format": k, "size (kB)": round(r["size_bytes"] / 1e3, 1), "test accuracy": f"{r['test_accuracy']:.2%}",
             "drop (pp)": round(r["accuracy_drop_pp"], 2), "1 image (µs)": round(r["latency_ms_1"] * 1e3),
             "batch 256 (img/s)": round(r["throughput_256_per_s"]), "flips vs fp32": len(flips["flips"].get(k, []))}
            for k, r in summary["models"].items()]


def quantization_caption(summary: dict) -> str:
    """What the table shows, in words taken from the same figures: the fastest, the smallest, and what was shipped."""
    rows = summary["models"]
    fast = min(rows, key=lambda k: rows[k]["latency_ms_1"])
    small = min(rows, key=lambda k: rows[k]["size_bytes"])
    text = (f"Fastest for one image here: {fast} ({rows[fast]['latency_ms_1'] * 1e3:.0f} µs); smallest: {small} "
            f"({rows[small]['size_bytes'] / 1e3:.1f} kB).")
    ship = (summary.get("shipping") or {}).get("format")
    if ship in rows:
        int8 = {k: r for k, r in rows.items() if k != "fp32"}
        why = ("the fastest int8 format" if ship == min(int8, key=lambda k: int8[k]["latency_ms_1"])
               else "chosen for portability and accuracy")
        text += f" Chosen to ship: {ship}, {why} within 0.1 pp of fp32 (drop {rows[ship]['accuracy_drop_pp']:.2f} pp)."
    return text
