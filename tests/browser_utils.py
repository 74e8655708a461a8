"""Real Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright, quiet on a closed network.

Generic on purpose, for the web bundle's tests and the dashboard's: `launch_browser()` launches Chromium
(failing the test, with the fix, when Chromium or Playwright is missing: `make test` installs both),
`wait_until()` polls a page without eval (so it works under a strict Content-Security-Policy),
`fake_camera_flags()` turns a .y4m clip into the camera.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from core.browser import chromium_missing, fake_camera_flags, launch_chromium, wait_until

__all__ = ["launch_browser", "fake_camera_flags", "wait_until"]


@contextlib.contextmanager
def launch_browser(extra_args: Sequence[str] = (), headless: bool = True) -> Iterator[object]:
    """A Playwright Browser on Debian Chromium (fresh profile); a missing browser fails the test with the fix."""
    import pytest

    why = chromium_missing()
    if why:
        pytest.fail(f"{why} (run `make test`, which installs Debian chromium)", pytrace=False)
    with launch_chromium(list(extra_args), headless) as browser:
        yield browser
