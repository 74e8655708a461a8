"""`python -m core screenshots`: start the dashboard as `make run` does, use it in headless Chromium like a presenter,
and write a screenshot of every page at 1440x900 and at 390x844 (a phone) to dashboard/screenshots/ (the README tour).

On the way it trains tiny runs from the browser, draws a 3 on Phase 4's pad with the mouse (core.handwriting's
strokes) and reads what the page shows, saves five drawn digits on the Teach page and fine-tunes, feeds the camera
page a fake-camera clip of an MNIST test digit, and checks what a presenter saw go wrong: the Playground's sliders
after "Model's settings", cut-off inputs, toolbars over titles, overlapping labels, hidden table columns and rows,
404s when a page is opened by a link. Every figure goes to a JSON file; tests/test_dashboard_browser.py asserts on it.
Runs inside a private network namespace (see core.browser); needs root and /usr/bin/chromium.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from core import browser as B

OUT_DIR = B.REPO_ROOT / "dashboard" / "screenshots"  # the README tour
VIEWPORT = B.DESKTOP
TEACH_DIGITS = (1, 7, 1, 4, 1)  # five drawings saved on the Teach page (the fifth is held out)


def snap(page, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main pane, so grow the viewport to fit it."""
    vp = page.viewport_size
    h = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                      " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight) }")
    page.set_viewport_size({"width": vp["width"], "height": int(min(max(h, vp["height"]), 9000))})
    time.sleep(1.0)  # let plotly re-layout at the new size
    page.screenshot(path=path)
    page.set_viewport_size(vp)


def _click_start(page) -> None:
    page.get_by_role("button", name=re.compile("Start training")).click()


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")  # not Enter: inside a form, Enter submits it (and would start a second run)


def _wait_finished(page, timeout: float) -> float:
    """Seconds until the live panel says Finished (or raise)."""
    t0 = time.time()
    page.get_by_text(re.compile(r"^Finished")).first.wait_for(timeout=timeout * 1000)
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
    return {"open_seconds": opened, "train_seconds": seconds, "finished": page.get_by_text(
        re.compile(r"^Finished")).first.inner_text()}


def camera_check(page, url: str, expected: int, within: float = 5.0, watch: float = 10.0, attempts: int = 2) -> dict:
    """Press START on the camera page; seconds until the page shows `expected`; FPS after `watch` seconds. A stream
    that delivers no frame at all within 30 s (it happens now and then in the namespace) is started once more."""
    for attempt in range(1, attempts + 1):
        r = _camera_once(page, url, expected, within, watch)
        r["attempt"] = attempt
        if r["shown"] is not None or any(v not in (None, "—") for _, v in r["history"]):
            return r
    return r


def _camera_once(page, url: str, expected: int, within: float, watch: float) -> dict:
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
    if shown is None and all(v in (None, "—") for _, v in history):  # no frame arrived: the caller retries
        return {"expected": expected, "shown": None, "seconds_to_digit": None, "within": within, "ok": False,
                "open_seconds": opened, "fps": None, "detail": None, "history": history, "start_clicks": clicks,
                "chart_heights": {}}
    time.sleep(watch)
    fps = B.metric_value(page, "FPS")
    cap = page.get_by_text(re.compile(r"frames · .* ms of work per frame")).first
    sizes = {m: (B.figure_box(page, m) or {}).get("height") for m in ("probabilities", "model-input")}
    return {"expected": expected, "shown": shown, "seconds_to_digit": seconds, "within": within,
            "ok": shown == str(expected) and seconds is not None and seconds <= within, "open_seconds": opened,
            "fps": float(fps) if fps else None, "detail": cap.inner_text() if cap.count() else None,
            "history": history, "start_clicks": clicks, "chart_heights": sizes}


# --- your digit, drawn with the mouse -------------------------------------------------------------------------


def draw(page, digit: int, seed: int) -> None:
    from core import handwriting

    B.draw_strokes(page, handwriting.jittered(digit, np.random.default_rng(seed)))
    time.sleep(0.8)
    B.wait_idle(page, settle=0.8)


