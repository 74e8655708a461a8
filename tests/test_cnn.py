"""Phase 4: CNN architectures, per-sample augmentation, the trainer's records, checkpoints and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core import augment, cnn, cnn_train
from core.cli import main as cli_main
from core.data import MNIST
from core.errors import UserError
from core.loop import EpochMetrics, EvalMetrics, Finished, Snapshot, StepMetrics
from core.storage import read_json


@pytest.fixture(scope="module")
def small(mnist) -> MNIST:
    """512 training and 300 test images: whole epochs in about a second."""
    return MNIST(mnist.train_images[:512], mnist.train_labels[:512], mnist.test_images[:300], mnist.test_labels[:300])


def tiny(**kw) -> cnn_train.CNNConfig:
    return cnn_train.preset_config(kw.pop("preset", "default"), **({"epochs": 2, "batch_size": 64, "threads": 1,
                                                              "log_every": 2, "snapshot_every": 4} | kw))


# --- architectures -------------------------------------------------------------------------------------


def test_architectures():
    x = torch.rand(3, 1, 28, 28)
    seed, ours = cnn.build_model("seed"), cnn.build_model("default")
    assert seed(x).shape == ours(x).shape == (3, 10)
    assert cnn.num_params(seed) == 206_922  # the seed's network: 16·9+16 + 32·16·9+32 + 1568·128+128 + 128·10+10
    assert cnn.num_params(ours) < cnn.num_params(seed) / 2
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.features)
    with pytest.raises(UserError, match="unknown architecture"):
        cnn.build_model("resnet")


def test_feature_maps(mnist):
    maps = cnn.feature_maps(cnn.build_model("default"), mnist.test_images[0])
    assert {k: v.shape for k, v in maps.items()} == {
        "conv1": (16, 28, 28), "pool1": (16, 14, 14), "conv2": (32, 14, 14), "pool2": (32, 7, 7),
        "conv3": (96, 7, 7), "pool3": (96, 3, 3)}
    assert set(cnn.feature_maps(cnn.build_model("seed"), mnist.test_images[0])) == {"conv1", "pool1", "conv2", "pool2"}
    assert all(v.min() >= 0 for v in maps.values())  # after ReLU


# --- augmentation ---------------------------------------------------------------------------------------


def test_identity_augmentation_leaves_images_alone(mnist):
    cfg = cnn_train.CNNConfig(rotate=0, translate=0, scale_min=1, scale_max=1)
    x = cnn.to_input(mnist.train_images[:8])
    out = augment.augment(x, cfg.affine, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)  # bilinear sampling exactly at pixel centres


def test_affine_matrices_stay_in_range():
    cfg = cnn_train.CNNConfig()
    theta = augment.affine_matrices(4000, cfg.affine, torch.Generator().manual_seed(1)).double()  # (n,2,3)
    A, b = theta[:, :, :2], theta[:, :, 2]
    s = 1 / torch.sqrt(torch.linalg.det(A))  # A = R(-θ)/s
    angle = torch.rad2deg(torch.atan2(A[:, 0, 1], A[:, 0, 0]))
    t = -(torch.linalg.inv(A) @ b[:, :, None])[:, :, 0] / 2  # back to a fraction of the side
    assert 0.9 - 1e-6 <= s.min() and s.max() <= 1.1 + 1e-6 and s.max() - s.min() > 0.15
    assert angle.abs().max() <= 20 + 1e-4 and angle.abs().max() > 18
    assert t.abs().max() <= 0.1 + 1e-6 and t.abs().max() > 0.09


def test_augmentation_is_per_sample_and_seeded(mnist):
    cfg = cnn_train.CNNConfig()
    x = cnn.to_input(np.repeat(mnist.train_images[:1], 6, axis=0))  # six copies of one digit
    a = augment.augment(x, cfg.affine, torch.Generator().manual_seed(5))
    b = augment.augment(x, cfg.affine, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    diffs = [float((a[0] - a[i]).abs().max()) for i in range(1, 6)]
    assert min(diffs) > 0.1  # each copy got its own transform
    preview = augment.augmentation_preview(mnist.train_images[:2], variants=3, seed=1)
    assert preview.shape == (2, 3, 28, 28) and preview.dtype == np.float32
    assert 0 <= preview.min() and preview.max() <= 1


def test_translation_moves_the_centre_of_mass_at_most_ten_percent(mnist):
    cfg = cnn_train.CNNConfig(rotate=0, scale_min=1, scale_max=1)
    imgs = np.zeros((200, 28, 28), np.uint8)
    imgs[:, 12:16, 12:16] = 255  # a centred square: nothing is lost at the border
    out = augment.augment(cnn.to_input(imgs), cfg.affine, torch.Generator().manual_seed(2))[:, 0].numpy()
    ys, xs = np.mgrid[:28, :28]
    cx = (out * xs).sum((1, 2)) / out.sum((1, 2)) - 13.5
    cy = (out * ys).sum((1, 2)) / out.sum((1, 2)) - 13.5
    assert np.abs(cx).max() <= 2.8 + 1e-3 and np.abs(cy).max() <= 2.8 + 1e-3
    assert np.abs(cx).max() > 2.0 and np.std(cx) > 1.0


def test_epoch_rngs_depend_only_on_seed_and_epoch():
    a, b, c = cnn_train.epoch_rngs(0, 3), cnn_train.epoch_rngs(0, 3), cnn_train.epoch_rngs(0, 4)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert np.array_equal(a[0], np.random.default_rng([0, 3]).permutation(60_000))  # the NumPy trainers' order
    assert torch.equal(torch.rand(4, generator=a[1]), torch.rand(4, generator=b[1]))
    assert a[2] == b[2] != c[2]


def test_learning_rate_schedule():
    cfg = cnn_train.CNNConfig(lr=1e-2, warmup=0.1)
    lrs = [cnn_train.learning_rate(cfg, s, 1000) for s in range(1000)]
    assert lrs[0] == pytest.approx(4e-4) and max(lrs) == pytest.approx(1e-2)
    assert int(np.argmax(lrs)) == 100 and lrs[-1] < 1e-6
    assert all(a <= b for a, b in zip(lrs[:100], lrs[1:101], strict=True))


def test_last_epochs_are_clean(small, monkeypatch):
    assert cnn_train.clean_epochs(cnn_train.CNNConfig(epochs=20)) == 2
    assert cnn_train.clean_epochs(cnn_train.CNNConfig(epochs=3)) == 0
    assert cnn_train.clean_epochs(cnn_train.CNNConfig(epochs=20, augment=False)) == 0
    seen = []
    real = cnn_train.augment
    monkeypatch.setattr(cnn_train, "augment", lambda x, cfg, gen: seen.append(len(x)) or real(x, cfg, gen))
    list(cnn_train.train(tiny(epochs=2, clean_frac=0.5), small))
    assert len(seen) == 8  # epoch 1's eight batches only


def test_config_validation():
    with pytest.raises(UserError, match="unknown preset"):
        cnn_train.preset_config("huge")
    with pytest.raises(UserError, match="epochs"):
        cnn_train.validate(cnn_train.CNNConfig(epochs=0))
    with pytest.raises(UserError, match="augmentation"):
        cnn_train.validate(cnn_train.CNNConfig(scale_min=1.2, scale_max=1.1))


# --- the trainer ----------------------------------------------------------------------------------------


def test_trainer_records_and_run_folder(small, tmp_path):
    recs = list(cnn_train.train(tiny(eval_every=3), small, tmp_path))
    assert isinstance(recs[0], Snapshot) and recs[0].step == 0
    assert isinstance(recs[-1], Finished)
    steps = [r for r in recs if isinstance(r, StepMetrics)]
    epochs = [r for r in recs if isinstance(r, EpochMetrics)]
    evals = [r for r in recs if isinstance(r, EvalMetrics)]
    assert [r.step for r in steps] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert [(r.epoch, r.step) for r in epochs] == [(1, 8), (2, 16)]
    assert [r.step for r in evals] == [3, 6, 9, 12, 15]
    assert all(0 <= r.test_accuracy <= 1 and math.isfinite(r.train_loss) for r in epochs)
    snap = [r for r in recs if isinstance(r, Snapshot)][-1]
    assert isinstance(snap.params["features.0.weight"], np.ndarray) and "features.1.running_mean" in snap.params
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["test_accuracy"] == epochs[-1].test_accuracy and metrics["arch"] == "default"
    assert len(metrics["history"]) == 2 and len(metrics["evals"]) == 5
    model, cfg = cnn.load_model(tmp_path)
    assert cfg["arch"] == "default"
    _, acc = cnn.evaluate(model, small.test_images, small.test_labels)
    assert acc == pytest.approx(metrics["test_accuracy"])
    rebuilt = cnn.model_from_numpy("default", recs[-1].params)
    np.testing.assert_array_equal(cnn.predict_logits(rebuilt, small.test_images[:5]),
                                  cnn.predict_logits(model, small.test_images[:5]))


@pytest.mark.parametrize("preset", ["default", "seed"])
def test_killed_mid_epoch_resumes_to_the_same_result(small, tmp_path, preset):
    cfg = tiny(preset=preset, epochs=3)
    unbroken = list(cnn_train.train(cfg, small))[-1]
    gen = cnn_train.train(cfg, small, tmp_path)
    for rec in gen:  # abandon epoch 2 halfway, as a kill would
        if isinstance(rec, StepMetrics) and rec.step == 12:
            break
    gen.close()
    ckpt = torch.load(tmp_path / cnn.CHECKPOINT_NAME, weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["arch"] == preset
    torch.manual_seed(1234)  # a fresh process would have a different global RNG state
    resumed = list(cnn_train.train(cfg, small, tmp_path))
    assert resumed[0].step == 8
    assert [r.epoch for r in resumed if isinstance(r, EpochMetrics)] == [2, 3]
    for k, v in unbroken.params.items():
        np.testing.assert_array_equal(resumed[-1].params[k], v, err_msg=k)
    assert resumed[-1].metrics["test_accuracy"] == unbroken.metrics["test_accuracy"]
    assert [h["test_accuracy"] for h in resumed[-1].metrics["history"]] == \
        [h["test_accuracy"] for h in unbroken.metrics["history"]]


def test_checkpoint_of_another_architecture_is_refused(small, tmp_path):
    list(cnn_train.train(tiny(preset="seed", epochs=1), small, tmp_path))
    with pytest.raises(UserError, match="'seed' network, not 'default'") as e:
        list(cnn_train.train(tiny(epochs=1), small, tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="not 'default'"):
        cnn.load_model(tmp_path / cnn.MODEL_NAME, arch="default")


def test_changed_recipe_is_refused(small, tmp_path):
    list(cnn_train.train(tiny(epochs=1), small, tmp_path))
    with pytest.raises(UserError, match="different config"):
        list(cnn_train.train(tiny(epochs=1, lr=1e-2), small, tmp_path))


def test_foreign_and_corrupt_checkpoints(tmp_path):
    bad = tmp_path / "junk"
    bad.mkdir()
    (bad / cnn.CHECKPOINT_NAME).write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(UserError, match="not a readable CNN"):
        list(cnn_train.train(tiny(), MNIST(*(np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)) * 2), bad))
    other = tmp_path / "other.pt"
    torch.save({"format": "something else", "model": {}}, other)
    with pytest.raises(UserError, match="not a CNN model or checkpoint"):
        cnn.load_model(other)
    wrong = tmp_path / "wrong.pt"
    state = cnn.build_model("seed").state_dict()
    torch.save({"format": cnn.MODEL_FORMAT, "arch": "default", "model": state}, wrong)  # seed weights, claimed default
    with pytest.raises(UserError, match="do not fit the 'default' architecture"):
        cnn.load_model(wrong)
    with pytest.raises(UserError, match="neither"):
        cnn.load_model(tmp_path)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(small, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = cnn_train.augment

    def poisoned(x, cfg, gen):  # epoch 2's third batch turns to NaN
        calls["n"] += 1
        out = real(x, cfg, gen)
        return out * float("nan") if calls["n"] == 11 else out

    monkeypatch.setattr(cnn_train, "augment", poisoned)
    with pytest.raises(UserError, match="non-finite logits.*last good checkpoint kept") as e:
        list(cnn_train.train(tiny(), small, tmp_path))
    assert "\n" not in str(e.value)
    assert torch.load(tmp_path / cnn.CHECKPOINT_NAME, weights_only=True)["epoch"] == 1
    assert not (tmp_path / cnn.MODEL_NAME).exists()


def test_diverging_learning_rate_stops_with_a_clear_error(small):
    with pytest.raises(UserError, match="learning rate"):
        list(cnn_train.train(tiny(lr=1e30, warmup=0.0), small))


def test_train_cnn_cli(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train", "cnn", "--preset", "seed", "--max-steps", "3", "--threads", "1", "--out", str(out)]) == 0
    metrics = read_json(out / "metrics.json")
    assert metrics["steps"] == 3 and metrics["command"].startswith("python -m core train cnn --preset seed")
    assert (out / cnn.MODEL_NAME).exists()
    assert "run saved in" in capsys.readouterr().out


_CHILD = """
import sys
from pathlib import Path
from core import cnn_train
from core.data import MNIST, load_mnist
from core.loop import StepMetrics
m = load_mnist(fetch=False)
small = MNIST(m.train_images[:512], m.train_labels[:512], m.test_images[:300], m.test_labels[:300])
cfg = cnn_train.preset_config("default", epochs=3, batch_size=64, threads=1, log_every=1)
for rec in cnn_train.train(cfg, small, Path(sys.argv[1])):
    if isinstance(rec, StepMetrics):
        print("step", rec.step, flush=True)
"""


def test_sigkill_mid_epoch_then_resume_matches_an_unbroken_run(small, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from core.storage import REPO_ROOT

    run = tmp_path / "run"
    cmd = [sys.executable, "-c", _CHILD, str(run)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    for line in child.stdout:
        if line.strip() == "step 12":  # epoch 2 of 8-step epochs, after epoch 1's checkpoint
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert torch.load(run / cnn.CHECKPOINT_NAME, weights_only=True)["epoch"] == 1
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO_ROOT)  # restart on the same folder
    resumed, _ = cnn.load_model(run)
    cfg = cnn_train.preset_config("default", epochs=3, batch_size=64, threads=1, log_every=1)
    unbroken = list(cnn_train.train(cfg, small))[-1]
    for k, v in cnn.state_to_numpy(resumed).items():
        np.testing.assert_array_equal(v, unbroken.params[k], err_msg=k)
    assert read_json(run / "metrics.json")["test_accuracy"] == unbroken.metrics["test_accuracy"]
