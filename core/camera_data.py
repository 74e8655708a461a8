"""Training data for the camera (issue 13): what the pipeline hands the model, and what "not a digit" looks like.

Digits: MNIST *train* digits rendered by the tuning simulator (core.camera_set: box crops, digits filling the box,
small whole photos) and passed through core.preprocess with the given settings; the 28x28 images that come out
are what the model sees from a camera. Not a digit (label 10): core.negatives' marks (letters and symbols from
TTF fonts, pen strokes, scribbles, dashes, cut fragments of digits) drawn on the pad's white and also rendered
on paper through the same simulator and pipeline, plus empty paper (blank, shadowed, ruled, a page's edge) that
the pipeline still found something in. Frames where the pipeline finds nothing add nothing: the model never
sees them.

A pool is made once and cached (runs/cache/, keyed by everything that shapes it, written atomically): one
rendering costs ~25 ms, a training step ~0.3 ms per image, so rendering afresh for every epoch would make an
epoch ~80x slower (`python -m core bench` figures in core/assets/README.md). Two processes make it.

Held out of every pool: MNIST train's last 10k (the validation split; `split="val"` renders those for choosing
thresholds) and the negative sources in HELD_OUT (used only by the validation pool). The evaluation simulator
(core.eval_sim) and its Hershey-font glyphs never appear here.
"""

from __future__ import annotations

import hashlib
import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.preprocess import PreprocessConfig

NONE_LABEL = 10  # the "not a digit" class
TRAIN_DIGITS = 50_000  # MNIST train[:50000] trains, train[50000:] validates
POOL_VERSION = 1
HELD_OUT = ("font:Liberation Serif", "font:DejaVu Sans Mono", "dash")  # validation-only negative sources
DIGIT_KINDS = {"box": 0.55, "filling": 0.25, "photo": 0.20}  # how a digit reaches the pipeline
NEGATIVE_KINDS = {"marks on paper": 0.4, "marks drawn": 0.35, "empty paper": 0.25}


@dataclass(frozen=True)
class Pool:
    images: np.ndarray  # (N,28,28) uint8: the pipeline's output, 0..255
    labels: np.ndarray  # (N,) int64: 0-9, or NONE_LABEL
    sources: np.ndarray  # (N,) str: how each was made (digit kind, or the negative source)


def _source_files() -> list[Path]:
    here = Path(__file__).parent
    return [here / f for f in ("camera_set.py", "preprocess.py", "negatives.py", "camera_data.py")]


def pool_key(digits: int, negatives: int, seed: int, split: str, cfg: PreprocessConfig) -> str:
    """A hash of everything that shapes a pool: counts, seed, split, settings and the code that renders it."""
    h = hashlib.sha256(json.dumps([POOL_VERSION, digits, negatives, seed, split, cfg.to_dict()]).encode())
    for f in _source_files():
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _negative_sources(split: str) -> list[str]:
    from core.negatives import SOURCES

    return [s for s in SOURCES if (s in HELD_OUT) == (split == "val")]


