"""The `fast` preset (issue 18's live speedrun): it learns, it resumes and exports like the others, `bench speedrun`
writes its JSON, and Phase 4 offers it as the live run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core import cli, cnn, cnn_train, export, loop
from core.bench import speedrun
from core.data import MNIST, load_mnist
from core.errors import UserError
from core.loop import Finished


@pytest.fixture(scope="module")
def small() -> MNIST:
    m = load_mnist(fetch=False)
    return MNIST(m.train_images[:2560], m.train_labels[:2560], m.test_images[:500], m.test_labels[:500])


def last(records) -> Finished:
    return [r for r in records if isinstance(r, Finished)][-1]


def test_fast_network_reads_28x28_and_crops_inside():
    model = cnn.build_model("fast").eval()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    border = x.clone()
    border[:, :, :2], border[:, :, :, -2:] = 1.0, 1.0  # the 2-pixel frame the network never reads
    assert torch.equal(model(x), model(border))
    maps = cnn.feature_maps(model, np.zeros((28, 28), np.uint8))
    assert {k: v.shape for k, v in maps.items()} == {"conv1": (32, 20, 20), "pool1": (32, 10, 10),
                                                     "conv2": (64, 8, 8), "pool2": (64, 4, 4)}
    assert all(v.min() >= 0 for v in maps.values())  # taken after the ReLU
    assert cnn.FIRST_CONV in model.state_dict() and model.state_dict()[cnn.FIRST_CONV].shape == (32, 1, 5, 5)


EXPORT_CHECK = """
import sys, torch
from core import cnn, export
from core.data import load_mnist
torch.manual_seed(0)
model = cnn.build_model("fast")
with torch.no_grad():  # BatchNorm statistics that are not the identity, so folding them would matter
    model(torch.rand(64, 1, 28, 28))