def draw_on_phase4(page, url: str, digit: int = 3) -> dict:
    """Phase 4: draw `digit` on the pad; what the page reads, and which pictures of the network it shows."""
    open_page(page, url, "phase4")
    page.locator("canvas.digit-pad-canvas").first.wait_for(timeout=30_000)
    draw(page, digit, seed=1)
    page.get_by_text("The CNN reads").first.wait_for(timeout=30_000)
    shipped = page.get_by_text(re.compile("Camera runs\\) says")).first
    figs = {m: B.figure_box(page, m) is not None for m in
            ("saliency", "p4x-input", "p4x-probs", "p4x-conv1", "p4x-pool1", "p4x-conv2", "p4x-pool2", "p4x-conv3",
             "p4x-pool3")}
    legend = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.layout && "
                           "e.layout.meta === 'saliency').map(e => e.data[1].colorbar.ticktext)[0] || null")
    return {"digit": digit, "reads": B.metric_value(page, "The CNN reads"),
            "shipped_says": shipped.inner_text() if shipped.count() else None, "figures": figs, "legend": legend}


def teach(page, url: str, runs: Path, digits=TEACH_DIGITS) -> dict:
    """Teach page: draw and save each digit with its label, fine-tune, wait for the before/after."""
    open_page(page, url, "teach")
    for i, d in enumerate(digits):
        page.locator("canvas.digit-pad-canvas").first.wait_for(timeout=30_000)
        draw(page, d, seed=10 + i)
        choice = page.locator("[data-testid=stButtonGroup]").get_by_role("radio", name=str(d), exact=True)
        if choice.get_attribute("aria-checked") != "true":  # preselected when the model already reads it right
            choice.click()
            B.wait_idle(page)
        page.get_by_role("button", name=re.compile("Save to my collection")).click()
        B.wait_idle(page, settle=1.0)
    saved = B.metric_value(page, "Saved")
    t0 = time.time()
    page.get_by_role("button", name=re.compile("Fine-tune on my")).click()
    done = page.get_by_text(re.compile("^Before and after")).first
    failed = page.locator("[data-testid=stAlertContentError], [data-testid=stException]").first
    done.or_(failed).wait_for(timeout=300_000)
    if not done.is_visible():  # the page said why (e.g. the shipped weights are missing): report it, don't wait
        raise RuntimeError(f"fine-tuning failed on the Teach page: {failed.inner_text()[:500]}")
    waited = time.time() - t0
    B.wait_idle(page, settle=1.0)
    m = json.loads(next(runs.glob("cnn-finetuned-*/metrics.json")).read_text())
    return {"saved": saved, "seconds_to_results": waited, "before_after": m["before_after"],
            "timings": m["timings"], "figure": B.figure_box(page, "before-after") is not None}


# --- what the presenter saw go wrong -----------------------------------------------------------------------------


def _thumb(page, label: str):
    return page.locator("[data-testid=stSlider]").filter(has_text=label).locator("input[type=range]").first


def slider_value(page, label: str) -> float:
    return float(_thumb(page, label).input_value())


def move_slider(page, label: str, key: str) -> None:
    thumb = _thumb(page, label)
    thumb.focus()
    thumb.press(key)
    B.wait_idle(page)


def playground_reset(page, url: str) -> dict:
    """Move Gain, press "Model's settings", then touch another slider: Gain must stay at the model's value."""
    open_page(page, url, "playground")
    before = slider_value(page, "Gain")
    move_slider(page, "Gain", "End")
    moved = slider_value(page, "Gain")
    page.get_by_role("button", name=re.compile("Model's settings")).click()
    B.wait_idle(page)
    after_reset = slider_value(page, "Gain")
    move_slider(page, "Paper radius", "ArrowRight")
    return {"model": before, "moved": moved, "after_reset": after_reset, "after_touching_another": slider_value(
        page, "Gain")}


def page_checks(page, name: str) -> dict:
    """Geometry of an open page: cut-off inputs, plotly toolbars, and what is particular to that page."""
    out: dict = {"cut_off": B.cut_off_inputs(page), "toolbars": B.visible_toolbars(page)}
    if name == "home":
        page.locator("[data-testid=stDataFrame] th").first.wait_for(state="attached", timeout=30_000)
        out["table_columns"] = B.table_columns(page)
    if name == "playground":
        out["filmstrip_overlaps"] = B.overlapping_labels(page, "filmstrip")
        img, slider = B.figure_box(page, "pg-input"), B.element_box(page, "[data-testid=stSlider]", "Camera box")
        out["input_to_sliders_px"] = slider["y"] - img["bottom"] if img and slider else None
    if name in ("phase1", "phase4"):
        meta, tile, total = ("softmax-templates", 84, 10 * 84 + 9 * 12) if name == "phase1" else ("conv-filters", 36,
                                                                                                   8 * 36 + 7 * 8)
        box = B.figure_box(page, meta)
        out["tile_px"] = box["image"]["width"] * tile / total if box and box.get("image") else None
    if name == "deploy":
        page.locator("[data-testid=stDataFrame] tbody tr").first.wait_for(state="attached", timeout=30_000)
        out["table_rows"] = B.table_rows(page)
        files = page.get_by_text(re.compile(r"^\d+ files in the bundle"))
        out["files"] = int(files.first.inner_text().split()[0]) if files.count() else None
    return out


