"""Shared fixtures: real MNIST (fetched once by `make test` before pytest starts)."""

import pytest

from core.data import MNIST, load_mnist


@pytest.fixture(scope="session")
def mnist() -> MNIST:
    return load_mnist(fetch=True)
