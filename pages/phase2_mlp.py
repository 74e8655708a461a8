"""Phase 2: a 784-H-10 MLP in NumPy with hand-written backprop, trained live; first-layer units drawn."""

import streamlit as st

from core.train import MLPConfig, train
from dashboard import charts, training
from dashboard.runs import save_numpy_partial
from dashboard.widgets import data_gate, friendly, run_picker

st.title("Phase 2 — a two-layer MLP in NumPy")
st.markdown(
    "784 pixels → **H hidden ReLU units** → 10 scores. Backpropagation through softmax, the output layer, the "
    "ReLU and the hidden layer is written by hand (`core/numpy_nets.py`, checked against finite differences and "
    "`torch.autograd`). Each picture below is one hidden unit's 784 input weights: the strokes it looks for."
)
data_gate("p2")

cfg = training.numpy_controls("p2", MLPConfig, epochs=20)
if cfg is not None:
    with friendly("starting the run"):
        training.start("mlp", cfg, train, save_numpy_partial)

with friendly("the live view"):
    training.live_panel("mlp", lambda p, fig: charts.first_layer_units(p.W1, fig=fig))

st.subheader("Results")
run = run_picker(("mlp",), key="p2_run")
if run is not None:
    with friendly("the saved run"):
        training.numpy_results(run, lambda p, fig: charts.first_layer_units(p.W1, fig=fig))
