"""Phase 3: the parity panel: the same MLP weights in NumPy and PyTorch, number for number."""

import streamlit as st

from core.numpy_train import WEIGHTS_NAME
from dashboard import charts, compute, state
from dashboard.widgets import chart, data_gate, friendly, stat_row

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
    chart(charts.digit_heatmap(r["image"] / 255.0, meta="p3-digit", title=f"Test digit #{index}"), "p3_digit", c1)
    chart(charts.side_by_side(range(10), r["z_np"], r["z_t"], (f"NumPy {r['numpy']}", f"PyTorch {r['torch']}"),
                              "p3-logits", "Logits, side by side", xaxis=dict(dtick=1, title="digit")), "p3_logits", c2)

    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Max |NumPy − PyTorch|** on a batch of {r['batch']} test digits, {r['hidden']} hidden units")
        st.dataframe([{"compared": compute.PARITY_LABELS.get(k, k), "max |Δ|": f"{v:.2e}",
                       "tolerance": f"{r['tolerances'][k]:.0e}", "within": "yes" if v <= r["tolerances"][k] else "NO"}
                      for k, v in r["parity"].items()], hide_index=True)
        (st.success if worst <= 1 else st.error)(
            "Identical up to floating-point rounding." if worst <= 1 else "A difference exceeds its tolerance.")
    with c2:
        t = compute.parity_timings(str(wfile) if wfile else None, wfile.stat().st_mtime if wfile else 0.0, hidden,
                                   seed, batch)
        n = len(next(iter(t.values()))["NumPy"])
        chart(charts.timing_bars(t, "p3-timings", f"Time for a batch of {batch} (float32)"), "p3_timings")
        st.caption(f"Bars: the median of {n} interleaved rounds; whiskers: the middle half of the rounds (25th to "
                   "75th percentile). Timed once per set of weights and batch, not per digit shown.")
    st.caption("Training the same MLP in PyTorch from the command line: `python -m core train torch-mlp`; "
               "throughput of both frameworks: `python -m core bench numpy`.")
