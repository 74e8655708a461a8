"""One writer's digits as pen strokes: what a person draws on the dashboard's pad, without a person.

Each digit is a few polylines in a unit square (y down), written in a continental style that MNIST's (mostly
American) writers rarely use: a 1 with a long flag, a 7 with a crossbar, a closed 4, a 9 with a straight stem.
`jittered` varies them as one hand does (slant, size, position, a wobble); `render` draws them with a round pen on
white paper, the pad's size. The fine-tuning benchmark saves such digits as a collection, and the browser test draws
the same strokes on the pad with the mouse.
"""

from __future__ import annotations

import numpy as np

Stroke = list[tuple[float, float]]
PAD = 280  # the dashboard pad's side in pixels (dashboard/pad/pad.js)
PEN = 16  # its pen width in pixels

STROKES: dict[int, list[Stroke]] = {
    0: [[(0.5 + 0.26 * np.sin(t), 0.5 - 0.38 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    1: [[(0.3, 0.34), (0.56, 0.12), (0.56, 0.88)]],
    2: [[(0.26, 0.3), (0.36, 0.15), (0.55, 0.1), (0.72, 0.2), (0.72, 0.38), (0.26, 0.88), (0.78, 0.88)]],
    3: [[(0.26, 0.18), (0.45, 0.1), (0.68, 0.18), (0.68, 0.36), (0.45, 0.48), (0.7, 0.58), (0.72, 0.78),
         (0.5, 0.9), (0.26, 0.82)]],
    4: [[(0.62, 0.88), (0.62, 0.1), (0.2, 0.62), (0.82, 0.62)]],
    5: [[(0.72, 0.12), (0.34, 0.12), (0.3, 0.46), (0.55, 0.42), (0.72, 0.55), (0.72, 0.76), (0.52, 0.9),
         (0.27, 0.83)]],
    6: [[(0.66, 0.12), (0.42, 0.3), (0.29, 0.6), (0.35, 0.85), (0.55, 0.9), (0.7, 0.75), (0.63, 0.56),
         (0.42, 0.55), (0.3, 0.66)]],
    7: [[(0.22, 0.14), (0.78, 0.14), (0.44, 0.9)], [(0.34, 0.52), (0.72, 0.52)]],
    8: [[(0.5, 0.48), (0.3, 0.35), (0.33, 0.17), (0.5, 0.1), (0.67, 0.17), (0.7, 0.35), (0.5, 0.48),
         (0.28, 0.65), (0.31, 0.85), (0.5, 0.92), (0.69, 0.85), (0.72, 0.65), (0.5, 0.48)]],
    9: [[(0.7, 0.34), (0.55, 0.47), (0.36, 0.45), (0.28, 0.28), (0.4, 0.12), (0.62, 0.12), (0.7, 0.3),
         (0.7, 0.9)]],
}


def jittered(digit: int, rng: np.random.Generator) -> list[Stroke]:
    """The digit's strokes as one writer varies them: slant ±10°, shear, size 0.8-1.05, shift ±6 %, a wobble."""
    a = np.deg2rad(rng.uniform(-10, 10))
    s = rng.uniform(0.8, 1.05)
    sh = rng.uniform(-0.15, 0.15)
    m = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1.0, sh], [0.0, 1.0]])
    shift = rng.uniform(-0.06, 0.06, 2)
    out = []
    for stroke in STROKES[digit]:
        p = np.asarray(stroke) - 0.5  # (n,2) about the centre
        p = p @ m.T + 0.5 + shift + rng.normal(0, 0.008, p.shape)
        out.append([(float(x), float(y)) for x, y in np.clip(p, 0.04, 0.96)])
    return out


def render(strokes: list[Stroke], side: int = PAD, pen: float = PEN) -> np.ndarray:
    """Strokes in the unit square -> (side,side,3) uint8 RGB: dark ink, round pen, on white paper."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (side, side), (255, 255, 255))
    d = ImageDraw.Draw(im)
    w = max(1, round(pen * side / PAD))
    for stroke in strokes:
        pts = [(x * side, y * side) for x, y in stroke]
        d.line(pts, fill=(17, 17, 17), width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):
            d.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=(17, 17, 17))
    return np.asarray(im)


def writer_digits(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """n pad drawings (each digit about n/10 times, in a shuffled order, each jittered) and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    return [render(jittered(int(k), rng)) for k in labels], labels
