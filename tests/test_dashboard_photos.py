"""Whole photos in the dashboard (issue 12): a 12 MP phone photo uploaded to the Playground and a camera snapshot
on the Camera page are searched whole and read as the digit written on them, with the default settings."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.images import PHOTO_MIN_SIDE, decode_image
from core.inference import load_model
from core.predict import classify
from core.preprocess import PreprocessConfig

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def photo_jpeg(mnist, label: int, size: tuple[int, int], seed: int) -> bytes:
    """A JPEG photo of paper with one MNIST test digit somewhere in the middle (rendered at a quarter of the size
    by core.camera_set, then enlarged as a phone's big sensor would see it)."""
    from core.camera_set import Style, camera_photo

    rng = np.random.default_rng(seed)
    digit = mnist.test_images[int(np.flatnonzero(mnist.test_labels == label)[seed])]
    style = Style(pen="medium", ink="blue", digit_size=0.6, gradient=0.15, blur=0.5, noise=2.0, jpeg=None)
    small, _ = camera_photo(digit, rng, size[0] // 4, size[1] // 4, style=style)
    buf = io.BytesIO()
    Image.fromarray(small).resize(size, Image.BICUBIC).save(buf, "JPEG", quality=90)
    raw = buf.getvalue()
    got = classify(decode_image(raw, min_side=PHOTO_MIN_SIDE), load_model(), PreprocessConfig())["digit"]
    assert got == label, f"the test photo itself reads as {got} through `predict`: pick another seed"
    return raw


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow
def test_a_12_megapixel_upload_to_the_playground_reads_the_digit(runs, mnist):
    raw = photo_jpeg(mnist, 7, (4032, 3024), seed=1)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("../pages/playground.py").run()
    at.radio(key="pg_source").set_value("Upload a photo").run()
    at.get("file_uploader")[0].upload("IMG_4032.jpg", raw, "image/jpeg")
    at.run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert metric(at, "The model reads") == "7"


def test_a_camera_snapshot_is_searched_whole_and_read(runs, mnist):
    raw = photo_jpeg(mnist, 3, (944, 708), seed=2)  # the dashboard's snapshot size (946x709, even sides here)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("../pages/camera.py").run()
    at.get("camera_input")[0].upload("snapshot.jpg", raw, "image/jpeg")
    at.run()
    warnings = [w.value for w in at.warning]  # (AppTest has no live video: the page says so, and that is all)
    assert not at.exception and not any("digit" in w for w in warnings), warnings
    assert metric(at, "The snapshot reads") == "3"
