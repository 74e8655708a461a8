"""Deploy: build the static web page (model + your Playground settings + onnxruntime-web) and download it."""

import io
import zipfile

import streamlit as st

from core.inference import default_model_path
from dashboard import state
from dashboard.widgets import friendly

st.title("Deploy — the model as a static web page")
st.markdown(
    "The bundle is a flat folder: the page, `preprocess.js` (the same pipeline as `core/preprocess.py`), the "
    "ONNX model with its contract, your preprocessing settings (`config.json`) and onnxruntime-web's wasm files. "
    "Nothing in it talks to another server: unzip it anywhere that serves files over http, e.g. "
    "`python -m core serve-web digit-web`, and open it on a phone."
)

models = state.model_choices()  # the shipped model, then every exported run (fine-tuned ones first)
labels = list(models)
choice = st.selectbox("Model", labels, labels.index(state.chosen_model(models)), key="dep_model",
                      on_change=lambda: state.use_model(models[st.session_state["dep_model"]]))
settings = state.preprocess_settings()
c1, c2 = st.columns(2)
contract = None  # stays None when the chosen model cannot be loaded (missing, or its contract does not match it)
with c1, friendly("the model", warn=True):
    contract = (state.shipped_model().contract if models[choice] == default_model_path()
                else state.read_contract(str(models[choice])))
    met = contract.get("metrics") or {}
    st.metric("Test accuracy", f"{met.get('test_accuracy', 0):.2%}",
              help=f"{contract['size_bytes'] / 1e3:.0f} kB; {(contract.get('quantization') or {}).get('method', '')}")
if contract is None:
    c2.caption("Choose another model above, or fix this one, to build a bundle.")
    st.stop()
with c2:
    diff = {k: v for k, v in settings.items() if str(v) != str((contract.get("preprocess") or {}).get(k, v))}
    st.metric("Settings changed in the Playground", len(diff))
    if diff:
        st.caption(", ".join(f"{k} = {v}" for k, v in diff.items()))
    st.page_link("../pages/playground.py", label="Tune them in the Playground", icon=":material/tune:")

if st.button("Build the bundle", type="primary", icon=":material/build:", key="dep_build"):
    with friendly("building the bundle"), st.spinner("Collecting the page, the model and onnxruntime-web…"):
        from core.bundle import bundle_zip_bytes

        st.session_state["dep_zip"] = bundle_zip_bytes(models[choice], preprocess=settings)
        st.session_state["dep_zip_for"] = (choice, str(settings))

data = st.session_state.get("dep_zip")
if data and st.session_state.get("dep_zip_for") == (choice, str(settings)):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = [{"file": i.filename, "kB": round(i.file_size / 1e3, 1)} for i in z.infolist()]
    st.download_button(f"Download digit-web.zip ({len(data) / 1e6:.1f} MB)", data, "digit-web.zip", "application/zip",
                       type="primary", icon=":material/download:", key="dep_download")
    st.dataframe(files, hide_index=True, height=35 * (len(files) + 1) + 3)  # every row, the 14 MB wasm included
    st.caption(f"{len(files)} files in the bundle.")
elif data:
    st.caption("The model or the settings changed since the last build: build again.")

with friendly("opening the bundle"):
    if st.button("Open it now", icon=":material/open_in_new:", key="dep_open"):
        from dashboard.bundles import open_now

        with st.spinner("Building the page…"):
            st.session_state["dep_url"] = (open_now(models[choice], settings), choice, str(settings))
    opened = st.session_state.get("dep_url")
    if opened and opened[1:] == (choice, str(settings)):
        st.link_button("Open the web page in a new tab", opened[0], icon=":material/open_in_new:", type="primary")
        st.caption(f"Served by the dashboard at `{opened[0]}`: the same files as the zip, running in your browser "
                   "with no server work (draw on its pad, or allow the camera).")
