"""`python -m core bench web`: the static page in headless Chromium: bundle size, first prediction, per-frame latency.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from core.browser import CHROMIUM, fake_camera_flags, launch_chromium, wait_until, write_y4m
from core.bundle import build_bundle, size_table
from core.errors import UserError
from core.serve import serving


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _p90(xs: list[float]) -> float:
    return float(sorted(xs)[int(0.9 * (len(xs) - 1))]) if xs else float("nan")


def time_to_first_prediction(browser, url: str, loads: int = 5) -> list[dict]:
    """Load the page `loads` times, each in a fresh context (empty cache): ms to the first prediction shown."""
    rows = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        try:
            page = context.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-first-prediction-ms], body[data-state=error]", state="attached",
                                   timeout=60_000)
            wall = (time.perf_counter() - t) * 1000
            page_ms = page.evaluate("+document.body.dataset.firstPredictionMs || null")
            if page_ms is None:
                raise UserError(f"the page failed to load: {page.text_content('#alert')}")
            rows.append({"page_ms": page_ms, "wall_ms": wall})
        finally:
            context.close()
    return rows


def camera_latency(browser, url: str, frames: int = 200) -> dict:
    """Run the page's live camera loop on the fake camera until `frames` frames were classified: timings in ms."""
    frames = min(frames, 300)  # the page keeps its last 300 timings
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-state=ready]", state="attached", timeout=60_000)
        page.check("input[name=source][value=camera]")
        wait_until(page, f"digitApp.stats.frames >= {frames + 20}", timeout_s=120)  # 20 frames of warm-up
        stats = page.evaluate(
            """(n) => {
                const s = digitApp.stats, tail = (a) => a.slice(-n);
                return {capture: tail(s.capture), preprocess: tail(s.preprocess), inference: tail(s.inference),
                        total: tail(s.total), skipped: s.skipped, frames: s.frames, digit: digitApp.lastDigit};
            }""",
            frames,
        )
    finally:
        context.close()
    per_frame = [p + i for p, i in zip(stats["preprocess"], stats["inference"], strict=True)]
    return {
        "frames": len(per_frame),
        "skipped_while_busy": stats["skipped"],
        "last_digit": stats["digit"],
        **{f"{k}_median_ms": _median(stats[k]) for k in ("capture", "preprocess", "inference")},
        "preprocess_plus_inference_median_ms": _median(per_frame),
        "preprocess_plus_inference_p90_ms": _p90(per_frame),
        "with_capture_median_ms": _median(stats["total"]),
    }


def bench_web(model_path: Path | None = None, loads: int = 5, frames: int = 200, width: int = 640,
              height: int = 480, isolate: bool = False) -> dict:
    """Bundle size, time to first prediction and per-frame camera latency in headless Chromium."""
    import numpy as np

    from core.camera_set import Style, camera_frame
    from core.data import load_mnist

    with tempfile.TemporaryDirectory(prefix="digits-web-bench-") as tmp:
        sizes = build_bundle(Path(tmp) / "bundle", model_path)
        mnist = load_mnist(fetch=False)
        rng = np.random.default_rng(0)
        digit, label = mnist.test_images[0], int(mnist.test_labels[0])
        style = Style(jpeg=None, noise=2.0, blur=0.5, gradient=0.15)
        clip = write_y4m(Path(tmp) / "camera.y4m", [camera_frame(digit, rng, width, height, style=style)
                                                   for _ in range(4)])
        with serving(Path(tmp) / "bundle", isolate=isolate) as server:
            with launch_chromium() as browser:
                loads_rows = time_to_first_prediction(browser, server.url, loads)
            with launch_chromium(fake_camera_flags(clip)) as browser:
                camera = camera_latency(browser, server.url, frames)
    first = [r["page_ms"] for r in loads_rows]
    return {
        "bundle_bytes": sum(sizes.values()),
        "bundle_files": sizes,
        "first_prediction_ms": {"median": _median(first), "max": max(first), "runs": loads_rows},
        "camera": {**camera, "frame": f"{width}x{height}", "expected_digit": label},
        "isolated": isolate,
        "chromium": CHROMIUM,
    }


def bench_args(p) -> None:
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract (default: the shipped one)")
    p.add_argument("--loads", type=int, default=5, help="page loads timed to the first prediction")
    p.add_argument("--frames", type=int, default=200, help="camera frames timed (at most 300)")
    p.add_argument("--width", type=int, default=640, help="fake camera frame width")
    p.add_argument("--height", type=int, default=480, help="fake camera frame height")
    p.add_argument("--isolate", action="store_true", help="serve with COOP/COEP headers")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON (default: runs/bench/web.json)")


def bench_main(a) -> int:
    from core.runtime import machine_info
    from core.storage import atomic_write_json, runs_dir

    r = bench_web(a.model, a.loads, a.frames, a.width, a.height, a.isolate)
    r["machine"] = machine_info()
    cam, first = r["camera"], r["first_prediction_ms"]
    print(f"bundle: {r['bundle_bytes']:,} B ({r['bundle_bytes'] / 1e6:.2f} MB; limit 15 MB)")
    print(size_table(r["bundle_files"]))
    print(f"first prediction on the drawing pad: median {first['median']:.0f} ms, max {first['max']:.0f} ms "
          f"over {len(first['runs'])} fresh loads (target <= 2000 ms)")
    print(f"camera {cam['frame']}, {cam['frames']} frames: preprocess + inference median "
          f"{cam['preprocess_plus_inference_median_ms']:.2f} ms (p90 {cam['preprocess_plus_inference_p90_ms']:.2f};"
          f" target <= 5 ms)")
    print(f"  preprocess {cam['preprocess_median_ms']:.2f} ms, inference {cam['inference_median_ms']:.2f} ms, "
          f"capture {cam['capture_median_ms']:.2f} ms; {cam['skipped_while_busy']} frames skipped while busy; "
          f"last prediction {cam['last_digit']} (expected {cam['expected_digit']})")
    out = atomic_write_json(a.json or runs_dir() / "bench" / "web.json", r)
    print(f"wrote {out}")
    return 0
