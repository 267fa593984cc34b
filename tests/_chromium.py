"""Shared by the browser tests: Debian's Chromium, driven by the playwright Python package.

Playwright's own browser download (`playwright install`) is never used: the tests launch the
system Chromium (`apt-get install -y chromium`; `.ci/run` does it) through `executable_path`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("TINYLM_CHROMIUM", "/usr/bin/chromium"))

# Headless in a container, and quiet: no background requests of the browser's own (updates,
# sync, QUIC probes) that would blur the count of requests made by the page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[object]:
    """A launched playwright Browser; fails (not skips) with what to install when missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium with "
                    "`apt-get install -y chromium` (`.ci/run` does it), or set TINYLM_CHROMIUM.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
