"""Release: solutions/ -> labs/ (stubs at the right indent, outputs stripped, `--check`)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylm.grading import release
from tinylm.grading.markers import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    STUB_MESSAGE,
    MarkerError,
    parse_graded,
    strip_solutions,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grading"
DEMO = "01-demo-lab.ipynb"
STUB = f'raise NotImplementedError("{STUB_MESSAGE}")'


def _solution() -> nbformat.NotebookNode:
    return release.read_solution(FIXTURE / "solutions" / DEMO)


def _cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in nb.cells}


def _notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


# -- solution regions ----------------------------------------------------------------------------


def test_region_inside_a_loop_becomes_a_stub_at_the_marker_indent():
    lab = _cells_by_id(release.release_notebook(_solution(), DEMO))
    lines = lab["ex2-code"].source.splitlines()
    solution_lines = _cells_by_id(_solution())["ex2-code"].source.splitlines()
    begin = next(i for i, ln in enumerate(solution_lines) if ln.strip() == BEGIN_SOLUTION)
    marker = solution_lines[begin]
    indent = marker[: len(marker) - len(marker.lstrip())]
    assert len(indent) == 8  # the fixture puts this region inside a for loop inside a function
    assert lines[begin] == indent + STUB
    assert lines[:begin] == solution_lines[:begin]
    assert lines[begin + 1:] == solution_lines[solution_lines.index(indent + END_SOLUTION) + 1:]


def test_every_released_code_cell_compiles_and_keeps_no_solution_line():
    solution = _cells_by_id(_solution())
    lab = release.release_notebook(_solution(), DEMO)
    for cell in lab.cells:
        if cell.cell_type != "code":
            continue
        compile(cell.source, cell.id, "exec")
        assert BEGIN_SOLUTION not in cell.source and END_SOLUTION not in cell.source
        if BEGIN_SOLUTION in solution[cell.id].source:
            assert STUB in cell.source
            assert "counts.get(word, 0)" not in cell.source  # no solution line leaks


def test_released_stub_raises_not_implemented_when_called():
    lab = _cells_by_id(release.release_notebook(_solution(), DEMO))
    namespace: dict = {}
    exec(lab["ex1-code"].source, namespace)
    with pytest.raises(NotImplementedError, match="Exercise"):
        namespace["count_words"]("a b")


def test_graded_and_markdown_cells_are_unchanged_and_ids_metadata_kept():
    solution = _solution()
    solution.cells[1].metadata["tags"] = ["keep-me"]
    lab = release.release_notebook(solution, DEMO)
    assert [c.id for c in lab.cells] == [c.id for c in solution.cells]
    assert lab.cells[1].metadata == {"tags": ["keep-me"]}
    graded = [(s, c) for s, c in zip(solution.cells, lab.cells, strict=True)
              if s.cell_type == "code" and parse_graded(s.source)]
    assert len(graded) == 3
    assert all(s.source == c.source for s, c in graded)
    for s, c in zip(solution.cells, lab.cells, strict=True):
        if s.cell_type == "markdown":
            assert s.source == c.source


def test_outputs_and_execution_counts_are_stripped():
    solution = _solution()
    for count, cell in enumerate(c for c in solution.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="secret answer\n")]
    solution.metadata["widgets"] = {"state": {}}
    text = release.render(release.release_notebook(solution, DEMO))
    assert "secret answer" not in text
    lab = nbformat.reads(text, as_version=4)
    assert all(c.outputs == [] and c.execution_count is None
               for c in lab.cells if c.cell_type == "code")
    assert "widgets" not in lab.metadata


def test_top_level_region_and_region_at_end_without_newline():
    source = f"x = 1\n{BEGIN_SOLUTION}\ny = 2\n{END_SOLUTION}"
    assert strip_solutions(source) == f"x = 1\n{STUB}"
    assert strip_solutions(source + "\nz = 3\n") == f"x = 1\n{STUB}\nz = 3\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"{BEGIN_SOLUTION}\n  {BEGIN_SOLUTION}\n  {END_SOLUTION}\n{END_SOLUTION}",
         ["line 2", "nested", "line 1"]),
        (f"a = 1\n    {BEGIN_SOLUTION}\nb = 2\n", ["line 2", "never closed"]),
        (f"a = 1\n{END_SOLUTION}\n", ["line 2", "without a matching"]),
        ("def f():\n    ## BEGIN SOLUTION\n    return 1\n", ["line 2", "malformed marker"]),
    ],
    ids=["nested", "unterminated", "end-without-begin", "misspelt"],
)
def test_bad_markers_raise_with_cell_and_line(source, expected):
    nb = _notebook("import math", source)
    with pytest.raises(MarkerError) as info:
        release.release_notebook(nb, "solutions/09-bad-lab.ipynb")
    message = str(info.value)
    assert "solutions/09-bad-lab.ipynb, cell 2" in message
    for fragment in expected:
        assert fragment in message


def test_graded_cell_with_region_or_duplicate_name_is_rejected():
    graded = f"# GRADED: sums (1 point)\n{BEGIN_SOLUTION}\nx = 1\n{END_SOLUTION}"
    with pytest.raises(MarkerError, match="contains a solution region"):
        release.release_notebook(_notebook(graded), "lab")
    twice = "# GRADED: sums (1 point)\nassert True"
    with pytest.raises(MarkerError, match="already used by cell 1"):
        release.release_notebook(_notebook(twice, twice), "lab")
    with pytest.raises(MarkerError, match="malformed graded line"):
        release.release_notebook(_notebook("# GRADED: sums (one point)\nassert True"), "lab")


@pytest.mark.parametrize(
    ("line", "name", "points"),
    [("# GRADED: counting (2 points)", "counting", 2.0),
     ("# GRADED: one step (1 point)", "one step", 1.0),
     ("#GRADED:  half  (0.5 points)  ", "half", 0.5)],
)
def test_parse_graded(line, name, points):
    graded = parse_graded(line + "\nassert True")
    assert (graded.name, graded.points) == (name, points)


def test_graded_line_must_be_first():
    assert parse_graded("x = 1\n# GRADED: counting (2 points)") is None


_code_line = st.text(alphabet="abcxyz =+()0123456789", min_size=1, max_size=20).filter(
    lambda s: s.strip())


@given(before=st.lists(_code_line, max_size=4), body=st.lists(_code_line, max_size=4),
       after=st.lists(_code_line, max_size=4), indent=st.sampled_from(["", "  ", "    ", "\t"]))
def test_strip_keeps_everything_outside_the_region(before, body, after, indent):
    lines = [*before, indent + BEGIN_SOLUTION, *[indent + b for b in body],
             indent + END_SOLUTION, *after]
    out = strip_solutions("\n".join(lines) + "\n").splitlines()
    assert out == [*before, indent + STUB, *after]


# -- files and --check ---------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the fixture tree: solutions/ and its committed release in labs/."""
    shutil.copytree(FIXTURE, tmp_path / "repo")
    return tmp_path / "repo"


