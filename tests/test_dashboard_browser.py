"""The dashboard in real headless Chromium: started as `make run` starts it, used like a presenter would.

One run of `python -m core screenshots` (inside a private network namespace, see core/browser.py) trains
tiny runs from the browser, feeds the camera page a fake-camera clip of an MNIST test digit written on
paper, and writes a screenshot of every page to a temporary folder ($DIGITS_SCREENSHOTS_DIR instead, e.g.
dashboard/screenshots to update the README tour; `make screenshots` does that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import browser as B

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
PAGES = ("home", "phase1", "phase2", "phase3", "phase4", "playground", "camera", "deploy")


@pytest.fixture(scope="module")
def browser_run(tmp_path_factory, mnist) -> dict:
    why = B.netns_available()
    if why:
        pytest.fail(f"cannot run the dashboard in a browser here: {why}", pytrace=False)
    work = tmp_path_factory.mktemp("browser")
    out = Path(os.environ.get("DIGITS_SCREENSHOTS_DIR") or work / "screenshots")
    figures = work / "figures.json"
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "core", "screenshots", "--out", str(out), "--json", str(figures)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert figures.exists(), f"screenshot run failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
    result = json.loads(figures.read_text())
    result["out"], result["started"] = out, started
    return result


def test_camera_page_shows_the_right_digit(browser_run):
    cam = browser_run["camera"]  # how fast: `python -m core bench dashboard` measures it
    assert cam["shown"] == str(cam["expected"]), cam["history"]
    assert cam["detail"].startswith("640×480"), cam["detail"]  # the clip's frames arrive at full size


def test_training_from_the_browser_finishes_and_is_drawn(browser_run):
    for phase in ("phase1", "phase2", "phase4"):
        assert browser_run["training"][phase]["train_seconds"] > 0


def test_every_page_has_a_fresh_screenshot(browser_run):
    out = browser_run["out"]
    for name in PAGES:
        png = out / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000, png
        assert png.stat().st_mtime >= browser_run["started"], f"{png} was not written by this run"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
