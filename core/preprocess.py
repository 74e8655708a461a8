"""Camera preprocessing: a frame (any size, RGB/RGBA/gray) -> the model's 28x28 input, or "no digit".

The one definition of the pipeline. `web/preprocess.js` ports it line for line and is checked against
`python -m core golden OUT` within 1e-5, so every step below is specified exactly. All arithmetic is
IEEE float64 (JS `Number`), each formula evaluated left to right as written (no fused multiply-add,
no library resampler, no reduction whose order matters), and only the final 28x28 becomes float32.
Coordinates: pixel i covers [i, i+1); its centre is i + 0.5. `floor` is Math.floor, `round(v)` is
floor(v + 0.5). `core/preprocess_reference.py` has the pixel-level steps as plain loops (tests use it).

1. Input -> RGB in 0..255 (float64). A frame is (H,W) or (H,W,1) gray, (H,W,3) RGB or (H,W,4) RGBA;
   dtype uint8 (v), uint16 (v / 257), float in [0,1] (v * 255) or bool (255 if true else 0).
   Gray g becomes R = G = B = g. RGBA is composited over white paper: with a = A / 255,
   c = C * a + 255 * (1 - a) for each of R, G, B. NaN/inf, values outside [0,1] (floats), other dtypes,
   other shapes, an empty frame or one larger than MAX_SIDE/MAX_PIXELS are refused (UserError).

2. The region searched. box None: the whole frame (x0 = y0 = 0, w = W, h = H). box a fraction: a square of
   side B = min(round(box * min(H, W)), H, W), at least 1; box_px (legacy): B = min(box_px, H, W).
   x0 = floor(center_x * W - B / 2), clamped to [0, W - B]; y0 likewise with center_y and H; w = h = B.
   Photos, uploads and snapshots search the whole frame; the live camera searches its box (`live_box`).

3. Find the digit (find on; off: the region itself is the crop of step 4, as the seed did).
   a. Find map: k = max(1, min(ceil(max(w, h) / find_size), min(w, h))); the region's top-left
      floor(h/k) x floor(w/k) blocks of k x k pixels, each the mean of its pixels' RGB (step 1): the sum
      of the block's pixels (row by row, left to right, acc = acc + v) divided by k*k. For uint8 RGB or
      gray frames every sum is an exact integer, so any order gives the same value.
   b. Gray (step 5a's formula), then paper darkness D (step 5b) with radius find_radius, then
      ink = D > find_offset and strength = min(1, D / gain) where ink, else 0.
   c. Printed lines (lines on): step 5c on the find map.
   d. Components (8-connected) of ink; drop those whose bounding box's longer side is < speck * the
      map's shorter side (noise, fibres). Each remaining component: bounding box (y0, y1, x0, x1,
      inclusive) and mass (sum of strength). Group them: repeatedly take the heaviest-first order (ties:
      the earlier-found), and merge the first pair (i < j) such that, with H = max of their heights,
      gx, gy the gaps between their boxes along x and y (0 when they overlap), either gx = 0 and
      gy <= 3 * group_gap * H (strokes stacked, like a 5's bar over its body) or gx <= group_gap * H and
      gy <= group_gap * H; the merged group has the union box and the summed mass; until no pair merges.
   e. Choose: among groups with height >= min_height * the map's shorter side, width <= 2.2 * height + 2
      and not spanning the whole map (height >= 0.98 * map height and width >= 0.98 * map width), the
      one with the largest mass * (1 - 0.6 * d), d = sqrt(dy * dy + dx * dx) / sqrt(0.5), dy and dx the
      offsets of the group's box centre from the map centre divided by the map's height and width; ties: the
      earlier group.
      None qualifies -> NO_INK when the map holds no ink (after 3c), else NOT_FOUND.
   f. Its box in frame pixels: Y0 = y0 + y0_map * k, Y1 = y0 + (y1_map + 1) * k (exclusive), X0, X1 alike.

4. The crop. Side C = max(8, ceil(max(Y1 - Y0, X1 - X0) * (1 + 2 * margin))); top-left
   (floor((X0 + X1) / 2 - C / 2), floor((Y0 + Y1) / 2 - C / 2)). Pixels outside the frame repeat the
   nearest edge pixel (coordinates clamped to the frame). Without find: the region itself (square).

5. The working image.
   a. Downscale the crop (area averaging, "pixel mixing"). resample(n -> m) along one axis: output j covers
      the source interval [a, b) with a = (j * n) / m and b = ((j + 1) * n) / m. For source pixels
      i = floor(a) .. ceil(b) - 1 (in increasing order), ov = min(b, i + 1) - max(a, i) and
      w = (ov * m) / n; out[j] = sum of w * src[i], accumulated from 0.0 as acc = acc + w * src[i].
      A 2-D resample is along x (each row) first, then along y (each column); channels independently.
      Multi-step: sizes s_1..s_k = `steps`. A crop at least twice s_1 is first averaged in blocks: with
      q = floor(C / s_1) >= 2, the crop's top-left floor(C/q) x floor(C/q) blocks of q x q pixels, each the
      mean of its pixels as in step 3a (the last C mod q rows and columns, under 1 % of a big crop, are
      left out); cur = floor(C/q) and the first step below always runs. Else cur = C. For each s_i before
      the last: if s_i < cur (or the blocks ran and i = 1), resample cur -> s_i (else skip it); then always
      resample cur -> s_k. S = s_k is the working size. (Averaging q x q blocks first costs a few integer
      sums per pixel instead of ceil(C / s_1) + 1 weighted float terms: a 1080p live frame 4 ms faster.)
      Single-step mode (comparison only): one plain bilinear resize C -> S: u = ((j + 0.5) * n) / m - 0.5,
      i0 = floor(u), f = u - i0, out[j] = (1 - f) * src[clamp(i0)] + f * src[clamp(i0 + 1)] (clamp to
      0..n-1; accumulated as 0.0 + w0*a + w1*b), x first, then y.
      Gray (BT.601), quantized to 1/64 of a gray level so that sums are exact in any order:
      g = floor(((0.299 * R + 0.587 * G) + 0.114 * B) * 64 + 0.5) / 64.
   b. Threshold. background "paper" (radius r, offset o, gain k, o and k fractions of the paper's
      brightness): m3 = the 3x3 in-bounds mean of g (step 5b of the seed's mean below with r = 1); P =
      closing of m3: pad m3 by 2r replicated pixels on every side, take the maximum over each
      (2r+1) x (2r+1) window (in-bounds of the padded image), then the minimum of that the same way, and
      keep the original area; the paper level L = the value at rank floor(0.75 * (n - 1)) of the n values
      of P in ascending order; D = (P - m3) / max(P, 16, paper_floor * L); ink = D > o; strength =
      min(1, D / k) where ink. (The floor keeps a dark desk or deep shade, far below the page's paper,
      from turning its texture and noise into ink.)
      Shadows scale paper and ink alike, so D does not change under them; a dark area running out of the
      view is not filled (the padding continues it). background "mean" (the seed's; o and k gray levels):
      mean = the sum of g over the in-bounds (2r+1)^2 window / its pixel count; ink = g < mean - o,
      strength = min(1, (mean - g) / k) where ink, else 0.
   c. Printed lines (lines on): line rows are found on faint = D > o / 2 ("mean": g < mean - o / 2). For
      each slope q = i / 36, i = -9..9 (tilts up to 14 degrees), and each column x, the row offset is
      s(x) = round(q * (x - (W - 1) / 2)); sheared row r holds the pixels (r + s(x), x) inside the map.
      near = faint, or faint in the row above or below (so a line lying between two tilts, drifting a row
      along its length, still counts once per column). A sheared row whose near pixels number
      >= line_frac * W is a line; it and the sheared rows just above and below mark their faint pixels.
      Marked ink pixels whose vertical run of ink (the pixel and its contiguous ink neighbours above and
      below) is <= 3 pixels tall are dropped (strength 0): a stroke crossing or running along the line is
      taller there and stays. The same on the transposed
      map drops near-vertical lines (runs measured horizontally).
   d. Clean-up by 8-connected components of the remaining ink. With find: drop every component with no
      pixel inside the found box mapped into the working image (rows floor(s * (Y0 - cy0)) ..
      ceil(s * (Y1 - cy0)) - 1, columns likewise, s = S / C, (cx0, cy0) the crop's top-left).
      drop_border_ink (legacy): drop every component touching the first/last row or column. Then drop the
      remaining components whose mass < min_part * the largest remaining mass. What is left is `kept`.

6. No digit (in this order; the reason instead of an image): sum of strength < min_ink * S * S -> NO_INK;
   sum of kept < min_ink * S * S -> EDGE_ONLY with drop_border_ink, else NOT_FOUND; kept all zero (only
   with min_ink = 0): no check when min_extent = 0 too (the seed always guessed), else EDGE_ONLY if
   strength has ink, NO_INK if not; bounding box of kept > 0 with its longer side < min_extent * S ->
   TOO_SMALL.

7. Framing (MNIST style: fit in 20x20 keeping aspect, centre of mass at the centre of 28x28).
   C = kept[y0..y1, x0..x1], the bounding box (rows y0..y1, columns x0..x1) of kept > 0.
   Stroke (stroke > 0; thin pens would give 1 px strokes, MNIST's are ~2 px in its 20 px box):
   A = number of C > 0 pixels; E = number of 4-neighbour pixel pairs inside C where exactly one is
   > 0, plus the > 0 pixels of C's first row, last row, first column and last column (each counted
   once per side it lies on); width = (2 * A) / E. k = floor(((stroke * max(h_C, w_C)) / 20 - width)
   / 2 + 0.5), clamped to 0..3. Repeat k times: C = the 3x3 maximum of C zero-padded by one pixel
   on every side: C'[y, x] = max of C[y - 2 + i, x - 2 + j] over i, j in 0..2 (0 outside C), for
   y = 0..h_C + 1, x = 0..w_C + 1, i.e. the box grows by one pixel per side each time.
   Fit: h, w = C's shape, L = max(h, w), nh = floor((20 * h) / L + 0.5), nw = floor((20 * w) / L + 0.5),
   each at least 1. P = resample (step 5a's formula) of C from (h, w) to (nh, nw): x first, then y.
   M = sum of P; cy = sum of (y + 0.5) * P[y, x] / M, cx = sum of (x + 0.5) * P[y, x] / M
   (only these two sums are order-dependent, at the 1e-15 level, and the output is continuous in them).
   Place P so its centre of mass lands on (14, 14): oy = 14 - cy, ox = 14 - cx;
   ty = floor(oy), fy = oy - ty; tx = floor(ox), fx = ox - tx. With P and Q zero outside their bounds:
   Q[y, X] = (1 - fx) * P[y, X - tx] + fx * P[y, X - tx - 1]   for each patch row y, X = 0..27;
   out[Y, X] = (1 - fy) * Q[Y - ty, X] + fy * Q[Y - ty - 1, X]  for Y = 0..27.
   Without framing: out = resample of kept from (S, S) to (28, 28) (a copy when S = 28).

8. Output: clip out to [0, 1], then float32  -> (28,28), white ink on black, as the model expects.

Defaults (`PreprocessConfig()`) were chosen on the tuning simulator, core.camera_set (seeds it never
reports on); core.eval_sim, written separately, reports (`python -m core bench recognition`).
`PreprocessConfig.legacy()` is the pipeline as shipped before the find step; `PreprocessConfig.seed()` the
seed's. A model's contract carries its settings (core.contract.resolve_preprocess).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from core.errors import UserError

MAX_SIDE = 20_000  # longest frame side accepted (a 200 MP photo is 16k x 12k)
MAX_PIXELS = 100_000_000  # larger frames are refused before any work is done
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
GRAY_QUANTUM = 64  # gray is rounded to 1/64 so window sums are exact in float64 in any order
LINE_SLOPES = tuple(i / 36 for i in range(-9, 10))  # rows per column: lines tilted up to 14 degrees (step 5c)
LINE_THICK = 3  # working pixels: ink at most this tall across a line is the line itself (step 5c)
PAPER_FLOOR = 16.0  # gray levels: darkness is relative to at least this much paper (step 5b)
BACKGROUNDS = ("paper", "mean")

NO_INK = "too little ink"
EDGE_ONLY = "ink only at the box edges"
TOO_SMALL = "ink too small to be a digit"
NOT_FOUND = "nothing like a digit found"
MAX_DILATIONS = 3  # framing thickens a stroke by at most 6 working pixels


@dataclass(frozen=True)
class PreprocessConfig:
    """Every parameter of the camera pipeline (the module docstring says how each is used)."""

    box: float | None = None  # region searched, a fraction of the frame's short side; None = the whole frame
    live_box: float = 0.6  # the box a live camera draws and searches (consumers pass box=live_box for it)
    box_px: int | None = None  # a fixed box in frame pixels: only PreprocessConfig.legacy() and seed() use it
    center_x: float = 0.5  # box centre as a fraction of the frame width
    center_y: float = 0.5  # box centre as a fraction of the frame height
    find: bool = True  # find the digit in the region (step 3); off: the region is the digit's crop
    find_size: int = 160  # the find map's longer side (at most): digits 12 % of a frame are ~15 px there
    find_radius: int = 8  # paper background radius on the find map (> half a marker stroke)
    find_offset: float = 0.07  # ink on the find map: darker than the paper by this fraction
    group_gap: float = 0.15  # strokes closer than this many digit heights are one digit (step 3d)
    min_height: float = 0.06  # a digit is at least this fraction of the region's short side tall
    speck: float = 0.03  # components shorter than this fraction of the find map's short side are noise
    margin: float = 0.2  # the crop adds this fraction of the digit's size on every side
    steps: tuple[int, ...] = (112, 56)  # side after each area step, the last is the working size S; at 56 thin
    #   strokes and small digits survive and framing shrinks them smoothly to 20 px (seed: 112, 56, 28)
    single_step: bool = False  # one plain bilinear resize to steps[-1] instead (aliases; for comparison)
    background: str = "paper"  # "paper": relative darkness against the local paper; "mean": the seed's
    radius: int = 5  # background window radius in working pixels (seed: 4, at S=28)
    offset: float = 0.07  # ink threshold: a fraction of the paper ("paper") or gray levels ("mean"; seed: 8)
    gain: float = 0.12  # darkness for full ink strength, same units as offset (seed: 20 gray levels)
    paper_floor: float = 0.6  # "paper": darkness is relative to at least this fraction of the image's paper level
    lines: bool = True  # remove printed lines (long, thin, straight) in both passes (step 5c)
    line_frac: float = 0.95  # a line crosses at least this fraction of the map
    drop_border_ink: bool = False  # legacy: remove ink components touching the crop's edge
    min_part: float = 0.05  # remove components lighter than this fraction of the heaviest one kept (specks)
    framing: bool = True  # MNIST framing: 20x20 fit + centre of mass at the centre
    stroke: float = 2.0  # framing thickens thin strokes toward this width in the 20 px box (MNIST's ~2; 0: off)
    min_ink: float = 0.005  # "no digit" below this ink mass, as a fraction of the working area (0: off)
    min_extent: float = 0.15  # "no digit" if the ink's bounding box is shorter than this fraction of S

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))
        problems = []
        for name in ("box", "live_box"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and 0 < v <= 1):
                problems.append(f"{name} must be a fraction of the frame's short side in (0, 1], got {v}")
        if self.box_px is not None and not 1 <= self.box_px <= MAX_SIDE:
            problems.append(f"box_px must be 1..{MAX_SIDE} pixels or None, got {self.box_px}")
        if not (0 <= self.center_x <= 1 and 0 <= self.center_y <= 1):
            problems.append("center_x and center_y must lie in [0, 1]")
        if not self.steps or any(not 1 <= s <= 4096 for s in self.steps):
            problems.append(f"steps must be 1..4096 pixels each, got {self.steps}")
        if not (16 <= self.find_size <= 1024 and 1 <= self.find_radius <= 64 and 0 <= self.radius <= 64):
            problems.append("find_size must be 16..1024, find_radius 1..64, radius 0..64")
        if self.background not in BACKGROUNDS:
            problems.append(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        top = 1.0 if self.background == "paper" else 255.0
        if not (math.isfinite(self.offset) and 0 <= self.offset < top and math.isfinite(self.gain)
                and 0 < self.gain <= top and 0 <= self.find_offset < 1):
            problems.append(f"offset must be in [0, {top:g}), gain in (0, {top:g}], find_offset in [0, 1)")
        if not 0 <= self.paper_floor <= 1:
            problems.append(f"paper_floor must be in [0, 1], got {self.paper_floor}")
        if not (0 <= self.group_gap <= 2 and 0 <= self.min_height <= 1 and 0 <= self.speck <= 1
                and 0 <= self.margin <= 2 and 0 < self.line_frac <= 1):
            problems.append("group_gap 0..2, min_height 0..1, speck 0..1, margin 0..2, line_frac in (0, 1]")
        if not (math.isfinite(self.stroke) and 0 <= self.stroke <= 20):
            problems.append(f"stroke must be 0..20, got {self.stroke}")
        if not (0 <= self.min_ink < 1 and 0 <= self.min_extent <= 1 and 0 <= self.min_part <= 1):
            problems.append("min_ink must be in [0, 1), min_extent and min_part in [0, 1]")
        if problems:
            raise UserError("preprocess config: " + "; ".join(problems))

    @classmethod
    def seed(cls) -> PreprocessConfig:
        """The seed's fixed pipeline: 140 px box, 140->112->56->28, mean threshold r=4, o=8, k=20, no framing."""
        return cls(box_px=140, find=False, steps=(112, 56, 28), background="mean", radius=4, offset=8.0,
                   gain=20.0, lines=False, drop_border_ink=False, min_part=0.0, framing=False, stroke=0.0,
                   min_ink=0.0, min_extent=0.0)

    @classmethod
    def legacy(cls) -> PreprocessConfig:
        """The pipeline as shipped before the find step: a fixed 140 px box, mean threshold, edge clean-up."""
        return cls(box_px=140, find=False, background="mean", radius=5, offset=14.0, gain=20.0, lines=False,
                   drop_border_ink=True, min_part=0.2)

    def live(self) -> PreprocessConfig:
        """These settings for a live camera frame: search the box it draws (live_box), not the whole frame."""
        return self if self.box_px is not None else replace(self, box=self.live_box)

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
class Found:
    """Step 3: the find map and what was found on it."""

    region: tuple[int, int, int, int]  # (x0, y0, w, h) searched, frame pixels
    k: int  # block size: one find-map pixel is k x k frame pixels
    gray: np.ndarray  # (fh,fw) float64 gray of the find map
    ink: np.ndarray  # (fh,fw) bool, after printed lines were removed
    lines: np.ndarray  # (fh,fw) bool: ink pixels removed as printed lines
    groups: tuple[tuple[int, int, int, int, float], ...]  # (y0, y1, x0, x1, mass) on the map, grouping order
    chosen: int | None  # index into groups, None when nothing qualifies

    def frame_box(self, i: int) -> tuple[int, int, int, int]:
        """Group i's box in frame pixels: (X0, Y0, X1, Y1), the end exclusive (step 3f)."""
        y0, y1, x0, x1, _ = self.groups[i]
        rx, ry = self.region[:2]
        return rx + x0 * self.k, ry + y0 * self.k, rx + (x1 + 1) * self.k, ry + (y1 + 1) * self.k


