"""Where things live on disk, and atomic writes: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
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
        with tempfile.TemporaryFile(dir=path):  # unnamed (O_TMPFILE) where the system can: a kill leaves nothing
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


SOURCE_DIRS = (".git", ".streamlit", ".venv", "core", "dashboard", "data", "pages", "tests", "web")  # in the repo


def refuse_precious_out(out: Path, what: str = "run folder") -> None:
    """Refuse (one-line UserError) a folder that must never become a run folder: the repository or a folder above
    it (such as /), $HOME or a folder above it, anything in the repo's source folders, the runs folder itself."""
    out = Path(out).expanduser()
    for p in {out.absolute(), out.resolve()}:  # as typed, and with symlinks followed
        why = (next((f"it is or holds {name} {h}" for name, h in (("the repository", REPO_ROOT), ("$HOME", Path.home()))
                     if _holds(p, h)), None)
               or next((f"it is in the source folder {d}" for d in (REPO_ROOT / d for d in SOURCE_DIRS)
                        if _below(p, d)), None)
               or (f"it is the runs folder {runs_dir()}" if p in {runs_dir().absolute(), runs_dir().resolve()}
                   else None))
        if why:
            raise UserError(f"refusing {out} as a {what}: {why}; give a folder of its own "
                            f"(the default is a new one under {runs_dir()})")


def _holds(p: Path, precious: Path) -> bool:
    """Whether folder `p` is `precious` or one of its parents (both as typed and resolved)."""
    return any(p == q or p in q.parents for q in {precious, precious.resolve()})


def _below(p: Path, folder: Path) -> bool:
    """Whether `p` is `folder` or inside it (both as typed and resolved)."""
    return any(p == q or q in p.parents for q in {folder, folder.resolve()})


def new_run_dir(kind: str, out: Path | None = None) -> Path:
    """Return a writable run folder: `out` if given (never the repo, its sources or $HOME), else a fresh
    runs/<kind>-<time>-<random>."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = runs_dir() / f"{kind}-{stamp}-{secrets.token_hex(2)}"
    else:
        refuse_precious_out(Path(out))
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


def replace_dir_atomically(dest: Path, fill: Callable[[Path], None]) -> Path:
    """Change folder `dest` in one step: `fill(stage)` edits a staged copy of it (every file of `dest` is there),
    then the copy takes `dest`'s place in one atomic exchange (renameat2). A reader, or a crash at any moment,
    sees the old folder or the new one, never some files of each. OSError and fill's errors pass through.

    Calls on the same parent folder take turns (flock), so what a killed call left (".<name>.*.tmp") is removed."""
    dest = Path(dest)
    parent = ensure_dir(dest.parent)
    lock = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in parent.glob(f".{dest.name}.*{TEMP_SUFFIX}"):
            shutil.rmtree(old, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.", suffix=TEMP_SUFFIX))
        retired = stage.with_name(stage.name + TEMP_SUFFIX)  # the old folder, on the way out
        try:
            os.chmod(stage, 0o777 & ~_UMASK)  # mkdtemp makes 0700
            if dest.is_dir():
                shutil.copytree(dest, stage, symlinks=True, dirs_exist_ok=True)
            fill(stage)
            for f in stage.rglob("*"):
                if f.is_file():
                    _fsync(f)
            _fsync(stage)
            if not dest.exists():
                os.rename(stage, dest)
            elif exchange_paths(stage, dest):  # stage now holds the old folder
                stage.rename(retired)
            else:  # a kernel or filesystem without RENAME_EXCHANGE: for a moment no folder (but never a mix)
                os.rename(dest, retired)
                os.rename(stage, dest)
            _fsync(parent)
        finally:
            for leftover in (stage, retired):
                shutil.rmtree(leftover, ignore_errors=True)
    finally:
        os.close(lock)  # releases the flock
    return dest


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
