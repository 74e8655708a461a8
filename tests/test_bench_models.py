"""`bench models`: the time-to-accuracy measurement, the table, and the committed ladder the dashboard reads."""

from __future__ import annotations

import pytest

from core.bench import models as model_bench
from core.data import MNIST, load_mnist
from core.storage import read_json


@pytest.fixture(scope="module")
def small() -> MNIST:
    m = load_mnist(fetch=False)
    return MNIST(m.train_images[:512], m.train_labels[:512], m.test_images[:300], m.test_labels[:300])


def test_time_to_accuracy_stops_at_the_first_hit(small):
    hit = model_bench.time_to_accuracy(small, target=0.05, epochs=1, eval_every=2, threads=1)
    assert hit["reached"] and hit["step"] == 2 and hit["train_seconds"] > 0
    assert hit["command"].startswith("python -m core train cnn --preset default")
    miss = model_bench.time_to_accuracy(small, target=1.01, epochs=1, eval_every=4, threads=1)
    assert not miss["reached"] and 0 <= miss["best"]["test_accuracy"] <= 1


def test_format_table():
    row = {"name": "m", "test_accuracy": 0.99, "params": 10, "size_bytes": 2000, "latency_ms_1": 0.05,
           "throughput_256_per_s": 1e4, "train_seconds": None}
    text = model_bench.format_table({"rows": [row], "seed_published": model_bench.SEED_PUBLISHED})
    assert "99.00%" in text and "98.87%" in text and "215.1" in text


def test_committed_ladder_has_every_model():
    ladder = read_json(model_bench.LADDER_PATH, "model ladder")
    names = " ".join(r["name"] for r in ladder["rows"])
    for what in ("softmax", "NumPy", "PyTorch", "fp32", "int8 dynamic", "int8 static", "shipped", "as the seed"):
        assert what in names
    for r in ladder["rows"]:
        assert 0 < r["test_accuracy"] <= 1 and r["size_bytes"] > 0 and r["latency_ms_1"] > 0
    assert ladder["time_to_99"]["reached"]
    assert ladder["seed_published"]["test_accuracy"] == 0.9887
