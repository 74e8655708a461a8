"""The camera pipeline of core.preprocess as plain Python loops, one pixel at a time.

Written straight from core.preprocess's docstring, step by step, with no NumPy arithmetic, so the
vectorized pipeline can be checked against it (tests) and timed against it (`bench preprocess`).
It is slow by design; never use it for real frames. Same inputs, same outputs, bit for bit, except
the centre-of-mass and component-mass sums, whose order differs (about 1e-15).
"""

from __future__ import annotations

import math

import numpy as np

from core.preprocess import (
    EDGE_ONLY,
    GRAY_QUANTUM,
    GRAY_WEIGHTS,
    LINE_SLOPES,
    LINE_THICK,
    NO_INK,
    NOT_FOUND,
    PAPER_FLOOR,
    TOO_SMALL,
    PreprocessConfig,
    check_frame,
)

Grid = list[list[float]]


def pixel_rgb(px: np.ndarray) -> tuple[float, float, float]:
    """One pixel (C,) of a checked frame -> (R, G, B) floats 0..255 (step 1)."""
    vals = []
    for v in px.tolist():
        if px.dtype == np.uint8:
            vals.append(float(v))
        elif px.dtype == np.uint16:
            vals.append(v / 257.0)
        elif px.dtype == np.bool_:
            vals.append(255.0 if v else 0.0)
        else:
            vals.append(float(v) * 255.0)
    if len(vals) == 1:
        return vals[0], vals[0], vals[0]
    if len(vals) == 4:
        a = vals[3] / 255.0
        return tuple(c * a + 255.0 * (1.0 - a) for c in vals[:3])  # type: ignore[return-value]
    return vals[0], vals[1], vals[2]


