"""Playground: every stage of the camera preprocessing, live under the sliders, with the model's answer."""

import json

import numpy as np
import streamlit as st

from core.images import decode_image
from core.live import draw_box
from core.preprocess import PreprocessConfig, check_frame, to_rgb255
from dashboard import charts, compute, state
from dashboard.widgets import data_gate, friendly

STEPS = {"112 → 56 → 28 (seed)": [112, 56, 28], "70 → 28": [70, 28], "56 → 28": [56, 28], "one step to 28": [28],
         "112 → 56 (work at 56)": [112, 56]}

st.title("Playground — from a photo to the model's 28×28")
st.markdown(
    "The camera pipeline (`core/preprocess.py`, ported line for line to the web page): **find the digit** in the "
    "picture (a small map of the ink, printed lines removed, strokes grouped, the most digit-like group chosen), "
    "crop around it, shrink it by area averaging, mark each pixel darker than the **paper around it**, keep the "
    "digit's strokes, then frame it like MNIST (20×20, centre of mass in the middle). Move a slider and watch "
    "every stage. Your settings follow you to the **Camera** and **Deploy** pages."
)

src = st.radio("Image source", ["Camera-like samples", "Upload a photo", "Snapshot"], horizontal=True,
               key="pg_source", help="Samples are real MNIST test digits rendered as ink on paper by core.camera_set")
frame, label = None, None
with friendly("the image source", warn=True):
    if src == "Camera-like samples":
        if data_gate("pg"):
            i = st.slider("Sample", 0, 199, 0, key="pg_sample")
            frame, label = compute.camera_like(i)
    elif src == "Upload a photo":
        up = st.file_uploader("A photo of one digit on paper (PNG/JPEG)", type=["png", "jpg", "jpeg", "bmp", "webp"],
                              key="pg_upload")
        if up is not None:
            frame = decode_image(up.getvalue(), up.name)
    else:
        snap = st.camera_input("Hold a digit inside the middle of the view", key="pg_snapshot")
        if snap is not None:
            frame = decode_image(snap.getvalue(), "the snapshot")

cur = state.preprocess_settings()
c = st.columns(7)
new = dict(cur)
new["live_box"] = c[0].slider("Camera box", 0.2, 1.0, float(cur["live_box"]), 0.05, key="pg_box",
                              help="The live camera's target box, a fraction of the frame's short side (photos, "
                              "uploads and snapshots are searched whole)")
new["radius"] = c[1].slider("Paper radius", 1, 12, int(cur["radius"]), key="pg_radius",
                            help="How far around a pixel the paper is looked for (working pixels)")
new["offset"] = c[2].slider("Offset", 0.0, 0.3, float(cur["offset"]), 0.01, key="pg_offset",
                            help="Ink if darker than the paper by more than this fraction")
new["gain"] = c[3].slider("Gain", 0.02, 0.5, float(cur["gain"]), 0.01, key="pg_gain",
                          help="How much darker than the paper is full-strength ink")
steps = dict(STEPS)
now = next((n for n, s in steps.items() if list(s) == list(cur["steps"])), None)
if now is None:  # settings from elsewhere (the model's contract, an imported JSON): offer them as they are
    now = " → ".join(map(str, cur["steps"])) + " (current)"
    steps[now] = list(cur["steps"])
names = list(steps)
new["steps"] = steps[c[4].selectbox("Downscale steps", names, names.index(now), key="pg_steps")]
new["framing"] = c[5].toggle("MNIST framing", bool(cur["framing"]), key="pg_framing")
new["lines"] = c[6].toggle("Remove lines", bool(cur["lines"]), key="pg_edge",
                          help="Drop printed lines: long, thin and straight")
with friendly("the settings"):
    PreprocessConfig.from_dict(new)  # refuse impossible combinations before storing them
    st.session_state[state.PREPROCESS_KEY] = new
b = st.columns([1, 1, 2, 2])
if b[0].button("Model's settings", icon=":material/undo:", key="pg_reset"):
    st.session_state[state.PREPROCESS_KEY] = state.default_preprocess()
    for k in ("pg_box", "pg_radius", "pg_offset", "pg_gain", "pg_steps", "pg_framing", "pg_edge"):
        st.session_state.pop(k, None)
    st.rerun()
b[1].download_button("Settings JSON", json.dumps(new, indent=2), "preprocess.json", "application/json",
                     icon=":material/save:", key="pg_json")
b[2].page_link("../pages/deploy.py", label="Export to the web bundle", icon=":material/inventory_2:")

if frame is None:
    st.info("Pick a sample, upload a photo or take a snapshot to see the pipeline.", icon=":material/image:")
    st.stop()

with friendly("the pipeline"):
    out = compute.pipeline(frame, new)
    s = out["stages"]
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
    c1.plotly_chart(charts.picture(shown, "pg-frame", 230, title=f"{frame.shape[1]}×{frame.shape[0]} frame"),
                    key="pg_frame")
    c2.plotly_chart(charts.filmstrip(film), key="pg_film")
    st.caption(f"Pipeline time for this frame: {out['ms']:.1f} ms" + (f" · true digit: {label}" if label is not None
                                                                       else ""))

    seed_out = compute.pipeline(frame, PreprocessConfig.seed().to_dict())["stages"]
    s = compute.pipeline(frame, PreprocessConfig.from_dict(new).to_dict())["stages"]
    model = state.shipped_model()
    c = st.columns(4)
    pairs = (("Your settings", s), ("The seed's settings", seed_out))
    for col, (who, stg) in zip((c[0:2], c[2:4]), pairs, strict=True):
        col[0].plotly_chart(charts.digit_heatmap(stg.image, meta="model-input" if stg is s else "seed-input",
                                                 title=f"{who}: 28×28"), key=f"pg_in_{who}")
        if stg.reason is None:
            p = model.probabilities(stg.image[None])[0]
            col[1].plotly_chart(charts.probability_bars(p, meta="pg-probs" if stg is s else "seed-probs",
                                                        title=f"→ {int(p.argmax())} ({p.max():.0%})"),
                                key=f"pg_p_{who}")
        else:
            col[1].warning(f"No digit: {stg.reason}.", icon=":material/visibility_off:")
    seed = PreprocessConfig.seed().to_dict()
    rows = "".join(f"| {k} | `{new.get(k, v)}` | `{v}` | {'●' if str(new.get(k, v)) != str(v) else ''} |\n"
                   for k, v in seed.items())
    st.markdown("| setting | yours | the seed's | changed |\n|---|---|---|---|\n" + rows)
