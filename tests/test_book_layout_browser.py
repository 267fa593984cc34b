"""Pages that fit: every page of the book at a phone's width (390 px) and a laptop's (1280 px).

For every page of _toc.yml, at both widths, in headless Chromium:

- nothing overflows the page or is clipped: no element of the article reaches past the
  article's right edge unless it sits in a box that scrolls sideways (long code lines, wide
  outputs and tables scroll inside their own box), and the page itself never scrolls sideways;
- the page is light: the page and every script and style it loads weigh at most 2.5 MB once
  gzip-compressed (measured by compressing what the page received, as a web server would send
  it);
- plotly.js is loaded only by pages that draw a plotly figure, and deferred.

A screenshot of each page at each width is saved under <build>/../screenshots/ to look at.
Build the book first (`make book`); BOOK_HTML points at another build.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _chromium import require_built, serve, toc_pages, wait_rendered

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
WIDTHS = {"phone": 390, "laptop": 1280}
MAX_GZIP_BYTES = 2.5e6
COUNTED = {"document", "script", "stylesheet"}  # what a page transfers, for its weight

# Elements of the article whose right edge passes the article's, and which no box that scrolls
# sideways (and itself fits) contains. Hidden and empty elements are ignored.
OVERFLOW_JS = """
() => {
  const article = document.querySelector("article.bd-article") || document.body;
  const limit = article.getBoundingClientRect().right + 1;
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const describe = (el) => {
    const cls = typeof el.className === "string" ? el.className.split(" ").slice(0, 2) : [];
    const text = (el.textContent || "").trim().slice(0, 50);
    return `${el.tagName.toLowerCase()}${cls.length ? "." + cls.join(".") : ""} ` +
           `(${Math.round(el.getBoundingClientRect().right - limit)} px too wide: "${text}")`;
  };
  const offenders = [];
  for (const el of article.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= limit) continue;
    let inScroller = false;
    for (let p = el.parentElement; p && p !== article; p = p.parentElement) {
      if (scrolls(p) && p.getBoundingClientRect().right <= limit) { inScroller = true; break; }
    }
    // Report the outermost offender only: its children overflow with it.
    if (!inScroller && !offenders.some((o) => o.contains(el))) offenders.push(el);
  }
  return {
    pageScroll: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    offenders: offenders.slice(0, 12).map(describe),
  };
}
"""


class Loaded:
    """One page loaded at one width: what it received, and how it lays out."""

    def __init__(self, name: str, width: str):
        self.name, self.width = name, width
        self.responses = []  # (resource type, url, response)
        self.layout: dict = {}
        self.scripts: list[dict] = []

    def gzip_bytes(self) -> dict[str, int]:
        sizes = {}
        for kind, url, response in self.responses:
            if kind in COUNTED and response.ok:
                sizes[url] = len(gzip.compress(response.body(), compresslevel=6))
        return sizes


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    require_built(HTML / "index.html", "built book")
    with serve(HTML) as base:
        yield base


PAGES = toc_pages()


@pytest.fixture(scope="module", params=[(p, w) for p in PAGES for w in WIDTHS],
                ids=lambda pw: f"{pw[0]}@{pw[1]}")
def loaded(request, base_url, browser) -> Iterator[Loaded]:
    name, width = request.param
    tab = browser.new_page(viewport={"width": WIDTHS[width], "height": 900})
    seen = Loaded(name, width)
    tab.on("response", lambda r: seen.responses.append((r.request.resource_type, r.url, r)))
    tab.goto(f"{base_url}/{name}", wait_until="load")
    wait_rendered(tab)
    seen.layout = tab.evaluate(OVERFLOW_JS)
    seen.scripts = tab.evaluate("""() => [...document.scripts].filter((s) => s.src)
        .map((s) => ({src: s.getAttribute("src"), defer: s.defer, async: s.async}))""")
    seen.plots = tab.evaluate("document.querySelectorAll('.tinylm-plotly').length")
    shots = HTML.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    tab.screenshot(path=str(shots / f"{name.replace('/', '__')[:-5]}@{WIDTHS[width]}.png"),
                   full_page=True)
    yield seen
    tab.close()


def test_nothing_overflows_or_is_clipped(loaded):
    layout = loaded.layout
    assert layout["pageScroll"] <= 0 and not layout["offenders"], (
        f"{loaded.name} at {WIDTHS[loaded.width]} px: the page scrolls sideways by "
        f"{layout['pageScroll']} px; elements wider than the article: {layout['offenders']}")


def test_page_weight(loaded):
    sizes = loaded.gzip_bytes()
    total = sum(sizes.values())
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    assert total <= MAX_GZIP_BYTES, (
        f"{loaded.name} transfers {total / 1e6:.2f} MB gzip-compressed (at most "
        f"{MAX_GZIP_BYTES / 1e6:.1f} MB); the biggest: "
        + ", ".join(f"{url.rsplit('/', 1)[-1]} {n / 1e3:.0f} kB" for url, n in biggest))


def test_plotly_only_where_drawn_and_deferred(loaded):
    plotly = [s for s in loaded.scripts if "plotly" in s["src"]]
    if loaded.plots == 0:
        assert not plotly, f"{loaded.name} draws no plotly figure but loads {plotly}"
    else:
        assert len(plotly) == 1, f"{loaded.name} should load one plotly.js bundle: {plotly}"
        assert plotly[0]["defer"], f"{loaded.name} loads plotly.js without defer: {plotly}"