@dataclass(frozen=True)
class Stages:
    """Every intermediate of one frame, for the playground's filmstrip and the golden vectors."""

    found: Found | None  # step 3 (None with find off)
    box: tuple[int, int, int]  # (x0, y0, C): where the crop came from in the frame (it may reach outside)
    crop_source: np.ndarray  # (C,C,ch) the crop as given (frame dtype; `crop` converts it on demand)
    downscales: tuple[np.ndarray, ...]  # each (s,s,3) float64 RGB 0..255, in order; the last is (S,S,3)
    gray: np.ndarray  # (S,S) float64 0..255, multiples of 1/64
    background: np.ndarray  # (S,S) float64: the paper (closing) or the local mean
    ink: np.ndarray  # (S,S) bool, printed lines removed
    strength: np.ndarray  # (S,S) float64 in [0,1]
    kept: np.ndarray  # (S,S) float64 in [0,1]: the digit's components only
    image: np.ndarray  # (28,28) float32 in [0,1]: the model input (zeros when there is no digit)
    reason: str | None  # None, or why there is no digit

    @property
    def crop(self) -> np.ndarray:
        """(C,C,3) float64 RGB 0..255: step 1 applied to the crop (computed when asked: a photo's crop is big)."""
        return to_rgb255(self.crop_source)


