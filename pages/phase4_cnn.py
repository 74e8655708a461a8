"""Phase 4: a CNN trained live with augmentation, inside it on your digit, and int8 quantization."""

import streamlit as st

from core.cnn_train import PRESETS, preset_config
from dashboard import charts, compute, inside, state, training
from dashboard.runs import export_task, save_cnn_partial
from dashboard.widgets import chart, data_gate, friendly

arch = compute.arch_summary("default")
st.title("Phase 4 — a CNN, augmented, exported, quantized")
st.markdown(
    f"{arch['stages']} convolution–BatchNorm–ReLU–pool stages ({' → '.join(map(str, arch['channels']))} channels) and "
    f"a small classifier, {arch['params']:,} parameters (`core/cnn.py`, preset `default`; `seed` is the seed's "
    "two-stage network), trained with AdamW (`core/cnn_train.py`) on images that are randomly rotated, shifted and "
    "zoomed **per sample** so the camera's sloppy framing looks familiar. Then exported to ONNX and quantized to int8 "
    "two ways (`core/export.py`). Draw a digit below to see what every layer makes of it."
)
st.markdown("**Live:** the preset `fast` (two stages on the centre 24×24, Adam, one random shift per batch, 5 epochs) "
            "is built to be watched: the loss falls, the filters form and the accuracy crosses 99 % while you talk. "
            + training.speedrun_text(training.speedrun_figure()) + " The full recipe, `default`, stays a choice.")
have_data = data_gate("p4")

st.subheader("Train")
c = st.columns(4)
preset = c[0].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("fast"), key="p4_preset",
                        help="fast: the live run, 99 % in seconds; default: three conv stages with BatchNorm, 64-unit "
                        "head, AdamW with per-sample rotate/shift/zoom (ours, the shipped model's); seed: the seed's "
                        "network; camera: default plus camera renderings and 'not a digit'")
d = preset_config(preset)  # the preset's recipe: the widgets start from it
epochs = c[1].number_input("Epochs", 1, 50, d.epochs if preset == "fast" else 2, key="p4_epochs")
batch = c[2].select_slider("Batch size", [32, 64, 128, 256, 512], d.batch_size, key="p4_batch")
lr = c[3].number_input("Learning rate", 1e-4, 0.1, d.lr, step=1e-3, format="%.4f", key="p4_lr")
c = st.columns(4)
seed = c[0].number_input("Seed", 0, 2**31 - 1, 0, key="p4_seed")
max_steps = c[1].number_input("Max steps", 0, 10**6, 0, key="p4_max_steps", help="0 = every epoch")
eval_every = c[2].select_slider("Test accuracy every", ["auto", 0, 50, 100, 200, 500], "auto", key="p4_eval",
                                format_func=lambda n: {"auto": "auto", 0: "epoch end"}.get(n, f"{n} steps"),
                                help="auto: every 50 steps for fast; else at each epoch's end, or four times during "
                                "a run shorter than an epoch")
augment = c[3].toggle("Augment", d.augment, key="p4_augment")
c = st.columns(3)
per_sample = augment and not d.shift  # fast shifts whole batches by ±1 px instead
rotate = c[0].slider("Rotate ± (°)", 0.0, 45.0, d.rotate, 1.0, key="p4_rotate", disabled=not per_sample)
translate = c[1].slider("Shift ± (fraction)", 0.0, 0.3, d.translate, 0.01, key="p4_translate", disabled=not per_sample)
scale = c[2].slider("Zoom range", 0.5, 1.5, (d.scale_min, d.scale_max), 0.05, key="p4_scale", disabled=not per_sample)

if have_data:
    with friendly("the augmentation preview"):
        idx = st.slider("Training digit for the preview", 0, 59_999, 0, key="p4_aug_index")
        imgs = compute.augmentation(idx, seed, rotate if per_sample else 0.0,
                                    translate if per_sample else d.shift / 28 if augment else 0.0,
                                    tuple(scale) if per_sample else (1.0, 1.0))
        chart(charts.digit_strip(imgs, ["original"] + [f"variant {i}" for i in range(1, 8)], "augmentation",
                                 title="What the network sees: one digit, 7 random draws"), "p4_aug")

c = st.columns([2, 1, 5], vertical_alignment="bottom")
threads = training.threads_input(c[1], "p4")
if c[0].button("Start training", type="primary", icon=":material/play_arrow:", key="p4_start"):
    with friendly("starting the run"):
        from core import cnn_train

        every = (training.auto_eval_every(max_steps, live=preset == "fast") if eval_every == "auto"
                 else (eval_every or None))
        cfg = preset_config(preset, epochs=epochs, batch_size=batch, lr=lr, seed=seed, augment=augment,
                            rotate=rotate, translate=translate, scale_min=scale[0], scale_max=scale[1],
                            max_steps=max_steps or None, eval_every=every, log_every=10, snapshot_every=50,
                            threads=threads)
        training.start("cnn", cfg, cnn_train.train, save_cnn_partial, prefix=f"cnn-{cfg.arch}")

with friendly("the live view"):
    training.live_panel("cnn", lambda p, fig: charts.conv_filters(training.cnn_first_conv(p), fig=fig))

st.subheader("Inside the network, on your digit")
nets = compute.cnn_networks()
net = None
if not nets:
    st.info("No CNN weights yet: train one above (a few hundred steps are enough to look inside).")
else:
    name = st.selectbox("Network", list(nets), key="p4_net", help="The shipped network, or a saved CNN run")
    net = nets[name]
    with friendly("the first-layer filters"):
        chart(charts.conv_filters(compute.cnn_filters(str(net), net.stat().st_mtime)), "p4_filters")
    inside.cnn_inside(net, "p4x")

st.subheader("Quantization: fp32 vs int8")
with friendly("the quantization table"):
    run_dir = net.parent if net is not None else None
    summary = compute.export_summary(run_dir) if run_dir is not None else None
    if summary is None:
        if run_dir is not None and st.button("Export and quantize this run", icon=":material/compress:",
                                             key="p4_export"):
            training.start_task("export", export_task(run_dir), run_dir)
        training.task_panel("export")
        with friendly("the shipped model", warn=True):
            c = state.shipped_model().contract
            q, met = c.get("quantization") or {}, c.get("metrics") or {}
            st.caption(f"Shipped model: {c.get('exported_as', c['model_file'])} — {q.get('method', '')}; test "
                       f"accuracy {met.get('test_accuracy', 0):.2%} vs fp32 {met.get('fp32_test_accuracy', 0):.2%}.")
    else:
        onnx = run_dir / "onnx"
        fl = compute.quantization_flips(str(onnx), (onnx / "export.json").stat().st_mtime)
        rows = compute.quantization_rows(summary, fl)
        st.dataframe(rows, hide_index=True, column_config={"size (kB)": st.column_config.NumberColumn(format="%.1f")})
        st.caption(compute.quantization_caption(summary))
        data = state.mnist()
        for fmt, idx in fl["flips"].items():
            if len(idx):
                idx = idx[:12]
                caps = [f"{fl['preds']['fp32'][j]}→{fl['preds'][fmt][j]} (true {data.test_labels[j]})" for j in idx]
                chart(charts.digit_strip(data.test_images[idx], caps, f"flips-{fmt}",
                                         title=f"Digits whose prediction flips under {fmt}"), f"p4_flips_{fmt}")
