"""Your own labelled digits: a small local collection under the runs folder (runs/collection/), for fine-tuning.

One PNG per digit: the 28x28 model input (white ink on black, as MNIST) that the camera pipeline made of a drawing,
a camera frame or a photo, written atomically. Its name carries everything else:
`<label>-<split>-<source>-<time>-<random>.png`. The split is fixed when a digit is saved: every fifth digit saved is
held out, never trained on, so the before/after figures on it measure the gain honestly (core.finetune).
"""

from __future__ import annotations

import io
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.storage import atomic_write_bytes, runs_dir

TRAIN, HELD_OUT = "train", "heldout"
HOLD_OUT_EVERY = 5  # the 5th, 10th, ... digit saved is held out
SOURCES = ("drawn", "camera", "photo", "test")
_NAME = re.compile(r"^(?P<label>\d)-(?P<split>train|heldout)-(?P<source>[a-z]+)-"
                   r"(?P<time>\d{8}-\d{6}\.\d{6})-[0-9a-f]+$")


@dataclass(frozen=True)
class Sample:
    id: str  # the file's stem
    label: int
    split: str  # TRAIN or HELD_OUT
    source: str  # one of SOURCES
    saved: str  # YYYYmmdd-HHMMSS.micros: names sort in the order the digits were saved
    path: Path


def collection_dir() -> Path:
    return runs_dir() / "collection"


def _to_uint8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise UserError(f"a collected digit must be the 28x28 model input, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind != "f" or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise UserError("a collected digit must be uint8 or float in [0, 1]")
    return (a * 255 + 0.5).astype(np.uint8)


def list_samples(folder: Path | None = None) -> list[Sample]:
    """Every digit in the collection, oldest first (files that are not ours are ignored)."""
    folder = folder or collection_dir()
    out = []
    try:
        files = sorted(folder.glob("*.png"))
    except OSError:
        return []
    for p in files:
        m = _NAME.match(p.stem)
        if m:
            out.append(Sample(p.stem, int(m["label"]), m["split"], m["source"], m["time"], p))
    return sorted(out, key=lambda s: (s.saved, s.id))


def save(image: np.ndarray, label: int, source: str = "drawn", folder: Path | None = None) -> Sample:
    """Add a (28,28) model input with its correct label; every HOLD_OUT_EVERY-th digit saved is held out."""
    from PIL import Image

    if not (isinstance(label, int | np.integer) and 0 <= int(label) <= 9):
        raise UserError(f"label must be a digit 0-9, got {label!r}")
    if source not in SOURCES:
        raise UserError(f"source must be one of {', '.join(SOURCES)}")
    folder = folder or collection_dir()
    n = len(list_samples(folder))
    split = HELD_OUT if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else TRAIN
    t = time.time()
    when = time.strftime("%Y%m%d-%H%M%S", time.localtime(t)) + f".{int(t % 1 * 1e6):06d}"
    stem = f"{int(label)}-{split}-{source}-{when}-{secrets.token_hex(3)}"
    buf = io.BytesIO()
    Image.fromarray(_to_uint8(image), mode="L").save(buf, format="PNG")
    path = atomic_write_bytes(folder / f"{stem}.png", buf.getvalue())
    return Sample(stem, int(label), split, source, when, path)


def delete(ids: list[str], folder: Path | None = None) -> int:
    """Remove digits by id; returns how many were removed."""
    folder = folder or collection_dir()
    gone = 0
    for s in list_samples(folder):
        if s.id in set(ids):
            s.path.unlink(missing_ok=True)
            gone += 1
    return gone


def load(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """(N,28,28) uint8 images and (N,) labels of these samples; unreadable files are a one-line UserError."""
    from PIL import Image

    images = []
    for s in samples:
        try:
            with Image.open(s.path) as im:
                a = np.asarray(im.convert("L"))
        except (OSError, ValueError) as e:
            raise UserError(f"{s.path} is not a readable collected digit ({type(e).__name__}); delete it") from None
        if a.shape != (28, 28):
            raise UserError(f"{s.path} is {a.shape[1]}x{a.shape[0]}, not 28x28; delete it")
        images.append(a)
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.uint8),
            np.array([s.label for s in samples], np.int64))


def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(trained on, held out)."""
    return [s for s in samples if s.split == TRAIN], [s for s in samples if s.split == HELD_OUT]
