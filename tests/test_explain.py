"""core.explain: each "inside the network" quantity checked against a plain reference computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import explain
from core import numpy_nets as nn


@pytest.fixture
def digit() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((28, 28), np.float32)
    x[6:22, 12:16] = rng.uniform(0.5, 1.0, (16, 4))  # a stroke
    return x


def test_softmax_votes_sum_to_the_logits(digit):
    rng = np.random.default_rng(1)
    p = nn.SoftmaxParams(rng.normal(0, 0.1, (784, 10)).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32))
    ins = explain.softmax_votes(p, digit)
    assert ins.votes.shape == (10, 28, 28)
    assert np.allclose(ins.votes.reshape(10, -1).sum(1) + p.b, nn.logits(p, digit.reshape(1, -1))[0], atol=1e-5)
    assert np.allclose(ins.logits, ins.votes.reshape(10, -1).sum(1) + ins.bias)
    assert ins.votes[:, 0, 0].tolist() == [0.0] * 10  # no ink, no vote
    assert np.isclose(ins.probs.sum(), 1)


def test_mlp_inside_names_the_units_that_pushed_the_answer(digit):
    p = nn.init_mlp(np.random.default_rng(2), 32)
    ins = explain.mlp_inside(p, digit, top=5)
    z = nn.logits(p, digit.reshape(1, -1))[0]
    assert np.allclose(ins.logits, z, atol=1e-5) and ins.answer == int(z.argmax())
    a = np.maximum(digit.reshape(-1) @ p.W1 + p.b1, 0)
    share = a * p.W2[:, ins.answer]
    assert list(ins.top) == list(np.argsort(-share, kind="stable")[:5])
    assert np.allclose(ins.contribution, share[ins.top])
    assert np.array_equal(ins.weights[0], p.W1[:, ins.top[0]].reshape(28, 28))


@pytest.fixture
def cnn():
    from core.cnn import build_model

    torch.manual_seed(0)
    return build_model("default").eval()


def test_gradient_x_input_matches_finite_differences(cnn, digit):
    k = 3
    sal = explain.gradient_x_input(cnn, digit, k)
    x = torch.from_numpy(digit.astype(np.float64))[None, None]
    m = cnn.double()
    for r, c in [(10, 13), (15, 14), (20, 12)]:  # inked pixels
        e = torch.zeros_like(x)
        e[0, 0, r, c] = 1e-4
        with torch.no_grad():
            g = (m(x + e)[0, k] - m(x - e)[0, k]) / 2e-4
        assert sal[r, c] == pytest.approx(float(g) * digit[r, c], rel=2e-2, abs=1e-4)
    assert sal[0, 0] == 0  # no ink
    assert all(p.grad is None for p in cnn.parameters())  # the shared network's weights untouched


def test_occlusion_matches_a_plain_loop(cnn, digit):
    k, patch, stride = 1, 6, 2
    got = explain.occlusion(cnn, digit, k, patch, stride)
    p0 = explain.cnn_probabilities(cnn, digit)[k]
    drop, cover = np.zeros((28, 28)), np.zeros((28, 28))
    for r in range(0, 28 - patch + 1, stride):
        for c in range(0, 28 - patch + 1, stride):
            y = digit.copy()
            y[r:r + patch, c:c + patch] = 0
            drop[r:r + patch, c:c + patch] += p0 - explain.cnn_probabilities(cnn, y)[k]
            cover[r:r + patch, c:c + patch] += 1
    assert np.allclose(got, drop / np.maximum(cover, 1), atol=1e-6)


def test_cnn_inside_has_every_stage(cnn, digit):
    ins = explain.cnn_inside(cnn, digit)
    assert list(ins.maps) == ["conv1", "pool1", "conv2", "pool2", "conv3", "pool3"]
    assert ins.saliency.shape == (28, 28) and ins.answer == int(ins.probs[:10].argmax())
