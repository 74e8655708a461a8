"""Cached loaders and per-session settings: the only place the dashboard caches anything.

Heavy things are loaded on first use, never on import: MNIST only when a page needs test digits,
torch only on the pages that run it, the shipped model once per server process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import streamlit as st

from core.errors import UserError
from dashboard.jobs import JobRegistry
from dashboard.runs import list_runs

PREPROCESS_KEY = "preprocess_settings"  # st.session_state: the playground's settings, read by camera and deploy


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """Every training job of this server process (all sessions, all tabs)."""
    return JobRegistry()


_preload_lock, _preloaded = threading.Lock(), threading.Event()


def preload() -> None:
    """Load what the pages need on their first open, once per process (later calls return at once): torch,
    pandas, the shipped model, MNIST, the Phase 3 page's first view and the Playground's
    first sample; then freeze what lives forever out of the garbage collector's sight (see warm_up). The server
    (dashboard/server.py) calls it at start-up, before it answers any page; warm_up calls it otherwise."""
    import gc

    with _preload_lock:
        if _preloaded.is_set():
            return
        # st.cache_* outside a page logs "missing ScriptRunContext": expected here. (Not streamlit_webrtc: imported
        # outside a page, its component never renders.)
        ctx_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
        level = ctx_log.level
        ctx_log.setLevel(logging.ERROR)
        try:
            import pandas  # noqa: F401  (0.25 s; the Home page's table)
            import torch  # noqa: F401  (2 s on a small CPU; the phase 3-4 pages need it)

            from dashboard import compute

            shipped_model()
            mnist()  # the verified arrays
            d = compute.PARITY_DEFAULTS  # st.cache_data: shared by all sessions
            compute.parity_report(None, 0.0, d["hidden"], d["seed"], d["index"], d["batch"])
            compute.camera_like(0)
        except UserError:
            pass  # no data or no model yet: the pages say how to fix it
        finally:
            ctx_log.setLevel(level)
        gc.collect()
        gc.freeze()
        _preloaded.set()


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process: make live redraws cheap, then preload() in the background (when the server did
    not already do it at start-up) shortly after the first page starts drawing. Nothing waits for it.

    Streamlit runs a full `gc.collect()` after every script run, fragment reruns included; with torch imported
    each one holds the GIL long enough to slow a training thread and the camera's callback noticeably. So we
    switch that off for this app (Python's own GC still runs) and freeze the objects that live forever
    (modules, MNIST) out of the collector's sight, which makes every full collection cheap.
    """
    from streamlit import config

    config.set_option("runner.postScriptGC", False)

    data_status(wait=False)  # start verifying the MNIST cache now (hashing and zlib release the GIL)

    def run() -> None:
        if not _preloaded.is_set():
            time.sleep(2.5)  # let the first page render first (the browser needs the CPU too)
        preload()

    t = threading.Thread(target=run, name="warm-up", daemon=True)
    t.start()
    return t


# --- data ------------------------------------------------------------------------------------------------


def data_present() -> bool:
    """Cheap check (no hashing): is the MNIST cache file there at all?"""
    from core.data import cache_path

    return cache_path().is_file()