@dataclass(frozen=True)
class Result:
    """The model input, or the reason there is none."""

    image: np.ndarray | None  # (28,28) float32 in [0,1]; None when there is no digit
    reason: str | None  # NO_INK, EDGE_ONLY, TOO_SMALL, NOT_FOUND or None
    box: tuple[int, int, int, int] | None = None  # the digit's box in the frame (X0, Y0, X1, Y1), when found


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


# ---------------------------------------------------------------- 2, 4, 5a. region, crop and area resampling


def region_of(h: int, w: int, cfg: PreprocessConfig) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the region searched inside an (h,w) frame (step 2)."""
    if cfg.box is None and cfg.box_px is None:
        return 0, 0, w, h
    b = min(cfg.box_px, h, w) if cfg.box_px is not None else max(1, min(math.floor(cfg.box * min(h, w) + 0.5), h, w))
    x0 = min(max(math.floor(cfg.center_x * w - b / 2), 0), w - b)
    y0 = min(max(math.floor(cfg.center_y * h - b / 2), 0), h - b)
    return x0, y0, b, b


def box_of(h: int, w: int, cfg: PreprocessConfig) -> tuple[int, int, int]:
    """(x0, y0, B) of the square target box a live camera draws for an (h,w) frame (its live settings)."""
    x0, y0, bw, bh = region_of(h, w, cfg.live() if cfg.box is None else cfg)
    return x0, y0, min(bw, bh)


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
    """The crop (C,C,ch) -> each step's (s,s,3) float64 RGB (step 5a); the last is the working image."""
    if cfg.single_step:
        return [resample(crop, cfg.steps[-1], cfg.steps[-1], convert, kind="bilinear")]
    sizes = list(cfg.steps)
    out: list[np.ndarray] = []
    cur, n = crop, crop.shape[0]
    q = n // sizes[0]
    if q >= 2:  # big crop: q x q block means first
        cur, n, convert = block_mean(crop, q), n // q, None
    for i, s in enumerate(sizes):
        if s < n or i == len(sizes) - 1 or (i == 0 and q >= 2):
            cur = resample(cur, s, s, convert if not out else None)
            out.append(cur)
            n = s
    return out


