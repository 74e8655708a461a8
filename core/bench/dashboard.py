"""`python -m core bench dashboard`: the dashboard's own figures, in one run, printed and written as JSON.

1. Camera callback cost: the webrtc frame callback (core.live.LiveProcessor) on 640x480 frames of a
   handwritten digit, in process: median ms per frame and the frame rate that allows.
2. Camera page end to end: the real WebRTC path (Chromium's fake camera -> VP8 -> aiortc -> callback ->
   VP8 -> Chromium) at 640x480; frames per second processed by the callback and rendered by the browser,
   sampled over a window after warm-up.
3. Live training overhead: the same MLP recipe trained by `python -m core train mlp` and by the Phase 2
   page of a running dashboard with a browser watching the live charts (and, to split the cost, started on
   the page with the browser then leaving), alternating; training examples/s. On a machine whose cores are
   all busy, the live view's CPU (mostly the browser drawing the charts) comes out of training's share;
   with a core to spare it does not.
4. Page open times in a real browser, nothing trained: each page opened by a link as the very first page of a
   browser that never saw the dashboard (Streamlit's and plotly's JavaScript, ~9 MB, fetched and compiled on the
   way); each page's first open right after the server started, navigating from page to page, then again; and
   each page's first open after a server restart in a browser that has seen the dashboard before (its HTTP
   cache holds the immutable JavaScript: a presenter's laptop).
The browser parts run inside a private network namespace (core.browser); needs root and Chromium.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core import browser as B

TARGET_FPS, TARGET_SLOWDOWN = 15.0, 0.10


def callback_cost(frames: int = 300) -> dict:
    """Median per-frame cost of the webrtc callback on 640x480 yuv420p frames, as aiortc hands them over."""
    import av

    from core import camera_set
    from core.data import load_mnist
    from core.inference import load_model
    from core.live import LiveProcessor
    from core.preprocess import PreprocessConfig

    data = load_mnist(fetch=False)
    rng = np.random.default_rng(0)
    imgs = [camera_set.camera_frame(data.test_images[i], rng, 640, 480) for i in range(10)]
    video = [av.VideoFrame.from_ndarray(im, format="rgb24").reformat(format="yuv420p") for im in imgs]
    proc = LiveProcessor(load_model(), PreprocessConfig())
    for f in video:
        proc(f)
    times = []
    for i in range(frames):
        t = time.perf_counter()
        proc(video[i % len(video)])
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    work = proc.latest().ms
    return {"frames": frames, "size": [640, 480], "median_ms": med * 1e3,
            "p90_ms": float(np.percentile(times, 90)) * 1e3, "fps_bound": 1 / med, "inference_work_ms": work,
            "what": "av.VideoFrame (yuv420p) -> rgb24 -> core.preprocess -> ONNX model -> overlay -> av.VideoFrame"}


def _video_frames(page) -> int | None:
    """Frames the browser has rendered from the server's returned video (inside the webrtc iframe)."""
    for frame in page.frames:
        try:
            n = frame.evaluate("() => { const v = [...document.querySelectorAll('video')].find(v => v.srcObject);"
                               " return v ? v.getVideoPlaybackQuality().totalVideoFrames : null }")
        except Exception:
            continue
        if n is not None:
            return n
    return None


def camera_end_to_end(page, url: str, expected: int, warmup: float = 6.0, window: float = 20.0) -> dict:
    """START on the camera page; after warm-up, sample the callback's FPS and the browser's rendered FPS."""
    from core.screenshots import camera_check

    first = camera_check(page, url, expected, within=5.0, watch=warmup)
    n0, t0 = _video_frames(page), time.time()
    samples = []
    while time.time() - t0 < window:
        time.sleep(1.0)
        v = B.metric_value(page, "FPS")
        if v:
            samples.append(float(v))
    n1, t1 = _video_frames(page), time.time()
    rendered = (n1 - n0) / (t1 - t0) if n0 is not None and n1 is not None else None
    return {"seconds_to_digit": first["seconds_to_digit"], "digit_ok": first["ok"], "detail": first["detail"],
            "callback_fps_median": statistics.median(samples) if samples else None, "callback_fps_samples": samples,
            "browser_rendered_fps": rendered, "window_s": window}


def _cli_run(epochs: int, out: Path, threads: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "core", "train", "mlp", "--epochs", str(epochs), "--out", str(out)]
    cmd += ["--threads", str(threads)] if threads is not None else []  # 0: every usable core
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=B.REPO_ROOT)
    m = json.loads((out / "metrics.json").read_text())
    return {"examples_per_s": m["timings"]["examples_per_s"], "train_seconds": m["timings"]["train_seconds"],
            "wall_seconds": m["timings"]["wall_seconds"], "process_seconds": time.perf_counter() - t,
            "test_accuracy": m["test_accuracy"]}


