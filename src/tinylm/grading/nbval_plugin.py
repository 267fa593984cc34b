"""pytest plugin: points and a score table for graded cells when nbval runs notebooks.

Load it next to nbval::

    pytest --nbval --nbval-current-env -p tinylm.grading.nbval_plugin solutions/ labs/

For each nbval cell item whose first line is `# GRADED: name (N points)` it

- records `graded` (the name) and `points` in `user_properties`, plus `earned` once the cell
  ran, so they reach `--junitxml`;
- prints an "autograder" section at the end: one line per graded cell and `SCORE x/y` per
  notebook.

Notebooks under a `labs/` directory are the unsolved student copies. There (unless
`--grade-mode=grade`) a cell failing with NotImplementedError is the expected state and is
reported as xfail, while a graded cell that passes is a failure: a test that passes without a
solution cannot tell a right answer from none. Any other error fails as usual.

Failure reports are stripped of ANSI colour codes so logs and junit files stay readable.

With `--notebook-times PATH` it also writes how long each notebook took (the setup, call and
teardown of all its cells, the kernel's start included) as JSON: `tests/test_budget.py` holds
every lab solution to its time budget with it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tinylm.grading.markers import parse_graded

UNSOLVED_REASON = "unsolved exercise (NotImplementedError)"
PASSES_UNSOLVED = (
    "graded cell passes on an unsolved lab: it cannot fail, so it does not test the exercise"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# notebook -> list of (name, earned, possible, outcome); filled from reports so it also works
# on the controller process under pytest-xdist.
_results: dict[str, list[tuple[str, float, float, str]]] = defaultdict(list)
_seconds: dict[str, float] = defaultdict(float)  # notebook -> seconds spent on its cells


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--grade-mode", choices=["ci", "grade"], default="ci",
        help="ci (default): in labs/, NotImplementedError is xfail and a passing graded cell "
             "fails; grade: every notebook is judged like a student's submission",
    )
    parser.addoption(
        "--notebook-times", metavar="PATH", default=None,
        help="write {notebook: seconds} as JSON to PATH at the end of the run",
    )


def _cell_source(item: pytest.Item) -> str | None:
    cell = getattr(item, "cell", None)  # nbval's IPyNbCell keeps its nbformat cell here
    source = getattr(cell, "source", None) if cell is not None else None
    return source if isinstance(source, str) else None


def _in_labs(item: pytest.Item) -> bool:
    return "labs" in item.path.parts


def _error_name(item: pytest.Item) -> str | None:
    """The exception type the cell raised, from the outputs nbval collected."""
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "error":
            return out.get("ename")
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        graded = parse_graded(_cell_source(item) or "")
        if graded:
            item.user_properties.append(("graded", graded.name))
            item.user_properties.append(("points", graded.points))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    source = _cell_source(item)
    if source is None or report.when != "call":
        return
    graded = parse_graded(source)
    if _in_labs(item) and item.config.getoption("--grade-mode") == "ci":
        if report.failed and _error_name(item) == "NotImplementedError":
            report.outcome = "skipped"
            report.wasxfail = UNSOLVED_REASON
        elif report.passed and graded:
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid}: {PASSES_UNSOLVED} ({graded.name})"
    if report.failed and isinstance(report.longrepr, str):
        report.longrepr = _ANSI.sub("", report.longrepr)
    if graded:
        earned = graded.points if report.passed else 0.0
        item.user_properties.append(("earned", earned))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid.split("::", 1)[0]] += report.duration
    props = dict(report.user_properties)
    if "points" not in props:
        return
    # The call report decides; a setup failure or skip means the cell never ran.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome
        earned = props["points"] if report.passed else 0.0
        notebook = report.nodeid.split("::", 1)[0]
        _results[notebook].append((props["graded"], earned, props["points"], outcome))


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--notebook-times")
    if path is None or hasattr(session.config, "workerinput"):  # the xdist controller writes
        return
    times = {nb: round(s, 2) for nb, s in sorted(_seconds.items()) if nb.endswith(".ipynb")}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(times, indent=2) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter) -> None:
    if not _results:
        return
    tr = terminalreporter
    tr.section("autograder")
    for notebook, rows in _results.items():
        tr.write_line(notebook)
        width = max(len(name) for name, *_ in rows)
        for name, earned, possible, outcome in rows:
            tr.write_line(f"  {outcome.upper():8s}{name:{width}s}  {earned:g}/{possible:g}")
        got, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
        tr.write_line(f"  SCORE {got:g}/{total:g}")
