"""Shared by the browser tests: Debian's Chromium, driven by the playwright Python package.

Playwright's own browser download (`playwright install`) is never used: the tests launch the
system Chromium (`apt-get install -y chromium`; `.ci/run` does it) through `executable_path`.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from ipywidgets.embed import embed_data

from tinylm.book import offline

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


REPO = Path(__file__).resolve().parents[1]


def link_assets(folder: Path) -> None:
    """_static/tinylm-assets/ as the book has it, linked from node_modules and the venv (no
    `make book` needed, only `npm ci`)."""
    app = SimpleNamespace(confdir=str(REPO), srcdir=str(REPO),
                          config=SimpleNamespace(tinylm_node_modules="node_modules"))
    try:
        plan = offline._copy_plan(app)
    except Exception as error:  # a missing `npm ci` or anywidget bundle, with its message
        pytest.fail(f"the book's offline scripts are not installed: {error}")
    target = folder / "_static" / offline.ASSETS
    for source, relative in plan:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).symlink_to(source, target_is_directory=source.is_dir())
    (target / "widgets-config.js").write_text(offline.WIDGETS_CONFIG_JS, encoding="utf-8")


def write_widget_page(folder: Path, title: str, widgets: dict[str, object]) -> None:
    """index.html in ``folder`` showing ``widgets`` (element id -> widget) as the static book
    does, with the offline scripts linked beside it. The state keeps its defaults: anywidget's
    `_esm` module is one of them, and the page cannot draw without it."""
    data = embed_data(views=list(widgets.values()), drop_defaults=False)
    views = dict(zip(widgets, data["view_specs"], strict=True))
    (folder / "index.html").write_text(
        widget_page(title, data["manager_state"], views), encoding="utf-8")
    link_assets(folder)


@dataclass
class Problems:
    """What went wrong on a page while a test had it open; every list should stay empty."""
    external_requests: list[str] = field(default_factory=list)  # left the local server
    failed_requests: list[str] = field(default_factory=list)  # HTTP >= 400, or no answer
    page_errors: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions
    console_errors: list[str] = field(default_factory=list)  # console.error messages


def watch(tab, base: str) -> Problems:
    """Record on ``tab`` every request that leaves ``base`` (the local server), every failed
    request and every JavaScript error, from now on."""
    seen = Problems()
    tab.on("request", lambda req: None if req.url.startswith((base, "data:", "blob:"))
           else seen.external_requests.append(req.url))
    tab.on("response", lambda resp: seen.failed_requests.append(f"{resp.status} {resp.url}")
           if resp.status >= 400 else None)
    tab.on("requestfailed", lambda req: seen.failed_requests.append(f"failed {req.url}"))
    tab.on("pageerror", lambda err: seen.page_errors.append(str(err)))
    tab.on("console", lambda msg: seen.console_errors.append(f"{msg.text} {msg.location}")
           if msg.type == "error" else None)
    return seen


@contextmanager
def open_page(browser, folder: Path, **tab_options: object) -> Iterator[tuple[object, Problems]]:
    """Serve ``folder`` and open its index.html in a new tab (``tab_options`` as playwright's
    ``new_page`` takes them: viewport, has_touch, ...), watched from before the first request;
    yields (tab, problems) once the page has loaded, and closes the tab after."""
    with serve(folder) as base:
        tab = browser.new_page(**tab_options)
        problems = watch(tab, base)
        try:
            tab.goto(f"{base}/index.html", wait_until="load")
            yield tab, problems
        finally:
            tab.close()


@contextmanager
def open_widget_page(browser, folder: Path, title: str, widgets: dict[str, object],
                     **tab_options: object) -> Iterator[tuple[object, Problems]]:
    """`write_widget_page` then `open_page`: ``widgets`` (element id -> widget) on a page of
    their own in ``folder``, open in a watched tab."""
    write_widget_page(folder, title, widgets)
    with open_page(browser, folder, **tab_options) as opened:
        yield opened


# ---- the built book: its pages, and waiting until one has rendered --------------------------

RENDER_TIMEOUT = 30.0  # seconds for MathJax, plotly and the widget manager to finish a page
# The table of contents the tests follow; BOOK_TOC points at another (e.g. a one-chapter build).
TOC = Path(os.environ.get("BOOK_TOC", REPO / "_toc.yml"))


def toc_files() -> list[str]:
    """Every file of the table of contents, root first, without suffix (e.g. 'book/01-ngrams')."""
    toc = yaml.safe_load(TOC.read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({key: value for key, value in toc.items() if key != "root"})
    return [str(Path(f).with_suffix("")) for f in files]


def toc_pages() -> list[str]:
    """Every page of the table of contents, as its built HTML (e.g. 'book/01-ngrams.html')."""
    return [f"{f}.html" for f in toc_files()]


def toc_chapters() -> list[str]:
    """The chapter notebooks of the table of contents (e.g. 'book/01-ngrams')."""
    return [f for f in toc_files() if re.fullmatch(r"book/\d\d-[^/]+", f)
            and (REPO / f"{f}.ipynb").is_file()]


# Evaluated in the page: what has rendered and what has not. Every list must end up empty.
RENDER_STATE_JS = """
() => {
  const describe = (el) => el.id || el.className || el.tagName;
  const math = [...document.querySelectorAll("span.math, div.math")];
  const plots = [...document.querySelectorAll(".tinylm-plotly")];

  // Widget state: which model ids belong to anywidget (their views must draw .tinylm-widget).
  const anywidgetModels = new Set();
  for (const tag of document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-state+json"]')) {
    const state = JSON.parse(tag.textContent).state || {};
    for (const [id, model] of Object.entries(state)) {
      if (model.model_module === "anywidget") anywidgetModels.add(id);
    }
  }
  // The widget manager inserts a div.widget-subarea just before each view's <script> tag.
  const views = [...document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]')].map((tag) => {
    const area = tag.previousElementSibling;
    const drawn = area && area.classList.contains("widget-subarea") ? area : null;
    return {id: JSON.parse(tag.textContent).model_id, drawn};
  });

  return {
    math: math.length,
    mathUnrendered: math.filter((el) => !el.querySelector("mjx-container"))
                        .map((el) => el.textContent.slice(0, 80)),
    mathErrors: [...document.querySelectorAll("mjx-merror")]
                    .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
    plots: plots.length,
    plotsUndrawn: plots.filter((el) => !el.querySelector(".main-svg")).map(describe),
    images: document.images.length,
    imagesBroken: [...document.images].filter((img) => !(img.complete && img.naturalWidth > 0))
                      .map((img) => img.getAttribute("src")),
    widgets: views.length,
    widgetsEmpty: views.filter((v) => !v.drawn || v.drawn.children.length === 0
                                      || v.drawn.getBoundingClientRect().height === 0)
                       .map((v) => v.id),
    icons: document.querySelectorAll("svg.svg-inline--fa").length,
    iconsUndrawn: [...document.querySelectorAll("i[class*='fa-']")].map((el) => el.className),
    anywidgetsWithoutRoot: views
      .filter((v) => anywidgetModels.has(v.id)
                     && !(v.drawn && v.drawn.querySelector(".tinylm-widget")))
      .map((v) => v.id),
  };
}
"""

PENDING_KEYS = ("mathUnrendered", "plotsUndrawn", "imagesBroken", "widgetsEmpty",
                "anywidgetsWithoutRoot", "iconsUndrawn")


def wait_rendered(tab, timeout: float = RENDER_TIMEOUT) -> dict:
    """Wait until MathJax, plotly, images and widgets have drawn (or ``timeout`` seconds have
    passed); return the page's render state (see RENDER_STATE_JS)."""
    deadline = time.monotonic() + timeout
    while True:
        state = tab.evaluate(RENDER_STATE_JS)
        if not any(state[key] for key in PENDING_KEYS) or time.monotonic() > deadline:
            break
        tab.wait_for_timeout(250)
    tab.wait_for_timeout(500)  # let late requests (fonts, lazy MathJax parts) show up
    return state
