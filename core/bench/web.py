"""`python -m core bench web`: the static page in headless Chromium: bundle size and bytes on the wire per encoding,
loading on a throttled connection (progress shown, first prediction), per-frame latency with and without the
feature maps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from core.browser import CHROMIUM, fake_camera_flags, launch_chromium, wait_until, write_y4m
from core.bundle import build_bundle, size_table, wire_bytes
from core.errors import UserError
from core.serve import serving

ENCODINGS = {"br": ("br", "gzip"), "gzip": ("gzip",), "identity": ()}  # what the server offers, per row
VIEWPORT = {"width": 1100, "height": 1500}  # tall: the camera view and the feature maps both on screen


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _p90(xs: list[float]) -> float:
    return float(sorted(xs)[int(0.9 * (len(xs) - 1))]) if xs else float("nan")


def _spread(xs: list) -> dict:
    xs = [x for x in xs if x is not None]
    return {"median": _median(xs), "min": min(xs, default=float("nan")), "max": max(xs, default=float("nan")),
            "runs": xs}


LOAD_FIGURES = """() => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const wire = performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, 0)
      + performance.getEntriesByType('navigation').reduce((a, r) => a + r.transferSize, 0);
    return {first_prediction_ms: +document.body.dataset.firstPredictionMs,
            progress_bytes_ms: +document.body.dataset.progressMs || null,
            first_paint_ms: paint ? paint.startTime : null, wire_bytes: wire};
}"""


def time_to_first_prediction(browser, url: str, loads: int = 5, bytes_per_s: int | None = None) -> list[dict]:
    """Load the page `loads` times, each in a fresh context (empty cache), optionally throttled by Chromium to
    `bytes_per_s`: ms to the first paint (the progress bar), to the first bytes counted, to the first prediction,
    and the bytes transferred."""
    rows = []
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            if bytes_per_s:
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                              "downloadThroughput": bytes_per_s,
                                                              "uploadThroughput": bytes_per_s})
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-first-prediction-ms], body[data-state=error]", state="attached",
                                   timeout=120_000)
            wall = (time.perf_counter() - t) * 1000
            if page.get_attribute("body", "data-state") == "error":
                raise UserError(f"the page failed to load: {page.text_content('#alert')}")
            rows.append({**page.evaluate(LOAD_FIGURES), "wall_ms": wall,
                         "file_hint_shown": page.is_visible("#file-hint")})
        finally:
            context.close()
    return rows


def camera_latency(browser, url: str, frames: int = 200, maps: bool = False) -> dict:
    """Run the page's live camera loop on the fake camera until `frames` frames were classified: timings in ms.
    With `maps`, the "inside the network" view is open and on screen, so every frame also runs the feature maps."""
    frames = min(frames, 300)  # the page keeps its last 300 timings
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-state=ready]", state="attached", timeout=60_000)
        page.evaluate(f"document.getElementById('inside').open = {'true' if maps else 'false'}")
        page.check("input[name=source][value=camera]")
        page.click("#camera-toggle")
        wait_until(page, f"digitApp.stats.frames >= {frames + 20}", timeout_s=120)  # 20 frames of warm-up
        stats = page.evaluate(
            """(n) => {
                const s = digitApp.stats, tail = (a) => a.slice(-n);
                return {capture: tail(s.capture), preprocess: tail(s.preprocess), inference: tail(s.inference),
                        features: tail(s.features), total: tail(s.total), skipped: s.skipped, frames: s.frames,
                        feature_runs: s.featureRuns, digit: digitApp.lastDigit};
            }""",
            frames,
        )
    finally:
        context.close()
    if maps and stats["feature_runs"] < frames:
        raise UserError(f"the feature maps ran on {stats['feature_runs']} of {stats['frames']} frames: not on screen?")
    per_frame = [t - c for t, c in zip(stats["total"], stats["capture"], strict=True)]  # preprocess+inference(+maps)
    return {
        "frames": len(per_frame),
        "feature_maps": maps,
        "skipped_while_busy": stats["skipped"],
        "last_digit": stats["digit"],
        **{f"{k}_median_ms": _median(stats[k]) for k in ("capture", "preprocess", "inference", "features")},
        "per_frame_median_ms": _median(per_frame),
        "per_frame_p90_ms": _p90(per_frame),
        "with_capture_median_ms": _median(stats["total"]),
    }


def bench_web(model_path: Path | None = None, loads: int = 5, throttled_loads: int = 3, mbit: float = 10.0,
              frames: int = 200, width: int = 640, height: int = 480, isolate: bool = False) -> dict:
    """Bundle size and wire bytes, first prediction (unthrottled and throttled per encoding), per-frame latency."""
    import numpy as np

    from core.camera_set import Style, camera_frame
    from core.data import load_mnist

    with tempfile.TemporaryDirectory(prefix="digits-web-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        sizes = build_bundle(bundle, model_path)
        mnist = load_mnist(fetch=False)
        rng = np.random.default_rng(0)
        digit, label = mnist.test_images[0], int(mnist.test_labels[0])
        style = Style(jpeg=None, noise=2.0, blur=0.5, gradient=0.15)
        clip = write_y4m(Path(tmp) / "camera.y4m", [camera_frame(digit, rng, width, height, style=style)
                                                   for _ in range(4)])
        throttled = {}
        with launch_chromium() as browser:
            with serving(bundle, isolate=isolate) as server:
                loads_rows = time_to_first_prediction(browser, server.url, loads)
            for name, offered in ENCODINGS.items():
                if throttled_loads:
                    with serving(bundle, isolate=isolate, encodings=offered) as server:
                        throttled[name] = time_to_first_prediction(browser, server.url, throttled_loads,
                                                                   int(mbit * 1e6 / 8))
        with serving(bundle, isolate=isolate) as server, launch_chromium(fake_camera_flags(clip)) as browser:
            camera = {"maps_off": camera_latency(browser, server.url, frames, maps=False),
                      "maps_on": camera_latency(browser, server.url, frames, maps=True)}
    first = [r["first_prediction_ms"] for r in loads_rows]
    return {
        "bundle_bytes": sum(sizes.values()),
        "bundle_files": sizes,
        "wire_bytes": wire_bytes(sizes),
        "first_prediction_ms": {"median": _median(first), "max": max(first), "runs": loads_rows},
        "throttled": {"mbit_per_s": mbit, **{name: {
            "first_prediction_ms": _spread([r["first_prediction_ms"] for r in rows]),
            "progress_bytes_ms": _spread([r["progress_bytes_ms"] for r in rows]),
            "first_paint_ms": _spread([r["first_paint_ms"] for r in rows]),
            "wire_bytes_measured": _median([r["wire_bytes"] for r in rows]),
            "file_hint_shown": any(r["file_hint_shown"] for r in rows)} for name, rows in throttled.items()}},
        "camera": {k: {**v, "frame": f"{width}x{height}", "expected_digit": label} for k, v in camera.items()},
        "isolated": isolate,
        "chromium": CHROMIUM,
    }


def bench_args(p) -> None:
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract (default: the shipped one)")
    p.add_argument("--loads", type=int, default=5, help="unthrottled page loads timed to the first prediction")
    p.add_argument("--throttled-loads", type=int, default=3,
                   help="throttled page loads per encoding (brotli, gzip, identity; 0: none)")
    p.add_argument("--mbit", type=float, default=10.0, help="throttled download speed, Mbit/s")
    p.add_argument("--frames", type=int, default=200, help="camera frames timed (at most 300)")
    p.add_argument("--width", type=int, default=640, help="fake camera frame width")
    p.add_argument("--height", type=int, default=480, help="fake camera frame height")
    p.add_argument("--isolate", action="store_true", help="serve with COOP/COEP headers")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON (default: runs/bench/web.json)")


def _ms(s: dict) -> str:
    return f"{s['median']:.0f} ms (range {s['min']:.0f}-{s['max']:.0f})"


def bench_main(a) -> int:
    from core.runtime import machine_info
    from core.storage import atomic_write_json, runs_dir

    r = bench_web(a.model, a.loads, a.throttled_loads, a.mbit, a.frames, a.width, a.height, a.isolate)
    r["machine"] = machine_info()
    first, wire = r["first_prediction_ms"], r["wire_bytes"]
    print(f"bundle: {r['bundle_bytes']:,} B on disk ({r['bundle_bytes'] / 1e6:.2f} MB, precompressed copies included)")
    print(size_table(r["bundle_files"]))
    print("bytes on the wire for the whole bundle: " + ", ".join(f"{k} {v:,} B ({v / 1e6:.2f} MB)"
                                                                for k, v in wire.items()) + " (brotli target <= 4 MB)")
    print(f"first prediction on the drawing pad, unthrottled: median {first['median']:.0f} ms, max "
          f"{first['max']:.0f} ms over {len(first['runs'])} fresh loads (target <= 2000 ms)")
    th = r["throttled"]
    for name in ENCODINGS:
        if name in th:
            t = th[name]
            print(f"throttled to {th['mbit_per_s']:g} Mbit/s, {name:<8}: first prediction "
                  f"{_ms(t['first_prediction_ms'])}; progress painted {_ms(t['first_paint_ms'])}, "
                  f"first bytes counted {_ms(t['progress_bytes_ms'])};"
                  f" {t['wire_bytes_measured'] / 1e6:.2f} MB transferred; file:// hint shown: {t['file_hint_shown']}"
                  f" (targets: brotli <= 6000 ms, progress <= 200 ms)")
    for cam in r["camera"].values():
        print(f"camera {cam['frame']}, {cam['frames']} frames, feature maps {'on' if cam['feature_maps'] else 'off'}: "
              f"per frame median {cam['per_frame_median_ms']:.2f} ms (p90 {cam['per_frame_p90_ms']:.2f}; "
              "target <= 5 ms)")
        print(f"  preprocess {cam['preprocess_median_ms']:.2f} ms, inference {cam['inference_median_ms']:.2f} ms, "
              f"feature maps {cam['features_median_ms']:.2f} ms, capture {cam['capture_median_ms']:.2f} ms; "
              f"{cam['skipped_while_busy']} frames skipped while busy; last prediction {cam['last_digit']} "
              f"(expected {cam['expected_digit']})")
    out = atomic_write_json(a.json or runs_dir() / "bench" / "web.json", r)
    print(f"wrote {out}")
    return 0