def _dashboard_run(page, url: str, epochs: int, runs: Path, watch: bool = True) -> dict:
    """Train on the Phase 2 page; `watch`: keep the page open (live charts) until Finished, else start the run
    and leave the page (the job carries on in the server), then wait for its metrics.json."""
    from core.screenshots import _click_start, _set_number, open_page, train_in_browser

    before = set(runs.glob("mlp-*")) if runs.exists() else set()
    t0 = time.time()
    if watch:
        train_in_browser(page, url, "phase2", {"Epochs": epochs}, timeout=900)
    else:
        open_page(page, url, "phase2")
        _set_number(page, "Epochs", epochs)
        B.wait_idle(page)
        _click_start(page)
        page.get_by_text("step ").first.wait_for(timeout=60_000)
        page.goto("about:blank")
    while True:
        new = sorted(set(runs.glob("mlp-*")) - before)
        if new and (new[-1] / "metrics.json").exists():
            break
        if time.time() - t0 > 900:
            raise TimeoutError("the dashboard run did not finish")
        time.sleep(0.2)
    time.sleep(0.3)
    m = json.loads((new[-1] / "metrics.json").read_text())
    return {"examples_per_s": m["timings"]["examples_per_s"], "train_seconds": m["timings"]["train_seconds"],
            "wall_seconds": m["timings"]["wall_seconds"], "test_accuracy": m["test_accuracy"]}


def training_overhead(page, url: str, runs: Path, work: Path, epochs: int, repeats: int) -> dict:
    """Alternate CLI and dashboard runs of the same MLP recipe; compare median training examples/s.

    The dashboard trains with every core but one (core.runtime.threads_beside_a_live_view), leaving a core to the
    live view; the like-for-like comparison is the CLI at that thread count. The CLI on every core
    (`--threads 0`) is measured too."""
    from core.runtime import threads_beside_a_live_view, usable_cores

    threads = threads_beside_a_live_view()
    rows: dict[str, list[dict]] = {"cli_same_threads": [], "dashboard": [], "dashboard_unwatched": [],
                                   "cli_all_cores": []}
    for i in range(repeats):
        rows["cli_same_threads"].append(_cli_run(epochs, work / f"cli-same-{i}", threads))
        rows["dashboard"].append(_dashboard_run(page, url, epochs, runs))
        rows["dashboard_unwatched"].append(_dashboard_run(page, url, epochs, runs, watch=False))
        rows["cli_all_cores"].append(_cli_run(epochs, work / f"cli-all-{i}", 0))
    med = {k: statistics.median(r["examples_per_s"] for r in v) for k, v in rows.items()}
    return {"config": {"model": "mlp", "epochs": epochs, "hidden": 256, "batch_size": 128,
                       "dashboard_threads": threads, "usable_cores": usable_cores()},
            **rows, "median_examples_per_s": med,
            "slowdown": 1 - med["dashboard"] / med["cli_same_threads"],
            "slowdown_unwatched": 1 - med["dashboard_unwatched"] / med["cli_same_threads"],
            "slowdown_vs_cli_all_cores": 1 - med["dashboard"] / med["cli_all_cores"],
            "target_slowdown": TARGET_SLOWDOWN}


def page_opens(page, url: str, rounds: tuple[str, ...] = ("first", "again")) -> dict:
    out = {}
    for rnd in rounds:
        for name in B.PAGES:
            t = time.time()
            page.goto(f"{url}/{B.PAGES[name]}")
            B.wait_idle(page, settle=0.3)
            out.setdefault(name, {})[rnd] = time.time() - t - 0.3
    return out


def deep_links(browser, url: str) -> dict:
    """Each page as the first page of a brand-new browser context (its own empty cache, as a fresh profile)."""
    out = {}
    for name in B.PAGES:
        context = browser.new_context(viewport={"width": 1440, "height": 1100})
        try:
            page = context.new_page()
            t = time.time()
            page.goto(f"{url}/{B.PAGES[name]}")
            B.wait_idle(page, settle=0.3)
            out[name] = {"deep_link": time.time() - t - 0.3}
        finally:
            context.close()
    return out


