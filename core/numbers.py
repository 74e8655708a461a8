"""Read every digit in a frame: segment digit candidates, classify each, group them into lines, left to right.

Built on the single-digit pipeline (core.preprocess) and the model contract (core.inference.decide):

1. Find. The find step of core.preprocess (step 3: the find map, printed lines removed, strokes grouped) on the
   region searched, on a finer map (find_size) as a number's digits are smaller than a lone digit. Groups that
   are not long and flat (printed-line remnants, edges) are joined while within fragment_gap heights of each
   other (a faint digit broken up on the map). Plausible groups (tall enough, not the whole map; any width) that
   share rows (vertical overlap >= line_overlap of the shorter) and lie within line_reach heights of each other
   form a line region, which then takes in smaller groups in its rows and reach; the median group height is its
   digit height H (frame px).
2. Working image of each line region. The region plus pad * H on every side (clamped to the frame), averaged
   down so that H becomes work_height pixels: k x k block means (step 3a) when it shrinks at least twice, then
   area resampling (step 5a). A single digit's working image (a 1.4 x digit crop at 56 px) holds the digit
   ~40 px tall, so the threshold, line removal and framing below see digits at the scale they were set for.
   Gray, paper darkness and ink (step 5b), printed lines removed (5c), 8-connected components.
3. Segment. Components whose longer side is under speck * h (h: the working digit height, the 75th percentile of the
   heights of components at least 0.3 of the tallest, and at least min_scale * work_height) are noise. The others
   are joined into units, nearest pair first: two groups are one unit when their columns overlap or lie within
   join_gap * h, their rows lie within 0.5 * h, and the joined box is no wider than join_width * h (a 5's bar over
   its body, a 4 written in two strokes, a stroke the pen skipped). Each unit is read alone; a unit wider than
   cut_width * h may also be touching digits, cut into 2 (or round(width / (digit_width * h))) parts at the columns
   of least ink near the even cuts; neighbouring units within merge_gap * h (joined no wider than merge_width * h)
   may be one digit (a broken 0, a 5's lead-in). With a model, the options covering the line that give the largest
   sum of log probabilities of each digit read win, a cut or merge paying change_penalty nats; without one, units
   are read alone and cut when wider than split_width * h. Digits shorter than min_height * h or lighter than
   min_ink * (1.4 * work_height)^2 (the single-digit "too little ink" rule at the same scale) are dropped.
4. Classify. Each digit's ink alone (its components, cleaned of parts lighter than min_part of its heaviest,
   step 5d) is framed like MNIST (step 7) and goes through the model in one batch; the contract's rejection rule
   (an 11-output model's "not a digit", a confidence floor) drops candidates that are not digits.
5. Lines. Digits sorted by centre x; each joins the line whose last digit overlaps it most in rows (>= line_overlap
   of the shorter), else starts a line. Lines are read top to bottom (mean centre y), digits left to right;
   the text joins lines with one space.

Settings were set from the writing's geometry (digits >= 0.15 heights apart) and checked on eval_sim number photos
of MNIST *train* digits with seeds apart from the benchmark's; `python -m core bench numbers` reports on MNIST
test digits (the same simulator: see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from core.errors import UserError
from core.preprocess import (
    Found,
    PreprocessConfig,
    block_mean,
    check_frame,
    clean_ink,
    component_boxes,
    find_digits,
    frame_mnist,
    gray_bt601,
    ink_map,
    label_components,
    remove_lines,
    resample,
    to_rgb255,
)

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True)
class NumbersConfig:
    """How a frame's ink is cut into digits (the module docstring says how each is used)."""

    find_size: int = 320  # the find map's longer side: digits of a number (8-20 % of the short side) are
    #   20-48 map px at 1280x960, where a faint pencil stroke still darkens the blocks it crosses
    find_offset: float | None = None  # ink on the find map (None: the pipeline's find_offset)
    find_gap: float = 0.15  # strokes this close (heights) form one group on the find map
    fragment_gap: float = 0.5  # find-map groups this close (heights of the taller) mark one stretch of writing
    find_speck: float = 0.015  # find-map components shorter than this fraction of its short side are noise
    work_height: int = 40  # a digit's height in working pixels (the single-digit pipeline's: 56 px crop / 1.4)
    pad: float = 0.35  # a line region grows by this many digit heights on every side (paper around the ink)
    line_overlap: float = 0.5  # digits of one line share at least this fraction of the shorter one's rows
    line_reach: float = 1.5  # groups of one line region are at most this many digit heights apart
    speck: float = 0.1  # components shorter than this fraction of the digit height are noise
    join_gap: float = 0.06  # strokes overlapping in columns, or closer than this many heights, are one digit
    join_width: float = 1.05  # ... unless the joined digit would be wider than this many heights
    split_width: float = 1.25  # without a model: a group wider than this many heights is touching digits
    cut_width: float = 1.0  # with a model: a group wider than this many heights may be touching digits
    merge_gap: float = 0.1  # with a model: neighbouring groups this close (heights) may be one digit
    merge_width: float = 1.8  # ... at most this many heights wide
    change_penalty: float = 0.3  # nats a cut or a merge must gain over reading the groups as they are
    digit_width: float = 0.7  # a written digit's typical width in heights: how many touching digits a group holds
    min_height: float = 0.45  # a digit is at least this fraction of the line's digit height
    min_scale: float = 0.75  # the working digit height h is at least this fraction of work_height (the height the
    #   line region was scaled for): a faint line broken into short parts does not shrink h with them

    def __post_init__(self) -> None:
        checks = (16 <= self.find_size <= 1024, self.find_offset is None or 0 <= self.find_offset < 1,
                  0 <= self.find_gap <= 2, 0 <= self.fragment_gap <= 2, 0 <= self.find_speck <= 1,
                  8 <= self.work_height <= 200, 0 <= self.pad <= 2, 0 < self.line_overlap <= 1,
                  0 < self.line_reach <= 10, 0 <= self.speck < 1, 0 <= self.join_gap <= 1,
                  0 < self.join_width < self.split_width <= 10, 0 < self.cut_width <= 10, 0 <= self.merge_gap <= 1,
                  0 < self.merge_width <= 10, 0 <= self.change_penalty <= 10, 0 < self.digit_width <= 2,
                  0 <= self.min_height <= 1, 0 <= self.min_scale <= 2)
        if not all(checks):
            raise UserError("numbers config: a value is out of range (see core.numbers.NumbersConfig)")


