"""The one training loop (core.loop): what every trainer gets from it, checked on the smallest trainer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core import loop
from core.data import MNIST
from core.errors import UserError
from core.numpy_train import MLPConfig, SoftmaxConfig, train

TINY = MLPConfig(epochs=2, hidden=8, batch_size=100, log_every=1, snapshot_every=5)


@pytest.fixture(scope="module")
def small(mnist) -> MNIST:
    return MNIST(mnist.train_images[:500], mnist.train_labels[:500], mnist.test_images[:200], mnist.test_labels[:200])


def test_step_count_matches_what_the_loop_runs(small):
    recs = list(train(TINY, small))
    steps = [r.step for r in recs if isinstance(r, loop.StepMetrics)]
    assert steps[-1] == loop.total_steps(TINY, 500) == 10
    assert loop.total_steps(replace(TINY, max_steps=3), 500) == 3
    assert loop.total_steps(SoftmaxConfig(epochs=3, batch_size=128)) == 3 * 469  # 60k images by default


def test_stale_temporaries_of_a_killed_write_are_removed_on_the_next_start(small, tmp_path):
    stale = [tmp_path / ".checkpoint.npz.x1y2.tmp", tmp_path / ".weights.npz.abcd.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    list(train(TINY, small, tmp_path))
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
    assert not list(tmp_path.glob(".*.tmp"))


def test_divergence_says_truthfully_whether_a_checkpoint_was_kept(small, tmp_path):
    with pytest.raises(UserError, match="loss became .* no checkpoint was saved yet") as e:
        list(train(replace(TINY, lr=1e30), small, tmp_path))  # diverges within the first epoch
    assert "\n" not in str(e.value) and "kept in" not in str(e.value)


def test_a_last_step_that_overflows_the_weights_is_divergence_not_a_finished_run(small, tmp_path):
    # the step's own loss is computed before its update, so only the evaluation after it can see the NaN weights
    with pytest.raises(UserError, match="loss became nan .* at step 1"):
        list(train(replace(TINY, lr=1e308, max_steps=1), small, tmp_path))
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("field,value,words", [
    ("seed", -1, "seed must be in"), ("threads", -1, "threads must be"), ("threads", 10**20, "threads must be"),
    ("epochs", 0, "epochs"),
    ("lr", float("nan"), "learning rate"),
])
def test_shared_config_problems_are_one_line_before_any_folder_is_made(small, tmp_path, field, value, words):
    out = tmp_path / "run"
    with pytest.raises(UserError, match=words):
        list(train(replace(TINY, **{field: value}), small, out))
    assert not out.exists()


def test_first_reaching_uses_mid_epoch_and_epoch_end_points():
    evals = [{"step": 5, "test_accuracy": 0.98}, {"step": 15, "test_accuracy": 0.991}]
    history = [{"step": 10, "test_accuracy": 0.992}]
    assert loop.first_reaching(evals, history, 0.99)["step"] == 10
    assert loop.first_reaching(evals, history, 0.999) is None
    assert np.isclose(loop.first_reaching(evals, [], 0.99)["test_accuracy"], 0.991)
