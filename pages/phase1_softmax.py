"""Phase 1: softmax regression in NumPy, trained live; its ten weight templates drawn as they learn."""

import streamlit as st

from core.numpy_train import SoftmaxConfig
from dashboard import charts, training

st.title("Phase 1 — softmax regression in NumPy")
st.markdown(
    "One matrix multiply: each of the ten digits gets a 28×28 **template** of weights, and the class with the "
    "highest score wins. Every derivative is written by hand in `core/numpy_nets.py`; training is mini-batch SGD "
    "with momentum. Watch the templates turn into blurry digits as the loss falls."
)
training.numpy_phase("softmax", SoftmaxConfig, "p1", lambda p, fig: charts.softmax_templates(p.W, fig=fig))
