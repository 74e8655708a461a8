"""Training negatives for the "not a digit" class: MNIST-style images of marks that are not digits.

Every image is (28,28) uint8, white ink (255) on black (0), framed like an MNIST digit by
`to_mnist_frame`: the ink's bounding box fitted into 20x20 keeping its aspect, anti-aliased, then moved
so its centre of mass sits at (14,14) (index coordinates, as MNIST's own digits do). Strokes are about
1.8-3.2 px wide, MNIST's width, so the net cannot tell a negative by its pen. The images can go
straight to a network or onto paper through core.camera_set exactly like MNIST digits.

Sources (each a name, so training can hold some out):
  font:<family>  letters and symbols from the Debian TTF fonts present (FONT_FILES), rendered large,
                 pen width matched by erosion/dilation, rotated, sheared, scaled; FONT_CHARS only.
  strokes        a small hand-drawn alphabet (STROKE_SHAPES): polylines on a unit grid with jitter,
                 bowed strokes, slant, rotation and a random pen.
  scribble       zig-zags, cursive loops, a filled or scrubbed blob, a tangle, a cross-out, a spiral.
  dash           dashes, flat straight lines, dots, short ticks, dashed rows (never steeper than
                 MAX_DASH_ANGLE from horizontal: a steep line is a "1").
  fragment       pieces of real MNIST training digits (see `fragment` for the rules that keep them unreadable).
No blank source: the camera pipeline rejects empty crops before the network sees them.

Small marks (SMALL_MARK): shapes are drawn in units of a digit's height (1.0 = how tall a digit written
in the same hand is). A mark at least SMALL_MARK (half a digit) long is fitted like MNIST, longer side
20 px; a shorter one is scaled as if it were SMALL_MARK long, so it keeps its size relative to those:
a dash 0.3 digits long is about 12 px wide, a dot stays a dot of 3-7 px, and the pen stays MNIST-wide.
`negatives` mixes the sources by GROUP_WEIGHTS (the font families share the font weight). Every function
takes a numpy Generator; the same seed gives identical images.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core.errors import UserError

EXCLUDED = "0123456789OoDQIlijJ|!/\\()[]{}ZzSs$bGB&gq"  # anything readable as a digit (shared with core.eval_sim)
_WANTED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-=\u00d7#?!*%@<>~&"
FONT_CHARS = "".join(c for c in _WANTED if c not in EXCLUDED)  # the characters fonts render (46)

_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
_LIBERATION = "/usr/share/fonts/truetype/liberation/"
_LIBERATION_STYLES = ("Regular", "Bold", "Italic", "BoldItalic")
FONT_FILES: dict[str, tuple[str, ...]] = {  # family -> TTF files; absent files are skipped, never an error
    "DejaVu Sans": tuple(_DEJAVU + f for f in (
        "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
        "DejaVuSans-ExtraLight.ttf", "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf",
        "DejaVuSansCondensed-Oblique.ttf", "DejaVuSansCondensed-BoldOblique.ttf")),
    "DejaVu Serif": tuple(_DEJAVU + f for f in (
        "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
        "DejaVuSerifCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf", "DejaVuSerifCondensed-Italic.ttf",
        "DejaVuSerifCondensed-BoldItalic.ttf")),
    "DejaVu Sans Mono": tuple(_DEJAVU + f for f in (
        "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-BoldOblique.ttf")),
    **{family: tuple(f"{_LIBERATION}{family.replace(' ', '')}-{style}.ttf" for style in _LIBERATION_STYLES)
       for family in ("Liberation Sans", "Liberation Serif", "Liberation Mono", "Liberation Sans Narrow")},
}
FONT_SOURCES = tuple(f"font:{family}" for family in FONT_FILES)
SOURCES: tuple[str, ...] = (*FONT_SOURCES, "strokes", "scribble", "dash", "fragment")
GROUP_WEIGHTS = {"font": 0.3, "strokes": 0.25, "scribble": 0.15, "dash": 0.15, "fragment": 0.15}  # font: all families
SMALL_MARK = 0.5  # marks shorter than this many digit heights keep their size relative to a digit (see above)
MAX_DASH_ANGLE = 35.0  # degrees from horizontal; MNIST 1s lean at most ~30 degrees from vertical
GLYPH_PX = 64  # font size glyphs are rendered at before framing (cap height ~45 px)
FRAGMENT_SPAN = 14.0  # px: a fragment is magnified at most 20 / 14 = 1.4x, so its strokes stay MNIST-wide
INK_EPS = 0.04  # mask values above this count as ink for the bounding box


@dataclass(frozen=True)
class NegativeConfig:
    """How the negatives are drawn; the defaults give MNIST-like marks."""

    pen_px: tuple[float, float] = (1.8, 3.2)  # stroke width in the 28x28 output (MNIST's are ~2-3 px)
    rotate_deg: float = 15.0  # letters and scribbles turn by up to this much either way
    shear: float = 0.3  # horizontal slant (x += shear * y) up to this much either way
    stretch: float = 0.15  # x and y scale each vary by up to this fraction
    max_kept: float = 0.55  # a fragment keeps at most this fraction of its digit's ink
    min_kept: float = 0.12  # ...and at least this much (less is a speck)
    max_similarity: float = 0.74  # a fragment closer (cosine) to a real digit than this still reads as one


# ---------------------------------------------------------------- framing


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H,W) float -> (h,w) float32, Pillow's bilinear filter (area-weighted when shrinking, so anti-aliased)."""
    if a.shape == (h, w):
        return a.astype(np.float32)
    return np.asarray(Image.fromarray(a.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR))


