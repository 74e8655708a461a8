"""Phase 1-2 math: shapes, purity, and every hand-written gradient against finite differences."""

import numpy as np
import pytest

from core import numpy_nets as nn


def _batch(rng, B=8, dtype=np.float64):
    X = rng.random((B, nn.D)).astype(dtype)
    y = rng.integers(0, nn.K, B)
    return X, y


def _random_softmax(rng, dtype=np.float64):
    return nn.SoftmaxParams(W=rng.normal(0, 0.05, (nn.D, nn.K)).astype(dtype), b=rng.normal(0, 0.1, nn.K).astype(dtype))


def _numeric_grad(loss_fn, params, name, idx, eps=1e-6):
    """Central difference of loss_fn w.r.t. params.<name>[idx]."""
    out = []
    for i in idx:
        a = getattr(params, name).copy()
        a[i] += eps
        up = loss_fn(params.__class__(**{**nn.as_dict(params), name: a}))
        a[i] -= 2 * eps
        down = loss_fn(params.__class__(**{**nn.as_dict(params), name: a}))
        out.append((up - down) / (2 * eps))
    return np.array(out)


def _sample_indices(rng, shape, n=12):
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]


@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_softmax_gradients_match_finite_differences(l2):
    rng = np.random.default_rng(0)
    p = _random_softmax(rng)
    X, y = _batch(rng)
    loss, g = nn.softmax_loss_and_grads(p, X, y, l2)
    for name in ("W", "b"):
        idx = _sample_indices(rng, getattr(p, name).shape)
        num = _numeric_grad(lambda q: nn.softmax_loss_and_grads(q, X, y, l2).loss, p, name, idx)
        ana = np.array([getattr(g, name)[i] for i in idx])
        np.testing.assert_allclose(ana, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_mlp_gradients_match_finite_differences(l2):
    rng = np.random.default_rng(1)
    p = nn.init_mlp(rng, hidden=16, dtype=np.float64)
    p = nn.MLPParams(W1=p.W1, b1=rng.normal(0, 0.1, 16), W2=p.W2, b2=rng.normal(0, 0.1, 10))
    X, y = _batch(rng)
    _, g = nn.mlp_loss_and_grads(p, X, y, l2)
    for name in ("W1", "b1", "W2", "b2"):
        idx = _sample_indices(rng, getattr(p, name).shape)
        num = _numeric_grad(lambda q: nn.mlp_loss_and_grads(q, X, y, l2).loss, p, name, idx)
        ana = np.array([getattr(g, name)[i] for i in idx])
        np.testing.assert_allclose(ana, num, rtol=1e-5, atol=1e-8)


def test_forward_shapes_and_dtypes_follow_the_input():
    rng = np.random.default_rng(2)
    p = nn.init_mlp(rng, hidden=32)
    X, _ = _batch(rng, B=5, dtype=np.float32)
    c = nn.mlp_forward(p, X)
    assert c.Z1.shape == c.A1.shape == (5, 32) and c.Z2.shape == (5, 10)
    assert c.Z2.dtype == np.float32
    assert nn.softmax_forward(nn.init_softmax(), X).shape == (5, 10)


def test_nothing_mutates_its_inputs():
    rng = np.random.default_rng(3)
    p = nn.init_mlp(rng, hidden=8, dtype=np.float64)
    v = nn.tree_map(lambda a: rng.normal(size=a.shape), p)
    X, y = _batch(rng)
    before = {k: a.copy() for k, a in (nn.as_dict(p) | {f"v{k}": a for k, a in nn.as_dict(v).items()}).items()}
    Xc, yc = X.copy(), y.copy()
    loss, g = nn.mlp_loss_and_grads(p, X, y, 1e-3)
    p2, v2 = nn.sgd_step(p, g, v, 0.1, 0.9)
    after = nn.as_dict(p) | {f"v{k}": a for k, a in nn.as_dict(v).items()}
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(y, yc)
    assert p2 is not p and not np.shares_memory(p2.W1, p.W1)


def test_sgd_step_is_heavy_ball_momentum():
    p = nn.SoftmaxParams(W=np.ones((nn.D, nn.K)), b=np.zeros(nn.K))
    g = nn.tree_map(lambda a: np.full_like(a, 2.0), p)
    v = nn.tree_map(lambda a: np.full_like(a, 1.0), p)
    p2, v2 = nn.sgd_step(p, g, v, lr=0.5, momentum=0.9)
    np.testing.assert_allclose(v2.W, 0.9 * 1 + 2)
    np.testing.assert_allclose(p2.W, 1 - 0.5 * 2.9)
    p3, v3 = nn.sgd_step(p, g, v, lr=0.5, momentum=0.0)
    np.testing.assert_allclose(p3.b, -1.0)


def test_softmax_is_stable_for_huge_logits():
    Z = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    P = nn.softmax(Z)
    assert np.isfinite(P).all() and abs(P.sum() - 1) < 1e-12 and P[0, 0] == pytest.approx(1.0)
    loss, dZ = nn.cross_entropy_grad(Z, np.array([2]))
    assert np.isfinite(loss) and np.isfinite(dZ).all()


def test_he_init_scale():
    p = nn.init_mlp(np.random.default_rng(0), hidden=512, dtype=np.float64)
    assert p.W1.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert p.W2.std() == pytest.approx(np.sqrt(2 / 512), rel=0.1)
    assert not p.b1.any() and not p.b2.any()


def test_relu_gradient_at_exactly_zero_is_zero_as_in_torch():
    """Units whose pre-activation is exactly 0 (all-zero images, zero biases) pass no gradient, as torch.relu's."""
    import torch

    p = nn.init_mlp(np.random.default_rng(0), 16, np.float64)  # b1 = 0, so Z1 = 0 for a blank image
    X, y = np.zeros((3, nn.D)), np.array([1, 4, 7])
    g = nn.mlp_loss_and_grads(p, X, y).grads
    t = {k: torch.tensor(v, requires_grad=True) for k, v in nn.as_dict(p).items()}
    Z2 = torch.relu(torch.tensor(X) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    torch.nn.functional.cross_entropy(Z2, torch.tensor(y)).backward()
    for k, v in nn.as_dict(g).items():
        np.testing.assert_allclose(v, t[k].grad.numpy(), atol=1e-12, err_msg=k)
    assert not g.b1.any() and g.b2.any()
