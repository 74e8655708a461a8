"""Phase 3: the phase-2 MLP translated to PyTorch, with proof that both compute the same numbers.

`nn.Linear` stores its weight as (out, in), the transpose of our `W` (in, out): W1 = fc1.weight.T.
The NumPy update (v <- mu·v + g + l2·W;  W <- W - lr·v) is exactly torch.optim.SGD with momentum
`mu`, dampening 0, no Nesterov and weight_decay `l2` on the weights only, so one step in each framework
from the same weights and batch leaves the same parameters. The torch trainer uses the NumPy trainer's
initialization, data order and learning-rate schedule, so their runs differ only by the framework.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import numpy_nets as nn_np
from core import train as train_np
from core.data import MNIST, flat
from core.errors import UserError
from core.numpy_nets import LossAndGrads, MLPParams, SoftmaxParams
from core.runtime import set_threads
from core.storage import atomic_write_json
from core.train import EpochMetrics, Finished, MLPConfig, Record, Snapshot, StepMetrics

# --- the modules ---------------------------------------------------------------------------------


class TorchMLP(nn.Module):
    """784-H-10 with ReLU. (N,784) or (N,1,28,28) in [0,1] -> (N,10) logits."""

    def __init__(self, hidden: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fc1 = nn.Linear(nn_np.D, hidden, dtype=dtype)
        self.fc2 = nn.Linear(hidden, nn_np.K, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = self.fc1(torch.flatten(x, 1))  # (N,784) -> (N,H)
        return self.fc2(torch.relu(z1))  # (N,H) -> (N,10)


class TorchSoftmax(nn.Module):
    """Softmax regression's logits. (N,784) or (N,1,28,28) -> (N,10)."""

    def __init__(self, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fc = nn.Linear(nn_np.D, nn_np.K, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(x, 1))


def _dtype(a: np.ndarray) -> torch.dtype:
    return torch.float64 if a.dtype == np.float64 else torch.float32


@torch.no_grad()
def from_numpy(p: MLPParams | SoftmaxParams) -> TorchMLP | TorchSoftmax:
    """A torch module holding a copy of NumPy parameters (same dtype); weights transposed to (out, in)."""
    if isinstance(p, SoftmaxParams):
        m = TorchSoftmax(_dtype(p.W))
        m.fc.weight.copy_(torch.from_numpy(p.W.T))
        m.fc.bias.copy_(torch.from_numpy(p.b))
        return m
    m = TorchMLP(p.W1.shape[1], _dtype(p.W1))
    m.fc1.weight.copy_(torch.from_numpy(p.W1.T))  # (H,784) <- (784,H).T
    m.fc1.bias.copy_(torch.from_numpy(p.b1))
    m.fc2.weight.copy_(torch.from_numpy(p.W2.T))  # (10,H) <- (H,10).T
    m.fc2.bias.copy_(torch.from_numpy(p.b2))
    return m


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def to_numpy(m: TorchMLP | TorchSoftmax) -> MLPParams | SoftmaxParams:
    """NumPy copy of a module's parameters, in the NumPy nets' (in, out) layout."""
    if isinstance(m, TorchSoftmax):
        return SoftmaxParams(W=_np(m.fc.weight).T.copy(), b=_np(m.fc.bias))
    return MLPParams(W1=_np(m.fc1.weight).T.copy(), b1=_np(m.fc1.bias),
                     W2=_np(m.fc2.weight).T.copy(), b2=_np(m.fc2.bias))


def _grads_numpy(m: TorchMLP | TorchSoftmax) -> MLPParams | SoftmaxParams:
    if isinstance(m, TorchSoftmax):
        return SoftmaxParams(W=_np(m.fc.weight.grad).T.copy(), b=_np(m.fc.bias.grad))
    return MLPParams(W1=_np(m.fc1.weight.grad).T.copy(), b1=_np(m.fc1.bias.grad),
                     W2=_np(m.fc2.weight.grad).T.copy(), b2=_np(m.fc2.bias.grad))


def _weights(m: nn.Module) -> list[nn.Parameter]:
    return [p for name, p in m.named_parameters() if name.endswith("weight")]


def _biases(m: nn.Module) -> list[nn.Parameter]:
    return [p for name, p in m.named_parameters() if name.endswith("bias")]


def sgd(m: nn.Module, lr: float, momentum: float, l2: float) -> torch.optim.SGD:
    """torch.optim.SGD doing what core.numpy_nets.sgd_step does: L2 (weight decay) on weights, not biases."""
    return torch.optim.SGD([{"params": _weights(m), "weight_decay": l2}, {"params": _biases(m), "weight_decay": 0.0}],
                           lr=lr, momentum=momentum, dampening=0.0, nesterov=False)


def l2_penalty(m: nn.Module, l2: float) -> torch.Tensor:
    """(l2/2)·Σ||W||², the term the NumPy loss adds (torch applies its gradient through weight_decay)."""
    return 0.5 * l2 * sum(w.square().sum() for w in _weights(m))


# --- the reference: autograd on the same weights ------------------------------------------------------


def torch_loss_and_grads(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    """What core.numpy_nets.loss_and_grads computes, by torch.autograd (in the parameters' dtype)."""
    m = from_numpy(p)
    x = torch.from_numpy(np.asarray(X, p.W1.dtype if isinstance(p, MLPParams) else p.W.dtype))
    loss = F.cross_entropy(m(x), torch.from_numpy(np.asarray(y, np.int64))) + l2_penalty(m, l2)
    loss.backward()
    return LossAndGrads(float(loss.detach()), _grads_numpy(m))


def torch_sgd_steps(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, lr: float, momentum: float,
                    l2: float, steps: int = 1) -> MLPParams | SoftmaxParams:
    """Parameters after `steps` torch.optim.SGD steps on the batch (X (B,784), y (B,))."""
    m = from_numpy(p)
    opt = sgd(m, lr, momentum, l2)
    x, t = torch.from_numpy(np.asarray(X, _np(next(m.parameters())).dtype)), torch.from_numpy(np.asarray(y, np.int64))
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(m(x), t).backward()  # weight decay adds l2·W to the weights' gradients
        opt.step()
    return to_numpy(m)


def numpy_sgd_steps(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, lr: float, momentum: float,
                    l2: float, steps: int = 1) -> MLPParams | SoftmaxParams:
    """Parameters after `steps` NumPy SGD steps on the batch (the phase-2 trainer's update)."""
    v = nn_np.tree_map(np.zeros_like, p)
    for _ in range(steps):
        _, g = nn_np.loss_and_grads(p, X, y, l2)
        p, v = nn_np.sgd_step(p, g, v, lr, momentum)
    return p


def max_abs_diff(a: MLPParams | SoftmaxParams | np.ndarray, b: MLPParams | SoftmaxParams | np.ndarray) -> float:
    """Largest |a - b| over every array of two parameter sets (or two arrays)."""
    if isinstance(a, np.ndarray):
        return float(np.max(np.abs(a - b))) if a.size else 0.0
    return max(max_abs_diff(x, y) for x, y in zip(nn_np.as_dict(a).values(), nn_np.as_dict(b).values(), strict=True))


@dataclass(frozen=True)
class Parity:
    """Max |NumPy - PyTorch| over the same weights and batch."""

    logits_f32: float  # forward pass, float32
    loss_f64: float  # cross-entropy + L2, float64
    grads_f64: float  # every gradient, float64
    step_f64: float  # parameters after one SGD step (momentum, L2), float64
    steps3_f64: float  # after three steps on the same batch: exercises the momentum buffer


TOLERANCES = {"logits_f32": 1e-5, "loss_f64": 1e-9, "grads_f64": 1e-6, "step_f64": 1e-9, "steps3_f64": 1e-9}


def parity(p: MLPParams, X: np.ndarray, y: np.ndarray, lr: float = 0.1, momentum: float = 0.9,
           l2: float = 1e-4) -> Parity:
    """Compare the NumPy MLP with TorchMLP on one batch (X (B,784) in [0,1], y (B,))."""
    p32 = nn_np.tree_map(lambda a: a.astype(np.float32), p)
    p64 = nn_np.tree_map(lambda a: a.astype(np.float64), p)
    X32, X64 = X.astype(np.float32), X.astype(np.float64)
    with torch.no_grad():
        z_torch = from_numpy(p32)(torch.from_numpy(X32)).numpy()
    loss_np, g_np = nn_np.loss_and_grads(p64, X64, y, l2)
    loss_t, g_t = torch_loss_and_grads(p64, X64, y, l2)
    return Parity(
        logits_f32=max_abs_diff(nn_np.logits(p32, X32), z_torch),
        loss_f64=abs(loss_np - loss_t),
        grads_f64=max_abs_diff(g_np, g_t),
        step_f64=max_abs_diff(numpy_sgd_steps(p64, X64, y, lr, momentum, l2),
                              torch_sgd_steps(p64, X64, y, lr, momentum, l2)),
        steps3_f64=max_abs_diff(numpy_sgd_steps(p64, X64, y, lr, momentum, l2, 3),
                                torch_sgd_steps(p64, X64, y, lr, momentum, l2, 3)),
    )


# --- the trainer ---------------------------------------------------------------------------------------


def _velocity_numpy(opt: torch.optim.SGD, m: TorchMLP) -> MLPParams:
    """The optimizer's momentum buffers in NumPy layout (zeros before the first step)."""
    def buf(t: nn.Parameter) -> torch.Tensor:
        b = opt.state.get(t, {}).get("momentum_buffer")
        return torch.zeros_like(t) if b is None else b

    return MLPParams(W1=_np(buf(m.fc1.weight)).T.copy(), b1=_np(buf(m.fc1.bias)),
                     W2=_np(buf(m.fc2.weight)).T.copy(), b2=_np(buf(m.fc2.bias)))


def _set_velocity(opt: torch.optim.SGD, m: TorchMLP, v: MLPParams) -> None:
    for t, a in ((m.fc1.weight, v.W1.T), (m.fc1.bias, v.b1), (m.fc2.weight, v.W2.T), (m.fc2.bias, v.b2)):
        opt.state[t]["momentum_buffer"] = torch.from_numpy(np.ascontiguousarray(a, np.float32)).clone()


def train(cfg: MLPConfig, data: MNIST, run_dir: Path | None = None) -> Iterator[Record]:
    """Train TorchMLP with the NumPy trainer's recipe: same init, data order, schedule, checkpoints and records."""
    if not isinstance(cfg, MLPConfig):
        raise UserError("the torch trainer trains the MLP; give it an MLPConfig")
    train_np.validate_config(cfg)
    threads = set_threads(cfg.threads)
    X, y = flat(data.train_images), data.train_labels.astype(np.int64)  # (60000,784) float32
    Xte, yte = flat(data.test_images), data.test_labels.astype(np.intp)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    steps_per_epoch = math.ceil(len(X) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    params = nn_np.init_mlp(np.random.default_rng(cfg.seed), cfg.hidden)  # the NumPy trainer's init
    velocity = None
    history: list[dict] = []
    step, first_epoch, t_prev, train_prev = 0, 1, 0.0, 0.0
    ckpt = run_dir / "checkpoint.npz" if run_dir else None
    if ckpt and ckpt.exists():
        params, velocity, state = train_np.load_checkpoint(ckpt, cfg)
        if not train_np.same_recipe(state["config"], asdict(cfg)):
            raise UserError(f"{run_dir} holds a run with a different config; use another --out folder")
        step, first_epoch, history = state["step"], state["epoch"] + 1, state["history"]
        t_prev, train_prev = state["elapsed"], state["train_seconds"]
    model = from_numpy(params)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.l2)
    if velocity is not None:
        _set_velocity(opt, model, velocity)
    t0 = time.perf_counter() - t_prev
    train_seconds = train_prev
    yield Snapshot(step, first_epoch - 1, to_numpy(model))
    for epoch in range(first_epoch, cfg.epochs + 1):
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(X)))
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            t_step = time.perf_counter()
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb, yb = Xt[idx], yt[idx]  # (B,784), (B,)
            lr = train_np.learning_rate(cfg, step, total)
            for g in opt.param_groups:
                g["lr"] = lr
            z = model(xb)  # (B,10)
            ce = F.cross_entropy(z, yb)
            opt.zero_grad(set_to_none=True)
            ce.backward()
            with torch.no_grad():
                loss = float(ce) + float(l2_penalty(model, cfg.l2))  # what the NumPy trainer reports
            if not math.isfinite(loss):
                raise UserError(
                    f"loss became {loss} at step {step + 1} (learning rate {cfg.lr} too high?); "
                    + (f"last good checkpoint kept in {run_dir}" if run_dir else "nothing was saved")
                )
            opt.step()
            train_seconds += time.perf_counter() - t_step
            step += 1
            loss_sum += loss * len(yb)
            seen += len(yb)
            correct += int((z.argmax(1) == yb).sum())  # logits from before this step
            ex_s = step * cfg.batch_size / max(train_seconds, 1e-9)
            if step % cfg.log_every == 0:
                yield StepMetrics(step, epoch, loss, lr, time.perf_counter() - t0, ex_s)
            if step % cfg.snapshot_every == 0:
                yield Snapshot(step, epoch, to_numpy(model))
        if seen == 0:
            break
        params = to_numpy(model)
        test_loss, test_acc = train_np.evaluate(params, Xte, yte)
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
            train_np.save_checkpoint(ckpt, params, _velocity_numpy(opt, model), state)
        yield rec
        yield Snapshot(step, epoch, params)
        if not complete:
            break
    params = to_numpy(model)
    metrics = train_np.run_metrics(cfg, params, history, threads) | {"model": "torch-mlp", "framework": "pytorch"}
    if run_dir:
        train_np.save_weights(run_dir / "weights.npz", params)
        atomic_write_json(run_dir / "metrics.json", metrics)
    yield Finished(params, metrics, run_dir)


