"""The Deploy page's "open it now": build the web bundle into the runs folder and serve it, so it opens in a tab.

Under `make run` (dashboard/server.py) the dashboard's own server serves runs/web/ at /bundle/, so the link works from
any machine that reaches the dashboard. A dashboard started another way (`streamlit run dashboard/app.py`) serves the
bundle from a small server of its own on 127.0.0.1 (core.serve), which only this computer's browser can open.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import streamlit as st

from core.storage import runs_dir


def bundle_id(model_path: Path, settings: dict) -> str:
    """The same model file (by content) and settings always build the same folder."""
    h = hashlib.sha256(Path(model_path).read_bytes())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:12]


@st.cache_resource(show_spinner=False, max_entries=8)
def _local_server(folder: str):
    from core.serve import make_server

    server = make_server(Path(folder))
    threading.Thread(target=server.serve_forever, name="serve-bundle", daemon=True).start()
    return server


def open_now(model_path: Path, settings: dict) -> str:
    """Build (once) the bundle of this model and these settings under runs/web/<id>/; the URL that opens it."""
    from core.bundle import build_bundle

    bid = bundle_id(model_path, settings)
    folder = runs_dir() / "web" / bid
    if not (folder / "index.html").is_file():
        build_bundle(folder, model_path, preprocess=settings)
    route = os.environ.get("DIGITS_BUNDLE_ROUTE")
    return f"{route}/{bid}/" if route else _local_server(str(folder)).url
