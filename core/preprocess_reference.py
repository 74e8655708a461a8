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
    NO_INK,
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


def crop_box(h: int, w: int, cfg: PreprocessConfig) -> tuple[int, int, int]:
    """(x0, y0, B) of the target box (step 2)."""
    b = min(h, w) if cfg.box is None else min(cfg.box, h, w)
    x0 = math.floor(cfg.center_x * w - b / 2)
    y0 = math.floor(cfg.center_y * h - b / 2)
    x0 = min(max(x0, 0), w - b)
    y0 = min(max(y0, 0), h - b)
    return x0, y0, b


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
    for i, s in enumerate(cfg.steps):
        if s < n or i == len(cfg.steps) - 1:
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


def clean_grid(ink: list[list[bool]], strength: Grid, cfg: PreprocessConfig) -> Grid:
    """Drop edge-touching components, then components lighter than min_part of the heaviest (step 6)."""
    h, w = len(ink), len(ink[0])
    kept = [row[:] for row in strength]
    remaining = []
    for comp in components(ink):
        on_edge = any(y in (0, h - 1) or x in (0, w - 1) for y, x in comp)
        if cfg.drop_border_ink and on_edge:
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
        return EDGE_ONLY
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


def reference_stages(frame: np.ndarray, cfg: PreprocessConfig) -> dict:
    """Every stage of the pipeline, computed with loops: the same keys as core.preprocess.Stages."""
    x = check_frame(frame)
    x0, y0, b = crop_box(x.shape[0], x.shape[1], cfg)
    crop = [[pixel_rgb(x[y0 + y, x0 + xx]) for xx in range(b)] for y in range(b)]
    planes = [[[crop[y][xx][c] for xx in range(b)] for y in range(b)] for c in range(3)]
    downs = downscale_planes(planes, cfg)
    gray = gray_grid(downs[-1])
    mean, ink, strength = threshold_grid(gray, cfg.radius, cfg.offset, cfg.gain)
    kept = clean_grid(ink, strength, cfg) if (cfg.drop_border_ink or cfg.min_part > 0) else strength
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
        "mean": np.array(mean),
        "ink": np.array(ink, dtype=bool),
        "strength": np.array(strength),
        "kept": np.array(kept),
        "image": np.array(out, dtype=np.float32),
        "reason": reason,
    }
