"""The dashboard without a browser: every page through streamlit.testing.v1.AppTest, plus its glue.

Each test points DIGITS_RUNS_DIR at an empty folder, so pages render as on a fresh clone (no trained runs).
Training tests run a few steps through the real job registry and check the live chart and the run store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import UserError

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGES = ["home.py", "phase1_softmax.py", "phase2_mlp.py", "phase3_torch.py", "phase4_cnn.py", "playground.py",
         "camera.py", "deploy.py"]


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    if page != "home.py":
        at.switch_page(f"../pages/{page}").run()
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """Every plotly chart on the page, by its layout.meta name."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"].get("meta")] = spec
    return out


def texts(at: AppTest, kinds=("error", "warning", "info", "success")) -> list[str]:
    return [el.value for kind in kinds for el in getattr(at, kind)]


def click(at: AppTest, label: str) -> AppTest:
    for b in list(at.button) + list(at.get("form_submit_button")):
        if getattr(b, "label", None) == label:
            b.click()
            return at.run()
    raise AssertionError(f"no button {label!r}: {[getattr(b, 'label', None) for b in at.button]}")


def registry():
    from dashboard.state import registry

    return registry()


def wait_job(at: AppTest, kind: str, timeout: float = 120) -> object:
    job = registry().get(at.session_state[f"job:{kind}"])
    assert job is not None
    view = registry().wait(job.id, timeout)
    assert not view.running, f"{kind} job still running after {timeout} s"
    return view


# --- every page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_no_runs_on_disk(page, runs, mnist):
    t = time.perf_counter()
    at = open_page(page)
    seconds = time.perf_counter() - t
    assert not at.exception, at.exception
    assert at.title and at.title[0].value, "every page starts with its title"
    assert not at.error, texts(at, ("error",))
    assert not runs.exists() or not any(runs.iterdir()), "opening a page must not train or write runs"
    print(f"{page}: {seconds:.2f} s (AppTest, includes the first import of its modules)")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_missing_data_instead_of_failing(page, runs, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path / "no-data"))
    at = open_page(page)
    assert not at.exception, at.exception
    assert not at.error, texts(at, ("error",))
    if page in ("phase1_softmax.py", "phase2_mlp.py", "phase3_torch.py", "phase4_cnn.py", "playground.py"):
        assert any("not downloaded yet" in t for t in texts(at)), texts(at)
        assert any(b.label == "Fetch MNIST" for b in at.button)


# --- live training -----------------------------------------------------------------------------------------


def test_short_softmax_run_draws_live_points_and_lands_in_the_run_store(runs, mnist):
    at = open_page("phase1_softmax.py")
    at.number_input(key="p1_epochs").set_value(1)
    at.number_input(key="p1_max_steps").set_value(30)
    click(at, "Start training")
    view = wait_job(at, "softmax")
    assert view.status == "finished", view.message
    at.run()
    figs = figures(at)
    loss = figs["loss-curve"]["data"][0]
    assert loss["x"] == [10, 20, 30] and len(loss["y"]) == 3  # StepMetrics every log_every=10 steps
    assert len(figs["accuracy-curve"]["data"][1]["y"]) == 1  # the (partial) epoch's test accuracy
    assert "softmax-templates" in figs
    saved = [p for p in runs.iterdir() if (p / "metrics.json").exists()]
    assert len(saved) == 1 and (saved[0] / "weights.npz").exists()
    m = json.loads((saved[0] / "metrics.json").read_text())
    assert m["model"] == "softmax" and m["steps"] == 30
    assert any(t.startswith("Finished") for t in texts(at, ("success",)))
    assert "confusion" in figs and "misclassified" in figs, [c.value for c in at.caption]  # reloaded from disk
    assert at.selectbox(key="p1_run").value.startswith(saved[0].name)


def test_stop_keeps_what_was_learned(runs, mnist):
    at = open_page("phase2_mlp.py")
    at.number_input(key="p2_epochs").set_value(50)
    click(at, "Start training")
    job = registry().get(at.session_state["job:mlp"])
    deadline = time.time() + 60
    while not job.view().steps and time.time() < deadline:
        time.sleep(0.05)
    at.run()
    click(at, "Stop")
    view = registry().wait(job.id, 60)
    assert view.status == "stopped"
    m = json.loads((view.run_dir / "metrics.json").read_text())
    assert m["stopped"] is True and m["steps"] >= 10 and (view.run_dir / "weights.npz").exists()
    at.run()
    assert not at.exception and any("Stopped" in t for t in texts(at, ("info",)))


