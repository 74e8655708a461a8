"""A second camera simulator, for evaluation only: never used to tune or train anything.

Written separately from core/camera_set.py (which the preprocessing was tuned on), with its own paper,
ink, lighting, noise and camera-geometry code, so that figures measured on its images are not flattered
by that tuning. Digits come from MNIST *test*, passed in by the caller. Every function takes a
numpy Generator or a seed; the same seed gives byte-identical images.

Conditions, drawn per image (see `Conditions`):
  paper     white, cream, grey recycled (fibres, specks), squared (4.5-5.5 mm), ruled (6-9 mm; blue or
            grey lines, sometimes a red margin); sometimes a page edge with a desk beyond it
  pen       the MNIST digit's skeleton redrawn with a round pen: fine (thin, sometimes skipping), medium,
            marker; ink black, blue ballpoint, blue gel, red, green, pencil (low contrast, grainy);
            opacity varies along the stroke; slight rotation and slant
  lighting  gradient, vignetting, uneven room light, soft hand / hard phone shadows (sometimes across
            the digit), warm/cool white balance, under/over exposure, glare spot
  camera    perspective tilt up to 8 deg, in-plane rotation up to 6 deg, defocus, motion blur,
            signal-dependent luma + chroma noise, tone curve, JPEG q40-95 or none
Digits: box_crop, filling_crop, photo, number_photo (boxes: the visible ink of each digit, in frame px).
No digit: blank (also the tricky cases: a shadow edge across the view, a page edge, lines slanted 3-8 deg),
glyph_crop (Hershey fonts), scribble_crop. Big frames stay fast: paper and light are built at <= WORK_PX
and upsampled; ink is drawn at full resolution, only around each mark. clean=True gives plain white
paper, black ink and a perfect camera (for geometry checks).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels
WORK_PX = 1400  # paper and light are rendered at most this wide, then upsampled
PAPER_TINT = {"white": (0.90, 0.90, 0.89), "cream": (0.93, 0.89, 0.77), "recycled": (0.78, 0.77, 0.73),
              "squared": (0.91, 0.91, 0.90), "ruled": (0.92, 0.92, 0.90)}
LINE_INK = {"blue": (0.42, 0.60, 0.88), "grey": (0.60, 0.60, 0.62), "red": (0.90, 0.32, 0.36)}
DESKS = ((0.50, 0.34, 0.20), (0.22, 0.22, 0.24), (0.80, 0.80, 0.82), (0.60, 0.58, 0.52))  # wood, dark, white, linen
INKS = {  # reflectance of a fully inked spot (RGB), opacity range, opacity variation along the stroke
    "black": ((0.06, 0.06, 0.08), (0.90, 0.98), 0.12),
    "blue_ballpoint": ((0.18, 0.26, 0.62), (0.70, 0.92), 0.35),
    "blue_gel": ((0.08, 0.14, 0.52), (0.90, 0.98), 0.10),
    "red": ((0.80, 0.14, 0.16), (0.80, 0.95), 0.20),
    "green": ((0.12, 0.46, 0.24), (0.80, 0.95), 0.20),
    "pencil": ((0.40, 0.40, 0.44), (0.45, 0.75), 0.30),
}
PENS = {"fine": (0.018, 0.04), "medium": (0.04, 0.08), "marker": (0.09, 0.15)}  # stroke width / mark height
SHADOW_TINT = np.array((1.0, 0.97, 0.90), np.float32)  # shade is lit by bluish skylight
FONT_NAMES = ("SCRIPT_SIMPLEX", "SCRIPT_COMPLEX", "SIMPLEX", "PLAIN", "DUPLEX", "COMPLEX", "TRIPLEX")
SINGLE_STROKE = ("SCRIPT_SIMPLEX", "SIMPLEX", "PLAIN")  # the others draw parallel strokes: given a pen >= 0.07
GLYPHS = "ACEFHKLMNPRTUVWXYacdefhkmnprtuvwxy+-=#*%@<>?~"
# Never drawn: a human could read them as a digit. 0: O o D Q; 1: I l i j J | ! / \ ( ) [ ] { };
# 2: Z z; 5: S s $; 6: b G; 8: B &; 9: g q; and the digits themselves.
EXCLUDED_GLYPHS = "0123456789OoDQIlijJ|!/\\()[]{}ZzSs$bGB&gq"
SCRIBBLES = ("scribble", "hatch", "dash", "crossout")


@dataclass(frozen=True)
class Conditions:
    """What one image was drawn with, so results can be broken down by condition; defaults: the clean state."""

    paper: str = "white"  # white | cream | recycled | squared | ruled
    lines: str = "none"  # colour of printed lines: none | blue | grey
    margin: bool = False  # red margin line on ruled paper
    page_edge: bool = False  # the sheet ends in view, a desk beyond
    ink: str = "black"  # key of INKS
    pen: str = "medium"  # fine | medium | marker
    pen_width: float = 0.06  # stroke width as a fraction of the mark's height
    shadow: str = "none"  # none | soft (hand) | hard (phone) | edge (straight edge across the view)
    glare: bool = False  # a bright reflection somewhere in view
    white_balance: float = 0.0  # -1 cool .. +1 warm
    exposure: float = 1.0  # < 0.75 under, > 1.15 over
    gradient: float = 0.0  # strength of the illumination ramp
    vignette: float = 0.0  # light lost in the corners
    tilt_x_deg: float = 0.0  # perspective tilt about the vertical axis
    tilt_y_deg: float = 0.0  # ... about the horizontal axis
    rotation_deg: float = 0.0  # in-plane rotation of the camera
    defocus_px: float = 0.0  # Gaussian sigma
    motion_px: float = 0.0  # length of the motion-blur path
    motion_deg: float = 0.0  # its direction
    noise: float = 0.0  # luma noise variance per unit signal
    gamma: float = 1.0  # tone curve exponent
    jpeg_quality: int = 0  # 0: saved without JPEG


@dataclass(frozen=True)
class Sample:
    """One evaluation image, where its digits are, and what it was drawn with."""

    image: np.ndarray  # (H,W,3) uint8 RGB
    boxes: tuple[Box, ...]  # ink box of each digit in reading order (visible part); () when there is none
    content: str  # digit | number | blank | scribble:<kind> | the glyph drawn
    conditions: Conditions

    @property
    def label_box(self) -> Box:
        return self.boxes[0]


# ---------------------------------------------------------------- small numeric helpers

def _rng(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _resize(a: np.ndarray, w: int, h: int, resample: int = Image.BILINEAR) -> np.ndarray:
    """(H,W) float -> (h,w) float32."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, np.float32), "F").resize((w, h), resample))


