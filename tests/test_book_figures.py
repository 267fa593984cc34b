"""Every figure a chapter draws is on its built page, with a caption and alt text.

A cell can run without error and still show the reader nothing: a matplotlib figure drawn with
a non-inline backend leaves no output (or only the text `<Figure size 900x190 with 1 Axes>`).
This reads each chapter notebook of _toc.yml beside its built HTML page and checks, cell by cell,
that

- every code cell whose source makes a matplotlib or plotly figure has an image or a drawn
  plotly figure in its output, and no output is a bare `<Figure size ...>` text;
- every such image or plot sits in a `<figure>` with a caption (myst-nb's `mystnb.figure`
  cell metadata) and has alt text (`mystnb.image.alt` for images; plotly divs get an
  aria-label from the same metadata).

Build the book first (`make book`); BOOK_HTML points at another build.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from _chromium import require_built, toc_chapters
from bs4 import BeautifulSoup

pytestmark = pytest.mark.browser  # needs the built book, like the browser tests

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()

# Source that makes a figure: matplotlib's pyplot, or a plotly figure.
MAKES_FIGURE = re.compile(
    r"\bplt\.(show|subplots|figure|imshow|plot|bar|scatter|hist)\(|\bgo\.Figure\(|"
    r"\bmake_subplots\(|\bpx\.\w+\(|\bdiagrams\.\w+\(")
REMOVED = {"remove-cell", "remove-output"}


def code_cells(notebook: Path) -> list[dict]:
    """The code cells that appear on the page, in order (a remove-cell tag drops one)."""
    cells = json.loads(notebook.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code"
            and "remove-cell" not in c.get("metadata", {}).get("tags", [])]


def page_cells(page: Path) -> list:
    require_built(page, "built chapter")
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("div.cell")


def figure_cells(name: str) -> list[tuple[int, str, object]]:
    """(cell number, first source line, the cell's HTML) for each cell that makes a figure."""
    cells, html_cells = code_cells(REPO / f"{name}.ipynb"), page_cells(HTML / f"{name}.html")
    assert len(cells) == len(html_cells), (
        f"{name}: {len(cells)} code cells in the notebook but {len(html_cells)} on the page")
    found = []
    for number, (cell, div) in enumerate(zip(cells, html_cells, strict=True)):
        source = "".join(cell["source"])
        tags = set(cell.get("metadata", {}).get("tags", []))
        if MAKES_FIGURE.search(source) and not tags & REMOVED:
            found.append((number, source.strip().splitlines()[0][:60], div))
    return found


CHAPTERS = toc_chapters()


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_cell_shows_its_figure(name):
    missing = []
    for number, first_line, div in figure_cells(name):
        out = div.select_one(".cell_output")
        shown = out is not None and (out.select("img") or out.select(".tinylm-plotly"))
        if not shown:
            missing.append(f"code cell {number} ({first_line!r})")
    assert not missing, f"{name}: cells that make a figure but show none: {missing}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_output_is_a_bare_figure_repr(name):
    bare = [number for number, div in enumerate(page_cells(HTML / f"{name}.html"))
            if re.search(r"<Figure size \d+x\d+", div.get_text())]
    assert not bare, f"{name}: code cells {bare} print a matplotlib Figure instead of drawing it"


@pytest.mark.parametrize("name", CHAPTERS)
def test_figures_have_a_caption_and_alt_text(name):
    problems = []
    for number, first_line, div in figure_cells(name):
        for shown in div.select(".cell_output img, .cell_output .tinylm-plotly"):
            where = f"code cell {number} ({first_line!r})"
            alt = shown.get("alt") if shown.name == "img" else shown.get("aria-label")
            if not (alt or "").strip():
                problems.append(f"{where}: no alt text")
            figure = shown.find_parent("figure")
            caption = figure.select_one("figcaption") if figure else None
            if caption is None or not caption.get_text(strip=True):
                problems.append(f"{where}: no caption")
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_chapters_draw_figures():
    """The checks above look at something: the chapters together draw figures."""
    assert sum(len(figure_cells(name)) for name in CHAPTERS) >= len(CHAPTERS)
