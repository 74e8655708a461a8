"""The Teach page's panels: your collection (core.collection) listed and deletable, the fine-tuning task
(core.finetune) and its before/after figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from core import collection
from dashboard import charts, state, training
from dashboard.widgets import chart, stat_row

PARTS = {"held_out": "your held-out digits", "trained_on": "your trained-on digits", "mnist_test": "MNIST test"}
SHORT = {"held_out": "your held out", "trained_on": "your trained on", "mnist_test": "MNIST test"}


def clock(s: collection.Sample) -> str:
    return f"{s.saved[9:11]}:{s.saved[11:13]}:{s.saved[13:15]}"


def collection_panel(key: str) -> None:
    """How many digits of each kind, every digit as a thumbnail with its label and split, and deleting some."""
    samples = collection.list_samples()
    trained, held = collection.split(samples)
    if not samples:
        st.caption("Nothing saved yet. Save a few of each digit you write differently: every "
                   f"{collection.HOLD_OUT_EVERY}th is held out to measure the gain.")
        return
    stat_row([("Saved", str(len(samples))), ("Trained on", str(len(trained))), ("Held out", str(len(held))),
              ("Digits covered", ", ".join(str(d) for d in sorted({s.label for s in samples})))])
    images, _ = collection.load(samples)
    rows = [{"digit": charts.png_uri(np.repeat(img[..., None], 3, axis=2)), "label": s.label,
             "kept for": "measuring (held out)" if s.split == collection.HELD_OUT else "training",
             "from": s.source, "saved": clock(s), "id": s.id}
            for s, img in zip(samples, images, strict=True)]
    st.dataframe(rows[::-1], hide_index=True, height=min(36 * len(rows) + 40, 400), column_config={
        "digit": st.column_config.ImageColumn("digit", width="small"), "id": None})
    by_id = {s.id: s for s in samples}
    gone = st.multiselect("Delete", list(by_id), key=f"{key}_delete", placeholder="Pick digits to delete",
                          format_func=lambda i: f"{by_id[i].label} saved {clock(by_id[i])} ({by_id[i].split})")
    if st.button("Delete them", icon=":material/delete:", key=f"{key}_delete_go", disabled=not gone):
        n = collection.delete(gone)
        st.session_state.pop(f"{key}_delete", None)
        st.toast(f"Deleted {n} digit{'s' * (n != 1)}", icon=":material/delete:")
        st.rerun()


def finetune_task(samples):
    """A job body (JobRegistry.start_task): fine-tune on these digits, export, measure (core.finetune)."""

    def fn(report) -> dict:
        from core.data import load_mnist
        from core.finetune import finetune

        report("loading MNIST", 0.0)
        return finetune(samples, load_mnist(fetch=False), progress=report)

    return fn


def latest_result() -> tuple[dict, Path] | None:
    """This session's fine-tuning result, else the newest fine-tuned run on disk: (metrics, int8 model path)."""
    job = training.current("finetune")
    if job is not None and job.view().metrics:
        m = job.view().metrics
        return m, Path(m["onnx"])
    for run in state.saved_runs(("cnn-finetuned",)):
        p = run.path / "onnx" / "model.int8-static.onnx"
        if p.is_file():
            return run.metrics, p
    return None


def results_panel(key: str) -> None:
    """Before (the shipped model) and after (the fine-tuned one), side by side; then use it on Camera and Deploy."""
    found = latest_result()
    if found is None:
        st.caption("After fine-tuning, the shipped and the fine-tuned model are compared here, on your held-out "
                   "digits, your trained-on digits and MNIST test.")
        return
    m, path = found
    ba, t = m["before_after"], m.get("timings") or {}
    st.markdown(f"**Before and after** (int8 models, as the Camera runs them): fine-tuned in "
                f"{t.get('train_seconds', 0):.1f} s, exported in {t.get('export_seconds', 0):.1f} s.")
    table = [{"measured on": f"{PARTS[k]} ({ba[k]['n']:,})", "digits": ba[k]["n"],
              "before": f"{ba[k]['before']:.2%}" if ba[k]["n"] else "—",
              "after": f"{ba[k]['after']:.2%}" if ba[k]["n"] else "—",
              "Δ (pp)": f"{(ba[k]['after'] - ba[k]['before']) * 100:+.2f}" if ba[k]["n"] else "—"}
             for k in PARTS]
    c = st.columns([3, 2])
    c[0].dataframe(table, hide_index=True, column_config={"digits": None})
    c[0].caption("Before: the shipped model; after: the fine-tuned one. Held-out digits were never trained on.")
    chart(charts.before_after({SHORT[k]: (ba[k]["before"], ba[k]["after"]) for k in PARTS if ba[k]["n"]}),
          f"{key}_before_after", c[1])
    if not ba["held_out"]["n"]:
        st.info(f"No held-out digits yet: every {collection.HOLD_OUT_EVERY}th digit you save is held out. Save more "
                "for an honest before/after.", icon=":material/info:")
    else:
        ids = (m.get("collection") or {}).get("held_out") or []
        have = {s.id: s for s in collection.list_samples()}
        kept = [(i, have[sid]) for i, sid in enumerate(ids) if sid in have]
        if kept:
            images, labels = collection.load([s for _, s in kept])
            caps = [f"{ba['held_out']['before_pred'][i]}→{ba['held_out']['after_pred'][i]}" for i, _ in kept]
            chart(charts.digit_strip(images, caps, "held-out-strip", height=140,
                                     title="Your held-out digits: before → after"), f"{key}_held_strip")
    in_use = st.session_state.get(state.MODEL_KEY) == str(path)
    if st.button("In use on the Camera and Deploy pages" if in_use else "Use it on the Camera and Deploy pages",
                 icon=":material/check_circle:" if in_use else ":material/photo_camera:", key=f"{key}_use",
                 disabled=in_use, type="secondary" if in_use else "primary"):
        state.use_model(path)
        st.rerun()
    st.caption(f"`{path}` · recipe: " + json.dumps({k: v for k, v in (m.get("config") or {}).items()
                                                    if k in ("steps", "lr", "own_batch", "mnist_batch", "distill")}))
