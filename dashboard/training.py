"""Streamlit side of background training: start/stop a job of this session, draw it live, show saved results.

The job runs in the registry's thread; this module only reads its lock-guarded buffer. The live panel
is a fragment that reruns every REFRESH seconds while the job runs, so the rest of the page (and every
other page) stays responsive, and it triggers one full rerun when the job ends so results appear.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import streamlit as st

from core.loop import StepMetrics, total_steps
from core.numpy_train import WEIGHTS_NAME
from core.runtime import threads_beside_a_live_view
from core.storage import new_run_dir
from dashboard import charts, state
from dashboard.jobs import FAILED, FINISHED, STOPPED, Job, JobView
from dashboard.widgets import chart, friendly, stat_row

# Seconds between live redraws: smooth enough to watch, cheap enough not to slow training much (every redraw costs
# the server a little and the browser more; `python -m core bench dashboard` measures the slowdown, the README
# reports it). $DIGITS_LIVE_REFRESH overrides it.
REFRESH = float(os.environ.get("DIGITS_LIVE_REFRESH") or 1.5)
SLOW_REFRESH = 2.5 * REFRESH  # for the parts that change slowly (accuracy per epoch) or cost most (weights picture)


def job_key(kind: str) -> str:
    return f"job:{kind}"


def tracked(trainer, save_partial):
    """(trainer, save_partial) for the registry, such that a run stopped early is saved with what a finished one has:
    the test accuracy of the very weights saved and the seconds spent training (the last StepMetrics says both how
    long and how fast), so the run picker, the scores and the timings agree."""
    seen: dict = {}

    def run(cfg, data, run_dir):
        seen["data"] = data
        for rec in trainer(cfg, data, run_dir):
            if isinstance(rec, StepMetrics):
                seen["elapsed"], seen["train_seconds"] = rec.elapsed, rec.step * cfg.batch_size / max(
                    rec.examples_per_s, 1e-9)
            yield rec

    def partial(run_dir, cfg, snap, history):
        save_partial(run_dir, cfg, snap, history, seen)

    return run, (partial if save_partial else None)


def start(kind: str, cfg, trainer, save_partial=None, prefix: str | None = None) -> str:
    """Start a job in a fresh run folder and remember its id in this session (stopping its previous one)."""
    old = current(kind)
    if old is not None:
        old.stop()
        st.session_state.pop(f"figs:{old.id}", None)
    run_dir = new_run_dir(prefix or kind)
    run, partial = tracked(trainer, save_partial)
    job_id = state.registry().start(kind, cfg, run, run_dir, partial)
    st.session_state[job_key(kind)] = job_id
    return job_id


def start_task(kind: str, fn, run_dir=None) -> str:
    """Start long non-training work (see JobRegistry.start_task) and remember its id in this session."""
    job_id = state.registry().start_task(kind, fn, run_dir)
    st.session_state[job_key(kind)] = job_id
    return job_id


def task_panel(kind: str) -> None:
    """Progress of this session's task of `kind`; one full rerun when it ends."""
    job = current(kind)
    if job is None:
        return
    was_running = job.view().running

    @st.fragment(run_every=REFRESH if was_running else None)
    def panel() -> None:
        v = job.view()
        if v.running:
            what, frac = v.progress or ("working", 0.0)
            st.progress(frac, text=f"{what} …")
        elif v.status == FAILED:
            st.error(v.message, icon=":material/warning:")
        if was_running and not v.running:
            st.rerun()

    panel()


def current(kind: str) -> Job | None:
    """This session's latest job of `kind` (running or done), if the registry still has it."""
    return state.registry().get(st.session_state.get(job_key(kind)))


def finished_text(m: dict) -> str:
    """A finished run in one line, from its metrics (fixed once it ends, and the same figures Results shows)."""
    t = m.get("timings") or {}
    acc = m.get("test_accuracy")
    text = "Finished"
    if t.get("train_seconds") is not None:
        text += f": trained in {t['train_seconds']:.1f} s"
        if t.get("wall_seconds") is not None:
            text += f" ({t['wall_seconds']:.1f} s with the test evaluations)"
    return text + (f", test accuracy {acc:.2%}." if acc is not None else ".")


