"""`python -m core bench preprocess`: the camera pipeline's accuracy and speed, against the seed's and references.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.contract import resolve_preprocess
from core.errors import UserError
from core.inference import OnnxModel, load_model
from core.preprocess import PreprocessConfig, preprocess


def camera_set_scores(model: OnnxModel, configs: dict[str, PreprocessConfig], n: int = 2000, negatives: int = 600,
                      seed: int = 7) -> dict:
    """Accuracy and no-digit rates of each config on the same seeded camera-like set (digits and negatives).

    Seed 7 is held out: the defaults were tuned on seeds 123 (digits) and 456 (negatives).
    """
    from core.camera_set import NEGATIVE_KINDS, samples

    pos = list(samples(n, seed=seed))
    neg = list(samples(negatives, seed=seed + 1, negatives=True))
    kinds = [NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)] for i in range(len(neg))]
    labels = np.array([y for _, y in pos])
    out = {}
    for name, cfg in configs.items():
        box = replace(cfg, box=None)  # each sample is the box's content, as predict takes a file
        results = [preprocess(im, box) for im, _ in pos]
        has = np.array([r.image is not None for r in results])
        pred = np.full(len(pos), -1)
        if has.any():
            pred[has] = model.probabilities(np.stack([r.image for r in results if r.image is not None])).argmax(1)
        neg_none = np.array([preprocess(im, box).image is None for im, _ in neg])
        out[name] = {
            "config": cfg.to_dict(),
            "accuracy": float((pred == labels).mean()),
            "digit_rate": float(has.mean()),
            "accuracy_when_guessing": float((pred[has] == labels[has]).mean()) if has.any() else None,
            "no_digit_rate": float(neg_none.mean()),
            "no_digit_by_kind": {k: float(neg_none[[x == k for x in kinds]].mean()) for k in NEGATIVE_KINDS
                                 if k in kinds},
        }
    return {"digits": n, "negatives": negatives, "seed": seed, "configs": out}


# ---------------------------------------------------------------- bench


def _time(fn, repeat: int) -> float:
    from core.runtime import median_seconds

    return median_seconds(fn, repeat=repeat, warmup=max(1, repeat // 10))


def latency(model: OnnxModel, cfg: PreprocessConfig, width: int, height: int, repeat: int = 200) -> dict:
    """Median seconds per frame: preprocessing alone and frame -> probabilities, on a camera-like frame."""
    from core.camera_set import camera_frame

    rng = np.random.default_rng(width * height)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a plain "1" stroke is enough for timing
    frame = camera_frame(digit, rng, width=width, height=height, box=cfg.box or min(width, height))

    def whole() -> None:
        r = preprocess(frame, cfg)
        if r.image is not None:
            model.probabilities(r.image[None])

    return {"frame": [height, width, 3], "found_digit": preprocess(frame, cfg).image is not None,
            "preprocess_s": _time(lambda: preprocess(frame, cfg), repeat),
            "frame_to_probabilities_s": _time(whole, repeat)}


def threshold_speed(cfg: PreprocessConfig, repeat: int = 50) -> dict:
    """Vectorized threshold vs the plain-loop reference (28x28 and working size) and vs OpenCV (640x480)."""
    from core.preprocess import threshold
    from core.preprocess_reference import threshold_grid

    rng = np.random.default_rng(0)
    out: dict = {}
    for side in sorted({28, cfg.steps[-1]}):
        g = np.floor(rng.uniform(0, 255, (side, side)) * 64) / 64
        gl = g.tolist()
        ours = _time(lambda g=g: threshold(g, cfg.radius, cfg.offset, cfg.gain), repeat * 4)
        ref = _time(lambda gl=gl: threshold_grid(gl, cfg.radius, cfg.offset, cfg.gain), max(3, repeat // 10))
        out[f"{side}x{side}"] = {"ours_s": ours, "reference_loops_s": ref, "speedup_vs_reference": ref / ours}
    big = rng.integers(0, 256, (480, 640)).astype(np.uint8)
    ours = _time(lambda: threshold(big.astype(np.float64), cfg.radius, cfg.offset, cfg.gain), repeat)
    entry = {"ours_s": ours}
    try:
        import cv2
    except ImportError:
        entry["opencv"] = "not installed (pip install -r requirements-dev.txt): no comparison"
    else:
        k = 2 * cfg.radius + 1
        cv = _time(lambda: cv2.adaptiveThreshold(big, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, k,
                                                 cfg.offset), repeat)
        entry.update(opencv_s=cv, ours_over_opencv=ours / cv, opencv=cv2.__version__)
    out["640x480"] = entry
    return out


def pipeline_vs_reference(cfg: PreprocessConfig) -> dict:
    """Whole preprocessing of one 640x480 frame: vectorized vs the plain-loop reference (and a partial OpenCV one)."""
    from core.camera_set import camera_frame
    from core.preprocess_reference import reference_stages

    rng = np.random.default_rng(1)
    mnist_like = np.zeros((28, 28), np.uint8)
    mnist_like[6:22, 12:16] = 255
    frame = camera_frame(mnist_like, rng, 640, 480)
    ours = _time(lambda: preprocess(frame, cfg), 100)
    ref = _time(lambda: reference_stages(frame, cfg), 3)
    out = {"ours_s": ours, "reference_loops_s": ref, "speedup_vs_reference": ref / ours}
    try:
        import cv2
    except ImportError:
        out["opencv"] = "not installed: no comparison"
        return out
    b, s = cfg.box or 480, cfg.steps[-1]
    y0, x0 = (480 - b) // 2, (640 - b) // 2

    def cv_pipeline() -> None:  # crop, one INTER_AREA resize, gray, adaptive threshold: no clean-up, no framing
        small = cv2.resize(frame[y0 : y0 + b, x0 : x0 + b], (s, s), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 2 * cfg.radius + 1,
                              cfg.offset)

    cv = _time(cv_pipeline, 100)
    out.update(opencv_partial_pipeline_s=cv, ours_over_opencv_partial=ours / cv)
    return out


def run_bench(model_path: Path | None = None, n: int = 2000, negatives: int = 600, repeat: int = 200,
              sizes: tuple[tuple[int, int], ...] = ((640, 480), (1920, 1080))) -> dict:
    """Every figure of `bench preprocess`, measured in one run."""
    from core.runtime import machine_info, set_threads

    threads = set_threads(1)  # one camera frame at a time: single-threaded, like the camera page
    model = load_model(model_path, threads=1)
    ours, seed = PreprocessConfig(), PreprocessConfig.seed()
    t0 = time.perf_counter()
    result = {
        "machine": {**machine_info(), "threads": threads},
        "model": {"path": str(model.path), "sha256": model.contract.get("sha256"),
                  "contract_preprocess_matches_defaults": _contract_matches(model, ours)},
        "config_ours": ours.to_dict(),
        "config_seed": seed.to_dict(),
        "latency": {f"{w}x{h}": latency(model, ours, w, h, repeat) for w, h in sizes},
        "threshold": threshold_speed(ours, max(10, repeat // 4)),
        "pipeline_640x480": pipeline_vs_reference(ours),
    }
    configs = {"ours": ours}
    if not result["model"]["contract_preprocess_matches_defaults"]:
        try:
            configs["the model contract's settings"] = resolve_preprocess(model.contract)
        except UserError:
            pass
    configs |= {
        "seed": seed,
        "seed, single bilinear step": replace(seed, single_step=True),
        "ours without framing": replace(ours, framing=False),
        "ours, single bilinear step": replace(ours, single_step=True),
    }
    result["camera_set"] = camera_set_scores(model, configs, n, negatives)
    result["elapsed_s"] = time.perf_counter() - t0
    return result


def _contract_matches(model: OnnxModel, cfg: PreprocessConfig) -> bool:
    try:
        return resolve_preprocess(model.contract) == cfg
    except UserError:
        return False


def format_report(r: dict) -> str:
    """The bench's figures as a plain-text table."""
    ms = lambda s: f"{s * 1e3:8.3f} ms"  # noqa: E731
    lines = [f"model {r['model']['path']}  (contract preprocess == defaults: "
             f"{r['model']['contract_preprocess_matches_defaults']})", "", "Latency, median per frame (1 thread):"]
    for k, v in r["latency"].items():
        lines.append(f"  {k:>10}: preprocess {ms(v['preprocess_s'])}   frame -> probabilities "
                     f"{ms(v['frame_to_probabilities_s'])}   (target <= 3 ms at 1920x1080)")
    lines.append("Local threshold, vectorized vs plain loops and OpenCV (same input):")
    for k, v in r["threshold"].items():
        if "reference_loops_s" in v:
            lines.append(f"  {k:>10}: ours {ms(v['ours_s'])}   loops {ms(v['reference_loops_s'])}   "
                         f"speed-up x{v['speedup_vs_reference']:.0f} (target >= 50 at 28x28)")
        elif "opencv_s" in v:
            lines.append(f"  {k:>10}: ours {ms(v['ours_s'])}   cv2.adaptiveThreshold {ms(v['opencv_s'])}   "
                         f"ours/OpenCV = {v['ours_over_opencv']:.1f}x slower")
        else:
            lines.append(f"  {k:>10}: ours {ms(v['ours_s'])}   OpenCV: {v['opencv']}")
    p = r["pipeline_640x480"]
    lines.append(f"Whole preprocessing, 640x480: ours {ms(p['ours_s'])}   loops {ms(p['reference_loops_s'])}   "
                 f"speed-up x{p['speedup_vs_reference']:.0f}")
    if "opencv_partial_pipeline_s" in p:
        lines.append(f"  OpenCV crop+INTER_AREA+gray+threshold only (no clean-up/framing): "
                     f"{ms(p['opencv_partial_pipeline_s'])}  (ours/OpenCV {p['ours_over_opencv_partial']:.1f}x)")
    c = r["camera_set"]
    lines += ["", f"Camera-like set: {c['digits']} MNIST test digits + {c['negatives']} negatives (seed {c['seed']})",
              f"  {'settings':30} {'accuracy':>9} {'digit found':>12} {'no digit on negatives':>22}  by kind"]
    for name, v in c["configs"].items():
        kinds = " ".join(f"{k} {x:.1%}" for k, x in v["no_digit_by_kind"].items())
        lines.append(f"  {name:30} {v['accuracy']:9.2%} {v['digit_rate']:12.2%} {v['no_digit_rate']:22.2%}  {kinds}")
    ours, seed = c["configs"]["ours"], c["configs"]["seed"]
    lines.append(f"  ours - seed = {100 * (ours['accuracy'] - seed['accuracy']):+.1f} pp "
                 f"(targets: ours >= 97 %, >= +5 pp; no digit >= 95 % with digits found >= 97 %)")
    return "\n".join(lines)


def bench_args(p) -> None:
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract (default: the shipped one)")
    p.add_argument("--digits", type=int, default=2000, help="camera-like digit samples to score")
    p.add_argument("--negatives", type=int, default=600, help="blank / shadow / ruled samples to score")
    p.add_argument("--repeat", type=int, default=200, help="timed runs per latency figure (the median is reported)")
    p.add_argument("--quick", action="store_true", help="few samples and runs (smoke test)")
    p.add_argument("--json", type=Path, default=None,
                   help="where to write the JSON (default: runs/bench/preprocess.json)")


def bench_main(a) -> int:
    from core.storage import atomic_write_json, runs_dir

    n, neg, rep = (60, 30, 10) if a.quick else (a.digits, a.negatives, a.repeat)
    if min(n, neg, rep) < 1:
        raise UserError("--digits, --negatives and --repeat must be at least 1")
    r = run_bench(a.model, n, neg, rep)
    print(format_report(r))
    out = atomic_write_json(a.json or runs_dir() / "bench" / "preprocess.json", r)
    print(f"\nJSON written to {out}  ({r['elapsed_s']:.0f} s)")
    return 0