def test_committed_fixture_labs_equal_a_fresh_release():
    assert release.main(root=FIXTURE, check=True) == 0


def test_check_passes_on_fresh_and_fails_after_a_manual_edit(repo, capsys):
    assert release.main(root=repo, check=True) == 0
    lab = repo / "labs" / DEMO
    lab.write_text(lab.read_text().replace("Exercise 1", "Exercise one"))
    assert release.main(root=repo, check=True) == 1
    assert f"stale   labs/{DEMO}" in capsys.readouterr().out


def test_check_reports_missing_and_extra_labs(repo, capsys):
    (repo / "labs" / DEMO).rename(repo / "labs" / "02-orphan-lab.ipynb")
    assert release.main(root=repo, check=True) == 1
    out = capsys.readouterr().out
    assert f"missing labs/{DEMO}" in out
    assert "extra   labs/02-orphan-lab.ipynb" in out


def test_release_is_idempotent_and_repairs_labs(repo):
    lab = repo / "labs" / DEMO
    committed = lab.read_bytes()
    lab.unlink()
    assert release.main(root=repo) == 0
    first = lab.read_bytes()
    assert first == committed
    assert release.main(root=repo) == 0
    assert lab.read_bytes() == first
    assert first.endswith(b"}\n") and not first.endswith(b"\n\n")


def test_release_reports_the_broken_solution(repo, capsys):
    path = repo / "solutions" / DEMO
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source += f"\n{BEGIN_SOLUTION}\n"
    nbformat.write(nb, path)
    assert release.main(root=repo) == 2
    err = capsys.readouterr().err
    assert f"solutions/{DEMO}, cell 4 (id ex1-code)" in err
    assert "never closed" in err and "Traceback" not in err


def test_solution_without_ids_gets_stable_ids(repo):
    path = repo / "solutions" / DEMO
    data = nbformat.read(path, as_version=4)
    data.nbformat_minor = 4
    for cell in data.cells:
        del cell["id"]
    path.write_text(nbformat.writes(data, version=nbformat.NO_CONVERT, capture_validation_error={}))
    assert '"id"' not in path.read_text()
    ids = [c.id for c in release.read_solution(path).cells]
    assert len(set(ids)) == len(ids)
    assert ids == [c.id for c in release.read_solution(path).cells]
    assert release.main(root=repo) == 0
    assert release.main(root=repo, check=True) == 0
    assert [c.id for c in nbformat.read(repo / "labs" / DEMO, as_version=4).cells] == ids


def test_labs_never_edited_by_hand_in_this_repository():
    """The real labs/ must equal a fresh release of the real solutions/."""
    if not list((REPO / "solutions").glob("*.ipynb")):
        pytest.skip("solutions/ has no notebooks yet")
    result = release.plan(REPO)
    problems = [f"{kind}: {p}" for kind, paths in
                (("stale", result.stale), ("missing", result.missing), ("extra", result.extra))
                for p in paths]
    assert result.in_sync, "run `tinylm release`; " + ", ".join(problems)


def test_release_leaves_the_solution_untouched():
    solution = _solution()
    before = copy.deepcopy(solution)
    release.release_notebook(solution, DEMO)
    assert solution == before


def test_release_records_the_labs_identity_and_keeps_other_metadata():
    solution = _solution()
    solution.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    lab = release.release_notebook(solution, DEMO, lab_id="01-demo-lab")
    assert lab.metadata["tinylm"] == {"lab": "01-demo-lab"}
    assert lab.metadata["kernelspec"]["name"] == "python3"
    assert "tinylm" not in release.release_notebook(solution, DEMO).metadata
