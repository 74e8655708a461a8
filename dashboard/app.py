"""The dashboard script: registers every page explicitly with st.navigation. `make run` serves it through
dashboard/server.py (which preloads at start-up); AppTest runs it directly."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on sys.path; AppTest runs this file
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

PAGES = {
    "Overview": [
        st.Page("../pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "The phases": [
        st.Page("../pages/phase1_softmax.py", title="1 · Softmax in NumPy", icon=":material/calculate:",
                url_path="phase1"),
        st.Page("../pages/phase2_mlp.py", title="2 · MLP in NumPy", icon=":material/hub:", url_path="phase2"),
        st.Page("../pages/phase3_torch.py", title="3 · PyTorch translation", icon=":material/sync_alt:",
                url_path="phase3"),
        st.Page("../pages/phase4_cnn.py", title="4 · CNN + quantization", icon=":material/grid_view:",
                url_path="phase4"),
    ],
    "Live": [
        st.Page("../pages/playground.py", title="Playground", icon=":material/tune:", url_path="playground"),
        st.Page("../pages/camera.py", title="Camera", icon=":material/photo_camera:", url_path="camera"),
        st.Page("../pages/teach.py", title="Teach it your handwriting", icon=":material/draw:", url_path="teach"),
        st.Page("../pages/deploy.py", title="Deploy", icon=":material/inventory_2:", url_path="deploy"),
    ],
}

st.set_page_config(page_title="Digit Inference Engine", page_icon="✍️", layout="wide")
from dashboard.startup import warm_up  # noqa: E402

nav = st.navigation(PAGES)
warm_up()
nav.run()