def _warp(a: np.ndarray, A: np.ndarray, w: int, h: int) -> np.ndarray:
    """(h,w) float32: `a` sampled at A @ (x, y, 1) for each output point (pixel i spans [i, i+1)); 0 outside."""
    coeffs = tuple((A / A[2, 2]).ravel()[:8])
    im = Image.fromarray(np.ascontiguousarray(a, np.float32), "F")
    return np.asarray(im.transform((w, h), Image.PERSPECTIVE, coeffs, Image.BILINEAR))


def _apply(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N,2) points through homography M -> (N,2)."""
    q = np.c_[pts, np.ones(len(pts))] @ M.T
    return q[:, :2] / q[:, 2:]


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], float)


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float array, edges extended."""
    if sigma < 0.3:
        return a
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    p = np.pad(a, ((r, r), (0, 0)), mode="edge")
    a = sum(k[i] * p[i : i + a.shape[0]] for i in range(2 * r + 1))
    p = np.pad(a, ((0, 0), (r, r)), mode="edge")
    return sum(k[i] * p[:, i : i + a.shape[1]] for i in range(2 * r + 1))


def _smooth(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """(h,w) smooth random field of unit variance with features about `cell` px across."""
    g = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3)).astype(np.float32)
    f = _resize(g, w, h, Image.BICUBIC)
    return (f - f.mean()) / (f.std() + 1e-6)


def _ink_size(mask: np.ndarray) -> tuple[int, int]:
    """(height, width) of the ink {mask > 0.5} in px."""
    r0, r1, c0, c1 = _bbox(mask > 0.5)
    return int(r1 - r0 + 1), int(c1 - c0 + 1)


def _bbox(m: np.ndarray) -> tuple[int, int, int, int] | None:
    """Row/column extent (r0, r1, c0, c1) of a boolean mask, inclusive; None when empty."""
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    return None if rows.size == 0 else (rows[0], rows[-1], cols[0], cols[-1])


# ---------------------------------------------------------------- marks: digits, glyphs, scribbles

def _jitter(rng: np.random.Generator, G: np.ndarray, slant: float | None = None) -> np.ndarray:
    """Rotate a few degrees and shear (slant) about the centre, as handwriting varies."""
    h, w = G.shape
    a, s = np.deg2rad(rng.uniform(-7, 7)), rng.uniform(-0.3, 0.1) if slant is None else slant
    fwd = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1, s], [0, 1]])
    inv = np.linalg.inv(fwd)  # output -> input, about the centre c
    c = np.array([w / 2, h / 2])
    t = c - inv @ c
    data = (inv[0, 0], inv[0, 1], t[0], inv[1, 0], inv[1, 1], t[1])  # input = inv @ output + t
    return np.asarray(Image.fromarray(G.astype(np.float32), "F").transform((w, h), Image.AFFINE, data, Image.BICUBIC))


def _thin(m: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: boolean mask -> one-pixel-wide skeleton."""
    m = np.pad(m, 1).astype(np.uint8)
    c = m[1:-1, 1:-1]  # a view: removals below write through to m
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            P = [m[:-2, 1:-1], m[:-2, 2:], m[1:-1, 2:], m[2:, 2:], m[2:, 1:-1], m[2:, :-2], m[1:-1, :-2], m[:-2, :-2]]
            B = sum(P)  # neighbours, N first, clockwise
            A = sum((P[i] == 0) & (P[(i + 1) % 8] == 1) for i in range(8))  # 0 -> 1 transitions around
            N, E, S, W = P[0], P[2], P[4], P[6]
            corner = (N * E * S == 0) & (E * S * W == 0) if step == 0 else (N * E * W == 0) & (N * S * W == 0)
            gone = (c == 1) & (B >= 2) & (B <= 6) & (A == 1) & corner
            changed |= bool(gone.any())
            c[gone] = 0
    return m[1:-1, 1:-1].astype(bool)


def _prune(skel: np.ndarray, n: int) -> np.ndarray:
    """Peel n pixels off every loose end, removing the short spurs thinning leaves on blobs."""
    s = np.pad(skel, 1)
    for _ in range(n):
        nb = sum(np.roll(np.roll(s, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) - s
        s = s & (nb > 1)
    return s[1:-1, 1:-1]


def _path(skel: np.ndarray, rounds: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton -> smoothed pen path: points (N,2) as x, y and the neighbour pairs (M,2) that join them."""
    ys, xs = np.nonzero(skel)
    idx = np.full((skel.shape[0] + 2, skel.shape[1] + 2), -1)
    idx[ys + 1, xs + 1] = np.arange(ys.size)
    nb = np.stack([idx[ys + 1 + dy, xs + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], 1)  # (N,8)
    ok = nb >= 0
    pts = np.c_[xs, ys] + 0.5
    for _ in range(rounds):  # Laplacian smoothing takes the pixel staircase out of the path
        pts = (pts + (pts[np.maximum(nb, 0)] * ok[..., None]).sum(1)) / (1 + ok.sum(1))[:, None]
    i, k = np.nonzero(ok & (nb > np.arange(ys.size)[:, None]))
    return pts, np.c_[i, nb[i, k]]


def _skips(rng: np.random.Generator, G: np.ndarray, stroke_px: float) -> np.ndarray:
    """A fine pen that skips: a few small gaps, a couple of stroke widths long, cut out of coverage G."""
    gaps = _smooth(rng, *G.shape, cell=max(3.0, 2.5 * stroke_px))
    return G * np.clip((gaps - rng.uniform(-2.3, -1.7)) / 0.3, 0, 1)


def _resample(G: np.ndarray, height: float) -> np.ndarray:
    """Crop coverage G to its ink {G > 0.5} and scale it so the ink is `height` px tall, edges ~1 px wide."""
    r0, r1, c0, c1 = _bbox(G > 0.5)
    crop = G[max(r0 - 3, 0) : r1 + 4, max(c0 - 3, 0) : c1 + 4]
    f = height / (r1 - r0 + 1)  # output px per field px
    up = _resize(crop, max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f)), Image.BICUBIC)
    gy, gx = np.gradient(G)
    edge = np.abs(G - 0.5) < 0.05
    slope = np.median(np.hypot(gx, gy)[edge]) / f if edge.any() else 1.0  # coverage change per output px
    return np.clip(0.5 + (up - 0.5) / min(slope, 1.0), 0, 1).astype(np.float32)  # sharpen blur, never alias


