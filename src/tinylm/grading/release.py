"""`tinylm release`: write labs/ from solutions/, or check that labs/ is up to date.

solutions/NN-topic-lab.ipynb is the master. Its lab copy is the same notebook with every
solution region replaced by a `raise NotImplementedError(...)` stub and every output removed.
Cell ids and metadata are kept, because the grader matches a student's cells to the canonical
graded cells by id. The lab also records which lab it is (`metadata.tinylm.lab`, the solution's
file stem), so a copy saved under another name (JupyterLab's Duplicate, Save As) is still graded
against the right solution. The JSON is written the same way every time (nbformat's layout,
sorted keys, one trailing newline), so `--check` can compare bytes.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tinylm.grading.markers import (
    MarkerError,
    has_solution_markers,
    looks_graded,
    parse_graded,
    strip_solutions,
)

_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ReleaseError(Exception):
    """A solution notebook cannot be released; the message says which and why."""


def ensure_cell_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell a valid, unique id, in place; keep the ids it already has.

    Notebooks saved as nbformat < 4.5 have no ids. The ids given here depend only on the cell's
    position, so release and grader, reading the same solution file, agree on them.
    """
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if not (isinstance(cell_id, str) and _VALID_ID.match(cell_id)) or cell_id in seen:
            cell_id = f"cell-{index}"
            while cell_id in seen:
                cell_id += "-x"
            cell["id"] = cell_id
        seen.add(cell_id)
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 0))
    return nb


def read_solution(path: Path) -> nbformat.NotebookNode:
    """Read a solution notebook as nbformat 4.5 with ids, or raise ReleaseError."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise ReleaseError(f"{path}: cannot read notebook ({exc})") from None
    return ensure_cell_ids(nb)


def release_notebook(solution: nbformat.NotebookNode, name: str,
                     lab_id: str | None = None) -> nbformat.NotebookNode:
    """Return the student copy of `solution`; `name` labels cells in error messages.

    `lab_id` (the solution's file stem, e.g. ``01-ngrams-lab``) is recorded in the notebook's
    metadata as ``tinylm.lab``: the grader finds the solution by it, whatever the file is called.
    """
    lab = copy.deepcopy(solution)
    graded_names: dict[str, int] = {}
    for number, cell in enumerate(lab.cells, start=1):
        where = f"{name}, cell {number} (id {cell.get('id')})"
        if cell.cell_type != "code":
            continue
        if looks_graded(cell.source):
            _check_graded_cell(cell.source, where, graded_names, number)
        else:
            cell.source = strip_solutions(cell.source, where)
        # Outputs belong to whoever ran the notebook last, not to the lab.
        cell.outputs = []
        cell.execution_count = None
    lab.metadata.pop("widgets", None)  # saved widget state is output too
    if lab_id is not None:
        lab.metadata.setdefault("tinylm", {})["lab"] = lab_id
    return lab


def _check_graded_cell(source: str, where: str, seen: dict[str, int], number: int) -> None:
    graded = parse_graded(source)
    if graded is None:
        raise MarkerError(
            f"{where}, line 1: malformed graded line; write e.g. "
            "'# GRADED: counting (2 points)' as the first line"
        )
    if has_solution_markers(source):
        raise MarkerError(
            f"{where}: graded cell {graded.name!r} contains a solution region; graded cells "
            "are given to students unchanged, so put the solution in the cell above"
        )
    if graded.name in seen:
        raise MarkerError(
            f"{where}: graded cell name {graded.name!r} is already used by cell "
            f"{seen[graded.name]}; names must be unique within a lab"
        )
    seen[graded.name] = number


def render(nb: nbformat.NotebookNode) -> str:
    """Serialise deterministically: nbformat's layout (indent 1, sorted keys), final newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


@dataclass
class Plan:
    """What a fresh release would write, and how labs/ differs from it."""

    expected: dict[Path, str] = field(default_factory=dict)  # lab path -> file text
    stale: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    extra: list[Path] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def plan(root: Path) -> Plan:
    """Release every solutions/*.ipynb in memory and compare with labs/ on disk."""
    solutions, labs = root / "solutions", root / "labs"
    if not solutions.is_dir():
        raise ReleaseError(f"{solutions} is not a directory; is --root the repository root?")
    result = Plan()
    for path in sorted(solutions.glob("*.ipynb")):
        lab = release_notebook(read_solution(path), name=str(path.relative_to(root)),
                               lab_id=path.stem)
        result.expected[labs / path.name] = render(lab)
    for lab_path, text in result.expected.items():
        if not lab_path.exists():
            result.missing.append(lab_path)
        elif lab_path.read_bytes() != text.encode("utf-8"):
            result.stale.append(lab_path)
    if labs.is_dir():
        result.extra = [p for p in sorted(labs.glob("*.ipynb")) if p not in result.expected]
    return result


def release(root: Path) -> Plan:
    """Write every stale or missing lab; leave up-to-date files untouched."""
    result = plan(root)
    for lab_path in result.stale + result.missing:
        lab_path.parent.mkdir(parents=True, exist_ok=True)
        lab_path.write_text(result.expected[lab_path], encoding="utf-8", newline="\n")
    return result


def main(root: str | Path = ".", check: bool = False) -> int:
    """CLI entry: 0 if labs/ is (now) a fresh release, 1 if not, 2 if a solution is broken."""
    root = Path(root)
    try:
        result = plan(root) if check else release(root)
    except (ReleaseError, MarkerError) as exc:
        print(f"tinylm release: error: {exc}", file=sys.stderr)
        return 2
    rel = lambda p: p.relative_to(root) if p.is_relative_to(root) else p
    if check:
        if result.in_sync:
            print(f"labs/ is up to date ({len(result.expected)} notebooks)")
            return 0
        print("labs/ differs from a fresh release of solutions/:")
        for kind, paths in (("stale", result.stale), ("missing", result.missing),
                            ("extra", result.extra)):
            for path in paths:
                print(f"  {kind:8s}{rel(path)}")
        print("run `tinylm release` to regenerate labs/ (extra labs need a solution or removal)")
        return 1
    for path in result.stale + result.missing:
        print(f"wrote {rel(path)}")
    if not (result.stale or result.missing):
        print(f"labs/ is up to date ({len(result.expected)} notebooks)")
    for path in result.extra:
        # Never delete: a file without a master may be someone's work. Say so instead.
        print(f"extra lab without a solution: {rel(path)} (add solutions/{path.name} or delete it)")
    return 1 if result.extra else 0
