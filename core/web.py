"""The static web deployment: emit a self-contained bundle from web/, zip it, serve it on 127.0.0.1, bench it.

A bundle is a flat folder: the page (`index.html`, `style.css`, `script.js`, `preprocess.js`, `favicon.svg`),
the model and its contract (`model.onnx`, `model.json`), the page's settings (`config.json`: the preprocessing
defaults the page starts with) and the three files of onnxruntime-web's plain wasm build, copied from
`web/node_modules` (installed by `npm ci --prefix web`). Nothing in it refers to another origin; it runs offline.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import functools
import http.server
import io
import json
import os
import shutil
import socketserver
import statistics
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.inference import default_model_path, load_model
from core.storage import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
ORT_PACKAGE = "onnxruntime-web"
PAGE_FILES = ("index.html", "style.css", "script.js", "preprocess.js", "favicon.svg")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")  # plain wasm build
MODEL_FILE, CONTRACT_FILE, CONFIG_FILE = "model.onnx", "model.json", "config.json"
BUNDLE_FILES = PAGE_FILES + (CONFIG_FILE, MODEL_FILE, CONTRACT_FILE) + ORT_FILES
CONFIG_FORMAT = "digit-inference-engine/web-config"
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
ISOLATION_HEADERS = {  # cross-origin isolation: lets ort-web use more than one wasm thread
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# ---------------------------------------------------------------------------------------------------- bundle


def pinned_ort_version(web_dir: Path | None = None) -> str:
    """The onnxruntime-web version web/package.json pins (exactly, no range)."""
    web_dir = web_dir or WEB_DIR
    try:
        deps = json.loads((web_dir / "package.json").read_text())["dependencies"]
        return deps[ORT_PACKAGE]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{web_dir / 'package.json'} does not pin {ORT_PACKAGE}: {e}") from None


def ort_dist_dir(web_dir: Path | None = None) -> Path:
    """web/node_modules/onnxruntime-web/dist, checked to hold the pinned version's wasm build."""
    web_dir = web_dir or WEB_DIR
    fix = f"run `npm ci --prefix {web_dir}` (or `make web-deps`)"
    package = web_dir / "node_modules" / ORT_PACKAGE
    try:
        installed = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"{ORT_PACKAGE} is not installed in {web_dir / 'node_modules'}: {fix}") from None
    want = pinned_ort_version(web_dir)
    if installed != want:
        raise UserError(f"{ORT_PACKAGE} {installed} is installed but web/package.json pins {want}: {fix}")
    dist = package / "dist"
    missing = [f for f in ORT_FILES if not (dist / f).is_file()]
    if missing:
        raise UserError(f"{ORT_PACKAGE} in {dist} lacks {', '.join(missing)}: {fix}")
    return dist


def preprocess_defaults(contract: dict, overrides: dict | None = None) -> dict:
    """The preprocessing settings the page starts with: the contract's, updated by `overrides`, validated."""
    from core.preprocess import PreprocessConfig

    names = {f.name for f in dataclasses.fields(PreprocessConfig)}
    base = {k: v for k, v in (contract.get("preprocess") or {}).items() if k in names}
    return PreprocessConfig.from_dict({**base, **(overrides or {})}).to_dict()


def bundle_files(model_path: Path | None = None, preprocess: dict | None = None) -> dict[str, bytes]:
    """Every file of a web bundle, name -> contents, in BUNDLE_FILES order (model checked with onnxruntime)."""
    model = load_model(Path(model_path) if model_path else default_model_path())  # checks contract + graph
    dist = ort_dist_dir()
    files: dict[str, bytes] = {}
    for name in PAGE_FILES:
        path = WEB_DIR / name
        if not path.is_file():
            raise UserError(f"web source {path} is missing")
        files[name] = path.read_bytes()
    config = {
        "format": CONFIG_FORMAT,
        "version": 1,
        "model": MODEL_FILE,
        "contract": CONTRACT_FILE,
        "ort_version": pinned_ort_version(),
        "preprocess": preprocess_defaults(model.contract, preprocess),
    }
    files[CONFIG_FILE] = (json.dumps(config, indent=2) + "\n").encode()
    files[MODEL_FILE] = model.path.read_bytes()
    files[CONTRACT_FILE] = (json.dumps(model.contract, indent=2) + "\n").encode()
    for name in ORT_FILES:
        files[name] = (dist / name).read_bytes()
    return files