def render_digit(digit28: np.ndarray, rng: np.random.Generator | int, height: float, pen_width: float,
                 slant: float | None = None) -> np.ndarray:
    """MNIST (28,28) uint8 -> (h,w) float32 pen coverage whose ink is `height` px tall, strokes `pen_width` px."""
    rng, k = _rng(rng), 8  # k field px per MNIST px
    x = np.pad(np.asarray(digit28, np.float32) / 255, 6)  # (40,40), room to rotate
    F = _jitter(rng, _gauss(_resize(x, 40 * k, 40 * k, Image.BICUBIC), 0.3 * k), slant)  # (320,320) smooth
    skel = _thin(F > 0.45)  # the pen's path, one pixel wide; little blur, so small loops stay open
    pts, pairs = _path(_prune(skel, round(0.02 * np.ptp(np.nonzero(skel)[0]))))
    pen = max(float(pen_width), 0.8)
    f = max(height - pen, 1.0) / max(np.ptp(pts[:, 1]), 1.0)  # output px per field px
    ss = 4 if height < 300 else 2  # drawn supersampled, averaged down: anti-aliased edges
    q = (pts - pts.min(0)) * f + pen / 2 + 2  # (N,2) output px
    w, h = np.ceil(q.max(0) + pen / 2 + 2).astype(int)
    im = Image.new("L", (w * ss, h * ss), 0)
    draw, r = ImageDraw.Draw(im), pen * ss / 2
    for x0, y0 in q * ss:  # the pen's round tip at every point, and a stroke to each neighbour
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=255)
    for i, j in pairs:
        draw.line([tuple(q[i] * ss), tuple(q[j] * ss)], fill=255, width=max(1, round(2 * r)))
    mask = np.asarray(im.resize((w, h), Image.BOX), np.float32) / 255
    return _skips(rng, mask, pen) if pen / height < 0.04 and rng.random() < 0.5 else mask


def _glyph_field(char: str, font: str, ratio: float, italic: bool) -> np.ndarray:
    """A Hershey glyph drawn big by OpenCV with strokes `ratio` x the cap height: (h,w) float32 coverage."""
    import cv2  # dev/test dependency only, used for its Hershey stroke fonts

    face = getattr(cv2, "FONT_HERSHEY_" + font) | (cv2.FONT_ITALIC if italic else 0)
    scale = 8.0
    cap = cv2.getTextSize("H", face, scale, 1)[0][1]
    thick = max(1, round(ratio * cap))
    (tw, th), base = cv2.getTextSize(char, face, scale, thick)
    pad = thick + max(tw, th) // 3 + 8
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(canvas, char, (pad, pad + th), face, scale, 255, thick, cv2.LINE_AA)
    return _gauss(canvas.astype(np.float32) / 255, 1.5)  # round off the polyline's corners


