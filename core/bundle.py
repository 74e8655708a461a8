"""The static web deployment: emit a self-contained bundle from web/, zip it, run a model through it in Chromium.

A bundle is a flat folder: the page (`index.html`, `style.css`, `boot.js`, `script.js`, `preprocess.js`,
`upload-worker.js`, `favicon.svg`), the model and its contract (`model.onnx`, `model.json`), the first two conv
layers of the same model as a second small graph (`features.onnx`, for the page's "inside the network" view; absent
when the model has no conv layer), the page's settings (`config.json`) and the three files of onnxruntime-web's
plain wasm build, copied from `web/node_modules` (installed by `npm ci --prefix web`). Every file of 1 kB or more
also comes precompressed (`NAME.br`, `NAME.gz`) for servers that can send them as they are. `bundle.json`, the
manifest, lists every file with its size and SHA-256: it marks the folder as a bundle, so `export-web --force`
replaces only empty folders and earlier bundles. Nothing in a bundle refers to another origin; it runs offline.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
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
from core.storage import REPO_ROOT, atomic_write_bytes, data_dir, exchange_paths, umask

WEB_DIR = REPO_ROOT / "web"
ORT_PACKAGE = "onnxruntime-web"
PAGE_FILES = ("index.html", "style.css", "boot.js", "script.js", "preprocess.js", "upload-worker.js", "favicon.svg")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")  # plain wasm build
ORT_WASM = "ort-wasm-simd-threaded.wasm"
MODEL_FILE, CONTRACT_FILE, CONFIG_FILE = "model.onnx", "model.json", "config.json"
FEATURES_FILE, MANIFEST_FILE = "features.onnx", "bundle.json"
CONFIG_FORMAT = "digit-inference-engine/web-config"
MANIFEST_FORMAT = "digit-inference-engine/web-bundle"
ENCODINGS = {"br": ".br", "gzip": ".gz"}  # Content-Encoding -> suffix of the precompressed copy, preferred first
COMPRESS_MIN_BYTES = 1024  # smaller files gain nothing a request header would not eat
COMPRESS_CACHE_MIN_BYTES = 1_000_000  # compressed copies of files this big (the wasm: 5 s) are cached by SHA-256
BROTLI_QUALITY = 9  # 2.69 MB for the wasm in ~5 s; quality 11 gives 2.36 MB but takes ~65 s
FEATURE_LAYERS = 2  # conv layers shown in the page's "inside the network" view
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
# The page's Content-Security-Policy: index.html carries it in a <meta> (for any static host), serve-web also as a
# header with frame-ancestors, which a <meta> cannot set. Only this origin; no inline script; wasm may compile.
PAGE_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; "
            "media-src 'self'; connect-src 'self'; worker-src 'self'; font-src 'none'; object-src 'none'; "
            "frame-src 'none'; base-uri 'none'; form-action 'none'")
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


# --- the feature-map graph ---------------------------------------------------------------------------------------

_CONVS = {"Conv", "ConvInteger", "QLinearConv"}
_ELEMENTWISE = {"Relu", "Clip", "LeakyRelu", "QuantizeLinear", "DequantizeLinear", "Cast", "Mul", "Add"}


def features_graph(model_bytes: bytes, layers: int = FEATURE_LAYERS) -> tuple[bytes, list[dict]] | None:
    """The first `layers` conv layers of an ONNX model as a graph of their own: image -> each layer's activations
    (N,C,H,W) after its activation function (and its int8 round trip, in a quantized graph), as the next layer sees
    them. Returns (graph bytes, [{output, channels, height, width}]), or None for a model without a conv layer."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    g = model.graph
    types = {v.name: v.type.tensor_type for v in [*g.value_info, *g.output]}
    consumers: dict[str, list] = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def float_4d(name: str):
        t = types.get(name)
        if t is None or t.elem_type != onnx.TensorProto.FLOAT or len(t.shape.dim) != 4:
            return None
        dims = [d.dim_value for d in t.shape.dim[1:]]
        return dims if all(dims) else None

    outputs = []
    for node in (n for n in g.node if n.op_type in _CONVS):  # nodes are in topological order
        name, best = node.output[0], None
        while True:  # follow the activation (and quantize/dequantize) chain to what the next layer reads
            if float_4d(name):
                best = name
            nxt = consumers.get(name, [])
            if len(nxt) != 1 or nxt[0].op_type not in _ELEMENTWISE:
                break
            name = nxt[0].output[0]
        if best:
            c, h, w = float_4d(best)
            outputs.append({"output": best, "channels": c, "height": h, "width": w})
        if len(outputs) == layers:
            break
    if not outputs:
        return None
    inputs = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
    sub = Extractor(model).extract_model(inputs, [o["output"] for o in outputs])
    del sub.graph.value_info[:]  # the intermediate shapes inferred above: not needed to run it
    onnx.checker.check_model(sub)
    return sub.SerializeToString(), outputs


