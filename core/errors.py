"""User-facing errors and input checks shared by every entry point."""

from __future__ import annotations

import numpy as np


class UserError(Exception):
    """A problem the user can fix: entry points print it as one line, without a traceback."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), at most `limit` characters."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:limit]


def check_array(
    x: object,
    name: str,
    shape: tuple[int | None, ...] | None = None,
    kinds: str = "fiub",
) -> np.ndarray:
    """Return `x` as an ndarray after checking its shape (None = any size), dtype kind and finiteness."""
    if not isinstance(x, np.ndarray):
        raise UserError(f"{name}: expected a NumPy array, got {type(x).__name__}")
    if x.dtype.kind not in kinds:
        raise UserError(f"{name}: dtype {x.dtype} is not allowed (expected kinds {kinds!r})")
    if shape is not None:
        ok = x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape, strict=False))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise UserError(f"{name}: shape {x.shape} does not match {want}")
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise UserError(f"{name}: contains NaN or infinity")
    return x