def run(epochs: int, repeats: int, window: float, skip_training: bool) -> dict:
    result: dict = {"callback": callback_cost()}
    work = Path(tempfile.mkdtemp(prefix="digits-bench-"))
    runs = work / "runs"
    clip = work / "digit.y4m"
    expected = B.digit_clip(clip, 0)
    port = B.free_port()
    env = {"DIGITS_RUNS_DIR": str(runs)}
    with B.dashboard_browser(clip) as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        t = time.time()
        with B.dashboard_server(port, env=env, log=work / "server.log") as url:
            result["server_start_seconds"] = time.time() - t
            result["page_open_seconds"] = deep_links(browser, url)
            for name, v in page_opens(page, url).items():
                result["page_open_seconds"][name].update(v)
            result["camera"] = camera_end_to_end(page, url, expected, window=window)
            page.goto(f"{url}/")  # leave the camera page: stop the stream before timing training
            B.wait_idle(page)
            if not skip_training:
                result["training"] = training_overhead(page, url, runs, work, epochs, repeats)
        with B.dashboard_server(port, env=env, log=work / "server2.log") as url:  # same origin: cache still warm
            for name, v in page_opens(page, url, ("after_restart",)).items():
                result["page_open_seconds"][name].update(v)
    from core.runtime import machine_info

    result["machine"] = machine_info()
    return result


def report(r: dict) -> str:
    cb, cam = r["callback"], r["camera"]
    lines = [
        "Camera page, 640x480",
        f"  callback alone (in process): {cb['median_ms']:.2f} ms/frame median, p90 {cb['p90_ms']:.2f} ms "
        f"-> at most {cb['fps_bound']:.0f} fps",
        f"  real WebRTC path in Chromium: {cam['callback_fps_median'] or float('nan'):.1f} fps through the callback, "
        f"{cam['browser_rendered_fps'] or float('nan'):.1f} fps rendered by the browser "
        f"(target >= {TARGET_FPS:.0f}); {cam['detail']}",
        f"  right digit shown {cam['seconds_to_digit'] or float('nan'):.2f} s after START",
    ]
    if "training" in r:
        t, med = r["training"], r["training"]["median_examples_per_s"]
        n = t["config"]["dashboard_threads"]
        lines += [
            f"Live training, MLP 784-256-10, {t['config']['epochs']} epochs, {len(t['dashboard'])} alternating runs "
            "each (training examples/s, medians)",
            f"  dashboard, Phase 2 page with a browser watching the live charts ({n} thread): "
            f"{med['dashboard']:,.0f}",
            f"  dashboard, run started on the page, then the browser left (no live view): "
            f"{med['dashboard_unwatched']:,.0f}",
            f"  CLI, same threads (python -m core train mlp --threads {n}): {med['cli_same_threads']:,.0f}",
            f"  CLI, every core ({t['config']['usable_cores']} threads, --threads 0): {med['cli_all_cores']:,.0f}",
            f"  dashboard slower than the same CLI training by {t['slowdown'] * 100:.1f} % (target <= "
            f"{TARGET_SLOWDOWN * 100:.0f} %); than the CLI on every core by "
            f"{t['slowdown_vs_cli_all_cores'] * 100:.1f} %; "
            f"without the live view by {t['slowdown_unwatched'] * 100:.1f} %",
        ]
    po = r["page_open_seconds"]
    lines += [
        f"Page open in Chromium, nothing trained (s until the script finished; server up "
        f"{r['server_start_seconds']:.1f} s after start)",
        "  link to the page in a never-seen browser: " + ", ".join(f"{k} {v['deep_link']:.2f}" for k, v in po.items()),
        "  never-seen browser, page to page, first / again: " + ", ".join(f"{k} {v['first']:.2f}/{v['again']:.2f}"
                                                           for k, v in po.items()),
        "  after a server restart, browser seen it before: " + ", ".join(f"{k} {v['after_restart']:.2f}"
                                                                        for k, v in po.items()),
        f"  slowest first open: {max(max(v['deep_link'], v['first']) for v in po.values()):.2f} s never-seen "
        f"browser, {max(v['after_restart'] for v in po.values()):.2f} s seen before (target < 2)",
    ]
    return "\n".join(lines)


def bench_args(ap) -> None:
    ap.add_argument("--epochs", type=int, default=8, help="MLP epochs per training run")
    ap.add_argument("--repeats", type=int, default=3, help="alternating CLI/dashboard/CLI run triples")
    ap.add_argument("--window", type=float, default=20.0, help="seconds of camera FPS sampling")
    ap.add_argument("--skip-training", action="store_true", help="camera and page figures only")
    ap.add_argument("--json", type=Path, default=None, help="output (default: runs/bench/dashboard.json)")


def bench_main(a) -> int:
    status = B.reexec_in_netns(a._argv)
    if status is not None:
        return status
    from core.storage import atomic_write_json, runs_dir

    r = run(a.epochs, a.repeats, a.window, a.skip_training)
    out = atomic_write_json(a.json or runs_dir() / "bench" / "dashboard.json", r)
    print(report(r))
    print(f"JSON written to {out}")
    return 0