def deep_link_errors(browser, url: str, names) -> dict:
    """Each page opened by a link in a brand-new browser context: HTTP errors it logged, and seconds to open."""
    out = {}
    for name in names:
        ctx = browser.new_context(viewport=VIEWPORT)
        try:
            page = ctx.new_page()
            bad: list = []
            page.on("response", lambda r, bad=bad: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            t = time.time()
            page.goto(f"{url}/{B.PAGES[name]}")
            B.wait_idle(page, settle=0.3)
            out[name] = {"errors": bad, "seconds": time.time() - t - 0.3}
        finally:
            ctx.close()
    return out


def build_bundle_now(page) -> None:
    page.get_by_role("button", name=re.compile("Build the bundle")).click()
    page.get_by_role("button", name=re.compile("Download digit-web.zip")).wait_for(timeout=120_000)
    B.wait_idle(page)


def open_bundle(page, url: str) -> dict:
    """Deploy: "Open it now", then open the link: the web page loads from the dashboard's own server."""
    page.get_by_role("button", name=re.compile("Open it now")).click()
    link = page.get_by_role("link", name=re.compile("Open the web page"))
    link.wait_for(timeout=120_000)
    href = link.get_attribute("href")
    tab = page.context.browser.new_page()
    try:
        resp = tab.goto(href if href.startswith("http") else url + href)
        tab.wait_for_load_state("load")
        return {"href": href, "status": resp.status if resp else None, "title": tab.title()}
    finally:
        tab.close()


def run(out: Path, train: bool = True, digit_index: int = 0) -> dict:
    """Everything, inside the namespace: server, browser, training, drawing, teaching, camera, checks, screenshots."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="digits-shots-"))
    clip = work / "digit.y4m"
    expected = B.digit_clip(clip, digit_index)
    runs = work / "runs"
    env = {"DIGITS_RUNS_DIR": str(runs)} if train else {}
    result: dict = {"pages": {}, "camera": None, "training": {}, "checks": {"desktop": {}, "phone": {}}}
    with B.dashboard_server(env=env, log=work / "server.log") as url, B.dashboard_browser(clip) as browser:
        result["deep_links"] = deep_link_errors(browser, url, B.PAGES)
        page = browser.new_page(viewport=VIEWPORT)
        if train:
            result["training"]["phase1"] = train_in_browser(page, url, "phase1", {"Epochs": 5})
            result["checks"]["desktop"]["phase1"] = page_checks(page, "phase1")
            snap(page, out / "phase1.png")
            result["training"]["phase2"] = train_in_browser(page, url, "phase2", {"Epochs": 4})
            result["checks"]["desktop"]["phase2"] = page_checks(page, "phase2")
            snap(page, out / "phase2.png")
            result["training"]["phase4"] = train_in_browser(page, url, "phase4", {"Max steps": 120}, timeout=300)
            result["draw"] = draw_on_phase4(page, url)
            result["checks"]["desktop"]["phase4"] = page_checks(page, "phase4")
            snap(page, out / "phase4.png")
            result["teach"] = teach(page, url, runs)
            snap(page, out / "teach.png")
        result["playground_reset"] = playground_reset(page, url)
        for name in ("home", "phase3", "playground", "deploy") + (() if train else ("phase1", "phase2", "phase4")):
            result["pages"][name] = open_page(page, url, name)
            if name == "deploy":
                build_bundle_now(page)
                result["bundle"] = open_bundle(page, url)
            result["checks"]["desktop"][name] = page_checks(page, name)
            snap(page, out / f"{name}.png")
        result["camera"] = camera_check(page, url, expected)
        snap(page, out / "camera.png")
        phone = browser.new_context(viewport=B.PHONE, is_mobile=True, has_touch=True).new_page()
        for name in B.PAGES:
            open_page(phone, url, name)
            if name == "deploy":
                build_bundle_now(phone)
            result["checks"]["phone"][name] = page_checks(phone, name)
            snap(phone, out / f"{name}-phone.png")
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
          f"after START (attempt {cam['attempt']}); {cam['fps']} fps ({cam['detail']})")
    if "draw" in result:
        print(f"drew a {result['draw']['digit']} on Phase 4's pad: the page reads {result['draw']['reads']}")
    print("page open (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result["pages"].items()))
    print(f"{len(result['screenshots'])} screenshots in {a.out}")
    return 0 if cam["ok"] else 1