@dataclass(frozen=True)
class Candidate:
    """One digit candidate: where it is and the model input made of its ink."""

    box: Box  # its ink's box in frame pixels
    image: np.ndarray  # (28,28) float32 in [0,1], MNIST-framed
    line: int  # index of its line region (step 1)


@dataclass(frozen=True)
class LineRegion:
    """One line region of step 2, with what was cut from it (for the Playground's segmentation stage)."""

    box: Box  # the region in frame pixels (padded, clamped)
    height: float  # the digit height H it was scaled for, frame pixels
    strength: np.ndarray  # (h,w) float64 ink strength of its working image, printed lines removed
    digit_boxes: tuple[tuple[int, int, int, int], ...]  # (y0, y1, x0, x1) inclusive, working pixels, per digit


@dataclass(frozen=True)
class Segmentation:
    """Everything cut from one frame: the find step, the line regions and the candidates in reading order."""

    found: Found
    regions: tuple[LineRegion, ...]
    lines: tuple[tuple[Candidate, ...], ...]  # top to bottom, each left to right

    @property
    def candidates(self) -> list[Candidate]:
        return [c for line in self.lines for c in line]


# ---------------------------------------------------------------- 1. line regions on the find map


def _rows_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Shared rows of [a0, a1] and [b0, b1] (inclusive) as a fraction of the shorter span."""
    return max(0.0, min(a1, b1) - max(a0, b0) + 1) / max(1.0, min(a1 - a0, b1 - b0) + 1)


def line_regions(found: Found, cfg: PreprocessConfig, ncfg: NumbersConfig) -> list[tuple[Box, float]]:
    """Step 1: [((x, y, w, h) frame box of the groups' ink, digit height H in frame px)] of each line region."""
    fh, fw = found.gray.shape
    whole = [g for g in found.groups if not (g[1] - g[0] + 1 >= 0.98 * fh and g[3] - g[2] + 1 >= 0.98 * fw)]
    whole = _join_fragments(whole, ncfg.fragment_gap)
    seeds = [g for g in whole if g[1] - g[0] + 1 >= cfg.min_height * min(fh, fw)]
    clusters = [[g] for g in seeds]
    merged = True
    while merged:  # join clusters that share rows and lie close in columns, until none do
        merged = False
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                if any(_same_line(a, b, ncfg) for a in clusters[i] for b in clusters[j]):
                    clusters[i] += clusters.pop(j)
                    merged = True
                    break
            if merged:
                break
    out = []
    k, (rx, ry) = found.k, found.region[:2]
    rest = [g for g in whole if g not in seeds]
    for c in clusters:
        hgt = float(np.median([g[1] - g[0] + 1 for g in c]))
        y0, y1 = min(g[0] for g in c), max(g[1] for g in c)
        x0, x1 = min(g[2] for g in c), max(g[3] for g in c)
        grown = True
        while grown:  # smaller groups in the line's rows and reach join it: faint digits broken up on the map
            grown = False
            for g in rest:
                if g[1] - g[0] + 1 < 0.2 * hgt or g[3] - g[2] + 1 > 1.5 * hgt:
                    continue  # a speck, or long and flat: what is left of a printed line or an edge
                near = max(g[2] - x1, x0 - g[3], 0) <= ncfg.line_reach * hgt
                if near and _rows_overlap(y0, y1, g[0], g[1]) >= ncfg.line_overlap and not (
                        x0 <= g[2] and g[3] <= x1 and y0 <= g[0] and g[1] <= y1):
                    y0, y1, x0, x1 = min(y0, g[0]), max(y1, g[1]), min(x0, g[2]), max(x1, g[3])
                    grown = True
        height = hgt * k
        out.append(((rx + x0 * k, ry + y0 * k, (x1 - x0 + 1) * k, (y1 - y0 + 1) * k), height))
    return out


def _join_fragments(groups: list, gap: float) -> list[tuple]:
    """Find-map groups that are not long and flat (printed-line remnants, edges), joined while two lie within
    gap * the taller one's height in both directions: a faint digit the map broke into pieces comes together."""
    flat = [tuple(g) for g in groups if g[3] - g[2] + 1 > 4 * (g[1] - g[0] + 1) + 2]
    out = [list(g) for g in groups if tuple(g) not in flat]
    joined = True
    while joined:
        joined = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                h = max(a[1] - a[0] + 1, b[1] - b[0] + 1)
                if max(b[2] - a[3], a[2] - b[3], 0) <= gap * h and max(b[0] - a[1], a[0] - b[1], 0) <= gap * h:
                    out[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
                    del out[j]
                    joined = True
                    break
            if joined:
                break
    return [tuple(g) for g in out] + flat


def _same_line(a: tuple, b: tuple, ncfg: NumbersConfig) -> bool:
    h = max(a[1] - a[0] + 1, b[1] - b[0] + 1)
    gx = max(b[2] - a[3], a[2] - b[3], 0)
    return _rows_overlap(a[0], a[1], b[0], b[1]) >= ncfg.line_overlap and gx <= ncfg.line_reach * h


# ---------------------------------------------------------------- 2. a line region's working image


def working_strength(x: np.ndarray, box: Box, height: float, cfg: PreprocessConfig,
                     ncfg: NumbersConfig) -> tuple[np.ndarray, np.ndarray, Box]:
    """Step 2: (ink (h,w) bool, strength (h,w) float64, the padded region (x, y, w, h)) for one line region."""
    H, W = x.shape[:2]
    bx, by, bw, bh = box
    p = ncfg.pad * height
    X0, Y0 = max(0, math.floor(bx - p)), max(0, math.floor(by - p))
    X1, Y1 = min(W, math.ceil(bx + bw + p)), min(H, math.ceil(by + bh + p))
    f = ncfg.work_height / height  # working px per frame px
    th, tw = max(1, round((Y1 - Y0) * f)), max(1, round((X1 - X0) * f))
    part = x[Y0:Y1, X0:X1]
    q = math.floor(1 / f)
    if q >= 2 and part.shape[0] >= 2 * q and part.shape[1] >= 2 * q:  # shrinking a lot: block means first
        rgb = resample(block_mean(part, q), th, tw)
    else:
        rgb = resample(part, th, tw, convert=to_rgb255)
    gray = gray_bt601(rgb)
    _, ink, strength, faint = ink_map(gray, cfg.background, cfg.radius, cfg.offset, cfg.gain, cfg.paper_floor)
    if cfg.lines:
        ink, strength, _ = remove_lines(ink, strength, faint, cfg.line_frac)
    return ink, strength, (X0, Y0, X1 - X0, Y1 - Y0)


# ---------------------------------------------------------------- 3. components -> digits


def _digit_height(boxes: np.ndarray) -> float:
    """The working digit height: the 75th percentile of the heights of components >= 0.3 of the tallest."""
    hs = boxes[:, 1] - boxes[:, 0] + 1
    tall = hs[hs >= 0.3 * hs.max()]
    return float(np.percentile(tall, 75))


def _joinable(a: list, b: list, h: float, ncfg: NumbersConfig) -> float | None:
    """The column gap between groups a and b ([y0, y1, x0, x1, mass, ids]) when they may be one digit, else None."""
    gx = max(b[2] - a[3], a[2] - b[3], 0) if not (a[2] <= b[3] and b[2] <= a[3]) else -1
    gy = max(b[0] - a[1], a[0] - b[1], 0)
    width = max(a[3], b[3]) - min(a[2], b[2]) + 1
    if gx <= ncfg.join_gap * h and gy <= 0.5 * h and width <= ncfg.join_width * h:
        return gx
    return None


def join_components(boxes: np.ndarray, ids: list[int], h: float, ncfg: NumbersConfig) -> list[list]:
    """Step 3: components (boxes rows y0, y1, x0, x1, mass) -> groups [y0, y1, x0, x1, mass, [ids]], joined
    nearest pair first (ties: the earlier pair) while any pair may be one digit."""
    groups = [[*(int(v) for v in boxes[i, :4]), float(boxes[i, 4]), [i]] for i in ids]
    while True:
        best, pair = None, None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                g = _joinable(groups[i], groups[j], h, ncfg)
                if g is not None and (best is None or g < best):
                    best, pair = g, (i, j)
        if pair is None:
            return groups
        a, b = groups[pair[0]], groups[pair[1]]
        groups[pair[0]] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4], a[5] + b[5]]
        del groups[pair[1]]


def split_columns(column_ink: np.ndarray, parts: int) -> list[int]:
    """Cut columns of a group of `parts` touching digits: the least-ink column within a third of a digit's width
    of each even cut (ties: the one nearest the even cut). -> parts - 1 increasing column indices."""
    w = column_ink.size
    cuts, lo = [], 1
    for i in range(1, parts):
        even = i * w / parts
        reach = w / parts / 3
        a, b = max(lo, math.floor(even - reach)), min(w - 1, math.ceil(even + reach))
        if a >= b:
            cuts.append(min(max(lo, round(even)), w - 1))
        else:
            cols = np.arange(a, b)
            key = column_ink[a:b] + 1e-9 * np.abs(cols - even)  # the emptiest; ties: nearest the even cut
            cuts.append(int(cols[np.argmin(key)]))
        lo = cuts[-1] + 1
    return cuts


@dataclass(frozen=True)
class Piece:
    """A digit candidate cut from one working image: its box (y0, y1, x0, x1 inclusive) and its ink alone."""

    box: tuple[int, int, int, int]
    kept: np.ndarray  # (y1-y0+1, x1-x0+1) float64 strength of this candidate's components only, over its box
    image: np.ndarray  # (28,28) float32 in [0,1]: kept, MNIST-framed (step 7), the model's input


def _piece(labels: np.ndarray, strength: np.ndarray, ids: list[int], rows: tuple[int, int], cols: tuple[int, int],
           h: float, cfg: PreprocessConfig, ncfg: NumbersConfig) -> Piece | None:
    """The ink of components `ids` within rows [r0, r1) and columns [c0, c1) (their box, or part of it), cleaned
    (step 5d); None when it is no digit (step 3)."""
    (r0, r1), (c0, c1) = rows, cols
    part = np.isin(labels[r0:r1, c0:c1], ids)  # (r1-r0, c1-c0)
    kept = clean_ink(part, np.where(part, strength[r0:r1, c0:c1], 0.0), cfg)
    rs, cs = np.flatnonzero(kept.any(axis=1)), np.flatnonzero(kept.any(axis=0))
    if rs.size == 0 or rs[-1] - rs[0] + 1 < ncfg.min_height * h or kept.sum() < cfg.min_ink * (
            1.4 * ncfg.work_height) ** 2:
        return None
    kept = kept[rs[0] : rs[-1] + 1, cs[0] : cs[-1] + 1]
    image = np.clip(frame_mnist(kept, cfg.stroke), 0.0, 1.0).astype(np.float32)
    return Piece((int(r0 + rs[0]), int(r0 + rs[-1]), int(c0 + cs[0]), int(c0 + cs[-1])), kept, image)


def _cut(labels: np.ndarray, strength: np.ndarray, g: list, parts: int, h: float, cfg: PreprocessConfig,
         ncfg: NumbersConfig) -> list[Piece] | None:
    """Group g cut into `parts` touching digits at its emptiest columns; None when a part is no digit."""
    x0, x1 = g[2], g[3] + 1
    col_ink = np.where(np.isin(labels[:, x0:x1], g[5]), strength[:, x0:x1], 0.0).sum(axis=0)
    edges = [0, *split_columns(col_ink, parts), x1 - x0]
    out = [_piece(labels, strength, g[5], (g[0], g[1] + 1), (x0 + edges[i], x0 + edges[i + 1]), h, cfg, ncfg)
           for i in range(parts)]
    return None if any(p is None for p in out) else out  # type: ignore[return-value]


def region_options(ink: np.ndarray, strength: np.ndarray, cfg: PreprocessConfig,
                   ncfg: NumbersConfig) -> tuple[int, list[tuple[int, int, list[Piece]]], float]:
    """Steps 3-4 on one working image -> (number of units, options). A unit is a group of joined components
    (left to right); an option (i, j, pieces) reads units i..j-1 as these digits: a unit alone, a unit cut as
    touching digits, or neighbouring units within merge_gap heights read as one digit. The geometric choice
    (`choose_geometric`) or the model (`choose_by_model`) picks one option per stretch of units. Also returns the
    working digit height h."""
    labels, n = label_components(ink)
    if n == 0:
        return 0, [], 0.0
    boxes = component_boxes(labels, n, strength)  # (n+1,5); row 0 unused
    h = max(_digit_height(boxes[1:]), ncfg.min_scale * ncfg.work_height)  # faint strokes break into short parts
    ids = [i for i in range(1, n + 1)
           if max(boxes[i, 1] - boxes[i, 0], boxes[i, 3] - boxes[i, 2]) + 1 >= ncfg.speck * h]
    units = sorted(join_components(boxes, ids, h, ncfg), key=lambda g: (g[2], g[3]))
    options: list[tuple[int, int, list[Piece]]] = []
    for i, g in enumerate(units):
        alone = _piece(labels, strength, g[5], (g[0], g[1] + 1), (g[2], g[3] + 1), h, cfg, ncfg)
        options.append((i, i + 1, [alone] if alone is not None else []))
        width = g[3] - g[2] + 1
        if width > ncfg.cut_width * h:
            for parts in sorted({2, max(2, round(width / (ncfg.digit_width * h)))}):
                cut = _cut(labels, strength, g, parts, h, cfg, ncfg)
                if cut is not None:
                    options.append((i, i + 1, cut))
        for j in range(i + 1, min(i + 3, len(units))):  # units i..j read as one digit
            a, b = units[j - 1], units[j]
            span = units[i : j + 1]
            y0, y1 = min(u[0] for u in span), max(u[1] for u in span)
            x0, x1 = min(u[2] for u in span), max(u[3] for u in span)
            if b[2] - a[3] - 1 > ncfg.merge_gap * h or x1 - x0 + 1 > ncfg.merge_width * h:
                break
            merged = _piece(labels, strength, [c for u in span for c in u[5]], (y0, y1 + 1), (x0, x1 + 1), h, cfg, ncfg)
            if merged is not None:
                options.append((i, j + 1, [merged]))
    return len(units), options, h


def choose_geometric(n: int, options: list, h: float, ncfg: NumbersConfig) -> list[Piece]:
    """Without a model: each unit alone, cut (into the most parts offered) when wider than split_width heights."""
    out = []
    for i in range(n):
        mine = [o[2] for o in options if o[0] == i and o[1] == i + 1]
        alone, cuts = mine[0], mine[1:]
        wide = alone and alone[0].box[3] - alone[0].box[2] + 1 > ncfg.split_width * h
        out += cuts[-1] if wide and cuts else alone
    return out


def choose_by_model(n: int, options: list, score: dict[int, float], ncfg: NumbersConfig) -> list[Piece]:
    """The options covering units 0..n-1 left to right with the largest total score: the sum of each digit's log
    probability (score, by id of the piece), a cut or a merge paying its penalty (nats)."""
    best: list[tuple[float, list[Piece]] | None] = [None] * (n + 1)
    best[0] = (0.0, [])
    for i in range(n):
        if best[i] is None:
            continue
        for a, b, pieces in options:
            if a != i:
                continue
            alone = b == a + 1 and len(pieces) <= 1
            total = best[i][0] + sum(score[id(p)] for p in pieces) - (0.0 if alone else ncfg.change_penalty)
            if best[b] is None or total > best[b][0]:
                best[b] = (total, best[i][1] + pieces)
    return best[n][1] if best[n] is not None else []


# ---------------------------------------------------------------- 5. lines


def group_lines(boxes: list[Box], overlap: float) -> list[list[int]]:
    """Indices of frame boxes (x, y, w, h) grouped into lines: by centre x, each joins the line whose last box
    shares the most rows with it (>= overlap of the shorter; ties: the earlier line), else starts one. Lines come
    top to bottom (mean centre y), each left to right."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0] + boxes[i][2] / 2, boxes[i][1]))
    lines: list[list[int]] = []
    for i in order:
        x, y, w, h = boxes[i]
        best, best_ov = None, overlap
        for li, line in enumerate(lines):
            _, ly, _, lh = boxes[line[-1]]
            ov = _rows_overlap(y, y + h - 1, ly, ly + lh - 1)
            if ov >= best_ov and (best is None or ov > best_ov):
                best, best_ov = li, ov
        if best is None:
            lines.append([i])
        else:
            lines[best].append(i)
    return sorted(lines, key=lambda line: float(np.mean([boxes[i][1] + boxes[i][3] / 2 for i in line])))


# ---------------------------------------------------------------- the whole frame


def segment(frame: np.ndarray, cfg: PreprocessConfig | None = None, ncfg: NumbersConfig | None = None,
            model=None) -> Segmentation:
    """Frame (H,W[,C]) -> every digit candidate, grouped into lines in reading order. With a model, where strokes
    could be one digit or two (a broken 0, a 5's lead-in, touching digits) its reading decides (step 3)."""
    cfg, ncfg = cfg or PreprocessConfig(), ncfg or NumbersConfig()
    x = check_frame(frame)
    found = find_digits(x, replace(cfg, find_size=ncfg.find_size, group_gap=ncfg.find_gap, speck=ncfg.find_speck,
                                   find_offset=cfg.find_offset if ncfg.find_offset is None else ncfg.find_offset))
    per_region = []
    for box, height in line_regions(found, cfg, ncfg):
        ink, strength, where = working_strength(x, box, height, cfg, ncfg)
        per_region.append((where, height, strength, *region_options(ink, strength, cfg, ncfg)))  # ..., n, opts, h
    score: dict[int, float] = {}
    if model is not None:
        pieces = [p for *_, opts, _ in per_region for o in opts for p in o[2]]
        if pieces:
            z = model.logits(np.stack([p.image for p in pieces])).astype(np.float64)  # (N,K)
            z = z / float((model.contract.get("rejection") or {}).get("temperature", 1.0))
            logp = z - z.max(1, keepdims=True)
            logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))  # (N,K) log softmax
            score = {id(p): float(v) for p, v in zip(pieces, logp[:, :10].max(1), strict=True)}
    regions, cands = [], []
    for li, ((X0, Y0, RW, RH), height, strength, n, opts, h) in enumerate(per_region):
        chosen = choose_by_model(n, opts, score, ncfg) if model is not None else choose_geometric(n, opts, h, ncfg)
        sy, sx = RH / strength.shape[0], RW / strength.shape[1]  # frame px per working px
        regions.append(LineRegion((X0, Y0, RW, RH), height, strength, tuple(p.box for p in chosen)))
        for p in chosen:
            y0, y1, x0, x1 = p.box
            fx0, fy0 = X0 + math.floor(x0 * sx), Y0 + math.floor(y0 * sy)
            fbox = (fx0, fy0, X0 + math.ceil((x1 + 1) * sx) - fx0, Y0 + math.ceil((y1 + 1) * sy) - fy0)
            cands.append(Candidate(fbox, p.image, li))
    lines = group_lines([c.box for c in cands], ncfg.line_overlap)
    return Segmentation(found, tuple(regions), tuple(tuple(cands[i] for i in line) for line in lines))


def read_digits(frame: np.ndarray, model, cfg: PreprocessConfig | None = None,
                ncfg: NumbersConfig | None = None) -> dict:
    """Frame -> {"text": digits read, lines joined by one space ("" when none), "digits": [{digit, confidence,
    box: [x, y, w, h]}] in reading order}. Candidates the contract's rule rejects are left out."""
    from core.inference import decide

    seg = segment(frame, cfg, ncfg, model)
    cands = seg.candidates
    if not cands:
        return {"text": "", "digits": []}
    answers = iter(decide(model.logits(np.stack([c.image for c in cands])), model.contract.get("rejection")))
    words, digits = [], []
    for line in seg.lines:
        word = ""
        for c in line:
            a = next(answers)
            if a.digit is None:
                continue
            word += str(a.digit)
            digits.append({"digit": a.digit, "confidence": a.confidence, "box": list(c.box)})
        if word:
            words.append(word)
    return {"text": " ".join(words), "digits": digits}
