"""`python -m core screenshots`: start the dashboard as `make run` does, use it in headless Chromium, and
write a screenshot of every page to dashboard/screenshots/ (the README's tour links them).

On the way it trains tiny runs from the browser (so the phase pages show live-trained results), feeds the
camera page a fake-camera clip of an MNIST test digit written on paper and records how long after START
the right digit is shown, and times how long each page takes to open. Figures go to a JSON file.
Runs inside a private network namespace (see core.browser); needs root and /usr/bin/chromium.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

from core import browser as B

OUT_DIR = B.REPO_ROOT / "dashboard" / "screenshots"  # the README tour
VIEWPORT = {"width": 1440, "height": 1100}


def snap(page, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main pane, so grow the viewport to fit it."""
    h = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                      " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight) }")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(max(h, VIEWPORT["height"]), 8000))})
    time.sleep(1.0)  # let plotly re-layout at the new size
    page.screenshot(path=path)
    page.set_viewport_size(VIEWPORT)


def _click_start(page) -> None:
    page.get_by_role("button", name=re.compile("Start training")).click()


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def _wait_finished(page, timeout: float) -> float:
    """Seconds until the live panel says Finished (or raise)."""
    t0 = time.time()
    page.get_by_text(re.compile(r"^Finished in")).first.wait_for(timeout=timeout * 1000)
    return time.time() - t0


def open_page(page, url: str, name: str) -> float:
    """Navigate to a page; seconds until its script has finished running."""
    t0 = time.time()
    page.goto(f"{url}/{B.PAGES[name]}")
    B.wait_idle(page)
    return time.time() - t0


def train_in_browser(page, url: str, name: str, numbers: dict[str, int], timeout: float = 240) -> dict:
    """Open a phase page, set the form's numbers, press Start, wait until the run is finished."""
    opened = open_page(page, url, name)
    for label, value in numbers.items():
        _set_number(page, label, value)
    B.wait_idle(page)
    _click_start(page)
    seconds = _wait_finished(page, timeout)
    B.wait_idle(page, settle=1.5)
    return {"open_seconds": opened, "train_seconds": seconds}


def camera_check(page, url: str, expected: int, within: float = 5.0, watch: float = 10.0) -> dict:
    """Press START on the camera page; seconds until the page shows `expected`; FPS after `watch` seconds."""
    opened = open_page(page, url, "camera")
    frame = page.frame_locator("iframe[title*='webrtc']")
    start, stop = frame.get_by_role("button", name="START"), frame.get_by_role("button", name="STOP")
    start.wait_for(timeout=30_000)
    clicks = 0
    while True:  # a click that lands while the component is still mounting is lost: click again if so
        time.sleep(0.5)
        t0 = time.time()
        start.click()
        clicks += 1
        try:
            stop.wait_for(timeout=5_000)
            break
        except Exception:
            if clicks >= 3:
                raise
    shown, seconds, history = None, None, []
    while time.time() - t0 < max(within, 30.0):
        v = B.metric_value(page, "Digit")
        if not history or history[-1][1] != v:
            history.append((round(time.time() - t0, 2), v))
        if v == str(expected):
            shown, seconds = v, time.time() - t0
            break
        time.sleep(0.05)
    time.sleep(watch)
    fps = B.metric_value(page, "FPS")
    cap = page.get_by_text(re.compile(r"frames · .* ms of work per frame")).first
    return {"expected": expected, "shown": shown, "seconds_to_digit": seconds, "within": within,
            "ok": shown == str(expected) and seconds is not None and seconds <= within, "open_seconds": opened,
            "fps": float(fps) if fps else None, "detail": cap.inner_text() if cap.count() else None,
            "history": history, "start_clicks": clicks}


def run(out: Path, train: bool = True, digit_index: int = 0) -> dict:
    """Everything, inside the namespace: server, browser, training, camera, screenshots."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="digits-shots-"))
    clip = work / "digit.y4m"
    expected = B.digit_clip(clip, digit_index)
    env = {"DIGITS_RUNS_DIR": str(work / "runs")} if train else {}
    result: dict = {"pages": {}, "camera": None, "training": {}}
    with B.dashboard_server(env=env, log=work / "server.log") as url, B.dashboard_browser(clip) as browser:
        page = browser.new_page(viewport=VIEWPORT)
        if train:
            result["training"]["phase1"] = train_in_browser(page, url, "phase1", {"Epochs": 5})
            snap(page, out / "phase1.png")
            result["training"]["phase2"] = train_in_browser(page, url, "phase2", {"Epochs": 4})
            snap(page, out / "phase2.png")
            result["training"]["phase4"] = train_in_browser(page, url, "phase4", {"Max steps": 120}, timeout=300)
            snap(page, out / "phase4.png")
        for name in ("home", "phase3", "playground", "deploy") + (() if train else ("phase1", "phase2", "phase4")):
            result["pages"][name] = open_page(page, url, name)
            if name == "deploy":
                page.get_by_role("button", name=re.compile("Build the bundle")).click()
                page.get_by_role("button", name=re.compile("Download digit-web.zip")).wait_for(timeout=60_000)
            snap(page, out / f"{name}.png")
        result["camera"] = camera_check(page, url, expected)
        snap(page, out / "camera.png")
    result["screenshots"] = sorted(str(p) for p in out.glob("*.png"))
    return result


def screenshots_args(ap) -> None:
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the PNGs")
    ap.add_argument("--json", type=Path, default=None, help="write the figures (camera, page open times) here")
    ap.add_argument("--no-train", action="store_true", help="use the runs already on disk instead of training")
    ap.add_argument("--digit", type=int, default=0, help="MNIST test digit shown to the fake camera")


def screenshots_main(a) -> int:
    status = B.reexec_in_netns(a._argv)
    if status is not None:
        return status
    result = run(a.out.resolve(), train=not a.no_train, digit_index=a.digit)
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text + "\n")
    cam = result["camera"]
    print(f"camera: showed {cam['shown']} (expected {cam['expected']}) {cam['seconds_to_digit'] or float('nan'):.2f} s "
          f"after START; {cam['fps']} fps ({cam['detail']})")
    print("page open (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result["pages"].items()))
    print(f"{len(result['screenshots'])} screenshots in {a.out}")
    return 0 if cam["ok"] else 1
