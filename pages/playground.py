"""Playground: every stage of the camera preprocessing, live under the sliders, with the model's answer."""

import json

import numpy as np
import streamlit as st

from core.images import PHOTO_MIN_SIDE, decode_image
from core.live import draw_box
from core.preprocess import PreprocessConfig, check_frame, to_rgb255
from dashboard import charts, compute, state
from dashboard.pad import drawing_pad
from dashboard.widgets import chart, data_gate, friendly

STEPS = {"112 → 56 → 28 (seed)": [112, 56, 28], "70 → 28": [70, 28], "56 → 28": [56, 28], "one step to 28": [28],
         "112 → 56 (work at 56)": [112, 56]}


def step_name(steps: list) -> str:
    return next((n for n, s in STEPS.items() if list(s) == list(steps)), " → ".join(map(str, steps)) + " (current)")


def widget_values(d: dict) -> dict:
    """The widgets' values that show the settings `d`."""
    return {"pg_box": float(d["live_box"]), "pg_radius": int(d["radius"]), "pg_offset": float(d["offset"]),
            "pg_gain": float(d["gain"]), "pg_steps": step_name(d["steps"]), "pg_framing": bool(d["framing"]),
            "pg_lines": bool(d["lines"])}


def reset_to_model() -> None:
    """Before the widgets are drawn: the stored settings AND every slider back to the model's (a callback, so the
    browser's sliders are told their new values too)."""
    d = state.default_preprocess()
    st.session_state[state.PREPROCESS_KEY] = d
    st.session_state.update(widget_values(d))


st.title("Playground — from a photo to the model's 28×28")
st.markdown(
    "The camera pipeline (`core/preprocess.py`, ported line for line to the web page): **find the digit** in the "
    "picture (a small map of the ink, printed lines removed, strokes grouped, the most digit-like group chosen), "
    "crop around it, shrink it by area averaging, mark each pixel darker than the **paper around it**, keep the "
    "digit's strokes, then frame it like MNIST (20×20, centre of mass in the middle). Move a slider and watch "
    "every stage. Your settings follow you to the **Camera** and **Deploy** pages."
)

src = st.radio("Image source", ["Camera-like samples", "Draw", "Upload a photo", "Snapshot"], horizontal=True,
               key="pg_source", help="Samples are real MNIST test digits rendered as ink on paper by core.camera_set")
frame, label, drawn = None, None, src == "Draw"
with friendly("the image source", warn=True):
    if src == "Camera-like samples":
        if data_gate("pg"):
            i = st.slider("Sample", 0, 199, 0, key="pg_sample")
            frame, label = compute.camera_like(i)
    elif drawn:
        frame, _ = drawing_pad("pg_pad")
    elif src == "Upload a photo":
        up = st.file_uploader("A photo of one digit on paper (PNG/JPEG)", type=["png", "jpg", "jpeg", "bmp", "webp"],
                              key="pg_upload")
        if up is not None:
            frame = decode_image(up.getvalue(), up.name, PHOTO_MIN_SIDE)
    else:
        snap = st.camera_input("Hold a digit inside the middle of the view", key="pg_snapshot")
        if snap is not None:
            frame = decode_image(snap.getvalue(), "the snapshot")

cur = state.preprocess_settings()
for k, v in widget_values(cur).items():
    st.session_state.setdefault(k, v)
steps = dict(STEPS)
steps.setdefault(step_name(cur["steps"]), list(cur["steps"]))  # settings from elsewhere: offered as they are
left, right = st.columns([2, 3])  # on a phone: the 28x28 first, the sliders right under it
with right:
    c = st.columns(2)
    new = dict(cur)
    new["live_box"] = c[0].slider("Camera box", 0.2, 1.0, step=0.05, key="pg_box",
                                  help="The live camera's target box, a fraction of the frame's short side (photos, "
                                  "uploads, snapshots and drawings are searched whole)")
    new["radius"] = c[1].slider("Paper radius", 1, 12, key="pg_radius",
                                help="How far around a pixel the paper is looked for (working pixels)")
    new["offset"] = c[0].slider("Offset", 0.0, 0.3, step=0.01, key="pg_offset",
                                help="Ink if darker than the paper by more than this fraction")
    new["gain"] = c[1].slider("Gain", 0.02, 0.5, step=0.01, key="pg_gain",
                              help="How much darker than the paper is full-strength ink")
    new["steps"] = steps[c[0].selectbox("Downscale steps", list(steps), key="pg_steps")]
    t = c[1].columns(2)
    new["framing"] = t[0].toggle("MNIST framing", key="pg_framing")
    new["lines"] = t[1].toggle("Remove lines", key="pg_lines", help="Drop printed lines: long, thin and straight")
    with friendly("the settings"):
        PreprocessConfig.from_dict(new)  # refuse impossible combinations before storing them
        st.session_state[state.PREPROCESS_KEY] = new
    b = st.columns(3)
    b[0].button("Model's settings", icon=":material/undo:", key="pg_reset", on_click=reset_to_model)
    b[1].download_button("Settings JSON", json.dumps(new, indent=2), "preprocess.json", "application/json",
                         icon=":material/save:", key="pg_json")
    b[2].page_link("../pages/deploy.py", label="To the web bundle", icon=":material/inventory_2:")

