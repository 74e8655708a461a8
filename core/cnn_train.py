"""Phase 4's training: presets, the recipe (AdamW, warmup + cosine, per-sample augmentation), the trainer, the CLI.

A preset names an architecture (core.cnn) and a recipe: `seed` is the seed's network with our recipe (so the
comparison is fair), `default` is ours (it ends with a few epochs on unaugmented images), `camera` adds camera
renderings and "not a digit", and `fast` is the live speedrun's: the shortest time to 99 % on a small CPU
(README, "Training speedrun"; `python -m core bench speedrun` measures it).

Reproducibility: every epoch's shuffling, augmentation and dropout draw from RNGs derived from (seed, epoch),
so a run resumed from its last epoch checkpoint replays exactly what an unbroken run does (same threads).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core import cnn, loop
from core.augment import AffineRanges, augment
from core.data import MNIST
from core.errors import UserError
from core.numpy_train import epoch_order
from core.storage import atomic_write_bytes

# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNConfig:
    arch: str = "default"  # architecture (core.cnn.ARCHS): "seed" (the seed's network), "default" (ours), "fast"
    epochs: int = 20  # passes over the 60k training images
    batch_size: int = 128  # examples per optimizer step
    lr: float = 3e-3  # peak learning rate (AdamW), reached after warmup, cosine-decayed to 0
    warmup: float = 0.03  # fraction of all steps spent ramping the learning rate up linearly
    weight_decay: float = 1e-4  # decoupled (AdamW) weight decay
    beta1: float = 0.9  # AdamW's moment decays; lower ones follow a short run's fast-moving gradients sooner
    beta2: float = 0.999
    label_smoothing: float = 0.0  # cross-entropy against (1-ε)·one-hot + ε/K
    augment: bool = True  # per-sample random affine transform of every training image
    clean_frac: float = 0.1  # the last 10 % of epochs (rounded) see the images as they are: MNIST's test
    # digits are upright and centred, and fine-tuning on them at the end lifts test accuracy (measured)
    rotate: float = 20.0  # max |rotation| in degrees
    translate: float = 0.1  # max shift per axis, as a fraction of the image side
    scale_min: float = 0.9  # smallest zoom factor
    scale_max: float = 1.1  # largest zoom factor
    shift: int = 0  # > 0: augment by shifting each whole batch by up to this many pixels per axis (one draw per
    # batch, zero fill) instead of the per-sample affine transform: almost free, enough for a 5-epoch run
    channels_last: bool = False  # NHWC memory layout for the network and its batches (faster convolutions on CPU)
    seed: int = 0  # initialization, shuffling, augmentation, dropout; same seed, same numbers
    validation: bool = False  # train on MNIST train[:50000]; measure on train[50000:] (never on test)
    camera: int = 0  # attempts at camera renderings of training digits added to the data (core.camera_data)
    negatives: int = 0  # attempts at "not a digit" examples added as an 11th class (0: ten classes)
    max_steps: int | None = None  # stop early after this many steps (tests, demos)
    eval_every: int | None = None  # also measure test accuracy every N steps (time-to-accuracy); None = per epoch
    log_every: int = 20  # yield a StepMetrics every N steps
    snapshot_every: int = 200  # yield the weights every N steps (and at each epoch's end)
    threads: int | None = None  # CPU threads; None or 0 = every usable core
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"

    @property
    def affine(self) -> AffineRanges:
        return AffineRanges(self.rotate, self.translate, self.scale_min, self.scale_max)


PRESETS: dict[str, dict] = {  # preset name -> the CNNConfig fields it sets
    "seed": {"arch": "seed"},  # the seed's network with our recipe: only the architecture differs
    "default": {"arch": "default"},
    # ours for the camera: MNIST mixed with its digits as the camera pipeline hands them over, and "not a digit"
    "camera": {"arch": "default", "validation": True, "camera": 16_000, "negatives": 8_000},
    # the live speedrun (README, "Training speedrun"): time to 99 % test accuracy on a 2-core CPU; measured so far
    # on one seed on a busy machine (the choice over seeds is open); Adam's betas (0.7, 0.9) and batch 256 as
    # tuomaso/train_mnist_fast found them
    "fast": {"arch": "fast", "epochs": 5, "batch_size": 256, "lr": 1e-2, "warmup": 0.1, "weight_decay": 0.0,
             "beta1": 0.7, "beta2": 0.9, "label_smoothing": 0.1, "shift": 1, "clean_frac": 0.0, "channels_last": True},
}
ADDED_FIELDS = {"beta1": 0.9, "beta2": 0.999, "label_smoothing": 0.0, "shift": 0, "channels_last": False}  # fields
# newer than some saved checkpoints, with the values those runs used


def preset_config(preset: str = "default", **overrides) -> CNNConfig:
    """The preset's config with `overrides` (field=value) applied."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    return replace(CNNConfig(**PRESETS[preset]), **overrides)


