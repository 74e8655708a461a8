"""Phase 3: the PyTorch MLP computes what the NumPy MLP computes, and autograd agrees with the hand-written math."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from core import numpy_nets as nn_np
from core import numpy_train as train_np
from core import parity
from core import torch_mlp as tm
from core.cli import main as cli_main
from core.data import MNIST, flat
from core.errors import UserError
from core.loop import EpochMetrics, Finished, Snapshot, StepMetrics
from core.numpy_train import MLPConfig


@pytest.fixture(scope="module")
def small(mnist) -> MNIST:
    """1,024 training and 500 test images: whole epochs in a fraction of a second."""
    return MNIST(mnist.train_images[:1024], mnist.train_labels[:1024], mnist.test_images[:500], mnist.test_labels[:500])


def batch(mnist: MNIST, n: int = 64, dtype=np.float64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).choice(60_000, n, replace=False)
    return flat(mnist.train_images[idx], dtype), mnist.train_labels[idx].astype(np.intp)


def mlp(hidden: int = 32, dtype=np.float64, seed: int = 0) -> nn_np.MLPParams:
    p = nn_np.init_mlp(np.random.default_rng(seed), hidden, dtype)
    # non-zero biases, so a bias mix-up would show
    return replace(p, b1=np.linspace(-0.1, 0.1, hidden).astype(dtype), b2=np.linspace(0.2, -0.2, 10).astype(dtype))


def test_round_trip_and_layout():
    p = mlp(16)
    m = tm.from_numpy(p)
    assert m.fc1.weight.shape == (16, 784) and m.fc1.weight.dtype == torch.float64
    np.testing.assert_array_equal(m.fc1.weight.detach().numpy(), p.W1.T)  # nn.Linear keeps (out, in) = W.T
    back = tm.to_numpy(m)
    for name, a in nn_np.as_dict(p).items():
        np.testing.assert_array_equal(getattr(back, name), a)
    s = nn_np.SoftmaxParams(W=p.W1[:, :10].copy(), b=p.b2.copy())
    np.testing.assert_array_equal(tm.to_numpy(tm.from_numpy(s)).W, s.W)


def test_logits_match_in_float32(mnist):
    X, _ = batch(mnist, 128, np.float32)
    p = nn_np.tree_map(lambda a: a.astype(np.float32), mlp(256))
    with torch.no_grad():
        z_torch = tm.from_numpy(p)(torch.from_numpy(X)).numpy()
    z_np = nn_np.mlp_forward(p, X).Z2
    assert z_torch.dtype == np.float32
    assert np.abs(z_np - z_torch).max() <= 1e-5
    with torch.no_grad():  # the (N,1,28,28) layout flattens to the same thing
        z_img = tm.from_numpy(p)(torch.from_numpy(X.reshape(-1, 1, 28, 28))).numpy()
    np.testing.assert_array_equal(z_img, z_torch)


@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_mlp_gradients_match_autograd_float64(mnist, l2):
    X, y = batch(mnist)
    p = mlp(48)
    loss_np, g_np = nn_np.mlp_loss_and_grads(p, X, y, l2)
    loss_t, g_t = parity.torch_loss_and_grads(p, X, y, l2)
    assert abs(loss_np - loss_t) <= 1e-9
    for name in ("W1", "b1", "W2", "b2"):
        assert np.abs(getattr(g_np, name) - getattr(g_t, name)).max() <= 1e-6, name
    assert parity.max_abs_diff(g_np, g_t) <= 1e-6


@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_softmax_gradients_match_autograd_float64(mnist, l2):
    X, y = batch(mnist, 50, seed=1)
    rng = np.random.default_rng(3)
    p = nn_np.SoftmaxParams(W=rng.standard_normal((784, 10)) * 0.01, b=rng.standard_normal(10) * 0.1)
    loss_np, g_np = nn_np.softmax_loss_and_grads(p, X, y, l2)
    loss_t, g_t = parity.torch_loss_and_grads(p, X, y, l2)
    assert abs(loss_np - loss_t) <= 1e-9
    assert np.abs(g_np.W - g_t.W).max() <= 1e-6 and np.abs(g_np.b - g_t.b).max() <= 1e-6


@pytest.mark.parametrize("momentum,l2", [(0.9, 1e-4), (0.0, 0.0), (0.5, 1e-2)])
def test_sgd_steps_leave_the_same_parameters(mnist, momentum, l2):
    X, y = batch(mnist)
    p = mlp(32)
    for steps in (1, 3):  # three steps on the same batch exercise the momentum buffer
        a = parity.numpy_sgd_steps(p, X, y, 0.1, momentum, l2, steps)
        b = parity.torch_sgd_steps(p, X, y, 0.1, momentum, l2, steps)
        assert parity.max_abs_diff(a, b) <= 1e-9
        assert parity.max_abs_diff(a, p) > 1e-4  # and the step did move the weights


def test_parity_report_within_tolerances(mnist):
    X, y = batch(mnist, 128)
    r = parity.parity(mlp(256), X, y)
    for name, value in vars(r).items():
        assert value <= parity.TOLERANCES[name], (name, value)


def test_parity_cli(capsys):
    assert cli_main(["parity", "--hidden", "32", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "grads_f64" in out and "FAIL" not in out


def test_torch_trainer_follows_the_numpy_trainer(mnist):
    cfg = MLPConfig(hidden=64, epochs=1, max_steps=12, log_every=4, snapshot_every=6, threads=1)
    torch_recs = list(tm.train(cfg, mnist))
    numpy_recs = list(train_np.train(cfg, mnist))
    assert isinstance(torch_recs[0], Snapshot) and isinstance(torch_recs[-1], Finished)
    steps_t = [r for r in torch_recs if isinstance(r, StepMetrics)]
    steps_n = [r for r in numpy_recs if isinstance(r, StepMetrics)]
    assert [r.step for r in steps_t] == [4, 8, 12]
    np.testing.assert_allclose([r.loss for r in steps_t], [r.loss for r in steps_n], rtol=1e-4)
    np.testing.assert_allclose([r.lr for r in steps_t], [r.lr for r in steps_n], rtol=1e-12)
    # same init, same batches, same update: after 12 steps only float32 rounding separates them
    assert parity.max_abs_diff(torch_recs[-1].params, numpy_recs[-1].params) <= 1e-4
    assert torch_recs[-1].metrics["model"] == "torch-mlp"


def test_torch_trainer_resumes_to_the_same_weights(small, tmp_path):
    cfg = MLPConfig(hidden=32, epochs=2, batch_size=64, threads=1, log_every=1)
    unbroken = list(tm.train(cfg, small))[-1]
    run = tmp_path / "run"
    run.mkdir()
    gen = tm.train(cfg, small, run)
    for rec in gen:  # stop in the middle of epoch 2, as a kill would
        if isinstance(rec, StepMetrics) and rec.epoch == 2 and rec.step == 20:
            break
    gen.close()
    assert (run / "checkpoint.npz").exists() and not (run / "weights.npz").exists()
    resumed = list(tm.train(cfg, small, run))
    assert isinstance(resumed[0], Snapshot) and resumed[0].step == 16  # picked up after epoch 1
    epochs = [r.epoch for r in resumed if isinstance(r, EpochMetrics)]
    assert epochs == [2]
    assert parity.max_abs_diff(resumed[-1].params, unbroken.params) == 0.0
    assert resumed[-1].metrics["test_accuracy"] == unbroken.metrics["test_accuracy"]
    assert isinstance(train_np.load_weights(run / "weights.npz"), nn_np.MLPParams)


def test_torch_trainer_stops_on_nan(small):
    cfg = MLPConfig(hidden=16, epochs=1, lr=1e30, momentum=0.0, threads=1)
    with pytest.raises(UserError, match="loss became"):
        list(tm.train(cfg, small))
