"""A seeded, code-generated camera-like test set: real MNIST test digits as dark ink on paper.

Each image is rendered, never stored: an MNIST test digit's skeleton traced with a pen (thin 1.5-2.8 px,
medium 2.8-5 px or thick 5-9 px wide in a 140 px box; areas the writer filled in stay filled; black,
blue or pencil-grey ink), 40-70 % of the box tall, shifted up
to 8 % and rolled up to 8 degrees, kept 6 % inside the box (a user holds the digit in the box), on
tinted paper; 40 % carry faint blue ruled lines (tilt up to 3 degrees), 40 % a shadow (20-55 % darker,
penumbra about 8-50 px); then a lighting falloff, exposure 0.7-1.08, blur sigma up to 1.4 px, sensor
noise sigma 1-7 gray levels and, for 80 %, JPEG quality 35-95. Negatives (blank paper, a shadow alone,
ruled lines alone) use the same renderer without a digit. Same seed, same images (JPEG through Pillow).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from core.errors import UserError

BOX = 140  # side of a rendered box image (the seed's target box)
MARGIN = 0.06  # the digit's ink stays this fraction of the box side away from the box edges
NEGATIVE_KINDS = ("blank", "shadow", "ruled", "edge")
PENS = ("thin", "medium", "thick")
PEN_WIDTHS = {"thin": (1.5, 2.8), "medium": (2.8, 5.0), "thick": (5.0, 9.0)}  # px in a 140 px box
INKS = {"black": (28, 28, 34), "blue": (30, 42, 120), "pencil": (80, 80, 86), "red": (150, 30, 36),
        "green": (30, 100, 50)}  # RGB of full-strength ink
DESKS = ((120, 84, 52), (60, 60, 64), (200, 200, 204), (160, 150, 130))  # wood, dark, white, linen
RULES = {"blue": (150, 188, 228), "grey": (160, 160, 165), "red": (215, 110, 110)}  # RGB of printed lines


@dataclass(frozen=True)
class Style:
    """How one sample is rendered; `Style.random` draws a camera-like one."""

    pen: str = "medium"  # "thin", "medium" or "thick": the kind of pen, for break-downs
    pen_width: float = 4.0  # stroke width in pixels of a 140 px box (scaled with the box)
    ink: str = "black"  # a key of INKS
    digit_size: float = 0.55  # digit height as a fraction of the box side
    shift: tuple[float, float] = (0.0, 0.0)  # digit centre offset (x, y), fraction of the box side
    angle: float = 0.0  # digit rotation in degrees (camera roll)
    ruled: bool = False  # ruled notebook lines
    rule_gap: float = 0.3  # distance between ruled lines, fraction of the box side
    rule_phase: float = 0.5  # position of the first line within one gap, 0..1
    rule_angle: float = 0.0  # tilt of the ruled lines, degrees
    rule_color: str = "blue"  # a key of RULES
    rule_strength: float = 0.7  # how dark the printed lines are, 0..1
    grid: bool = False  # squared paper: vertical lines too, at the same gap
    margin: float | None = None  # a red margin line (ruled paper), at this x offset from the box centre (fraction)
    edge: float | None = None  # the page ends this far from the box centre (fraction of the side), a desk beyond
    edge_angle: float = 0.0  # direction from the centre to the page's edge, degrees
    desk: tuple[int, int, int] = (120, 84, 52)  # RGB of the desk beyond the page's edge
    fit: bool = True  # keep the digit MARGIN inside the box (False: a digit held close may cross its edges)
    box_centre: tuple[float, float] = (0.5, 0.5)  # where the box sits in the frame, fractions of width/height
    shadow: float = 0.0  # darkening inside the shadow, 0 (none) .. 1 (black)
    shadow_angle: float = 0.0  # direction of the shadow's edge, degrees
    shadow_pos: float = 0.0  # signed distance of the shadow edge from the box centre, fraction of the side
    shadow_soft: float = 0.2  # width of the shadow's penumbra, fraction of the box side
    gradient: float = 0.2  # lighting falloff across the frame (0: even light)
    gradient_angle: float = 0.0  # direction of the falloff, degrees
    paper: tuple[int, int, int] = (236, 234, 226)  # RGB of lit paper
    exposure: float = 1.0  # overall brightness factor
    blur: float = 0.6  # Gaussian blur sigma in box pixels (focus, motion)
    noise: float = 3.0  # sensor noise sigma in gray levels
    jpeg: int | None = 80  # JPEG quality, or None for no compression

    @staticmethod
    def random(rng: np.random.Generator) -> Style:
        """A random camera-like style (the distribution of the test set)."""
        pen = str(rng.choice(PENS, p=[0.35, 0.4, 0.25]))
        ruled = bool(rng.random() < 0.45)
        return Style(
            pen=pen,
            pen_width=float(rng.uniform(*PEN_WIDTHS[pen])),
            ink=str(rng.choice(list(INKS), p=[0.42, 0.3, 0.12, 0.08, 0.08])),
            digit_size=float(rng.uniform(0.4, 0.7)),
            shift=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08))),
            angle=float(rng.uniform(-8, 8)),
            ruled=ruled,
            rule_gap=float(rng.uniform(0.18, 0.4)),
            rule_phase=float(rng.random()),
            rule_angle=float(rng.uniform(-5, 5)),
            rule_color=str(rng.choice(list(RULES), p=[0.6, 0.3, 0.1])),
            rule_strength=float(rng.uniform(0.35, 0.95)),
            grid=ruled and bool(rng.random() < 0.3),
            margin=float(rng.uniform(-0.5, 0.5)) if ruled and rng.random() < 0.3 else None,
            edge=float(rng.uniform(0.42, 0.7)) if rng.random() < 0.1 else None,  # clear of the digit
            edge_angle=float(rng.uniform(0, 360)),
            desk=tuple(int(v) for v in DESKS[rng.integers(len(DESKS))] + rng.integers(-12, 13, 3)),
            shadow=float(rng.uniform(0.2, 0.6)) if rng.random() < 0.4 else 0.0,
            shadow_angle=float(rng.uniform(0, 360)),
            shadow_pos=float(rng.uniform(-0.4, 0.4)),
            shadow_soft=float(rng.uniform(0.01, 0.5)),
            gradient=float(rng.uniform(0.0, 0.45)),
            gradient_angle=float(rng.uniform(0, 360)),
            paper=tuple(int(v) for v in rng.integers(-14, 15, 3) + np.array([234, 231, 222])),
            exposure=float(rng.uniform(0.7, 1.08)),
            blur=float(rng.uniform(0.0, 1.4)),
            noise=float(rng.uniform(1.0, 7.0)),
            jpeg=int(rng.integers(35, 95)) if rng.random() < 0.8 else None,
        )


# ---------------------------------------------------------------- small image helpers (generator only)


def _gauss_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H,W[,C]) float array (edges replicated)."""
    if sigma <= 0.05:
        return a
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r, r)
        p = np.pad(a, pad, mode="edge")
        n = a.shape[axis]
        out = k[0] * (p[0:n] if axis == 0 else p[:, 0:n])
        for i in range(1, 2 * r + 1):
            out += k[i] * (p[i : i + n] if axis == 0 else p[:, i : i + n])
        a = out
    return a


