"""What `make run` runs (`streamlit run dashboard/server.py`): the dashboard, dashboard/app.py, as an st.App whose
start-up does the slow loading (startup.preload: torch, the model, MNIST, first views; ~4 s on 2 cores) before the
server answers, so that no page open waits for it or competes with it for the CPU."""

import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/server.py` puts only dashboard/ on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402


@asynccontextmanager
async def lifespan(_app):
    from dashboard.startup import preload

    t = time.perf_counter()
    preload()
    print(f"  Preloaded torch, the model, MNIST and the pages' first views in {time.perf_counter() - t:.1f} s",
          flush=True)
    yield


app = st.App("app.py", lifespan=lifespan)
