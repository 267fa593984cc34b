"""Time budgets: every chapter executes in at most 90 s, every lab solution in at most 60 s.

Eleven chapters and their labs must keep `make test` under 30 minutes on 2 cores, so each
notebook has a budget, checked here against the times the last run recorded:

- the book build writes `_build/execution-times.json` (tinylm.book.execution_times: myst-nb's
  own timing of each notebook; a page served from jupyter-cache keeps the time of the run that
  filled the cache);
- `make notebooks` writes `_build/nbval-times.json` (tinylm.grading.nbval_plugin's
  `--notebook-times`: every cell of a notebook, its kernel's start included).

`make test` runs these tests last (`make budget`); they fail, naming every notebook over its
budget, when a chapter or lab grows too slow. BOOK_BUILD points at another build folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _chromium import toc_chapters

pytestmark = pytest.mark.budget

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("BOOK_BUILD", REPO / "_build"))
CHAPTER_SECONDS = 90
SOLUTION_SECONDS = 60


def _read(name: str, how: str) -> dict[str, float]:
    path = BUILD / name
    if not path.is_file():
        pytest.fail(f"No {path}: run `{how}` first (make test runs it before the budget).")
    return json.loads(path.read_text())


def _over(times: dict[str, float], budget: float) -> list[str]:
    return [f"{name}: {seconds:.0f} s (budget {budget} s)"
            for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]) if seconds > budget]


def test_every_chapter_executes_within_its_budget():
    recorded = _read("execution-times.json", "make book")
    chapters = toc_chapters()
    assert chapters, "_toc.yml lists no chapter notebooks"
    missing = [c for c in chapters if c not in recorded]
    assert not missing, f"the book build recorded no execution time for {missing}"
    over = _over({c: recorded[c]["seconds"] for c in chapters}, CHAPTER_SECONDS)
    assert not over, "chapters over their time budget:\n  " + "\n  ".join(over)


def test_every_lab_solution_runs_within_its_budget():
    recorded = _read("nbval-times.json", "make notebooks")
    solutions = sorted(f"solutions/{p.name}" for p in (REPO / "solutions").glob("*.ipynb"))
    assert solutions, "no lab solutions found"
    missing = [s for s in solutions if s not in recorded]
    assert not missing, f"nbval recorded no time for {missing}"
    over = _over({s: recorded[s] for s in solutions}, SOLUTION_SECONDS)
    assert not over, "lab solutions over their time budget:\n  " + "\n  ".join(over)


def test_book_notebooks_execute_once():
    """The -W book build already fails on a cell error; nbval does not run them a second time."""
    recorded = _read("nbval-times.json", "make notebooks")
    twice = [name for name in recorded if name.startswith("book/")]
    assert not twice, f"nbval executed book chapters the build already executes: {twice}"