def auto_eval_every(max_steps: int | None, steps_per_epoch: int = 469, live: bool = False) -> int | None:
    """For a run shorter than an epoch, a test point every quarter of it (at least every 10 steps), so the accuracy
    chart has points; None (test at each epoch's end) otherwise. `live` (the `fast` preset, watched while it
    trains): a point every LIVE_EVAL_EVERY steps, so the audience sees the accuracy cross 99 %."""
    if live and (not max_steps or max_steps > LIVE_EVAL_EVERY):
        return LIVE_EVAL_EVERY
    if not max_steps or max_steps >= steps_per_epoch:
        return None
    return max(10, max_steps // 4)


LIVE_EVAL_EVERY = 50  # steps between test points of the live run: each costs ~13 steps' time (10k images forward)
# on the wall clock, not on the training clock

# The `fast` recipe's figure as last measured (README "Training speedrun"; replace it with the medians of
# `python -m core bench speedrun --seeds 5` on a quiet machine): the Phase 4 page states it unless this machine's
# runs/bench/speedrun.json says otherwise.
SPEEDRUN_MEASURED = {"seconds_to_99": 28.8, "seconds_to_995": 280.2, "seeds": 1, "threads": 1, "cpu": "AMD EPYC",
                     "date": "2026-12-02",
                     "note": "a busy shared machine (load ~5 on 2 cores), one seed of the recipe; to be re-measured"}


def speedrun_figure() -> dict:
    """The `fast` preset's median time to 99 % (and 99.5 %): from runs/bench/speedrun.json when this machine has
    one, else the committed SPEEDRUN_MEASURED; "source" says which."""
    from core.errors import UserError
    from core.storage import read_json, runs_dir

    path = runs_dir() / "bench" / "speedrun.json"
    try:
        r = read_json(path, "speedrun bench") if path.exists() else None
        med = r["median"] if r else None
        if med and isinstance(med.get("seconds_to_99"), int | float):
            return {"seconds_to_99": med["seconds_to_99"], "seconds_to_995": med.get("seconds_to_995"),
                    "seeds": len(r.get("seeds") or []), "threads": r.get("threads"),
                    "cpu": (r.get("machine") or {}).get("cpu", "?"), "date": r.get("date", "?"), "source": str(path)}
    except (UserError, KeyError, TypeError, AttributeError):
        pass  # a partial or foreign file: the committed figure stands
    return {**SPEEDRUN_MEASURED, "source": "committed"}


def speedrun_text(f: dict) -> str:
    """One sentence for the page: how long the `fast` preset takes to reach 99 % (training seconds, median)."""
    median = "a median " if (f.get("seeds") or 0) > 1 else ""
    text = (f"The `fast` preset first reaches **99.0 %** test accuracy after {median}**{f['seconds_to_99']:.0f} s** "
            "of training")
    if f.get("seconds_to_995"):
        text += f" (99.5 % after {f['seconds_to_995']:.0f} s)"
    where = "on this machine" if f["source"] != "committed" else "measured"
    note = f"; on {f['note']}" if f.get("note") else ""
    return (text + f", {where} on {f['threads']} thread(s) of {f['cpu']}, {f['date']} ({f['seeds']} seed(s){note}; "
            "the test evaluations, the live charts and a busier CPU add to the wall clock; "
            "`python -m core bench speedrun`).")


def status_line(v: JobView) -> None:
    total = total_steps(v.config)  # core.loop's count
    if v.progress is not None:
        what, frac = v.progress
        st.progress(min(max(frac, 0.0), 1.0), text=f"{what} …")
        return
    last = v.steps[-1] if v.steps else None
    step = max([last.step if last else 0] + [e.step for e in v.epochs])
    text = f"step {step:,}/{total:,} · epoch {max(last.epoch if last else 1, 1)}/{v.config.epochs}"
    if last:
        text += f" · loss {last.loss:.3f} · {last.examples_per_s:,.0f} examples/s"
    if v.status == FINISHED:
        st.success(finished_text(v.metrics or {}) + f" Saved in `{v.run_dir}`.", icon=":material/check_circle:")
    elif v.status == STOPPED:
        st.info(f"{v.message.capitalize()}; what was learned so far is saved in `{v.run_dir}`.",
                icon=":material/stop_circle:")
    elif v.status == FAILED:
        st.error(v.message, icon=":material/warning:")
    else:
        st.progress(min(step / max(total, 1), 1.0), text=text)


def live_panel(kind: str, draw_weights: Callable[[object, object], object] | None = None) -> JobView | None:
    """The live view of this session's job of `kind`: status, loss per step, accuracy per epoch, weights.

    `draw_weights(params, previous_figure_or_None)` returns the weights picture of a snapshot."""
    job = current(kind)
    if job is None:
        return None
    was_running = job.view().running
    figs = st.session_state.setdefault(f"figs:{job.id}", {})  # built once, then only their data swapped
    status_box = st.container()
    cols = st.columns(2)
    weights_box = st.container() if draw_weights else None

    @st.fragment(run_every=REFRESH if was_running else None)
    def fast() -> None:  # progress and the loss curve: every REFRESH seconds
        v = job.view()
        with status_box:
            top = st.columns([5, 1])
            with top[0]:
                status_line(v)
            if v.running and top[1].button("Stop", key=f"stop_{kind}", icon=":material/stop_circle:",
                                           type="primary"):
                job.stop()
                v = job.view()
        figs["loss"] = charts.loss_curve(v.steps, fig=figs.get("loss"))
        chart(figs["loss"], f"live_loss_{kind}", cols[0], static=v.running)  # static: no hover layers, cheaper
        if was_running and not v.running:
            st.rerun()  # the job just ended: rerun the whole page once so its results show up

    # Accuracy changes once per epoch and the weights picture is the costliest to draw: redraw them less often.
    @st.fragment(run_every=SLOW_REFRESH if was_running else None)
    def slow() -> None:
        v = job.view()
        figs["acc"] = charts.accuracy_curve([asdict(e) for e in v.epochs], [asdict(e) for e in v.evals],
                                            fig=figs.get("acc"))
        chart(figs["acc"], f"live_acc_{kind}", cols[1], static=v.running)
        if draw_weights is None:
            return
        with weights_box:  # written on every run: a fragment may only refill outside containers the full run wrote
            if v.snapshot is None:
                st.caption("The weights appear after the first steps.")
                return
            with friendly("the weights picture"):
                if figs.get("w_step") != v.snapshot.step:
                    figs["w"], figs["w_step"] = draw_weights(v.snapshot.params, figs.get("w")), v.snapshot.step
                chart(figs["w"], f"live_w_{kind}", static=v.running)

    fast()
    slow()
    return job.view()


def numpy_results(run, draw_weights: Callable[[object, object], object], key: str) -> None:
    """A saved softmax/MLP run: scores and weights; then your digit inside it, and the test set's confusion matrix
    and most confident mistakes."""
    from dashboard.inside import numpy_inside

    m = run.metrics
    wfile = run.path / WEIGHTS_NAME
    mtime = wfile.stat().st_mtime
    params = state.numpy_weights(str(wfile), mtime)
    t = (m.get("timings") or {}).get("train_seconds")
    res = state.numpy_test_results(str(wfile), mtime) if state.data_present() else None
    stat_row([
        ("Test accuracy", f"{res['accuracy']:.2%}" if res else "—"),
        ("Parameters", f"{m.get('params') or 0:,}"),
        ("Epochs", str(m.get("epochs_completed", "—")) + (" (stopped)" if m.get("stopped") else "")),
        ("Training time", f"{t:.1f} s" if t else "—"),
    ])
    chart(draw_weights(params, None), "saved_weights")
    inside, tests = st.tabs(["Your digit, inside the network", "Test set: curves, confusion, mistakes"])
    with inside:
        numpy_inside(run, key)
    with tests:
        if res is None:
            st.info("Fetch MNIST (Home page) to see the confusion matrix and the mistakes.")
            return
        c1, c2 = st.columns([3, 2])
        chart(charts.accuracy_curve(m.get("history") or []), "saved_acc", c1)
        chart(charts.confusion(res["confusion"]), "confusion", c2)
        data = state.mnist()
        idx = res["mistakes"]
        st.markdown("**Most confident mistakes**: true → predicted (confidence); under each, its 10 probabilities "
                    "(orange: the answer, blue and ▲: the true digit)")
        chart(charts.misclassified(data.test_images[idx], data.test_labels[idx], res["probs"], cols=8), "mistakes")


def cnn_first_conv(params: dict) -> np.ndarray:
    """The first conv layer's weights (C,1,k,k) from a CNN snapshot (state_dict as NumPy arrays)."""
    from core.cnn import FIRST_CONV

    return params[FIRST_CONV]


def threads_input(where, key: str) -> int:
    from core.runtime import usable_cores

    n = usable_cores()
    return where.number_input("Threads", 1, max(n, 1), threads_beside_a_live_view(), key=f"{key}_threads",
                              help=f"Training threads ({n} usable cores). The default leaves one core to the live "
                              "charts and the browser: a thread that has to share its core stalls the others, which "
                              "can make training several times slower. The CLI defaults to one thread.")


def numpy_controls(key: str, cls, epochs: int) -> object | None:
    """The phase 1-2 training form; returns the config when Start is pressed."""
    d = cls()
    with st.form(f"{key}_controls", border=True):
        c = st.columns(4)  # four to a row: narrower inputs cut their numbers off ("0.100(")
        cfg = {
            "epochs": c[0].number_input("Epochs", 1, 200, epochs, key=f"{key}_epochs"),
            "lr": c[1].number_input("Learning rate", 0.0005, 5.0, d.lr, step=0.01, format="%.4f", key=f"{key}_lr",
                                    help="Peak learning rate, cosine-decayed to 0 over the run"),
            "batch_size": c[2].select_slider("Batch size", [16, 32, 64, 128, 256, 512, 1024], d.batch_size,
                                             key=f"{key}_batch"),
            "momentum": c[3].slider("Momentum", 0.0, 0.99, d.momentum, 0.01, key=f"{key}_momentum"),
        }
        c = st.columns(4)
        cfg["seed"] = c[0].number_input("Seed", 0, 2**31 - 1, d.seed, key=f"{key}_seed")
        cfg["max_steps"] = c[1].number_input("Max steps", 0, 10**7, 0, key=f"{key}_max_steps",
                                             help="Stop after this many SGD steps (0 = run every epoch)") or None
        if hasattr(d, "hidden"):
            cfg["hidden"] = c[2].select_slider("Hidden units", [16, 32, 64, 128, 256, 512, 1024], d.hidden,
                                               key=f"{key}_hidden")
        cfg["threads"] = threads_input(c[3], key)
        go = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    # Weights snapshots are free for NumPy nets (each step makes new arrays): take one per logged step, so the
    # live pictures are fresh and a stopped run keeps its latest weights.
    return cls(**cfg, log_every=10, snapshot_every=10) if go else None


def numpy_phase(kind: str, cls, key: str, draw_weights: Callable[[object, object], object]) -> None:
    """The body of a NumPy phase page (1 and 2): the form, the live view of this session's run, a saved run."""
    from core.numpy_train import train
    from dashboard.runs import save_numpy_partial
    from dashboard.widgets import data_gate, run_picker

    data_gate(key)
    cfg = numpy_controls(key, cls, epochs=20)
    if cfg is not None:
        with friendly("starting the run"):
            start(kind, cfg, train, save_numpy_partial)
    with friendly("the live view"):
        live_panel(kind, draw_weights)
    st.subheader("Results")
    job = current(kind)
    if job is not None and not job.view().running and st.session_state.get(f"{key}_shown_job") != job.id:
        st.session_state[f"{key}_shown_job"] = job.id  # a run of this session just ended: show it, once
        done = [r for r in state.saved_runs((kind,)) if r.path == job.view().run_dir]
        if done:
            st.session_state[f"{key}_run"] = done[0].label
    run = run_picker((kind,), key=f"{key}_run")
    if run is None:
        st.caption("Once a run is saved, draw a digit here and see what this network makes of it.")
    else:
        with friendly("the saved run"):
            numpy_results(run, draw_weights, key)
