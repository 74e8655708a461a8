"""Phase 1-2 trainers (NumPy) and the metric records every trainer in the project yields.

A trainer is a generator: it yields `StepMetrics` every few steps, `EpochMetrics` after each epoch,
`Snapshot`s of the weights at chosen points and a final `Finished`. The dashboard draws them live,
the CLI draws a progress bar, tests consume a few steps. Given a run folder, a trainer checkpoints
atomically after every epoch and resumes from that checkpoint when started again on the same folder.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from core import numpy_nets as nn
from core.data import MNIST, flat
from core.errors import UserError, check_array
from core.runtime import machine_info, set_threads
from core.storage import atomic_save_npz, atomic_write_json

# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepMetrics:
    step: int  # optimizer steps done so far
    epoch: int  # 1-based epoch in progress
    loss: float  # training loss of the latest batch
    lr: float
    elapsed: float  # seconds since the run started (evaluation included)
    examples_per_s: float  # training throughput over the run so far (evaluation excluded)


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    step: int
    train_loss: float  # mean over the epoch's batches
    train_accuracy: float  # running accuracy over the epoch's batches (as Keras reports it)
    test_loss: float
    test_accuracy: float  # fraction of the 10k test set
    elapsed: float
    train_seconds: float  # training compute only
    examples_per_s: float


@dataclass(frozen=True)
class EvalMetrics:
    """A test-set measurement taken mid-epoch (e.g. CNNConfig.eval_every), for time-to-accuracy curves."""

    step: int
    epoch: int
    test_loss: float
    test_accuracy: float
    elapsed: float
    train_seconds: float  # training compute only (evaluation excluded)


@dataclass(frozen=True)
class Snapshot:
    step: int
    epoch: int
    params: object  # the model's parameters at that step (never mutated afterwards)


@dataclass(frozen=True)
class Finished:
    params: object
    metrics: dict  # what metrics.json holds
    run_dir: Path | None


Record = StepMetrics | EvalMetrics | EpochMetrics | Snapshot | Finished


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftmaxConfig:
    epochs: int = 20  # passes over the 60k training images
    batch_size: int = 128  # examples per SGD step
    lr: float = 0.1  # peak learning rate, cosine-decayed to 0 over the run
    momentum: float = 0.9  # heavy-ball momentum, as torch.optim.SGD
    l2: float = 0.0  # weight decay on W (not biases); 0 = none
    schedule: str = "cosine"  # "cosine" or "constant"
    seed: int = 0  # initialization and shuffling; same seed, same numbers
    max_steps: int | None = None  # stop early after this many steps (tests, demos)
    log_every: int = 10  # yield a StepMetrics every N steps
    snapshot_every: int = 100  # yield the weights every N steps (and at each epoch's end)
    threads: int | None = 1  # BLAS threads; 1 is fastest for these small matmuls (see runtime.set_threads)


@dataclass(frozen=True)
class MLPConfig(SoftmaxConfig):
    hidden: int = 256  # hidden units H (784-H-10)
    l2: float = 1e-4


# Fields that do not change the numbers a run produces (may differ when resuming).
_RUNTIME_FIELDS = {"max_steps", "log_every", "snapshot_every", "threads"}


def kind_of(cfg: SoftmaxConfig) -> str:
    return "mlp" if isinstance(cfg, MLPConfig) else "softmax"


def learning_rate(cfg: SoftmaxConfig, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * step / total))


def common_problems(cfg) -> list[str]:
    """What is wrong with the fields every trainer's config has (epochs, batch, lr, step limit, intervals)."""
    problems = []
    if cfg.epochs < 1:
        problems.append("epochs must be >= 1")
    if not 1 <= cfg.batch_size <= 60_000:
        problems.append("batch size must be in 1..60000")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        problems.append("learning rate must be a positive number")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        problems.append("max steps must be >= 1")
    if cfg.log_every < 1 or cfg.snapshot_every < 1:
        problems.append("log/snapshot intervals must be >= 1")
    return problems