def _scribble_field(rng: np.random.Generator, kind: str, ratio: float) -> np.ndarray:
    """Random pen marks that are not characters: (512,512) float32 coverage, drawn 2x and averaged down."""
    n = 1024
    im = Image.new("L", (n, n), 0)
    draw, width = ImageDraw.Draw(im), max(2, round(ratio * n * 0.45))
    c, s = n / 2, n * 0.22  # centre, half-size of the marked area
    if kind == "scribble":  # a tangle: a few summed sinusoids
        t = np.linspace(0, 1, 400)[:, None]
        f, ph, amp = rng.uniform(1.5, 6, (3, 2)), rng.uniform(0, 2 * np.pi, (3, 2)), rng.uniform(0.3, 1, (3, 2))
        xy = (amp[None] * np.sin(2 * np.pi * f[None] * t[..., None] + ph[None])).sum(1)
        xy = c + s * xy / np.abs(xy).max(0)
        draw.line([tuple(p) for p in xy], fill=255, width=width, joint="curve")
    elif kind == "hatch":  # a blob, filled or hatched
        ang = np.sort(rng.uniform(0, 2 * np.pi, 9))
        rad = s * rng.uniform(0.55, 1.0, 9)
        blob = [(c + r * np.cos(a), c + r * np.sin(a)) for a, r in zip(ang, rad, strict=True)]
        if rng.random() < 0.4:
            draw.polygon(blob, fill=255)
        else:
            lines, a, step = Image.new("L", (n, n), 0), rng.uniform(0, np.pi), rng.uniform(2.5, 5) * width
            for d in np.arange(-n, n, step):
                p = np.array([c + d * np.cos(a + np.pi / 2), c + d * np.sin(a + np.pi / 2)])
                u = np.array([np.cos(a), np.sin(a)]) * n
                ImageDraw.Draw(lines).line([tuple(p - u), tuple(p + u)], fill=255, width=width)
            hull = Image.new("L", (n, n), 0)
            ImageDraw.Draw(hull).polygon(blob, fill=255)
            im = ImageChops.multiply(lines, hull)
            ImageDraw.Draw(im).line(blob + blob[:1], fill=255, width=width, joint="curve")
    elif kind == "dash":  # one short, nearly level stroke, slightly bowed
        a, bow = np.deg2rad(rng.uniform(-12, 12)), rng.uniform(-0.08, 0.08) * s
        t = np.linspace(-1, 1, 30)
        xy = np.c_[c + s * t * np.cos(a), c + s * t * np.sin(a) + bow * (1 - t**2)]
        draw.line([tuple(p) for p in xy], fill=255, width=width, joint="curve")
    else:  # crossout: a zigzag across, sometimes struck through
        k = rng.integers(5, 11)
        xs = np.linspace(c - s, c + s, k) + rng.uniform(-0.1, 0.1, k) * s
        ys = c + np.where(np.arange(k) % 2, 1, -1) * s * rng.uniform(0.35, 0.6, k)
        draw.line(list(zip(xs, ys, strict=True)), fill=255, width=width, joint="curve")
        if rng.random() < 0.5:
            draw.line([(c - 1.1 * s, c + rng.uniform(-0.1, 0.1) * s), (c + 1.1 * s, c)], fill=255, width=width)
    return np.asarray(im.resize((n // 2, n // 2), Image.BOX), np.float32) / 255


def _fit(rng: np.random.Generator, G: np.ndarray, extent: float, ratio: float) -> np.ndarray:
    """Coverage field (level 0.5) -> mark whose larger side is `extent` px; fine pens may skip."""
    G = _jitter(rng, G)
    r0, r1, c0, c1 = _bbox(G > 0.5)
    if ratio < 0.04 and rng.random() < 0.5:
        G = _skips(rng, G, ratio * (r1 - r0 + 1))
    return _resample(G, extent * (r1 - r0 + 1) / max(r1 - r0 + 1, c1 - c0 + 1))


# ---------------------------------------------------------------- paper, light, camera

def _lines(coord: np.ndarray, spacing: float, phase: float, width: float, soft: float, colour, strength: float):
    """(n,3) reflectance of printed lines every `spacing` px along paper coordinate `coord` (n,)."""
    d = np.abs((coord - phase + spacing / 2) % spacing - spacing / 2)
    cover = np.clip(np.minimum(width / 2, d + soft / 2) - np.maximum(-width / 2, d - soft / 2), 0, None) / soft
    return (1 - strength * cover[:, None] * (1 - np.asarray(colour))).astype(np.float32)


def _fibres(rng: np.random.Generator, h: int, w: int, px_mm: float) -> np.ndarray:
    """(h,w) reflectance factor of recycled paper: short dark and light fibres and a few specks."""
    im = Image.new("L", (w, h), 128)
    draw, n = ImageDraw.Draw(im), h * w // 250
    x, y, a = rng.uniform(0, w, n), rng.uniform(0, h, n), rng.uniform(0, np.pi, n)
    length, tone = rng.uniform(0.3, 1.6, n) * px_mm, rng.choice([112, 120, 138], n)
    for i in range(n):
        draw.line([(x[i], y[i]), (x[i] + length[i] * np.cos(a[i]), y[i] + length[i] * np.sin(a[i]))], fill=int(tone[i]))
    for i in range(n // 200):
        r = rng.uniform(0.3, 1.0) * max(px_mm * 0.08, 0.6)
        draw.ellipse([x[i] - r, y[i] - r, x[i] + r, y[i] + r], fill=90)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 128


def _page_edge(rng: np.random.Generator, sheet: np.ndarray, xs: np.ndarray, ys: np.ndarray, frame: tuple[int, int],
               mm: float, soft: float, reach: float) -> np.ndarray:
    """Cut the sheet along a straight edge near one side of the view; a desk shows beyond it."""
    W, H = frame
    side, a = rng.integers(4), np.deg2rad(rng.uniform(-5, 5))
    nx, ny = ((1, 0), (-1, 0), (0, 1), (0, -1))[side]  # inward normal of that side
    nx, ny = nx * np.cos(a) - ny * np.sin(a), nx * np.sin(a) + ny * np.cos(a)
    d = rng.uniform(0.03, reach) * (W if side < 2 else H)
    ax, ay = ((d, H / 2), (W - d, H / 2), (W / 2, d), (W / 2, H - d))[side]
    D = (xs[None] - ax) * nx + (ys[:, None] - ay) * ny  # (h,w) signed distance, > 0 on the sheet
    on = np.clip(0.5 + D / soft, 0, 1)[..., None]
    h, w = D.shape
    desk = np.asarray(DESKS[rng.integers(len(DESKS))], np.float32) * (1 + 0.05 * _smooth(rng, h, w, w / 12))[..., None]
    shade = 1 - rng.uniform(0.2, 0.45) * np.exp(np.minimum(D, 0) / (rng.uniform(0.5, 3) * mm))  # the sheet's shadow
    return sheet * on + desk * shade[..., None] * (1 - on)


def _paper(rng: np.random.Generator, cond: Conditions, shape: tuple[int, int], origin: np.ndarray, s0: float,
           mm: float, frame: tuple[int, int], edge_reach: float) -> np.ndarray:
    """(h,w,3) reflectance of the sheet; pixel (i, j) shows paper point origin + ((j, i) + 0.5) / s0."""
    h, w = shape
    grain = 1 + 0.006 * _smooth(rng, h, w, 3 * mm * s0 + 2) + 0.005 * rng.standard_normal((h, w), np.float32)
    sheet = grain[..., None] * np.asarray(PAPER_TINT[cond.paper], np.float32)
    if cond.paper == "recycled":
        sheet = sheet * _fibres(rng, h, w, s0 * mm)[..., None]
    ys, xs = origin[1] + (np.arange(h) + 0.5) / s0, origin[0] + (np.arange(w) + 0.5) / s0
    soft = max(2.5 * cond.defocus_px, 1 / s0)  # printed lines blurred by optics and by the working resolution
    width = max(rng.uniform(0.15, 0.3) * mm, 0.8)
    if cond.paper == "ruled":
        step = rng.uniform(6, 9) * mm
        ruled = _lines(ys, step, rng.uniform(0, step), width, soft, LINE_INK[cond.lines], rng.uniform(0.5, 0.9))
        sheet = sheet * ruled[:, None]
        if cond.margin:
            x = rng.uniform(0.1, 0.9) * frame[0]
            sheet = sheet * _lines(xs, 1e9, x, 1.3 * width, soft, LINE_INK["red"], rng.uniform(0.6, 0.9))[None]
    if cond.paper == "squared":
        step, strength, colour = rng.uniform(4.5, 5.5) * mm, rng.uniform(0.25, 0.5), LINE_INK[cond.lines]
        width = max(0.6 * width, 0.8)  # grids are printed finer than ruling
        sheet = sheet * _lines(ys, step, rng.uniform(0, step), width, soft, colour, strength)[:, None]
        sheet = sheet * _lines(xs, step, rng.uniform(0, step), width, soft, colour, strength)[None]
    if cond.page_edge:
        sheet = _page_edge(rng, sheet, xs, ys, frame, mm, max(soft, 0.1 * mm), edge_reach)
    return sheet


def _shadow_mask(rng: np.random.Generator, kind: str, w: int, h: int) -> np.ndarray:
    """(h,w) in [0,1]: where a hand (soft), a phone (hard) or a straight edge blocks the light."""
    s = min(w, h)
    side = rng.integers(4)
    a = np.deg2rad(rng.uniform(-25, 25))
    n0 = np.array(((1, 0), (-1, 0), (0, 1), (0, -1))[side], float)
    n = np.array([n0[0] * np.cos(a) - n0[1] * np.sin(a), n0[0] * np.sin(a) + n0[1] * np.cos(a)])  # into the view
    t = np.array([-n[1], n[0]])
    across = w if side < 2 else h
    f = rng.uniform(0.15, 0.85)
    e = np.array(((0, f * h), (w, f * h), (f * w, 0), (f * w, h))[side], float)  # where it enters
    if kind == "edge":
        e = np.array([w / 2, h / 2]) + rng.uniform(-0.25, 0.25, 2) * s
        pts, blur = [e + 3 * s * t, e - 3 * s * t, e - 3 * s * t - 3 * s * n, e + 3 * s * t - 3 * s * n], 0.01
    elif kind == "hard":
        half, reach = rng.uniform(0.2, 0.6) * s, rng.uniform(0.15, 0.7) * across
        pts = [e - s * n + half * t, e + reach * n + half * t, e + reach * n - half * t, e - s * n - half * t]
        blur = 0.02
    else:
        half, reach = rng.uniform(0.25, 0.6) * s, rng.uniform(0.15, 0.7) * across
        phi = np.linspace(-np.pi / 2, np.pi / 2, 11)
        bumps = rng.uniform(0.85, 1.08, 11)  # knuckles, fingers
        pts = [e - s * n + half * t] + [e + bumps[i] * (reach * np.cos(p) * n + half * np.sin(p) * t)
                                        for i, p in enumerate(phi[::-1])] + [e - s * n - half * t]
        blur = rng.uniform(0.03, 0.1)
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).polygon([tuple(p) for p in pts], fill=255)
    sigma = blur * s * (rng.uniform(0.3, 1.5) if kind != "soft" else 1)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(sigma)), np.float32) / 255


def _light(rng: np.random.Generator, cond: Conditions, h: int, w: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(h,w,3) multiplicative light over the view, and an additive glare map (h,w) or None."""
    s = min(h, w)
    v = (np.arange(h, dtype=np.float32)[:, None] + 0.5 - h / 2) / s  # (h,1) centred, short side = 1
    u = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / s  # (w,)
    a = rng.uniform(0, 2 * np.pi)
    L = 1 + cond.gradient * (u * np.cos(a) + v * np.sin(a)) + 0.1 * cond.gradient * _smooth(rng, h, w, s / 2)
    L = L * (1 - cond.vignette * (u**2 + v**2) / (((w / s) ** 2 + (h / s) ** 2) / 4))  # corners lose `vignette`
    L = L[..., None] * np.ones(3, np.float32)
    if cond.shadow != "none":
        L = L * (1 - rng.uniform(0.3, 0.6) * _shadow_mask(rng, cond.shadow, w, h)[..., None] * SHADOW_TINT)
    if not cond.glare:
        return L, None
    c, r, e = rng.uniform(-0.3, 0.3, 2) * (w / s, h / s), rng.uniform(0.1, 0.3), rng.uniform(0.6, 1.6)
    return L, rng.uniform(0.2, 0.7) * np.exp(-((u - c[0]) ** 2 + ((v - c[1]) * e) ** 2) / (2 * r * r))


def _camera(cond: Conditions, W: int, H: int) -> np.ndarray:
    """(3,3) homography paper -> frame: tilt (perspective) and in-plane rotation about the centre."""
    f = 1.1 * max(W, H)  # focal length in px of a phone's main camera
    px, py = np.tan(np.deg2rad([cond.tilt_x_deg, cond.tilt_y_deg])) / f
    P = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1]])
    r = np.deg2rad(cond.rotation_deg)
    R = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return _shift(W / 2, H / 2) @ R @ P @ _shift(-W / 2, -H / 2)


def _place(mask: np.ndarray, M: np.ndarray, centre: np.ndarray, height: float) -> np.ndarray:
    """(3,3) mask -> paper placement so that, seen through M, the mark's ink box has this centre and height."""
    ys, xs = np.nonzero(mask > 0.5)
    step = max(1, xs.size // 4000)
    pts = np.c_[xs[::step], ys[::step]] + 0.5  # (N,2) ink pixel centres
    Minv, f = np.linalg.inv(M), 1.0
    target = _apply(Minv, np.asarray(centre, float)[None])[0]  # the centre, on paper
    off = target - pts.mean(0)
    for _ in range(4):
        q = _apply(M, pts * f + off)
        f *= height / (np.ptp(q[:, 1]) + 1)
        q = _apply(M, pts * f + off)
        off = off + target - _apply(Minv, ((q.min(0) + q.max(0)) / 2)[None])[0]
    return _shift(*off) @ np.diag([f, f, 1.0])


def _ink(rng: np.random.Generator, cond: Conditions, MP: np.ndarray, mask: np.ndarray, W: int, H: int):
    """Ink transmittance (h,w,3) over frame pixels [y0:y0+h, x0:x0+w] and the mark's visible ink box."""
    mh, mw = mask.shape
    q = _apply(MP, np.array([[0, 0], [mw, 0], [0, mh], [mw, mh]], float))
    pad = 3 * cond.defocus_px + cond.motion_px + 2
    x0, y0 = np.clip(np.floor(q.min(0) - pad).astype(int), 0, (W, H))
    x1, y1 = np.clip(np.ceil(q.max(0) + pad).astype(int), 0, (W, H))
    if x1 <= x0 or y1 <= y0:
        return x0, y0, np.ones((0, 0, 3), np.float32), None
    inv, w, h = np.linalg.inv(MP), x1 - x0, y1 - y0
    sharp = _warp(mask, inv @ _shift(x0, y0), w, h)
    alpha = sharp
    if cond.motion_px >= 1:
        d = np.array([np.cos(np.deg2rad(cond.motion_deg)), np.sin(np.deg2rad(cond.motion_deg))]) * cond.motion_px
        path = np.linspace(-0.5, 0.5, min(12, int(cond.motion_px) + 2))
        alpha = np.mean([_warp(mask, inv @ _shift(x0 + p * d[0], y0 + p * d[1]), w, h) for p in path], 0)
    alpha = _gauss(alpha, cond.defocus_px)
    colour, (lo, hi), vary = INKS[cond.ink]
    opacity = rng.uniform(lo, hi) * (1 - vary * (0.5 + 0.5 * np.tanh(_smooth(rng, h, w, max(2.0, 0.12 * h)))))
    if cond.ink == "pencil":  # graphite sits on the paper's tooth
        grain = _gauss(rng.standard_normal((h, w)).astype(np.float32), 0.8)
        opacity = opacity * np.clip(0.8 + 0.35 * grain / (grain.std() + 1e-6), 0.3, 1)
    T = 1 - (alpha * opacity)[..., None] * (1 - np.asarray(colour, np.float32))
    b = _bbox(sharp > 0.5)
    box = None if b is None else (int(x0 + b[2]), int(y0 + b[0]), int(b[3] - b[2] + 1), int(b[1] - b[0] + 1))
    return x0, y0, T.astype(np.float32), box


def _develop(rng: np.random.Generator, cond: Conditions, frame: np.ndarray) -> np.ndarray:
    """Sensor noise, tone curve and JPEG: (H,W,3) float -> (H,W,3) uint8 RGB."""
    H, W, _ = frame.shape
    out = frame * np.float32(255)  # (H,W,3) in grey levels; updated in place below, it is ours
    if cond.noise > 0:  # shot noise grows with the signal, read noise does not
        sigma = np.sqrt((np.clip(out[..., 1], 0, 255) + 12.75) * np.float32(255 * cond.noise))
        out += (rng.standard_normal((H, W), np.float32) * sigma)[..., None]
    out += 0.5
    im = Image.fromarray(np.clip(out, 0, 255, out=out).astype(np.uint8))
    lut = np.round(255 * (np.arange(256) / 255) ** (1 / cond.gamma)).astype(int).tolist()
    im = im.point(lut * 3)
    if cond.jpeg_quality:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=cond.jpeg_quality)
        im = Image.open(buf).convert("RGB")
    return np.array(im)


def _shoot(rng: np.random.Generator, cond: Conditions, W: int, H: int, marks: list, mm: float,
           edge_reach: float = 0.15) -> tuple[np.ndarray, tuple[Box, ...]]:
    """Photograph a sheet carrying `marks` [(mask, frame centre, frame height)] -> (uint8 image, ink boxes)."""
    M = _camera(cond, W, H)
    placed = [(mask, M @ _place(mask, M, c, h)) for mask, c, h in marks]
    s0 = min(1.0, WORK_PX / max(W, H))
    w0, h0 = max(4, round(W * s0)), max(4, round(H * s0))
    corners = _apply(np.linalg.inv(M), np.array([[0, 0], [W, 0], [0, H], [W, H]], float))
    origin = corners.min(0) - 2 / s0
    cw, ch = np.ceil((corners.max(0) - origin) * s0 + 2).astype(int)
    sheet = _paper(rng, cond, (ch, cw), origin, s0, mm, (W, H), edge_reach)
    A = np.diag([s0, s0, 1.0]) @ _shift(*-origin) @ np.linalg.inv(M) @ np.diag([W / w0, H / h0, 1.0])
    view = np.stack([_warp(sheet[..., i], A, w0, h0) for i in range(3)], -1)  # (h0,w0,3) paper in view
    light, glare = _light(rng, cond, h0, w0)
    t = cond.white_balance
    gain = np.float32(cond.exposure) * np.array([1 + 0.12 * t, 1.0, 1 - 0.16 * t], np.float32)  # white balance
    lit = view * light * gain
    chroma = np.stack([_gauss(rng.standard_normal((h0, w0)).astype(np.float32), 1.0) for _ in range(3)], -1)
    lit = lit + np.sqrt(cond.noise * (np.clip(lit, 0, 1) + 0.05)) * 0.6 * chroma  # blotches a denoiser leaves
    frame = lit if s0 == 1.0 else np.stack([_resize(lit[..., i], W, H) for i in range(3)], -1)  # (H,W,3)
    boxes = []
    for mask, MP in placed:
        x0, y0, T, box = _ink(rng, cond, MP, mask, W, H)
        frame[y0 : y0 + T.shape[0], x0 : x0 + T.shape[1]] *= T
        boxes.append(box)
    if glare is not None:
        g = glare if s0 == 1.0 else _resize(glare, W, H)
        frame += g[..., None] * gain
    return _develop(rng, cond, frame), tuple(boxes)


# ---------------------------------------------------------------- public API

def draw_conditions(rng: np.random.Generator | int, width: int, height: int, clean: bool = False) -> Conditions:
    """Draw one image's paper, pen, lighting and camera; `clean`: white paper, black ink, perfect camera."""
    rng, short = _rng(rng), min(width, height)
    ink = str(rng.choice(list(INKS), p=(0.28, 0.25, 0.12, 0.10, 0.08, 0.17)))
    pen = str(rng.choice(list(PENS), p=(0.35, 0.45, 0.2) if ink != "pencil" else (0.5, 0.5, 0)))
    pen_width = float(rng.uniform(*PENS[pen]))
    if clean:
        return Conditions(pen=pen, pen_width=pen_width)
    paper = str(rng.choice(list(PAPER_TINT), p=(0.25, 0.12, 0.13, 0.2, 0.3)))
    lines = str(rng.choice(["blue", "grey"], p=(0.65, 0.35))) if paper in ("ruled", "squared") else "none"
    mode = rng.choice(["under", "normal", "over"], p=(0.15, 0.7, 0.15))
    exposure = rng.uniform(*{"under": (0.45, 0.72), "normal": (0.8, 1.12), "over": (1.18, 1.6)}[mode])
    moving = rng.random() < 0.25
    return Conditions(
        paper=paper, lines=lines, margin=bool(paper == "ruled" and rng.random() < 0.35),
        page_edge=bool(rng.random() < 0.1), ink=ink, pen=pen, pen_width=pen_width,
        shadow=str(rng.choice(["none", "soft", "hard", "edge"], p=(0.45, 0.25, 0.2, 0.1))),
        glare=bool(rng.random() < 0.12), white_balance=float(np.clip(rng.normal(0, 0.5), -1, 1)),
        exposure=float(exposure), gradient=float(rng.uniform(0, 0.35)), vignette=float(rng.uniform(0, 0.45)),
        tilt_x_deg=float(rng.uniform(-8, 8)), tilt_y_deg=float(rng.uniform(-8, 8)),
        rotation_deg=float(rng.uniform(-6, 6)), defocus_px=float(0.003 * short * rng.random() ** 2),
        motion_px=float(rng.uniform(0.002, 0.01) * short) if moving else 0.0, motion_deg=float(rng.uniform(0, 180)),
        noise=float(np.exp(rng.uniform(np.log(1e-4), np.log(2e-3))) / exposure), gamma=float(rng.uniform(0.85, 1.25)),
        jpeg_quality=int(rng.integers(40, 96)) if rng.random() < 0.8 else 0,
    )


def _side(rng: np.random.Generator, size: int | None) -> int:
    return int(rng.integers(120, 481)) if size is None else int(size)


def box_crop(digit28: np.ndarray, rng: np.random.Generator | int, size: int | None = None,
             clean: bool = False) -> Sample:
    """What a camera's square target box holds: the digit 35-75 % of the box tall, off centre by up to 15 %."""
    rng = _rng(rng)
    size = _side(rng, size)
    cond = replace(draw_conditions(rng, size, size, clean), page_edge=False)
    h = rng.uniform(0.36, 0.74) * size
    lim = min(0.15, 0.49 - h / size / 2)
    centre = size * (0.5 + rng.uniform(-lim, lim, 2))
    mask = render_digit(digit28, rng, h, h * cond.pen_width)
    image, boxes = _shoot(rng, cond, size, size, [(mask, centre, h)], h / rng.uniform(5, 25))
    return Sample(image, boxes, "digit", cond)


def filling_crop(digit28: np.ndarray, rng: np.random.Generator | int, size: int | None = None,
                 clean: bool = False) -> Sample:
    """The digit held close: 86-100 % of the box tall, touching or slightly crossing its edges."""
    rng = _rng(rng)
    size = _side(rng, size)
    cond = replace(draw_conditions(rng, size, size, clean), page_edge=False)
    frac = rng.uniform(0.86, 1.0)
    dy = rng.uniform(-1, 1) * min(0.5 + frac / 2 - 0.86, 0.5 - frac / 2 + 0.05)  # >= 85 % stays in view
    mask = render_digit(digit28, rng, frac * size, frac * size * cond.pen_width)
    wfrac = _ink_size(mask)[1] / size
    dx = rng.uniform(-1, 1) * (max(0.0, 0.5 - wfrac / 2) + 0.02)
    centre = size * np.array([0.5 + dx, 0.5 + dy])
    image, boxes = _shoot(rng, cond, size, size, [(mask, centre, frac * size)], frac * size / rng.uniform(5, 25))
    return Sample(image, boxes, "digit", cond)


def photo(digit28: np.ndarray, rng: np.random.Generator | int, width: int = 1280, height: int = 960,
          clean: bool = False) -> Sample:
    """A whole frame with one digit, 12-35 % of the short side tall, its centre in the middle third."""
    rng = _rng(rng)
    cond = draw_conditions(rng, width, height, clean)
    h = rng.uniform(0.125, 0.345) * min(width, height)
    centre = rng.uniform(0.34, 0.66, 2) * (width, height)
    mask = render_digit(digit28, rng, h, h * cond.pen_width)
    mm = h / rng.uniform(6, 25)  # px per mm on the paper
    image, boxes = _shoot(rng, cond, width, height, [(mask, centre, h)], mm, edge_reach=0.08)  # edge clear of it
    return Sample(image, boxes, "digit", cond)


def number_photo(digits: list[np.ndarray], rng: np.random.Generator | int, width: int = 1280, height: int = 960,
                 clean: bool = False) -> Sample:
    """Digits written on one line as a number, in the middle of a frame; boxes in reading order."""
    if not digits:
        raise ValueError("number_photo needs at least one digit")
    rng = _rng(rng)
    cond = replace(draw_conditions(rng, width, height, clean), page_edge=False)  # a long number may span the view
    base = rng.uniform(0.08, 0.2) * min(width, height)
    slant = rng.uniform(-0.3, 0.1)  # one writer, one slant
    hs = base * rng.uniform(0.95, 1.05, len(digits))
    masks = [render_digit(d, rng, h, base * cond.pen_width, slant) for d, h in zip(digits, hs, strict=True)]
    ws = np.array([_ink_size(m)[1] for m in masks], float)
    gaps = rng.uniform(0.15, 0.45, len(digits) - 1) * base
    fit = min(1.0, 0.9 * width / (ws.sum() + gaps.sum()))  # keep a long number inside the frame
    if fit < 1:
        masks = [_resize(m, max(1, round(m.shape[1] * fit)), max(1, round(m.shape[0] * fit))) for m in masks]
        hs, ws, gaps = hs * fit, ws * fit, gaps * fit
    lefts = np.concatenate([[0.0], np.cumsum(ws[:-1] + gaps)]) - (ws.sum() + gaps.sum()) / 2
    jitter = rng.uniform(-0.04, 0.04, len(digits)) * base * fit
    local = np.c_[lefts + ws / 2, (hs.max() - hs) / 2 + jitter]  # centres about the number's centre, same baseline
    M = _camera(cond, width, height)
    mid = np.array([width, height]) * (0.5 + rng.uniform(-0.05, 0.05, 2))
    p0 = _apply(np.linalg.inv(M), mid[None])[0]
    centres = _apply(M, p0 + local)  # laid out along the paper's horizontal, then seen by the camera
    marks = [(m, c, h) for m, c, h in zip(masks, centres, hs, strict=True)]
    image, boxes = _shoot(rng, cond, width, height, marks, base / rng.uniform(6, 20))
    return Sample(image, boxes, "number", cond)


def blank(rng: np.random.Generator | int, size: int | tuple[int, int] | None = None, clean: bool = False) -> Sample:
    """No digit: plain, ruled, squared or shadowed paper; a square crop (int) or a whole frame ((w, h))."""
    rng = _rng(rng)
    W, H = size if isinstance(size, tuple) else (_side(rng, size),) * 2
    cond = draw_conditions(rng, W, H, clean)
    if not clean:  # the tricky ones, more often than in digit images
        trick = str(rng.choice(["none", "shadow_edge", "page_edge", "slanted_lines"], p=(0.3, 0.25, 0.25, 0.2)))
        paper = str(rng.choice(list(PAPER_TINT), p=(0.15, 0.1, 0.1, 0.25, 0.4)))
        lines = str(rng.choice(["blue", "grey"])) if paper in ("ruled", "squared") else "none"
        slanted = float(np.sign(cond.rotation_deg) * rng.uniform(3, 8))
        cond = replace(cond, paper=paper, lines=lines, margin=paper == "ruled" and cond.margin,
                       page_edge=trick == "page_edge", shadow="edge" if trick == "shadow_edge" else cond.shadow,
                       rotation_deg=slanted if trick == "slanted_lines" else cond.rotation_deg)
    virtual = rng.uniform(*((0.35, 0.75) if W == H else (0.12, 0.35))) * min(W, H)  # a digit's size sets the scale
    image, _ = _shoot(rng, cond, W, H, [], virtual / rng.uniform(5, 25), edge_reach=0.25)
    return Sample(image, (), "blank", cond)


def glyph_crop(rng: np.random.Generator | int, size: int | None = None, clean: bool = False) -> Sample:
    """No digit: one Hershey-font letter or symbol (never one in EXCLUDED_GLYPHS) in the target box."""
    rng = _rng(rng)
    size = _side(rng, size)
    cond = replace(draw_conditions(rng, size, size, clean), page_edge=False)
    char, font = GLYPHS[rng.integers(len(GLYPHS))], FONT_NAMES[rng.integers(len(FONT_NAMES))]
    cond = replace(cond, pen_width=cond.pen_width if font in SINGLE_STROKE else max(cond.pen_width, 0.07))
    field = _glyph_field(char, font, cond.pen_width, rng.random() < 0.2)
    mask = _fit(rng, field, rng.uniform(0.35, 0.8) * size, cond.pen_width)
    return _crop_sample(rng, cond, size, mask, char)


def scribble_crop(rng: np.random.Generator | int, size: int | None = None, clean: bool = False) -> Sample:
    """No digit: a scribble, a filled or hatched blob, a dash or a cross-out in the target box."""
    rng = _rng(rng)
    size = _side(rng, size)
    cond = replace(draw_conditions(rng, size, size, clean), page_edge=False)
    kind = SCRIBBLES[rng.integers(len(SCRIBBLES))]
    mask = _fit(rng, _scribble_field(rng, kind, cond.pen_width), rng.uniform(0.35, 0.8) * size, cond.pen_width)
    return _crop_sample(rng, cond, size, mask, "scribble:" + kind)


def _crop_sample(rng: np.random.Generator, cond: Conditions, size: int, mask: np.ndarray, content: str) -> Sample:
    """Put a non-digit mark, roughly centred, in a square crop."""
    h, w = _ink_size(mask)
    extent = max(h, w)
    lim = max(0.0, min(0.15, 0.49 - extent / size / 2))
    centre = size * (0.5 + rng.uniform(-lim, lim, 2))
    image, _ = _shoot(rng, cond, size, size, [(mask, centre, h)], extent / rng.uniform(5, 25))
    return Sample(image, (), content, cond)
