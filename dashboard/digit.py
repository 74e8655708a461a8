"""Your digit, for the "inside the network" panels: drawn on the pad, an MNIST test digit, an uploaded photo or a
camera snapshot. Anything but a test digit goes through the camera pipeline (core.preprocess, this session's
settings) into the model's 28x28, exactly as a camera frame does; the pad is a sheet of paper, so its target box
is the whole pad."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import streamlit as st

from dashboard import state
from dashboard.pad import drawing_pad

SOURCES = ("Draw", "Test digit", "Upload a photo", "Snapshot")


@dataclass(frozen=True)
class YourDigit:
    image: np.ndarray | None  # (28,28) float32 in [0,1]: the model's input; None when the pipeline found no digit
    reason: str | None  # why there is no digit (core.preprocess), when there is none
    label: int | None  # the true digit, when known (test digits)
    source: str  # "drawn", "test", "photo" or "camera" (core.collection's sources)
    version: tuple  # changes whenever the input changes (each stroke, each live update while drawing)


def pad_config():
    """This session's pipeline settings (the Playground's) with the whole pad as the target box."""
    return dataclasses.replace(state.preprocess_config(), box=None, box_px=None)


def _through_pipeline(frame: np.ndarray, cfg, source: str, version: tuple) -> YourDigit:
    from core.preprocess import preprocess

    r = preprocess(frame, cfg)
    return YourDigit(r.image, r.reason, None, source, version)


def your_digit(key: str, sources: tuple[str, ...] = SOURCES) -> YourDigit | None:
    """The source picker and its input; None until there is something to look at."""
    from core.images import PHOTO_MIN_SIDE, decode_image

    src = st.radio("Your digit", sources, horizontal=True, key=f"{key}_src")
    if src == "Draw":
        frame, seq = drawing_pad(pad_key(key))
        return None if frame is None else _through_pipeline(frame, pad_config(), "drawn", ("drawn", seq))
    if src == "Test digit":
        if not state.data_present():
            st.info("Test digits need MNIST: fetch it on the Home page.", icon=":material/inventory_2:")
            return None
        i = int(st.number_input("MNIST test digit #", 0, 9_999, 0, key=f"{key}_test"))
        data = state.mnist()
        return YourDigit(data.test_images[i].astype(np.float32) / 255.0, None, int(data.test_labels[i]), "test",
                         ("test", i))
    if src == "Upload a photo":
        up = st.file_uploader("A photo of one digit on paper", type=["png", "jpg", "jpeg", "bmp", "webp"],
                              key=f"{key}_upload")
        if up is None:
            return None
        return _through_pipeline(decode_image(up.getvalue(), up.name, PHOTO_MIN_SIDE), state.preprocess_config(),
                                 "photo", ("photo", up.file_id))
    snap = st.camera_input("Hold a digit in the middle of the view", key=f"{key}_snap")
    if snap is None:
        return None
    return _through_pipeline(decode_image(snap.getvalue(), "the snapshot"), state.preprocess_config(), "camera",
                             ("camera", snap.file_id))


def pad_key(key: str) -> str:
    """The pad's widget key: a new one after clear_pad, so a fresh, blank pad mounts."""
    gen = st.session_state.get(f"{key}_pad_generation", 0)
    return f"{key}_pad{gen or ''}"


def clear_pad(key: str) -> None:
    """A blank pad next time (a new pad mounts under a new key) and no shared drawing: after saving a digit."""
    from dashboard.pad import DRAWING_KEY

    st.session_state[f"{key}_pad_generation"] = st.session_state.get(f"{key}_pad_generation", 0) + 1
    st.session_state[DRAWING_KEY] = None


def trail(key: str, d: YourDigit | None, probs: np.ndarray | None) -> list[np.ndarray]:
    """The probabilities after each update of a drawing (for charts.probability_trail); starts again with a new one."""
    k = f"{key}_trail"
    t = st.session_state.get(k) or {"versions": [], "probs": []}
    if d is None or d.source != "drawn" or probs is None:
        st.session_state[k] = None
        return []
    if t["versions"] and d.version[1] < t["versions"][-1]:  # the pad was cleared and drawn again
        t = {"versions": [], "probs": []}
    if not t["versions"] or t["versions"][-1] != d.version[1]:
        t["versions"].append(d.version[1])
        t["probs"].append(np.asarray(probs, float)[:10])
    st.session_state[k] = t
    return t["probs"]