def test_two_tabs_train_at_once_without_sharing_anything(runs, mnist):
    a, b = open_page("phase2_mlp.py"), open_page("phase2_mlp.py")  # two sessions, as two browser tabs
    for at, steps in ((a, 40), (b, 60)):
        at.number_input(key="p2_epochs").set_value(1)
        at.number_input(key="p2_max_steps").set_value(steps)
        at.select_slider(key="p2_hidden").set_value(32)
        click(at, "Start training")
    va, vb = wait_job(a, "mlp"), wait_job(b, "mlp")
    assert va.id != vb.id and va.run_dir != vb.run_dir
    assert [s.step for s in va.steps] == [10, 20, 30, 40] and [s.step for s in vb.steps] == [10, 20, 30, 40, 50, 60]
    assert json.loads((va.run_dir / "metrics.json").read_text())["steps"] == 40
    assert json.loads((vb.run_dir / "metrics.json").read_text())["steps"] == 60


def test_short_cnn_run_from_the_phase4_page(runs, mnist):
    at = open_page("phase4_cnn.py")
    assert "augmentation" in figures(at)
    at.number_input(key="p4_max_steps").set_value(10)
    at.number_input(key="p4_epochs").set_value(1)
    click(at, "Start training")
    view = wait_job(at, "cnn", timeout=180)
    assert view.status == "finished", view.message
    at.run()
    figs = figures(at)
    assert figs["loss-curve"]["data"][0]["x"] == [10]
    assert {"conv-filters", "p4-conv1", "p4-pool2", "p4-probs"} <= set(figs)  # the run, reloaded and inspected
    assert (view.run_dir / "model.pt").exists()
    assert any(b.label == "Export and quantize this run" for b in at.button)

    # What `python -m core export RUN` leaves in RUN/onnx (here: the shipped model standing in for all three
    # formats, which is enough to check the table and the flip finder without a 30 s export).
    import shutil

    from core.inference import default_model_path

    onnx = view.run_dir / "onnx"
    onnx.mkdir()
    rows = {}
    for fmt in ("fp32", "int8-dynamic", "int8-static"):
        shutil.copy(default_model_path(), onnx / f"model.{fmt}.onnx")
        shutil.copy(default_model_path().with_suffix(".json"), onnx / f"model.{fmt}.json")
        rows[fmt] = {"file": f"model.{fmt}.onnx", "size_bytes": 1000, "test_accuracy": 0.99, "accuracy_drop_pp": 0.0,
                     "latency_ms_1": 0.05, "throughput_256_per_s": 9000.0}
    (onnx / "export.json").write_text(json.dumps({"models": rows, "shipping": {"reason": "a test"}}))
    at.run()
    assert not at.exception and not at.error, texts(at)
    table = at.dataframe[-1].value
    assert list(table["format"]) == ["fp32", "int8-dynamic", "int8-static"]
    assert list(table["flips vs fp32"]) == [0, 0, 0]


# --- playground, camera, deploy ----------------------------------------------------------------------------


