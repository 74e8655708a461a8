"""Phase 4: a CNN trained live with augmentation, its filters and feature maps, and int8 quantization."""

import streamlit as st

from core.cnn import MODEL_NAME
from core.cnn_train import PRESETS, preset_config
from dashboard import charts, compute, state, training
from dashboard.runs import export_task, save_cnn_partial
from dashboard.widgets import data_gate, friendly, run_picker

st.title("Phase 4 — a CNN, augmented, exported, quantized")
st.markdown(
    "Convolution–BatchNorm–ReLU–pool stages and a small classifier (`core/cnn.py`: three stages in `default`, the "
    "seed's two in `seed`), trained with AdamW (`core/cnn_train.py`) on images that are randomly rotated, shifted "
    "and zoomed **per sample** so the camera's sloppy framing looks familiar. Then exported to ONNX and quantized "
    "to int8 two ways (`core/export.py`). The live view shows how far an epoch has got and how fast it goes here."
)
have_data = data_gate("p4")

st.subheader("Train")
c = st.columns(6)
preset = c[0].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("default"), key="p4_preset",
                        help="default: three conv stages with BatchNorm, 64-unit head (ours); seed: the seed's network")
d = preset_config(preset)  # the preset's recipe: the widgets start from it
epochs = c[1].number_input("Epochs", 1, 50, 2, key="p4_epochs")
batch = c[2].select_slider("Batch size", [32, 64, 128, 256, 512], d.batch_size, key="p4_batch")
lr = c[3].number_input("Learning rate", 1e-4, 0.1, d.lr, step=1e-3, format="%.4f", key="p4_lr")
seed = c[4].number_input("Seed", 0, 2**31 - 1, 0, key="p4_seed")
max_steps = c[5].number_input("Max steps", 0, 10**6, 0, key="p4_max_steps", help="0 = every epoch")
c = st.columns([1, 2, 2, 2, 2])
augment = c[0].toggle("Augment", d.augment, key="p4_augment")
rotate = c[1].slider("Rotate ± (°)", 0.0, 45.0, d.rotate, 1.0, key="p4_rotate", disabled=not augment)
translate = c[2].slider("Shift ± (fraction)", 0.0, 0.3, d.translate, 0.01, key="p4_translate", disabled=not augment)
scale = c[3].slider("Zoom range", 0.5, 1.5, (d.scale_min, d.scale_max), 0.05, key="p4_scale", disabled=not augment)
eval_every = c[4].select_slider("Test accuracy every", [0, 50, 100, 200, 500], 0, key="p4_eval",
                                format_func=lambda n: "epoch end" if n == 0 else f"{n} steps")

if have_data:
    with friendly("the augmentation preview"):
        idx = st.slider("Training digit for the preview", 0, 59_999, 0, key="p4_aug_index")
        imgs = compute.augmentation(idx, seed, rotate if augment else 0.0, translate if augment else 0.0,
                                    tuple(scale) if augment else (1.0, 1.0))
        st.plotly_chart(charts.digit_strip(imgs, ["original"] + [f"variant {i}" for i in range(1, 8)],
                                           "augmentation", title="What the network sees: one digit, 7 random draws"),
                        key="p4_aug")

c = st.columns([2, 1, 5], vertical_alignment="bottom")
threads = training.threads_input(c[1], "p4")
if c[0].button("Start training", type="primary", icon=":material/play_arrow:", key="p4_start"):
    with friendly("starting the run"):
        from core import cnn_train

        cfg = preset_config(preset, epochs=epochs, batch_size=batch, lr=lr, seed=seed, augment=augment,
                            rotate=rotate, translate=translate, scale_min=scale[0], scale_max=scale[1],
                            max_steps=max_steps or None, eval_every=eval_every or None, log_every=10,
                            snapshot_every=50, threads=threads)
        training.start("cnn", cfg, cnn_train.train, save_cnn_partial, prefix=f"cnn-{cfg.arch}")

with friendly("the live view"):
    training.live_panel("cnn", lambda p, fig: charts.conv_filters(training.cnn_first_conv(p), fig=fig))

st.subheader("Inside a trained CNN")
run = run_picker(("cnn",), key="p4_run")
if run is not None and have_data:
    with friendly("the CNN inspection"):
        wf = run.path / MODEL_NAME
        i = st.slider("Test digit", 0, 9_999, 0, key="p4_digit")
        fm = compute.cnn_feature_maps(str(wf), wf.stat().st_mtime, i)
        c1, c2 = st.columns([1, 2])
        c1.plotly_chart(charts.probability_bars(fm["probs"], meta="p4-probs",
                                                title=f"Digit #{i} → {int(fm['probs'].argmax())}"), key="p4_probs")
        c2.plotly_chart(charts.conv_filters(fm["filters"]), key="p4_filters")
        for name, maps in fm["maps"].items():
            st.plotly_chart(charts.feature_maps(maps, f"{name}: {maps.shape[0]} maps of {maps.shape[1]}×"
                                                f"{maps.shape[2]}", f"p4-{name}", cols=16), key=f"p4_{name}")

st.subheader("Quantization: fp32 vs int8")
with friendly("the quantization table"):
    summary = compute.export_summary(run.path) if run is not None else None
    if summary is None:
        if run is not None and st.button("Export and quantize this run", icon=":material/compress:", key="p4_export"):
            training.start_task("export", export_task(run.path), run.path)
        training.task_panel("export")
        try:
            c = state.shipped_model().contract
            q, met = c.get("quantization") or {}, c.get("metrics") or {}
            st.caption(f"Shipped model: {c.get('exported_as', c['model_file'])} — {q.get('method', '')}; test "
                       f"accuracy {met.get('test_accuracy', 0):.2%} vs fp32 {met.get('fp32_test_accuracy', 0):.2%}.")
        except Exception:
            st.caption("Export a CNN run (`python -m core export RUN --ship`) to see fp32 vs int8 here.")
    else:
        onnx = run.path / "onnx"
        fl = compute.quantization_flips(str(onnx), (onnx / "export.json").stat().st_mtime)
        rows = [{"format": k, "size (kB)": r["size_bytes"] / 1e3, "test accuracy": f"{r['test_accuracy']:.2%}",
                 "drop (pp)": r["accuracy_drop_pp"], "1 image (µs)": round(r["latency_ms_1"] * 1e3),
                 "batch 256 (img/s)": round(r["throughput_256_per_s"]), "flips vs fp32": len(fl["flips"].get(k, []))}
                for k, r in summary["models"].items()]
        st.dataframe(rows, hide_index=True)
        st.caption(f"Shipping choice: {summary['shipping']['reason']}")
        for fmt, idx in fl["flips"].items():
            if len(idx):
                idx = idx[:12]
                data = state.mnist()
                caps = [f"{fl['preds']['fp32'][j]}→{fl['preds'][fmt][j]} (true {data.test_labels[j]})" for j in idx]
                st.plotly_chart(charts.digit_strip(data.test_images[idx], caps, f"flips-{fmt}",
                                                   title=f"Digits whose prediction flips under {fmt}"),
                                key=f"p4_flips_{fmt}")