def validate(cfg: CNNConfig) -> None:
    problems = loop.common_problems(cfg)
    if cfg.arch not in cnn.ARCHS:
        problems.append(f"architecture must be one of {', '.join(cnn.ARCHS)}")
    if not 0 <= cfg.warmup < 1:
        problems.append("warmup must be in [0, 1)")
    if not (0 <= cfg.weight_decay <= 1 and math.isfinite(cfg.weight_decay)):
        problems.append("weight decay must be in [0, 1]")
    if not cfg.lr <= 10:
        problems.append("learning rate must be <= 10 for AdamW")
    if not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        problems.append("Adam's betas must be in [0, 1)")
    if not 0 <= cfg.label_smoothing < 1:
        problems.append("label smoothing must be in [0, 1)")
    if not 0 <= cfg.shift <= 4:
        problems.append("shift must be in 0..4 pixels")
    if not 0 <= cfg.clean_frac <= 1:
        problems.append("clean fraction must be in [0, 1]")
    if not (0 <= cfg.rotate <= 180 and 0 <= cfg.translate <= 0.5 and 0 < cfg.scale_min <= cfg.scale_max <= 4):
        problems.append("augmentation: rotate in 0..180, translate in 0..0.5, 0 < scale min <= scale max <= 4")
    if cfg.device not in ("auto", "cpu", "cuda"):
        problems.append("device must be auto, cpu or cuda")
    if not (0 <= cfg.camera <= 1_000_000 and 0 <= cfg.negatives <= 1_000_000):
        problems.append("camera and negatives must be in 0..1000000")
    if problems:
        raise UserError("invalid CNN config: " + "; ".join(problems))


def clean_epochs(cfg: CNNConfig) -> int:
    """How many final epochs train without augmentation: clean_frac of the epochs, rounded half up."""
    return math.floor(cfg.epochs * cfg.clean_frac + 0.5) if cfg.augment else 0


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for (or 'auto' and present), else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def epoch_rngs(seed: int, epoch: int, n: int = 60_000) -> tuple[np.ndarray, torch.Generator, int]:
    """(order of the n training images, augmentation generator, dropout seed) for one epoch, from (seed, epoch)
    only; for MNIST's 60k the NumPy trainers' order."""
    order = epoch_order(seed, epoch, max(n, 60_000))
    order = order[order < n] if n < 60_000 else order
    s_aug, s_drop = np.random.SeedSequence([seed, epoch, 4]).generate_state(2, dtype=np.uint64)
    return order, torch.Generator().manual_seed(int(s_aug) >> 1), int(s_drop) >> 1


def shift_batch(x: torch.Tensor, most: int, gen: torch.Generator) -> torch.Tensor:
    """Shift the whole batch by one random (dy, dx), each in -most..most, zero fill. (B,1,28,28) -> (B,1,28,28)."""
    dy, dx = (torch.randint(-most, most + 1, (2,), generator=gen) + most).tolist()
    h, w = x.shape[-2:]
    return F.pad(x, (most, most, most, most))[..., dy : dy + h, dx : dx + w]


def learning_rate(cfg: CNNConfig, step: int, total: int) -> float:
    """Linear warmup from lr/25 to lr over the first `warmup` fraction of steps, then cosine to 0."""
    w = int(cfg.warmup * total)
    if step < w:
        return cfg.lr * (0.04 + 0.96 * step / w)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * (step - w) / max(total - w, 1)))


# --- the trainer -------------------------------------------------------------------------------------