def validate_config(cfg: SoftmaxConfig) -> None:
    problems = common_problems(cfg)
    if not 0 <= cfg.momentum < 1:
        problems.append("momentum must be in [0, 1)")
    if not (cfg.l2 >= 0 and math.isfinite(cfg.l2)):
        problems.append("l2 must be >= 0")
    if cfg.schedule not in ("cosine", "constant"):
        problems.append("schedule must be 'cosine' or 'constant'")
    if isinstance(cfg, MLPConfig) and not 1 <= cfg.hidden <= 8192:
        problems.append("hidden units must be in 1..8192")
    if problems:
        raise UserError("invalid training config: " + "; ".join(problems))


# --- evaluation --------------------------------------------------------------------------------


def evaluate(params: nn.SoftmaxParams | nn.MLPParams, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole set, in chunks."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), 5000):
        Z = nn.logits(params, X[i : i + 5000])  # (b,K)
        P = nn.softmax(Z.astype(np.float64))
        yy = y[i : i + 5000]
        loss_sum += float(-np.log(np.maximum(P[np.arange(len(yy)), yy], 1e-300)).sum())
        correct += int((Z.argmax(axis=1) == yy).sum())
    return loss_sum / len(X), correct / len(X)


def predict_proba(params: nn.SoftmaxParams | nn.MLPParams, images: np.ndarray) -> np.ndarray:
    """(N,28,28) uint8 images, or (N,784) floats in [0,1] -> (N,10) probabilities."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        X = flat(check_array(images, "images", (None, 28, 28)))
    else:
        X = check_array(images, "images", (None, nn.D), kinds="f")
        if X.size and (X.min() < 0 or X.max() > 1):
            raise UserError("images: float pixels must lie in [0, 1]")
    return nn.softmax(nn.logits(params, X.astype(np.float32)).astype(np.float64))


# --- checkpoints -------------------------------------------------------------------------------


def save_checkpoint(path: Path, params, velocity, state: dict) -> None:
    arrays = {f"p_{k}": v for k, v in nn.as_dict(params).items()}
    arrays |= {f"v_{k}": v for k, v in nn.as_dict(velocity).items()}
    atomic_save_npz(path, state=np.array(json.dumps(state)), **arrays)


def load_checkpoint(path: Path, cfg: SoftmaxConfig):
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(str(z["state"]))
            cls = nn.MLPParams if isinstance(cfg, MLPConfig) else nn.SoftmaxParams
            names = [f.name for f in fields(cls)]
            params = cls(**{n: z[f"p_{n}"] for n in names})
            velocity = cls(**{n: z[f"v_{n}"] for n in names})
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is unreadable ({type(e).__name__}); delete it to start over") from None
    return params, velocity, state


def same_recipe(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in _RUNTIME_FIELDS} == {
        k: v for k, v in b.items() if k not in _RUNTIME_FIELDS
    }


def save_weights(path: Path, params: nn.SoftmaxParams | nn.MLPParams) -> Path:
    return atomic_save_npz(path, **nn.as_dict(params))


def load_weights(path: Path) -> nn.SoftmaxParams | nn.MLPParams:
    """Load weights.npz of a softmax or MLP run, checking names, shapes and finiteness."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise UserError(f"weights file not found: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path} is not a readable weights file ({type(e).__name__})") from None
    for cls in (nn.SoftmaxParams, nn.MLPParams):
        if set(arrays) == {f.name for f in fields(cls)}:
            p = cls(**arrays)
            break
    else:
        raise UserError(f"{path} holds {sorted(arrays)}, not softmax (W, b) or MLP (W1, b1, W2, b2) weights")
    shapes_ok = (
        p.W.shape == (nn.D, nn.K) and p.b.shape == (nn.K,)
        if isinstance(p, nn.SoftmaxParams)
        else p.W1.shape[0] == nn.D and p.b1.shape == p.W1.shape[1:] and p.W2.shape == (p.W1.shape[1], nn.K)
        and p.b2.shape == (nn.K,)
    )
    if not shapes_ok or any(not np.isfinite(a).all() for a in arrays.values()):
        raise UserError(f"{path}: weights have the wrong shapes or contain NaN/inf")
    return p


# --- the trainer -------------------------------------------------------------------------------


