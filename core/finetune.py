"""Teach the CNN your handwriting: fine-tune the shipped network on your collected digits mixed with MNIST.

Starts from the shipped network's torch weights (core/assets/model.pt, shipped with model.onnx by
`python -m core export RUN --ship`). The convolutions keep their weights (they already see strokes well); only the
classifier head learns, which makes a step cost milliseconds. Each step mixes a batch of your digits, drawn with
replacement and augmented afresh (core.augment), with a batch of MNIST training images whose conv features were
computed once; on those the head is asked for the labels and for the shipped network's own answers (a softened KL
term, "learning without forgetting"), so what it knows of MNIST stays put. Then the new network is exported as the
shipped one was (core.export: BatchNorm folded, ONNX, static QDQ int8) with a contract beside it.

Honest figures: your digits are split when saved (core.collection): the held-out ones are never trained on. Before
and after are measured with the int8 models the Camera runs (the shipped one, the fine-tuned one) on your held-out
digits, your trained-on digits and the 10,000 MNIST test images, and with the fp32 torch networks on MNIST test.
Nothing is chosen by looking at the test set: the recipe is fixed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.storage import ASSETS_DIR, atomic_write_json

KIND = "cnn-finetuned"  # run folders runs/cnn-finetuned-<time>-<random>, listed with every CNN run
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 150  # optimizer steps (a few ms each: only the classifier learns)
    mnist_batch: int = 112  # MNIST training images per step: what the network must keep knowing
    own_batch: int = 16  # your digits per step, drawn with replacement, each augmented afresh
    lr: float = 3e-4  # AdamW, constant: a tenth of the original training's peak
    distill: float = 1.0  # weight of "answer MNIST as before" (KL to the shipped network's outputs, learning
    #   without forgetting) beside the labels; 0 = labels only (measured: keeps MNIST test less well)
    temperature: float = 2.0  # softens both networks' outputs for that comparison
    mnist_pool: int = 4096  # MNIST training images whose conv features are computed once (from the first 50,000;
    #   the last 10,000 are the validation split the recipe was chosen on)
    augment: bool = True  # per-sample affine augmentation of your digits (rotate ±15°, shift ±8 %, zoom 0.9-1.1)
    seed: int = 0  # which MNIST images, batches and augmentation
    threads: int | None = 1  # CPU threads (1: a shared core stalls a 2-thread pool, see core.runtime.set_threads)


def base_model_path() -> Path:
    """The shipped network's torch weights, core/assets/model.pt (shipped beside model.onnx, tracked by git: a fresh
    clone has them); a one-line UserError when they are missing."""
    p = ASSETS_DIR / "model.pt"
    if not p.is_file():
        raise UserError("the shipped network's torch weights are missing (core/assets/model.pt): restore them with "
                        "`git checkout core/assets`, or ship a model with `python -m core export RUN --ship`")
    return p


def _int8_accuracy(session, images: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(accuracy over the ten digits, predictions) of an onnxruntime session on uint8 images (N,28,28)."""
    from core.inference import to_model_input

    if len(labels) == 0:
        return float("nan"), np.zeros(0, np.int64)
    x = to_model_input(images)
    name = session.get_inputs()[0].name
    pred = np.concatenate([session.run(None, {name: x[i:i + 1000]})[0][:, :10].argmax(1)
                           for i in range(0, len(x), 1000)])
    return float((pred == labels).mean()), pred


def train_steps(model, cfg: FinetuneConfig, own: np.ndarray, own_labels: np.ndarray, mnist_images: np.ndarray,
                mnist_labels: np.ndarray, progress: Progress | None = None) -> list[float]:
    """Fine-tune `model`'s classifier in place on mixed batches (convolutions frozen); returns each step's loss."""
    import torch
    import torch.nn.functional as F

    from core.augment import AffineRanges, augment
    from core.cnn import to_input

    if len(own) == 0:
        raise UserError("no digits to train on yet: save a few (every fifth one is held out for the before/after)")
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ranges = AffineRanges(rotate=15.0, translate=0.08, scale_min=0.9, scale_max=1.1)
    model.eval()  # BatchNorm keeps its running statistics, dropout is off

    def features(x):  # (n,1,28,28) -> (n,F) what the classifier reads
        with torch.no_grad():
            return torch.flatten(model.features(x), 1)

    pool = rng.choice(min(50_000, len(mnist_labels)), min(cfg.mnist_pool, len(mnist_labels)), replace=False)
    f_mnist = features(to_input(mnist_images[pool]))  # (P,F), once
    y_mnist = torch.from_numpy(mnist_labels[pool].astype(np.int64))
    with torch.no_grad():
        soft = F.log_softmax(model.classifier(f_mnist) / cfg.temperature, 1)  # the shipped network's answers
    own_t, own_y = torch.from_numpy(own), torch.from_numpy(own_labels.astype(np.int64))
    opt = torch.optim.AdamW(model.classifier.parameters(), lr=cfg.lr, weight_decay=0.0)
    share = cfg.own_batch / (cfg.own_batch + cfg.mnist_batch)
    losses = []
    for step in range(cfg.steps):
        i = torch.from_numpy(rng.integers(0, len(pool), cfg.mnist_batch))
        j = torch.from_numpy(rng.integers(0, len(own_y), cfg.own_batch))
        xo = to_input(own_t[j])  # (b,1,28,28)
        f_own = features(augment(xo, ranges, gen) if cfg.augment else xo)
        z = model.classifier(torch.cat([f_mnist[i], f_own]))  # (B,K)
        z_mnist, z_own = z[:cfg.mnist_batch], z[cfg.mnist_batch:]
        keep = F.kl_div(F.log_softmax(z_mnist / cfg.temperature, 1), soft[i], log_target=True, reduction="batchmean")
        loss = (share * F.cross_entropy(z_own, own_y[j])
                + (1 - share) * (F.cross_entropy(z_mnist, y_mnist[i]) + cfg.distill * cfg.temperature ** 2 * keep))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress and step % 25 == 0:
            progress(f"fine-tuning: step {step + 1}/{cfg.steps}", 0.05 + 0.3 * step / cfg.steps)
    return losses


