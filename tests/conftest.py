"""Fixtures shared by the test files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _chromium import chromium

from tinylm.zoo import torch_threads


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(
    "one_thread")``): on tensors this small a second thread only adds waiting, seconds of it
    on a busy machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, launched once per test module (see _chromium.py)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def ax():
    """A fresh matplotlib axes for a diagram test (tests/test_diagrams_*.py), closed after."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)
