"""Phase 3: the phase-2 MLP translated to PyTorch (core.parity proves both compute the same numbers).

`nn.Linear` stores its weight as (out, in), the transpose of our `W` (in, out): W1 = fc1.weight.T.
The NumPy update (v <- mu·v + g + l2·W;  W <- W - lr·v) is exactly torch.optim.SGD with momentum
`mu`, dampening 0, no Nesterov and weight_decay `l2` on the weights only, so one step in each framework
from the same weights and batch leaves the same parameters. The torch trainer uses the NumPy trainer's
initialization, data order and learning-rate schedule, so their runs differ only by the framework.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import loop, numpy_nets, numpy_train
from core.data import MNIST, flat
from core.errors import UserError
from core.numpy_nets import MLPParams, SoftmaxParams
from core.numpy_train import MLPConfig
from core.storage import atomic_write_json

# --- the modules ---------------------------------------------------------------------------------


class TorchMLP(nn.Module):
    """784-H-10 with ReLU. (N,784) or (N,1,28,28) in [0,1] -> (N,10) logits."""

    def __init__(self, hidden: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fc1 = nn.Linear(numpy_nets.D, hidden, dtype=dtype)
        self.fc2 = nn.Linear(hidden, numpy_nets.K, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = self.fc1(torch.flatten(x, 1))  # (N,784) -> (N,H)
        return self.fc2(torch.relu(z1))  # (N,H) -> (N,10)


class TorchSoftmax(nn.Module):
    """Softmax regression's logits. (N,784) or (N,1,28,28) -> (N,10)."""

    def __init__(self, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fc = nn.Linear(numpy_nets.D, numpy_nets.K, dtype=dtype)

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


def grads_numpy(m: TorchMLP | TorchSoftmax) -> MLPParams | SoftmaxParams:
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


class TorchMLPTrainer:
    """core.loop's Trainer for TorchMLP with the NumPy trainer's recipe: same init, data order, schedule,
    checkpoint format and records, so the two runs differ only by the framework."""

    checkpoint_name = "checkpoint.npz"
    kind = "torch-mlp"

    def __init__(self, cfg: MLPConfig, data: MNIST):
        if not isinstance(cfg, MLPConfig):
            raise UserError("the torch trainer trains the MLP; give it an MLPConfig")
        numpy_train.validate_config(cfg)
        self.cfg = cfg
        X, self.y = flat(data.train_images), torch.from_numpy(data.train_labels.astype(np.int64))
        self.X = torch.from_numpy(X)  # (N,784) float32
        self.Xte, self.yte = flat(data.test_images), data.test_labels.astype(np.intp)
        self.n_train = len(X)
        self.model = from_numpy(numpy_nets.init_mlp(np.random.default_rng(cfg.seed), cfg.hidden))  # NumPy's init
        self.opt = sgd(self.model, cfg.lr, cfg.momentum, cfg.l2)

    def learning_rate(self, step: int, total: int) -> float:
        return numpy_train.learning_rate(self.cfg, step, total)

    def start_epoch(self, epoch: int) -> torch.Tensor:
        return torch.from_numpy(numpy_train.epoch_order(self.cfg.seed, epoch, self.n_train))

    def step(self, idx: torch.Tensor, epoch: int, lr: float) -> loop.StepResult:
        xb, yb = self.X[idx], self.y[idx]  # (B,784), (B,)
        for g in self.opt.param_groups:
            g["lr"] = lr
        z = self.model(xb)  # (B,10)
        ce = F.cross_entropy(z, yb)
        self.opt.zero_grad(set_to_none=True)
        ce.backward()
        with torch.no_grad():
            loss = float(ce) + float(l2_penalty(self.model, self.cfg.l2))  # what the NumPy trainer reports
        if math.isfinite(loss):
            self.opt.step()
        return loop.StepResult(loss, int((z.argmax(1) == yb).sum()), len(yb))  # logits from before the step

    def evaluate(self) -> tuple[float, float]:
        return numpy_train.evaluate(to_numpy(self.model), self.Xte, self.yte)

    def params(self) -> MLPParams:
        return to_numpy(self.model)

    def save_checkpoint(self, path: Path, loop_state: dict) -> None:
        numpy_train.save_checkpoint(path, to_numpy(self.model), _velocity_numpy(self.opt, self.model), loop_state)

    def load_checkpoint(self, path: Path) -> dict:
        params, velocity, state = numpy_train.load_checkpoint(path, self.cfg)
        self.model = from_numpy(params)
        self.opt = sgd(self.model, self.cfg.lr, self.cfg.momentum, self.cfg.l2)
        _set_velocity(self.opt, self.model, velocity)
        return state

    def save_final(self, run_dir: Path) -> None:
        numpy_train.save_weights(run_dir / numpy_train.WEIGHTS_NAME, to_numpy(self.model))

    def extra_metrics(self) -> dict:
        return {"params": numpy_nets.num_params(to_numpy(self.model)), "framework": "pytorch"}


def train(cfg: MLPConfig, data: MNIST, run_dir: Path | None = None) -> Iterator[loop.Record]:
    """Train TorchMLP with the NumPy trainer's recipe (core.loop records)."""
    return loop.run(TorchMLPTrainer(cfg, data), run_dir)


# --- CLI: python -m core train torch-mlp ----------------------------------------------------------------


def train_args(p) -> None:
    numpy_train.add_config_args(p, MLPConfig)
    p.add_argument("--numpy-run", type=Path, default=None, metavar="DIR",
                   help="compare with this saved `train mlp` run instead of training the NumPy MLP here")
    p.add_argument("--no-numpy", action="store_true", help="skip the side-by-side NumPy run")


def _run(trainer, cfg: MLPConfig, data: MNIST, run_dir: Path | None, desc: str) -> dict:
    return loop.drive(trainer(cfg, data, run_dir), loop.total_steps(cfg), desc)


def train_main(a) -> int:
    from core.data import load_mnist
    from core.storage import new_run_dir, read_json

    cfg = numpy_train.config_from_args(a, MLPConfig)
    numpy_train.validate_config(cfg)
    run_dir = new_run_dir("torch-mlp", a.out)
    data = load_mnist()
    ours = _run(train, cfg, data, run_dir, "torch MLP")
    if a.numpy_run:
        theirs = read_json(Path(a.numpy_run) / "metrics.json", "NumPy run metrics")
        if not loop.same_recipe(theirs.get("config", {}), asdict(cfg)):
            print(f"note: {a.numpy_run} was trained with a different config; the comparison is not like for like")
    elif not a.no_numpy:
        theirs = _run(numpy_train.train, cfg, data, None, "NumPy MLP")
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