def _bilinear(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample a (h,w) image at real pixel-centre coordinates (zero outside)."""
    h, w = img.shape
    p = np.pad(img, 1)
    ys, xs = np.clip(ys + 1, 0, h + 0.999), np.clip(xs + 1, 0, w + 0.999)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    y1, x1 = np.minimum(y0 + 1, h + 1), np.minimum(x0 + 1, w + 1)
    return (1 - fy) * ((1 - fx) * p[y0, x0] + fx * p[y0, x1]) + fy * ((1 - fx) * p[y1, x0] + fx * p[y1, x1])


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a (h,w) bool shape to its 1-pixel-wide skeleton (the pen's path)."""
    m = np.pad(mask, 1).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = [m[1:-1, 1:-1], m[:-2, 1:-1], m[:-2, 2:], m[1:-1, 2:], m[2:, 2:], m[2:, 1:-1], m[2:, :-2],
                 m[1:-1, :-2], m[:-2, :-2]]  # P1 (centre), then P2..P9 clockwise from north
            n = sum(q.astype(int) for q in p[1:])
            ring = p[1:] + [p[1]]
            a = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(int) for i in range(8))
            if step == 0:
                c = (p[1] * p[3] * p[5] == 0) & (p[3] * p[5] * p[7] == 0)
            else:
                c = (p[1] * p[3] * p[7] == 0) & (p[1] * p[5] * p[7] == 0)
            kill = (p[0] == 1) & (n >= 2) & (n <= 6) & (a == 1) & c
            if kill.any():
                m[1:-1, 1:-1][kill] = 0
                changed = True
        if not changed:
            return m[1:-1, 1:-1].astype(bool)


