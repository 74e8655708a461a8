"""The drawing pad: a small custom component (st.components.v2: plain HTML, CSS and JS in dashboard/pad/, no iframe,
no build step), so it loads with the page and survives page switches. It hands back what was drawn as an RGB frame,
dark ink on white paper, which the pages send through the camera pipeline (core.preprocess) like any frame.

One drawing per session: what you draw on one page is there on the others (the pad repaints it when it mounts).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import streamlit as st

DRAWING_KEY = "your_drawing"  # st.session_state: {"png": data URL, "strokes": n} of the latest drawing, any page
_HERE = Path(__file__).resolve().parent / "pad"
_pad = st.components.v2.component(
    "digit_pad", html=(_HERE / "pad.html").read_text(), css=(_HERE / "pad.css").read_text(),
    js=(_HERE / "pad.js").read_text(),
)


def decode_png_url(url: str) -> np.ndarray:
    """A data:image/png;base64 URL from the pad -> (H,W,C) uint8 array (core.images' guarded decoder)."""
    from core.errors import UserError
    from core.images import decode_image

    head, _, b64 = str(url).partition(",")
    if not head.startswith("data:image/"):
        raise UserError("the drawing did not arrive as an image; clear the pad and draw again")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        raise UserError("the drawing arrived damaged; clear the pad and draw again") from None
    return decode_image(raw, "the drawing")


def drawing_pad(key: str) -> tuple[np.ndarray | None, int]:
    """Mount the pad; (the drawing as an (H,W,C) uint8 frame, dark ink on white, or None when blank; its update number,
    which grows with every stroke and every live update while drawing, so callers can tell a new picture from a
    rerun)."""
    shared = st.session_state.get(DRAWING_KEY)
    restore = {"restore": shared["png"], "strokes": shared["strokes"], "seq": shared.get("seq", 0)} if shared else {}
    state = _pad(key=key, data=restore,
                 default={"image": None}, on_image_change=lambda: None)
    value = state.get("image")
    if value is not None:  # this pad was used: it is the latest drawing (or was cleared)
        shared = value if value.get("strokes") and value.get("png") else None
        st.session_state[DRAWING_KEY] = shared
    if not shared:
        return None, 0
    return decode_png_url(shared["png"]), int(shared.get("seq") or shared["strokes"])
