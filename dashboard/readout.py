"""The Camera page's readout, sized for a room: the digit, its confidence and the frame rate as big numbers, the 10
probabilities and the 28x28 the model sees as large charts; and saving what the camera sees to your collection."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.widgets import chart

CHART_HEIGHT = 340  # px: readable from the back of a room (the first version's 160 px was not)


def show_reading(r, figs: dict) -> None:
    """One core.live.Reading: big numbers, then the probabilities and the model's input, one under the other so
    each gets the column's full width. `figs` keeps the figures between redraws (only their data is swapped)."""
    c = st.columns(3)
    c[0].metric("Digit", str(r.stable) if r.stable is not None else ("…" if r.digit is not None else "no digit"))
    c[1].metric("Confidence", f"{r.confidence:.0%}" if r.digit is not None else "—")
    c[2].metric("FPS", f"{r.fps:.1f}", help=f"frames processed per second; {r.ms:.1f} ms of work per frame")
    st.caption(f"{r.size[0]}×{r.size[1]} frames · {r.ms:.1f} ms of work per frame · {r.frames} frames so far")
    if r.error:
        st.error(f"The camera thread hit a problem: {r.error}", icon=":material/warning:")
    if r.image is None:
        st.caption(f"No digit in the box ({r.reason}).")
        return
    figs["p"] = charts.probability_bars(r.probs, height=CHART_HEIGHT, fig=figs.get("p"))
    figs["in"] = charts.digit_heatmap(r.image, height=CHART_HEIGHT, fig=figs.get("in"))
    chart(figs["p"], "cam_probs")
    chart(figs["in"], "cam_input")


def save_panel(image, key: str) -> None:
    """Label what the camera sees and add it to your collection (core.collection), for the Teach page."""
    from core import collection

    if image is None:
        st.caption("Hold a digit in the box: once the model sees one, you can save it here with its right label.")
        return
    label = st.segmented_control("It is a", list(range(10)), key=f"{key}_label")
    if st.button("Save it to my collection", icon=":material/add:", key=f"{key}_save", disabled=label is None):
        s = collection.save(image, int(label), "camera")
        st.toast(f"Saved a {s.label} from the camera" + (" (held out)" if s.split == collection.HELD_OUT else ""),
                 icon=":material/check:")
