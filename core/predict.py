"""`python -m core predict FILE...`: classify image files through the camera pipeline and the model.

With --all every digit in each file is read (core.numbers): one record per file with `text` (the digits, left
to right, lines joined by one space, "" when none) and `digits` ({digit, confidence, box: [x, y, w, h]} in the
file's pixels, in reading order).

Files are decoded by core.images (any file gives a result or a one-line error, never a crash or a hang);
the preprocessing settings come from the model's contract, then the command's flags (core.contract).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.contract import resolve_preprocess
from core.errors import UserError
from core.images import PHOTO_MIN_SIDE, load_image
from core.inference import OnnxModel, decide, default_model_path, load_model
from core.preprocess import PreprocessConfig, preprocess, raw_input

# ---------------------------------------------------------------- classification


def classify(image: np.ndarray, model: OnnxModel, cfg: PreprocessConfig, raw: bool = False) -> dict:
    """One image -> {digit, confidence, probabilities, reason}: digit None with a reason when the pipeline finds
    no digit or the model's contract rejects it. raw: an MNIST-style image, no pipeline, no rejection."""
    if raw:
        x, reason = raw_input(image), None
    else:
        r = preprocess(image, cfg)
        x, reason = r.image, r.reason
    if x is None:
        return {"digit": None, "confidence": None, "probabilities": None, "reason": reason}
    a = decide(model.logits(x[None]), None if raw else model.contract.get("rejection"))[0]
    return {"digit": a.digit, "confidence": a.confidence, "probabilities": [float(v) for v in a.probabilities],
            "reason": a.reason}


def predict_files(paths: Iterable[str], model: OnnxModel, cfg: PreprocessConfig, raw: bool = False):
    """Yield one record per path, in order: path (as given), digit, confidence, probabilities, reason[, error]."""
    for p in paths:
        try:
            rec = classify(load_image(p, None if raw else PHOTO_MIN_SIDE), model, cfg, raw)
        except UserError as e:
            rec = {"digit": None, "confidence": None, "probabilities": None, "reason": None, "error": str(e)}
        yield {"path": p, **rec}


def read_files(paths: Iterable[str], model: OnnxModel, cfg: PreprocessConfig):
    """--all: yield one record per path, in order: path (as given), text, digits[, error]. Files are decoded at
    full size, so every box is in the file's own pixels."""
    from core.numbers import read_digits

    for p in paths:
        try:
            rec = read_digits(load_image(p), model, cfg)
        except UserError as e:
            rec = {"text": None, "digits": None, "error": str(e)}
        yield {"path": p, **rec}


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise UserError(f"--steps: expected sizes like 112,56, got {text!r}") from None


def predict_args(p) -> None:
    d, unset = PreprocessConfig(), argparse.SUPPRESS  # unset options fall back to the model contract's settings
    p.add_argument("files", nargs="+", help="PNG/JPEG images: whole photos, snapshots or crops; the digit is found")
    p.add_argument("--model", type=Path, default=unset, help=f"ONNX model with its contract (default: "
                   f"{default_model_path().relative_to(default_model_path().parents[2])})")
    p.add_argument("--box", type=float, default=unset, help="treat each file as a live camera frame: search only "
                   "the centred box, this fraction of the short side (default: search the whole image)")
    p.add_argument("--steps", type=str, default=unset,
                   help=f"downscale sizes, e.g. 112,56 (default: the contract's, else {','.join(map(str, d.steps))})")
    p.add_argument("--single-step", action="store_true", help="one bilinear resize instead of area steps")
    p.add_argument("--radius", type=int, default=unset,
                   help=f"threshold radius (default: the contract's, else {d.radius})")
    p.add_argument("--offset", type=float, default=unset,
                   help=f"ink threshold, a fraction of the paper (default: the contract's, else {d.offset})")
    p.add_argument("--gain", type=float, default=unset,
                   help=f"darkness for full ink strength, a fraction (default: the contract's, else {d.gain})")
    p.add_argument("--no-framing", action="store_true", help="skip MNIST framing (resize the ink map to 28x28)")
    p.add_argument("--raw", action="store_true", help="input is MNIST-style (white on black): no threshold, no framing")
    p.add_argument("--all", action="store_true", help="read every digit in each file, lines top to bottom, "
                   "digits left to right (with --json: path, text, digits [{digit, confidence, box}])")
    p.add_argument("--json", action="store_true", help="one JSON object per line: path, digit, confidence, "
                   "probabilities, reason (and error for unreadable files)")


def predict_main(a) -> int:
    """Classify every file, in order; exit 0 when each was read, 2 (a user error) when any could not be: each such
    file gets its own `error:` line (or JSON record) and the others are still classified."""
    model = load_model(getattr(a, "model", None))
    over: dict = {"box": getattr(a, "box", None)}
    over |= {k: getattr(a, k) for k in ("radius", "offset", "gain") if hasattr(a, k)}
    if hasattr(a, "steps"):
        over["steps"] = _steps(a.steps)
    if a.single_step:
        over["single_step"] = True
    if a.no_framing:
        over["framing"] = False
    cfg = resolve_preprocess(model.contract, over)
    if getattr(a, "all", False):
        if a.raw:
            raise UserError("--raw reads one MNIST-style digit per file; it does not combine with --all")
        return _print_all(read_files(a.files, model, cfg), a.json)
    failed = 0
    for rec in predict_files(a.files, model, cfg, a.raw):
        failed += "error" in rec
        if a.json:
            print(json.dumps(rec), flush=True)
        elif "error" in rec:
            print(f"error: {rec['error']}", file=sys.stderr, flush=True)
        elif rec["digit"] is None:
            print(f"{rec['path']}: no digit ({rec['reason']})", flush=True)
        else:
            probs = " ".join(f"{v:.3f}" for v in rec["probabilities"])
            print(f"{rec['path']}: {rec['digit']} (confidence {rec['confidence']:.3f})  p = [{probs}]", flush=True)
    return 2 if failed else 0


def _print_all(records, as_json: bool) -> int:
    """--all output: a JSON record per line, or `PATH: TEXT` (`PATH: no digits`); exit 2 when a file failed."""
    failed = 0
    for rec in records:
        failed += "error" in rec
        if as_json:
            print(json.dumps(rec), flush=True)
        elif "error" in rec:
            print(f"error: {rec['error']}", file=sys.stderr, flush=True)
        else:
            print(f"{rec['path']}: {rec['text'] or 'no digits'}", flush=True)
    return 2 if failed else 0