def _refuse_dangerous(out: Path, model_path: Path | None) -> None:
    """Refuse to replace a folder that holds the repository, the working directory, home or the model."""
    out = out.resolve()
    precious = [REPO_ROOT, WEB_DIR, Path.cwd(), Path.home(), Path(out.anchor)]
    precious.append(Path(model_path).resolve() if model_path else default_model_path())
    for p in precious:
        p = p.resolve()
        if p == out or out in p.parents:
            raise UserError(f"refusing to replace {out}: it holds {p}")


def build_bundle(out_dir: Path, model_path: Path | None = None, preprocess: dict | None = None,
                 force: bool = False) -> dict[str, int]:
    """Write a bundle to `out_dir` atomically (temp folder beside it, then rename); returns name -> size."""
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    nonempty = out.is_dir() and any(out.iterdir())
    if nonempty and not force:
        raise UserError(f"{out} is not empty; pass --force to replace it")
    if nonempty:
        _refuse_dangerous(out, model_path)
    files = bundle_files(model_path, preprocess)  # everything checked before anything is written
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as e:
        raise UserError(f"cannot write beside {out}: {e.strerror or e}") from None
    old = None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        tmp.chmod(0o777 & ~_umask())
        if nonempty and _exchange(tmp, out):  # one atomic swap: tmp now holds the old contents
            old = tmp
        elif nonempty:  # no renameat2 here: move the old aside, the new in (a moment without OUT)
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.rename(out, old)
            os.rename(tmp, out)
        else:
            os.rename(tmp, out)  # replaces an absent or empty folder atomically
    except OSError as e:
        if old is not None and old.exists() and not out.exists():
            os.rename(old, out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return {name: len(data) for name, data in files.items()}


def bundle_zip_bytes(model_path: Path | None = None, preprocess: dict | None = None, root: str = "digit-web") -> bytes:
    """The same bundle as a zip (files under `root/`), built in memory for a download button."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in bundle_files(model_path, preprocess).items():
            info = zipfile.ZipInfo(f"{root}/{name}" if root else name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel, or a filesystem without it
        return False
    raise OSError(err, os.strerror(err), str(b))


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def size_table(sizes: dict[str, int]) -> str:
    """Sizes of a bundle's files, biggest first, and the total (bytes and MB = 10^6 bytes)."""
    rows = [f"  {n:<32} {s:>12,} B" for n, s in sorted(sizes.items(), key=lambda kv: -kv[1])]
    total = sum(sizes.values())
    return "\n".join(rows + [f"  {'total':<32} {total:>12,} B  ({total / 1e6:.2f} MB)"])


def export_web_args(p) -> None:
    p.add_argument("out", type=Path, metavar="OUT", help="folder to create (must be empty or absent)")
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract JSON beside it "
                   "(default: the shipped core/assets/model.onnx)")
    p.add_argument("--force", action="store_true", help="replace OUT even if it is not empty")
    p.add_argument("--preprocess", default=None, metavar="JSON",
                   help="preprocessing defaults the page starts with, overriding the model contract's: a JSON "
                   "object of PreprocessConfig fields, e.g. '{\"radius\": 5}', or a file holding one (the "
                   "Playground's settings download)")


def _json_object(text: str) -> dict:
    """A JSON object given inline or as the path of a file holding one."""
    path = Path(text)
    try:
        source = path.read_text() if not text.lstrip().startswith("{") and path.is_file() else text
        obj = json.loads(source)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"--preprocess: not a JSON object or a file holding one: {e}") from None
    if not isinstance(obj, dict):
        raise UserError("--preprocess must be a JSON object")
    return obj


def export_web_main(a) -> int:
    overrides = _json_object(a.preprocess) if a.preprocess is not None else None
    sizes = build_bundle(a.out, a.model, overrides, force=a.force)
    print(f"wrote {a.out} ({len(sizes)} files):")
    print(size_table(sizes))
    print(f"try it: python -m core serve-web {a.out}")
    return 0


# ---------------------------------------------------------------------------------------------------- serve


class BundleHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the MIME types a bundle needs, no caching, optional cross-origin isolation."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    isolate = False
    quiet = False

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.isolate:
            for k, v in ISOLATION_HEADERS.items():
                self.send_header(k, v)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)


class BundleServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(directory: Path, port: int = 0, isolate: bool = False, quiet: bool = True) -> BundleServer:
    """A threaded HTTP server for `directory` on 127.0.0.1 (port 0: any free port); call serve_forever()."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise UserError(f"{directory} is not a web bundle (no index.html); make one with `python -m core export-web`")
    handler = type("Handler", (BundleHandler,), {"isolate": isolate, "quiet": quiet})
    handler = functools.partial(handler, directory=str(directory))
    try:
        server = BundleServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
    server.directory = directory
    return server


class serving:
    """Context manager: serve `directory` on an ephemeral 127.0.0.1 port in a thread; yields the server."""

    def __init__(self, directory: Path, isolate: bool = False) -> None:
        self.server = make_server(directory, 0, isolate)

    def __enter__(self) -> BundleServer:
        threading.Thread(target=self.server.serve_forever, name="serve-web", daemon=True).start()
        return self.server

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_web_args(p) -> None:
    p.add_argument("dir", type=Path, metavar="DIR", help="a bundle folder written by export-web")
    p.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--isolate", action="store_true",
                   help="send COOP/COEP headers (cross-origin isolation, lets ort-web use several threads)")


def serve_web_main(a) -> int:
    server = make_server(a.dir, a.port, a.isolate, quiet=False)
    print(f"serving {a.dir} at {server.url} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


# ---------------------------------------------------------------------------------------------------- browser


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


class chromium:
    """Context manager: Debian Chromium launched headless by Playwright with a fresh profile; yields a Browser."""

    def __init__(self, extra_args: tuple[str, ...] | list[str] = (), headless: bool = True) -> None:
        self.args = [*CHROMIUM_QUIET_FLAGS, *extra_args]
        self.headless = headless

    def __enter__(self):
        why = chromium_missing()
        if why:
            raise UserError(why)
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=self.headless, args=self.args)
        except BaseException:
            self._pw.stop()
            raise
        return self.browser

    def __exit__(self, *exc) -> None:
        try:
            self.browser.close()
        finally:
            self._pw.stop()


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


# ---------------------------------------------------------------------------------------------------- bench


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _p90(xs: list[float]) -> float:
    return float(sorted(xs)[int(0.9 * (len(xs) - 1))]) if xs else float("nan")


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


def page_logits(page, images, chunk: int = 1000) -> np.ndarray:
    """Logits of uint8 images (N,28,28) from the web page open in `page` (its own onnxruntime-web session). The
    page converts pixels to the model's input exactly as core.inference.to_model_input does (float32 of u/255)."""
    import base64

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
    import base64

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


def browser_logits(model_path: Path, images) -> dict:
    """Run a model in onnxruntime-web inside headless Chromium through the web page: logits of uint8 images
    (N,28,28) and the median single-image latency in ms (page_logits, page_latency_ms)."""
    with tempfile.TemporaryDirectory(prefix="digits-web-check-") as tmp:
        build_bundle(Path(tmp) / "bundle", model_path)
        with serving(Path(tmp) / "bundle") as server, chromium() as browser:
            page = browser.new_context().new_page()
            page.goto(server.url)
            page.wait_for_selector("body[data-state=ready], body[data-state=error]", state="attached", timeout=60_000)
            if page.evaluate("document.body.dataset.state") != "ready":
                raise UserError(f"the web page could not load {model_path}: {page.text_content('#alert')}")
            page.evaluate("digitApp.whenIdle()")
            return {"logits": page_logits(page, images), "latency_ms_1": page_latency_ms(page, images[0])}


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
            with chromium() as browser:
                loads_rows = time_to_first_prediction(browser, server.url, loads)
            with chromium(fake_camera_flags(clip)) as browser:
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


def web_bench_args(p) -> None:
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract (default: the shipped one)")
    p.add_argument("--loads", type=int, default=5, help="page loads timed to the first prediction")
    p.add_argument("--frames", type=int, default=200, help="camera frames timed (at most 300)")
    p.add_argument("--width", type=int, default=640, help="fake camera frame width")
    p.add_argument("--height", type=int, default=480, help="fake camera frame height")
    p.add_argument("--isolate", action="store_true", help="serve with COOP/COEP headers")
    p.add_argument("--json", type=Path, default=None, help="where to write the JSON (default: runs/bench/web.json)")


def web_bench_main(a) -> int:
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
