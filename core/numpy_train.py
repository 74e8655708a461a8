"""Phases 1-2: train softmax regression or the MLP with mini-batch SGD, every step by core.numpy_nets.

`train(cfg, data, run_dir)` is a generator of core.loop records; the step below is the whole model-specific
part: forward, hand-written backward, SGD with momentum. Checkpoints (weights and momentum, .npz) resume a
killed run exactly; a finished run leaves weights.npz and metrics.json in its folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core import loop, numpy_nets
from core.data import MNIST, flat
from core.errors import UserError, check_array
from core.storage import atomic_save_npz

# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SGDConfig:
    """The mini-batch SGD recipe both NumPy models share."""

    epochs: int = 20  # passes over the 60k training images
    batch_size: int = 128  # examples per SGD step
    lr: float = 0.1  # peak learning rate, cosine-decayed to 0 over the run
    momentum: float = 0.9  # heavy-ball momentum, as torch.optim.SGD
    schedule: str = "cosine"  # "cosine" or "constant"
    seed: int = 0  # initialization and shuffling; same seed, same numbers
    max_steps: int | None = None  # stop early after this many steps (tests, demos)
    log_every: int = 10  # yield a StepMetrics every N steps
    snapshot_every: int = 100  # yield the weights every N steps (and at each epoch's end)
    threads: int | None = 1  # BLAS threads; 1 is fastest for these small matmuls (see runtime.set_threads)


@dataclass(frozen=True)
class SoftmaxConfig(SGDConfig):
    """Phase 1: softmax regression (784 -> 10)."""

    l2: float = 0.0  # weight decay on W (not biases); 0 = none


@dataclass(frozen=True)
class MLPConfig(SGDConfig):
    """Phase 2: a 784-H-10 MLP with ReLU."""

    hidden: int = 256  # hidden units H
    l2: float = 1e-4  # weight decay on W1, W2 (not biases)


Config = SoftmaxConfig | MLPConfig
WEIGHTS_NAME = "weights.npz"  # a finished run's weights, in its folder


def kind_of(cfg: Config) -> str:
    return "mlp" if isinstance(cfg, MLPConfig) else "softmax"


def learning_rate(cfg: Config, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * step / total))


def validate_config(cfg: Config) -> None:
    problems = loop.common_problems(cfg)
    if not 0 <= cfg.momentum < 1:
        problems.append("momentum must be in [0, 1)")
    if not 0 <= cfg.l2 <= 1:
        problems.append("l2 must be in [0, 1]")
    if cfg.schedule not in ("cosine", "constant"):
        problems.append("schedule must be 'cosine' or 'constant'")
    if isinstance(cfg, MLPConfig) and not 1 <= cfg.hidden <= 8192:
        problems.append("hidden units must be in 1..8192")
    if problems:
        raise UserError("invalid training config: " + "; ".join(problems))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the n training images in one epoch, from (seed, epoch) only (every trainer uses it)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


# --- evaluation --------------------------------------------------------------------------------


def evaluate(params: numpy_nets.SoftmaxParams | numpy_nets.MLPParams, X: np.ndarray, y: np.ndarray,
             ) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole set, in chunks."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), 5000):
        Z = numpy_nets.logits(params, X[i : i + 5000])  # (b,K)
        P = numpy_nets.softmax(Z.astype(np.float64))
        yy = y[i : i + 5000]
        loss_sum += float(-np.log(np.maximum(P[np.arange(len(yy)), yy], 1e-300)).sum())
        correct += int((Z.argmax(axis=1) == yy).sum())
    return loss_sum / len(X), correct / len(X)


def predict_proba(params: numpy_nets.SoftmaxParams | numpy_nets.MLPParams, images: np.ndarray) -> np.ndarray:
    """(N,28,28) uint8 images, or (N,784) floats in [0,1] -> (N,10) probabilities."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        X = flat(check_array(images, "images", (None, 28, 28)))
    else:
        X = check_array(images, "images", (None, numpy_nets.D), kinds="f")
        if X.size and (X.min() < 0 or X.max() > 1):
            raise UserError("images: float pixels must lie in [0, 1]")
    return numpy_nets.softmax(numpy_nets.logits(params, X.astype(np.float32)).astype(np.float64))


