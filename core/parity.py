"""Phase 3's proof: the NumPy MLP and the PyTorch MLP compute the same numbers on the same weights.

Forward logits (float32), loss, every gradient by torch.autograd against the hand-written backward
(float64), and the parameters after one and three SGD steps with momentum and L2. `python -m core parity`
prints each max |difference| against its tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core import numpy_nets
from core.data import flat
from core.numpy_nets import LossAndGrads, MLPParams, SoftmaxParams
from core.numpy_train import MLPConfig, add_flags, epoch_order, validate_config
from core.torch_mlp import from_numpy, grads_numpy, l2_penalty, sgd, to_numpy

# --- the reference: autograd on the same weights ------------------------------------------------------


def torch_loss_and_grads(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    """What core.numpy_nets.loss_and_grads computes, by torch.autograd (in the parameters' dtype)."""
    m = from_numpy(p)
    x = torch.from_numpy(np.asarray(X, p.W1.dtype if isinstance(p, MLPParams) else p.W.dtype))
    loss = F.cross_entropy(m(x), torch.from_numpy(np.asarray(y, np.int64))) + l2_penalty(m, l2)
    loss.backward()
    return LossAndGrads(float(loss.detach()), grads_numpy(m))


def torch_sgd_steps(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, lr: float, momentum: float,
                    l2: float, steps: int = 1) -> MLPParams | SoftmaxParams:
    """Parameters after `steps` torch.optim.SGD steps on the batch (X (B,784), y (B,))."""
    m = from_numpy(p)
    opt = sgd(m, lr, momentum, l2)
    dtype = p.W1.dtype if isinstance(p, MLPParams) else p.W.dtype
    x, t = torch.from_numpy(np.asarray(X, dtype)), torch.from_numpy(np.asarray(y, np.int64))
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(m(x), t).backward()  # weight decay adds l2·W to the weights' gradients
        opt.step()
    return to_numpy(m)


def numpy_sgd_steps(p: MLPParams | SoftmaxParams, X: np.ndarray, y: np.ndarray, lr: float, momentum: float,
                    l2: float, steps: int = 1) -> MLPParams | SoftmaxParams:
    """Parameters after `steps` NumPy SGD steps on the batch (the phase-2 trainer's update)."""
    v = numpy_nets.tree_map(np.zeros_like, p)
    for _ in range(steps):
        _, g = numpy_nets.loss_and_grads(p, X, y, l2)
        p, v = numpy_nets.sgd_step(p, g, v, lr, momentum)
    return p


def max_abs_diff(a: MLPParams | SoftmaxParams | np.ndarray, b: MLPParams | SoftmaxParams | np.ndarray) -> float:
    """Largest |a - b| over every array of two parameter sets (or two arrays)."""
    if isinstance(a, np.ndarray):
        return float(np.max(np.abs(a - b))) if a.size else 0.0
    pairs = zip(numpy_nets.as_dict(a).values(), numpy_nets.as_dict(b).values(), strict=True)
    return max(max_abs_diff(x, y) for x, y in pairs)


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
    p32 = numpy_nets.tree_map(lambda a: a.astype(np.float32), p)
    p64 = numpy_nets.tree_map(lambda a: a.astype(np.float64), p)
    X32, X64 = X.astype(np.float32), X.astype(np.float64)
    with torch.no_grad():
        z_torch = from_numpy(p32)(torch.from_numpy(X32)).numpy()
    loss_np, g_np = numpy_nets.loss_and_grads(p64, X64, y, l2)
    loss_t, g_t = torch_loss_and_grads(p64, X64, y, l2)
    return Parity(
        logits_f32=max_abs_diff(numpy_nets.logits(p32, X32), z_torch),
        loss_f64=abs(loss_np - loss_t),
        grads_f64=max_abs_diff(g_np, g_t),
        step_f64=max_abs_diff(numpy_sgd_steps(p64, X64, y, lr, momentum, l2),
                              torch_sgd_steps(p64, X64, y, lr, momentum, l2)),
        steps3_f64=max_abs_diff(numpy_sgd_steps(p64, X64, y, lr, momentum, l2, 3),
                                torch_sgd_steps(p64, X64, y, lr, momentum, l2, 3)),
    )


# --- CLI: python -m core parity --------------------------------------------------------------------------


def parity_args(p) -> None:
    add_flags(p, MLPConfig(), ("hidden", "batch_size", "lr", "momentum", "l2", "seed"))  # seed: weights and batch


def parity_main(a) -> int:
    from core.data import load_mnist

    validate_config(MLPConfig(hidden=a.hidden, batch_size=a.batch_size, lr=a.lr, momentum=a.momentum, l2=a.l2,
                              seed=a.seed))
    data = load_mnist()
    idx = epoch_order(a.seed, 1, 60_000)[: a.batch_size]  # the trainer's first batch
    X, y = flat(data.train_images[idx], np.float64), data.train_labels[idx].astype(np.intp)
    p = numpy_nets.init_mlp(np.random.default_rng(a.seed), a.hidden, np.float64)
    r = parity(p, X, y, a.lr, a.momentum, a.l2)
    print(f"NumPy MLP vs PyTorch, 784-{a.hidden}-10, batch {a.batch_size}, lr {a.lr}, momentum {a.momentum}, "
          f"l2 {a.l2}")
    ok = True
    for name, value in asdict(r).items():
        good = value <= TOLERANCES[name]
        ok &= good
        print(f"  max |diff| {name:<11} {value:.3e}  (tolerance {TOLERANCES[name]:.0e}) {'ok' if good else 'FAIL'}")
    return 0 if ok else 1