def _digit_chunk(args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Worker: render `n` digits (indices drawn from `lo..hi`) and pass each through the pipeline."""
    n, lo, hi, seed, cfg_dict = args
    from core import camera_set as cs
    from core.data import load_mnist
    from core.preprocess import preprocess
    from core.runtime import set_threads

    set_threads(1)
    m, cfg, rng = load_mnist(fetch=False), PreprocessConfig.from_dict(cfg_dict), np.random.default_rng(seed)
    kinds, p = list(DIGIT_KINDS), list(DIGIT_KINDS.values())
    images, labels, sources = [], [], []
    for _ in range(n):
        j, kind = int(rng.integers(lo, hi)), str(rng.choice(kinds, p=p))
        d = m.train_images[j]
        frame = (cs.camera_sample(d, rng) if kind == "box" else cs.filling_sample(d, rng) if kind == "filling"
                 else cs.camera_photo(d, rng, 320, 240)[0])
        r = preprocess(frame, cfg)
        if r.image is not None:
            images.append(np.round(r.image * 255).astype(np.uint8))
            labels.append(int(m.train_labels[j]))
            sources.append(kind)
    return _stack(images), np.array(labels, np.int64), sources


def _negative_chunk(args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Worker: `n` attempts at negatives of the given sources; the pipeline's output where it found something."""
    n, lo, hi, seed, cfg_dict, sources = args
    from core import camera_set as cs
    from core.data import load_mnist
    from core.negatives import negatives
    from core.preprocess import preprocess
    from core.runtime import set_threads

    set_threads(1)
    m, cfg, rng = load_mnist(fetch=False), PreprocessConfig.from_dict(cfg_dict), np.random.default_rng(seed)
    marks, names = negatives(n, rng, sources, m.train_images[lo:hi], m.train_labels[lo:hi])
    kinds, p = list(NEGATIVE_KINDS), list(NEGATIVE_KINDS.values())
    images, out_sources = [], []
    for mark, name in zip(marks, names, strict=True):
        kind = str(rng.choice(kinds, p=p))
        if kind == "marks drawn":  # as on the drawing pad: white ink on black, already MNIST-like
            images.append(mark)
            out_sources.append(f"{name} (drawn)")
            continue
        if kind == "marks on paper":
            frame = cs.camera_sample(mark, rng) if rng.random() < 0.7 else cs.filling_sample(mark, rng)
            what = f"{name} (on paper)"
        else:
            empty = cs.NEGATIVE_KINDS[int(rng.integers(len(cs.NEGATIVE_KINDS)))]
            style = cs.negative_style(empty, rng)
            frame = cs.camera_sample(None, rng, style) if rng.random() < 0.7 else cs.camera_photo(
                None, rng, 320, 240, style)[0]
            what = f"empty: {empty}"
        r = preprocess(frame, cfg)
        if r.image is not None:
            images.append(np.round(r.image * 255).astype(np.uint8))
            out_sources.append(what)
    return _stack(images), np.full(len(images), NONE_LABEL, np.int64), out_sources


def _stack(images: list[np.ndarray]) -> np.ndarray:
    return np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)


def make_pool(digits: int, negatives: int, seed: int = 0, split: str = "train",
              cfg: PreprocessConfig | None = None, workers: int = 2) -> Pool:
    """Render a pool (no cache): `digits` digit attempts and `negatives` negative attempts, in chunks of 500
    spread over `workers` processes; each chunk's RNG comes from (seed, split, chunk), so the result does not
    depend on `workers`."""
    cfg = cfg or PreprocessConfig()
    lo, hi = (0, TRAIN_DIGITS) if split == "train" else (TRAIN_DIGITS, 60_000)
    jobs_d, jobs_n = [], []
    for c in range(math.ceil(digits / 500)):
        s = int(np.random.SeedSequence([seed, split == "val", 0, c]).generate_state(1)[0])
        jobs_d.append((min(500, digits - 500 * c), lo, hi, s, cfg.to_dict()))
    sources = _negative_sources(split)
    for c in range(math.ceil(negatives / 500)):
        s = int(np.random.SeedSequence([seed, split == "val", 1, c]).generate_state(1)[0])
        jobs_n.append((min(500, negatives - 500 * c), lo, hi, s, cfg.to_dict(), sources))
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            parts = list(ex.map(_digit_chunk, jobs_d)) + list(ex.map(_negative_chunk, jobs_n))
    else:
        parts = [_digit_chunk(j) for j in jobs_d] + [_negative_chunk(j) for j in jobs_n]
    return Pool(np.concatenate([p[0] for p in parts] or [np.zeros((0, 28, 28), np.uint8)]),
                np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)]),
                np.array([s for p in parts for s in p[2]], dtype=str))


def cached_pool(digits: int, negatives: int, seed: int = 0, split: str = "train",
                cfg: PreprocessConfig | None = None, workers: int = 2, say=print) -> Pool:
    """make_pool, read from runs/cache/ when an identical pool was made before (else made and saved)."""
    from core.storage import atomic_save_npz, runs_dir

    cfg = cfg or PreprocessConfig()
    path = runs_dir() / "cache" / f"camera-pool-{split}-{pool_key(digits, negatives, seed, split, cfg)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Pool(z["images"], z["labels"], z["sources"])
        except (OSError, ValueError, KeyError):
            say(f"{path} is unreadable: making the pool again")
    say(f"rendering a camera pool ({digits} digits, {negatives} negatives, {split}) into {path} ...")
    pool = make_pool(digits, negatives, seed, split, cfg, workers)
    atomic_save_npz(path, **asdict(pool))
    return pool