# --- precompressed copies ----------------------------------------------------------------------------------------


def _compress(data: bytes, encoding: str) -> bytes:
    """`data` brotli- or gzip-compressed, byte for byte the same on every run (gzip without a time stamp)."""
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    try:
        import brotli
    except ImportError:
        raise UserError("the Python package brotli is missing: pip install -r requirements.txt") from None
    return brotli.compress(data, quality=BROTLI_QUALITY)


def compressed(data: bytes, encoding: str) -> bytes:
    """`_compress`, cached in the data folder by SHA-256 for big files (onnxruntime-web's wasm takes seconds)."""
    if len(data) < COMPRESS_CACHE_MIN_BYTES:
        return _compress(data, encoding)
    quality = BROTLI_QUALITY if encoding == "br" else 9
    cache = data_dir() / "precompressed" / f"{hashlib.sha256(data).hexdigest()}.q{quality}{ENCODINGS[encoding]}"
    try:
        return cache.read_bytes()
    except OSError:
        pass
    out = _compress(data, encoding)
    try:
        atomic_write_bytes(cache, out)
    except UserError:
        pass  # a read-only data folder only costs time
    return out


def precompressed_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """NAME.br and NAME.gz for every file of COMPRESS_MIN_BYTES or more that they make at least 10 % smaller."""
    out = {}
    for name, data in files.items():
        if len(data) < COMPRESS_MIN_BYTES:
            continue
        for encoding, suffix in ENCODINGS.items():
            packed = compressed(data, encoding)
            if len(packed) <= 0.9 * len(data):
                out[name + suffix] = packed
    return out


# --- the bundle ----------------------------------------------------------------------------------------------------


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    """bundle.json: what marks a folder as a bundle, and lists every other file in it with its size and digest."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for name, data in files.items()},
    }
    return (json.dumps(manifest, indent=2) + "\n").encode()


def bundle_files(model_path: Path | None = None, preprocess: dict | None = None) -> dict[str, bytes]:
    """Every file of a web bundle, name -> contents, the manifest last (model checked with onnxruntime)."""
    model = load_model(Path(model_path) if model_path else default_model_path())  # checks contract + graph
    dist = ort_dist_dir()
    files: dict[str, bytes] = {}
    for name in PAGE_FILES:
        path = WEB_DIR / name
        if not path.is_file():
            raise UserError(f"web source {path} is missing")
        files[name] = path.read_bytes()
    model_bytes = model.path.read_bytes()
    try:
        features = features_graph(model_bytes)
    except Exception:  # noqa: BLE001 (a graph the extractor cannot cut: the page simply shows no feature maps)
        features = None
    config = {
        "format": CONFIG_FORMAT,
        "version": 1,
        "model": MODEL_FILE,
        "contract": CONTRACT_FILE,
        "ort_version": pinned_ort_version(),
        "preprocess": resolve_preprocess(model.contract, preprocess).to_dict(),
        "features": {"model": FEATURES_FILE, "layers": features[1]} if features else None,
    }
    files[CONFIG_FILE] = (json.dumps(config, indent=2) + "\n").encode()
    files[MODEL_FILE] = model_bytes
    files[CONTRACT_FILE] = (json.dumps(model.contract, indent=2) + "\n").encode()
    if features:
        files[FEATURES_FILE] = features[0]
    for name in ORT_FILES:
        files[name] = (dist / name).read_bytes()
    files.update(precompressed_files(files))
    files[MANIFEST_FILE] = manifest_bytes(files)
    return files


def read_manifest(folder: Path) -> dict | None:
    """A folder's bundle.json when it is one export-web wrote, else None."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ok = isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT and isinstance(
        manifest.get("files"), dict)
    return manifest if ok else None