def array(v) -> np.ndarray:
    """A plotly JSON array: a plain list, or plotly's typed-array form {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(n) for n in str(v.get("shape", len(a))).split(",")])
    return np.array(v, dtype=float)


def model_input(at: AppTest) -> np.ndarray:
    return array(figures(at)["model-input"]["data"][0]["z"])


def test_playground_sliders_change_the_28x28_and_follow_to_the_camera_page(runs, mnist):
    at = open_page("playground.py")
    assert not at.exception
    before = model_input(at)
    assert before.shape == (28, 28) and before.max() > 0.5
    at.slider(key="pg_gain").set_value(0.45).run()
    after = model_input(at)
    assert not np.allclose(before, after), "gain changes the ink strength, so the 28x28 must change"
    at.toggle(key="pg_framing").set_value(False).run()
    assert not np.allclose(after, model_input(at))
    at.slider(key="pg_radius").set_value(9).run()
    assert at.session_state["preprocess_settings"]["radius"] == 9
    at.switch_page("../pages/camera.py").run()
    assert not at.exception
    assert any("radius 9" in c.value and "framing off" in c.value for c in at.caption)


def test_playground_turns_a_broken_upload_into_a_message(runs, mnist):
    at = open_page("playground.py")
    at.radio(key="pg_source").set_value("Upload a photo").run()
    at.get("file_uploader")[0].upload("digit.png", b"not an image at all", "image/png")
    at.run()
    assert not at.exception
    assert any("not a readable image" in t for t in texts(at, ("warning",))), texts(at)


def test_deploy_builds_a_zip_with_the_playground_settings(runs, mnist):
    at = open_page("playground.py")
    at.slider(key="pg_offset").set_value(0.12).run()
    at.switch_page("../pages/deploy.py").run()
    click(at, "Build the bundle")
    assert not at.exception and not at.error, texts(at)
    data = at.session_state["dep_zip"]
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        config = json.loads(z.read("digit-web/config.json"))
    assert config["preprocess"]["offset"] == 0.12
    assert at.get("download_button")


def test_camera_frame_processor_reads_a_digit_and_says_no_digit(mnist):
    from core import camera_set
    from core.inference import load_model
    from core.live import LiveProcessor
    from core.preprocess import PreprocessConfig

    proc = LiveProcessor(load_model(), PreprocessConfig(), hold=3)
    style = camera_set.Style(digit_size=0.6, jpeg=None, shadow=0.0, ruled=False)
    frame = camera_set.camera_frame(mnist.test_images[0], np.random.default_rng(0), 640, 480, style=style)
    shown = [proc.process(frame) for _ in range(3)][-1]
    r = proc.latest()
    assert r.digit == int(mnist.test_labels[0]) == r.stable and r.size == (640, 480) and r.frames == 3
    assert shown.shape == frame.shape and not np.array_equal(shown, frame)  # box and label drawn
    blank = camera_set.camera_frame(None, np.random.default_rng(1), 640, 480, style=style)
    for _ in range(3):
        proc.process(blank)
    r = proc.latest()
    assert r.digit is None and r.stable is None and r.reason
    proc.model = None  # a failure on the camera thread must not kill it: it is reported instead
    proc.process(frame)
    assert proc.latest().error


def test_stabilizer_waits_for_a_digit_to_hold():
    from core.live import Stabilizer

    s = Stabilizer(hold=3, min_confidence=0.6)
    assert [s.update(d, c) for d, c in [(3, .9), (3, .9), (5, .9), (5, .9), (5, .9), (5, .3), (None, 0), (None, 0),
                                        (None, 0)]] == [None, None, None, None, 5, 5, 5, None, None]


def test_ice_servers_come_from_a_text_field():
    from core.live import ice_servers

    assert ice_servers("") == []
    assert ice_servers("stun:a:3478, turn:b:3478", "u", "p") == [
        {"urls": ["stun:a:3478", "turn:b:3478"], "username": "u", "credential": "p"}]
    with pytest.raises(UserError):
        ice_servers("http://example.org")


# --- the job registry on its own ---------------------------------------------------------------------------


def test_registry_reports_failures_as_messages_and_keeps_jobs_apart(tmp_path):
    from core.loop import Finished, StepMetrics
    from dashboard.jobs import JobRegistry

    def good(cfg, data, run_dir):
        for i in range(1, 4):
            yield StepMetrics(i, 1, 1.0 / i, 0.1, 0.0, 1.0)
        yield Finished(None, {"test_accuracy": 0.5}, run_dir)

    def bad(cfg, data, run_dir):
        yield StepMetrics(1, 1, 1.0, 0.1, 0.0, 1.0)
        raise UserError("learning rate too high")

    reg = JobRegistry(load_data=lambda report: None)
    a, b = reg.start("x", None, good, tmp_path / "a"), reg.start("x", None, bad, tmp_path / "b")
    va, vb = reg.wait(a), reg.wait(b)
    assert va.status == "finished" and [s.step for s in va.steps] == [1, 2, 3] and va.metrics["test_accuracy"] == 0.5
    assert vb.status == "failed" and vb.message == "learning rate too high" and len(vb.steps) == 1


def test_home_ladder_reads_the_bench_models_layout():
    from dashboard.compute import _rows_from_ladder

    doc = {"rows": [
        {"name": "softmax (NumPy)", "params": 7850, "test_accuracy": 0.92, "size_bytes": 31_400, "latency_ms_1": 0.01},
        {"name": "MLP 784-256-10 (PyTorch)", "params": 203_530, "test_accuracy": 0.98, "size_bytes": 814_000},
        {"name": "shipped model.onnx (int8-static)", "params": 105_914, "test_accuracy": 0.9916, "size_bytes": 122_119,
         "latency_ms_1": 0.04, "train_seconds": 50.0},
    ], "seed_published": {"name": "seed's published model", "test_accuracy": 0.9887, "size_bytes": 215_140}}
    rows = _rows_from_ladder(doc)
    assert [r["phase"] for r in rows] == ["1 · softmax (NumPy)", "3 · MLP (PyTorch)", "4 · CNN", "4 · CNN"]
    assert [r["shipped"] for r in rows] == [False, False, True, False]
    assert rows[2]["latency_ms"] == 0.04 and rows[2]["train_s"] == 50.0 and rows[3]["test_accuracy"] == 0.9887
    assert _rows_from_ladder(None) == [] and _rows_from_ladder({"rows": "garbage"}) == []


def test_a_corrupt_saved_run_is_a_message_not_a_traceback(runs, mnist):
    bad = runs / "softmax-broken"
    bad.mkdir(parents=True)
    (bad / "metrics.json").write_text(json.dumps({"model": "softmax", "test_accuracy": 0.9, "history": []}))
    (bad / "weights.npz").write_bytes(b"this is not an npz file")
    at = open_page("phase1_softmax.py")
    assert not at.exception
    assert any("not a readable weights file" in t for t in texts(at, ("error",))), texts(at)