class CNNTrainer:
    """core.loop's Trainer for the CNN: AdamW on augmented batches (per sample, or one shift per batch), torch
    checkpoints."""

    checkpoint_name = cnn.CHECKPOINT_NAME

    def __init__(self, cfg: CNNConfig, data: MNIST):
        validate(cfg)
        self.cfg, self.kind = cfg, f"cnn-{cfg.arch}"
        self.device = pick_device(cfg.device)
        X, y, Xte, yte = training_data(cfg, data)
        self.n_train = len(y)
        self.X = torch.from_numpy(X).to(self.device)  # (N,28,28) uint8, converted per batch
        self.y = torch.from_numpy(y).to(self.device)
        self.Xte = torch.from_numpy(Xte).to(self.device)
        self.yte = torch.from_numpy(yte).to(self.device)
        torch.manual_seed(cfg.seed)
        self.memory = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = cnn.build_model(cfg.arch, 11 if cfg.negatives else 10).to(self.device, memory_format=self.memory)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                     weight_decay=cfg.weight_decay)
        self.gen: torch.Generator | None = None

    def learning_rate(self, step: int, total: int) -> float:
        return learning_rate(self.cfg, step, total)

    def start_epoch(self, epoch: int) -> torch.Tensor:
        order, self.gen, drop_seed = epoch_rngs(self.cfg.seed, epoch, self.n_train)
        torch.manual_seed(drop_seed)  # dropout draws from torch's global generator
        self.model.train()
        self.augmenting = self.cfg.augment and epoch <= self.cfg.epochs - clean_epochs(self.cfg)
        return torch.from_numpy(order).to(self.device)

    def step(self, idx: torch.Tensor, epoch: int, lr: float) -> loop.StepResult:
        xb, yb = cnn.to_input(self.X[idx], self.device), self.y[idx]  # (B,1,28,28), (B,)
        if self.augmenting:
            xb = shift_batch(xb, self.cfg.shift, self.gen) if self.cfg.shift else augment(xb, self.cfg.affine, self.gen)
        xb = xb.contiguous(memory_format=self.memory)
        for g in self.opt.param_groups:
            g["lr"] = lr
        z = self.model(xb)  # (B,10)
        loss_t = F.cross_entropy(z, yb, label_smoothing=self.cfg.label_smoothing)
        loss = float(loss_t.detach())
        if not bool(torch.isfinite(z).all()):
            loss = math.nan
        if math.isfinite(loss):
            self.opt.zero_grad(set_to_none=True)
            loss_t.backward()
            self.opt.step()
        return loop.StepResult(loss, int((z.argmax(1) == yb).sum()), len(yb))  # logits from before the step

    def evaluate(self) -> tuple[float, float]:
        return cnn.evaluate(self.model, self.Xte, self.yte)

    def params(self) -> dict[str, np.ndarray]:
        return cnn.state_to_numpy(self.model)

    def save_checkpoint(self, path: Path, loop_state: dict) -> None:
        state = {"format": cnn.CHECKPOINT_FORMAT, "arch": self.cfg.arch, "model": self.model.state_dict(),
                 "optimizer": self.opt.state_dict(), **loop_state}
        atomic_write_bytes(path, cnn.torch_bytes(state))

    def load_checkpoint(self, path: Path) -> dict:
        state = cnn.torch_load(path, "CNN checkpoint", self.device)
        cnn.check_arch(state, path, cnn.CHECKPOINT_FORMAT, "CNN checkpoint", self.cfg.arch)
        if isinstance(state.get("config"), dict):
            state["config"] = {**ADDED_FIELDS, **state["config"]}
        cnn.load_state(self.model, state["model"], f"weights in {path}")
        try:
            self.opt.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as e:
            raise UserError(f"{path}: optimizer state does not fit ({type(e).__name__}); "
                            "delete it to start over") from None
        return state

    def save_final(self, run_dir: Path) -> None:
        self.model.eval()
        cnn.save_model(run_dir / cnn.MODEL_NAME, self.model, self.cfg)

    def extra_metrics(self) -> dict:
        return {"arch": self.cfg.arch, "params": cnn.num_params(self.model),
                "classes": 11 if self.cfg.negatives else 10, "train_examples": self.n_train,
                "evaluated_on": "validation: MNIST train[50000:]" if self.cfg.validation else "MNIST test",
                "timings": {"device": str(self.device)}}