def _refuse_dangerous(out: Path, model_path: Path | None) -> None:
    """Refuse to replace a folder that holds the repository, the working directory, home or the model, or that is
    not an earlier bundle (no manifest, or anything in it that its manifest does not list)."""
    out = out.resolve()
    precious = [REPO_ROOT, WEB_DIR, Path.cwd(), Path.home(), Path(out.anchor)]
    precious.append(Path(model_path).resolve() if model_path else default_model_path())
    for p in precious:
        p = p.resolve()
        if p == out or out in p.parents:
            raise UserError(f"refusing to replace {out}: it holds {p}")
    manifest = read_manifest(out)
    if manifest is None:
        raise UserError(f"refusing to replace {out}: it is not a bundle written by export-web (no {MANIFEST_FILE}); "
                        "choose an empty or new folder")
    listed = set(manifest["files"]) | {MANIFEST_FILE}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed or p.is_symlink() or not p.is_file())
    if foreign:
        raise UserError(f"refusing to replace {out}: it holds {', '.join(foreign[:3])}"
                        f"{' and more' if len(foreign) > 3 else ''}, which its {MANIFEST_FILE} does not list")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(out: Path) -> None:
    """Remove what an export-web killed midway left beside `out` (".OUT.PID.*.tmp" folders of dead processes), after
    putting back an old bundle that a kill between the two renames of the fallback swap left aside."""
    for p in sorted(out.parent.glob(f".{glob.escape(out.name)}.*.tmp")):
        pid = p.name[len(out.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or _pid_alive(int(pid)) or p.is_symlink() or not p.is_dir():
            continue
        if p.name.endswith(".old.tmp") and not out.exists():
            os.rename(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def build_bundle(out_dir: Path, model_path: Path | None = None, preprocess: dict | None = None,
                 force: bool = False) -> dict[str, int]:
    """Write a bundle to `out_dir` atomically (temp folder beside it, then one atomic swap); returns name -> size.

    A reader (or a kill -9 at any moment) sees the old folder or the new one, never a mix."""
    out = Path(out_dir).absolute()
    if out.parent.is_dir():
        _clean_stale(out)  # first: it may put back an old bundle a killed run left aside
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(f"{out} exists and is not a folder")
    nonempty = out.is_dir() and any(out.iterdir())
    if nonempty and not force:
        raise UserError(f"{out} is not empty; pass --force to replace it (only an earlier bundle can be replaced)")
    if nonempty:
        _refuse_dangerous(out, model_path)
    files = bundle_files(model_path, preprocess)  # everything checked before anything is written
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp"))
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
        dir_fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the names are on disk before the swap makes them visible
        finally:
            os.close(dir_fd)
        if nonempty and exchange_paths(tmp, out):  # one atomic swap: tmp now holds the old contents
            old = tmp
        elif nonempty:  # no renameat2 here: move the old aside, the new in (a moment without OUT)
            old = tmp.with_name(tmp.name[: -len(".tmp")] + ".old.tmp")
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
            already = name.endswith(tuple(ENCODINGS.values()))
            info.compress_type = zipfile.ZIP_STORED if already else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def wire_bytes(sizes: dict[str, int], names: list[str] | None = None) -> dict[str, int]:
    """Bytes a browser downloads for `names` (default: every file but the precompressed copies) per encoding,
    when the server sends a precompressed copy wherever one exists (as serve-web does)."""
    suffixes = tuple(ENCODINGS.values())
    names = names or [n for n in sizes if not n.endswith(suffixes)]
    out = {"identity": sum(sizes[n] for n in names)}
    for encoding, suffix in ENCODINGS.items():
        out[encoding] = sum(sizes.get(n + suffix, sizes[n]) for n in names)
    return out


def size_table(sizes: dict[str, int]) -> str:
    """Sizes of a bundle's files, biggest first, the total, and the bytes a browser downloads per encoding."""
    rows = [f"  {n:<32} {s:>12,} B" for n, s in sorted(sizes.items(), key=lambda kv: -kv[1])]
    total = sum(sizes.values())
    wire = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in wire_bytes(sizes).items())
    return "\n".join(rows + [f"  {'total':<32} {total:>12,} B  ({total / 1e6:.2f} MB)",
                             f"  a browser downloads all of it as: {wire}"])


def export_web_args(p) -> None:
    p.add_argument("out", type=Path, metavar="OUT", help="folder to create (must be empty or absent)")
    p.add_argument("--model", type=Path, default=None, help="ONNX model with its contract JSON beside it "
                   "(default: the shipped core/assets/model.onnx)")
    p.add_argument("--force", action="store_true", help="replace OUT when it is an earlier bundle (it holds "
                   f"{MANIFEST_FILE} and only the files that lists)")
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
