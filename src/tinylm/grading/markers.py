"""The two hand-written conventions of a lab: solution regions and graded cells.

A solution region is a block of lines in a code cell between two marker lines (nbgrader's)::

    def count(tokens):
        ### BEGIN SOLUTION
        return Counter(tokens)
        ### END SOLUTION

Release replaces the whole block, markers included, with one `raise NotImplementedError(...)`
at the indentation of the BEGIN marker, so the stub is valid Python wherever the region was.

A graded cell is a code cell whose first line names the exercise and its points::

    # GRADED: counting (2 points)

Both parsers here are pure functions on strings, so release, the grader and the nbval plugin
agree on what a marker is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB_MESSAGE = "Exercise: replace this line with your code"

# Anything that looks like an attempt at a marker; used to reject near misses such as
# "## BEGIN SOLUTION" that would otherwise leak a solution into the student's copy.
_MARKER_LIKE = re.compile(r"^\s*#+\s*(BEGIN|END)\s+SOLUTION\b")

_GRADED_LIKE = re.compile(r"^\s*#\s*GRADED\b")
_GRADED = re.compile(
    r"^#\s*GRADED:\s*(?P<name>\S(?:.*?\S)?)\s*"
    r"\(\s*(?P<points>\d+(?:\.\d+)?)\s+points?\s*\)\s*$"
)


class MarkerError(ValueError):
    """A solution region or graded-cell line is malformed; the message says where and why."""


@dataclass(frozen=True)
class Graded:
    """What a graded cell's first line declares."""

    name: str
    points: float


def first_line(source: str) -> str:
    return source.split("\n", 1)[0].rstrip("\r")


def looks_graded(source: str) -> bool:
    """True if the first line tries to be a `# GRADED:` line, well-formed or not."""
    return bool(_GRADED_LIKE.match(first_line(source)))


def parse_graded(source: str) -> Graded | None:
    """Return name and points of a graded cell, or None if `source` is not one.

    Only the first line counts: a `# GRADED:` comment further down is ordinary text.
    """
    match = _GRADED.match(first_line(source).strip())
    if match is None:
        return None
    return Graded(match["name"], float(match["points"]))


def has_solution_markers(source: str) -> bool:
    return any(_MARKER_LIKE.match(line) for line in source.splitlines())


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every solution region of `source` by a `raise NotImplementedError` stub.

    `where` names the cell in error messages (e.g. "solutions/01-ngrams-lab.ipynb, cell 4").
    Raises MarkerError for nested, unterminated, unmatched or misspelt markers.
    """
    out: list[str] = []
    opened_at: int | None = None  # line number of the BEGIN marker of the open region
    indent = ""
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.strip()
        if _MARKER_LIKE.match(line) and text not in (BEGIN_SOLUTION, END_SOLUTION):
            raise MarkerError(
                f"{where}, line {number}: malformed marker {text!r}; write exactly "
                f"{BEGIN_SOLUTION!r} or {END_SOLUTION!r} on a line of its own"
            )
        if text == BEGIN_SOLUTION:
            if opened_at is not None:
                raise MarkerError(
                    f"{where}, line {number}: nested {BEGIN_SOLUTION!r}; the region opened on "
                    f"line {opened_at} is not closed yet (regions cannot nest)"
                )
            opened_at = number
            indent = line[: len(line) - len(line.lstrip())]
        elif text == END_SOLUTION:
            if opened_at is None:
                raise MarkerError(
                    f"{where}, line {number}: {END_SOLUTION!r} without a matching "
                    f"{BEGIN_SOLUTION!r} before it"
                )
            # The stub takes the END line's line ending, so a region at the very end of a
            # cell does not grow a trailing newline.
            ending = line[len(line.rstrip("\r\n")):]
            out.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE}"){ending}')
            opened_at = None
        elif opened_at is None:
            out.append(line)
    if opened_at is not None:
        raise MarkerError(
            f"{where}, line {opened_at}: {BEGIN_SOLUTION!r} is never closed; "
            f"add {END_SOLUTION!r} after the solution"
        )
    return "".join(out)
