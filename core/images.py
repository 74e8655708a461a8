"""Decoding image files and uploaded bytes with Pillow, behind guards: the one decoder every consumer uses.

Any input gives an array or a one-line UserError, never a crash or a hang: a decompression-bomb limit
(checked from the header, before decoding), truncated or corrupt data, odd modes (16-bit, palette,
alpha, CMYK), EXIF rotation (phone photos are stored sideways), and only regular files are opened.
"""

from __future__ import annotations

import io
import math
import stat
import warnings
from pathlib import Path

import numpy as np

from core.errors import UserError, first_line
from core.preprocess import MAX_PIXELS

IMAGE_PIXEL_LIMIT = 50_000_000  # refuse larger images before decoding them (a 30000x30000 PNG is 900 MP)
PHOTO_MIN_SIDE = 1000  # a photo's JPEG may be decoded at 1/2, 1/4 or 1/8 size while its short side stays >= this


def load_image(path: Path | str, min_side: int | None = None) -> np.ndarray:
    """Decode an image file -> (H,W) or (H,W,C) uint8/uint16 array, upright; one-line UserError if unusable.

    Only regular files are opened: a FIFO, a device or a socket would block or never end. min_side: a JPEG may
    be decoded smaller (libjpeg's DCT scaling, 1/2 to 1/8) as long as its short side stays >= min_side: a
    12 MP phone photo decodes in a third of the time, and the pipeline averages it down anyway."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path}: is a directory, not an image file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: not a regular file (a pipe, device or socket); give an image file")
    return _decode(path, str(path), min_side)


def decode_image(raw: bytes, name: str = "upload", min_side: int | None = None) -> np.ndarray:
    """Image file bytes (an upload, a camera snapshot) -> (H,W) or (H,W,C) array, as load_image decodes them."""
    return _decode(io.BytesIO(raw), name, min_side)


def _decode(source, path: str, min_side: int | None = None) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = min(IMAGE_PIXEL_LIMIT, MAX_PIXELS)
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > limit:
        Image.MAX_IMAGE_PIXELS = limit  # process-wide, only ever tightened: Pillow warns above it, fails above 2x
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:  # reads the header only
                w, h = im.size
                if w * h > limit:
                    raise UserError(f"{path}: {w}x{h} image is too large (limit {limit:,} pixels)")
                if min_side and im.format == "JPEG" and min(w, h) >= 2 * min_side:
                    f = min_side / min(w, h)
                    im.draft(im.mode, (math.ceil(w * f), math.ceil(h * f)))  # the smallest scale still >= that
                im.load()  # decode now: truncated or corrupt data fails here
                im = ImageOps.exif_transpose(im) or im
                return _to_array(im, path)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path}: refused as a decompression bomb ({first_line(e)})") from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image (not a readable image file in a format Pillow knows; "
                        "try a PNG or JPEG)") from None
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not an image file") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:  # Pillow's corrupt-data errors
        raise UserError(f"{path}: unreadable image ({first_line(e)})") from None


def _to_array(im, path: Path) -> np.ndarray:
    """A decoded PIL image -> ndarray: gray/RGB/RGBA uint8, or uint16 for 16-bit gray."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":  # 32-bit ints: Pillow's mode for 16-bit PNGs in some versions
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise UserError(f"{path}: 32-bit integer pixels outside 0..65535 are not supported")
        return a.astype(np.uint16)
    if mode == "F":
        raise UserError(f"{path}: floating-point images (mode F) are not supported; save it as 8- or 16-bit")
    if mode == "L":
        return np.asarray(im)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    if mode == "1":
        return np.asarray(im.convert("L"))
    return np.asarray(im.convert("RGB"))  # RGB, P, CMYK, YCbCr, LAB, HSV, 16-bit RGB ...


