"""Plotly figure builders shared by the pages. Pure functions of arrays and records; no streamlit here.

Pictures (weights, digits, preprocessing stages) are embedded as PNGs inside plotly figures
(`go.Image(source=...)`), a few kB each. Builders used by live views take an optional `fig`: given the
figure they built before, they only swap its data (about 0.1 ms instead of 10-20 ms to build a figure),
which keeps the once-a-second redraws cheap next to a training thread or a camera stream. Every figure
names itself in `layout.meta` so tests can find it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MAX_POINTS = 1500  # per line: enough to look continuous, small enough to redraw every second
ACCENT, SECOND, MUTED = "#e4572e", "#2e86ab", "#9aa5b1"


def _layout(fig: go.Figure, meta: str, height: int, **kw) -> go.Figure:
    fig.update_layout(meta=meta, height=height, margin=dict(l=10, r=10, t=40 if kw.get("title") else 10, b=10),
                      **kw)
    return fig


def _thin(xs: Sequence, ys: Sequence) -> tuple[list, list]:
    """Keep at most MAX_POINTS evenly spaced points (always the last)."""
    n = len(xs)
    if n <= MAX_POINTS:
        return list(xs), list(ys)
    idx = np.unique(np.r_[np.linspace(0, n - 1, MAX_POINTS).astype(int), n - 1])
    return [xs[i] for i in idx], [ys[i] for i in idx]


# --- training curves -------------------------------------------------------------------------------------


def smooth(ys: Sequence[float], span: int = 20) -> list[float]:
    """Exponential moving average with the weight of a `span`-point window, bias-corrected at the start."""
    alpha, acc, w, out = 2 / (span + 1), 0.0, 0.0, []
    for y in ys:
        acc, w = (1 - alpha) * acc + alpha * y, (1 - alpha) * w + alpha
        out.append(acc / w)
    return out


def loss_curve(steps: Sequence, height: int = 280, fig: go.Figure | None = None) -> go.Figure:
    """Training loss per logged step (StepMetrics records): each batch's loss (a noisy band, faint) and its moving
    average over about 20 logged steps (the trend)."""
    x, y = _thin([s.step for s in steps], [s.loss for s in steps])
    ys = smooth([s.loss for s in steps])
    _, ys = _thin([s.step for s in steps], ys)
    if fig is not None and len(fig.data) == 2:
        fig.data[0].x, fig.data[0].y = x, y
        fig.data[1].x, fig.data[1].y = x, ys
        return fig
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="each batch", line=dict(color=ACCENT, width=1),
                               opacity=0.3))
    fig.add_scatter(x=x, y=ys, mode="lines", name="moving average", line=dict(color=ACCENT, width=2.5))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="cross-entropy", rangemode="tozero")
    return _layout(fig, "loss-curve", height, title="Training loss (per step)",
                   legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))


def epoch_dtick(n: int, labels: int = 8) -> int:
    """Tick spacing that shows at most `labels` epoch numbers, so they never run into each other."""
    return max(1, -(-n // labels))


def accuracy_curve(history: Sequence[dict], evals: Sequence[dict] = (), height: int = 280,
                   fig: go.Figure | None = None) -> go.Figure:
    """Train and test accuracy per epoch (EpochMetrics as dicts); with mid-epoch test points (`evals`),
    the x axis becomes the step so both kinds of point share it."""
    by_step = bool(evals)
    key = "step" if by_step else "epoch"
    test = sorted(list(evals) + list(history), key=lambda h: h["step"]) if by_step else list(history)
    xy = ([h[key] for h in history], [h["train_accuracy"] for h in history],
          [h[key] for h in test], [h["test_accuracy"] for h in test])
    if fig is not None and fig.layout.xaxis.title.text == key and not fig.layout.annotations:  # not the empty axis
        (fig.data[0].x, fig.data[0].y), (fig.data[1].x, fig.data[1].y) = xy[:2], xy[2:]
        return fig
    fig = go.Figure()
    fig.add_scatter(x=xy[0], y=xy[1], mode="lines+markers", name="train", line=dict(color=SECOND))
    fig.add_scatter(x=xy[2], y=xy[3], mode="lines+markers", name="test", line=dict(color=ACCENT))
    epochs = max([h["epoch"] for h in history] or [1])
    fig.update_xaxes(title=key, dtick=None if by_step else epoch_dtick(epochs), rangemode="tozero")
    fig.update_yaxes(title="accuracy", tickformat=".1%")
    if not xy[1] and not xy[3]:  # nothing measured yet: a sensible empty axis, and say what will appear
        fig.update_yaxes(range=[0, 1])
        fig.update_xaxes(range=[0, 1], showticklabels=False)
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(color=MUTED),
                           text="test accuracy appears after the first evaluation")
    return _layout(fig, "accuracy-curve", height, title="Accuracy" + (" (test every few steps)" if by_step else
                                                                     " (per epoch)"),
                   legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))


# --- pictures --------------------------------------------------------------------------------------------


def png_uri(img: np.ndarray, jpeg: bool = False) -> str:
    """uint8 (H,W) gray or (H,W,3) RGB -> a data: URI (PNG; JPEG for noisy pictures such as weight mosaics,
    which PNG compresses badly and which are redrawn every second)."""
    from PIL import Image

    buf = io.BytesIO()
    if jpeg:
        Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=88)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Floats in [0,1] (or uint8) -> uint8, for display."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def diverging_rgb(a: np.ndarray) -> np.ndarray:
    """Signed values scaled to [-1,1] -> RGB: blue (negative), white (0), red (positive)."""
    a = np.clip(a, -1, 1)[..., None]
    white, red, blue = np.array([255, 255, 255.0]), np.array([202, 0, 32.0]), np.array([5, 113, 176.0])
    rgb = np.where(a >= 0, white + a * (red - white), white - a * (blue - white))
    return rgb.astype(np.uint8)


def mosaic(tiles: np.ndarray, cols: int, pad: int = 1, fill: float = 0.0) -> np.ndarray:
    """(N,h,w[,c]) tiles -> one picture with `cols` columns and `pad` pixels between tiles."""
    n, h, w = tiles.shape[:3]
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad) + tiles.shape[3:], fill, dtype=tiles.dtype)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tiles[i]
    return out


def picture(img: np.ndarray, meta: str, height: int = 300, title: str | None = None,
            fig: go.Figure | None = None, jpeg: bool = False) -> go.Figure:
    """One image (uint8 gray or RGB) as a plotly figure without axes (or swapped into `fig`)."""
    rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
    if fig is not None and fig.layout.meta == meta:
        fig.data[0].source = png_uri(rgb, jpeg)
        return fig
    fig = go.Figure(go.Image(source=png_uri(rgb, jpeg), hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return _layout(fig, meta, height, title=title)


def signed_tiles(tiles: np.ndarray) -> np.ndarray:
    """Scale each tile to [-1,1] by its own max |value| (so every unit's pattern is visible)."""
    m = np.abs(tiles).reshape(len(tiles), -1).max(axis=1)
    return tiles / np.maximum(m, 1e-12)[:, None, None]


def softmax_templates(W: np.ndarray, height: int = 200, fig: go.Figure | None = None) -> go.Figure:
    """Phase 1's ten 28x28 templates (columns of W (784,10)) in one row, upsampled so each is drawn large: red pushes
    towards the class, blue away."""
    tiles = np.kron(signed_tiles(W.T.reshape(10, 28, 28)), np.ones((3, 3)))  # (10,84,84)
    img = mosaic(diverging_rgb(tiles), cols=10, pad=12, fill=255)
    if fig is not None and fig.layout.meta == "softmax-templates":
        return picture(img, "softmax-templates", fig=fig, jpeg=True)
    fig = picture(img, "softmax-templates", height, title="Weights of each class (red +, blue −)", jpeg=True)
    for k in range(10):
        fig.add_annotation(x=k * 96 + 42, y=-2, text=f"<b>{k}</b>", showarrow=False, yanchor="bottom",
                           font=dict(size=13))
    fig.update_yaxes(range=[85, -20])
    return fig


def first_layer_units(W1: np.ndarray, n: int = 64, height: int = 320, fig: go.Figure | None = None) -> go.Figure:
    """Phase 2's first layer: the input weights of the first `n` hidden units as 28x28 pictures, 16 to a row (the
    picture spans the page's width)."""
    n = min(n, W1.shape[1])
    cols = min(16, n)
    tiles = signed_tiles(W1[:, :n].T.reshape(n, 28, 28))
    img = mosaic(diverging_rgb(tiles), cols=cols, pad=2, fill=255)
    return picture(img, "first-layer-units", height, title=f"First-layer weights of {n} hidden units", fig=fig,
                   jpeg=True)


def conv_filters(w: np.ndarray, height: int = 260, fig: go.Figure | None = None) -> go.Figure:
    """First conv layer's kernels (C,1,k,k), each scaled by its own max |w|, in rows of 8 (two rows for 16), each
    pixel of a kernel drawn as a 12x12 block so a 3x3 kernel reads as nine clear squares."""
    tiles = np.kron(signed_tiles(w[:, 0]), np.ones((12, 12)))
    img = mosaic(diverging_rgb(tiles), cols=min(len(tiles), 8), pad=8, fill=255)
    return picture(img, "conv-filters", height, title=f"{len(w)} first-layer filters ({w.shape[-1]}×{w.shape[-1]}; "
                   "red +, blue −)", fig=fig)


def feature_maps(maps: np.ndarray, title: str, meta: str, cols: int = 16, height: int | None = None) -> go.Figure:
    """(C,h,w) activations, each normalized to its own max, as a gray mosaic (white = strongly active); small maps are
    upsampled so every tile is at least 28 pixels of the picture."""
    m = maps.reshape(len(maps), -1).max(axis=1)
    tiles = maps / np.maximum(m, 1e-12)[:, None, None]
    up = max(1, -(-28 // maps.shape[1]))
    tiles = to_uint8(np.kron(tiles, np.ones((up, up))))
    rows = -(-len(maps) // cols)
    return picture(mosaic(tiles, cols=cols, pad=2, fill=80), meta, height or 50 + rows * 62, title=title)


def digit_strip(images: np.ndarray, captions: Sequence[str], meta: str, height: int = 150,
                title: str | None = None) -> go.Figure:
    """A row of 28x28 digits (uint8 or [0,1] floats) with a caption under each."""
    tiles = to_uint8(np.asarray(images))
    fig = picture(mosaic(tiles, cols=len(tiles), pad=4, fill=255), meta, height, title=title)
    h = tiles.shape[1]
    for i, c in enumerate(captions):
        fig.add_annotation(x=i * (tiles.shape[2] + 4) + tiles.shape[2] / 2, y=h + 1, text=c, showarrow=False,
                           yanchor="top", font=dict(size=11))
    fig.update_yaxes(range=[h + 9, -1])
    return fig


def digit_heatmap(x: np.ndarray, meta: str = "model-input", height: int = 260, title: str = "Model input 28×28",
                  fig: go.Figure | None = None) -> go.Figure:
    """A 28x28 input with its exact values on hover (the thing the model sees)."""
    if fig is not None:
        fig.data[0].z = np.asarray(x, dtype=float)
        return fig
    fig = go.Figure(go.Heatmap(z=np.asarray(x, dtype=float), colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    return _layout(fig, meta, height, title=title)


def filmstrip(stages: Sequence[tuple[str, np.ndarray]], meta: str = "filmstrip", cols: int = 5,
              row_height: int = 200) -> go.Figure:
    """Every preprocessing stage, at most `cols` to a row so the labels keep their room on a phone, each at its own
    resolution, titled with its name and size."""
    n = len(stages)
    rows = -(-n // cols)
    titles = [f"{name}<br><sub>{img.shape[1]}×{img.shape[0]}</sub>" for name, img in stages]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=0.3 / rows)
    for i, (_, img) in enumerate(stages):
        r, c = divmod(i, cols)
        u8 = to_uint8(img)
        rgb = u8 if u8.ndim == 3 else np.repeat(u8[..., None], 3, axis=2)
        fig.add_trace(go.Image(source=png_uri(rgb), hoverinfo="skip"), row=r + 1, col=c + 1)
    for i in range(1, rows * cols + 1):
        fig.update_xaxes(visible=False, row=(i - 1) // cols + 1, col=(i - 1) % cols + 1)
        fig.update_yaxes(visible=False, row=(i - 1) // cols + 1, col=(i - 1) % cols + 1,
                         scaleanchor=f"x{i if i > 1 else ''}")
    fig.update_annotations(font_size=12)
    fig = _layout(fig, meta, row_height * rows)
    fig.update_layout(margin=dict(t=48))  # room for the two-line subplot titles
    return fig


def find_map(found) -> np.ndarray:
    """(fh,fw,3) RGB of a core.preprocess.Found: paper gray, ink red, printed lines blue, each group boxed in
    green and the chosen one in orange."""
    rgb = np.repeat((found.gray / 255.0)[..., None], 3, axis=2) * 0.8 + 0.2
    rgb[found.ink] = (0.85, 0.2, 0.2)
    rgb[found.lines] = (0.2, 0.4, 0.95)
    for i, (y0, y1, x0, x1, _) in enumerate(found.groups):
        colour = (0.96, 0.55, 0.1) if i == found.chosen else (0.2, 0.7, 0.3)
        rgb[y0 : y1 + 1, [x0, x1]] = colour
        rgb[[y0, y1], x0 : x1 + 1] = colour
    return rgb


# --- results ---------------------------------------------------------------------------------------------


def probability_bars(p: np.ndarray, meta: str = "probabilities", height: int = 240,
                     title: str = "Probabilities", fig: go.Figure | None = None) -> go.Figure:
    """The model's 10 probabilities, the winner highlighted."""
    p = np.asarray(p, dtype=float)
    best = int(p.argmax())
    colors = [ACCENT if k == best else MUTED for k in range(10)]
    if fig is not None:
        bar = fig.data[0]
        bar.y, bar.marker.color, bar.text = p, colors, [f"{v:.0%}" for v in p]
        return fig
    fig = go.Figure(go.Bar(x=list(range(10)), y=p, marker_color=colors, text=[f"{v:.0%}" for v in p],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="digit %{x}: %{y:.3f}<extra></extra>"))
    fig.update_xaxes(dtick=1, title=None)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", showgrid=False)
    return _layout(fig, meta, height, title=title, showlegend=False)


def side_by_side(categories: Sequence, a: Sequence[float], b: Sequence[float], names: tuple[str, str], meta: str,
                 title: str, height: int = 260, **layout) -> go.Figure:
    """Two bar series per category (NumPy vs PyTorch on Phase 3: logits per digit, timings per operation)."""
    fig = go.Figure()
    fig.add_bar(x=list(categories), y=list(a), name=names[0], marker_color=SECOND)
    fig.add_bar(x=list(categories), y=list(b), name=names[1], marker_color=ACCENT)
    return _layout(fig, meta, height, barmode="group", title=title, **layout)


def confusion(cm: np.ndarray, height: int = 400) -> go.Figure:
    """10x10 counts: rows = true digit, columns = predicted; the diagonal dimmed so mistakes stand out."""
    z = cm.astype(float).copy()
    off = z.copy()
    np.fill_diagonal(off, np.nan)
    fig = go.Figure(go.Heatmap(z=off, x=list(range(10)), y=list(range(10)), colorscale="Reds", showscale=False,
                               hovertemplate="true %{y} → predicted %{x}: %{z:.0f}<extra></extra>"))
    fig.add_trace(go.Heatmap(z=np.where(np.eye(10, dtype=bool), z, np.nan), x=list(range(10)), y=list(range(10)),
                             colorscale=[[0, "#d9f0d3"], [1, "#d9f0d3"]], showscale=False,
                             hovertemplate="true %{y} → predicted %{x}: %{z:.0f}<extra></extra>"))
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                fig.add_annotation(x=j, y=i, text=str(int(cm[i, j])), showarrow=False, font=dict(size=10))
    fig.update_xaxes(title="predicted", dtick=1, side="top")
    fig.update_yaxes(title="true", dtick=1, autorange="reversed", scaleanchor="x")
    return _layout(fig, "confusion", height)


def misclassified(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, cols: int = 8,
                  height_per_row: int = 300) -> go.Figure:
    """Each mistake: the digit (true → predicted, confidence) above its 10 probabilities, labelled 0-9; the
    predicted digit's bar in orange, the true digit's in blue with a blue triangle under it (its bar is often too
    short to see)."""
    n = len(images)
    rows = max(1, -(-n // cols))
    titles = [f"{labels[i]} → {probs[i].argmax()} ({probs[i].max():.0%})" if i < n else "" for i in range(rows * cols)]
    specs_titles = []
    for r in range(rows):
        specs_titles += titles[r * cols:(r + 1) * cols] + [""] * cols
    fig = make_subplots(rows=2 * rows, cols=cols, subplot_titles=specs_titles, vertical_spacing=0.22 / rows,
                        horizontal_spacing=0.025, row_heights=[0.55, 0.45] * rows)
    for i in range(n):
        r, c = divmod(i, cols)
        rgb = np.repeat(to_uint8(images[i])[..., None], 3, axis=2)
        fig.add_trace(go.Image(source=png_uri(rgb), hoverinfo="skip"), row=2 * r + 1, col=c + 1)
        p, y, k = probs[i][:10], int(labels[i]), int(probs[i][:10].argmax())
        fig.add_trace(go.Bar(x=list(range(10)), y=p, marker_color=[ACCENT if d == k else (SECOND if d == y else MUTED)
                                                                   for d in range(10)],
                             hovertemplate="digit %{x}: %{y:.2f}<extra></extra>", name="probabilities"),
                      row=2 * r + 2, col=c + 1)
        fig.add_trace(go.Scatter(x=[y], y=[-0.12], mode="markers", marker=dict(symbol="triangle-up", size=9,
                                                                              color=SECOND),
                                 hovertemplate=f"true digit {y}: %{{customdata:.2f}}<extra></extra>",
                                 customdata=[float(p[y])], name="true digit"), row=2 * r + 2, col=c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    for r in range(rows):
        for c in range(cols):
            fig.update_yaxes(autorange="reversed", row=2 * r + 1, col=c + 1)
            fig.update_xaxes(visible=True, tickvals=list(range(10)), ticks="", tickfont=dict(size=9), showgrid=False,
                             zeroline=False, row=2 * r + 2, col=c + 1)
            fig.update_yaxes(range=[-0.2, 1.05], row=2 * r + 2, col=c + 1)
    fig.update_annotations(font_size=12)
    fig = _layout(fig, "misclassified", height_per_row * rows, showlegend=False)
    fig.update_layout(margin=dict(t=30, b=20), bargap=0.15)
    return fig


PHASE_COLORS = ["#9aa5b1", "#2e86ab", "#7b2cbf", "#1b998b"]  # phases 1..4; the shipped model is ACCENT
PHASE_SYMBOLS = ["circle", "square", "diamond", "triangle-up"]  # so points that coincide still show both
SIZE_TICKS = (1, 3, 10, 30, 100, 300, 1000, 3000, 10_000)  # kB


def dodge(xs: Sequence[float], ys: Sequence[float], dx: float = 0.035, near_y: float = 0.002) -> list[float]:
    """Log10 x positions nudged right, in order, so that no two points within `dx` decades and `near_y` accuracy sit
    on top of each other (e.g. the NumPy and PyTorch MLPs: same size, same accuracy to 0.05 pp)."""
    placed: list[tuple[float, float]] = []
    out = []
    for x, y in zip(xs, ys, strict=True):
        while any(abs(x - px) < dx and abs(y - py) < near_y for px, py in placed):
            x += dx
        placed.append((x, y))
        out.append(x)
    return out


def size_ticks(kb: Sequence[float]) -> tuple[list[float], list[str]]:
    """Log-axis ticks 1, 3, 10, 30 ... kB over the data's range, as readable labels ('100 kB', '1 MB')."""
    lo, hi = min(kb) / 1.5, max(kb) * 1.5
    vals = [v for v in SIZE_TICKS if lo <= v <= hi] or [float(kb[0])]
    return vals, [f"{v / 1000:g} MB" if v >= 1000 else f"{v:g} kB" for v in vals]


def ladder(rows: Sequence[dict], height: int = 380) -> go.Figure:
    """Test accuracy against model file size (log scale): one point per finished model, coloured and shaped by phase,
    the shipped model highlighted; names on hover. Runs stopped early or cut short are not showcase models: left out."""
    fig = go.Figure()
    shown = [r for r in rows if r.get("test_accuracy") is not None and r.get("size_bytes") and not r.get("partial")]
    phases = sorted({r["phase"] for r in shown})
    shown.sort(key=lambda r: (phases.index(r["phase"]), r["model"]))
    xs = dodge([float(np.log10(r["size_bytes"] / 1e3)) for r in shown], [r["test_accuracy"] for r in shown])
    for i, ph in enumerate(phases):
        idx = [j for j, r in enumerate(shown) if r["phase"] == ph]
        pts = [shown[j] for j in idx]
        fig.add_scatter(
            x=[10 ** xs[j] for j in idx], y=[r["test_accuracy"] for r in pts], mode="markers", name=ph,
            text=[r["model"] for r in pts], customdata=[r["size_bytes"] / 1e3 for r in pts],
            hovertemplate="%{text}<br>%{y:.2%}, %{customdata:,.0f} kB<extra></extra>",
            marker=dict(size=[18 if r.get("shipped") else 12 for r in pts], symbol=PHASE_SYMBOLS[i % 4],
                        line=dict(width=1.5, color="white"),
                        color=[ACCENT if r.get("shipped") else PHASE_COLORS[i % 4] for r in pts]))
    for j, r in enumerate(shown):
        if r.get("shipped"):
            fig.add_annotation(x=xs[j], y=r["test_accuracy"], text="shipped", ax=0, ay=-28, font=dict(color=ACCENT))
            break
    vals, text = size_ticks([r["size_bytes"] / 1e3 for r in shown] or [100.0])
    fig.update_xaxes(type="log", title="model file size (log scale)", tickvals=vals, ticktext=text)
    fig.update_yaxes(title="test accuracy", tickformat=".1%")
    return _layout(fig, "ladder", height, legend=dict(orientation="h", y=-0.3))


# --- inside the network, on your digit ----------------------------------------------------------------------


def probability_trail(trail: Sequence[np.ndarray], height: int = 240) -> go.Figure:
    """How the 10 probabilities moved as you drew: one line per digit over the updates (strokes, and live points
    while a stroke was drawn); the three digits that ever led are coloured, the rest muted."""
    t = np.asarray(trail, dtype=float).reshape(len(trail), -1)[:, :10]  # (T,10)
    lead = list(dict.fromkeys(int(k) for k in t.argmax(1)))[-3:] if len(t) else []
    colors = [ACCENT, SECOND, "#7b2cbf"]
    fig = go.Figure()
    for d in range(10):
        on = d in lead
        fig.add_scatter(x=list(range(1, len(t) + 1)), y=t[:, d], mode="lines+markers" if on else "lines",
                        name=str(d), line=dict(width=2.5 if on else 1, color=colors[lead.index(d)] if on else MUTED),
                        hovertemplate=f"digit {d}: " + "%{y:.0%} after update %{x}<extra></extra>", showlegend=on)
    fig.update_xaxes(title="update (each stroke, and while drawing)", dtick=epoch_dtick(len(t)), rangemode="tozero")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title=None)
    return _layout(fig, "probability-trail", height, title="As you drew",
                   legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))


def class_votes(votes: np.ndarray, logits: np.ndarray, probs: np.ndarray, height: int = 330) -> go.Figure:
    """Phase 1 on one input: for each class, input x template pixel by pixel (red: the pixel's ink votes for the
    class, blue: against, white: no ink or no opinion), one colour scale for all ten; titled with the sum (+ bias)."""
    lim = float(np.abs(votes).max()) or 1.0
    k = int(np.argmax(probs))
    fig = make_subplots(rows=2, cols=5, horizontal_spacing=0.015, vertical_spacing=0.12,
                        subplot_titles=[f"{'<b>' if d == k else ''}{d}: {logits[d]:+.1f}{'</b>' if d == k else ''}"
                                        for d in range(10)])
    for d in range(10):
        fig.add_trace(go.Heatmap(z=votes[d], zmin=-lim, zmax=lim, zmid=0, colorscale="RdBu_r", showscale=d == 0,
                                 colorbar=dict(title=dict(text="vote", side="right"), thickness=12, len=0.9,
                                               tickvals=[-lim, 0, lim], ticktext=["against", "0", "for"]),
                                 hovertemplate=f"class {d}, " + "row %{y}, col %{x}: %{z:+.3f}<extra></extra>"),
                      row=d // 5 + 1, col=d % 5 + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    for i in range(1, 11):
        fig.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", row=(i - 1) // 5 + 1, col=(i - 1) % 5 + 1)
    fig.update_annotations(font_size=12)
    fig = _layout(fig, "class-votes", height)
    fig.update_layout(margin=dict(t=30))
    return fig


def hidden_units(hidden: np.ndarray, top: Sequence[int], height: int = 220) -> go.Figure:
    """Phase 2 on one input: every hidden unit's ReLU activation (most are 0), the units that pushed the answer most
    in orange."""
    top = set(int(i) for i in top)
    fig = go.Figure(go.Bar(x=list(range(len(hidden))), y=hidden, marker_color=[ACCENT if i in top else MUTED
                                                                                for i in range(len(hidden))],
                           marker_line_width=0, hovertemplate="unit %{x}: %{y:.2f}<extra></extra>"))
    fig.update_xaxes(title="hidden unit")
    fig.update_yaxes(title="activation", rangemode="tozero")
    return _layout(fig, "hidden-activations", height, bargap=0,
                   title=f"Hidden layer: {int((hidden > 0).sum())} of {len(hidden)} units active")


def top_units(weights: np.ndarray, units: Sequence[int], contribution: Sequence[float], answer: int,
              height: int = 230) -> go.Figure:
    """The input weights of the hidden units that raised the answer's logit most (activation x outgoing weight),
    each captioned with its unit number and that contribution."""
    tiles = np.kron(signed_tiles(np.asarray(weights)), np.ones((2, 2)))  # (k,56,56)
    fig = picture(mosaic(diverging_rgb(tiles), cols=len(tiles), pad=8, fill=255), "top-units", height,
                  title=f"What the units that voted most for {answer} look for (red +, blue −)")
    for i, (u, c) in enumerate(zip(units, contribution, strict=True)):
        fig.add_annotation(x=i * 64 + 28, y=58, text=f"unit {int(u)}<br>+{c:.2f}", showarrow=False, yanchor="top",
                           font=dict(size=11))
    fig.update_yaxes(range=[84, -2])
    return fig


def saliency(sal: np.ndarray, image: np.ndarray, answer: int, method: str, height: int = 320) -> go.Figure:
    """A saliency map over the 28x28 beside the input, with a colour bar that says what the colours mean."""
    lim = float(np.abs(sal).max()) or 1.0
    what = ("gradient × input: how much each pixel's ink raised (red) or lowered (blue) the score of "
            if method != "occlusion" else "occlusion: how much hiding the area around each pixel lowered (red) or "
            "raised (blue) the probability of ")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=["what the network sees", f"what made it say {answer}"])
    fig.add_trace(go.Heatmap(z=np.asarray(image, float), colorscale="gray", zmin=0, zmax=1, showscale=False,
                             hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=sal, zmin=-lim, zmax=lim, zmid=0, colorscale="RdBu_r",
                             colorbar=dict(thickness=12, tickvals=[-lim, 0, lim],
                                           ticktext=[f"against {answer}", "no effect", f"for {answer}"]),
                             hovertemplate="row %{y}, col %{x}: %{z:+.3f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig = _layout(fig, "saliency", height)
    fig.update_layout(margin=dict(t=30, b=40))
    fig.add_annotation(x=0.5, y=-0.02, xref="paper", yref="paper", yanchor="top", showarrow=False,
                       font=dict(size=11, color="#555"), text=f"{what}{answer}")
    return fig


def before_after(parts: dict[str, tuple[float, float]], height: int = 260) -> go.Figure:
    """Accuracy before (the shipped model) and after (the fine-tuned one) on each set, side by side."""
    names = list(parts)
    fig = go.Figure()
    fig.add_bar(x=names, y=[v[0] for v in parts.values()], name="before (shipped)", marker_color=MUTED,
                text=[f"{v[0]:.1%}" for v in parts.values()], textposition="outside", cliponaxis=False)
    fig.add_bar(x=names, y=[v[1] for v in parts.values()], name="after (fine-tuned)", marker_color=ACCENT,
                text=[f"{v[1]:.1%}" for v in parts.values()], textposition="outside", cliponaxis=False)
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", showgrid=False)
    return _layout(fig, "before-after", height, barmode="group",
                   legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))


def timing_bars(times: dict[str, dict[str, Sequence[float]]], meta: str, title: str, height: int = 300) -> go.Figure:
    """{operation: {who: [ms, ...]}} as grouped bars of the median with the spread (25th to 75th percentile) as error
    bars, so a reader sees how much a rerun could move them."""
    ops = list(times)
    whos = list(next(iter(times.values())))
    fig = go.Figure()
    for who, color in zip(whos, (SECOND, ACCENT), strict=False):
        q = np.array([np.percentile(times[op][who], [25, 50, 75]) for op in ops])  # (ops,3)
        fig.add_bar(x=ops, y=q[:, 1], name=who, marker_color=color,
                    error_y=dict(type="data", symmetric=False, array=q[:, 2] - q[:, 1], arrayminus=q[:, 1] - q[:, 0],
                                 thickness=1.5, width=6),
                    hovertemplate=f"{who} " + "%{x}: %{y:.3f} ms (median)<extra></extra>")
    fig.update_yaxes(title="ms")
    return _layout(fig, meta, height, barmode="group", title=title,
                   legend=dict(orientation="h", y=-0.15))