# --- weights and checkpoints --------------------------------------------------------------------


def save_checkpoint(path: Path, params, velocity, state: dict) -> None:
    arrays = {f"p_{k}": v for k, v in numpy_nets.as_dict(params).items()}
    arrays |= {f"v_{k}": v for k, v in numpy_nets.as_dict(velocity).items()}
    atomic_save_npz(path, state=np.array(json.dumps(state)), **arrays)


def load_checkpoint(path: Path, cfg: Config):
    """(params, velocity, loop state) from a checkpoint.npz, or a one-line UserError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(str(z["state"]))
            cls = numpy_nets.MLPParams if isinstance(cfg, MLPConfig) else numpy_nets.SoftmaxParams
            names = [f.name for f in fields(cls)]
            params = cls(**{n: z[f"p_{n}"] for n in names})
            velocity = cls(**{n: z[f"v_{n}"] for n in names})
    except (OSError, ValueError, KeyError, EOFError, TypeError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint {path} is unreadable ({type(e).__name__}); delete it to start over") from None
    return params, velocity, state


def save_weights(path: Path, params: numpy_nets.SoftmaxParams | numpy_nets.MLPParams) -> Path:
    return atomic_save_npz(path, **numpy_nets.as_dict(params))


def load_weights(path: Path) -> numpy_nets.SoftmaxParams | numpy_nets.MLPParams:
    """Load weights.npz of a softmax or MLP run, checking names, shapes and finiteness."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise UserError(f"weights file not found: {path}") from None
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path} is not a readable weights file ({type(e).__name__})") from None
    for cls in (numpy_nets.SoftmaxParams, numpy_nets.MLPParams):
        if set(arrays) == {f.name for f in fields(cls)}:
            p = cls(**arrays)
            break
    else:
        raise UserError(f"{path} holds {sorted(arrays)}, not softmax (W, b) or MLP (W1, b1, W2, b2) weights")
    D, K = numpy_nets.D, numpy_nets.K
    shapes_ok = (
        p.W.shape == (D, K) and p.b.shape == (K,)
        if isinstance(p, numpy_nets.SoftmaxParams)
        else p.W1.shape[0] == D and p.b1.shape == p.W1.shape[1:] and p.W2.shape == (p.W1.shape[1], K)
        and p.b2.shape == (K,)
    )
    if not shapes_ok or any(not np.isfinite(a).all() for a in arrays.values()):
        raise UserError(f"{path}: weights have the wrong shapes or contain NaN/inf")
    return p


# --- the trainer -------------------------------------------------------------------------------


