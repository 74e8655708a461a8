"""`bench models`: the time-to-accuracy measurement, the table, and the committed ladder the dashboard reads."""

from __future__ import annotations

import pytest

from core.bench import models as model_bench
from core.contract import read_contract, sha256_file
from core.data import MNIST
from core.inference import default_model_path
from core.storage import read_json


@pytest.fixture(scope="module")
def small(mnist) -> MNIST:
    m = mnist
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


def test_committed_ladder_agrees_with_the_shipped_model():
    """The ladder's "shipped" row describes the model.onnx and model.json beside it (re-run `bench models` after
    shipping a new model)."""
    ladder = read_json(model_bench.LADDER_PATH, "model ladder")
    path = default_model_path()
    contract = read_contract(path)  # also checks model.onnx against the contract's SHA-256
    (row,) = [r for r in ladder["rows"] if r["name"].startswith("shipped")]
    fmt = contract["exported_as"].removeprefix("model.").removesuffix(".onnx")
    assert f"({fmt})" in row["name"], (row["name"], contract["exported_as"])
    assert row["size_bytes"] == contract["size_bytes"] == path.stat().st_size
    assert row["test_accuracy"] == row["contract_accuracy"] == contract["metrics"]["test_accuracy"]
    assert contract["sha256"] == sha256_file(path)
    same = [r for r in ladder["rows"] if r is not row and r.get("size_bytes") == row["size_bytes"]]
    assert all(r["test_accuracy"] == row["test_accuracy"] for r in same), same  # the ladder's own run of it, if any
