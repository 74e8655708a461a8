"""The "inside the network, on your digit" panels of the phase pages: your digit (dashboard.digit), the model's 10
probabilities and how they moved while you drew, and what the phase's network computes on it (core.explain).

Each panel is a fragment: a stroke on the pad reruns the panel only, not the page, so the figures follow the pen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import charts, compute, state
from dashboard.digit import YourDigit, trail, your_digit
from dashboard.widgets import chart, friendly

NO_INPUT = "Draw a digit on the pad (mouse, finger or pen), or pick a test digit, a photo or a snapshot."


def _answer(d: YourDigit, probs: np.ndarray, key: str, who: str) -> None:
    """Your digit as the model sees it (28x28), the answer and the 10 probabilities, and the trail while drawing."""
    p = np.asarray(probs, float)[:10]
    k = int(p.argmax())
    c = st.columns([2, 3])
    with c[0]:
        st.metric(f"{who} reads", str(k), help="the most probable of the ten digits",
                  delta=(("right" if k == d.label else f"wrong: it is a {d.label}") if d.label is not None else None),
                  delta_color="normal" if k == d.label else "inverse")
        chart(charts.digit_heatmap(d.image, meta=f"{key}-input", height=230, title="The 28×28 it sees"),
              key=f"{key}_in")
    with c[1]:
        chart(charts.probability_bars(p, meta=f"{key}-probs", height=250,
                                      title=f"Probabilities: {k} at {p[k]:.0%}"), key=f"{key}_probs")
        t = trail(key, d, p)
        if len(t) >= 2:
            chart(charts.probability_trail(t), key=f"{key}_trail_chart")
        elif d.source == "drawn":
            st.caption("Keep drawing: the probabilities after each stroke are plotted here.")


def _digit_column(key: str) -> YourDigit | None:
    d = your_digit(key)
    if d is None:
        st.caption(NO_INPUT)
    elif d.image is None:
        st.warning(f"No digit found: {d.reason}. Draw it larger, inside the pad, away from its edges.",
                   icon=":material/visibility_off:")
    return d if d is not None and d.image is not None else None


def numpy_inside(run, key: str) -> None:
    """Phase 1 or 2: a saved softmax or MLP run on your digit."""
    from core import explain
    from core.numpy_nets import SoftmaxParams
    from core.numpy_train import WEIGHTS_NAME

    wfile = run.path / WEIGHTS_NAME
    mtime = wfile.stat().st_mtime

    @st.fragment
    def panel() -> None:
        with friendly("the inside view"):
            params = state.numpy_weights(str(wfile), mtime)
            c = st.columns([2, 3])
            with c[0]:
                d = _digit_column(key)
            if d is None:
                trail(key, None, None)
                return
            if isinstance(params, SoftmaxParams):
                ins = explain.softmax_votes(params, d.image)
                with c[1]:
                    _answer(d, ins.probs, key, "Softmax regression")
                st.markdown("**Which pixels voted for which digit.** Each class's score is the sum over the pixels of "
                            "*input × template*, plus a bias; below, that product for every pixel and class.")
                chart(charts.class_votes(ins.votes, ins.logits, ins.probs), key=f"{key}_votes_chart")
            else:
                ins = explain.mlp_inside(params, d.image)
                with c[1]:
                    _answer(d, ins.probs, key, "The MLP")
                chart(charts.hidden_units(ins.hidden, ins.top), key=f"{key}_hidden_chart")
                chart(charts.top_units(ins.weights, ins.top, ins.contribution, ins.answer), key=f"{key}_top_chart")
                st.caption(f"Each unit's share of the score for {ins.answer} is its activation times its weight to "
                           f"{ins.answer}; the {len(ins.top)} largest shares are shown, with the input pattern each "
                           "unit responds to.")

    panel()


def cnn_inside(path: Path, key: str) -> None:
    """Phase 4: a CNN (torch weights) on your digit: probabilities, saliency, every stage's feature maps."""
    mtime = Path(path).stat().st_mtime

    @st.fragment
    def panel() -> None:
        with friendly("the inside view"):
            c = st.columns([2, 3])
            with c[0]:
                d = _digit_column(key)
                method = st.radio("Saliency", ["gradient x input", "occlusion"], horizontal=True,
                                  key=f"{key}_saliency", help="gradient × input: how much each pixel's ink raised or "
                                  "lowered the answer's score (one backward pass). Occlusion: how much the answer's "
                                  "probability fell when a 6×6 patch around each pixel was blanked (169 forward "
                                  "passes).")
            if d is None:
                trail(key, None, None)
                return
            ins = compute.cnn_inside(str(path), mtime, d.image, method)
            with c[1]:
                _answer(d, ins.probs, key, "The CNN")
                a = state.shipped_model().answers(d.image[None])[0]
                st.caption("The shipped int8 model (what the Camera runs) says: " +
                           (f"{a.digit} ({a.confidence:.0%})" if a.digit is not None else f"{a.reason}") + ".")
            chart(charts.saliency(ins.saliency, d.image, ins.answer, ins.method), key=f"{key}_saliency_chart")
            for name, maps in ins.maps.items():
                chart(charts.feature_maps(maps, f"{name}: {maps.shape[0]} feature maps of {maps.shape[1]}×"
                                          f"{maps.shape[2]} (white: strongly active)", f"{key}-{name}",
                                          cols=16), key=f"{key}_{name}")

    panel()
