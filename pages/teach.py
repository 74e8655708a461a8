"""Teach it your handwriting: save your digits with their labels, fine-tune the shipped CNN on them mixed with MNIST
(core.finetune), see before and after side by side, and use the new model on the Camera and Deploy pages."""

import streamlit as st

from core import collection
from dashboard import charts, state, teaching, training
from dashboard.digit import clear_pad, your_digit
from dashboard.widgets import chart, data_gate, friendly

st.title("Teach it your handwriting")
st.markdown(
    "The shipped network learned from MNIST's writers. Save a few of **your** digits with their right labels, and it "
    "fine-tunes on them mixed with MNIST in a few seconds (`core/finetune.py`). Every fifth digit you save is held "
    "out, never trained on, so the before/after on those measures the gain honestly, and MNIST's 10,000 test digits "
    "show what the network kept. The new model can then run the **Camera** and the **Deploy** bundle."
)
have_data = data_gate("t")

st.subheader("1 · Save your digits")
c = st.columns([2, 3])
with c[0], friendly("your digit", warn=True):
    d = your_digit("t", sources=("Draw", "Upload a photo", "Snapshot"))
with c[1], friendly("saving", warn=True):
    if d is None or d.image is None:
        st.caption("Draw a digit (or use a photo or a snapshot); it goes through the camera pipeline, and the 28×28 "
                   "the model sees is what is saved." + (f" No digit found: {d.reason}." if d else ""))
    else:
        a = state.shipped_model().answers(d.image[None])[0]
        chart(charts.digit_heatmap(d.image, meta="t-input", height=220,
                                   title="Saved as this 28×28" + (f" · the shipped model reads {a.digit}"
                                                                  if a.digit is not None else f" · {a.reason}")),
              "t_input")
        label = st.segmented_control("It is a", list(range(10)), default=a.digit, key="t_label")
        if st.button("Save to my collection", type="primary", icon=":material/add:", key="t_save",
                     disabled=label is None):
            s = collection.save(d.image, int(label), d.source)
            st.toast(f"Saved a {s.label}" + (" (held out: never trained on)" if s.split == collection.HELD_OUT
                                             else ""), icon=":material/check:")
            clear_pad("t")
            st.rerun()

st.subheader("2 · Your collection")
with friendly("the collection"):
    teaching.collection_panel("t")

st.subheader("3 · Fine-tune and compare")
with friendly("fine-tuning"):
    samples = collection.list_samples()
    trained, held = collection.split(samples)
    if st.button(f"Fine-tune on my {len(trained)} digits", type="primary", icon=":material/model_training:",
                 key="t_finetune", disabled=not (trained and have_data)):
        training.start_task("finetune", teaching.finetune_task(samples))
    training.task_panel("finetune")
    teaching.results_panel("t")
