"""Real Chromium, driven by Playwright: the one place that launches it, for tests, benchmarks and the export.

Debian's /usr/bin/chromium (never a downloaded browser), quiet on a closed network; its fake camera fed
by a .y4m clip (`write_y4m`); `wait_until` polls a page without eval (it works under a strict
Content-Security-Policy); `page_logits` runs images through the web page's own onnxruntime-web session.
The dashboard's WebRTC needs ICE candidates that aiortc and Chromium both accept, and neither uses
127.0.0.1, so for the dashboard the server and the browser run together inside a network namespace of
their own (`unshare -n`, root) whose loopback also carries 127.0.0.2, with Chromium allowed to use
loopback for peer connections. Nothing leaves that namespace. See ../shared/notes/browser-testing.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.storage import REPO_ROOT

# --- Chromium -----------------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("DIGITS_CHROMIUM", "/usr/bin/chromium")  # Debian's package; never a downloaded one
CHROMIUM_QUIET_FLAGS = (  # no background traffic: on a closed network every attempt is refused, noisily
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
)


def fake_camera_flags(clip: Path) -> list[str]:
    """Chromium flags: getUserMedia succeeds without a prompt and plays `clip` (.y4m, looped) as the camera."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={Path(clip).resolve()}",
    ]


def chromium_missing() -> str | None:
    """Why Chromium cannot be driven here (no browser, no Playwright), or None when it can."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set DIGITS_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    return None


@contextlib.contextmanager
def launch_chromium(extra_args: Sequence[str] = (), headless: bool = True) -> Iterator[object]:
    """Debian Chromium launched headless by Playwright with a fresh profile; yields a Playwright Browser."""
    why = chromium_missing()
    if why:
        raise UserError(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=headless,
                                     args=[*CHROMIUM_QUIET_FLAGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def write_y4m(path: Path, frames: list, fps: int = 30) -> Path:
    """(H,W,3) uint8 RGB frames -> a YUV4MPEG2 4:2:0 clip (BT.601 limited range), as Chromium's fake camera plays."""
    import numpy as np

    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise UserError(f"y4m frames need even sides, got {w}x{h}")
    out = bytearray(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
    for f in frames:
        rgb = f.astype(np.float64)  # (H,W,3)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
        u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
        v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
        u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # 2x2 chroma subsampling
        v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        out += b"FRAME\n"
        for plane in (y, u, v):
            out += np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes()
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def wait_until(page, js: str, timeout_s: float = 30.0, every_s: float = 0.05):
    """Poll `js` (an expression) with page.evaluate until truthy; CSP-safe (no eval inside the page)."""
    end = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(js)
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for: {js}")
        time.sleep(every_s)


def page_logits(page, images, chunk: int = 1000) -> np.ndarray:
    """Logits of uint8 images (N,28,28) from the web page open in `page` (its own onnxruntime-web session). The
    page converts pixels to the model's input exactly as core.inference.to_model_input does (float32 of u/255)."""
    run = """async ([b64, n]) => {
        const u8 = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const x = new Float32Array(u8.length);
        for (let i = 0; i < u8.length; i++) x[i] = u8[i] / 255;
        return Array.from(await digitApp.logits(x, n));
    }"""
    images = np.ascontiguousarray(images, np.uint8)
    out = []
    for i in range(0, len(images), chunk):
        part = images[i : i + chunk]
        z = page.evaluate(run, [base64.b64encode(part.tobytes()).decode(), len(part)])
        out.append(np.asarray(z, np.float32).reshape(len(part), -1))
    return np.concatenate(out)


def page_latency_ms(page, image, groups: int = 30, per_group: int = 50) -> float:
    """Median single-image inference time (ms) of the page's session: performance.now() is coarsened to 0.1 ms
    there, so `groups` groups of `per_group` runs are timed and the median group time is divided by per_group."""
    return float(page.evaluate("""async ([b64, groups, k]) => {
        const u8 = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const x = Float32Array.from(u8, (v) => v / 255), t = [];
        for (let i = 0; i < 30; i++) await digitApp.logits(x, 1);
        for (let g = 0; g < groups; g++) {
          const t0 = performance.now();
          for (let i = 0; i < k; i++) await digitApp.logits(x, 1);
          t.push((performance.now() - t0) / k);
        }
        t.sort((a, b) => a - b);
        return t[t.length >> 1];
    }""", [base64.b64encode(np.ascontiguousarray(image, np.uint8).tobytes()).decode(), groups, per_group]))





# --- the dashboard in a network namespace ------------------------------------------------------------

NETNS_ENV = "DIGITS_IN_NETNS"
PAGES = {"home": "", "phase1": "phase1", "phase2": "phase2", "phase3": "phase3", "phase4": "phase4",
         "playground": "playground", "camera": "camera", "teach": "teach", "deploy": "deploy"}
DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}  # the README tour's two sizes


