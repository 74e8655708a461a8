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


def loss_curve(steps: Sequence, height: int = 280, fig: go.Figure | None = None) -> go.Figure:
    """Training loss per logged step (StepMetrics records)."""
    x, y = _thin([s.step for s in steps], [s.loss for s in steps])
    if fig is not None:
        fig.data[0].x, fig.data[0].y = x, y
        return fig
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="batch loss", line=dict(color=ACCENT, width=1.5)))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="cross-entropy", rangemode="tozero")
    return _layout(fig, "loss-curve", height, title="Training loss (per step)", showlegend=False)


def accuracy_curve(history: Sequence[dict], evals: Sequence[dict] = (), height: int = 280,
                   fig: go.Figure | None = None) -> go.Figure:
    """Train and test accuracy per epoch (EpochMetrics as dicts); with mid-epoch test points (`evals`),
    the x axis becomes the step so both kinds of point share it."""
    by_step = bool(evals)
    key = "step" if by_step else "epoch"
    test = sorted(list(evals) + list(history), key=lambda h: h["step"]) if by_step else list(history)
    xy = ([h[key] for h in history], [h["train_accuracy"] for h in history],
          [h[key] for h in test], [h["test_accuracy"] for h in test])
    if fig is not None and fig.layout.xaxis.title.text == key:
        (fig.data[0].x, fig.data[0].y), (fig.data[1].x, fig.data[1].y) = xy[:2], xy[2:]
        return fig
    fig = go.Figure()
    fig.add_scatter(x=xy[0], y=xy[1], mode="lines+markers", name="train", line=dict(color=SECOND))
    fig.add_scatter(x=xy[2], y=xy[3], mode="lines+markers", name="test", line=dict(color=ACCENT))
    fig.update_xaxes(title=key, dtick=1 if not by_step and len(history) < 15 else None, rangemode="tozero")
    fig.update_yaxes(title="accuracy", tickformat=".1%")
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


def softmax_templates(W: np.ndarray, height: int = 300, fig: go.Figure | None = None) -> go.Figure:
    """Phase 1's ten 28x28 templates (columns of W (784,10)), two rows of five: red pushes towards the class,
    blue away."""
    tiles = signed_tiles(W.T.reshape(10, 28, 28))
    img = mosaic(diverging_rgb(tiles), cols=5, pad=10, fill=255)  # 10 px gaps leave room for the labels
    if fig is not None and fig.layout.meta == "softmax-templates":
        return picture(img, "softmax-templates", fig=fig, jpeg=True)
    fig = picture(img, "softmax-templates", height, title="Weights of each class (red +, blue −)", jpeg=True)
    for k in range(10):
        r, c = divmod(k, 5)
        fig.add_annotation(x=c * 38 + 14, y=r * 38 - 1, text=str(k), showarrow=False, yanchor="bottom",
                           font=dict(size=11))
    fig.update_yaxes(range=[66, -9])
    return fig


def first_layer_units(W1: np.ndarray, n: int = 64, height: int = 360, fig: go.Figure | None = None) -> go.Figure:
    """Phase 2's first layer: the input weights of the first `n` hidden units as 28x28 pictures."""
    n = min(n, W1.shape[1])
    cols = int(np.ceil(np.sqrt(n)))
    tiles = signed_tiles(W1[:, :n].T.reshape(n, 28, 28))
    img = mosaic(diverging_rgb(tiles), cols=cols, pad=2, fill=255)
    return picture(img, "first-layer-units", height, title=f"First-layer weights of {n} hidden units", fig=fig,
                   jpeg=True)


def conv_filters(w: np.ndarray, height: int = 220, fig: go.Figure | None = None) -> go.Figure:
    """First conv layer's kernels (C,1,k,k), each scaled by its own max |w|, upsampled, in rows of 12."""
    tiles = np.kron(signed_tiles(w[:, 0]), np.ones((10, 10)))
    img = mosaic(diverging_rgb(tiles), cols=min(len(tiles), 12), pad=4, fill=255)
    return picture(img, "conv-filters", height, title=f"{len(w)} first-layer filters ({w.shape[-1]}×{w.shape[-1]})",
                   fig=fig)


def feature_maps(maps: np.ndarray, title: str, meta: str, cols: int = 16, height: int = 200) -> go.Figure:
    """(C,h,w) activations, each normalized to its own max, as a gray mosaic."""
    m = maps.reshape(len(maps), -1).max(axis=1)
    tiles = to_uint8(maps / np.maximum(m, 1e-12)[:, None, None])
    return picture(mosaic(tiles, cols=cols, pad=1, fill=80), meta, height, title=title)


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