def training_data(cfg: CNNConfig, data: MNIST) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, labels, evaluation images, labels): MNIST train (its first 50k with `validation`, the
    rest then evaluates instead of test) plus the cached camera pool (core.camera_data) when asked for."""
    X, y = data.train_images, data.train_labels.astype(np.int64)
    Xte, yte = data.test_images, data.test_labels.astype(np.int64)
    if cfg.validation and len(y) == 60_000:
        from core.camera_data import TRAIN_DIGITS

        X, y, Xte, yte = X[:TRAIN_DIGITS], y[:TRAIN_DIGITS], X[TRAIN_DIGITS:], y[TRAIN_DIGITS:]
    if cfg.camera or cfg.negatives:
        from core.camera_data import cached_pool

        pool = cached_pool(cfg.camera, cfg.negatives, cfg.seed)
        X, y = np.concatenate([X, pool.images]), np.concatenate([y, pool.labels])
    return X, y, Xte, yte


def train(cfg: CNNConfig, data: MNIST, run_dir: Path | None = None) -> Iterator[loop.Record]:
    """Train the CNN with AdamW on augmented batches; checkpoint each epoch; resume from `run_dir` (core.loop)."""
    return loop.run(CNNTrainer(cfg, data), run_dir)


# --- CLI: python -m core train cnn -------------------------------------------------------------------


def train_args(p) -> None:
    d = CNNConfig()
    p.add_argument("--preset", choices=list(PRESETS), default="default", help="architecture and recipe")
    f = CNNConfig(**PRESETS["fast"])
    p.add_argument("--epochs", type=int, default=None,
                   help=f"passes over the training set (default: the preset's; {d.epochs}, fast {f.epochs})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"examples per step (default: the preset's; {d.batch_size}, fast {f.batch_size})")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW; warmup, then cosine; "
                   f"default: the preset's; {d.lr}, fast {f.lr})")
    p.add_argument("--weight-decay", type=float, default=None,
                   help=f"AdamW weight decay (default: the preset's; {d.weight_decay}, fast {f.weight_decay})")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train on the images as they are")
    p.add_argument("--clean-frac", type=float, default=None, help="fraction of the epochs, at the end, trained "
                   f"without augmentation (default: the preset's; {d.clean_frac}, fast {f.clean_frac})")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (init, order, augmentation, dropout)")
    p.add_argument("--camera", type=int, default=None, help="camera renderings of training digits to add "
                   "(default: the preset's)")
    p.add_argument("--negatives", type=int, default=None, help="'not a digit' examples to add as an 11th class "
                   "(default: the preset's)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--eval-every", type=int, default=None, help="also measure test accuracy every N steps")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: every usable core)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to train")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under runs/); "
                   "a folder holding a checkpoint is resumed")


def config_from_args(a) -> CNNConfig:
    names = {f.name for f in fields(CNNConfig)} - {"arch"}
    cfg = preset_config(a.preset, **{k: v for k, v in vars(a).items() if k in names and v is not None
                                     or k in ("max_steps", "eval_every", "threads")})
    validate(cfg)
    return cfg


def command_line(a) -> str:
    """The `python -m core train cnn ...` line that reproduces this run."""
    d = preset_config(a.preset)
    epochs = a.epochs if a.epochs is not None else d.epochs
    parts = ["python -m core train cnn", f"--preset {a.preset}", f"--epochs {epochs}", f"--seed {a.seed}"]
    for name in ("batch_size", "lr", "weight_decay", "clean_frac", "camera", "negatives"):
        if getattr(a, name) is not None and getattr(a, name) != getattr(d, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(a, name)}")
    if not a.augment:
        parts.append("--no-augment")
    for name in ("max_steps", "threads"):  # CPU sums depend on the thread count: same threads, same bits
        if getattr(a, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(a, name)}")
    return " ".join(parts + ([f"--out {a.out}"] if a.out else []))


def train_main(a) -> int:
    from core.data import load_mnist
    from core.storage import atomic_write_json, new_run_dir

    cfg = config_from_args(a)
    run_dir = new_run_dir(f"cnn-{cfg.arch}", a.out)
    data = load_mnist()
    n_train = len(training_data(cfg, data)[1])  # renders the camera pool first, when there is one to make
    metrics = loop.drive(train(cfg, data, run_dir), loop.total_steps(cfg, n_train),
                         f"train cnn ({a.preset}, {pick_device(cfg.device)})", "val" if cfg.validation else "test")
    metrics["command"] = command_line(a)
    atomic_write_json(run_dir / "metrics.json", metrics)
    acc = metrics["test_accuracy"]
    if acc is None:
        print(f"no epoch completed; run saved in {run_dir}")
        return 0
    print(f"{metrics['evaluated_on']} accuracy {acc:.4f} ({acc * 100:.2f} %) after "
          f"{metrics['timings']['train_seconds']:.1f} s of training; run saved in {run_dir}")
    return 0
