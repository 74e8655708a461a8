"""Where things live on disk, and atomic writes: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

from core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = Path(__file__).resolve().parent / "assets"  # shipped, committed artefacts (default model)
_UMASK = os.umask(0)
os.umask(_UMASK)
TEMP_SUFFIX = ".tmp"  # every atomic write goes through ".<name>.<random>.tmp" beside its target


def umask() -> int:
    """This process's file-creation mask (read once at import)."""
    return _UMASK


def data_dir() -> Path:
    """Cache folder for datasets: $DIGITS_DATA_DIR, else <repo>/data (git-ignored)."""
    return Path(os.environ.get("DIGITS_DATA_DIR") or REPO_ROOT / "data")


def runs_dir() -> Path:
    """Folder holding training runs: $DIGITS_RUNS_DIR, else <repo>/runs (git-ignored)."""
    return Path(os.environ.get("DIGITS_RUNS_DIR") or REPO_ROOT / "runs")


def ensure_dir(path: Path) -> Path:
    """Create `path` if needed and prove it is writable, or raise a one-line UserError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as e:
        raise UserError(f"cannot write to directory {path}: {e.strerror or e}") from None
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path, obj: object) -> Path:
    """Atomically write `obj` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_npz(path: Path, compress: bool = False, **arrays: np.ndarray) -> Path:
    """Atomically write arrays as an .npz file."""
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: Path, what: str = "file") -> dict:
    """Read a JSON object or raise a one-line UserError naming the file."""
    try:
        obj = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{what} {path} does not hold a JSON object")
    return obj


def new_run_dir(kind: str, out: Path | None = None) -> Path:
    """Return a writable run folder: `out` if given, else a fresh runs/<kind>-<time>-<random>."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = runs_dir() / f"{kind}-{stamp}-{secrets.token_hex(2)}"
    return ensure_dir(Path(out))


def remove_stale_temporaries(folder: Path, min_age_s: float = 0.0) -> list[Path]:
    """Delete the temporary files an atomic write killed midway left in `folder` (".*.tmp"); return them."""
    removed = []
    now = time.time()
    for p in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        try:
            if p.is_file() and now - p.stat().st_mtime >= min_age_s:
                p.unlink()
                removed.append(p)
        except OSError:
            pass  # gone already, or not ours to delete
    return removed


def exchange_paths(a: Path, b: Path) -> bool:
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