path = export.export_onnx(export.fold_batchnorm(model), export.Path(sys.argv[1]))
export.check_onnx(path)  # input "image" (N,1,28,28), output "logits"
print(export.torch_vs_ort(model, path, load_mnist(fetch=False).test_images[:50]))
"""


@pytest.mark.slow
def test_fast_network_exports_to_onnx_with_the_28x28_contract(tmp_path):
    # In its own process: the exporter leaves threads behind that abort the interpreter at exit once a
    # Streamlit AppTest has run in the same process (exit code 134 after every test passed).
    r = subprocess.run([sys.executable, "-c", EXPORT_CHECK, str(tmp_path / "fast.onnx")], capture_output=True,
                       text=True, cwd=Path(__file__).resolve().parent.parent, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(r.stdout.split()[-1]) <= export.TORCH_TOL


def test_preset_fast_is_the_measured_recipe():
    cfg = cnn_train.preset_config("fast")
    assert (cfg.arch, cfg.epochs, cfg.batch_size, cfg.lr, cfg.beta1, cfg.beta2) == ("fast", 5, 256, 1e-2, 0.7, 0.9)
    assert cfg.label_smoothing == 0.1 and cfg.shift == 1 and cfg.channels_last and cfg.weight_decay == 0
    d = cnn_train.preset_config("default")  # the other presets keep their recipe
    assert (d.beta1, d.beta2, d.label_smoothing, d.shift, d.channels_last) == (0.9, 0.999, 0.0, 0, False)
    with pytest.raises(UserError, match="label smoothing"):
        cnn_train.validate(cnn_train.preset_config("fast", label_smoothing=1.0))


def test_cli_keeps_the_presets_own_epochs_and_batch():
    p = cli.build_parser(["train", "cnn"])
    a = p.parse_args(["train", "cnn", "--preset", "fast"])
    assert cnn_train.config_from_args(a) == cnn_train.preset_config("fast")
    assert cnn_train.command_line(a) == "python -m core train cnn --preset fast --epochs 5 --seed 0"
    a = p.parse_args(["train", "cnn", "--epochs", "3", "--lr", "0.001"])
    cfg = cnn_train.config_from_args(a)
    assert (cfg.arch, cfg.epochs, cfg.batch_size, cfg.lr) == ("default", 3, 128, 1e-3)
    assert cnn_train.command_line(a) == "python -m core train cnn --preset default --epochs 3 --seed 0 --lr 0.001"


def test_shift_batch_moves_every_image_the_same_whole_pixels():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10, 12] = 1.0
    gen = torch.Generator().manual_seed(3)
    seen = set()
    for _ in range(30):
        y = cnn_train.shift_batch(x, 1, gen)
        assert y.shape == x.shape and float(y.sum()) == 4.0
        where = {tuple(torch.nonzero(y[i, 0])[0].tolist()) for i in range(4)}
        assert len(where) == 1  # one shift per batch
        (r, c), = where
        seen.add((r - 10, c - 12))
    assert seen == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


@pytest.mark.slow
def test_fast_preset_learns_in_a_few_hundred_steps(mnist):
    cfg = cnn_train.preset_config("fast", epochs=1, max_steps=200, threads=1, seed=0)
    fin = last(cnn_train.train(cfg, mnist))
    assert fin.metrics["steps"] == 200
    assert fin.metrics["test_accuracy"] >= 0.985  # measured 0.9931 (seed 0, one thread)


@pytest.mark.slow
def test_fast_run_resumes_like_an_unbroken_one(tmp_path, small):
    cfg = cnn_train.preset_config("fast", epochs=2, threads=1, seed=1)
    whole = last(cnn_train.train(cfg, small, tmp_path / "whole")).params
    broken = tmp_path / "broken"
    last(cnn_train.train(cnn_train.preset_config("fast", epochs=2, threads=1, seed=1, max_steps=10), small, broken))
    ckpt = torch.load(broken / cnn.CHECKPOINT_NAME, weights_only=True)  # a run saved before the fields were added
    ckpt["config"] = {k: v for k, v in ckpt["config"].items() if k not in cnn_train.ADDED_FIELDS}
    torch.save(ckpt, broken / cnn.CHECKPOINT_NAME)
    with pytest.raises(UserError, match="different config"):  # older checkpoints are read as the recipe they ran
        last(cnn_train.train(cnn_train.preset_config("fast", epochs=2, threads=1, seed=1), small, broken))
    ckpt["config"] = {**ckpt["config"], **{k: getattr(cfg, k) for k in cnn_train.ADDED_FIELDS}}
    torch.save(ckpt, broken / cnn.CHECKPOINT_NAME)
    resumed = last(cnn_train.train(cfg, small, broken))
    assert all(np.array_equal(whole[k], resumed.params[k]) for k in whole)
    model, saved = cnn.load_model(broken)
    assert model.arch == "fast" and saved["shift"] == 1


@pytest.mark.slow
def test_bench_speedrun_writes_its_json(runs, small, monkeypatch, capsys):
    monkeypatch.setattr("core.data.load_mnist", lambda: small)
    argv = ["bench", "speedrun", "--seeds", "2", "--threads", "1", "--max-steps", "6", "--eval-every", "3"]
    assert cli.main(argv) == 0
    r = json.loads((runs / "bench" / "speedrun.json").read_text())
    assert [s["seed"] for s in r["seeds"]] == [0, 1] and r["threads"] == 1 and r["machine"]["cpu"]
    for s in r["seeds"]:
        assert 0 <= s["final_test_accuracy"] <= 1 and s["steps"] == 6
        assert [p[0] for p in s["curve"]] == [3, 6] and s["curve"][-1][1] == pytest.approx(s["train_seconds"], 1e-3)
        assert s["seconds_to_99"] is None or s["seconds_to_99"] <= s["train_seconds"]
    assert set(r["median"]) == {"seconds_to_99", "seconds_to_995", "final_test_accuracy"}
    finals = [s["final_test_accuracy"] for s in r["seeds"]]
    assert r["median"]["final_test_accuracy"] == pytest.approx(np.median(finals))
    assert len(r["validation"]["seeds"]) == 2 and "test_accuracy_at_99" in r["validation"]["seeds"][0]
    assert r["default_preset"]["schedule_epochs"] == 3  # today's default preset, beside it
    assert "test rule" in capsys.readouterr().out


def test_validation_rule_stops_where_validation_says_and_measures_test_there(small, monkeypatch):
    out = speedrun.validation_rule(small, seed=0, eval_every=2, threads=1, device="cpu", max_steps=4, say=lambda *_: 0)
    for n in speedrun.TARGETS:  # 4 steps reach neither target: nothing stops, nothing is measured on test
        assert out[f"seconds_to_{n}"] is None and out[f"test_accuracy_at_{n}"] is None
    monkeypatch.setattr(speedrun, "TARGETS", {"99": 0.0, "995": 2.0})  # the first point passes one, none the other
    out = speedrun.validation_rule(small, 0, 2, 1, "cpu", max_steps=4, say=lambda *_: 0)
    assert out["stop_at_99"]["step"] == 2 and 0 <= out["test_accuracy_at_99"] <= 1
    assert out["seconds_to_995"] is None


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_phase4_offers_fast_as_the_live_run_with_its_measured_time(runs):
    from tests.test_dashboard import open_page

    at = open_page("phase4_cnn.py")
    assert at.selectbox(key="p4_preset").value == "fast"
    assert at.number_input(key="p4_epochs").value == 5
    text = " ".join(m.value for m in at.markdown)
    assert "first reaches **99.0 %**" in text and "measured on" in text  # the committed figure
    (runs / "bench").mkdir(parents=True)
    (runs / "bench" / "speedrun.json").write_text(json.dumps({
        "median": {"seconds_to_99": 7.4, "seconds_to_995": 31.0}, "seeds": [{}] * 5, "threads": 2,
        "machine": {"cpu": "Test CPU"}, "date": "2030-01-01"}))
    at = open_page("phase4_cnn.py")
    text = " ".join(m.value for m in at.markdown)
    assert "**7 s**" in text and "Test CPU" in text and "on this machine" in text
    assert "default" in at.selectbox(key="p4_preset").options  # the full recipe stays a choice


def test_loop_total_steps_for_the_fast_preset():
    assert loop.total_steps(cnn_train.preset_config("fast")) == 235 * 5
