"""Phase 1: softmax regression in NumPy, trained live; its ten weight templates drawn as they learn."""

import streamlit as st

from core.train import SoftmaxConfig, train
from dashboard import charts, training
from dashboard.runs import save_numpy_partial
from dashboard.widgets import data_gate, friendly, run_picker

st.title("Phase 1 — softmax regression in NumPy")
st.markdown(
    "One matrix multiply: each of the ten digits gets a 28×28 **template** of weights, and the class with the "
    "highest score wins. Every derivative is written by hand in `core/numpy_nets.py`; training is mini-batch SGD "
    "with momentum. Watch the templates turn into blurry digits as the loss falls."
)
data_gate("p1")

cfg = training.numpy_controls("p1", SoftmaxConfig, epochs=20)
if cfg is not None:
    with friendly("starting the run"):
        training.start("softmax", cfg, train, save_numpy_partial)

with friendly("the live view"):
    training.live_panel("softmax", lambda p, fig: charts.softmax_templates(p.W, fig=fig))

st.subheader("Results")
run = run_picker(("softmax",), key="p1_run")
if run is not None:
    with friendly("the saved run"):
        training.numpy_results(run, lambda p, fig: charts.softmax_templates(p.W, fig=fig))