def train(cfg: SoftmaxConfig, data: MNIST, run_dir: Path | None = None) -> Iterator[Record]:
    """Train softmax regression (SoftmaxConfig) or the MLP (MLPConfig) with mini-batch SGD."""
    validate_config(cfg)
    threads = set_threads(cfg.threads)
    X, y = flat(data.train_images), data.train_labels.astype(np.intp)  # (60000,784) float32
    Xte, yte = flat(data.test_images), data.test_labels.astype(np.intp)
    steps_per_epoch = math.ceil(len(X) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    rng = np.random.default_rng(cfg.seed)
    params = nn.init_mlp(rng, cfg.hidden) if isinstance(cfg, MLPConfig) else nn.init_softmax()
    velocity = nn.tree_map(np.zeros_like, params)
    history: list[dict] = []
    step, first_epoch, t_prev, train_prev = 0, 1, 0.0, 0.0
    ckpt = run_dir / "checkpoint.npz" if run_dir else None
    if ckpt and ckpt.exists():
        params, velocity, state = load_checkpoint(ckpt, cfg)
        if not same_recipe(state["config"], asdict(cfg)):
            raise UserError(f"{run_dir} holds a run with a different config; use another --out folder")
        step, first_epoch, history = state["step"], state["epoch"] + 1, state["history"]
        t_prev, train_prev = state["elapsed"], state["train_seconds"]
    t0 = time.perf_counter() - t_prev
    train_seconds = train_prev
    yield Snapshot(step, first_epoch - 1, params)
    for epoch in range(first_epoch, cfg.epochs + 1):
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(X))
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            t_step = time.perf_counter()
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb, yb = X[idx], y[idx]  # (B,784), (B,)
            lr = learning_rate(cfg, step, total)
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught just below
                if isinstance(params, nn.MLPParams):
                    cache = nn.mlp_forward(params, xb)
                    Z = cache.Z2  # (B,K)
                    loss, grads = nn.mlp_backward(params, cache, yb, cfg.l2)
                else:
                    Z = nn.softmax_forward(params, xb)  # (B,K)
                    loss, grads = nn.softmax_backward(params, xb, Z, yb, cfg.l2)
            if not math.isfinite(loss):
                raise UserError(
                    f"loss became {loss} at step {step + 1} (learning rate {cfg.lr} too high?); "
                    + (f"last good checkpoint kept in {run_dir}" if run_dir else "nothing was saved")
                )
            params, velocity = nn.sgd_step(params, grads, velocity, lr, cfg.momentum)
            train_seconds += time.perf_counter() - t_step
            step += 1
            loss_sum += loss * len(yb)
            seen += len(yb)
            correct += int((Z.argmax(axis=1) == yb).sum())  # logits from before this step
            ex_s = step * cfg.batch_size / max(train_seconds, 1e-9)
            if step % cfg.log_every == 0:
                yield StepMetrics(step, epoch, loss, lr, time.perf_counter() - t0, ex_s)
            if step % cfg.snapshot_every == 0:
                yield Snapshot(step, epoch, params)
        if seen == 0:
            break
        test_loss, test_acc = evaluate(params, Xte, yte)
        rec = EpochMetrics(
            epoch=epoch, step=step, train_loss=loss_sum / seen, train_accuracy=correct / seen,
            test_loss=test_loss, test_accuracy=test_acc, elapsed=time.perf_counter() - t0,
            train_seconds=train_seconds, examples_per_s=step * cfg.batch_size / max(train_seconds, 1e-9),
        )
        history.append(asdict(rec))
        complete = seen == len(X)
        if ckpt and complete:
            state = {"config": asdict(cfg), "step": step, "epoch": epoch, "history": history,
                     "elapsed": rec.elapsed, "train_seconds": train_seconds}
            save_checkpoint(ckpt, params, velocity, state)
        yield rec
        yield Snapshot(step, epoch, params)
        if not complete:
            break
    metrics = run_metrics(cfg, params, history, threads)
    if run_dir:
        save_weights(run_dir / "weights.npz", params)
        atomic_write_json(run_dir / "metrics.json", metrics)
    yield Finished(params, metrics, run_dir)