# --- the namespace ------------------------------------------------------------------------------------------


def in_netns() -> bool:
    return os.environ.get(NETNS_ENV) == "1"


def netns_available() -> str | None:
    """None if we can make a private network namespace here, else why not."""
    if os.geteuid() != 0:
        return "needs root (unshare -n)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return chromium_missing()


def run_in_netns(argv: list[str], env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run `argv` inside a fresh network namespace with loopback up and 127.0.0.2 on it."""
    setup = "ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec \"$@\""
    cmd = ["unshare", "-n", "--", "sh", "-c", setup, "sh", *argv]
    return subprocess.run(cmd, env={**os.environ, **(env or {}), NETNS_ENV: "1"}, timeout=timeout, cwd=REPO_ROOT)


def reexec_in_netns(argv: list[str]) -> int | None:
    """Outside the namespace: run `python -m core ARGV` inside a fresh one and return its exit status (2 with a
    one-line error if that is impossible here). Inside it: None, i.e. carry on."""
    if in_netns():
        return None
    why = netns_available()
    if why:
        print(f"error: cannot drive the browser here: {why}", file=sys.stderr)
        return 2
    return run_in_netns([sys.executable, "-m", "core", *argv]).returncode


# --- the server ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int) -> list[str]:
    """What `make run` runs (the repo's .streamlit/config.toml makes it headless, without usage stats)."""
    streamlit = Path(sys.executable).with_name("streamlit")
    return [str(streamlit), "run", "dashboard/server.py", "--server.port", str(port)]


@contextlib.contextmanager
def dashboard_server(port: int | None = None, env: dict | None = None, log: Path | None = None) -> Iterator[str]:
    """Start the dashboard as `make run` does; yield its URL once /_stcore/health answers; stop it after."""
    port = port or free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(server_command(port), cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise UserError(f"the dashboard exited with code {proc.returncode} (log: {log})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise UserError("the dashboard did not answer /_stcore/health within 60 s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


# --- the fake camera ----------------------------------------------------------------------------------------


def digit_clip(path: Path, index: int = 0, seconds: float = 2.0, fps: int = 30) -> int:
    """A 640x480 clip of MNIST test digit `index` written on paper (core.camera_set); returns its label."""
    from core import camera_set
    from core.data import load_mnist

    data = load_mnist(fetch=False)
    rng = np.random.default_rng(index)
    style = camera_set.Style(pen="medium", ink="black", digit_size=0.6, gradient=0.1, exposure=0.92, blur=0.6,
                             noise=2.0, jpeg=None)
    frames = [camera_set.camera_frame(data.test_images[index], rng, 640, 480, style=style)
              for _ in range(max(1, int(seconds * fps) // 6))]
    write_y4m(path, [f for f in frames for _ in range(6)], fps)  # each rendering held 6 frames: sensor noise flicker
    return int(data.test_labels[index])


# --- the browser --------------------------------------------------------------------------------------------


def dashboard_browser(fake_video: Path | None = None):
    """Context manager: headless Chromium (launch_chromium) allowed to use loopback for WebRTC, with the fake
    camera playing `fake_video` when given."""
    return launch_chromium(["--allow-loopback-in-peer-connection", "--disable-dev-shm-usage"]
                    + (fake_camera_flags(fake_video) if fake_video else []))


def wait_idle(page, timeout: float = 60.0, settle: float = 0.5) -> bool:
    """Wait until Streamlit has finished running the page's script (stApp's data-test-script-state stays
    'notRunning' for `settle` s); False on timeout (e.g. a page whose live fragment keeps rerunning)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout * 1000)
    deadline, quiet_since = time.time() + timeout, None
    while time.time() < deadline:
        state = page.get_attribute("[data-testid='stApp']", "data-test-script-state")
        if state != "notRunning":
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle:
            return True
        time.sleep(0.05)
    return False


def metric_value(page, label: str) -> str | None:
    """The value shown by the st.metric labelled `label`, or None when absent."""
    m = page.locator("[data-testid='stMetric']").filter(has=page.locator(
        "[data-testid='stMetricLabel']", has_text=label))
    if m.count() == 0:
        return None
    return m.first.locator("[data-testid='stMetricValue']").inner_text().strip()


# --- what a page looks like: geometry read in the browser -------------------------------------------------------

_FIGURE_JS = "(meta) => [...document.querySelectorAll('.js-plotly-plot')].find(e => e.layout && e.layout.meta === meta)"


def figure_box(page, meta: str) -> dict | None:
    """The on-screen box of the plotly figure whose layout.meta is `meta` (and of its picture, if it has one)."""
    return page.evaluate(f"""(meta) => {{
        const el = ({_FIGURE_JS})(meta);
        if (!el) return null;
        const r = el.getBoundingClientRect(), img = el.querySelector('.imagelayer image, image');
        const i = img ? img.getBoundingClientRect() : null;
        return {{left: r.left, top: r.top, width: r.width, height: r.height, bottom: r.bottom,
                 image: i ? {{width: i.width, height: i.height}} : null}};
    }}""", meta)


def overlapping_labels(page, meta: str) -> list[list[str]]:
    """Pairs of a figure's annotation texts (e.g. subplot titles) whose boxes overlap on screen."""
    return page.evaluate(f"""(meta) => {{
        const el = ({_FIGURE_JS})(meta);
        if (!el) return [];
        const boxes = [...el.querySelectorAll('.annotation-text')].map(t => [t.textContent, t.getBoundingClientRect()]);
        const out = [];
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {{
            const [a, ra] = boxes[i], [b, rb] = boxes[j];
            if (ra.width && rb.width && ra.left < rb.right - 1 && rb.left < ra.right - 1 && ra.top < rb.bottom - 1
                && rb.top < ra.bottom - 1) out.push([a, b]);
        }}
        return out;
    }}""", meta)


def cut_off_inputs(page) -> list[str]:
    """Text boxes and select values whose text does not fit (their content is wider than the box): '0.100(' ."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid=stMain]'), out = [];
        for (const el of main.querySelectorAll('input[type=text], input[type=number], input:not([type])')) {
            if (el.offsetParent && el.scrollWidth > el.clientWidth + 1) out.push(el.value);
        }
        for (const box of main.querySelectorAll('[data-testid=stSelectbox] [data-baseweb=select] div')) {
            if (!box.children.length && box.textContent && box.scrollWidth > box.clientWidth + 1)
                out.push(box.textContent);
        }
        return out;
    }""")


def visible_toolbars(page) -> int:
    """Plotly toolbars (mode bars) on the page: on a phone they sit over the chart titles."""
    return page.evaluate("() => document.querySelectorAll('.modebar-container .modebar').length")


def table_columns(page, index: int = 0) -> list[str]:
    """Headers of the columns a dataframe actually shows (its grid renders only what is in view)."""
    return page.evaluate("""(i) => {
        const df = document.querySelectorAll('[data-testid=stDataFrame]')[i];
        return df ? [...df.querySelectorAll('th')].map(t => t.textContent) : [];
    }""", index)


def table_rows(page, index: int = 0) -> int:
    """Body rows a dataframe shows without scrolling (its grid renders only what is in view)."""
    return page.evaluate("""(i) => {
        const df = document.querySelectorAll('[data-testid=stDataFrame]')[i];
        return df ? df.querySelectorAll('tbody tr').length : 0;
    }""", index)


def element_box(page, selector: str, text: str | None = None) -> dict | None:
    """The on-screen box of the first element matching `selector` (and holding `text`, when given)."""
    loc = page.locator(selector)
    if text is not None:
        loc = loc.filter(has_text=text)
    return loc.first.bounding_box() if loc.count() else None


def draw_strokes(page, strokes, canvas: str = "canvas.digit-pad-canvas", steps: int = 4) -> None:
    """Draw strokes given in the unit square (core.handwriting) on the page's drawing pad with the mouse."""
    pad = page.locator(canvas).first
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=steps)
        page.mouse.up()
        time.sleep(0.3)
