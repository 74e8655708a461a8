"""The web page's camera on blank ruled paper: "no digit", steadily (issue 13). Its own module: Chromium's fake camera
plays one clip per browser, and test_web.py's browser plays a digit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import bundle as web
from core import serve
from core.browser import write_y4m
from core.inference import default_model_path
from tests.browser_utils import fake_camera_flags, launch_browser, wait_until


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "bundle"
    web.build_bundle(out, default_model_path())
    with serve.serving(out) as server:
        yield server


@pytest.mark.browser
@pytest.mark.slow
def test_fake_camera_on_blank_ruled_paper_says_no_digit_steadily(site, tmp_path: Path) -> None:
    """Blank ruled paper with a shadow's edge across it, as a phone held over a notebook sees it: five seconds of
    the page's answer, sampled ten times a second, never a digit."""
    from core.camera_set import Style, camera_frame

    rng = np.random.default_rng(5)
    style = Style(ruled=True, rule_gap=0.22, rule_angle=3.0, rule_strength=0.8, shadow=0.45, shadow_angle=70,
                  shadow_pos=0.1, shadow_soft=0.05, gradient=0.3, noise=4.0, jpeg=None)
    frames = [camera_frame(None, rng, 640, 480, style=style) for _ in range(4)]
    clip = write_y4m(tmp_path / "ruled.y4m", [f for f in frames for _ in range(5)])
    with launch_browser(fake_camera_flags(clip)) as b:
        context = b.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.goto(site.url)
        page.wait_for_selector("body[data-state=ready]", state="attached", timeout=60_000)
        page.check("input[name=source][value=camera]")
        page.click("#camera-toggle")
        page.wait_for_selector("body[data-camera=on]", state="attached", timeout=20_000)
        wait_until(page, "digitApp.stats.frames >= 5", timeout_s=60)
        seen = []
        for _ in range(50):
            seen.append(page.text_content("#digit").strip())
            page.wait_for_timeout(100)
        frames_seen = page.evaluate("digitApp.stats.frames")
        context.close()
    assert frames_seen >= 20 and set(seen) == {"no digit"}, (frames_seen, sorted(set(seen)))