if frame is None:
    left.info("Pick a sample, draw, upload a photo or take a snapshot to see the pipeline.", icon=":material/image:")
    st.stop()

with friendly("the pipeline"):
    out = compute.pipeline(frame, new)  # the whole picture is searched: upload, snapshot, drawing alike
    s = out["stages"]
    model = state.shipped_model()
    with left:
        chart(charts.digit_heatmap(s.image, meta="pg-input", title="Your settings: the 28×28 the model sees"),
              "pg_in_yours")
        if s.reason is None:
            a = model.answers(s.image[None])[0]
            st.metric("The model reads", str(a.digit) if a.digit is not None else a.reason,
                      f"{a.confidence:.0%} sure" + (f" · true digit {label}" if label is not None else ""),
                      delta_color="off")
        else:
            st.warning(f"No digit: {s.reason}.", icon=":material/visibility_off:")
    shown = np.ascontiguousarray(frame if frame.ndim == 3 and frame.shape[2] == 3 else to_rgb255(
        check_frame(frame)).astype(np.uint8))
    film = []
    if s.found is not None:  # step 3: the find map, printed lines in blue, groups boxed, the chosen one in orange
        film.append(("find: ink", charts.find_map(s.found)))
    if s.downscales:
        draw_box(shown, s.box[0], s.box[1], s.box[2], (228, 87, 46), t=max(2, frame.shape[1] // 200))
        film += [("crop", s.crop / 255.0)] + [(f"{d.shape[0]}px", d / 255.0) for d in s.downscales]
        film += [("gray", s.gray / 255.0), ("paper", s.background / 255.0), ("ink mask", s.ink),
                 ("kept ink", s.kept), ("model input", s.image)]
    c1, c2 = st.columns([1, 3])
    chart(charts.picture(shown, "pg-frame", 230, title=f"{frame.shape[1]}×{frame.shape[0]} frame"), "pg_frame", c1)
    chart(charts.filmstrip(film), "pg_film", c2)
    st.caption(f"Pipeline time for this frame: {out['ms']:.1f} ms" + (f" · true digit: {label}" if label is not None
                                                                       else ""))

    seed_cfg = PreprocessConfig.seed().to_dict() | ({"box_px": None} if drawn else {})  # a drawing: the whole pad
    seed_out = compute.pipeline(frame, seed_cfg)["stages"]
    c = st.columns(4)
    pairs = (("Your settings", s), ("The seed's settings", seed_out))
    for col, (who, stg) in zip((c[0:2], c[2:4]), pairs, strict=True):
        chart(charts.digit_heatmap(stg.image, meta="model-input" if stg is s else "seed-input",
                                   title=f"{who}: 28×28"), f"pg_in_{who}", col[0])
        if stg.reason is None:
            a = model.answers(stg.image[None])[0]
            chart(charts.probability_bars(a.probabilities, meta="pg-probs" if stg is s else "seed-probs",
                                          title=f"→ {a.digit} ({a.confidence:.0%})" if a.digit is not None
                                          else f"→ {a.reason}"), f"pg_p_{who}", col[1])
        else:
            col[1].warning(f"No digit: {stg.reason}.", icon=":material/visibility_off:")
    seed = PreprocessConfig.seed().to_dict()
    rows = "".join(f"| {k} | `{new.get(k, v)}` | `{v}` | {'●' if str(new.get(k, v)) != str(v) else ''} |\n"
                   for k, v in seed.items())
    st.markdown("| setting | yours | the seed's | changed |\n|---|---|---|---|\n" + rows)
