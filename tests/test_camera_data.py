"""Camera training data and the "not a digit" rule: pools made from the right split and sources, cached,
reproducible; the rule chosen on validation logits does what it says; 11-output networks train and load."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core import camera_data, cnn, cnn_train
from core.camera_data import HELD_OUT, NONE_LABEL, Pool, cached_pool, make_pool
from core.data import MNIST
from core.inference import decide
from core.rejection import choose_rule, fit_temperature, rates


@pytest.fixture(scope="module")
def tiny_pool() -> Pool:
    return make_pool(24, 30, seed=3, workers=1)


def test_a_pool_holds_pipeline_output_with_digit_labels_and_the_none_class(tiny_pool):
    p = tiny_pool
    assert p.images.dtype == np.uint8 and p.images.shape[1:] == (28, 28) and len(p.images) == len(p.labels)
    digits, negs = p.labels < 10, p.labels == NONE_LABEL
    assert digits.sum() >= 20 and negs.sum() >= 10 and (digits | negs).all()  # most renderings are found
    assert set(p.sources[digits]) <= set(camera_data.DIGIT_KINDS)
    assert all(p.images[i].max() > 100 for i in range(len(p.images)))  # every image carries ink


def test_training_pools_never_use_held_out_sources_and_validation_pools_only_those(tiny_pool):
    train_names = {s.split(" (")[0] for s in tiny_pool.sources[tiny_pool.labels == NONE_LABEL]}
    assert not train_names & set(HELD_OUT)
    val = make_pool(0, 30, seed=3, split="val", workers=1)
    names = {s.split(" (")[0] for s in val.sources}
    assert names and names <= set(HELD_OUT) | {f"empty: {k}" for k in ("blank", "shadow", "ruled", "edge")}


def test_the_same_seed_gives_the_same_pool_whatever_the_workers(tiny_pool):
    again = make_pool(24, 30, seed=3, workers=2)
    np.testing.assert_array_equal(again.images, tiny_pool.images)
    np.testing.assert_array_equal(again.labels, tiny_pool.labels)


def test_a_pool_is_cached_and_an_unreadable_cache_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path))
    said = []
    first = cached_pool(6, 0, seed=1, workers=1, say=said.append)
    files = list((tmp_path / "cache").glob("camera-pool-train-*.npz"))
    assert len(files) == 1 and len(said) == 1
    again = cached_pool(6, 0, seed=1, workers=1, say=said.append)
    assert len(said) == 1 and np.array_equal(again.images, first.images)  # read, not rendered
    files[0].write_bytes(b"half a file")
    third = cached_pool(6, 0, seed=1, workers=1, say=said.append)
    assert "unreadable" in said[1] and np.array_equal(third.images, first.images)
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_the_pool_key_follows_everything_that_shapes_it():
    from core.preprocess import PreprocessConfig

    d = PreprocessConfig()
    keys = {camera_data.pool_key(10, 5, 0, "train", d), camera_data.pool_key(11, 5, 0, "train", d),
            camera_data.pool_key(10, 5, 1, "train", d), camera_data.pool_key(10, 5, 0, "val", d),
            camera_data.pool_key(10, 5, 0, "train", replace(d, offset=0.08))}
    assert len(keys) == 5


# ---------------------------------------------------------------- the rule


def _logits(rng, n, k, labels, margin):
    z = rng.normal(0, 1, (n, k))
    z[np.arange(n), labels] += margin
    return z


def test_the_fitted_temperature_undoes_a_known_scaling():
    from core.numpy_nets import softmax

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (6000, 11))
    p = softmax(z)
    y = np.array([rng.choice(11, p=row) for row in p])  # labels drawn from softmax(z): calibrated at T = 1
    assert 0.8 <= fit_temperature(z, y) <= 1.25
    assert 2.4 <= fit_temperature(3 * z, y) <= 3.75  # sharpened 3x: the fit undoes it


def test_the_chosen_floor_keeps_the_promised_share_of_digits_answered():
    rng = np.random.default_rng(1)
    y = np.r_[rng.integers(0, 10, 3000), np.full(1000, 10)]
    z = _logits(rng, 4000, 11, y, 4.0)
    clean_y = rng.integers(0, 10, 1000)
    rule = choose_rule(z, y, _logits(rng, 1000, 11, clean_y, 6.0), clean_y, answered=0.99)
    assert rule["none_class"] == 10 and 0.3 <= rule["min_confidence"] <= 0.95
    v = rule["validation"]["camera"]
    assert v["digits_answered"] >= 0.99 and v["negatives_rejected"] > 0.9
    tighter = rates(z, y, {**rule, "min_confidence": rule["min_confidence"] + 0.01})
    assert rule["min_confidence"] == 0.95 or tighter["digits_answered"] < 0.99  # the largest floor that keeps it


def test_rates_count_answers_as_decide_gives_them():
    z = np.array([[5.0] + [0.0] * 10, [0.0] * 10 + [5.0], [0.1] * 11])  # a clear 0, "not a digit", flat
    y = np.array([0, 10, 3])
    rule = {"none_class": 10, "min_confidence": 0.5, "temperature": 1.0}
    assert [a.digit for a in decide(z, rule)] == [0, None, None]
    r = rates(z, y, rule)
    assert r["digits_answered"] == 0.5 and r["digits_right"] == 0.5 and r["negatives_rejected"] == 1.0


# ---------------------------------------------------------------- eleven outputs


def test_an_eleven_output_network_trains_on_mnist_plus_a_pool_and_loads_back(mnist, tiny_pool, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(camera_data, "cached_pool", lambda *a, **k: tiny_pool)
    cfg = cnn_train.preset_config("camera", epochs=1, max_steps=3, threads=1)
    X, y, Xv, yv = cnn_train.training_data(cfg, mnist)
    assert len(y) == camera_data.TRAIN_DIGITS + len(tiny_pool.labels) and (y == NONE_LABEL).sum() > 0
    np.testing.assert_array_equal(Xv, mnist.train_images[camera_data.TRAIN_DIGITS:])  # validation, not test
    small = MNIST(mnist.train_images, mnist.train_labels, mnist.test_images[:50], mnist.test_labels[:50])
    recs = list(cnn_train.train(cfg, small, tmp_path))
    assert recs[-1].metrics["classes"] == 11 and "validation" in recs[-1].metrics["evaluated_on"]
    model, _ = cnn.load_model(tmp_path)
    assert cnn.predict_logits(model, mnist.test_images[:4]).shape == (4, 11)
    rebuilt = cnn.model_from_numpy("default", cnn.state_to_numpy(model))
    assert rebuilt.classifier[-1].out_features == 11
    with pytest.raises(Exception, match="10 or 11"):
        cnn.build_model("default", 12)
