"""Phases 1-2: softmax regression and a 784-H-10 MLP, every derivative written by hand in NumPy.

Pure functions: forward returns a cache, backward returns gradients, the update returns new
parameters. Nothing mutates its inputs. Shapes: B = batch, D = 784 inputs, H = hidden units, K = 10.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple, TypeVar

import numpy as np

D, K = 784, 10


@dataclass(frozen=True)
class SoftmaxParams:
    W: np.ndarray  # (D, K)
    b: np.ndarray  # (K,)


@dataclass(frozen=True)
class MLPParams:
    W1: np.ndarray  # (D, H)
    b1: np.ndarray  # (H,)
    W2: np.ndarray  # (H, K)
    b2: np.ndarray  # (K,)


Params = TypeVar("Params", SoftmaxParams, MLPParams)


class MLPCache(NamedTuple):
    X: np.ndarray  # (B, D)
    Z1: np.ndarray  # (B, H) pre-activation
    A1: np.ndarray  # (B, H) ReLU(Z1)
    Z2: np.ndarray  # (B, K) logits


class LossAndGrads(NamedTuple):
    loss: float  # mean cross-entropy + L2 penalty
    grads: SoftmaxParams | MLPParams  # same structure as the parameters


# --- parameters as a tiny pytree -------------------------------------------------------------


def tree_map(fn, *trees: Params) -> Params:
    """Apply `fn` field-wise across parameter dataclasses of the same type."""
    first = trees[0]
    return replace(first, **{f.name: fn(*(getattr(t, f.name) for t in trees)) for f in fields(first)})


def as_dict(p: SoftmaxParams | MLPParams) -> dict[str, np.ndarray]:
    return {f.name: getattr(p, f.name) for f in fields(p)}


def weight_names(p: SoftmaxParams | MLPParams) -> tuple[str, ...]:
    """Fields L2 applies to (weights, not biases)."""
    return tuple(f.name for f in fields(p) if f.name.startswith("W"))


def num_params(p: SoftmaxParams | MLPParams) -> int:
    return sum(a.size for a in as_dict(p).values())


def init_softmax(dtype: type = np.float32) -> SoftmaxParams:
    """Zeros: the loss is convex, so no symmetry needs breaking."""
    return SoftmaxParams(W=np.zeros((D, K), dtype), b=np.zeros(K, dtype))


def init_mlp(rng: np.random.Generator, hidden: int, dtype: type = np.float32) -> MLPParams:
    """He (Kaiming) normal init for ReLU layers: std = sqrt(2 / fan_in); biases zero."""
    return MLPParams(
        W1=(rng.standard_normal((D, hidden)) * np.sqrt(2.0 / D)).astype(dtype),
        b1=np.zeros(hidden, dtype),
        W2=(rng.standard_normal((hidden, K)) * np.sqrt(2.0 / hidden)).astype(dtype),
        b2=np.zeros(K, dtype),
    )


# --- shared pieces -----------------------------------------------------------------------------


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row max for stability. (B,K) -> (B,K)"""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    E /= E.sum(axis=1, keepdims=True)
    return E


