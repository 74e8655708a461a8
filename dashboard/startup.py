"""What runs once per server process before and around the first page: preloading and the garbage-collector setup.

Kept apart from state (cached loaders) and compute (cached computations) because it uses both: state and compute
import only downwards (compute -> state -> core), and nothing imports this module but app.py and server.py.
"""

from __future__ import annotations

import logging
import threading
import time

import streamlit as st

from core.errors import UserError
from dashboard import compute, state

_preload_lock, _preloaded = threading.Lock(), threading.Event()


def preload() -> None:
    """Load what the pages need on their first open, once per process (later calls return at once): torch,
    pandas, the shipped model, MNIST, the Phase 3 page's first view and the Playground's first sample; then freeze
    what lives forever out of the garbage collector's sight (see warm_up). The server (dashboard/server.py) calls it
    at start-up, before it answers any page; warm_up calls it otherwise."""
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

            state.shipped_model()
            state.mnist()  # the verified arrays
            state.data_status(wait=True)  # recorded as verified (SHA-256) by this process, with the time
            d = compute.PARITY_DEFAULTS  # st.cache_data: shared by all sessions
            compute.parity_report(None, 0.0, d["hidden"], d["seed"], d["index"], d["batch"])
            compute.parity_timings(None, 0.0, d["hidden"], d["seed"], d["batch"])
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

    state.data_status(wait=False)  # start verifying the MNIST cache now (hashing and zlib release the GIL)

    def run() -> None:
        if not _preloaded.is_set():
            time.sleep(2.5)  # let the first page render first (the browser needs the CPU too)
        preload()

    t = threading.Thread(target=run, name="warm-up", daemon=True)
    t.start()
    return t
