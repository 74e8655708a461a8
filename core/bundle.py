"""The static web deployment: emit a self-contained bundle from web/, zip it, run a model through it in Chromium.

A bundle is a flat folder: the page (`index.html`, `style.css`, `script.js`, `preprocess.js`, `favicon.svg`),
the model and its contract (`model.onnx`, `model.json`), the page's settings (`config.json`: the preprocessing
defaults the page starts with) and the three files of onnxruntime-web's plain wasm build, copied from
`web/node_modules` (installed by `npm ci --prefix web`). Nothing in it refers to another origin; it runs offline.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from core.contract import resolve_preprocess
from core.errors import UserError
from core.inference import default_model_path, load_model
from core.storage import REPO_ROOT, exchange_paths, umask

WEB_DIR = REPO_ROOT / "web"
ORT_PACKAGE = "onnxruntime-web"
PAGE_FILES = ("index.html", "style.css", "script.js", "preprocess.js", "favicon.svg")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")  # plain wasm build
MODEL_FILE, CONTRACT_FILE, CONFIG_FILE = "model.onnx", "model.json", "config.json"
BUNDLE_FILES = PAGE_FILES + (CONFIG_FILE, MODEL_FILE, CONTRACT_FILE) + ORT_FILES
CONFIG_FORMAT = "digit-inference-engine/web-config"
MIME_TYPES = {  # what serve-web sends for each file type
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
        "preprocess": resolve_preprocess(model.contract, preprocess).to_dict(),
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
        tmp.chmod(0o777 & ~umask())
        if nonempty and exchange_paths(tmp, out):  # one atomic swap: tmp now holds the old contents
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


def browser_logits(model_path: Path, images) -> dict:
    """Run a model in onnxruntime-web inside headless Chromium through the web page: logits of uint8 images
    (N,28,28) and the median single-image latency in ms (page_logits, page_latency_ms)."""
    from core.browser import launch_chromium, page_latency_ms, page_logits
    from core.serve import serving

    with tempfile.TemporaryDirectory(prefix="digits-web-check-") as tmp:
        build_bundle(Path(tmp) / "bundle", model_path)
        with serving(Path(tmp) / "bundle") as server, launch_chromium() as browser:
            page = browser.new_context().new_page()
            page.goto(server.url)
            page.wait_for_selector("body[data-state=ready], body[data-state=error]", state="attached", timeout=60_000)
            if page.evaluate("document.body.dataset.state") != "ready":
                raise UserError(f"the web page could not load {model_path}: {page.text_content('#alert')}")
            page.evaluate("digitApp.whenIdle()")
            return {"logits": page_logits(page, images), "latency_ms_1": page_latency_ms(page, images[0])}
