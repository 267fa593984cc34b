"""`tinylm grade PATH`: score a student's lab notebook against the canonical graded cells.

How a notebook is graded:

1. Find the lab's solution under the repository root: solutions/<lab>.ipynb, where <lab> is the
   identity `tinylm release` wrote into the notebook's metadata (`tinylm.lab`), so a renamed
   copy is graded too; a notebook without it is matched by its file name. The solution's graded
   cells (first line `# GRADED: name (N points)`) are the canonical tests.
2. Assemble the notebook to run: the student's cells, minus the student's copies of graded
   cells, plus every canonical graded cell at its place (matched by cell id, then by name;
   a deleted one goes back right after the nearest cell that precedes it in the solution).
   Editing or deleting an assert therefore gains nothing.
3. Run the cells one by one in a fresh kernel of this Python environment. Every cell has a
   time limit; a cell over the limit is interrupted and grading goes on. Errors do not stop the
   run. Output is capped inside the kernel and again here, so a cell printing 100 MB costs
   neither memory nor a huge report. Before each graded cell the kernel forgets the check
   modules (`tinylm.grading.checks` and everything under it), so the graded cell imports them
   afresh from their files: a student's cell that replaced a check, or a helper of one, in the
   shared kernel gains nothing.
4. Score each graded cell all or nothing, print a table and, as the last line,
   `SCORE <earned>/<possible>`.

Grading never trusts the student's file to be well formed: cells without ids, old nbformat
versions, odd types and syntax errors are all handled. Only problems that stop grading from
running at all (no such file, not a notebook, no solution) end with a non-zero exit code.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tinylm.grading import checks
from tinylm.grading.kernel import CellRun, GradingKernel, KernelStartError
from tinylm.grading.markers import Graded, looks_graded, parse_graded
from tinylm.grading.release import ReleaseError, read_solution

MESSAGE_LIMIT = 600  # characters of an error message kept in the results
TABLE_MESSAGE_LIMIT = 200  # ... and shown in the table

_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_VALID_LAB = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$")  # a file stem, never a path


# Runs silently before every graded cell. It drops the check modules from sys.modules, so that
# the graded cell's `from tinylm.grading.checks import ...` executes their files again instead of
# reusing module objects a student's cell may have patched. Written with as few names from the
# user namespace as possible (a student's cell may have rebound builtins such as `list`).
_CHECKS = checks.__name__
_FRESH_CHECKS = f"""
import sys as _tinylm_sys
for _tinylm_name in [*_tinylm_sys.modules]:
    if _tinylm_name == {_CHECKS!r} or _tinylm_name.startswith({_CHECKS + "."!r}):
        del _tinylm_sys.modules[_tinylm_name]
del _tinylm_sys, _tinylm_name
"""


class GradingError(Exception):
    """Grading cannot run at all (bad path, no solution, not a notebook)."""


@dataclass
class Cell:
    """The little of a notebook cell that grading needs."""

    id: str
    cell_type: str
    source: str
    graded: Graded | None = None  # set on canonical graded cells only


@dataclass
class Result:
    """The outcome of one exercise, as printed and as written to --json."""

    name: str
    points: float  # earned: all or nothing
    possible: float
    status: str  # passed / failed / error / timeout / not-run
    message: str
    cell_id: str


# -- reading notebooks ---------------------------------------------------------------------------


def read_student(path: Path) -> list[Cell]:
    """Read a student's notebook leniently: whatever the cells look like, return plain Cells."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        raise GradingError(f"{path} is not a notebook (cannot parse it as JSON: {exc})") from None
    if not isinstance(data, dict):
        raise GradingError(f"{path} is not a notebook (its JSON is not an object)")
    if isinstance(data.get("worksheets"), list):  # nbformat 3 keeps cells in worksheets
        raw_cells = [c for ws in data["worksheets"] if isinstance(ws, dict)
                     for c in ws.get("cells", []) if isinstance(c, dict)]
    elif isinstance(data.get("cells"), list):
        raw_cells = [c for c in data["cells"] if isinstance(c, dict)]
    else:
        raise GradingError(f"{path} is not a notebook (no list of cells in it)")
    return _clean_cells(raw_cells)


