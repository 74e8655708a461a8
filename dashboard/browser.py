"""Drive the real dashboard in headless Chromium: a private network namespace, the server, a fake camera.

Used by the screenshot command, the browser test and the benchmark (dev tools: Playwright is a dev
dependency). WebRTC needs ICE candidates that aiortc and Chromium both accept, and neither uses
127.0.0.1, so the server and the browser run together inside a network namespace of their own
(`unshare -n`, root) whose loopback also carries 127.0.0.2, with Chromium allowed to use loopback for
peer connections. Nothing leaves that namespace. See ../shared/notes/browser-testing.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.storage import REPO_ROOT

NETNS_ENV = "DIGITS_IN_NETNS"
PAGES = {"home": "", "phase1": "phase1", "phase2": "phase2", "phase3": "phase3", "phase4": "phase4",
         "playground": "playground", "camera": "camera", "deploy": "deploy"}


# --- the namespace ------------------------------------------------------------------------------------------


def in_netns() -> bool:
    return os.environ.get(NETNS_ENV) == "1"


def netns_available() -> str | None:
    """None if we can make a private network namespace here, else why not."""
    if os.geteuid() != 0:
        return "needs root (unshare -n)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    from core.web import chromium_missing

    return chromium_missing()


def run_in_netns(argv: list[str], env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run `argv` inside a fresh network namespace with loopback up and 127.0.0.2 on it."""
    setup = "ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec \"$@\""
    cmd = ["unshare", "-n", "--", "sh", "-c", setup, "sh", *argv]
    return subprocess.run(cmd, env={**os.environ, **(env or {}), NETNS_ENV: "1"}, timeout=timeout, cwd=REPO_ROOT)


def reexec_in_netns(module: str, argv: list[str] | None) -> int | None:
    """Outside the namespace: run `python -m module argv` inside a fresh one and return its exit status
    (2 with a one-line error if that is impossible here). Inside it: None, i.e. carry on."""
    if in_netns():
        return None
    why = netns_available()
    if why:
        print(f"error: cannot drive the browser here: {why}", file=sys.stderr)
        return 2
    return run_in_netns([sys.executable, "-m", module, *(sys.argv[1:] if argv is None else argv)]).returncode


# --- the server ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int) -> list[str]:
    """What `make run` runs (the repo's .streamlit/config.toml makes it headless, without usage stats)."""
    streamlit = Path(sys.executable).with_name("streamlit")
    return [str(streamlit), "run", "dashboard/server.py", "--server.port", str(port)]


@contextlib.contextmanager
def dashboard_server(port: int | None = None, env: dict | None = None, log: Path | None = None) -> Iterator[str]:
    """Start the dashboard as `make run` does; yield its URL once /_stcore/health answers; stop it after."""
    port = port or free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(server_command(port), cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise UserError(f"the dashboard exited with code {proc.returncode} (log: {log})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise UserError("the dashboard did not answer /_stcore/health within 60 s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


# --- the fake camera ----------------------------------------------------------------------------------------


def digit_clip(path: Path, index: int = 0, seconds: float = 2.0, fps: int = 30) -> int:
    """A 640x480 clip of MNIST test digit `index` written on paper (core.camera_set); returns its label."""
    from core import camera_set
    from core.data import load_mnist

    data = load_mnist(fetch=False)
    rng = np.random.default_rng(index)
    style = camera_set.Style(pen="medium", ink="black", digit_size=0.6, gradient=0.1, exposure=0.92, blur=0.6,
                             noise=2.0, jpeg=None)
    frames = [camera_set.camera_frame(data.test_images[index], rng, 640, 480, style=style)
              for _ in range(max(1, int(seconds * fps) // 6))]
    from core.web import write_y4m

    write_y4m(path, [f for f in frames for _ in range(6)], fps)  # each rendering held 6 frames: sensor noise flicker
    return int(data.test_labels[index])


# --- the browser --------------------------------------------------------------------------------------------


def browser(fake_video: Path | None = None):
    """Context manager: headless Debian Chromium (core.web.chromium: never a downloaded browser, fresh profile),
    allowed to use loopback for WebRTC, with the fake camera playing `fake_video` when given."""
    from core.web import chromium, fake_camera_flags

    return chromium(["--allow-loopback-in-peer-connection", "--disable-dev-shm-usage"]
                    + (fake_camera_flags(fake_video) if fake_video else []))


def wait_idle(page, timeout: float = 60.0, settle: float = 0.5) -> bool:
    """Wait until Streamlit has finished running the page's script (stApp's data-test-script-state stays
    'notRunning' for `settle` s); False on timeout (e.g. a page whose live fragment keeps rerunning)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout * 1000)
    deadline, quiet_since = time.time() + timeout, None
    while time.time() < deadline:
        state = page.get_attribute("[data-testid='stApp']", "data-test-script-state")
        if state != "notRunning":
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle:
            return True
        time.sleep(0.05)
    return False


def metric_value(page, label: str) -> str | None:
    """The value shown by the st.metric labelled `label`, or None when absent."""
    m = page.locator("[data-testid='stMetric']").filter(has=page.locator(
        "[data-testid='stMetricLabel']", has_text=label))
    if m.count() == 0:
        return None
    return m.first.locator("[data-testid='stMetricValue']").inner_text().strip()
