"""Fixtures shared by the test files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _chromium import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, launched once per test module (see _chromium.py)."""
    with chromium() as launched:
        yield launched
