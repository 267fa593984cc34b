"""Shared by the browser tests: Debian's Chromium, driven by the playwright Python package.

Playwright's own browser download (`playwright install`) is never used: the tests launch the
system Chromium (`apt-get install -y chromium`; `.ci/run` does it) through `executable_path`.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import threading
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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: str | Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 while the block runs; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def require_built(path: Path, what: str) -> None:
    """Fail (not skip) with what to run when a test needs a file of the built book."""
    if not path.is_file():
        pytest.fail(f"No {what} at {path}: run `make book` first "
                    "(or set BOOK_HTML to a built _build/html folder).")


def script_json(obj: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(obj).replace("</", "<\\/")


WIDGET_PAGE = """\
<!DOCTYPE html>
<html lang="en" data-content_root="./">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<script src="_static/tinylm-assets/require.js"></script>
<script src="_static/tinylm-assets/widgets-config.js"></script>
<script src="_static/tinylm-assets/html-manager/dist/embed-amd.js"></script>
<script type="application/vnd.jupyter.widget-state+json">{state}</script>
</head>
<body style="max-width: 820px; margin: 16px auto;">
{views}
</body>
</html>
"""


def widget_page(title: str, state: dict, views: dict[str, dict]) -> str:
    """A page that shows widgets the way the static book does: the embedded widget state, and
    one view per entry of ``views`` (element id -> view spec), drawn by the offline scripts
    under _static/tinylm-assets/."""
    divs = "".join(f'<div class="cell_output" id="{name}">\n<script type="application/'
                   f'vnd.jupyter.widget-view+json">{script_json(view)}</script>\n</div>\n'
                   for name, view in views.items())
    return WIDGET_PAGE.format(title=title, state=script_json(state), views=divs)
