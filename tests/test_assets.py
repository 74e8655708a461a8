"""What a fresh clone must hold in core/assets: the shipped pair and the torch weights it was made from."""

import subprocess
from pathlib import Path

import numpy as np

from core.storage import ASSETS_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_file_is_tracked_by_git():
    """A file the code reads from core/assets but git ignores works here and breaks on every fresh clone."""
    tracked = set(subprocess.run(["git", "ls-files", "core/assets"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    for name in ("model.onnx", "model.json", "model.pt", "ladder.json"):
        assert f"core/assets/{name}" in tracked, f"core/assets/{name} is not tracked by git"


def test_fine_tuning_starts_from_the_shipped_weights_without_any_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path / "runs"))  # an empty runs folder, as on a fresh clone
    from core.finetune import base_model_path

    assert base_model_path() == ASSETS_DIR / "model.pt"


def test_shipped_weights_are_the_network_of_the_shipped_model(mnist):
    """model.pt and model.onnx are one network: same outputs, and the same answers on 2,000 test digits."""
    import torch

    from core import cnn
    from core.inference import load_model

    model, _ = cnn.load_model(ASSETS_DIR / "model.pt")
    shipped = load_model(ASSETS_DIR / "model.onnx")
    x = mnist.test_images[:2000].astype(np.float32) / 255
    with torch.no_grad():
        z_torch = model(torch.from_numpy(x[:, None])).numpy()
    z_onnx = shipped.logits(x)
    assert z_torch.shape == z_onnx.shape == (2000, len(shipped.contract["labels"]))
    assert (z_torch.argmax(1) == z_onnx.argmax(1)).mean() >= 0.998  # measured 0.9995 (int8 vs fp32)
    assert np.abs(z_torch - z_onnx).max() < 1.0  # measured 0.64 (int8 rounding)