class NumpyTrainer:
    """core.loop's Trainer for softmax regression (SoftmaxConfig) and the MLP (MLPConfig): hand-written SGD."""

    checkpoint_name = "checkpoint.npz"

    def __init__(self, cfg: Config, data: MNIST):
        validate_config(cfg)
        self.cfg, self.kind = cfg, kind_of(cfg)
        self.X, self.y = flat(data.train_images), data.train_labels.astype(np.intp)  # (N,784) float32, (N,)
        self.Xte, self.yte = flat(data.test_images), data.test_labels.astype(np.intp)
        self.n_train = len(self.X)
        rng = np.random.default_rng(cfg.seed)
        self.p = numpy_nets.init_mlp(rng, cfg.hidden) if isinstance(cfg, MLPConfig) else numpy_nets.init_softmax()
        self.v = numpy_nets.tree_map(np.zeros_like, self.p)  # momentum buffers

    def learning_rate(self, step: int, total: int) -> float:
        return learning_rate(self.cfg, step, total)

    def start_epoch(self, epoch: int) -> np.ndarray:
        return epoch_order(self.cfg.seed, epoch, self.n_train)

    def step(self, idx: np.ndarray, epoch: int, lr: float) -> loop.StepResult:
        xb, yb = self.X[idx], self.y[idx]  # (B,784), (B,)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught by the loop
            if isinstance(self.p, numpy_nets.MLPParams):
                cache = numpy_nets.mlp_forward(self.p, xb)
                Z = cache.Z2  # (B,K)
                loss, grads = numpy_nets.mlp_backward(self.p, cache, yb, self.cfg.l2)
            else:
                Z = numpy_nets.softmax_forward(self.p, xb)  # (B,K)
                loss, grads = numpy_nets.softmax_backward(self.p, xb, Z, yb, self.cfg.l2)
            if math.isfinite(loss):
                self.p, self.v = numpy_nets.sgd_step(self.p, grads, self.v, lr, self.cfg.momentum)
        return loop.StepResult(loss, int((Z.argmax(axis=1) == yb).sum()), len(yb))  # logits from before the step

    def evaluate(self) -> tuple[float, float]:
        with np.errstate(over="ignore", invalid="ignore"):  # overflowed weights: the loop reports the divergence
            return evaluate(self.p, self.Xte, self.yte)

    def params(self):
        return self.p  # immutable: every step builds new arrays

    def save_checkpoint(self, path: Path, loop_state: dict) -> None:
        save_checkpoint(path, self.p, self.v, loop_state)

    def load_checkpoint(self, path: Path) -> dict:
        self.p, self.v, state = load_checkpoint(path, self.cfg)
        return state

    def save_final(self, run_dir: Path) -> None:
        save_weights(run_dir / WEIGHTS_NAME, self.p)

    def extra_metrics(self) -> dict:
        return {"params": numpy_nets.num_params(self.p)}


def train(cfg: Config, data: MNIST, run_dir: Path | None = None) -> Iterator[loop.Record]:
    """Train softmax regression (SoftmaxConfig) or the MLP (MLPConfig) with mini-batch SGD (core.loop records)."""
    return loop.run(NumpyTrainer(cfg, data), run_dir)


# --- CLI: python -m core train softmax|mlp ------------------------------------------------------


ARGS = {  # config field -> (type, help) of its command-line flag, for the CLIs of phases 1-3
    "epochs": (int, "passes over the training set"), "batch_size": (int, "examples per SGD step"),
    "lr": (float, "peak learning rate (cosine-decayed)"), "momentum": (float, "SGD momentum (0 = plain SGD)"),
    "l2": (float, "weight decay on weights"), "hidden": (int, "hidden units H"),
    "seed": (int, "random seed (init and shuffling)"), "max_steps": (int, "stop after this many SGD steps"),
    "threads": (int, "BLAS threads (0 = all usable cores)"),
}


def add_flags(p, defaults: Config, names: tuple[str, ...]) -> None:
    """--name flags for these config fields, with the config's values as defaults."""
    for name in names:
        kind, about = ARGS[name]
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name), help=about)


def add_config_args(p, cls: type[Config]) -> None:
    names = ("epochs", "batch_size", "lr", "momentum", "l2") + (("hidden",) if cls is MLPConfig else ())
    add_flags(p, cls(), names + ("seed", "max_steps", "threads"))
    p.add_argument("--schedule", choices=["cosine", "constant"], default=cls().schedule, help="learning-rate schedule")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under runs/); "
                   "an existing run folder with a checkpoint is resumed")


def config_from_args(a, cls: type[Config]) -> Config:
    names = {f.name for f in fields(cls)}
    cfg = cls(**{k: v for k, v in vars(a).items() if k in names})
    validate_config(cfg)
    return cfg


def run_cli(cfg: Config, out: Path | None) -> int:
    """Train with a progress bar; print where the run went."""
    from core.data import load_mnist
    from core.storage import new_run_dir

    run_dir = new_run_dir(kind_of(cfg), out)  # fails early, with one line, if unwritable
    data = load_mnist()
    metrics = loop.drive(train(cfg, data, run_dir), loop.total_steps(cfg), f"train {kind_of(cfg)}")
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