def filmstrip(stages: Sequence[tuple[str, np.ndarray]], meta: str = "filmstrip", height: int = 230) -> go.Figure:
    """Every preprocessing stage side by side, each at its own resolution, titled with its name and size."""
    n = len(stages)
    titles = [f"{name}<br><sub>{img.shape[1]}×{img.shape[0]}</sub>" for name, img in stages]
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.01)
    for i, (_, img) in enumerate(stages, start=1):
        u8 = to_uint8(img)
        rgb = u8 if u8.ndim == 3 else np.repeat(u8[..., None], 3, axis=2)
        fig.add_trace(go.Image(source=png_uri(rgb), hoverinfo="skip"), row=1, col=i)
        fig.update_xaxes(visible=False, row=1, col=i)
        fig.update_yaxes(visible=False, row=1, col=i, scaleanchor=f"x{i if i > 1 else ''}")
    fig.update_annotations(font_size=11)
    fig = _layout(fig, meta, height)
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
                  height_per_row: int = 230) -> go.Figure:
    """Each mistake: the digit (true → predicted, confidence) above its 10 probabilities."""
    n = len(images)
    rows = max(1, -(-n // cols))
    titles = []
    for i in range(rows * cols):
        titles.append(f"{labels[i]} → {probs[i].argmax()} ({probs[i].max():.0%})" if i < n else "")
    specs_titles = []
    for r in range(rows):
        specs_titles += titles[r * cols:(r + 1) * cols] + [""] * cols
    fig = make_subplots(rows=2 * rows, cols=cols, subplot_titles=specs_titles, vertical_spacing=0.03,
                        horizontal_spacing=0.02, row_heights=[0.62, 0.38] * rows)
    for i in range(n):
        r, c = divmod(i, cols)
        rgb = np.repeat(to_uint8(images[i])[..., None], 3, axis=2)
        fig.add_trace(go.Image(source=png_uri(rgb), hoverinfo="skip"), row=2 * r + 1, col=c + 1)
        fig.add_trace(go.Bar(x=list(range(10)), y=probs[i], marker_color=[
            ACCENT if k == probs[i].argmax() else (SECOND if k == labels[i] else MUTED) for k in range(10)],
            hovertemplate="%{x}: %{y:.2f}<extra></extra>"), row=2 * r + 2, col=c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_yaxes(range=[0, 1], row=None)
    for r in range(rows):
        for c in range(cols):
            fig.update_yaxes(autorange="reversed", range=None, row=2 * r + 1, col=c + 1)
    fig.update_annotations(font_size=11)
    fig = _layout(fig, "misclassified", height_per_row * rows, showlegend=False)
    fig.update_layout(margin=dict(t=30))  # room for the first row's titles
    return fig


PHASE_COLORS = ["#9aa5b1", "#2e86ab", "#7b2cbf", "#1b998b"]  # phases 1..4; the shipped model is ACCENT


def ladder(rows: Sequence[dict], height: int = 360) -> go.Figure:
    """Test accuracy against model file size (log scale): one point per model, coloured by phase, the shipped
    model highlighted; names on hover (they are too many to print)."""
    fig = go.Figure()
    phases = sorted({r["phase"] for r in rows})
    for i, ph in enumerate(phases):
        pts = [r for r in rows if r["phase"] == ph and r.get("test_accuracy") is not None and r.get("size_bytes")]
        if not pts:
            continue
        fig.add_scatter(
            x=[r["size_bytes"] / 1e3 for r in pts], y=[r["test_accuracy"] for r in pts], mode="markers", name=ph,
            text=[r["model"] for r in pts], hovertemplate="%{text}<br>%{y:.2%}, %{x:,.0f} kB<extra></extra>",
            marker=dict(size=[18 if r.get("shipped") else 11 for r in pts], line=dict(width=1, color="white"),
                        color=[ACCENT if r.get("shipped") else PHASE_COLORS[i % 4] for r in pts]))
    shipped = [r for r in rows if r.get("shipped") and r.get("test_accuracy") and r.get("size_bytes")]
    for r in shipped[:1]:
        fig.add_annotation(x=np.log10(r["size_bytes"] / 1e3), y=r["test_accuracy"], text="shipped", ax=0, ay=-28,
                           font=dict(color=ACCENT))
    fig.update_xaxes(type="log", title="model file size (kB, log)")
    fig.update_yaxes(title="test accuracy", tickformat=".1%")
    return _layout(fig, "ladder", height, legend=dict(orientation="h", y=-0.3))