# --- CLI: python -m core train torch-mlp ----------------------------------------------------------------


def train_args(p) -> None:
    train_np.add_config_args(p, MLPConfig)
    p.add_argument("--numpy-run", type=Path, default=None, metavar="DIR",
                   help="compare with this saved `train mlp` run instead of training the NumPy MLP here")
    p.add_argument("--no-numpy", action="store_true", help="skip the side-by-side NumPy run")


def _run(trainer, cfg: MLPConfig, data: MNIST, run_dir: Path | None, desc: str) -> dict:
    return train_np.drive(trainer(cfg, data, run_dir), train_np.total_steps(cfg.batch_size, cfg.epochs, cfg.max_steps),
                          desc)


def train_main(a) -> int:
    from core.data import load_mnist
    from core.storage import new_run_dir, read_json

    cfg = train_np.config_from_args(a, MLPConfig)
    train_np.validate_config(cfg)
    run_dir = new_run_dir("torch-mlp", a.out)
    data = load_mnist()
    ours = _run(train, cfg, data, run_dir, "torch MLP")
    if a.numpy_run:
        theirs = read_json(Path(a.numpy_run) / "metrics.json", "NumPy run metrics")
        if not train_np.same_recipe(theirs.get("config", {}), asdict(cfg)):
            print(f"note: {a.numpy_run} was trained with a different config; the comparison is not like for like")
    elif not a.no_numpy:
        theirs = _run(train_np.train, cfg, data, None, "NumPy MLP")
    else:
        theirs = None
    rows = [("PyTorch", ours)] + ([("NumPy", theirs)] if theirs else [])
    if theirs:
        ours["numpy_comparison"] = {k: theirs.get(k) for k in ("test_accuracy", "timings", "config")}
        atomic_write_json(run_dir / "metrics.json", ours)
    print(f"{'framework':<10} {'test acc':>9} {'train s':>9} {'examples/s':>11} {'threads':>8}")
    for name, m in rows:
        t = m.get("timings", {})
        acc = m.get("test_accuracy")
        print(f"{name:<10} {acc * 100 if acc is not None else float('nan'):8.2f}% {t.get('train_seconds') or 0:9.1f} "
              f"{t.get('examples_per_s') or 0:11,.0f} {t.get('threads') or '-':>8}")
    print(f"run saved in {run_dir}")
    return 0