def region(h: int, w: int, cfg: PreprocessConfig) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the region searched (step 2)."""
    if cfg.box is None and cfg.box_px is None:
        return 0, 0, w, h
    if cfg.box_px is not None:
        b = min(cfg.box_px, h, w)
    else:
        b = max(1, min(math.floor(cfg.box * min(h, w) + 0.5), h, w))
    x0 = min(max(math.floor(cfg.center_x * w - b / 2), 0), w - b)
    y0 = min(max(math.floor(cfg.center_y * h - b / 2), 0), h - b)
    return x0, y0, b, b


def resample_line(src: list[float], m: int) -> list[float]:
    """Area resample of one line, n -> m (step 3)."""
    n = len(src)
    out = []
    for j in range(m):
        a = (j * n) / m
        b = ((j + 1) * n) / m
        acc = 0.0
        for i in range(math.floor(a), math.ceil(b)):
            ov = min(b, i + 1) - max(a, i)
            w = (ov * m) / n
            acc = acc + w * src[i]
        out.append(acc)
    return out


def bilinear_line(src: list[float], m: int) -> list[float]:
    """Plain bilinear resample of one line, n -> m (single-step mode)."""
    n = len(src)
    out = []
    for j in range(m):
        u = ((j + 0.5) * n) / m - 0.5
        i0 = math.floor(u)
        f = u - i0
        a = src[min(max(i0, 0), n - 1)]
        b = src[min(max(i0 + 1, 0), n - 1)]
        acc = 0.0
        acc = acc + (1.0 - f) * a
        acc = acc + f * b
        out.append(acc)
    return out


def resample_grid(g: Grid, h: int, w: int, line=resample_line) -> Grid:
    """(H,W) nested lists -> (h,w): each row along x first, then each column along y."""
    rows = [line(row, w) for row in g]
    cols = [line([rows[y][x] for y in range(len(rows))], h) for x in range(w)]
    return [[cols[x][y] for x in range(w)] for y in range(h)]


def downscale_planes(planes: list[Grid], cfg: PreprocessConfig) -> list[list[Grid]]:
    """Three (B,B) channel planes -> the planes after each downscale step (step 3)."""
    s_last = cfg.steps[-1]
    if cfg.single_step:
        return [[resample_grid(p, s_last, s_last, bilinear_line) for p in planes]]
    out = []
    cur = planes
    n = len(planes[0])
    q = n // cfg.steps[0]
    if q >= 2:  # a big crop: q x q block means first, summed row by row, left to right
        m = n // q
        cur = [[[sum(p[y * q + dy][x * q + dx] for dy in range(q) for dx in range(q)) / (q * q) for x in range(m)]
                for y in range(m)] for p in planes]
        n = m
    for i, s in enumerate(cfg.steps):
        if s < n or i == len(cfg.steps) - 1 or (i == 0 and q >= 2):
            cur = [resample_grid(p, s, s) for p in cur]
            out.append(cur)
            n = s
    return out


def gray_grid(rgb: list[Grid]) -> Grid:
    """BT.601 gray, rounded to 1/64 (step 4)."""
    wr, wg, wb = GRAY_WEIGHTS
    r, g, b = rgb
    n, m = len(r), len(r[0])
    return [[math.floor((wr * r[y][x] + wg * g[y][x] + wb * b[y][x]) * GRAY_QUANTUM + 0.5) / GRAY_QUANTUM
             for x in range(m)] for y in range(n)]


def threshold_grid(gray: Grid, radius: int, offset: float, gain: float) -> tuple[Grid, list[list[bool]], Grid]:
    """Local mean over the in-bounds window, ink and strength, one window at a time (step 5)."""
    h, w = len(gray), len(gray[0])
    mean, ink, strength = [], [], []
    for y in range(h):
        mrow, irow, srow = [], [], []
        for x in range(w):
            total, count = 0.0, 0
            for yy in range(max(0, y - radius), min(h - 1, y + radius) + 1):
                for xx in range(max(0, x - radius), min(w - 1, x + radius) + 1):
                    total += gray[yy][xx]
                    count += 1
            m = total / count
            is_ink = gray[y][x] < m - offset
            mrow.append(m)
            irow.append(is_ink)
            srow.append(min(1.0, (m - gray[y][x]) / gain) if is_ink else 0.0)
        mean.append(mrow)
        ink.append(irow)
        strength.append(srow)
    return mean, ink, strength


def block_mean_grid(x: np.ndarray, rx: int, ry: int, rw: int, rh: int, k: int) -> list[Grid]:
    """The find map's three planes: each k x k block's RGB summed row by row, left to right, / k*k (step 3a)."""
    fh, fw = rh // k, rw // k
    planes = [[[0.0] * fw for _ in range(fh)] for _ in range(3)]
    for y in range(fh):
        for xx in range(fw):
            acc = [0.0, 0.0, 0.0]
            for dy in range(k):
                for dx in range(k):
                    px = pixel_rgb(x[ry + y * k + dy, rx + xx * k + dx])
                    acc = [acc[c] + px[c] for c in range(3)]
            for c in range(3):
                planes[c][y][xx] = acc[c] / (k * k)
    return planes


def window_extreme_grid(g: Grid, r: int, pick) -> Grid:
    """The max (pick=max) or min over each in-bounds (2r+1)^2 window."""
    h, w = len(g), len(g[0])
    return [[pick(g[yy][xx] for yy in range(max(0, y - r), min(h - 1, y + r) + 1)
                  for xx in range(max(0, x - r), min(w - 1, x + r) + 1)) for x in range(w)] for y in range(h)]


def paper_grid(gray: Grid, r: int, floor: float = 0.0) -> tuple[Grid, Grid]:
    """(paper, D): the closing of the 3x3 mean on the gray extended by 2r edge pixels, D relative (step 5b)."""
    h, w = len(gray), len(gray[0])
    m3, _, _ = threshold_grid(gray, 1, 0.0, 1.0)
    e = 2 * r
    ext = [[m3[min(max(y - e, 0), h - 1)][min(max(x - e, 0), w - 1)] for x in range(w + 2 * e)]
           for y in range(h + 2 * e)]
    closed = window_extreme_grid(window_extreme_grid(ext, r, max), r, min)
    paper = [[closed[y + e][x + e] for x in range(w)] for y in range(h)]
    values = sorted(v for row in paper for v in row)
    least = max(PAPER_FLOOR, floor * values[math.floor(0.75 * (len(values) - 1))])  # the paper level's share
    d = [[(paper[y][x] - m3[y][x]) / max(paper[y][x], least) for x in range(w)] for y in range(h)]
    return paper, d


def ink_grid(gray: Grid, background: str, radius: int, offset: float, gain: float, floor: float = 0.0):
    """(background, ink, strength, faint) (steps 5b, 5c's faint map)."""
    h, w = len(gray), len(gray[0])
    if background == "mean":
        mean, ink, strength = threshold_grid(gray, radius, offset, gain)
        faint = [[gray[y][x] < mean[y][x] - offset / 2 for x in range(w)] for y in range(h)]
        return mean, ink, strength, faint
    paper, d = paper_grid(gray, radius, floor)
    ink = [[d[y][x] > offset for x in range(w)] for y in range(h)]
    strength = [[min(1.0, d[y][x] / gain) if ink[y][x] else 0.0 for x in range(w)] for y in range(h)]
    faint = [[d[y][x] > offset / 2 for x in range(w)] for y in range(h)]
    return paper, ink, strength, faint


def line_marks(faint: list[list[bool]], frac: float) -> list[list[bool]]:
    """Faint pixels on (or beside) a sheared row holding >= frac * W near pixels (faint in the row or a row
    beside), at any tilt (step 5c)."""
    h, w = len(faint), len(faint[0])
    marks = [[False] * w for _ in range(h)]
    near = [[any(faint[yy][x] for yy in (y - 1, y, y + 1) if 0 <= yy < h) for x in range(w)] for y in range(h)]
    for q in LINE_SLOPES:
        shift = [math.floor(q * (x - (w - 1) / 2) + 0.5) for x in range(w)]
        counts = {}
        for y in range(h):
            for x in range(w):
                if near[y][x]:
                    counts[y - shift[x]] = counts.get(y - shift[x], 0) + 1
        lines = {r for r, c in counts.items() if c >= frac * w}
        for y in range(h):
            for x in range(w):
                r = y - shift[x]
                if faint[y][x] and (r in lines or r - 1 in lines or r + 1 in lines):
                    marks[y][x] = True
    return marks


def transpose(g):
    return [list(col) for col in zip(*g, strict=True)]


def run_grid(ink: list[list[bool]], y: int, x: int) -> int:
    """The vertical run of ink through (y, x)."""
    if not ink[y][x]:
        return 0
    top, bottom = y, y
    while top > 0 and ink[top - 1][x]:
        top -= 1
    while bottom < len(ink) - 1 and ink[bottom + 1][x]:
        bottom += 1
    return bottom - top + 1


def lines_grid(ink, strength, faint, frac):
    """Drop printed lines' pixels (step 5c) -> (ink, strength, dropped)."""
    h, w = len(ink), len(ink[0])
    horizontal = line_marks(faint, frac)
    vertical = transpose(line_marks(transpose(faint), frac))
    ink_t = transpose(ink)
    drop = [[ink[y][x] and ((horizontal[y][x] and run_grid(ink, y, x) <= LINE_THICK)
                            or (vertical[y][x] and run_grid(ink_t, x, y) <= LINE_THICK))
             for x in range(w)] for y in range(h)]
    return ([[ink[y][x] and not drop[y][x] for x in range(w)] for y in range(h)],
            [[0.0 if drop[y][x] else strength[y][x] for x in range(w)] for y in range(h)], drop)


def components(ink: list[list[bool]]) -> list[list[tuple[int, int]]]:
    """8-connected components of the ink mask, found by breadth-first search in raster order."""
    h, w = len(ink), len(ink[0])
    seen = [[False] * w for _ in range(h)]
    comps = []
    for y in range(h):
        for x in range(w):
            if not ink[y][x] or seen[y][x]:
                continue
            seen[y][x] = True
            queue, comp = [(y, x)], []
            while queue:
                cy, cx = queue.pop()
                comp.append((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and ink[ny][nx] and not seen[ny][nx]:
                            seen[ny][nx] = True
                            queue.append((ny, nx))
            comps.append(comp)
    return comps


def groups_grid(ink: list[list[bool]], strength: Grid, cfg: PreprocessConfig) -> list[list]:
    """Step 3d: components without specks, grouped (the merge rule of the docstring, pair by pair)."""
    h, w = len(ink), len(ink[0])
    groups = []
    for comp in components(ink):
        ys, xs = [y for y, _ in comp], [x for _, x in comp]
        g = [min(ys), max(ys), min(xs), max(xs), sum(strength[y][x] for y, x in comp)]
        if max(g[1] - g[0], g[3] - g[2]) + 1 >= cfg.speck * min(h, w):
            groups.append(g)
    gap = cfg.group_gap
    while True:  # components come in raster order of their first pixel; the sort below is stable
        groups.sort(key=lambda g: -g[4])
        pair = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                hgt = max(a[1] - a[0] + 1, b[1] - b[0] + 1)
                gy = max(b[0] - a[1], a[0] - b[1], 0)
                gx = max(b[2] - a[3], a[2] - b[3], 0)
                if (gx == 0 and gy <= 3 * gap * hgt) or (gx <= gap * hgt and gy <= gap * hgt):
                    pair = (i, j)
                    break
            if pair:
                break
        if pair is None:
            return groups
        i, j = pair
        a, b = groups[i], groups[j]
        groups[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
        del groups[j]


def clean_grid(ink: list[list[bool]], strength: Grid, cfg: PreprocessConfig, keep=None) -> Grid:
    """Drop components outside the found box, edge-touching ones (legacy), then specks (step 5d)."""
    h, w = len(ink), len(ink[0])
    kept = [row[:] for row in strength]
    remaining = []
    for comp in components(ink):
        on_edge = any(y in (0, h - 1) or x in (0, w - 1) for y, x in comp)
        outside = keep is not None and not any(keep[0] <= y < keep[1] and keep[2] <= x < keep[3] for y, x in comp)
        if (cfg.drop_border_ink and on_edge) or outside:
            for y, x in comp:
                kept[y][x] = 0.0
        else:
            remaining.append((sum(strength[y][x] for y, x in comp), comp))
    if cfg.min_part > 0 and remaining:
        biggest = max(m for m, _ in remaining)
        for m, comp in remaining:
            if m < cfg.min_part * biggest:
                for y, x in comp:
                    kept[y][x] = 0.0
    return kept


def bbox_grid(a: Grid) -> tuple[int, int, int, int] | None:
    ys = [y for y in range(len(a)) if any(v > 0 for v in a[y])]
    xs = [x for x in range(len(a[0])) if any(a[y][x] > 0 for y in range(len(a)))]
    return (ys[0], ys[-1], xs[0], xs[-1]) if ys else None


def reason_grid(strength: Grid, kept: Grid, cfg: PreprocessConfig) -> str | None:
    """The no-digit checks (step 7)."""
    s = len(strength)
    if sum(sum(r) for r in strength) < cfg.min_ink * s * s:
        return NO_INK
    if sum(sum(r) for r in kept) < cfg.min_ink * s * s:
        return EDGE_ONLY if cfg.drop_border_ink else NOT_FOUND
    bb = bbox_grid(kept)
    if bb is None:
        if cfg.min_extent == 0:
            return None
        return EDGE_ONLY if any(v > 0 for row in strength for v in row) else NO_INK
    y0, y1, x0, x1 = bb
    if max(y1 - y0 + 1, x1 - x0 + 1) < cfg.min_extent * s:
        return TOO_SMALL
    return None


def stroke_width_grid(c: Grid) -> float:
    """2 * area / boundary length of the ink (> 0) in c, counting c's own border as background."""
    h, w = len(c), len(c[0])
    area = edges = 0
    for y in range(h):
        for x in range(w):
            inside = c[y][x] > 0
            area += inside
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                outside = not (0 <= ny < h and 0 <= nx < w) or not c[ny][nx] > 0
                if inside and outside:
                    edges += 1
    return (2 * area) / edges


def dilate_grid(c: Grid) -> Grid:
    """3x3 maximum over c zero-padded by one pixel: (h,w) -> (h+2,w+2)."""
    h, w = len(c), len(c[0])
    out = []
    for y in range(h + 2):
        row = []
        for x in range(w + 2):
            best = 0.0
            for i in range(3):
                for j in range(3):
                    yy, xx = y - 2 + i, x - 2 + j
                    if 0 <= yy < h and 0 <= xx < w:
                        best = max(best, c[yy][xx])
            row.append(best)
        out.append(row)
    return out


def frame_grid(kept: Grid, stroke: float) -> Grid:
    """Thicken thin strokes, fit the ink's bounding box into 20x20, centre of mass to (14, 14) (step 8)."""
    bb = bbox_grid(kept)
    if bb is None:
        return [[0.0] * 28 for _ in range(28)]
    y0, y1, x0, x1 = bb
    c = [row[x0 : x1 + 1] for row in kept[y0 : y1 + 1]]
    if stroke > 0:
        k = math.floor(((stroke * max(len(c), len(c[0]))) / 20 - stroke_width_grid(c)) / 2 + 0.5)
        for _ in range(min(max(k, 0), 3)):
            c = dilate_grid(c)
    h, w = len(c), len(c[0])
    big = max(h, w)
    nh = max(1, math.floor((20 * h) / big + 0.5))
    nw = max(1, math.floor((20 * w) / big + 0.5))
    p = resample_grid(c, nh, nw)
    mass = sy = sx = 0.0
    for y in range(nh):
        for x in range(nw):
            mass += p[y][x]
            sy += (y + 0.5) * p[y][x]
            sx += (x + 0.5) * p[y][x]
    oy, ox = 14.0 - sy / mass, 14.0 - sx / mass
    ty, tx = math.floor(oy), math.floor(ox)
    fy, fx = oy - ty, ox - tx

    def at(g: Grid, y: int, x: int) -> float:
        return g[y][x] if 0 <= y < len(g) and 0 <= x < len(g[0]) else 0.0

    q = [[(1.0 - fx) * at(p, y, xx - tx) + fx * at(p, y, xx - tx - 1) for xx in range(28)] for y in range(nh)]
    return [[(1.0 - fy) * at(q, yy - ty, xx) + fy * at(q, yy - ty - 1, xx) for xx in range(28)] for yy in range(28)]


def reference_stages(frame: np.ndarray, cfg: PreprocessConfig, found=None) -> dict:
    """Every stage of steps 5-8 computed with loops, on the crop core.preprocess chose (its Found, when the
    find step ran: the find map's groups are checked separately, see `find_grid`)."""
    x = check_frame(frame)
    keep = None
    if found is None:
        x0, y0, b, _ = region(x.shape[0], x.shape[1], cfg)
        b = min(b, _)
    else:
        X0, Y0, X1, Y1 = found.frame_box(found.chosen)
        b = max(8, math.ceil(max(Y1 - Y0, X1 - X0) * (1 + 2 * cfg.margin)))
        x0, y0 = math.floor((X0 + X1) / 2 - b / 2), math.floor((Y0 + Y1) / 2 - b / 2)
    h, w = x.shape[:2]
    crop = [[pixel_rgb(x[min(max(y0 + y, 0), h - 1), min(max(x0 + xx, 0), w - 1)]) for xx in range(b)]
            for y in range(b)]
    planes = [[[crop[y][xx][c] for xx in range(b)] for y in range(b)] for c in range(3)]
    downs = downscale_planes(planes, cfg)
    gray = gray_grid(downs[-1])
    background, ink, strength, faint = ink_grid(gray, cfg.background, cfg.radius, cfg.offset, cfg.gain,
                                                cfg.paper_floor)
    if cfg.lines:
        ink, strength, _ = lines_grid(ink, strength, faint, cfg.line_frac)
    if found is not None:
        s = len(gray) / b
        keep = (math.floor(s * (Y0 - y0)), math.ceil(s * (Y1 - y0)),
                math.floor(s * (X0 - x0)), math.ceil(s * (X1 - x0)))
    kept = clean_grid(ink, strength, cfg, keep) if (cfg.drop_border_ink or cfg.min_part > 0 or keep) else strength
    reason = reason_grid(strength, kept, cfg)
    if reason is not None:
        out = [[0.0] * 28 for _ in range(28)]
    elif cfg.framing:
        out = frame_grid(kept, cfg.stroke)
    else:
        out = resample_grid(kept, 28, 28)
    out = [[min(max(v, 0.0), 1.0) for v in row] for row in out]
    return {
        "box": (x0, y0, b),
        "crop": np.array(crop),
        "downscales": [np.stack([np.array(p) for p in d], axis=-1) for d in downs],
        "gray": np.array(gray),
        "background": np.array(background),
        "ink": np.array(ink, dtype=bool),
        "strength": np.array(strength),
        "kept": np.array(kept),
        "image": np.array(out, dtype=np.float32),
        "reason": reason,
    }


def find_grid(frame: np.ndarray, cfg: PreprocessConfig) -> dict:
    """Step 3a-c with loops: the find map's gray, its ink after printed lines are dropped, the line pixels, and
    the groups' boxes and masses (as a set: their order is the merge's, which the vectorized code fixes)."""
    x = check_frame(frame)
    rx, ry, rw, rh = region(x.shape[0], x.shape[1], cfg)
    k = max(1, min(math.ceil(max(rw, rh) / cfg.find_size), rw, rh))
    gray = gray_grid(block_mean_grid(x, rx, ry, rw, rh, k))
    _, ink, strength, faint = ink_grid(gray, "paper", cfg.find_radius, cfg.find_offset, cfg.gain, cfg.paper_floor)
    drop = [[False] * len(gray[0]) for _ in gray]
    if cfg.lines:
        ink, strength, drop = lines_grid(ink, strength, faint, cfg.line_frac)
    return {"region": (rx, ry, rw, rh), "k": k, "gray": np.array(gray), "ink": np.array(ink, dtype=bool),
            "lines": np.array(drop, dtype=bool), "components": groups_grid(ink, strength, cfg)}