def to_mnist_frame(mask: np.ndarray, min_span: float = 0.0) -> np.ndarray:
    """(H,W) ink coverage in [0,1] (or uint8) -> (28,28) uint8 framed like MNIST: bbox in 20x20, centre of mass at 14.

    The bounding box's longer side becomes 20 px (aspect kept), counting it as at least `min_span` mask
    pixels: a mark shorter than `min_span` is scaled by 20 / min_span and so stays small. All-empty -> zeros.
    """
    m = np.asarray(mask, dtype=np.float64) / (255.0 if np.asarray(mask).dtype == np.uint8 else 1.0)
    m = np.clip(m, 0.0, 1.0)
    rows, cols = np.flatnonzero((m > INK_EPS).any(1)), np.flatnonzero((m > INK_EPS).any(0))
    if rows.size == 0:
        return np.zeros((28, 28), np.uint8)
    c = m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h,w) the ink's bounding box
    h, w = c.shape
    span = max(h, w, min_span)
    nh, nw = max(1, min(20, round(20 * h / span))), max(1, min(20, round(20 * w / span)))
    p = np.clip(_resize(c, nh, nw), 0.0, None).astype(np.float64)  # (nh,nw)
    if p.max() <= 0:
        return np.zeros((28, 28), np.uint8)
    p /= p.max()  # MNIST strokes reach full white
    mass = p.sum()
    cy = float((p.sum(1) * np.arange(nh)).sum() / mass)  # centre of mass, index coordinates
    cx = float((p.sum(0) * np.arange(nw)).sum() / mass)
    oy = min(max(round(14 - cy), 0), 28 - nh)  # kept whole inside the frame
    ox = min(max(round(14 - cx), 0), 28 - nw)
    out = np.zeros((28, 28))
    out[oy : oy + nh, ox : ox + nw] = p
    return np.rint(out * 255).astype(np.uint8)


# ---------------------------------------------------------------- vector drawing (strokes, scribbles, dashes)

Stroke = np.ndarray  # (k,2) points (x, y), y down, in digit heights


def _render(strokes: Sequence[Stroke], pen: float, fills: Sequence[Stroke] = (), dot: float = 1.3) -> np.ndarray:
    """Polylines (and filled polygons) in digit heights -> (28,28) uint8, pen `pen` px wide in the output."""
    pts = np.concatenate([*strokes, *fills])  # (P,2)
    lo, hi = pts.min(0), pts.max(0)
    s = (20.0 - pen) / max(float((hi - lo).max()), SMALL_MARK)  # output px per digit height
    K = 4  # supersampling: Pillow draws hard edges, averaging 4x4 anti-aliases them
    W, H = (np.ceil((hi - lo) * s + pen + 4) * K).astype(int)
    img = Image.new("L", (int(W), int(H)))
    d = ImageDraw.Draw(img)
    r = pen * K / 2

    def px(p: np.ndarray) -> np.ndarray:  # (k,2) digit heights -> supersampled pixels
        return ((p - lo) * s + pen / 2 + 2) * K

    for f in fills:
        d.polygon([tuple(q) for q in px(f)], fill=255)
    for st in strokes:
        q = px(st)
        if len(q) == 1:  # a dot: a pressed pen is a little wider than its line
            x, y = q[0]
            d.ellipse((x - r * dot, y - r * dot, x + r * dot, y + r * dot), fill=255)
            continue
        d.line(q.ravel().tolist(), fill=255, width=max(1, round(2 * r)))
        v = np.diff(q, axis=0)  # (k-1,2)
        cos = (v[:-1] * v[1:]).sum(1) / np.maximum(np.hypot(*v[:-1].T) * np.hypot(*v[1:].T), 1e-9)
        for x, y in np.vstack([q[0], q[1:-1][cos < 0.95], q[-1]]):  # round caps and round joins at corners
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    mask = np.asarray(img.reduce(K), dtype=np.float64) / 255.0  # (H/K, W/K), already at output scale
    return to_mnist_frame(mask, min_span=20.0)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 12) -> list[tuple[float, float]]:
    """Points on an elliptical arc from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in t]


def _densify(st: Stroke, rng: np.random.Generator, bow: float) -> Stroke:
    """Split each segment into short pieces and bow it sideways by up to `bow` of its length (hand-drawn curve)."""
    if len(st) < 2:
        return st
    v = np.diff(st, axis=0)  # (n-1,2) segments
    length = np.hypot(*v.T)  # (n-1,)
    normal = np.stack([-v[:, 1], v[:, 0]], 1) / np.maximum(length, 1e-9)[:, None]
    b = rng.normal(0, bow, len(v)) * length * (length > 0.15)  # long segments only: arcs are already round
    k = np.maximum(1, np.ceil(length / 0.05)).astype(int)  # pieces per segment
    seg = np.repeat(np.arange(len(v)), k)  # (m,) the segment of each new point
    t = ((np.arange(seg.size) - np.repeat(np.cumsum(k) - k, k) + 1) / np.repeat(k, k))[:, None]  # (m,1) in (0,1]
    pts = st[seg] + t * v[seg] + (4 * t * (1 - t)) * b[seg, None] * normal[seg]
    return np.vstack([st[:1], pts])


def _affine(strokes: list[Stroke], rng: np.random.Generator, cfg: NegativeConfig, rotate: float | None = None) -> (
        list[Stroke]):
    """Random slant, aspect and rotation about the centre, the same for every stroke of a shape."""
    t = math.radians(rng.uniform(-1, 1) * (cfg.rotate_deg if rotate is None else rotate))
    A = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])  # rotation
    A = A @ np.array([[1.0, rng.uniform(-1, 1) * cfg.shear], [0.0, 1.0]])  # slant
    A = A @ np.diag(1 + rng.uniform(-1, 1, 2) * cfg.stretch)  # aspect
    c = np.concatenate(strokes).mean(0)
    return [(st - c) @ A.T + c for st in strokes]


def _handwrite(shape: Sequence[Sequence[tuple[float, float]]], rng: np.random.Generator, cfg: NegativeConfig,
               jitter: float = 0.03, bow: float = 0.07) -> list[Stroke]:
    """A shape's strokes as a person draws them: points jittered, strokes shifted and bowed, whole shape warped."""
    out = []
    for st in shape:
        p = np.asarray(st, dtype=np.float64)  # (k,2)
        gap = np.full(len(p), 1.0)  # jitter only where points are far apart (not along arcs)
        if len(p) > 1:
            seg = np.hypot(*np.diff(p, axis=0).T)
            gap = np.minimum(np.r_[seg, np.inf], np.r_[np.inf, seg])
        p = p + rng.normal(0, 1, p.shape) * np.minimum(jitter, 0.2 * gap)[:, None] + rng.normal(0, 0.02, 2)
        out.append(_densify(p, rng, bow))
    a, f, ph = rng.uniform(0.01, 0.03, 2), rng.uniform(0.3, 0.8, 2), rng.uniform(0, 2 * math.pi, 2)
    out = [st + a * np.sin(2 * math.pi * f * st[:, ::-1] + ph) for st in out]  # a smooth, gentle warp
    return _affine(out, rng, cfg)