def _pen_alpha(digit: np.ndarray, style: Style, h: int, w: int, box: tuple[int, int, int]) -> np.ndarray:
    """(28,28) uint8 MNIST digit -> (h,w) ink coverage in [0,1]: its skeleton drawn with the style's pen
    (plus any area the writer filled in, which a skeleton would turn into a line)."""
    bx, by, b = box
    full = np.zeros((h, w))
    d = _gauss_blur(np.pad(digit.astype(np.float64) / 255.0, 4), 0.5)  # (36,36)
    blobs = _gauss_blur(np.pad(digit.astype(np.float64) / 255.0, 4), 1.3)  # only wide ink stays near 1
    scale = style.digit_size * b / 20.0  # box pixels per MNIST pixel (MNIST digits are 20 px tall)
    cx, cy = b / 2 + style.shift[0] * b, b / 2 + style.shift[1] * b  # in box coordinates
    t = math.radians(style.angle)
    yy, xx = np.mgrid[0:b, 0:b].astype(np.float64) + 0.5  # only the box is drawn in
    u, v = (xx - cx) / scale, (yy - cy) / scale  # box -> digit coordinates (rotated)
    du, dv = math.cos(t) * u + math.sin(t) * v, -math.sin(t) * u + math.cos(t) * v
    shape = _bilinear(d, dv + 18 - 0.5, du + 18 - 0.5) > 0.4  # MNIST centre of mass sits near (14,14)
    blob = _bilinear(blobs, dv + 18 - 0.5, du + 18 - 0.5)  # areas the writer filled in, not mere strokes
    full[by : by + b, bx : bx + b] = np.clip((blob - 0.8) * 8 * scale + 0.5, 0, 1)
    sy, sx = np.nonzero(_thin(shape))
    if sy.size == 0:
        return full
    width = style.pen_width * b / BOX
    reach = width / 2 + 1
    y0, y1 = max(int(sy.min() - reach), 0), min(int(sy.max() + reach) + 1, b)
    x0, x1 = max(int(sx.min() - reach), 0), min(int(sx.max() + reach) + 1, b)
    py, px = np.mgrid[y0:y1, x0:x1]
    dist = np.full(py.shape, np.inf)
    for i in range(0, sy.size, 64):  # distance to the nearest skeleton pixel, in chunks
        dy = py[..., None] - sy[None, None, i : i + 64]
        dx = px[..., None] - sx[None, None, i : i + 64]
        dist = np.minimum(dist, np.sqrt(dy * dy + dx * dx).min(axis=-1))
    pen = np.clip(width / 2 + 0.5 - dist, 0, 1)
    full[by + y0 : by + y1, bx + x0 : bx + x1] = np.maximum(full[by + y0 : by + y1, bx + x0 : bx + x1], pen)
    return full


def _fit_in_box(digit: np.ndarray, style: Style, h: int, w: int, box: tuple[int, int, int]) -> np.ndarray:
    """The pen coverage, with the digit moved (and if need be shrunk) to stay MARGIN inside the box."""
    bx, by, b = box
    lo, hi = MARGIN * b, (1 - MARGIN) * b
    for _ in range(4):
        alpha = _pen_alpha(digit, style, h, w, box)
        ys, xs = np.nonzero(alpha[by : by + b, bx : bx + b] > 0.05)
        if ys.size == 0:
            return alpha
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        span = max(y1 - y0, x1 - x0)
        if span > hi - lo:  # too big for the box: shrink, then re-centre on the next pass
            style = replace(style, digit_size=style.digit_size * (hi - lo) / span * 0.98)
            continue
        dx = (lo - x0 if x0 < lo else 0) + (hi - x1 if x1 > hi else 0)
        dy = (lo - y0 if y0 < lo else 0) + (hi - y1 if y1 > hi else 0)
        if dx == 0 and dy == 0:
            return alpha
        style = replace(style, shift=(style.shift[0] + dx / b, style.shift[1] + dy / b))
    return alpha


