"""The one training loop: every trainer (NumPy softmax/MLP, PyTorch MLP, CNN) runs through `run`.

A trainer supplies its model-specific parts (`Trainer`): its state, one optimizer step on a batch of
training indices, evaluation, checkpoints and final weights. The loop owns the plumbing they share:
epochs and step limits, the learning-rate step count, timing (training compute vs wall time),
divergence, mid-epoch evaluation, checkpoints after every complete epoch, resuming from them, the run's
metrics.json and the records it yields. The lesson of each phase stays in its own module
(core.numpy_nets for the hand-written math); this is only the plumbing.

Records: `StepMetrics` every `log_every` steps, `EvalMetrics` every `eval_every` steps when the config
asks, `EpochMetrics` after each epoch, `Snapshot`s of the weights, and a final `Finished`. The dashboard
draws them live, the CLI draws a progress bar (`drive`), tests consume a few steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from core.errors import UserError
from core.runtime import machine_info, set_threads
from core.storage import atomic_write_json, remove_stale_temporaries

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
    test_accuracy: float  # fraction of the evaluation set
    elapsed: float
    train_seconds: float  # training compute only
    examples_per_s: float


@dataclass(frozen=True)
class EvalMetrics:
    """A measurement taken mid-epoch (the config's eval_every), for time-to-accuracy curves."""

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


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step reports: the batch's loss (before the update) and how many it got right."""

    loss: float  # non-finite means the run diverged
    correct: int
    examples: int


# --- what a trainer supplies ------------------------------------------------------------------------


class Trainer(Protocol):
    """A model's side of the loop. `cfg` must have the fields `common_problems` checks, plus seed and threads."""

    cfg: object
    kind: str  # run-folder prefix and metrics' "model": "softmax", "mlp", "torch-mlp", "cnn-default", ...
    n_train: int  # training examples per epoch
    checkpoint_name: str  # file in the run folder

    def learning_rate(self, step: int, total: int) -> float: ...

    def start_epoch(self, epoch: int) -> object:
        """Prepare the epoch (shuffling, augmentation and dropout RNGs); return the order of training indices."""

    def step(self, idx: object, epoch: int, lr: float) -> StepResult: ...

    def evaluate(self) -> tuple[float, float]:
        """(mean loss, accuracy) on the evaluation set, in eval mode."""

    def params(self) -> object:
        """A snapshot of the parameters that later steps never mutate."""

    def save_checkpoint(self, path: Path, loop_state: dict) -> None: ...

    def load_checkpoint(self, path: Path) -> dict:
        """Restore model and optimizer state from `path`; return the loop state saved with them."""

    def save_final(self, run_dir: Path) -> None: ...

    def extra_metrics(self) -> dict:
        """Model-specific fields of metrics.json (params, architecture, device, ...)."""


# --- configuration checks shared by every trainer ------------------------------------------------------

RUNTIME_FIELDS = {"max_steps", "eval_every", "log_every", "snapshot_every", "threads", "device"}  # don't change
# the numbers a run produces, so they may differ when a run is resumed


def common_problems(cfg) -> list[str]:
    """What is wrong with the fields every trainer's config has (epochs, batch, lr, seed, step limit, intervals)."""
    problems = []
    if cfg.epochs < 1:
        problems.append("epochs must be >= 1")
    if not 1 <= cfg.batch_size <= 60_000:
        problems.append("batch size must be in 1..60000")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        problems.append("learning rate must be a positive number")
    if not 0 <= cfg.seed < 2**32:
        problems.append("seed must be in 0..2**32-1")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        problems.append("max steps must be >= 1")
    if cfg.log_every < 1 or cfg.snapshot_every < 1:
        problems.append("log/snapshot intervals must be >= 1")
    if getattr(cfg, "eval_every", None) is not None and cfg.eval_every < 1:
        problems.append("eval every must be >= 1")
    if cfg.threads is not None and not 0 <= cfg.threads <= 1024:
        problems.append("threads must be in 0..1024 (0 = all usable cores)")
    return problems


def same_recipe(a: dict, b: dict) -> bool:
    """Whether two configs (as dicts) produce the same numbers: equal but for the runtime fields."""
    return {k: v for k, v in a.items() if k not in RUNTIME_FIELDS} == {
        k: v for k, v in b.items() if k not in RUNTIME_FIELDS
    }


def total_steps(cfg, n_train: int = 60_000) -> int:
    """Optimizer steps a run of `cfg` takes: ceil(n_train / batch) per epoch, capped by max_steps."""
    total = math.ceil(n_train / cfg.batch_size) * cfg.epochs
    return min(total, cfg.max_steps) if cfg.max_steps else total


def first_reaching(evals: list[dict], history: list[dict], target: float) -> dict | None:
    """The earliest measurement (mid-epoch or end of epoch) with test accuracy >= target, or None."""
    points = sorted(evals + history, key=lambda r: r["step"])
    return next((r for r in points if r["test_accuracy"] >= target), None)


# --- the loop ----------------------------------------------------------------------------------------------


def run(t: Trainer, run_dir: Path | None = None) -> Iterator[Record]:
    """Train `t` for its config's epochs; checkpoint after each complete epoch into `run_dir` and resume from it."""
    cfg = t.cfg
    threads = set_threads(cfg.threads)
    steps_per_epoch = math.ceil(t.n_train / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    eval_every = getattr(cfg, "eval_every", None)
    history: list[dict] = []
    evals: list[dict] = []
    step, first_epoch, t_prev, train_prev = 0, 1, 0.0, 0.0
    ckpt = run_dir / t.checkpoint_name if run_dir else None
    if run_dir:
        remove_stale_temporaries(run_dir)  # a run killed while writing leaves .*.tmp files behind
    if ckpt and ckpt.exists():
        state = t.load_checkpoint(ckpt)
        if not same_recipe(state.get("config", {}), asdict(cfg)):
            raise UserError(f"{run_dir} holds a run with a different config; use another --out folder")
        step, first_epoch = int(state["step"]), int(state["epoch"]) + 1
        history, evals = list(state["history"]), list(state.get("evals", []))
        t_prev, train_prev = float(state["elapsed"]), float(state["train_seconds"])
    t0 = time.perf_counter() - t_prev
    train_seconds = train_prev
    yield Snapshot(step, first_epoch - 1, t.params())

    for epoch in range(first_epoch, cfg.epochs + 1):
        order = t.start_epoch(epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            t_step = time.perf_counter()
            lr = t.learning_rate(step, total)
            r = t.step(order[i * cfg.batch_size : (i + 1) * cfg.batch_size], epoch, lr)
            if not math.isfinite(r.loss):
                raise UserError(diverged(r.loss, step + 1, lr, ckpt))
            train_seconds += time.perf_counter() - t_step
            step += 1
            loss_sum += r.loss * r.examples
            seen += r.examples
            correct += r.correct
            if step % cfg.log_every == 0:
                ex_s = step * cfg.batch_size / max(train_seconds, 1e-9)
                yield StepMetrics(step, epoch, r.loss, lr, time.perf_counter() - t0, ex_s)
            if eval_every and step % eval_every == 0:
                test_loss, test_acc = t.evaluate()
                if not math.isfinite(test_loss):  # the last update overflowed the weights
                    raise UserError(diverged(test_loss, step, lr, ckpt))
                rec = EvalMetrics(step, epoch, test_loss, test_acc, time.perf_counter() - t0, train_seconds)
                evals.append(asdict(rec))
                yield rec
            if step % cfg.snapshot_every == 0:
                yield Snapshot(step, epoch, t.params())
        if seen == 0:
            break
        test_loss, test_acc = t.evaluate()
        if not math.isfinite(test_loss):  # the last update overflowed the weights
            raise UserError(diverged(test_loss, step, lr, ckpt))
        rec = EpochMetrics(
            epoch=epoch, step=step, train_loss=loss_sum / seen, train_accuracy=correct / seen,
            test_loss=test_loss, test_accuracy=test_acc, elapsed=time.perf_counter() - t0,
            train_seconds=train_seconds, examples_per_s=step * cfg.batch_size / max(train_seconds, 1e-9),
        )
        history.append(asdict(rec))
        complete = seen == t.n_train
        if ckpt and complete:
            t.save_checkpoint(ckpt, {"config": asdict(cfg), "step": step, "epoch": epoch, "history": history,
                                     "evals": evals, "elapsed": rec.elapsed, "train_seconds": train_seconds})
        yield rec
        yield Snapshot(step, epoch, t.params())
        if not complete:
            break
    metrics = run_metrics(t, history, evals, threads)
    if run_dir:
        t.save_final(run_dir)
        atomic_write_json(run_dir / "metrics.json", metrics)
    yield Finished(t.params(), metrics, run_dir)


def diverged(loss: float, step: int, lr: float, ckpt: Path | None) -> str:
    """The one-line message for a run whose loss stopped being a number, saying what was kept."""
    kept = (f"last good checkpoint kept in {ckpt.parent}" if ckpt is not None and ckpt.exists()
            else "no checkpoint was saved yet")
    return f"loss became {loss} (non-finite logits) at step {step}, learning rate {lr:.3g} too high?; {kept}"


def run_metrics(t: Trainer, history: list[dict], evals: list[dict], threads: int) -> dict:
    """What metrics.json holds: final figures, config, timings, history, machine, and the trainer's own fields."""
    last = history[-1] if history else {}
    hit = first_reaching(evals, history, 0.99)
    extra = t.extra_metrics()
    return {
        "model": t.kind,
        "test_accuracy": last.get("test_accuracy"),
        "test_loss": last.get("test_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "epochs_completed": last.get("epoch", 0),
        "steps": last.get("step", 0),
        **{k: v for k, v in extra.items() if k != "timings"},
        "config": asdict(t.cfg),
        "timings": {
            "wall_seconds": last.get("elapsed"),
            "train_seconds": last.get("train_seconds"),
            "examples_per_s": last.get("examples_per_s"),
            "train_seconds_to_99": hit["train_seconds"] if hit else None,
            "threads": threads,
            **extra.get("timings", {}),
        },
        "history": history,
        "evals": evals,
        "machine": machine_info(),
    }


# --- the CLI's view ----------------------------------------------------------------------------------------


def drive(records: Iterator[Record], total: int, desc: str, held_out: str = "test") -> dict:
    """Consume a trainer's records with a tqdm progress bar (the CLIs' view); return the final metrics.
    `held_out` names the set the records' held-out accuracy was measured on ("test", or "val" for a validation
    split)."""
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
                bar.write(f"{desc} step {rec.step}: {held_out} acc {rec.test_accuracy:.4f} "
                          f"({rec.train_seconds:.1f} s training)")
            elif isinstance(rec, EpochMetrics):
                bar.n = rec.step
                bar.refresh()
                bar.write(f"{desc} epoch {rec.epoch}: train acc {rec.train_accuracy:.4f}  "
                          f"{held_out} acc {rec.test_accuracy:.4f}  ({rec.train_seconds:.1f} s training, "
                          f"{rec.elapsed:.1f} s wall)")
            elif isinstance(rec, Finished):
                metrics = rec.metrics
    return metrics
