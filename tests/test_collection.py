"""core.collection (your labelled digits) and core.finetune's training steps, without the export."""

from __future__ import annotations

import numpy as np
import pytest

from core import collection
from core.errors import UserError


def test_save_list_split_load_delete(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 1, (7, 28, 28)).astype(np.float32)
    saved = [collection.save(im, i % 10, "drawn", tmp_path) for i, im in enumerate(imgs)]
    (tmp_path / "not-ours.png").write_bytes(b"x")
    got = collection.list_samples(tmp_path)
    assert [s.id for s in got] == [s.id for s in saved] and [s.label for s in got] == list(range(7))
    assert [s.split for s in got] == ["train"] * 4 + ["heldout"] + ["train"] * 2  # every fifth held out
    x, y = collection.load(got)
    assert x.dtype == np.uint8 and np.abs(x / 255.0 - imgs).max() <= 0.5 / 255 + 1e-6 and list(y) == list(range(7))
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
    assert collection.delete([got[0].id, "nope"], tmp_path) == 1 and len(collection.list_samples(tmp_path)) == 6


@pytest.mark.parametrize("image,label", [(np.zeros((28, 28)), 10), (np.zeros((27, 28)), 1),
                                         (np.full((28, 28), 2.0), 1)])
def test_bad_digits_are_refused_in_one_line(tmp_path, image, label):
    with pytest.raises(UserError):
        collection.save(image, label, "drawn", tmp_path)


def test_finetune_steps_move_only_the_classifier(mnist):
    import torch

    from core.cnn import build_model
    from core.finetune import FinetuneConfig, train_steps

    torch.manual_seed(0)
    model = build_model("default").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FinetuneConfig(steps=5, mnist_pool=256)
    losses = train_steps(model, cfg, mnist.test_images[:8], mnist.test_labels[:8].astype(np.int64),
                         mnist.train_images, mnist.train_labels)
    assert len(losses) == 5 and all(np.isfinite(losses))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("features"))  # frozen
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("classifier"))
    with pytest.raises(UserError):
        train_steps(model, cfg, np.zeros((0, 28, 28), np.uint8), np.zeros(0), mnist.train_images, mnist.train_labels)