def render(
    digit: np.ndarray | None,
    style: Style,
    rng: np.random.Generator,
    height: int = BOX,
    width: int = BOX,
    box: int = BOX,
) -> np.ndarray:
    """Render a (height,width,3) uint8 RGB photo of paper with `digit` (or none) inside the centred box."""
    if digit is not None and (digit.shape != (28, 28) or digit.dtype != np.uint8):
        raise UserError("digit: expected a (28,28) uint8 MNIST image")
    b = min(box, height, width)
    bx = min(max(int(round(style.box_centre[0] * width - b / 2)), 0), width - b)
    by = min(max(int(round(style.box_centre[1] * height - b / 2)), 0), height - b)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    cx, cy = width / 2, height / 2
    paper = np.array(style.paper, dtype=np.float64) / 255.0
    img = np.broadcast_to(paper, (height, width, 3)) * (1 + 0.015 * _gauss_blur(rng.standard_normal((height, width)),
                                                                                 1.2))[..., None]
    if style.ruled:
        t = math.radians(style.rule_angle)
        gap = style.rule_gap * b
        width_px = (0.5 + 0.9 * rng.random()) * max(b / BOX, 1) ** 0.5  # printed rules are thin
        line = np.zeros((height, width))
        for d in [-math.sin(t) * (xx - cx) + math.cos(t) * (yy - cy)] + (  # distance along the page's vertical
                [math.cos(t) * (xx - cx) + math.sin(t) * (yy - cy)] if style.grid else []):  # ... and horizontal
            dist = np.abs((d / gap - style.rule_phase + 0.5) % 1.0 - 0.5) * gap  # to the nearest line
            line = np.maximum(line, np.clip(width_px / 2 + 0.5 - dist, 0, 1) * style.rule_strength)
        rule_rgb = (np.array(RULES[style.rule_color]) + rng.uniform(-15, 15, 3)) / 255.0
        img = img * (1 - line[..., None]) + img * np.clip(rule_rgb / paper, 0, 1) * line[..., None]
    if style.margin is not None:  # a red margin line, across the page's lines
        t = math.radians(style.rule_angle)
        dist = np.abs(math.cos(t) * (xx - cx) + math.sin(t) * (yy - cy) - style.margin * b)
        line = np.clip(1.0 + 0.5 - dist, 0, 1) * style.rule_strength
        red = (np.array(RULES["red"]) + rng.uniform(-15, 15, 3)) / 255.0
        img = img * (1 - line[..., None]) + img * np.clip(red / paper, 0, 1) * line[..., None]
    if digit is not None:
        alpha = (_fit_in_box(digit, style, height, width, (bx, by, b)) if style.fit
                 else _pen_alpha(digit, style, height, width, (bx, by, b)))[..., None]
        ink = np.array(INKS[style.ink], dtype=np.float64) / 255.0 + rng.uniform(-0.03, 0.03, 3)
        light = style.ink == "pencil"  # pencil marks are lighter than pen
        strength = (0.45 + 0.4 * rng.random()) if light else 0.85 + 0.15 * rng.random()
        img = img * (1 - alpha * strength) + np.clip(ink, 0, 1) * alpha * strength
    if style.edge is not None:  # the page ends: a textured desk beyond a slightly soft edge
        ea = math.radians(style.edge_angle)
        beyond = ((xx - cx) * math.cos(ea) + (yy - cy) * math.sin(ea)) / b - style.edge
        off = np.clip(beyond * b / 1.5 + 0.5, 0, 1)[..., None]
        grain = 1 + 0.08 * _gauss_blur(rng.standard_normal((height, width)), 2.0)[..., None]
        img = img * (1 - off) + np.array(style.desk) / 255.0 * grain * off
    # lighting: falloff across the frame, a soft shadow, exposure (scales of the box side)
    ga = math.radians(style.gradient_angle)
    ramp = ((xx - cx) * math.cos(ga) + (yy - cy) * math.sin(ga)) / b  # about -0.5..0.5 over the box
    light = np.clip(1 - style.gradient * (ramp + 0.5), 0.2, 1.2)
    if style.shadow > 0:
        sa = math.radians(style.shadow_angle)
        s = ((xx - cx) * math.cos(sa) + (yy - cy) * math.sin(sa)) / b - style.shadow_pos
        inside = 1 / (1 + np.exp(np.clip(-s / max(style.shadow_soft / 6, 1e-3), -60, 60)))  # logistic penumbra
        light = light * (1 - style.shadow * inside)
    img = img * (light * style.exposure)[..., None]
    img = _gauss_blur(img, style.blur)
    img = img * 255 + rng.standard_normal(img.shape) * style.noise
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if style.jpeg is not None:
        out = _jpeg(out, style.jpeg)
    return out


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im.convert("RGB")).copy()


