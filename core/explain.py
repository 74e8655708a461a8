"""Inside the network, for one input: what each phase's model computes on a single 28x28 digit.

Phase 1 (softmax): the input times each class template, pixel by pixel; summed (plus the bias) they are the logits,
so each pixel's product is its vote for that class. Phase 2 (MLP): the hidden layer's activations and the units that
pushed the answer most, with their input weights. Phase 4 (CNN): every stage's feature maps (core.cnn), and two
saliency maps over the 28x28: gradient x input (a first-order estimate of each pixel's share of the logit) and
occlusion (how much the answer's probability falls when a patch is blanked). Pure functions of arrays and networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.numpy_nets import MLPParams, SoftmaxParams, softmax

DIGITS = 10  # the ten digit classes; a network may have an 11th ("not a digit") after them


def _flat(x: np.ndarray) -> np.ndarray:
    """(28,28) float in [0,1] (or uint8) -> (784,) float64."""
    a = np.asarray(x)
    return (a.astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)).reshape(-1)


# --- phase 1 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftmaxInside:
    votes: np.ndarray  # (10,28,28) x_i * W[i,k]: pixel i's vote for class k
    bias: np.ndarray  # (10,)
    logits: np.ndarray  # (10,) votes summed over the pixels, plus the bias
    probs: np.ndarray  # (10,)


def softmax_votes(p: SoftmaxParams, x: np.ndarray) -> SoftmaxInside:
    """Each pixel's vote for each class: the input times the class template, before summing."""
    xf = _flat(x)  # (784,)
    W = np.asarray(p.W, np.float64)  # (784,10)
    votes = xf[:, None] * W  # (784,10)
    z = votes.sum(axis=0) + np.asarray(p.b, np.float64)  # (10,)
    return SoftmaxInside(votes.T.reshape(DIGITS, 28, 28), np.asarray(p.b, np.float64), z, softmax(z[None])[0])


# --- phase 2 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPInside:
    hidden: np.ndarray  # (H,) ReLU activations
    logits: np.ndarray  # (10,)
    probs: np.ndarray  # (10,)
    answer: int  # the most probable digit
    top: np.ndarray  # (k,) indices of the hidden units that pushed `answer` most (activation x outgoing weight)
    contribution: np.ndarray  # (k,) their share of answer's logit: a_j * W2[j, answer]
    weights: np.ndarray  # (k,28,28) their input weights (what each unit looks for)


def mlp_inside(p: MLPParams, x: np.ndarray, top: int = 8) -> MLPInside:
    """The hidden layer on this input, and the `top` units whose activation x weight raised the answer most."""
    xf = _flat(x)  # (784,)
    a1 = np.maximum(xf @ p.W1 + p.b1, 0.0)  # (H,)
    z = a1 @ p.W2 + p.b2  # (10,)
    k = int(np.argmax(z))
    c = a1 * p.W2[:, k]  # (H,) each unit's term in logit k
    idx = np.argsort(-c, kind="stable")[:top]
    return MLPInside(a1, z, softmax(np.asarray(z, np.float64)[None])[0], k, idx, c[idx],
                     np.asarray(p.W1[:, idx]).T.reshape(len(idx), 28, 28))


# --- phase 4 --------------------------------------------------------------------------------------------


def _tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(_flat(x).astype(np.float32).reshape(1, 1, 28, 28))


def cnn_probabilities(model, x: np.ndarray) -> np.ndarray:
    """(K,) softmax of the network's logits for one (28,28) input (K = 10 or 11)."""
    import torch

    model.eval()
    with torch.no_grad():
        z = model(_tensor(x))[0].double().numpy()
    return softmax(z[None])[0]


def gradient_x_input(model, x: np.ndarray, target: int) -> np.ndarray:
    """(28,28) d logit_target / d x, times x: positive where the ink raised the target's logit, negative where it
    lowered it. Zero where there is no ink (x = 0), so it reads as "which strokes mattered"."""
    import torch

    model.eval()
    t = _tensor(x).requires_grad_(True)
    (g,) = torch.autograd.grad(model(t)[0, target], t)  # the input's gradient only: the weights' .grad stay untouched
    return (g * t).detach()[0, 0].double().numpy()


def occlusion(model, x: np.ndarray, target: int, patch: int = 6, stride: int = 2) -> np.ndarray:
    """(28,28) the drop in the target's probability when a patch x patch square around each pixel is blanked (set
    to 0, no ink), averaged over the patches covering the pixel. Positive: hiding this region hurt the answer."""
    import torch

    model.eval()
    img = _flat(x).reshape(28, 28)
    starts = range(0, 28 - patch + 1, stride)
    boxes = [(r, c) for r in starts for c in starts]
    batch = np.repeat(img[None], len(boxes), axis=0)  # (P,28,28)
    for i, (r, c) in enumerate(boxes):
        batch[i, r:r + patch, c:c + patch] = 0.0
    with torch.no_grad():
        z = model(torch.from_numpy(np.concatenate([img[None], batch])[:, None].astype(np.float32))).double().numpy()
    p = softmax(z)[:, target]  # (1+P,)
    drop, cover = np.zeros((28, 28)), np.zeros((28, 28))
    for i, (r, c) in enumerate(boxes):
        drop[r:r + patch, c:c + patch] += p[0] - p[i + 1]
        cover[r:r + patch, c:c + patch] += 1
    return drop / np.maximum(cover, 1)


@dataclass(frozen=True)
class CNNInside:
    probs: np.ndarray  # (K,) K = 10, or 11 with "not a digit" last
    answer: int  # the most probable digit (of the ten)
    maps: dict  # {"conv1": (C,28,28), "pool1": (C,14,14), ...} (core.cnn.feature_maps)
    saliency: np.ndarray  # (28,28) signed, see `method`
    method: str  # "gradient x input" or "occlusion"


def cnn_inside(model, x: np.ndarray, method: str = "gradient x input") -> CNNInside:
    """Feature maps of every stage, the probabilities and a saliency map for the answer, for one (28,28) input."""
    from core.cnn import feature_maps

    probs = cnn_probabilities(model, x)
    k = int(np.argmax(probs[:DIGITS]))
    sal = occlusion(model, x, k) if method == "occlusion" else gradient_x_input(model, x, k)
    return CNNInside(probs, k, feature_maps(model, _flat(x).reshape(28, 28).astype(np.float32)), sal, method)