# ---------------------------------------------------------------- 5a-b. gray and threshold


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


def window_extreme(a: np.ndarray, r: int, fn) -> np.ndarray:
    """(H,W) -> the maximum (fn=np.maximum) or minimum of each in-bounds (2r+1)^2 window, separably."""
    out = a
    for axis in (0, 1):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")  # a replicated edge pixel changes no max or min: in-bounds windows
        acc = p[0:n] if axis == 0 else p[:, 0:n]
        for i in range(1, 2 * r + 1):
            acc = fn(acc, p[i : i + n] if axis == 0 else p[:, i : i + n])
        out = acc
    return out


def paper_closing(m3: np.ndarray, r: int) -> np.ndarray:
    """The paper under (H,W) gray: maximum then minimum over (2r+1)^2 windows of m3 extended by 2r
    replicated pixels on every side, cropped back (step 5b)."""
    p = np.pad(m3, 2 * r, mode="edge")
    c = window_extreme(window_extreme(p, r, np.maximum), r, np.minimum)
    return c[2 * r : 2 * r + m3.shape[0], 2 * r : 2 * r + m3.shape[1]]


def paper_level(paper: np.ndarray) -> float:
    """The image's paper level: the value at rank floor(0.75 * (n - 1)) of the n paper values, ascending."""
    flat = paper.ravel()
    k = math.floor(0.75 * (flat.size - 1))
    return float(np.partition(flat, k)[k])


