"""Phase 3: the parity panel: the same MLP weights in NumPy and PyTorch, number for number."""

import streamlit as st

from core.numpy_train import WEIGHTS_NAME
from dashboard import charts, compute, state
from dashboard.widgets import data_gate, friendly, stat_row

st.title("Phase 3 — the same MLP in PyTorch")
st.markdown(
    "`core/torch_mlp.py` translates the phase-2 MLP to `torch.nn.Linear` layers (whose weights are stored "
    "transposed) and `torch.optim.SGD`. Below, one set of weights runs through **both** frameworks: the logits "
    "of a test digit side by side, the largest difference anywhere (forward, loss, every gradient, one and "
    "three SGD steps with momentum and L2) and the time each framework takes."
)
if not data_gate("p3"):
    st.stop()

runs = state.saved_runs(("mlp", "torch-mlp"))
sources = ["fresh random weights (He init)"] + [r.label for r in runs]
c = st.columns([3, 1, 1, 1, 1])
src = c[0].selectbox("Weights", sources, key="p3_source",
                     help="A saved phase-2 run, or freshly initialized weights (same init as the NumPy trainer)")
d = compute.PARITY_DEFAULTS
hidden = c[1].select_slider("Hidden units", [16, 32, 64, 128, 256, 512], d["hidden"], key="p3_hidden",
                            disabled=src != sources[0])
seed = c[2].number_input("Seed", 0, 2**31 - 1, d["seed"], key="p3_seed", disabled=src != sources[0])
index = c[3].number_input("Test digit #", 0, 9_999, d["index"], key="p3_index")
batch = c[4].select_slider("Batch", [16, 64, 128, 256, 512], d["batch"], key="p3_batch",
                           help="Batch for the gradient and SGD-step comparisons")

with friendly("the parity check"):
    run = runs[sources.index(src) - 1] if src != sources[0] else None
    wfile = run.path / WEIGHTS_NAME if run else None
    r = compute.parity_report(str(wfile) if wfile else None, wfile.stat().st_mtime if wfile else 0.0,
                              hidden, seed, int(index), batch)
    worst = max(r["parity"][k] / r["tolerances"][k] for k in r["parity"])
    stat_row([
        ("Digit", f"{r['label']}"),
        ("NumPy says", f"{int(r['z_np'].argmax())}"),
        ("PyTorch says", f"{int(r['z_t'].argmax())}"),
        ("Max |Δ| logits (float32)", f"{r['parity']['logits_f32']:.1e}"),
        ("Max |Δ| gradients (float64)", f"{r['parity']['grads_f64']:.1e}"),
    ])
    c1, c2 = st.columns([1, 3])
    c1.plotly_chart(charts.digit_heatmap(r["image"] / 255.0, meta="p3-digit", title=f"Test digit #{index}"),
                    key="p3_digit")
    c2.plotly_chart(charts.side_by_side(range(10), r["z_np"], r["z_t"], (f"NumPy {r['numpy']}",
                                        f"PyTorch {r['torch']}"), "p3-logits", "Logits, side by side",
                                        xaxis=dict(dtick=1, title="digit")), key="p3_logits")

    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Max |NumPy − PyTorch|** on a batch of {r['batch']} test digits, {r['hidden']} hidden units")
        st.dataframe([{"quantity": k.replace("_", " "), "max |Δ|": f"{v:.2e}", "tolerance": f"{r['tolerances'][k]:.0e}",
                       "within": "yes" if v <= r["tolerances"][k] else "NO"} for k, v in r["parity"].items()],
                     hide_index=True)
        (st.success if worst <= 1 else st.error)(
            "Identical up to floating-point rounding." if worst <= 1 else "A difference exceeds its tolerance.")
    with c2:
        t = r["timings_ms"]
        st.plotly_chart(charts.side_by_side(list(t), [v[0] for v in t.values()], [v[1] for v in t.values()],
                                            ("NumPy", "PyTorch"), "p3-timings",
                                            f"Time for a batch of {r['batch']} (float32, median of repeats)",
                                            height=300, yaxis_title="ms (median)"), key="p3_timings")
    st.caption("Training the same MLP in PyTorch from the command line: `python -m core train torch-mlp`; "
               "throughput of both frameworks: `python -m core bench numpy`.")
