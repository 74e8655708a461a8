"""Phase 2: a 784-H-10 MLP in NumPy with hand-written backprop, trained live; first-layer units drawn."""

import streamlit as st

from core.numpy_train import MLPConfig
from dashboard import charts, training

st.title("Phase 2 — a two-layer MLP in NumPy")
st.markdown(
    "784 pixels → **H hidden ReLU units** → 10 scores. Backpropagation through softmax, the output layer, the "
    "ReLU and the hidden layer is written by hand (`core/numpy_nets.py`, checked against finite differences and "
    "`torch.autograd`). Each picture below is one hidden unit's 784 input weights: the strokes it looks for."
)
training.numpy_phase("mlp", MLPConfig, "p2", lambda p, fig: charts.first_layer_units(p.W1, fig=fig))