def camera_sample(digit: np.ndarray | None, rng: np.random.Generator, style: Style | None = None,
                  size: int = BOX) -> np.ndarray:
    """A (size,size,3) uint8 RGB photo of the target box holding `digit` ((28,28) uint8 MNIST) or nothing."""
    return render(digit, style or Style.random(rng), rng, size, size, size)


def camera_frame(digit: np.ndarray | None, rng: np.random.Generator, width: int = 640, height: int = 480,
                 box: int = BOX, style: Style | None = None) -> np.ndarray:
    """A (height,width,3) uint8 RGB camera frame with `digit` inside the centred `box`-pixel target box."""
    return render(digit, style or Style.random(rng), rng, height, width, box)


def filling_sample(digit: np.ndarray, rng: np.random.Generator, size: int = BOX) -> np.ndarray:
    """A box photo of a digit held close: 85-100 % of the box tall, free to touch or cross the box's edges."""
    s = Style.random(rng)
    s = replace(s, digit_size=float(rng.uniform(0.85, 1.0)), fit=False,
                shift=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.04, 0.04))))
    return render(digit, s, rng, size, size, size)


def camera_photo(digit: np.ndarray | None, rng: np.random.Generator, width: int = 1280, height: int = 960,
                 style: Style | None = None) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """A whole (height,width,3) photo with one digit 10-40 % of the short side tall, centred anywhere in the
    middle 60 % of the frame; also its ink box (x, y, w, h), or None for `digit` None (paper alone)."""
    s = style or Style.random(rng)
    tall = rng.uniform(0.10, 0.40) * min(width, height)
    b = int(max(min(tall / s.digit_size, min(width, height)), 8))
    s = replace(s, box_centre=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))),
                rule_gap=s.rule_gap * min(1.0, 120 / b) if s.ruled else s.rule_gap)  # rules keep a page's spacing
    img = render(digit, s, rng, height, width, b)
    if digit is None:
        return img, None
    bx = min(max(int(round(s.box_centre[0] * width - b / 2)), 0), width - b)
    by = min(max(int(round(s.box_centre[1] * height - b / 2)), 0), height - b)
    return img, (bx, by, b, b)


def negative_style(kind: str, rng: np.random.Generator) -> Style:
    """A random style for a digit-free crop: "blank" paper, a "shadow" alone, "ruled" lines alone or a page's
    "edge" with the desk beyond."""
    if kind not in NEGATIVE_KINDS:
        raise UserError(f"negative kind must be one of {NEGATIVE_KINDS}, got {kind!r}")
    s = Style.random(rng)
    if kind == "blank":
        return replace(s, ruled=False, shadow=0.0)
    if kind == "shadow":
        return replace(s, ruled=False, shadow=float(rng.uniform(0.25, 0.6)), shadow_pos=float(rng.uniform(-0.3, 0.3)))
    if kind == "edge":
        return replace(s, edge=float(rng.uniform(0.05, 0.45)))
    return replace(s, ruled=True, shadow=0.0)


def samples(n: int, seed: int = 0, negatives: bool = False) -> Iterator[tuple[np.ndarray, int | None]]:
    """`n` seeded (140,140,3) uint8 box photos with their label: MNIST test digits, or negatives (label None)."""
    from core.data import load_mnist

    rng = np.random.default_rng(seed)
    if negatives:
        for i in range(n):
            kind = NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)]
            yield camera_sample(None, rng, negative_style(kind, rng)), None
        return
    mnist = load_mnist(fetch=False)
    order = rng.permutation(len(mnist.test_labels))[:n]
    for i in order:
        yield camera_sample(mnist.test_images[i], rng), int(mnist.test_labels[i])