def _clean_cells(raw_cells: list[dict]) -> list[Cell]:
    cells, seen = [], set()
    for index, raw in enumerate(raw_cells):
        cell_type = raw.get("cell_type") if isinstance(raw.get("cell_type"), str) else "raw"
        source = raw.get("source", raw.get("input", ""))  # nbformat 3 code cells use "input"
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        if not isinstance(source, str):
            source = ""
        cell_id = raw.get("id")
        if not (isinstance(cell_id, str) and _VALID_ID.match(cell_id)) or cell_id in seen:
            # Prefix differs from the solution's generated ids so they never match by accident.
            cell_id = f"student-{index}"
        seen.add(cell_id)
        cells.append(Cell(cell_id, cell_type, source))
    return cells


def read_canonical(path: Path) -> list[Cell]:
    try:
        nb = read_solution(path)
    except ReleaseError as exc:
        raise GradingError(str(exc)) from None
    return [Cell(c.id, c.cell_type, c.source,
                 parse_graded(c.source) if c.cell_type == "code" else None) for c in nb.cells]


def lab_identity(path: Path) -> str | None:
    """The lab a notebook says it is (``metadata.tinylm.lab``), or None when it says nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        lab = data["metadata"]["tinylm"]["lab"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return lab if isinstance(lab, str) else None


def find_solution(student_path: Path, root: Path) -> Path:
    """The solution of the lab the notebook records in its metadata, else of its file name."""
    solutions = root / "solutions"
    lab = lab_identity(student_path)
    if lab is not None:
        if not _VALID_LAB.match(lab):
            raise GradingError(f"{student_path} names its lab {lab!r} in its metadata "
                               "(tinylm.lab), which is not a lab name such as '01-ngrams-lab'")
        solution = solutions / f"{lab}.ipynb"
        if solution.is_file():
            return solution
        where = f"its metadata names lab {lab!r} (tinylm.lab), but there is no {solution}"
    else:
        solution = solutions / student_path.name
        if solution.is_file():
            return solution
        where = (f"no solution notebook {solution} for {student_path.name}, and the notebook "
                 "does not record which lab it is (tinylm.lab in its metadata)")
    known = sorted(p.name for p in solutions.glob("*.ipynb"))
    hint = f"; labs that can be graded: {', '.join(known)}" if known else (
        f"; {solutions} has no notebooks (is --root the repository root?)")
    raise GradingError(where + hint)


# -- assembling the notebook to run --------------------------------------------------------------


def assemble(student: list[Cell], canonical: list[Cell]) -> list[Cell]:
    """The student's cells with every canonical graded cell restored at its place."""
    graded = [c for c in canonical if c.graded]
    by_id = {c.id: c for c in graded}
    by_name = {c.graded.name: c for c in graded}
    cells: list[Cell] = []
    placed: set[str] = set()
    for cell in student:
        own = parse_graded(cell.source) if cell.cell_type == "code" else None
        match = by_id.get(cell.id) or (by_name.get(own.name) if own else None)
        if match and match.id not in placed:
            cells.append(match)  # the student's copy, edited or not, is replaced
            placed.add(match.id)
        elif match or (cell.cell_type == "code" and looks_graded(cell.source)):
            continue  # another copy of a graded cell: ignored
        else:
            cells.append(cell)
    for position, cell in enumerate(canonical):
        if cell.graded and cell.id not in placed:
            cells.insert(_restore_position(cells, canonical, position), cell)
            placed.add(cell.id)
    return cells


def _restore_position(cells: list[Cell], canonical: list[Cell], position: int) -> int:
    """Right after the nearest cell that precedes it in the solution, else its own position."""
    index_of = {cell.id: i for i, cell in enumerate(cells)}
    for previous in reversed(canonical[:position]):
        if previous.id in index_of:
            return index_of[previous.id] + 1
    return min(position, len(cells))


# -- running and scoring -------------------------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _describe(cell: Cell) -> str:
    line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    return f"the cell starting `{_shorten(line, 40)}`"


def _exercise_name(cell: Cell) -> str:
    return cell.graded.name if cell.graded else _describe(cell)


def _problem_note(run: CellRun, cell: Cell, timeout: float) -> str | None:
    """A short note about a failed non-graded cell, shown with the next failed exercise."""
    if run.timed_out:
        return f"{_describe(cell)} timed out after {timeout:g} s"
    if run.error:
        return f"{_describe(cell)} raised {_shorten(run.error, 150)}"
    return None