def export_int8(model, out_dir: Path, data, base_contract: dict | None, command: str) -> tuple[Path, float]:
    """The shipped model's export, for a fine-tuned network: BatchNorm folded, ONNX, static QDQ int8 with 7-bit
    weights (core.export, core.quantize), its contract checked by loading it back; (int8 path, its MNIST test
    accuracy through onnxruntime)."""
    import tempfile

    from core import contract, export, inference, quantize

    int8 = out_dir / export.FILES[export.STATIC]
    with tempfile.TemporaryDirectory(prefix="finetune-export-") as tmp:
        fp32 = Path(tmp) / export.FILES[export.FP32]
        export.export_onnx(export.fold_batchnorm(model), fp32)
        export.check_onnx(fp32)
        quantize.quantize_static_qdq(fp32, int8, data.train_images)
    export.check_onnx(int8)
    acc = inference.accuracy(int8, data.test_images, data.test_labels)
    base = base_contract or {}
    c = contract.make_contract(
        int8, preprocess=base.get("preprocess") or {},
        metrics={"test_accuracy": acc, "test_set": "MNIST test, 10,000 images", "ort_threads": 1},
        extra={"quantization": export.QUANTIZATION[export.STATIC], "opset": export.OPSET,
               "architecture": base.get("architecture") or {"name": model.arch},
               "fine_tuned_from": base.get("exported_as") or base.get("model_file", "model.onnx"),
               "export_command": command})
    n_out = int(model.classifier[-1].out_features)
    if n_out != 10 and len(base.get("labels") or []) == n_out:  # ten digits and "not a digit": keep its rule
        c["labels"], c["output"]["shape"] = base["labels"], ["batch", n_out]
        if base.get("rejection"):
            c["rejection"] = base["rejection"]
    export.write_contract_checked(int8, c)
    return int8, acc


def finetune(samples, data, cfg: FinetuneConfig = FinetuneConfig(), base: Path | None = None,
             run_dir: Path | None = None, progress: Progress | None = None) -> dict:
    """Fine-tune the shipped network on `samples` (core.collection) mixed with MNIST, export it, measure before and
    after; writes run_dir (model.pt, metrics.json, onnx/model.int8-static.onnx + .json) and returns the metrics."""
    import torch

    from core import cnn, collection
    from core.inference import default_model_path, load_model, open_session
    from core.runtime import set_threads
    from core.storage import new_run_dir

    say = progress or (lambda _what, _frac: None)
    threads = set_threads(cfg.threads)
    train_s, held_s = collection.split(samples)
    own, own_y = collection.load(train_s)
    held, held_y = collection.load(held_s)
    base = Path(base) if base else base_model_path()
    say("loading the shipped network", 0.02)
    model, _ = cnn.load_model(base)
    shipped = load_model(default_model_path())
    run_dir = new_run_dir(KIND, run_dir)

    t0, c0 = time.perf_counter(), time.process_time()
    losses = train_steps(model, cfg, own, own_y, data.train_images, data.train_labels, say)
    train_seconds, train_cpu = time.perf_counter() - t0, time.process_time() - c0

    say("exporting to ONNX and int8 (as the shipped model)", 0.4)
    t1 = time.perf_counter()
    cnn.save_model(run_dir / cnn.MODEL_NAME, model, cfg)
    int8, mnist_after = export_int8(model, run_dir / "onnx", data, shipped.contract,
                                    f"fine-tuned on {len(own)} of your digits from {base.name}")
    export_seconds = time.perf_counter() - t1

    say("measuring before and after", 0.9)
    before, after = open_session(shipped.path), open_session(int8)
    mnist_before = (shipped.contract.get("metrics") or {}).get("test_accuracy")
    if mnist_before is None:
        mnist_before = _int8_accuracy(before, data.test_images, data.test_labels)[0]
    rows = {"mnist_test": {"n": int(len(data.test_labels)), "before": float(mnist_before), "after": mnist_after}}
    for name, (x, y) in {"held_out": (held, held_y), "trained_on": (own, own_y)}.items():
        (b, pb), (a, pa) = _int8_accuracy(before, x, y), _int8_accuracy(after, x, y)
        rows[name] = {"n": int(len(y)), "before": b, "after": a, "before_pred": pb.tolist(), "after_pred": pa.tolist()}
    metrics = {
        "model": KIND, "arch": model.arch, "params": cnn.num_params(model), "test_accuracy": mnist_after,
        "base": str(base), "config": asdict(cfg), "threads": threads, "torch": torch.__version__,
        "collection": {"trained_on": [s.id for s in train_s], "held_out": [s.id for s in held_s]},
        "before_after": rows, "losses": losses, "onnx": str(int8),
        "timings": {"train_seconds": train_seconds, "train_cpu_seconds": train_cpu, "export_seconds": export_seconds,
                    "total_seconds": time.perf_counter() - t0},
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    say("done", 1.0)
    return metrics