def _pen(rng: np.random.Generator, cfg: NegativeConfig) -> float:
    return float(rng.uniform(*cfg.pen_px))


# ---------------------------------------------------------------- strokes: a small hand-drawn alphabet

STROKE_SHAPES_TABLE: dict[str, list[list[tuple[float, float]]]] = {  # letter height 1, y down
    "A": [[(0, 1), (0.35, 0), (0.7, 1)], [(0.16, 0.6), (0.54, 0.6)]],
    "C": [_arc(0.4, 0.5, 0.4, 0.5, -50, -310, 16)],
    "E": [[(0.6, 0), (0, 0), (0, 1), (0.6, 1)], [(0, 0.5), (0.45, 0.5)]],
    "F": [[(0.6, 0), (0, 0), (0, 1)], [(0, 0.48), (0.45, 0.48)]],
    "H": [[(0, 0), (0, 1)], [(0.65, 0), (0.65, 1)], [(0, 0.5), (0.65, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(0.6, 0), (0, 0.6)], [(0.22, 0.42), (0.62, 1)]],
    "L": [[(0, 0), (0, 1), (0.6, 1)]],
    "M": [[(0, 1), (0.08, 0), (0.4, 0.65), (0.72, 0), (0.8, 1)]],
    "N": [[(0, 1), (0, 0), (0.65, 1), (0.65, 0)]],
    "R": [[(0, 1), (0, 0), (0.35, 0), *_arc(0.35, 0.25, 0.22, 0.25, -90, 90, 9), (0, 0.5)], [(0.2, 0.5), (0.62, 1)]],
    "T": [[(0, 0), (0.7, 0)], [(0.35, 0), (0.35, 1)]],
    "U": [[(0, 0), *_arc(0.32, 0.68, 0.32, 0.32, 180, 0, 12), (0.64, 0)]],
    "V": [[(0, 0), (0.35, 1), (0.7, 0)]],
    "W": [[(0, 0), (0.22, 1), (0.47, 0.3), (0.72, 1), (0.94, 0)]],
    "X": [[(0, 0), (0.7, 1)], [(0.7, 0), (0, 1)]],
    "Y": [[(0, 0), (0.35, 0.5), (0.7, 0)], [(0.35, 0.5), (0.35, 1)]],
    "k": [[(0, 0), (0, 1)], [(0.5, 0.42), (0, 0.74)], [(0.15, 0.65), (0.52, 1)]],
    "m": [[(0, 0.45), (0, 1)], [(0, 0.6), *_arc(0.2, 0.62, 0.2, 0.15, 180, 360, 7), (0.4, 1)],
          [(0.4, 0.6), *_arc(0.6, 0.62, 0.2, 0.15, 180, 360, 7), (0.8, 1)]],
    "n": [[(0, 0.42), (0, 1)], [(0, 0.6), *_arc(0.27, 0.62, 0.27, 0.18, 180, 360, 9), (0.54, 1)]],
    "t": [[(0.2, 0), (0.2, 0.85), *_arc(0.38, 0.85, 0.18, 0.15, 180, 90, 5), (0.55, 0.95)], [(0, 0.3), (0.5, 0.3)]],
    "u": [[(0, 0.42), *_arc(0.27, 0.75, 0.27, 0.25, 180, 0, 9), (0.54, 0.42), (0.55, 1)]],
    "w": [[(0, 0.4), (0.15, 1), (0.33, 0.6), (0.51, 1), (0.66, 0.4)]],
    "x": [[(0, 0.4), (0.55, 1)], [(0.55, 0.4), (0, 1)]],
    "y": [[(0, 0.35), (0.32, 0.8)], [(0.6, 0.35), (0.1, 1.3)]],
    "+": [[(0.32, 0), (0.32, 0.64)], [(0, 0.32), (0.64, 0.32)]],
    "#": [[(0.25, 0), (0.17, 0.8)], [(0.55, 0), (0.47, 0.8)], [(0, 0.27), (0.75, 0.27)], [(0, 0.55), (0.72, 0.55)]],
    "?": [[*_arc(0.3, 0.25, 0.3, 0.25, 200, 400, 12), (0.3, 0.55), (0.3, 0.7)], [(0.3, 0.95)]],
    "~": [[(0, 0.1), *_arc(0.17, 0.1, 0.17, 0.1, 180, 360, 6), *_arc(0.51, 0.1, 0.17, 0.1, 180, 0, 6)]],
    "*": [[(0.3, 0), (0.3, 0.6)], [(0.04, 0.15), (0.56, 0.45)], [(0.56, 0.15), (0.04, 0.45)]],
    "=": [[(0, 0), (0.6, 0)], [(0, 0.25), (0.6, 0.25)]],
    "<": [[(0.5, 0), (0, 0.32), (0.5, 0.64)]],
    ">": [[(0, 0), (0.5, 0.32), (0, 0.64)]],
    "%": [[(0.7, 0), (0, 1)], _arc(0.13, 0.16, 0.13, 0.16, 0, 360, 10), _arc(0.57, 0.84, 0.13, 0.16, 0, 360, 10)],
    "@": [[*_arc(0.45, 0.5, 0.16, 0.2, 0, 360, 12), (0.63, 0.7), *_arc(0.45, 0.5, 0.45, 0.5, 30, -300, 22)]],
    "\u00d7": [[(0, 0), (0.5, 0.5)], [(0.5, 0), (0, 0.5)]],
}
STROKE_SHAPES: tuple[str, ...] = tuple(STROKE_SHAPES_TABLE)  # 35 shapes


def stroke_negative(rng: np.random.Generator, cfg: NegativeConfig = NegativeConfig()) -> tuple[np.ndarray, str]:
    """(28,28) uint8: one shape of the hand-drawn alphabet, jittered, bowed and slanted; and its name."""
    name = STROKE_SHAPES[int(rng.integers(len(STROKE_SHAPES)))]
    return _render(_handwrite(STROKE_SHAPES_TABLE[name], rng, cfg), _pen(rng, cfg)), name


# ---------------------------------------------------------------- scribbles


def _zigzag(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    k = int(rng.integers(5, 13))  # at least 5 segments: fewer read as "2", "7" or "N"
    x = np.cumsum(rng.uniform(0.6, 1.4, k + 1)) * rng.uniform(0.8, 1.6) / k  # 0.8-1.6 digits wide
    y = np.where(np.arange(k + 1) % 2 == 0, 0.0, 1.0) * rng.uniform(0.4, 0.9) + rng.normal(0, 0.05, k + 1)
    return [np.stack([x, y], 1)], []


def _loops(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    n = rng.uniform(2.6, 4.5)  # cursive "eeee"/"llll": with three or more loops it never reads as a "0" or an "8"
    t = np.linspace(0, n, int(30 * n))
    h = rng.uniform(0.5, 1.0)
    adv, rx = h * rng.uniform(0.3, 0.5), h * rng.uniform(0.2, 0.3)  # at most 2.25 times as wide as tall
    x = adv * t - rx * np.sin(2 * math.pi * t)  # a prolate cycloid: one loop per unit of t
    y = -h / 2 * np.cos(2 * math.pi * t)
    return [np.stack([x, y], 1)], []


def _blob_outline(rng: np.random.Generator, n: int = 40) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = 0.45 * (1 + sum(rng.normal(0, 0.12) * np.cos(k * a + rng.uniform(0, 6.3)) for k in (2, 3, 4)))
    return np.stack([r * np.cos(a) * rng.uniform(0.8, 1.4), r * np.sin(a)], 1)


def _blob(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    out = _blob_outline(rng)
    if rng.random() < 0.4:
        return [np.vstack([out, out[:1]])], [out]  # filled in
    # scrubbed: back-and-forth strokes across the blob, as when a person blacks something out
    ys = np.linspace(out[:, 1].min() + 0.03, out[:, 1].max() - 0.03, int(rng.integers(6, 10)))
    pts = []
    for i, y in enumerate(ys):
        near = out[np.abs(out[:, 1] - y) < 0.08]
        x0, x1 = (near[:, 0].min(), near[:, 0].max()) if len(near) else (-0.2, 0.2)
        pts += [(x0, y), (x1, y + 0.04)] if i % 2 == 0 else [(x1, y), (x0, y + 0.04)]
    return [np.asarray(pts)], []


def _spline(P: np.ndarray, per: int = 10) -> Stroke:
    """(n,2) control points -> a smooth curve through them (Catmull-Rom), `per` points per span."""
    Q = np.vstack([2 * P[0] - P[1], P, 2 * P[-1] - P[-2]])  # (n+2,2) with the ends extended
    t = np.linspace(0, 1, per, endpoint=False)[:, None, None]  # (per,1,1)
    p0, p1, p2, p3 = Q[:-3], Q[1:-2], Q[2:-1], Q[3:]  # (n-1,2) each
    c = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
    return np.vstack([c.transpose(1, 0, 2).reshape(-1, 2), P[-1:]])  # (per*(n-1)+1,2)


def _tangle(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    k = int(rng.integers(10, 17))  # a smooth pen path through 10-16 random points of a disc: it crosses itself
    r, a = np.sqrt(rng.random(k)) * 0.5, rng.uniform(0, 2 * math.pi, k)
    return [_spline(np.stack([r * np.cos(a) * rng.uniform(0.8, 1.3), r * np.sin(a)], 1))], []


def _crossout(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    if rng.random() < 0.5:  # a scrawled word with lines through it
        t = np.linspace(0, 1, 60)
        word = np.stack([t * rng.uniform(1.0, 1.4), rng.uniform(0.2, 0.35) * np.sin(2 * math.pi * t * rng.uniform(3, 6))
                         + rng.normal(0, 0.02, 60)], 1)
        lines = [np.array([[-0.1, y], [word[-1, 0] + 0.1, y + rng.normal(0, 0.06)]])
                 for y in rng.uniform(-0.15, 0.15, int(rng.integers(1, 4)))]
        return [word, *lines], []
    # a hatch of slanted strokes crossed by a second hatch
    k = int(rng.integers(3, 6))
    xs = np.linspace(0, 0.8, k)
    one = [np.array([[x, 0.0], [x + 0.35, 0.9]]) for x in xs]
    two = [np.array([[x + 0.35, 0.0], [x, 0.9]]) for x in xs] if rng.random() < 0.5 else [
        np.array([[-0.05, y], [1.2, y]]) for y in np.linspace(0.15, 0.75, int(rng.integers(2, 4)))]
    return one + two, []


def _spiral(rng: np.random.Generator) -> tuple[list[Stroke], list[Stroke]]:
    turns = rng.uniform(2.2, 3.2)  # fewer turns read as "6", "9" or "0"; more fill in to a disc
    t = np.linspace(0, turns * 2 * math.pi, int(30 * turns))
    r = 0.06 + 0.45 * t / t[-1]
    sign = 1 if rng.random() < 0.5 else -1
    return [np.stack([r * np.cos(sign * t), r * np.sin(sign * t) * rng.uniform(0.8, 1.2)], 1)], []


SCRIBBLES: dict[str, Callable[[np.random.Generator], tuple[list[Stroke], list[Stroke]]]] = {
    "zigzag": _zigzag, "loops": _loops, "blob": _blob, "tangle": _tangle, "crossout": _crossout, "spiral": _spiral,
}


def scribble_negative(rng: np.random.Generator, cfg: NegativeConfig = NegativeConfig()) -> tuple[np.ndarray, str]:
    """(28,28) uint8: a random pen scribble (one of SCRIBBLES), warped and slanted; and its kind."""
    kind = list(SCRIBBLES)[int(rng.integers(len(SCRIBBLES)))]
    strokes, fills = SCRIBBLES[kind](rng)
    moved = _affine([*strokes, *fills], rng, cfg, rotate=180.0 if kind in ("tangle", "blob", "spiral") else None)
    strokes, fills = moved[: len(strokes)], moved[len(strokes) :]
    return _render([_densify(st, rng, 0.05) for st in strokes], _pen(rng, cfg), fills), kind


# ---------------------------------------------------------------- dashes, lines, dots, ticks


def _line(length: float, angle: float, bow: float) -> Stroke:
    t = np.linspace(0, 1, 12)[:, None]
    a = math.radians(angle)
    d, n = np.array([math.cos(a), -math.sin(a)]), np.array([math.sin(a), math.cos(a)])
    return t * length * d + (4 * t * (1 - t)) * bow * length * n


DASHES = ("dash", "line", "dots", "tick", "dashes")


def dash_negative(rng: np.random.Generator, cfg: NegativeConfig = NegativeConfig()) -> tuple[np.ndarray, str]:
    """(28,28) uint8: one short mark: a dash, a flat long line, dots, a tick or a dashed row; and its kind."""
    kind = DASHES[int(rng.integers(len(DASHES)))]
    pen = _pen(rng, cfg)
    flat = float(np.clip(rng.normal(0, 6), -12, 12))  # degrees: a "horizontal" stroke by hand
    if kind == "dash":  # 0.2-1.2 digits long: short ones stay short
        strokes = [_line(rng.uniform(0.2, 1.2), flat, rng.normal(0, 0.04))]
    elif kind == "line":  # long and straight, flat or slanted, never steep (a steep line is a "1")
        strokes = [_line(rng.uniform(1.0, 2.0), rng.uniform(-MAX_DASH_ANGLE, MAX_DASH_ANGLE), rng.normal(0, 0.02))]
    elif kind == "dots":  # ".", "..", "...", ":" or a small cluster; a dot is a pen blob of 3-7 px
        k = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            centres = np.stack([np.arange(k) * rng.uniform(0.12, 0.3), rng.normal(0, 0.02, k)], 1)
        else:
            centres = rng.uniform(0, 0.3, (k, 2))
        size = rng.uniform(0.0, 0.06)
        strokes = [c + size * np.array([[0, 0], [1, 0.3], [0.5, 1]]) if size > 0.02 else c[None] for c in centres]
    elif kind == "tick":  # 0.1-0.4 digits: a flick, a comma, a check mark (a steep tick framed is a "1")
        if rng.random() < 0.5:
            angle = rng.uniform(-MAX_DASH_ANGLE, MAX_DASH_ANGLE)
            strokes = [_line(rng.uniform(0.1, 0.4), angle, rng.normal(0, 0.15))]
        else:
            short = _line(rng.uniform(0.08, 0.18), -rng.uniform(30, 60), 0.0)
            strokes = [np.vstack([short, short[-1] + _line(rng.uniform(0.2, 0.4), rng.uniform(35, 55), 0.0)[1:]])]
    else:  # "- -", "- - -" or "=": dashes in a row or stacked
        k = int(rng.integers(2, 4))
        length, gap = rng.uniform(0.15, 0.4), rng.uniform(0.08, 0.2)
        if rng.random() < 0.6:
            strokes = [_line(length, flat, 0.0) + [i * (length + gap), 0.0] for i in range(k)]
        else:
            strokes = [_line(length, flat + rng.normal(0, 3), 0.0) + [rng.normal(0, 0.03), i * gap] for i in range(2)]
    return _render(strokes, pen), kind


# ---------------------------------------------------------------- fonts


@dataclass(frozen=True)
class _Glyph:
    image: np.ndarray  # (h,w) uint8 coverage with a margin for dilation
    cap: float  # cap height of the font in pixels (the "digit height" of printed text)
    stroke: float  # mean stroke width in pixels
    max_erode: int  # px per side it can be thinned by without losing a stroke


def _stroke_width(m: np.ndarray) -> float:
    """Mean stroke width of a bool shape: 2 * area / boundary length."""
    edges = np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1])
    return 2 * np.count_nonzero(m) / max(edges, 1)


def _morph(img: Image.Image, k: int) -> Image.Image:
    """k > 0: dilate k times with a 3x3 square; k < 0: erode -k times."""
    f = ImageFilter.MaxFilter(3) if k > 0 else ImageFilter.MinFilter(3)
    for _ in range(abs(k)):
        img = img.filter(f)
    return img


def _grow(img: np.ndarray, delta: float) -> np.ndarray:
    """(h,w) uint8 coverage with every edge moved outwards by `delta` px (inwards if negative), corners rounded.

    Blur with sigma, then cut at the level a blurred straight edge has `delta` px outside it: Phi(-delta / sigma).
    """
    if abs(delta) < 0.2:
        return img
    sigma = float(max(1.0, abs(delta) / 1.5))
    b = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float64) / 255.0
    z = delta / sigma
    level = 0.5 * (1 + math.erf(-z / math.sqrt(2)))
    slope = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / sigma  # coverage change per px at the new edge
    return np.rint(np.clip((b - level) / slope + 0.5, 0, 1) * 255).astype(np.uint8)  # a 1 px anti-aliased edge


_MARGIN = 8  # px of empty border around a glyph, room to thicken it


def _draw_char(path: str, ch: str, margin: int) -> np.ndarray:
    """(h,w) uint8: one character of a TTF file at GLYPH_PX, anti-aliased, with `margin` px of border."""
    font = ImageFont.truetype(path, GLYPH_PX)
    left, top, right, bottom = font.getbbox(ch)
    img = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin))
    ImageDraw.Draw(img).text((margin - left, margin - top), ch, font=font, fill=255)
    return np.asarray(img)


@functools.lru_cache(maxsize=64)
def _font_facts(path: str) -> tuple[np.ndarray, float]:
    """What a font draws for a character it lacks (its "missing" box), and its cap height in pixels."""
    return _draw_char(path, "\U0010fffd", _MARGIN), float(_draw_char(path, "H", 0).shape[0])  # a private-use point


@functools.lru_cache(maxsize=4096)
def _glyph(path: str, ch: str) -> _Glyph | None:
    """The character drawn by one font file, or None if the font lacks it (it would draw a box: a "0")."""
    img = _draw_char(path, ch, _MARGIN)
    missing, cap = _font_facts(path)
    if img.max() < 128 or (img.shape == missing.shape and np.array_equal(img, missing)):
        return None
    ink = img > 127
    max_erode = 0
    for k in (1, 2, 3):  # an erosion is safe if opening (erode, then dilate back) loses almost no ink
        opened = np.asarray(_morph(_morph(Image.fromarray(img), -k), k)) > 127
        if np.count_nonzero(ink & ~opened) > 0.04 * np.count_nonzero(ink):
            break
        max_erode = k
    return _Glyph(img, cap, _stroke_width(ink), max_erode)


def _present(paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in paths if os.path.isfile(p))


def font_negative(family: str, rng: np.random.Generator, cfg: NegativeConfig = NegativeConfig()) -> (
        tuple[np.ndarray, str]):
    """(28,28) uint8: a character of FONT_CHARS from one of the family's fonts, made to look pen-written; and it."""
    paths = _present(FONT_FILES.get(family, ()))
    if not paths:
        raise UserError(f"no font files of {family!r} are installed")
    path = paths[int(rng.integers(len(paths)))]
    for _ in range(10):
        ch = FONT_CHARS[int(rng.integers(len(FONT_CHARS)))]
        g = _glyph(path, ch)
        if g is not None:
            break
    else:
        raise UserError(f"{path} draws none of the characters asked for")
    ys, xs = np.nonzero(g.image > 127)
    length = max(np.ptp(ys), np.ptp(xs)) + 1
    scale = 20 / max(length, SMALL_MARK * g.cap)  # output px per glyph px, about (the turn below changes it)
    # px per side that bring the printed stroke to a pen's; 0.8: a drawn line's 2 * area / edge reads 0.8 of its pen
    delta = (0.8 * _pen(rng, cfg) / scale - g.stroke) / 2
    img = Image.fromarray(_grow(g.image, min(max(delta, -g.max_erode), 6.0)))
    t = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    A = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    A = A @ np.array([[1.0, rng.uniform(-cfg.shear, cfg.shear)], [0.0, 1.0]])
    A = A @ np.diag(1 + rng.uniform(-1, 1, 2) * cfg.stretch)  # (2,2) glyph -> canvas, x right, y down
    w, h = img.size
    corners = (np.array([[0, 0], [w, 0], [0, h], [w, h]]) - [w / 2, h / 2]) @ A.T  # (4,2)
    W, H = (np.ceil(2 * np.abs(corners).max(0)) + 2).astype(int)
    Ai = np.linalg.inv(A)
    off = np.array([w / 2, h / 2]) - Ai @ [W / 2, H / 2]
    img = img.transform((int(W), int(H)), Image.Transform.AFFINE, (*Ai[0], off[0], *Ai[1], off[1]),
                        resample=Image.Resampling.BILINEAR)
    size = math.sqrt(abs(np.linalg.det(A)))
    return to_mnist_frame(np.asarray(img) / 255.0, min_span=SMALL_MARK * g.cap * size), ch


# ---------------------------------------------------------------- fragments of real digits


def _has_loop(ink: np.ndarray, min_hole: int = 3) -> bool:
    """Whether a bool shape encloses a hole of `min_hole`+ pixels (a closed loop reads as a "0")."""
    lab = _components(np.pad(~ink, 1, constant_values=True), corners=False)  # background; the padding joins the outside
    return np.count_nonzero((lab != 0) & (lab != lab[0, 0])) >= min_hole


def _is_upright_stroke(a: np.ndarray) -> bool:
    """Whether ink is one long mark steeper than MAX_DASH_ANGLE from horizontal (it would read as a "1")."""
    w = np.where(a > 0.2, a, 0.0)  # (28,28) weights
    m = w.sum()
    if m == 0:
        return False
    cx, cy = (w * _XX).sum() / m, (w * _YY).sum() / m
    sxx, syy = (w * (_XX - cx) ** 2).sum() / m, (w * (_YY - cy) ** 2).sum() / m  # second moments of the ink
    sxy = (w * (_XX - cx) * (_YY - cy)).sum() / m
    half, mid = math.hypot((sxx - syy) / 2, sxy), (sxx + syy) / 2
    major, minor = mid + half, mid - half  # variances along and across the ink's main axis
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)  # of the main axis, from horizontal
    return abs(math.sin(angle)) > math.sin(math.radians(MAX_DASH_ANGLE)) and major > 4 * max(minor, 1e-9)  # 2:1+