def cross_entropy_grad(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits Z (B,K) against labels y (B,), and dL/dZ = (P - onehot(y)) / B."""
    B = Z.shape[0]
    P = softmax(Z)  # (B,K)
    rows = np.arange(B)
    loss = float(-np.log(np.maximum(P[rows, y], np.finfo(P.dtype).tiny)).mean())
    P[rows, y] -= 1  # P is our own array: reuse it as dZ
    P /= B
    return loss, P


def l2_penalty(p: SoftmaxParams | MLPParams, l2: float) -> float:
    return 0.5 * l2 * sum(float(np.vdot(getattr(p, n), getattr(p, n))) for n in weight_names(p))


# --- phase 1: softmax regression -------------------------------------------------------------


def softmax_forward(p: SoftmaxParams, X: np.ndarray) -> np.ndarray:
    """Logits. (B,D)@(D,K) + (K,) -> (B,K)"""
    return X @ p.W + p.b


def softmax_backward(p: SoftmaxParams, X: np.ndarray, Z: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    """Loss and gradients of mean cross-entropy + (l2/2)·||W||², given X (B,D), its logits Z (B,K), y (B,)."""
    loss, dZ = cross_entropy_grad(Z, y)  # dZ: (B,K)
    dW = X.T @ dZ  # (D,B)@(B,K) -> (D,K)
    if l2:
        dW += l2 * p.W
    db = dZ.sum(axis=0)  # (K,)
    return LossAndGrads(loss + l2_penalty(p, l2), SoftmaxParams(W=dW, b=db))


# --- phase 2: two-layer MLP ------------------------------------------------------------------


def mlp_forward(p: MLPParams, X: np.ndarray) -> MLPCache:
    Z1 = X @ p.W1  # (B,D)@(D,H) -> (B,H)
    Z1 += p.b1  # in place on our own array: one pass less
    A1 = np.maximum(Z1, 0)  # ReLU
    Z2 = A1 @ p.W2  # (B,H)@(H,K) -> (B,K)
    Z2 += p.b2
    return MLPCache(X, Z1, A1, Z2)


def mlp_backward(p: MLPParams, c: MLPCache, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    """Backprop through softmax-CE, the output layer, ReLU and the hidden layer."""
    loss, dZ2 = cross_entropy_grad(c.Z2, y)  # (B,K)
    dW2 = c.A1.T @ dZ2  # (H,B)@(B,K) -> (H,K)
    db2 = dZ2.sum(axis=0)  # (K,)
    dZ1 = dZ2 @ p.W2.T  # dA1: (B,K)@(K,H) -> (B,H)
    np.multiply(dZ1, c.Z1 > 0, out=dZ1)  # ReLU'(Z1) = [Z1 > 0]; dZ1 is our own array
    dW1 = c.X.T @ dZ1  # (D,B)@(B,H) -> (D,H)
    db1 = dZ1.sum(axis=0)  # (H,)
    if l2:
        dW1 += l2 * p.W1
        dW2 += l2 * p.W2
    return LossAndGrads(loss + l2_penalty(p, l2), MLPParams(W1=dW1, b1=db1, W2=dW2, b2=db2))


def softmax_loss_and_grads(p: SoftmaxParams, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    return softmax_backward(p, X, softmax_forward(p, X), y, l2)


def mlp_loss_and_grads(p: MLPParams, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    return mlp_backward(p, mlp_forward(p, X), y, l2)


def logits(p: SoftmaxParams | MLPParams, X: np.ndarray) -> np.ndarray:
    """Logits of either net. (B,D) -> (B,K)"""
    return softmax_forward(p, X) if isinstance(p, SoftmaxParams) else mlp_forward(p, X).Z2


def loss_and_grads(p: SoftmaxParams | MLPParams, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> LossAndGrads:
    if isinstance(p, SoftmaxParams):
        return softmax_loss_and_grads(p, X, y, l2)
    return mlp_loss_and_grads(p, X, y, l2)


# --- the update --------------------------------------------------------------------------------


def sgd_step(p: Params, g: Params, v: Params, lr: float, momentum: float) -> tuple[Params, Params]:
    """SGD with (heavy-ball) momentum, as torch.optim.SGD: v <- mu·v + g;  p <- p - lr·v."""
    v_new = tree_map(lambda vi, gi: _axpy(momentum, vi, gi), v, g) if momentum else g
    p_new = tree_map(lambda pi, vi: _axpy(-lr, vi, pi), p, v_new)
    return p_new, v_new


def _axpy(a: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """a·x + y as a new array, in two passes and one allocation (the update is memory-bound)."""
    out = np.multiply(x, a)
    out += y
    return out