def run_metrics(cfg: SoftmaxConfig, params, history: list[dict], threads: int) -> dict:
    last = history[-1] if history else {}
    return {
        "model": kind_of(cfg),
        "test_accuracy": last.get("test_accuracy"),
        "test_loss": last.get("test_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "epochs_completed": last.get("epoch", 0),
        "steps": last.get("step", 0),
        "params": nn.num_params(params),
        "config": asdict(cfg),
        "timings": {
            "wall_seconds": last.get("elapsed"),
            "train_seconds": last.get("train_seconds"),
            "examples_per_s": last.get("examples_per_s"),
            "threads": threads,
        },
        "history": history,
        "machine": machine_info(),
    }


# --- CLI: python -m core train softmax|mlp ------------------------------------------------------


def add_config_args(p, cls: type[SoftmaxConfig]) -> None:
    d = cls()
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="examples per SGD step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (cosine-decayed)")
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum (0 = plain SGD)")
    p.add_argument("--l2", type=float, default=d.l2, help="weight decay on weights")
    p.add_argument("--schedule", choices=["cosine", "constant"], default=d.schedule, help="learning-rate schedule")
    if cls is MLPConfig:
        p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (init and shuffling)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many SGD steps")
    p.add_argument("--threads", type=int, default=d.threads, help="BLAS threads (0 = all usable cores)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under runs/); "
                   "an existing run folder with a checkpoint is resumed")


def config_from_args(a, cls: type[SoftmaxConfig]) -> SoftmaxConfig:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in vars(a).items() if k in names})


def drive(records: Iterator[Record], total: int, desc: str) -> dict:
    """Consume a trainer's records with a tqdm progress bar (the CLIs' view); return the final metrics."""
    from tqdm import tqdm

    metrics: dict = {}
    with tqdm(total=total, desc=desc, unit="step") as bar:
        for rec in records:
            if isinstance(rec, Snapshot) and rec.step and not bar.n:  # resumed: count speed from here
                bar.n = bar.initial = bar.last_print_n = rec.step
            if isinstance(rec, StepMetrics):
                bar.n = rec.step
                bar.set_postfix(loss=f"{rec.loss:.3f}", ex_s=f"{rec.examples_per_s:,.0f}", refresh=False)
                bar.refresh()
            elif isinstance(rec, EvalMetrics):
                bar.write(f"{desc} step {rec.step}: test acc {rec.test_accuracy:.4f} "
                          f"({rec.train_seconds:.1f} s training)")
            elif isinstance(rec, EpochMetrics):
                bar.n = rec.step
                bar.refresh()
                bar.write(f"{desc} epoch {rec.epoch}: train acc {rec.train_accuracy:.4f}  "
                          f"test acc {rec.test_accuracy:.4f}  ({rec.train_seconds:.1f} s training, "
                          f"{rec.elapsed:.1f} s wall)")
            elif isinstance(rec, Finished):
                metrics = rec.metrics
    return metrics


def total_steps(batch_size: int, epochs: int, max_steps: int | None) -> int:
    total = math.ceil(60_000 / batch_size) * epochs
    return min(total, max_steps) if max_steps else total


def run_cli(cfg: SoftmaxConfig, out: Path | None) -> int:
    """Train with a progress bar; print where the run went."""
    from core.data import load_mnist
    from core.storage import new_run_dir

    validate_config(cfg)
    run_dir = new_run_dir(kind_of(cfg), out)  # fails early, with one line, if unwritable
    data = load_mnist()
    total = total_steps(cfg.batch_size, cfg.epochs, cfg.max_steps)
    metrics = drive(train(cfg, data, run_dir), total, f"train {kind_of(cfg)}")
    acc = metrics["test_accuracy"]
    print(f"test accuracy {acc:.4f} ({acc * 100:.2f} %) after {metrics['timings']['wall_seconds']:.1f} s; "
          f"run saved in {run_dir}")
    return 0


def softmax_args(p) -> None:
    add_config_args(p, SoftmaxConfig)


def softmax_main(a) -> int:
    return run_cli(config_from_args(a, SoftmaxConfig), a.out)


def mlp_args(p) -> None:
    add_config_args(p, MLPConfig)


def mlp_main(a) -> int:
    return run_cli(config_from_args(a, MLPConfig), a.out)