def _components(mask: np.ndarray, corners: bool = True) -> np.ndarray:
    """(h,w) bool -> (h,w) int labels of connected components (0 = background), through corners or edges only."""
    h, w = mask.shape
    big = h * w + 1
    steps = [(dy, dx) for dy in range(3) for dx in range(3) if corners or dy == 1 or dx == 1]
    lab = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), big)
    while True:  # every pixel takes its smallest neighbour's label, then jumps to that label's own label
        p = np.full((h + 2, w + 2), big)
        p[1:-1, 1:-1] = lab
        low = p[1 : h + 1, 1 : w + 1].copy()
        for dy, dx in steps:
            np.minimum(low, p[dy : dy + h, dx : dx + w], out=low)
        new = np.where(mask, low, big)
        for _ in range(2):  # pointer jumping: labels chase their own labels, so few sweeps are needed
            new = np.where(mask, np.concatenate(([0], new.ravel(), [big]))[new], big)
        if np.array_equal(new, lab):
            return np.where(mask, lab, 0)
        lab = new


def _drop_specks(piece: np.ndarray, min_part: float = 0.2) -> tuple[np.ndarray, list[np.ndarray]]:
    """Ink without components lighter than min_part of the heaviest (the crumbs a cut leaves); the kept ones' masks."""
    lab = _components(piece > 0.25)
    mass = np.bincount(lab.ravel(), weights=piece.ravel())  # mass[0]: faint ink outside any component
    mass[0] = 0
    good = mass >= min_part * mass.max()
    good[0] = False
    kept = good[lab]
    halo = np.pad(kept, 1)  # keep the faint anti-aliased edge around kept ink
    halo = np.max([halo[dy : dy + piece.shape[0], dx : dx + piece.shape[1]] for dy in range(3) for dx in range(3)],
                  axis=0)
    return piece * halo, [lab == k for k in np.flatnonzero(good)]


