"""Camera preprocessing: a frame (any size, RGB/RGBA/gray) -> the model's 28x28 input, or "no digit".

The one definition of the pipeline. `web/preprocess.js` ports it line for line and is checked against
`python -m core golden OUT` within 1e-5, so every step below is specified exactly. All arithmetic is
IEEE float64 (JS `Number`), each formula evaluated left to right as written (no fused multiply-add,
no library resampler, no reduction whose order matters), and only the final 28x28 becomes float32.
Coordinates: pixel i covers [i, i+1); its centre is i + 0.5. `floor` is Math.floor.
`core/preprocess_reference.py` is the same algorithm as plain loops (tests and the bench use it).

1. Input -> RGB in 0..255 (float64). A frame is (H,W) or (H,W,1) gray, (H,W,3) RGB or (H,W,4) RGBA;
   dtype uint8 (v), uint16 (v / 257), float in [0,1] (v * 255) or bool (255 if true else 0).
   Gray g becomes R = G = B = g. RGBA is composited over white paper: with a = A / 255,
   c = C * a + 255 * (1 - a) for each of R, G, B. NaN/inf, values outside [0,1] (floats), other dtypes,
   other shapes, an empty frame or one larger than MAX_SIDE/MAX_PIXELS are refused (UserError).
   (Conversion is per pixel, so doing it after cropping or gathering gives identical values.)

2. Crop the target box. B = min(box, H, W) (box None: B = min(H, W)).
   x0 = floor(center_x * W - B / 2), clamped to [0, W - B]; y0 likewise with center_y and H.
   crop = frame[y0 : y0 + B, x0 : x0 + B]  -> (B,B,3).

3. Downscale (area averaging, "pixel mixing"). resample(n -> m) along one axis: output j covers
   the source interval [a, b) with a = (j * n) / m and b = ((j + 1) * n) / m. For source pixels
   i = floor(a) .. ceil(b) - 1 (in increasing order), ov = min(b, i + 1) - max(a, i) and
   w = (ov * m) / n; out[j] = sum of w * src[i], accumulated from 0.0 as acc = acc + w * src[i].
   A 2-D resample is along x (each row) first, then along y (each column); channels independently.
   n -> n gives weights exactly 1 (a copy); m > n upsamples by the same formula.
   Multi-step: sizes s_1..s_k = `steps`. cur = B; for each s_i before the last: if s_i < cur,
   resample cur -> s_i (else skip it); then always resample cur -> s_k. S = s_k is the working size.
   (Area averaging composes: when sizes divide evenly, 140 -> 112 -> 56 -> 28 equals 140 -> 28 up to
   rounding. The seed stepped because a canvas drawImage is bilinear and aliases beyond 2x.)
   Single-step mode (for comparison, what one drawImage/bilinear resize does): B -> S in one plain
   bilinear step: u = ((j + 0.5) * n) / m - 0.5, i0 = floor(u), f = u - i0, out[j] = (1 - f) *
   src[clamp(i0)] + f * src[clamp(i0 + 1)] (clamp to 0..n-1; accumulated as above: 0.0 + w0*a + w1*b),
   x first, then y.

4. Gray (BT.601), quantized to 1/64 of a gray level so that window sums are exact in any order:
   g = floor(((0.299 * R + 0.587 * G) + 0.114 * B) * 64 + 0.5) / 64          -> (S,S) float64.

5. Local adaptive threshold (radius r, offset o, gain k). Window of (y, x): rows max(0, y - r) ..
   min(S - 1, y + r), columns likewise (in-bounds pixels only). sum = the window's sum of g (exact:
   every g is a multiple of 1/64), count = rows * columns, mean = sum / count.
   ink = g < mean - o;  strength = min(1, (mean - g) / k) where ink, else 0.
   Vectorized with a summed-area table; the result does not depend on how the sum is formed.

6. Clean-up by 8-connected components of `ink` (two ink pixels are connected when they touch by an
   edge or a corner). Drop (set strength to 0) every component with a pixel in the first/last row or
   column (drop_border_ink: shadow edges, ruled lines and neighbouring writing cross the box edge; a
   digit held inside the box does not). Then, with mass = a component's sum of strength, drop every
   remaining component whose mass < min_part * (the largest remaining mass) (specks, line stubs).
   What is left is `kept` (= strength when drop_border_ink is off and min_part = 0). How components
   are found (BFS, union-find) does not matter; masses and the sums below may be added in any order.

7. No digit (checked in this order; returns the reason instead of an image):
   - total = sum of strength < min_ink * S * S            -> NO_INK ("too little ink");
   - sum of kept < min_ink * S * S                         -> EDGE_ONLY ("ink only at the box edges");
   - kept is all zero (possible only with min_ink = 0): no check when min_extent = 0 too (detection
     off: the seed always guessed, here on an all-zero map), else EDGE_ONLY if strength has any ink,
     NO_INK if not;
   - bounding box of kept > 0: its longer side < min_extent * S  -> TOO_SMALL ("ink too small ...").

8. Framing (MNIST style: fit in 20x20 keeping aspect, centre of mass at the centre of 28x28).
   C = kept[y0..y1, x0..x1], the bounding box (rows y0..y1, columns x0..x1) of kept > 0.
   Stroke (stroke > 0; thin pens would give 1 px strokes, MNIST's are ~2 px in its 20 px box):
   A = number of C > 0 pixels; E = number of 4-neighbour pixel pairs inside C where exactly one is
   > 0, plus the > 0 pixels of C's first row, last row, first column and last column (each counted
   once per side it lies on); width = (2 * A) / E. k = floor(((stroke * max(h_C, w_C)) / 20 - width)
   / 2 + 0.5), clamped to 0..3. Repeat k times: C = the 3x3 maximum of C zero-padded by one pixel
   on every side: C'[y, x] = max of C[y - 2 + i, x - 2 + j] over i, j in 0..2 (0 outside C), for
   y = 0..h_C + 1, x = 0..w_C + 1, i.e. the box grows by one pixel per side each time.
   Fit: h, w = C's shape, L = max(h, w), nh = floor((20 * h) / L + 0.5), nw = floor((20 * w) / L + 0.5),
   each at least 1. P = resample (step 3's formula) of C from (h, w) to (nh, nw): x first, then y.
   M = sum of P; cy = sum of (y + 0.5) * P[y, x] / M, cx = sum of (x + 0.5) * P[y, x] / M
   (only these two sums are order-dependent, at the 1e-15 level, and the output is continuous in them).
   Place P so its centre of mass lands on (14, 14): oy = 14 - cy, ox = 14 - cx;
   ty = floor(oy), fy = oy - ty; tx = floor(ox), fx = ox - tx. With P and Q zero outside their bounds:
   Q[y, X] = (1 - fx) * P[y, X - tx] + fx * P[y, X - tx - 1]   for each patch row y, X = 0..27;
   out[Y, X] = (1 - fy) * Q[Y - ty, X] + fy * Q[Y - ty - 1, X]  for Y = 0..27.
   Without framing: out = resample of kept from (S, S) to (28, 28) (a copy when S = 28).

9. Output: clip out to [0, 1], then float32  -> (28,28), white ink on black, as the model expects.

Defaults (`PreprocessConfig()`, chosen by `python -m core bench preprocess` measurements on the
camera-like set of core.camera_set): 140 px box, steps 112 -> 56, r = 5, o = 14, k = 20, edge clean-up,
min_part 0.2, framing with stroke 2, min_ink 0.005, min_extent 0.15. `PreprocessConfig.seed()`: the seed's pipeline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from core.errors import UserError

MAX_SIDE = 20_000  # longest frame side accepted (a 200 MP photo is 16k x 12k)
MAX_PIXELS = 100_000_000  # larger frames are refused before any work is done
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
GRAY_QUANTUM = 64  # gray is rounded to 1/64 so window sums are exact in float64 in any order

NO_INK = "too little ink"
EDGE_ONLY = "ink only at the box edges"
TOO_SMALL = "ink too small to be a digit"
MAX_DILATIONS = 3  # framing thickens a stroke by at most 6 working pixels


@dataclass(frozen=True)
class PreprocessConfig:
    """Every parameter of the camera pipeline (the module docstring says how each is used)."""

    box: int | None = 140  # target box side in frame pixels (seed: 140); None = largest centred square
    center_x: float = 0.5  # box centre as a fraction of the frame width (seed: middle of the view)
    center_y: float = 0.5  # box centre as a fraction of the frame height
    steps: tuple[int, ...] = (112, 56)  # side after each area step, the last is the working size S; at 56 thin
    #   strokes and small digits survive and framing shrinks them smoothly to 20 px (seed: 112, 56, 28)
    single_step: bool = False  # one plain bilinear resize to steps[-1] instead (aliases; for comparison)
    radius: int = 5  # threshold window (2r+1)^2 working pixels; best of 4..8 at S=56 (seed: 4, at S=28)
    offset: float = 14.0  # ink if gray < local mean - offset, gray levels 0..255; ignores faint rules (seed: 8)
    gain: float = 20.0  # strength = min(1, (mean - gray) / gain): gray levels for full ink (seed: 20)
    drop_border_ink: bool = True  # remove ink components touching the box edge (shadows, rules, neighbours)
    min_part: float = 0.2  # remove components lighter than this fraction of the heaviest one kept (specks)
    framing: bool = True  # MNIST framing: 20x20 fit + centre of mass at the centre
    stroke: float = 2.0  # framing thickens thin strokes toward this width in the 20 px box (MNIST's ~2; 0: off)
    min_ink: float = 0.005  # "no digit" below this ink mass, as a fraction of the working area (0: off)
    min_extent: float = 0.15  # "no digit" if the ink's bounding box is shorter than this fraction of S

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))
        problems = []
        if self.box is not None and not 1 <= self.box <= MAX_SIDE:
            problems.append(f"box must be 1..{MAX_SIDE} pixels or None, got {self.box}")
        if not (0 <= self.center_x <= 1 and 0 <= self.center_y <= 1):
            problems.append("center_x and center_y must lie in [0, 1]")
        if not self.steps or any(not 1 <= s <= 4096 for s in self.steps):
            problems.append(f"steps must be 1..4096 pixels each, got {self.steps}")
        if not 0 <= self.radius <= 64:
            problems.append(f"radius must be 0..64, got {self.radius}")
        if not (math.isfinite(self.offset) and 0 <= self.offset <= 255):
            problems.append(f"offset must be 0..255, got {self.offset}")
        if not (math.isfinite(self.gain) and 0 < self.gain <= 255):
            problems.append(f"gain must be in (0, 255], got {self.gain}")
        if not (math.isfinite(self.stroke) and 0 <= self.stroke <= 20):
            problems.append(f"stroke must be 0..20, got {self.stroke}")
        if not (0 <= self.min_ink < 1 and 0 <= self.min_extent <= 1 and 0 <= self.min_part <= 1):
            problems.append("min_ink must be in [0, 1), min_extent and min_part in [0, 1]")
        if problems:
            raise UserError("preprocess config: " + "; ".join(problems))

    @classmethod
    def seed(cls) -> PreprocessConfig:
        """The seed's fixed pipeline: 140 px box, 140->112->56->28, r=4, o=8, k=20, no framing, always guesses."""
        return cls(box=140, steps=(112, 56, 28), radius=4, offset=8.0, gain=20.0, drop_border_ink=False,
                   min_part=0.0, framing=False, stroke=0.0, min_ink=0.0, min_extent=0.0)

    def to_dict(self) -> dict:
        """JSON-ready fields (steps as a list), as stored in model contracts and golden vectors."""
        d = asdict(self)
        d["steps"] = list(self.steps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        """Build from `to_dict()` output; unknown keys are an error, missing keys take the defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"preprocess config: unknown keys {unknown}")
        try:
            return cls(**{k: (tuple(v) if k == "steps" else v) for k, v in d.items()})
        except (TypeError, ValueError) as e:  # a value of the wrong type
            raise UserError(f"preprocess config: {e}") from None


@dataclass(frozen=True)
class Stages:
    """Every intermediate of one frame, for the playground's filmstrip and the golden vectors."""

    box: tuple[int, int, int]  # (x0, y0, B): where the crop came from in the frame
    crop_source: np.ndarray  # (B,B,C) the crop as given (a view of the frame; `crop` converts it on demand)
    downscales: tuple[np.ndarray, ...]  # each (s,s,3) float64 RGB 0..255, in order; the last is (S,S,3)
    gray: np.ndarray  # (S,S) float64 0..255, multiples of 1/64
    mean: np.ndarray  # (S,S) float64 local mean
    ink: np.ndarray  # (S,S) bool
    strength: np.ndarray  # (S,S) float64 in [0,1]
    kept: np.ndarray  # (S,S) float64 in [0,1]: strength without edge-touching components and specks
    image: np.ndarray  # (28,28) float32 in [0,1]: the model input (zeros when there is no digit)
    reason: str | None  # None, or why there is no digit

    @property
    def crop(self) -> np.ndarray:
        """(B,B,3) float64 RGB 0..255: step 1 applied to the crop (computed when asked: a photo's crop is big)."""
        return to_rgb255(self.crop_source)


@dataclass(frozen=True)
class Result:
    """The model input, or the reason there is none."""

    image: np.ndarray | None  # (28,28) float32 in [0,1]; None when there is no digit
    reason: str | None  # NO_INK, EDGE_ONLY, TOO_SMALL or None


# ---------------------------------------------------------------- 1. input


def check_frame(frame: object) -> np.ndarray:
    """Return `frame` as an (H,W,C) array (C in 1,3,4) after checking dtype, shape, size and values."""
    if not isinstance(frame, np.ndarray):
        raise UserError(f"image: expected a NumPy array, got {type(frame).__name__}")
    x = frame
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[2] not in (1, 3, 4):
        raise UserError(f"image: shape {frame.shape} is not (H,W), (H,W,1), (H,W,3) or (H,W,4)")
    h, w = x.shape[:2]
    if h < 1 or w < 1:
        raise UserError(f"image: shape {frame.shape} is empty")
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise UserError(f"image: {w}x{h} is too large (limit {MAX_SIDE} per side, {MAX_PIXELS:,} pixels)")
    if x.dtype not in (np.uint8, np.uint16, np.bool_) and x.dtype.kind != "f":
        raise UserError(f"image: dtype {x.dtype} is not supported (use uint8, uint16, bool or float in [0,1])")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise UserError("image: contains NaN or infinity")
        if x.min() < 0 or x.max() > 1:
            raise UserError(f"image: float values must lie in [0, 1], got {x.min():.4g}..{x.max():.4g}")
    return x


def to_rgb255(x: np.ndarray) -> np.ndarray:
    """(...,C) checked pixels -> (...,3) float64 RGB 0..255 (gray expanded, RGBA composited on white)."""
    if x.dtype == np.uint8:
        v = x.astype(np.float64)
    elif x.dtype == np.uint16:
        v = x / 257.0  # 65535 / 257 = 255 exactly
    elif x.dtype == np.bool_:
        v = np.where(x, 255.0, 0.0)
    else:
        v = x.astype(np.float64) * 255.0
    c = v.shape[-1]
    if c == 1:
        return np.repeat(v, 3, axis=-1)
    if c == 4:
        a = v[..., 3:4] / 255.0
        return v[..., :3] * a + 255.0 * (1.0 - a)
    return v


# ---------------------------------------------------------------- 2-3. crop and area resampling


def box_of(h: int, w: int, cfg: PreprocessConfig) -> tuple[int, int, int]:
    """(x0, y0, B) of the square target box inside an (h,w) frame (step 2)."""
    b = min(h, w) if cfg.box is None else min(cfg.box, h, w)
    x0 = min(max(math.floor(cfg.center_x * w - b / 2), 0), w - b)
    y0 = min(max(math.floor(cfg.center_y * h - b / 2), 0), h - b)
    return x0, y0, b


@functools.lru_cache(maxsize=256)
def area_weights(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse weights of resample(n -> m): idx (m,K) int and w (m,K) float64; padding has weight 0."""
    rows: list[list[tuple[int, float]]] = []
    for j in range(m):
        a, b = (j * n) / m, ((j + 1) * n) / m
        rows.append([(i, ((min(b, i + 1) - max(a, i)) * m) / n) for i in range(math.floor(a), math.ceil(b))])
    k = max(len(r) for r in rows)
    idx = np.zeros((m, k), dtype=np.intp)
    w = np.zeros((m, k), dtype=np.float64)
    for j, r in enumerate(rows):
        for t, (i, wt) in enumerate(r):
            idx[j, t], w[j, t] = i, wt
    idx.flags.writeable = w.flags.writeable = False
    return idx, w


@functools.lru_cache(maxsize=64)
def bilinear_weights(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of a plain bilinear resize n -> m (single-step mode): idx (m,2) int, w (m,2) float64."""
    idx = np.zeros((m, 2), dtype=np.intp)
    w = np.zeros((m, 2), dtype=np.float64)
    for j in range(m):
        u = ((j + 0.5) * n) / m - 0.5
        i0 = math.floor(u)
        f = u - i0
        idx[j] = min(max(i0, 0), n - 1), min(max(i0 + 1, 0), n - 1)
        w[j] = 1.0 - f, f
    idx.flags.writeable = w.flags.writeable = False
    return idx, w


def resample_axis(x: np.ndarray, m: int, axis: int, convert=None, kind: str = "area") -> np.ndarray:
    """Resample `x` along `axis` to length m (step 3's formulas); `convert` maps gathered pixels first."""
    idx, w = (area_weights if kind == "area" else bilinear_weights)(x.shape[axis], m)
    shape = [1] * x.ndim
    shape[axis] = m
    acc = None
    for t in range(idx.shape[1]):
        g = np.take(x, idx[:, t], axis=axis)  # (..., m, ...) gathered source pixels
        if convert is not None:
            g = convert(g)
        term = w[:, t].reshape(shape) * g
        acc = term if acc is None else acc + term  # 0.0 + term == term exactly
    return acc


def resample(x: np.ndarray, h: int, w: int, convert=None, kind: str = "area") -> np.ndarray:
    """(H,W[,C]) -> (h,w[,C]) float64 by area averaging (or bilinear): along x first, then along y."""
    return resample_axis(resample_axis(x, w, 1, convert, kind), h, 0, kind=kind)


def downscale(crop: np.ndarray, cfg: PreprocessConfig, convert=None) -> list[np.ndarray]:
    """The crop (B,B,C) -> each step's (s,s,3) float64 RGB (step 3); the last is the working image."""
    if cfg.single_step:
        return [resample(crop, cfg.steps[-1], cfg.steps[-1], convert, kind="bilinear")]
    sizes = list(cfg.steps)
    out: list[np.ndarray] = []
    cur, n = crop, crop.shape[0]
    for i, s in enumerate(sizes):
        if s < n or i == len(sizes) - 1:
            cur = resample(cur, s, s, convert if not out else None)
            out.append(cur)
            n = s
    return out


# ---------------------------------------------------------------- 4-5. gray and local threshold


def gray_bt601(rgb: np.ndarray) -> np.ndarray:
    """(S,S,3) RGB 0..255 -> (S,S) BT.601 gray, rounded to multiples of 1/64 (step 4)."""
    r, g, b = GRAY_WEIGHTS
    y = r * rgb[..., 0] + g * rgb[..., 1] + b * rgb[..., 2]
    return np.floor(y * GRAY_QUANTUM + 0.5) / GRAY_QUANTUM


def local_mean(gray: np.ndarray, radius: int) -> np.ndarray:
    """(H,W) -> (H,W) mean over the in-bounds (2r+1)^2 window, via a summed-area table."""
    h, w = gray.shape
    r = radius
    cx = np.zeros((h, w + 1))
    np.cumsum(gray, axis=1, out=cx[:, 1:])  # cx[y, x] = sum of gray[y, :x]
    cx = np.pad(cx, ((0, 0), (r, r)), mode="edge")  # column j + r holds prefix clamp(j, 0, W): in-bounds only
    rows = cx[:, 2 * r + 1 : 2 * r + 1 + w] - cx[:, :w]  # (H,W) sums over columns x-r..x+r
    cy = np.zeros((h + 1, w))
    np.cumsum(rows, axis=0, out=cy[1:])  # the summed-area table, built separably
    cy = np.pad(cy, ((r, r), (0, 0)), mode="edge")
    total = cy[2 * r + 1 : 2 * r + 1 + h] - cy[:h]  # (H,W) window sums (exact: multiples of 1/64)

    def count(n: int) -> np.ndarray:  # in-bounds pixels per window along one axis
        i = np.arange(n)
        return np.minimum(i + r + 1, n) - np.maximum(i - r, 0)

    return total / np.outer(count(h), count(w))


def threshold(gray: np.ndarray, radius: int, offset: float, gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H,W) gray -> (mean, ink, strength): ink where gray < mean - offset, strength min(1, (mean-gray)/gain)."""
    mean = local_mean(gray, radius)
    ink = gray < mean - offset
    strength = np.where(ink, np.minimum(1.0, (mean - gray) / gain), 0.0)
    return mean, ink, strength


# ---------------------------------------------------------------- 6-8. clean-up, no digit, framing


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """(H,W) bool -> ((H,W) int32 labels 1..n of the 8-connected components (0 = background), n)."""
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)  # (H,W+1): +1 run start, -1 end
    ry, rs = np.nonzero(edges == 1)  # runs in raster order: row, first column
    _, re = np.nonzero(edges == -1)  # one past the last column
    n = len(ry)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    row_first = np.searchsorted(ry, np.arange(h + 1))  # runs of row y are row_first[y]:row_first[y+1]
    rs_l, re_l = rs.tolist(), re.tolist()
    for y in range(1, h):
        i, i_end = row_first[y - 1], row_first[y]
        j, j_end = row_first[y], row_first[y + 1]
        while i < i_end and j < j_end:  # runs overlap 8-connectedly if [s-1, e] intervals intersect
            if rs_l[i] <= re_l[j] and rs_l[j] <= re_l[i]:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if re_l[i] < re_l[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(k) for k in range(n)], dtype=np.int64)
    ids, run_label = np.unique(roots, return_inverse=True)
    run_of_pixel = np.cumsum((edges[:, :-1] == 1).ravel()) - 1  # (H*W,) run index where mask
    labels = np.zeros(h * w, dtype=np.int32)
    flat = mask.ravel()
    labels[flat] = (run_label + 1)[run_of_pixel[flat]]
    return labels.reshape(h, w), len(ids)


def clean_ink(ink: np.ndarray, strength: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Strength without edge-touching components and specks (step 6) -> (S,S) float64."""
    if not cfg.drop_border_ink and cfg.min_part == 0:
        return strength
    labels, n = label_components(ink)
    if n == 0:
        return strength
    mass = np.bincount(labels.ravel(), weights=strength.ravel(), minlength=n + 1)  # (n+1,) per component
    drop = np.zeros(n + 1, dtype=bool)
    if cfg.drop_border_ink:
        drop[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    drop[0] = False
    if cfg.min_part > 0 and not drop[1:].all():
        biggest = mass[1:][~drop[1:]].max()
        drop[1:] |= mass[1:] < cfg.min_part * biggest
    return np.where(drop[labels], 0.0, strength)


def bounding_box(a: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) inclusive bounds of a > 0, or None when a is all zero."""
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def no_digit_reason(strength: np.ndarray, kept: np.ndarray, cfg: PreprocessConfig) -> str | None:
    """NO_INK, EDGE_ONLY, TOO_SMALL or None (step 7)."""
    area = strength.shape[0] * strength.shape[1]
    if strength.sum() < cfg.min_ink * area:
        return NO_INK
    if kept.sum() < cfg.min_ink * area:
        return EDGE_ONLY
    bb = bounding_box(kept)
    if bb is None:  # only reachable with min_ink = 0
        if cfg.min_extent == 0:
            return None  # detection off: the seed guessed even on an empty map
        return EDGE_ONLY if strength.any() else NO_INK
    y0, y1, x0, x1 = bb
    if max(y1 - y0 + 1, x1 - x0 + 1) < cfg.min_extent * strength.shape[0]:
        return TOO_SMALL
    return None


def shift_into(patch: np.ndarray, oy: float, ox: float, size: int = 28) -> np.ndarray:
    """Place (h,w) `patch` with its origin at the real offset (oy, ox) in a (size,size) canvas, bilinearly."""
    ty, tx = math.floor(oy), math.floor(ox)
    fy, fx = oy - ty, ox - tx
    h, w = patch.shape

    def take(a: np.ndarray, start: int, axis: int) -> np.ndarray:  # a shifted by `start` along axis, zero-filled
        out = np.zeros((size, a.shape[1]) if axis == 0 else (a.shape[0], size))
        n = a.shape[axis]
        lo, hi = max(start, 0), min(start + n, size)
        if lo < hi:
            if axis == 0:
                out[lo:hi] = a[lo - start : hi - start]
            else:
                out[:, lo:hi] = a[:, lo - start : hi - start]
        return out

    q = (1.0 - fx) * take(patch, tx, 1) + fx * take(patch, tx + 1, 1)  # (h,size)
    return (1.0 - fy) * take(q, ty, 0) + fy * take(q, ty + 1, 0)  # (size,size)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a bool shape: 2 * area / boundary length (4-neighbour edges; outside is empty)."""
    edges = (np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
             + np.count_nonzero(mask[0]) + np.count_nonzero(mask[-1])
             + np.count_nonzero(mask[:, 0]) + np.count_nonzero(mask[:, -1]))
    return (2 * np.count_nonzero(mask)) / edges


def dilate3(a: np.ndarray) -> np.ndarray:
    """(h,w) -> (h+2,w+2): 3x3 maximum of `a` zero-padded by one pixel on every side."""
    h, w = a.shape
    z = np.pad(a, 2)  # (h+4,w+4)
    out = np.zeros((h + 2, w + 2))
    for dy in range(3):
        for dx in range(3):
            out = np.maximum(out, z[dy : dy + h + 2, dx : dx + w + 2])
    return out


def framing_steps(kept: np.ndarray, stroke: float = 0.0) -> dict | None:
    """Step 8's intermediates: bbox, dilations, the fitted patch P, its centre of mass; None when there is no ink."""
    bb = bounding_box(kept)
    if bb is None:
        return None
    y0, y1, x0, x1 = bb
    c = kept[y0 : y1 + 1, x0 : x1 + 1]  # (h,w) the ink's bounding box
    k = 0
    if stroke > 0:
        k = min(max(math.floor(((stroke * max(c.shape)) / 20 - stroke_width(c > 0)) / 2 + 0.5), 0), MAX_DILATIONS)
        for _ in range(k):
            c = dilate3(c)  # (h+2,w+2)
    h, w = c.shape
    big = max(h, w)
    nh, nw = max(1, math.floor((20 * h) / big + 0.5)), max(1, math.floor((20 * w) / big + 0.5))
    p = resample(c, nh, nw)  # (nh,nw)
    m = p.sum()
    cy = float(((np.arange(nh) + 0.5)[:, None] * p).sum() / m)
    cx = float(((np.arange(nw) + 0.5)[None, :] * p).sum() / m)
    return {"bbox": [y0, y1, x0, x1], "dilations": k, "patch": p, "centre_of_mass": [cy, cx]}


def frame_mnist(kept: np.ndarray, stroke: float = 0.0) -> np.ndarray:
    """(S,S) ink strength -> (28,28) float64: thin strokes thickened, fit into 20x20, centre of mass at (14, 14)."""
    f = framing_steps(kept, stroke)
    if f is None:
        return np.zeros((28, 28))
    cy, cx = f["centre_of_mass"]
    return shift_into(f["patch"], 14.0 - cy, 14.0 - cx)


# ---------------------------------------------------------------- the pipeline


def _finish(out: np.ndarray) -> np.ndarray:
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _run(frame: object, cfg: PreprocessConfig, keep_stages: bool) -> Stages | Result:
    x = check_frame(frame)
    x0, y0, b = box_of(x.shape[0], x.shape[1], cfg)
    crop = x[y0 : y0 + b, x0 : x0 + b]  # (B,B,C) source dtype, a view
    downs = downscale(crop, cfg, convert=to_rgb255)
    gray = gray_bt601(downs[-1])
    mean, ink, strength = threshold(gray, cfg.radius, cfg.offset, cfg.gain)
    kept = clean_ink(ink, strength, cfg)
    reason = no_digit_reason(strength, kept, cfg)
    if reason is None:
        s = kept.shape[0]
        image = _finish(frame_mnist(kept, cfg.stroke) if cfg.framing else (kept if s == 28 else resample(kept, 28, 28)))
    else:
        image = None
    if not keep_stages:
        return Result(image=image, reason=reason)
    return Stages(
        box=(x0, y0, b), crop_source=crop, downscales=tuple(downs), gray=gray, mean=mean,
        ink=ink, strength=strength, kept=kept,
        image=image if image is not None else np.zeros((28, 28), np.float32), reason=reason,
    )


def preprocess(frame: np.ndarray, cfg: PreprocessConfig | None = None) -> Result:
    """Frame (H,W[,C]) -> Result: the (28,28) float32 model input, or the reason there is no digit."""
    return _run(frame, cfg or PreprocessConfig(), keep_stages=False)  # type: ignore[return-value]


def stages(frame: np.ndarray, cfg: PreprocessConfig | None = None) -> Stages:
    """Frame -> every intermediate of the pipeline (crop, downscales, gray, mean, ink, strength, output)."""
    return _run(frame, cfg or PreprocessConfig(), keep_stages=True)  # type: ignore[return-value]


def raw_input(image: np.ndarray) -> np.ndarray:
    """An MNIST-style image (white on black, any size) -> (28,28) float32: centre square, area-averaged, gray/255."""
    x = check_frame(image)
    x0, y0, b = box_of(x.shape[0], x.shape[1], PreprocessConfig(box=None))
    rgb = resample(x[y0 : y0 + b, x0 : x0 + b], 28, 28, convert=to_rgb255)  # (28,28,3) 0..255
    return _finish(gray_bt601(rgb) / 255.0)
