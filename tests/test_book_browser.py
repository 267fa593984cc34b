"""The built book, rendered in headless Chromium: every page works offline and draws its figures.

For every page listed in _toc.yml (so a new chapter is covered as soon as it is listed) this
loads the built HTML from a local server and checks that

- no request leaves that server (`data:` and `blob:` URLs are fine) and every local one succeeds;
- no JavaScript error is thrown;
- every math element was typeset by MathJax (an `mjx-container`, and no TeX error);
- every plotly figure (`.tinylm-plotly`) has drawn its `.main-svg`;
- every image (matplotlib figures) has loaded;
- every widget view (ipywidgets, anywidget) has rendered, and every anywidget view holds the
  `.tinylm-widget` element that tinylm's anywidgets put at the root of what they draw.

Build the book first (`make book`); BOOK_HTML points the tests at another build. A full-page
screenshot of each page is saved under <build>/../screenshots/ to look at after a run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _chromium import RENDER_STATE_JS, require_built, serve, toc_pages, wait_rendered

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if re.fullmatch(r"book/\d\d-[^/]+\.html", p)]


# ---- serving the book -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    require_built(HTML / "index.html", "built book")
    with serve(HTML) as base:
        yield base


@dataclass
class RenderedPage:
    name: str
    state: dict
    external_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        """Everything seen on the page, for assertion messages."""
        return json.dumps({"page": self.name, **self.__dict__}, indent=1, default=str)


@pytest.fixture(scope="module", params=PAGES)
def page(request: pytest.FixtureRequest, base_url: str, browser) -> Iterator[RenderedPage]:
    name = request.param
    if not (HTML / name).is_file():
        pytest.fail(f"{name} is listed in _toc.yml but was not built into {HTML}: "
                    "run `make book` again and read its warnings.")
    tab = browser.new_page(viewport={"width": 1280, "height": 1600})
    seen = RenderedPage(name=name, state={})

    def on_request(req) -> None:
        if not req.url.startswith((base_url, "data:", "blob:")):
            seen.external_requests.append(req.url)

    def on_response(resp) -> None:
        if resp.url.startswith(base_url) and resp.status >= 400:
            seen.failed_requests.append(f"{resp.status} {resp.url}")

    tab.on("request", on_request)
    tab.on("response", on_response)
    tab.on("requestfailed", lambda req: seen.failed_requests.append(f"failed {req.url}"))
    tab.on("pageerror", lambda err: seen.page_errors.append(str(err)))
    tab.on("console", lambda msg: seen.console_errors.append(msg.text)
           if msg.type == "error" else None)

    tab.goto(f"{base_url}/{name}", wait_until="load")
    seen.state = wait_rendered(tab)

    shots = HTML.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    tab.screenshot(path=str(shots / name.replace("/", "__").replace(".html", ".png")),
                   full_page=True)
    yield seen
    tab.close()


# ---- the checks ------------------------------------------------------------------------------

def test_toc_lists_the_chapters():
    assert PAGES[0] == "book/intro.html", PAGES
    assert CHAPTERS, f"no chapter (book/NN-topic) in _toc.yml: {PAGES}"


def test_no_request_leaves_the_local_server(page: RenderedPage):
    assert page.external_requests == [], page.report()
    assert page.failed_requests == [], page.report()


def test_no_javascript_errors(page: RenderedPage):
    assert page.page_errors == [], page.report()


def test_math_is_typeset(page: RenderedPage):
    assert page.state["mathUnrendered"] == [], page.report()
    assert page.state["mathErrors"] == [], page.report()


def test_plotly_figures_are_drawn(page: RenderedPage):
    assert page.state["plotsUndrawn"] == [], page.report()


def test_images_have_loaded(page: RenderedPage):
    assert page.state["imagesBroken"] == [], page.report()


def test_icons_are_drawn(page: RenderedPage):
    """tinylm.book.icons replaces Font Awesome's script: every icon still becomes an SVG."""
    assert page.state["iconsUndrawn"] == [], page.report()
    assert page.state["icons"] > 0, page.report()


def test_widgets_have_rendered(page: RenderedPage):
    assert page.state["widgetsEmpty"] == [], page.report()
    assert page.state["anywidgetsWithoutRoot"] == [], page.report()