def digit_bank(train_images: np.ndarray, size: int = 10_000) -> np.ndarray:
    """(B,196) float32: up to `size` evenly spaced training digits as `fragment` compares them (see `_unit`)."""
    step = max(1, len(train_images) // size)
    return _unit(train_images[::step][:size])


def _unit(images: np.ndarray) -> np.ndarray:
    """(N,28,28) -> (N,196): 2x2-pooled, mean removed, unit length (pooling forgives a pixel of shift; 4x faster)."""
    x = images.astype(np.float32).reshape(len(images), 14, 2, 14, 2).mean((2, 4)).reshape(len(images), -1)
    x = x - x.mean(1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


FRAGMENT_CUTS = ("half", "end", "erase")
_YY, _XX = np.mgrid[0:28, 0:28].astype(np.float64)


def fragment(digit: np.ndarray, rng: np.random.Generator, label: int | None = None,
             cfg: NegativeConfig = NegativeConfig(), bank: np.ndarray | None = None) -> (
        tuple[np.ndarray, float, str] | None):
    """A piece of an MNIST digit, re-framed: (28,28) uint8, the fraction of the digit's ink kept, the cut.

    Cuts: "half" (the ink on one side of a line near the centre of mass), "end" (the ink near one end of
    the digit), "erase" (a wide band rubbed out); crumbs the cut leaves are dropped. None when the piece
    could still be read as a digit:
      - the digit is a "1" (any piece of it is still a "1") or an erased "0" (its arcs still outline it);
      - the piece keeps more than cfg.max_kept of the digit's ink (or less than cfg.min_kept);
      - it falls into more than two parts, or holds a closed loop (a "0");
      - it, or one of its two parts, is a long mark steeper than MAX_DASH_ANGLE (a "1", "11", a broken "0");
      - given a `digit_bank`: it is closer than cfg.max_similarity (cosine) to a real digit (the top of a
        "9" that now looks like a "7").
    """
    if label == 1:
        return None
    d = digit.astype(np.float64) / 255.0  # (28,28)
    total = d.sum()
    if total == 0:
        return None
    yy, xx = _YY, _XX  # (28,28) pixel rows, columns
    cy, cx = (d * yy).sum() / total, (d * xx).sum() / total
    cut = FRAGMENT_CUTS[int(rng.integers(len(FRAGMENT_CUTS)))]
    if cut == "half":  # right/bottom/left/top half kept, the cut tilted a little (side halves are often a "1",
        # top halves a "7"-like hook)
        a = math.radians(90 * int(rng.choice(4, p=[0.15, 0.5, 0.15, 0.2])) + rng.uniform(-20, 20))
        along = (xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)
        keep = np.clip(along - rng.normal(2.0, 1.5) + 0.5, 0, 1)
    elif cut == "end":  # one stroke's end segment
        u = rng.normal(0, 1, 2)
        ys, xs = np.nonzero(d > 0.5)
        i = int(np.argmax(xs * u[0] + ys * u[1]))
        keep = np.clip(rng.uniform(6.0, 10.0) - np.hypot(yy - ys[i], xx - xs[i]) + 0.5, 0, 1)
    else:  # a large part rubbed out: a band across the middle, roughly level (an upright one leaves two "1"s)
        if label == 0:  # the two arcs left of a "0" still outline it
            return None
        a = math.radians(rng.uniform(-40, 40))
        across = (xx - cx) * math.sin(a) - (yy - cy) * math.cos(a) - rng.normal(0, 2)
        keep = 1 - np.clip(rng.uniform(4.5, 7.0) - np.abs(across) + 0.5, 0, 1)
    piece = d * keep
    if piece.sum() < cfg.min_kept * total or _is_upright_stroke(piece):  # cheap tests first
        return None
    piece, parts = _drop_specks(piece)
    kept = float(piece.sum() / total)
    if not cfg.min_kept <= kept <= cfg.max_kept or len(parts) > 2:
        return None
    if _is_upright_stroke(piece) or any(_is_upright_stroke(piece * p) for p in parts if len(parts) > 1):
        return None
    out = to_mnist_frame(piece, min_span=FRAGMENT_SPAN)
    if _has_loop(out > 80, min_hole=2):  # re-framing can close a gap
        return None
    if bank is not None and float(np.einsum("ij,j->i", bank, _unit(out[None])[0]).max()) > cfg.max_similarity:
        return None
    return out, kept, cut


def fragment_negatives(n: int, train_images: np.ndarray, rng: np.random.Generator,
                       train_labels: np.ndarray | None = None, cfg: NegativeConfig = NegativeConfig(),
                       bank: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """(n,28,28) uint8 pieces of random training digits that pass `fragment`'s rules; and their cuts.

    Candidates are drawn in rounds and compared with `bank` (default: `digit_bank(train_images)`) together,
    which is much faster than one by one.
    """
    bank = digit_bank(train_images) if bank is None else bank
    images, cuts, idle = [], [], 0
    while len(images) < n:
        got = []
        for _ in range(max(16, 3 * (n - len(images)))):
            i = int(rng.integers(len(train_images)))
            g = fragment(train_images[i], rng, None if train_labels is None else int(train_labels[i]), cfg)
            if g is not None:
                got.append(g)
        if got:
            near = (_unit(np.stack([g[0] for g in got])) @ bank.T).max(1)  # (k,) closest real digit
            got = [g for g, sim in zip(got, near, strict=True) if sim <= cfg.max_similarity]
        images += [g[0] for g in got]
        cuts += [g[2] for g in got]
        idle = 0 if got else idle + 1
        if idle == 20:
            raise UserError("no usable fragments in 20 rounds: are these MNIST digits?")
    return np.array(images[:n], dtype=np.uint8).reshape(n, 28, 28), cuts[:n]


# ---------------------------------------------------------------- the mix


def available_sources(fragments: bool = True) -> tuple[str, ...]:
    """The SOURCES that can be drawn here: font families with a file installed, and fragment if asked."""
    return tuple(s for s in SOURCES if (s != "fragment" or fragments)
                 and (not s.startswith("font:") or _present(FONT_FILES.get(s[5:], ()))))


def negative(source: str, rng: np.random.Generator, train_images: np.ndarray | None = None,
             train_labels: np.ndarray | None = None, cfg: NegativeConfig = NegativeConfig()) -> np.ndarray:
    """One (28,28) uint8 negative from the named source (for many fragments, `fragment_negatives` is faster)."""
    if source.startswith("font:"):
        return font_negative(source[5:], rng, cfg)[0]
    if source == "strokes":
        return stroke_negative(rng, cfg)[0]
    if source == "scribble":
        return scribble_negative(rng, cfg)[0]
    if source == "dash":
        return dash_negative(rng, cfg)[0]
    if source == "fragment":
        if train_images is None:
            raise UserError("the fragment source needs train_images")
        return fragment_negatives(1, train_images, rng, train_labels, cfg)[0][0]
    raise UserError(f"unknown negative source {source!r}; known: {', '.join(SOURCES)}")


def negatives(n: int, rng: np.random.Generator, sources: Sequence[str] = SOURCES,
              train_images: np.ndarray | None = None, train_labels: np.ndarray | None = None,
              cfg: NegativeConfig = NegativeConfig()) -> tuple[np.ndarray, np.ndarray]:
    """`n` negatives mixed over `sources` by GROUP_WEIGHTS: (n,28,28) uint8 images, (n,) str source names.

    Sources not available here are skipped (font families not installed; fragment without train_images).
    Pass train_labels with train_images so that no piece of a "1" is used.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise UserError(f"unknown negative sources {unknown}; known: {', '.join(SOURCES)}")
    have = set(available_sources(fragments=train_images is not None))
    use = [s for s in dict.fromkeys(sources) if s in have]
    if not use:
        raise UserError(f"none of the negative sources {list(sources)} is available here")
    group = [s.split(":")[0] for s in use]
    p = np.array([GROUP_WEIGHTS[g] / group.count(g) for g in group])  # a group's weight is shared by its sources
    picks = rng.choice(len(use), size=n, p=p / p.sum())  # (n,)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(picks):
        if use[k] != "fragment":
            images[i] = negative(use[k], rng, train_images, train_labels, cfg)
    frag = np.flatnonzero(np.array([use[k] == "fragment" for k in picks], dtype=bool))
    if frag.size:  # all at once, after the others
        images[frag] = fragment_negatives(frag.size, train_images, rng, train_labels, cfg)[0]
    return images, np.array([use[k] for k in picks], dtype=str)