@st.cache_resource(show_spinner=False)
def _data_checks() -> tuple[ThreadPoolExecutor, dict]:
    """One background worker and its verdicts, {(cache path, mtime): Future['ready' | 'corrupt' | ...]}."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnist-check"), {}


def data_status(wait: bool = True) -> str | None:
    """'ready', 'missing' or 'corrupt', verified (SHA-256, ~0.4 s) once per cache file version on a background
    thread; with wait=False, None while that check is still running, so a page can draw first."""
    from core.data import cache_path, quick_status, status

    known = quick_status()  # the file that `make run` (python -m core data) or a load just verified
    if known is not None:
        return known
    p = cache_path()
    pool, verdicts = _data_checks()
    key = (str(p), p.stat().st_mtime_ns)
    if key not in verdicts:
        verdicts.setdefault(key, pool.submit(status))
    fut = verdicts[key]
    return fut.result() if wait or fut.done() else None


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist(path: str, mtime: float):
    from core.data import load_mnist

    return load_mnist(fetch=False)


def mnist():
    """The verified MNIST arrays (raises UserError with the fix when not fetched yet)."""
    from core.data import cache_path

    p = cache_path()
    if not p.is_file():
        raise UserError("MNIST is not downloaded yet: press “Fetch MNIST” on the Home page (or run `make data`)")
    return _mnist(str(p), p.stat().st_mtime)


def fetch_mnist() -> None:
    """Fetch MNIST with a progress bar (the one-click fix)."""
    from core.data import load_mnist

    bar = st.progress(0.0, text="Fetching MNIST…")
    load_mnist(fetch=True, progress=lambda what, frac: bar.progress(min(max(frac, 0.0), 1.0), text=what))
    bar.empty()
    _data_checks()[1].clear()


# --- models and runs -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _shipped(mtime: float):
    from core.inference import load_model

    return load_model()


def shipped_model():
    """The shipped ONNX model (core/assets/model.onnx) with its contract; UserError if missing or corrupt."""
    from core.inference import default_model_path

    p = default_model_path()
    if not p.is_file():
        raise UserError(f"the shipped model {p} is missing: export one with `python -m core export` "
                        "(see the Phase 4 page), or restore it with `git checkout core/assets`")
    return _shipped(p.stat().st_mtime)


@st.cache_data(show_spinner=False, ttl=2)
def _saved_runs(root: str, prefixes: tuple[str, ...], generation: int):
    return list_runs(prefixes, Path(root))


def saved_runs(prefixes: tuple[str, ...] = ()):
    """Runs on disk (newest first); re-listed every couple of seconds, and at once after a job of ours ends."""
    from core.storage import runs_dir

    return _saved_runs(str(runs_dir()), prefixes, registry().generation())


@st.cache_data(show_spinner=False, max_entries=8)
def ladder_asset(path: str, mtime: float) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def ladder() -> dict | None:
    """core/assets/ladder.json (`python -m core bench models`: every model measured), or None when absent."""
    from core.bench.models import LADDER_PATH

    return ladder_asset(str(LADDER_PATH), LADDER_PATH.stat().st_mtime) if LADDER_PATH.is_file() else None


@st.cache_resource(show_spinner="Loading weights…", max_entries=8)
def numpy_weights(path: str, mtime: float):
    from core.numpy_train import load_weights

    return load_weights(Path(path))


@st.cache_data(show_spinner="Scoring the 10,000 test digits…", max_entries=8)
def numpy_test_results(path: str, mtime: float) -> dict:
    """Predictions of a softmax/MLP run's weights on the test set: accuracy, confusion matrix, worst mistakes."""
    from core.numpy_train import predict_proba

    params = numpy_weights(path, mtime)
    data = mnist()
    probs = predict_proba(params, data.test_images).astype(np.float32)
    return test_summary(probs, data.test_labels)


def test_summary(probs: np.ndarray, labels: np.ndarray, n_mistakes: int = 16) -> dict:
    """Accuracy, 10x10 confusion counts and the most confident mistakes (indices into the test set)."""
    pred = probs.argmax(axis=1)
    y = labels.astype(np.intp)
    cm = np.bincount(y * 10 + pred, minlength=100).reshape(10, 10)
    wrong = np.flatnonzero(pred != y)
    worst = wrong[np.argsort(-probs[wrong].max(axis=1))][:n_mistakes]
    return {"accuracy": float((pred == y).mean()), "confusion": cm, "mistakes": worst, "probs": probs[worst]}


# --- the playground's settings, shared with the camera and deploy pages ----------------------------------


def default_preprocess() -> dict:
    """The shipped model's preprocessing settings (core.contract.resolve_preprocess), else PreprocessConfig's."""
    from core.contract import resolve_preprocess

    try:
        contract = shipped_model().contract
    except UserError:
        contract = None
    return resolve_preprocess(contract).to_dict()


def preprocess_settings() -> dict:
    """This session's preprocessing settings (the playground writes them, camera and deploy read them)."""
    if PREPROCESS_KEY not in st.session_state:
        st.session_state[PREPROCESS_KEY] = default_preprocess()
    return dict(st.session_state[PREPROCESS_KEY])


def preprocess_config():
    """This session's settings as a core.preprocess.PreprocessConfig."""
    from core.preprocess import PreprocessConfig

    return PreprocessConfig.from_dict(preprocess_settings())


@st.cache_data(show_spinner=False, max_entries=16)
def read_contract(path: str) -> dict:
    """The (checked) contract of an exported .onnx (core.contract.read_contract)."""
    from core.contract import read_contract as read

    return read(Path(path))