# --- CLI: python -m core parity --------------------------------------------------------------------------


def parity_args(p) -> None:
    d = MLPConfig()
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units H")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="examples in the batch")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate of the compared SGD step")
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum")
    p.add_argument("--l2", type=float, default=d.l2, help="weight decay on weights")
    p.add_argument("--seed", type=int, default=d.seed, help="weights (He init) and which batch")


def parity_main(a) -> int:
    from core.data import load_mnist

    if not 1 <= a.hidden <= 8192 or not 1 <= a.batch_size <= 60_000:
        raise UserError("hidden units must be in 1..8192 and batch size in 1..60000")
    data = load_mnist()
    idx = np.random.default_rng([a.seed, 1]).permutation(60_000)[: a.batch_size]  # the trainer's first batch
    X, y = flat(data.train_images[idx], np.float64), data.train_labels[idx].astype(np.intp)
    p = nn_np.init_mlp(np.random.default_rng(a.seed), a.hidden, np.float64)
    r = parity(p, X, y, a.lr, a.momentum, a.l2)
    print(f"NumPy MLP vs PyTorch, 784-{a.hidden}-10, batch {a.batch_size}, lr {a.lr}, momentum {a.momentum}, "
          f"l2 {a.l2}")
    ok = True
    for name, value in asdict(r).items():
        good = value <= TOLERANCES[name]
        ok &= good
        print(f"  max |diff| {name:<11} {value:.3e}  (tolerance {TOLERANCES[name]:.0e}) {'ok' if good else 'FAIL'}")
    return 0 if ok else 1