def paper_darkness(gray: np.ndarray, radius: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(H,W) gray -> (paper, D): D = (paper - m3) / max(paper, PAPER_FLOOR, floor * paper level), m3 the 3x3
    mean (step 5b)."""
    m3 = local_mean(gray, 1)  # smooths sensor noise, which the maximum would otherwise pick up
    paper = paper_closing(m3, radius)
    least = max(PAPER_FLOOR, floor * paper_level(paper))
    return paper, (paper - m3) / np.maximum(paper, least)


def ink_map(gray: np.ndarray, cfg_background: str, radius: int, offset: float, gain: float,
            floor: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(H,W) gray -> (background, ink, strength, faint) by the chosen background (step 5b; faint: 5c)."""
    if cfg_background == "mean":
        mean, ink, strength = threshold(gray, radius, offset, gain)
        return mean, ink, strength, gray < mean - offset / 2
    paper, d = paper_darkness(gray, radius, floor)
    ink = d > offset
    return paper, ink, np.where(ink, np.minimum(1.0, d / gain), 0.0), d > offset / 2


# ---------------------------------------------------------------- 5c. printed lines


@functools.lru_cache(maxsize=64)
def _shears(w: int) -> np.ndarray:
    """(T, w) int row offset of each column for each slope in LINE_SLOPES (step 5c)."""
    xs = np.arange(w) - (w - 1) / 2
    return np.array([np.floor(q * xs + 0.5) for q in LINE_SLOPES], dtype=np.intp)


def line_pixels(faint: np.ndarray, frac: float) -> np.ndarray:
    """(H,W) bool: the faint pixels on near-horizontal printed lines, and on the sheared rows beside them."""
    h, w = faint.shape
    near = faint.copy()  # faint here or in the row above or below: a line between two tilts counts whole
    near[1:] |= faint[:-1]
    near[:-1] |= faint[1:]
    ny, nx = np.nonzero(near)
    out = np.zeros_like(faint)
    if ny.size < frac * w:
        return out
    span = h + 2 * w + 2
    shears = _shears(w)
    counts = np.array([np.bincount(ny - s[nx] + w, minlength=span) for s in shears])  # (T,span) per sheared row
    line = counts >= frac * w
    line = line | np.roll(line, 1, axis=1) | np.roll(line, -1, axis=1)  # the rows beside a line too
    ys, xs = np.nonzero(faint)
    rows = ys[None, :] - shears[:, xs] + w  # (T,n) sheared row of each faint pixel per tilt (offset so >= 0)
    hit = np.take_along_axis(line, rows, axis=1).any(axis=0)  # (n,) on a line at some tilt
    out[ys[hit], xs[hit]] = True
    return out


def run_length(ink: np.ndarray, axis: int) -> np.ndarray:
    """(H,W) int: the length of the run of ink along `axis` (0: vertical) through each pixel, 0 off ink."""
    a = ink if axis == 0 else ink.T
    n = a.shape[0]
    idx = np.arange(n)[:, None]
    before = np.maximum.accumulate(np.where(a, -1, idx), axis=0)  # last non-ink row at or above
    after = np.minimum.accumulate(np.where(a, n, idx)[::-1], axis=0)[::-1]  # first non-ink row at or below
    out = np.where(a, after - before - 1, 0)
    return out if axis == 0 else out.T


def remove_lines(ink: np.ndarray, strength: np.ndarray, faint: np.ndarray,
                 frac: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop printed lines (step 5c): -> (ink, strength, dropped), near-horizontal and near-vertical."""
    drop = (line_pixels(faint, frac) & (run_length(ink, 0) <= LINE_THICK)) | (
        line_pixels(faint.T, frac).T & (run_length(ink, 1) <= LINE_THICK))
    drop &= ink
    return ink & ~drop, np.where(drop, 0.0, strength), drop


# ---------------------------------------------------------------- 3d-e, 5d. components, groups, clean-up


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


def component_boxes(labels: np.ndarray, n: int, strength: np.ndarray) -> np.ndarray:
    """(n+1, 5) float64 per label: y0, y1, x0, x1 (inclusive) and mass; row 0 (background) unused."""
    out = np.zeros((n + 1, 5))
    out[:, 0] = out[:, 2] = np.inf
    out[:, 1] = out[:, 3] = -1
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    np.minimum.at(out[:, 0], lab, ys)
    np.maximum.at(out[:, 1], lab, ys)
    np.minimum.at(out[:, 2], lab, xs)
    np.maximum.at(out[:, 3], lab, xs)
    out[:, 4] = np.bincount(labels.ravel(), weights=strength.ravel(), minlength=n + 1)
    return out


def group_components(ink: np.ndarray, strength: np.ndarray, cfg: PreprocessConfig) -> list[list]:
    """Step 3d: [y0, y1, x0, x1, mass] of each group of nearby components (specks dropped), merged in order."""
    labels, n = label_components(ink)
    boxes = component_boxes(labels, n, strength)
    short = min(ink.shape)
    groups = [[int(b[0]), int(b[1]), int(b[2]), int(b[3]), float(b[4])] for b in boxes[1:]
              if max(b[1] - b[0], b[3] - b[2]) + 1 >= cfg.speck * short]
    g = cfg.group_gap
    while True:
        groups.sort(key=lambda c: -c[4])  # stable: ties keep their order
        pair = next(((i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))
                     if _near(groups[i], groups[j], g)), None)
        if pair is None:
            return groups
        i, j = pair
        a, b = groups[i], groups[j]
        groups[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
        del groups[j]


def _near(a: list, b: list, gap: float) -> bool:
    """Two boxes of one digit: stacked (x overlap, a short vertical gap) or close in both directions."""
    hgt = max(a[1] - a[0] + 1, b[1] - b[0] + 1)
    gy = max(b[0] - a[1], a[0] - b[1], 0)
    gx = max(b[2] - a[3], a[2] - b[3], 0)
    return (gx == 0 and gy <= 3 * gap * hgt) or (gx <= gap * hgt and gy <= gap * hgt)


def plausible(group: list, h: int, w: int, cfg: PreprocessConfig) -> bool:
    """Step 3e: tall enough, not far wider than tall, not the whole map."""
    gh, gw = group[1] - group[0] + 1, group[3] - group[2] + 1
    return gh >= cfg.min_height * min(h, w) and gw <= 2.2 * gh + 2 and not (gh >= 0.98 * h and gw >= 0.98 * w)


def choose(groups: list[list], h: int, w: int, cfg: PreprocessConfig) -> int | None:
    """Step 3e: the index of the most plausible single digit (mass weighted toward the centre), or None."""
    best, best_score = None, -1.0
    for i, c in enumerate(groups):
        if not plausible(c, h, w, cfg):
            continue
        dy, dx = ((c[0] + c[1] + 1) / 2 - h / 2) / h, ((c[2] + c[3] + 1) / 2 - w / 2) / w
        d = math.sqrt(dy * dy + dx * dx) / math.sqrt(0.5)
        score = c[4] * (1.0 - 0.6 * d)
        if score > best_score:
            best, best_score = i, score
    return best


def clean_ink(ink: np.ndarray, strength: np.ndarray, cfg: PreprocessConfig,
              keep: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Strength of the digit's components only (step 5d) -> (S,S) float64. keep: (y0, y1, x0, x1) exclusive
    ends, the found box in working pixels: components without a pixel inside it are dropped."""
    if not cfg.drop_border_ink and cfg.min_part == 0 and keep is None:
        return strength
    labels, n = label_components(ink)
    if n == 0:
        return strength
    mass = np.bincount(labels.ravel(), weights=strength.ravel(), minlength=n + 1)  # (n+1,) per component
    drop = np.zeros(n + 1, dtype=bool)
    if keep is not None:
        inside = np.zeros(n + 1, dtype=bool)
        y0, y1, x0, x1 = keep
        inside[np.unique(labels[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)])] = True
        drop |= ~inside
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
    """NO_INK, EDGE_ONLY, NOT_FOUND, TOO_SMALL or None (step 6)."""
    area = strength.shape[0] * strength.shape[1]
    if strength.sum() < cfg.min_ink * area:
        return NO_INK
    if kept.sum() < cfg.min_ink * area:
        return EDGE_ONLY if cfg.drop_border_ink else NOT_FOUND
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


# ---------------------------------------------------------------- 3a. the find map


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """(H,W,C) checked pixels -> (floor(H/k), floor(W/k), 3) float64 RGB: the mean of each k x k block (step 3a)."""
    h, w = x.shape[0] // k, x.shape[1] // k
    x = x[: h * k, : w * k]
    if k == 1:
        return to_rgb255(x)
    if x.dtype == np.uint8 and x.shape[2] != 4:  # integer sums: exact whatever the order
        rows = x[0::k].astype(np.uint32)  # (h, w*k, C): the k rows of each block, added
        for i in range(1, k):
            rows += x[i::k]
        acc = rows[:, 0::k].copy()  # (h, w, C): then the k columns
        for i in range(1, k):
            acc += rows[:, i::k]
        rgb = acc.astype(np.float64) / (k * k)
        return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb
    acc = None
    for dy in range(k):  # row by row, left to right, as the spec sums
        for dx in range(k):
            v = to_rgb255(x[dy::k, dx::k])
            acc = v if acc is None else acc + v
    return acc / (k * k)


def find_digits(x: np.ndarray, cfg: PreprocessConfig) -> Found:
    """Step 3 on a checked frame: the find map, its groups of ink and the one chosen as the digit."""
    rx, ry, rw, rh = region_of(x.shape[0], x.shape[1], cfg)
    k = max(1, min(math.ceil(max(rw, rh) / cfg.find_size), rw, rh))
    gray = gray_bt601(block_mean(x[ry : ry + rh, rx : rx + rw], k))  # (fh,fw)
    _, ink, strength, faint = ink_map(gray, "paper", cfg.find_radius, cfg.find_offset, cfg.gain, cfg.paper_floor)
    lines = np.zeros_like(ink)
    if cfg.lines:
        ink, strength, lines = remove_lines(ink, strength, faint, cfg.line_frac)
    groups = group_components(ink, strength, cfg)
    chosen = choose(groups, gray.shape[0], gray.shape[1], cfg)
    return Found((rx, ry, rw, rh), k, gray, ink, lines, tuple(tuple(g) for g in groups), chosen)


def crop_square(x: np.ndarray, cx: float, cy: float, side: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A (side,side,C) crop of x centred at (cx, cy), the nearest edge pixel repeated outside (step 4)."""
    x0, y0 = math.floor(cx - side / 2), math.floor(cy - side / 2)
    h, w = x.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + side <= w and y0 + side <= h:
        return x[y0 : y0 + side, x0 : x0 + side], (x0, y0, side)  # a view
    ys = np.clip(np.arange(y0, y0 + side), 0, h - 1)
    xs = np.clip(np.arange(x0, x0 + side), 0, w - 1)
    return x[ys[:, None], xs[None, :]], (x0, y0, side)


def digit_crop(x: np.ndarray, frame_box: tuple[int, int, int, int], margin: float):
    """Step 4: the square crop around a found box (X0, Y0, X1, Y1) -> (crop, (x0, y0, C))."""
    X0, Y0, X1, Y1 = frame_box
    side = max(8, math.ceil(max(Y1 - Y0, X1 - X0) * (1 + 2 * margin)))
    return crop_square(x, (X0 + X1) / 2, (Y0 + Y1) / 2, side)


# ---------------------------------------------------------------- the pipeline


def _finish(out: np.ndarray) -> np.ndarray:
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _digit(x: np.ndarray, crop: np.ndarray, where: tuple[int, int, int], cfg: PreprocessConfig,
           frame_box: tuple[int, int, int, int] | None, found: Found | None, keep_stages: bool) -> Stages | Result:
    """Steps 5-8 on one crop: working image, threshold, lines, clean-up, no-digit checks, framing."""
    downs = downscale(crop, cfg, convert=to_rgb255)
    gray = gray_bt601(downs[-1])
    background, ink, strength, faint = ink_map(gray, cfg.background, cfg.radius, cfg.offset, cfg.gain,
                                               cfg.paper_floor)
    if cfg.lines:
        ink, strength, _ = remove_lines(ink, strength, faint, cfg.line_frac)
    keep = None
    if frame_box is not None:
        s = gray.shape[0] / where[2]
        X0, Y0, X1, Y1 = frame_box
        keep = (math.floor(s * (Y0 - where[1])), math.ceil(s * (Y1 - where[1])),
                math.floor(s * (X0 - where[0])), math.ceil(s * (X1 - where[0])))
    kept = clean_ink(ink, strength, cfg, keep)
    reason = no_digit_reason(strength, kept, cfg)
    image = None
    if reason is None:
        S = kept.shape[0]
        image = _finish(frame_mnist(kept, cfg.stroke) if cfg.framing else (kept if S == 28 else resample(kept, 28, 28)))
    if not keep_stages:
        return Result(image=image, reason=reason, box=frame_box if reason is None else None)
    return Stages(found=found, box=where, crop_source=crop, downscales=tuple(downs), gray=gray, background=background,
                  ink=ink, strength=strength, kept=kept,
                  image=image if image is not None else np.zeros((28, 28), np.float32), reason=reason)


def _empty(found: Found, keep_stages: bool) -> Stages | Result:
    reason = NOT_FOUND if found.ink.any() else NO_INK
    if not keep_stages:
        return Result(image=None, reason=reason)
    z = np.zeros((0, 0))
    return Stages(found=found, box=(0, 0, 0), crop_source=np.zeros((0, 0, 3), np.uint8), downscales=(), gray=z,
                  background=z, ink=z.astype(bool), strength=z, kept=z, image=np.zeros((28, 28), np.float32),
                  reason=reason)


def _run(frame: object, cfg: PreprocessConfig, keep_stages: bool) -> Stages | Result:
    x = check_frame(frame)
    if not cfg.find:
        rx, ry, rw, rh = region_of(x.shape[0], x.shape[1], cfg)
        b = min(rw, rh)
        return _digit(x, x[ry : ry + b, rx : rx + b], (rx, ry, b), cfg, None, None, keep_stages)
    found = find_digits(x, cfg)
    if found.chosen is None:
        return _empty(found, keep_stages)
    box = found.frame_box(found.chosen)
    crop, where = digit_crop(x, box, cfg.margin)
    return _digit(x, crop, where, cfg, box, found, keep_stages)


def preprocess(frame: np.ndarray, cfg: PreprocessConfig | None = None) -> Result:
    """Frame (H,W[,C]) -> Result: the (28,28) float32 model input, or the reason there is no digit."""
    return _run(frame, cfg or PreprocessConfig(), keep_stages=False)  # type: ignore[return-value]


def stages(frame: np.ndarray, cfg: PreprocessConfig | None = None) -> Stages:
    """Frame -> every intermediate of the pipeline (find map, crop, downscales, gray, ink, kept, output)."""
    return _run(frame, cfg or PreprocessConfig(), keep_stages=True)  # type: ignore[return-value]


def raw_input(image: np.ndarray) -> np.ndarray:
    """An MNIST-style image (white on black, any size) -> (28,28) float32: centre square, area-averaged, gray/255."""
    x = check_frame(image)
    b = min(x.shape[0], x.shape[1])
    x0, y0 = (x.shape[1] - b) // 2, (x.shape[0] - b) // 2
    rgb = resample(x[y0 : y0 + b, x0 : x0 + b], 28, 28, convert=to_rgb255)  # (28,28,3) 0..255
    return _finish(gray_bt601(rgb) / 255.0)