def test_chapters_have_math_and_interactive_figures(browser, base_url):
    """Guards the checks above against passing vacuously: taken together, the chapters have
    typeset math and interactive figures (plotly or widgets) for those checks to look at."""
    totals = {"math": 0, "plots": 0, "widgets": 0}
    for name in CHAPTERS:
        tab = browser.new_page()
        tab.goto(f"{base_url}/{name}", wait_until="load")
        state = tab.evaluate(RENDER_STATE_JS)
        tab.close()
        for key in totals:
            totals[key] += state[key]
    assert totals["math"] > 0, totals
    assert totals["plots"] + totals["widgets"] > 0, totals


# ---- the chapters' widgets respond in the static page, without a kernel ---------------------

@pytest.mark.browser
def test_next_token_explorer_responds_to_typing_and_the_k_slider(browser, base_url):
    pg = browser.new_page()
    try:
        pg.goto(f"{base_url}/book/01-ngrams.html", wait_until="load")
        explorer = pg.locator(".tinylm-ngram-explorer")
        explorer.locator(".tinylm-bar").first.wait_for(timeout=30_000)
        notes = explorer.locator(".tne-note")
        charts = explorer.locator(".tne-chart")

        def probabilities(chart: int) -> list[float]:
            return [float(t) for t in charts.nth(chart).locator(".tne-p").all_inner_texts()]

        def each_panel_sorted_by_its_own_probability() -> None:
            for chart in range(3):
                p = probabilities(chart)
                assert p == sorted(p, reverse=True), (chart, p)

        # it opens on a seen context, every panel already drawn and in its own order
        assert explorer.locator(".tne-context").input_value().strip()
        assert "seen" in explorer.locator(".tne-status").inner_text()
        assert all(charts.nth(c).locator(".tne-row").count() > 0 for c in range(3))
        each_panel_sorted_by_its_own_probability()

        # a seen context: all three estimators show bars, Kneser-Ney does not back off
        explorer.locator(".tne-context").fill("prime minister")
        assert "seen" in explorer.locator(".tne-status").inner_text()
        assert "backed off" not in notes.nth(2).inner_text()
        mle_rows = charts.nth(0).locator(".tne-row")
        assert mle_rows.count() > 0
        each_panel_sorted_by_its_own_probability()

        # moving the slider changes the add-k probabilities, computed in the browser
        addk = charts.nth(1).locator(".tne-p")
        before = addk.all_inner_texts()
        explorer.locator(".tne-k").fill("-3")  # k = 10**-3
        assert explorer.locator(".tne-k-value").inner_text() == "0.001"
        assert addk.all_inner_texts() != before
        each_panel_sorted_by_its_own_probability()

        # an unseen context: MLE undefined, add-k uniform, Kneser-Ney backs off
        explorer.locator(".tne-context").fill("purple the")
        assert "never seen" in explorer.locator(".tne-status").inner_text()
        assert "undefined" in notes.nth(0).inner_text()
        assert "uniform" in notes.nth(1).inner_text()
        assert 'backed off to "the"' in notes.nth(2).inner_text()
        assert "<unk>" in notes.nth(2).inner_text()  # shown as text, not swallowed as a tag
        each_panel_sorted_by_its_own_probability()
    finally:
        pg.close()


# Draws `text` and a code point no font has (U+10FFFD, private use) in the same font as `el`;
# without a font for the script, the browser draws the same empty box for both.
GLYPHS_DRAWN_JS = """
(el) => {
  const style = getComputedStyle(el);
  const draw = (text) => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 32;
    const ctx = canvas.getContext("2d");
    ctx.font = `24px ${style.fontFamily}`;
    ctx.fillText(text, 4, 26);
    return Array.from(ctx.getImageData(0, 0, 64, 32).data).join(",");
  };
  const missing = draw("\\u{10FFFD}");
  return [...el.textContent.matchAll(/[\\u4e00-\\u9fff]/gu)].map((m) => m[0])
    .filter((ch) => draw(ch) === missing);
}
"""


def test_chinese_text_is_drawn_with_real_glyphs(browser, base_url):
    """Chapter 1's Chinese byte-gram example needs a CJK font (Debian: fonts-noto-cjk, which
    `.ci/run` installs); without one every character is the same empty box."""
    pg = browser.new_page()
    try:
        pg.goto(f"{base_url}/book/01-ngrams.html", wait_until="load")
        cells = pg.locator(".cell_output pre", has_text="自然语言处理")
        assert cells.count() > 0, "chapter 1 no longer shows its Chinese example"
        boxes = cells.first.evaluate(GLYPHS_DRAWN_JS)
        assert boxes == [], (f"drawn as empty boxes: {''.join(boxes)}; install a CJK font "
                             "(apt-get install fonts-noto-cjk)")
    finally:
        pg.close()
