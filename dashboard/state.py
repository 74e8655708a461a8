"""Cached loaders and per-session settings: the only place the dashboard caches anything.

Heavy things are loaded on first use, never on import: MNIST only when a page needs test digits,
torch only on the pages that run it, the shipped model once per server process.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


# --- data ------------------------------------------------------------------------------------------------


def data_present() -> bool:
    """Cheap check (no hashing): is the MNIST cache file there at all?"""
    from core.data import cache_path

    return cache_path().is_file()


@st.cache_resource(show_spinner=False)
def _data_checks() -> tuple[ThreadPoolExecutor, dict]:
    """One background worker and its verdicts, {(cache path, mtime, size): Future[(status, seconds since epoch)]}."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnist-check"), {}


def _full_check() -> tuple[str, float]:
    from core.data import status

    return status(), time.time()


@dataclass(frozen=True)
class DataCheck:
    """What the dashboard knows of the MNIST cache, and how it knows it."""

    status: str | None  # 'ready', 'missing', 'corrupt', or None while the first check runs
    detail: str  # what was verified, and when
    pending: bool  # the full check (SHA-256 of every array) is still running


def data_check(wait: bool = False) -> DataCheck:
    """The MNIST cache's state. Every version of the file (path, modification time, size) is verified in full once
    per server process, on a background thread: row counts, label histograms and the SHA-256 of every array
    (core.data.status, ~0.4 s). Until that finishes, a file whose size and time match the copy that last passed
    verification (core.data.quick_status) is shown as ready, saying that only size and time were compared."""
    from core.data import cache_path, quick_status

    quick = quick_status()
    p = cache_path()
    try:
        st_ = p.stat()
    except OSError:
        return DataCheck("missing", "not downloaded yet", False)
    pool, verdicts = _data_checks()
    key = (str(p), st_.st_mtime_ns, st_.st_size)
    if key not in verdicts:
        verdicts.setdefault(key, pool.submit(_full_check))
    fut = verdicts[key]
    if wait or fut.done():
        status, when = fut.result()
        detail = (f"SHA-256 of every array verified by this server at {time.strftime('%H:%M:%S', time.localtime(when))}"
                  if status == "ready" else "the cached file failed verification")
        return DataCheck(status, detail, False)
    if quick == "ready":
        return DataCheck("ready", "size and modification time match the copy that last passed verification; "
                         "checking its SHA-256 now…", True)
    return DataCheck(None, "verifying the cached arrays' SHA-256…", True)


def data_status(wait: bool = True) -> str | None:
    """'ready', 'missing' or 'corrupt' (see data_check); with wait=False, None while the first check runs."""
    return data_check(wait).status


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


# --- the model the Camera and Deploy pages use -----------------------------------------------------------

MODEL_KEY = "model_choice"  # st.session_state: the path of the model this session uses (Camera, Deploy, Teach)


def model_choices() -> dict[str, Path]:
    """Every usable exported model, by label: the shipped one, then each saved CNN run's exported ONNX files that
    have a contract (fine-tuned ones first, newest first)."""
    from core.inference import default_model_path

    out = {"shipped model (core/assets/model.onnx)": default_model_path()}
    runs = sorted(saved_runs(("cnn",)), key=lambda r: ("finetuned" not in r.kind, -r.mtime))
    for run in runs:
        for p in sorted((run.path / "onnx").glob("*.onnx")):
            if p.with_suffix(".json").is_file():
                what = "fine-tuned on your digits" if "finetuned" in run.kind else p.stem.removeprefix("model.")
                acc = f", {run.test_accuracy:.2%} on MNIST test" if run.test_accuracy is not None else ""
                out[f"{run.path.name} ({what}{acc})"] = p
    return out


def chosen_model(choices: dict[str, Path]) -> str:
    """The label of this session's model among `choices` (the shipped one until another is picked)."""
    want = st.session_state.get(MODEL_KEY)
    return next((label for label, p in choices.items() if str(p) == want), next(iter(choices)))


def use_model(path: Path) -> None:
    st.session_state[MODEL_KEY] = str(path)


@st.cache_resource(show_spinner=False, max_entries=8)
def _onnx(path: str, mtime: float):
    from core.inference import load_model

    return load_model(Path(path))


def onnx_model(path: Path):
    """An exported model with its checked contract (the shipped one through shipped_model)."""
    from core.inference import default_model_path

    if Path(path) == default_model_path():
        return shipped_model()
    return _onnx(str(path), Path(path).stat().st_mtime)