def _judge(cell: Cell, run: CellRun, timeout: float, note: str | None) -> Result:
    possible = cell.graded.points
    if run.timed_out:
        status, message = "timeout", f"timed out after {timeout:g} s in exercise {cell.graded.name}"
    elif run.error is None:
        return Result(cell.graded.name, possible, possible, "passed", "", cell.id)
    else:
        status = "failed" if run.error_name == "AssertionError" else "error"
        message = run.error
    if note:
        message = f"{message} (earlier, {note})"
    return Result(cell.graded.name, 0.0, possible, status, _shorten(message, MESSAGE_LIMIT),
                  cell.id)


def _forget_checks(kernel: GradingKernel, timeout: float) -> CellRun | None:
    """Drop the check modules in the kernel; None if done, else what went wrong (the graded
    cell is then not run: it scores 0 with this as its error)."""
    reset = kernel.run(_FRESH_CHECKS, timeout, store_history=False)
    if not (reset.error or reset.timed_out or reset.kernel_lost):
        return None
    why = "it timed out" if reset.timed_out else reset.kernel_lost or reset.error
    reset.error = f"GraderError: could not reload {_CHECKS} before this exercise ({why})"
    reset.error_name, reset.timed_out = "GraderError", False
    return reset


def run_and_score(cells: list[Cell], timeout: float, cwd: Path) -> list[Result]:
    """Run the assembled cells in order; return one Result per graded cell."""
    results: list[Result] = []
    note: str | None = None  # the first problem since the last graded cell
    stopped: str | None = None  # why the kernel is gone, once it is
    with GradingKernel(cwd=cwd) as kernel:
        for cell in cells:
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if stopped:
                if cell.graded:
                    results.append(Result(cell.graded.name, 0.0, cell.graded.points,
                                          "not-run", stopped, cell.id))
                continue
            failed_reset = _forget_checks(kernel, timeout) if cell.graded else None
            run = failed_reset or kernel.run(cell.source, timeout)
            if cell.graded:
                results.append(_judge(cell, run, timeout, note))
                note = None
            else:
                note = note or _problem_note(run, cell, timeout)
            if run.kernel_lost:
                stopped = (f"not run: the kernel stopped in {_exercise_name(cell)} "
                           f"({run.kernel_lost}), so later cells could not run")
    return results


# -- reporting -----------------------------------------------------------------------------------


def totals(results: list[Result]) -> tuple[float, float]:
    return sum(r.points for r in results), sum(r.possible for r in results)


def format_table(results: list[Result]) -> str:
    rows = [("exercise", "points", "status", "message")]
    rows += [(r.name, f"{r.points:g}/{r.possible:g}", r.status,
              _shorten(" ".join(r.message.split()), TABLE_MESSAGE_LIMIT)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(f"{value:{widths[i]}}" if i < 3 else value
                       for i, value in enumerate(row)).rstrip() for row in rows]
    earned, possible = totals(results)
    return "\n".join([*lines, f"SCORE {earned:g}/{possible:g}"])


def grade(path: Path, root: Path, timeout: float = 60.0) -> tuple[Path, list[Result]]:
    """Grade one notebook; return the solution used and one Result per exercise."""
    if not path.is_file():
        raise GradingError(f"{path}: no such file")
    solution = find_solution(path, root)
    student = read_student(path)
    canonical = read_canonical(solution)
    if not any(c.graded for c in canonical):
        raise GradingError(f"{solution} has no graded cells ('# GRADED: name (N points)')")
    try:
        results = run_and_score(assemble(student, canonical), timeout, cwd=path.parent)
    except KernelStartError as exc:
        raise GradingError(f"cannot start a Python kernel: {exc}") from None
    return solution, results


def main(path: str | Path, json_out: str | Path | None = None, timeout: float = 60.0,
         root: str | Path = ".") -> int:
    """CLI entry: print the table and SCORE line; 0 once grading ran, 2 if it could not."""
    path, root = Path(path), Path(root)
    try:
        if timeout <= 0:
            raise GradingError(f"--timeout must be positive, got {timeout:g}")
        solution, results = grade(path, root, timeout)
    except GradingError as exc:
        print(f"tinylm grade: error: {exc}", file=sys.stderr)
        return 2
    earned, possible = totals(results)
    if json_out is not None:
        report = {"notebook": str(path), "solution": str(solution), "timeout": timeout,
                  "score": earned, "possible": possible,
                  "exercises": [asdict(r) for r in results]}
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Grading {path} against {solution}")
    print(format_table(results))
    return 0
