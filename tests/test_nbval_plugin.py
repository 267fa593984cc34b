"""The nbval plugin: points in junit properties, a SCORE per notebook, the labs/ rules.

Each test runs pytest in a subprocess, as CI does, over a copy of the fixture lab.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from tinylm.grading.markers import parse_graded
from tinylm.grading.nbval_plugin import PASSES_UNSOLVED

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grading"
DEMO = "01-demo-lab.ipynb"


def _points() -> dict[str, float]:
    nb = nbformat.read(FIXTURE / "solutions" / DEMO, as_version=4)
    found = [parse_graded(c.source) for c in nb.cells if c.cell_type == "code"]
    return {g.name: g.points for g in found if g}


POINTS = _points()
TOTAL = sum(POINTS.values())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """solutions/ and labs/ in a directory of their own, with an empty pytest config."""
    shutil.copytree(FIXTURE, tmp_path / "course")
    (tmp_path / "course" / "pytest.ini").write_text("[pytest]\n")
    return tmp_path / "course"


def _pytest(tree: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--color=no",
               "--nbval", "--nbval-current-env", "-p", "tinylm.grading.nbval_plugin",
               "-rfEx", *args]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=300)


def _autograder_section(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if " autograder " in line)
    return lines[start + 1:]


def test_solutions_pass_with_full_score_and_junit_properties(tree):
    run = _pytest(tree, "solutions", "--junitxml", "junit.xml")
    assert run.returncode == 0, run.stdout + run.stderr
    section = _autograder_section(run.stdout)
    assert f"  SCORE {TOTAL:g}/{TOTAL:g}" in section
    for name, points in POINTS.items():
        assert any(line.split() == ["PASSED", name, f"{points:g}/{points:g}"] for line in section)
    cases = ET.parse(tree / "junit.xml").getroot().iter("testcase")
    graded = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    graded = [props for props in graded if "graded" in props]
    assert [(p["graded"], float(p["points"]), float(p["earned"])) for p in graded] == [
        (name, points, points) for name, points in POINTS.items()]


def test_unsolved_lab_graded_cells_are_xfail(tree):
    run = _pytest(tree, "labs")
    assert run.returncode == 0, run.stdout + run.stderr
    section = _autograder_section(run.stdout)
    assert f"  SCORE 0/{TOTAL:g}" in section
    for name, points in POINTS.items():
        assert any(line.split() == ["XFAIL", name, f"0/{points:g}"] for line in section)
    assert " failed" not in run.stdout


def test_grade_mode_turns_unsolved_stubs_into_failures(tree):
    run = _pytest(tree, "labs", "--grade-mode=grade")
    assert run.returncode == 1
    section = _autograder_section(run.stdout)
    for name, points in POINTS.items():
        assert any(line.split() == ["FAILED", name, f"0/{points:g}"] for line in section)
    assert "NotImplementedError" in run.stdout
    assert "\x1b[" not in run.stdout


def test_doctored_lab_fails_when_a_graded_cell_cannot_fail(tree):
    path = tree / "labs" / DEMO
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.id == "ex2-graded":  # passes whatever the student writes
            cell.source = "# GRADED: bigrams (1 point)\nprint('bigrams: OK (1/1 points)')"
        if cell.id == "ex3-graded":  # fails, but not because the exercise is unsolved
            cell.source = "# GRADED: normalising (1.5 points)\nundefined_helper()"
    nbformat.write(nb, path)
    run = _pytest(tree, "labs")
    assert run.returncode == 1
    failures = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 2, run.stdout
    assert PASSES_UNSOLVED in run.stdout
    assert "NameError" in run.stdout
    section = _autograder_section(run.stdout)
    assert any(line.split()[:2] == ["XFAIL", "counting"] for line in section)


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadfile"]],
                         ids=["serial", "xdist"])
def test_notebook_times_are_written(tree, workers):
    run = _pytest(tree, "solutions", "labs", "--notebook-times", "out/times.json", *workers)
    assert run.returncode == 0, run.stdout + run.stderr
    times = json.loads((tree / "out" / "times.json").read_text())
    assert set(times) == {f"solutions/{DEMO}", f"labs/{DEMO}"}
    # a kernel starts for each notebook, so no notebook takes no time
    assert all(isinstance(s, float) and s > 0.1 for s in times.values()), times
