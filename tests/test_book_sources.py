"""The anatomy every chapter and lab notebook keeps, read from the notebooks themselves.

- A chapter opens with its lesson: every code cell before "Why this matters" is collapsed
  (`hide-input`), so the page starts with the idea, not with set-up.
- A chapter ends with a References section holding its bibliography, and cites what it lists.
- Chapter and lab link to each other.
- Graded cells are collapsed in the book.
- No markdown footnotes: `_config.yml` silences myst's footnote warnings for {footcite}, which
  would otherwise hide a broken `[^1]`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _chromium import toc_chapters

from tinylm.grading.markers import parse_graded

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = toc_chapters()


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def lab_of(chapter: str) -> Path:
    return REPO / "labs" / f"{Path(chapter).name}-lab.ipynb"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_opens_with_its_lesson(chapter):
    nb = cells(REPO / f"{chapter}.ipynb")
    start = next((i for i, c in enumerate(nb) if c["cell_type"] == "markdown"
                  and re.search(r"^##\s+Why this matters", text(c), re.M)), None)
    assert start is not None, f"{chapter} has no '## Why this matters' section"
    shown = [i for i, c in enumerate(nb[:start]) if c["cell_type"] == "code"
             and not tags(c) & {"hide-input", "remove-input", "remove-cell"}]
    assert not shown, f"{chapter}: code cells {shown} come before the lesson, uncollapsed"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_ends_with_its_references(chapter):
    nb = cells(REPO / f"{chapter}.ipynb")
    markdown = [text(c) for c in nb if c["cell_type"] == "markdown"]
    last = next((m for m in reversed(markdown) if m.strip()), "")
    assert re.search(r"^##\s+References", last, re.M) and "{footbibliography}" in last, (
        f"{chapter} must end with a '## References' section holding ```{{footbibliography}}```")
    cited = set(re.findall(r"\{footcite(?::[pt])?\}`([^`]+)`", "\n".join(markdown)))
    keys = {k.strip() for group in cited for k in group.split(",")}
    bib = (REPO / "book" / "references.bib").read_text(encoding="utf-8")
    known = set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    assert keys, f"{chapter} cites nothing"
    assert keys <= known, f"{chapter} cites keys missing from references.bib: {keys - known}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_and_lab_link_to_each_other(chapter):
    name = Path(chapter).name
    chapter_md = "\n".join(text(c) for c in cells(REPO / f"{chapter}.ipynb")
                           if c["cell_type"] == "markdown")
    assert f"labs/{name}-lab" in chapter_md, f"{chapter} does not link to its lab"
    lab = lab_of(chapter)
    assert lab.is_file(), f"no lab {lab} for {chapter}"
    lab_md = "\n".join(text(c) for c in cells(lab) if c["cell_type"] == "markdown")
    assert f"book/{name}" in lab_md, f"{lab.name} does not link to its chapter"


@pytest.mark.parametrize("lab", sorted((REPO / "labs").glob("*.ipynb")), ids=lambda p: p.name)
def test_graded_cells_are_collapsed_and_the_lab_says_how_to_grade(lab):
    nb = cells(lab)
    open_cells = [i for i, c in enumerate(nb) if c["cell_type"] == "code"
                  and parse_graded(text(c)) and "hide-input" not in tags(c)]
    assert not open_cells, f"{lab.name}: graded cells {open_cells} are not tagged hide-input"
    intro = "\n".join(text(c) for c in nb[:3] if c["cell_type"] == "markdown")
    assert "tinylm grade" in intro or "make grade" in intro, (
        f"{lab.name} does not open with how to grade it")


def markdown_text(path: Path) -> str:
    """The prose of a page: markdown cells (or the .md file) without code blocks and spans."""
    if path.suffix == ".ipynb":
        prose = "\n".join(text(c) for c in cells(path) if c["cell_type"] == "markdown")
    else:
        prose = path.read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", prose, flags=re.S)
    return re.sub(r"`[^`]*`", "", prose)


def test_no_markdown_footnotes():
    pages = sorted((REPO / "book").glob("*.md")) + sorted((REPO / "book").glob("*.ipynb")) \
        + sorted((REPO / "labs").glob("*.ipynb"))
    used = [p.name for p in pages if re.search(r"\[\^[\w-]+\]", markdown_text(p))]
    assert not used, f"markdown footnotes in {used}: their warnings are silenced (_config.yml)"


def test_footnote_check_sees_footnotes_but_not_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("A claim.[^1]\n\n[^1]: Its source.\n")
    assert re.search(r"\[\^[\w-]+\]", markdown_text(page))
    page.write_text('The class `[^"]` and\n```\n[^x]\n```\n')
    assert not re.search(r"\[\^[\w-]+\]", markdown_text(page))
