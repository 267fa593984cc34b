"""The grader: canonical graded cells restored, per-cell timeouts, robustness, the CLI contract.

Each test that runs a kernel grades the small fixture lab in tests/fixtures/grading (three
exercises, standard library only), so a run costs about two seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from tinylm.cli import main as cli
from tinylm.grading import grade
from tinylm.grading.kernel import KERNEL_OUTPUT_LIMIT, OUTPUT_LIMIT, GradingKernel
from tinylm.grading.markers import parse_graded

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grading"
DEMO = "01-demo-lab.ipynb"
SOLUTION = FIXTURE / "solutions" / DEMO
LAB = FIXTURE / "labs" / DEMO


def _graded_points() -> dict[str, float]:
    """Name -> points of every graded cell, read from the solution itself."""
    nb = nbformat.read(SOLUTION, as_version=4)
    found = [parse_graded(c.source) for c in nb.cells if c.cell_type == "code"]
    return {g.name: g.points for g in found if g}


POINTS = _graded_points()
TOTAL = sum(POINTS.values())


def _student(tmp_path: Path, edits: dict[str, str] | None = None,
             delete: tuple[str, ...] = (), base: Path = SOLUTION) -> Path:
    """A student's copy of `base` with some cells (by id) rewritten or deleted."""
    nb = nbformat.read(base, as_version=4)
    nb.cells = [c for c in nb.cells if c.id not in delete]
    for cell in nb.cells:
        if edits and cell.id in edits:
            cell.source = edits[cell.id]
    path = tmp_path / DEMO
    nbformat.write(nb, path)
    return path


def _grade(path: Path, timeout: float = 30) -> dict[str, grade.Result]:
    _, results = grade.grade(path, FIXTURE, timeout=timeout)
    assert [r.name for r in results] == list(POINTS), "one result per graded cell, in order"
    return {r.name: r for r in results}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(["grade", *args, "--root", str(FIXTURE)])
    out, err = capsys.readouterr()
    return code, out, err


# -- assembling the notebook to run (no kernel) --------------------------------------------------


def _ids(cells: list[grade.Cell]) -> list[str]:
    return [c.id for c in cells]


def _canonical() -> list[grade.Cell]:
    return grade.read_canonical(SOLUTION)


def test_deleted_graded_cell_goes_back_after_its_preceding_cell(tmp_path):
    student = grade.read_student(_student(tmp_path, delete=("ex2-graded",)))
    cells = grade.assemble(student, _canonical())
    assert _ids(cells) == _ids(_canonical())


def test_deleted_graded_cell_follows_a_moved_preceding_cell(tmp_path):
    student = grade.read_student(_student(tmp_path, delete=("ex1-graded",)))
    code = next(c for c in student if c.id == "ex1-code")
    student.remove(code)
    student.append(code)  # the student moved the solution cell to the end
    ids = _ids(grade.assemble(student, _canonical()))
    assert ids[-2:] == ["ex1-code", "ex1-graded"]


def test_edited_graded_cell_is_replaced_by_the_canonical_one(tmp_path):
    path = _student(tmp_path, {"ex1-graded": "# GRADED: counting (200 points)\nprint('fine')"})
    cells = grade.assemble(grade.read_student(path), _canonical())
    canonical = {c.id: c for c in _canonical()}
    restored = next(c for c in cells if c.id == "ex1-graded")
    assert restored.source == canonical["ex1-graded"].source
    assert sum(1 for c in cells if c.graded) == len(POINTS)


def test_extra_student_copies_of_graded_cells_are_dropped(tmp_path):
    copy_of_test = "# GRADED: bigrams (1 point)\nprint('bigrams: OK')"
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(copy_of_test))
    nbformat.write(nb, tmp_path / DEMO)
    cells = grade.assemble(grade.read_student(tmp_path / DEMO), _canonical())
    assert _ids(cells) == _ids(_canonical())


def test_notebook_without_ids_is_matched_by_graded_name(tmp_path):
    nb = json.loads(LAB.read_text())
    nb["nbformat_minor"] = 2
    for cell in nb["cells"]:
        cell.pop("id")
    (tmp_path / DEMO).write_text(json.dumps(nb))
    cells = grade.assemble(grade.read_student(tmp_path / DEMO), _canonical())
    assert [c.graded.name for c in cells if c.graded] == list(POINTS)
    assert len(cells) == len(_canonical())


# -- grading runs --------------------------------------------------------------------------------


def test_solution_scores_full_marks_and_cli_prints_score_last(capsys, tmp_path):
    out_json = tmp_path / "result.json"
    code, out, _ = _cli(capsys, str(SOLUTION), "--json", str(out_json))
    assert code == 0
    assert out.splitlines()[-1] == f"SCORE {TOTAL:g}/{TOTAL:g}"
    report = json.loads(out_json.read_text())
    assert report["score"] == report["possible"] == TOTAL
    assert [(e["name"], e["status"], e["points"]) for e in report["exercises"]] == [
        (name, "passed", pts) for name, pts in POINTS.items()]


def test_unsolved_lab_scores_zero_with_not_implemented(capsys, tmp_path):
    out_json = tmp_path / "result.json"
    code, out, _ = _cli(capsys, str(LAB), "--json", str(out_json))
    assert code == 0
    assert out.splitlines()[-1] == f"SCORE 0/{TOTAL:g}"
    exercises = json.loads(out_json.read_text())["exercises"]
    assert len(exercises) == len(POINTS)
    for exercise in exercises:
        assert exercise["points"] == 0 and exercise["status"] == "error"
        assert exercise["message"].startswith("NotImplementedError: Exercise")
    for name in POINTS:
        assert any(line.startswith(name) and "NotImplementedError" in line
                   for line in out.splitlines())


def test_wrong_code_with_deleted_asserts_still_fails(tmp_path):
    path = _student(tmp_path, {
        "ex1-code": "def count_words(text):\n    return {'the': 1}",
        "ex1-graded": "# GRADED: counting (2 points)\nprint('counting: OK (2/2 points)')",
    })
    results = _grade(path)
    counting = results["counting"]
    assert (counting.status, counting.points) == ("failed", 0)
    assert counting.message.startswith("AssertionError: count_words(")
    assert "expected" in counting.message and "got {'the': 1}" in counting.message
    others = [r for name, r in results.items() if name != "counting"]
    assert all(r.status == "passed" and r.points == r.possible for r in others)


def test_infinite_loop_times_out_and_later_exercises_are_graded(tmp_path):
    path = _student(tmp_path, {"ex2-code": "def bigrams(tokens):\n    while True:\n        pass"})
    start = time.monotonic()
    results = _grade(path, timeout=3)
    assert time.monotonic() - start < 30
    assert results["bigrams"].status == "timeout"
    assert results["bigrams"].message == "timed out after 3 s in exercise bigrams"
    assert results["counting"].status == "passed"
    assert results["normalising"].status == "passed"


def test_top_level_loop_is_interrupted_and_named_in_the_next_exercise(tmp_path):
    path = _student(tmp_path, {"ex2-code": "while True:\n    pass"})
    results = _grade(path, timeout=2)
    assert results["bigrams"].status == "error"
    assert "NameError" in results["bigrams"].message
    assert "`while True:` timed out after 2 s" in results["bigrams"].message
    assert results["normalising"].status == "passed"


def test_cell_ignoring_the_interrupt_stops_grading_cleanly(tmp_path):
    stubborn = ("import time\nwhile True:\n    try:\n        time.sleep(60)\n"
                "    except KeyboardInterrupt:\n        pass")
    results = _grade(_student(tmp_path, {"ex2-code": stubborn}), timeout=2)
    assert results["counting"].status == "passed"
    for name in ("bigrams", "normalising"):
        assert results[name].status == "not-run" and results[name].points == 0
        assert "ignored the interrupt" in results[name].message


def test_syntax_error_is_survived(tmp_path):
    results = _grade(_student(tmp_path, {"ex1-code": "def count_words(text:\n    return {"}))
    assert results["counting"].status == "error"
    assert "SyntaxError" in results["counting"].message
    assert results["bigrams"].status == results["normalising"].status == "passed"


def test_hundred_megabytes_of_output_is_survived(capsys, tmp_path):
    code = nbformat.read(SOLUTION, as_version=4).cells[3].source  # the solved ex1-code
    path = _student(tmp_path, {"ex1-code": code + "\nprint('x' * 100_000_000)",
                               "ex2-code": code.replace("count_words", "unused")
                               + "\n'y' * 100_000_000"})
    out_json = tmp_path / "result.json"
    start = time.monotonic()
    exit_code, out, err = _cli(capsys, str(path), "--json", str(out_json), "--timeout", "20")
    assert time.monotonic() - start < 30
    assert exit_code == 0
    assert len(out) + len(err) < 10_000 and out_json.stat().st_size < 10_000
    statuses = {e["name"]: e["status"] for e in json.loads(out_json.read_text())["exercises"]}
    assert statuses["counting"] == statuses["normalising"] == "passed"
    assert statuses["bigrams"] == "error"  # its solution cell was replaced above


def test_output_is_capped_in_the_kernel_and_in_the_grader(tmp_path):
    huge = 100_000_000
    with GradingKernel(cwd=tmp_path) as kernel:
        many_writes = f"import sys\nfor _ in range(100):\n    sys.stderr.write('z' * {huge // 100})"
        for source in (f"print('x' * {huge})", f"'y' * {huge}", many_writes):
            run = kernel.run(source, timeout=20)
            assert run.error is None and not run.timed_out, source
            # the kernel sent at most its cap (plus a short note), far from 100 MB ...
            assert 0 < run.received <= min(KERNEL_OUTPUT_LIMIT + 100, huge // 100), source
            # ... and the grader kept less still
            assert OUTPUT_LIMIT <= len(run.output) < OUTPUT_LIMIT + 100, source
        # the cap is per cell: the next cell's output arrives whole
        assert kernel.run("print('after')", timeout=20).output == "after\n"


def test_malformed_student_notebook_is_graded(tmp_path):
    nb = json.loads(SOLUTION.read_text())
    nb["nbformat_minor"] = 1
    for cell in nb["cells"]:
        cell.pop("id")
        cell.pop("metadata", None)
    nb["cells"].insert(0, {"cell_type": "mystery", "source": 42})
    nb["cells"].insert(0, {"source": ["print(", "'no type')"]})
    nb["cells"].append({"cell_type": "code", "source": ["import sys\n", "sys.stdout.write"],
                        "id": "bad id with spaces", "outputs": "not a list"})
    (tmp_path / DEMO).write_text(json.dumps(nb))
    results = _grade(tmp_path / DEMO)
    assert all(r.status == "passed" for r in results.values())


# -- grading that cannot run: clear message, exit 2, no traceback --------------------------------


def test_missing_file(capsys, tmp_path):
    code, out, err = _cli(capsys, str(tmp_path / DEMO))
    assert code == 2 and "no such file" in err and "Traceback" not in err + out


def test_not_a_notebook(capsys, tmp_path):
    (tmp_path / DEMO).write_text("print('hello')\n")
    code, _, err = _cli(capsys, str(tmp_path / DEMO))
    assert code == 2 and "is not a notebook" in err


def _without_identity(text: str) -> str:
    nb = json.loads(text)
    nb["metadata"].pop("tinylm", None)
    return json.dumps(nb)


def test_no_solution_names_the_gradable_labs(capsys, tmp_path):
    path = tmp_path / "07-unknown-lab.ipynb"
    path.write_text(_without_identity(LAB.read_text()))
    code, _, err = _cli(capsys, str(path))
    assert code == 2 and "no solution notebook" in err and DEMO in err
    assert "tinylm.lab" in err, "the message says how a notebook names its lab"


# -- the lab's identity: recorded at release, followed by the grader -----------------------------


def test_released_lab_records_its_identity():
    assert json.loads(LAB.read_text())["metadata"]["tinylm"]["lab"] == Path(DEMO).stem


def test_a_renamed_copy_is_graded_against_its_lab(capsys, tmp_path):
    # JupyterLab's Duplicate and Save As keep the metadata and change the name
    nb = json.loads(LAB.read_text())
    nb["metadata"]["tinylm"]["lab"] = Path(DEMO).stem
    for cell in nb["cells"]:  # solve the lab: the solution's cells, same ids
        cell["source"] = next(c["source"] for c in json.loads(SOLUTION.read_text())["cells"]
                              if c["id"] == cell["id"])
    copy = tmp_path / "01-demo-lab-Copy1.ipynb"
    copy.write_text(json.dumps(nb))
    code, out, err = _cli(capsys, str(copy))
    assert code == 0, err
    assert f"against {SOLUTION}" in out
    assert out.strip().endswith(f"SCORE {TOTAL:g}/{TOTAL:g}")


def test_identity_wins_over_the_file_name(tmp_path):
    other = tmp_path / "solutions" / "02-other-lab.ipynb"
    other.parent.mkdir()
    other.write_text(SOLUTION.read_text())
    path = tmp_path / "02-other-lab.ipynb"  # named like another lab, but says it is the demo
    path.write_text(LAB.read_text())
    (tmp_path / "solutions" / DEMO).write_text(SOLUTION.read_text())
    assert grade.find_solution(path, tmp_path) == tmp_path / "solutions" / DEMO


def test_identity_of_an_unknown_lab_is_a_clear_error(capsys, tmp_path):
    nb = json.loads(LAB.read_text())
    nb["metadata"]["tinylm"]["lab"] = "09-missing-lab"
    path = tmp_path / DEMO  # even a matching file name does not override what it says it is
    path.write_text(json.dumps(nb))
    code, _, err = _cli(capsys, str(path))
    assert code == 2 and "'09-missing-lab'" in err and DEMO in err and "Traceback" not in err


def test_identity_that_is_a_path_is_refused(capsys, tmp_path):
    for hostile in ("../../etc/passwd", "/tmp/x", "..", 42):
        nb = json.loads(LAB.read_text())
        nb["metadata"]["tinylm"]["lab"] = hostile
        path = tmp_path / "x.ipynb"
        path.write_text(json.dumps(nb))
        code, _, err = _cli(capsys, str(path))
        assert code == 2 and "Traceback" not in err, hostile


# -- the checks in tinylm.grading.checks cannot be patched from a student's cell -----------------

TAMPER_LAB = "01-tamper-lab.ipynb"
TAMPER_SETUP = 'from collections import Counter\n\nBOS, EOS = "<s>", "</s>"'
TAMPER_SOLUTION = """def count_ngrams(sentences, n):
    ### BEGIN SOLUTION
    if n < 1:
        raise ValueError(n)
    counts = Counter()
    for sentence in sentences:
        padded = [BOS] * (n - 1) + list(sentence) + [EOS]
        for i in range(len(padded) - n + 1):
            counts[tuple(padded[i : i + n])] += 1
    return counts
    ### END SOLUTION"""
TAMPER_GRADED = """# GRADED: counting (2 points)
from tinylm.grading.checks import ngrams as checks

checks.count_ngrams(count_ngrams)
print("counting: OK (2/2 points)")"""
WRONG_COUNTS = "def count_ngrams(sentences, n):\n    return Counter()  # wrong: counts nothing\n"
ATTACKS = {
    "the check replaced": (
        "import tinylm.grading.checks.ngrams as c\n"
        "c.count_ngrams = lambda count_ngrams: None"),
    "the checks module swapped in sys.modules": (
        "import sys, types\nimport tinylm.grading.checks as package\n"
        "fake = types.ModuleType('tinylm.grading.checks.ngrams')\n"
        "fake.count_ngrams = lambda count_ngrams: None\n"
        "sys.modules['tinylm.grading.checks.ngrams'] = package.ngrams = fake"),
    "a shared helper replaced before the check is imported": (
        # the check calls the student's function through common.call: answer for it instead
        "import tinylm.grading.checks.common as common\n"
        "from tinylm.ngram_kernels import count_ngrams_reference\n"
        "def right_answer(fn, sentences, n, **_):\n"
        "    grams = [tuple([BOS] * (n - 1) + list(s) + [EOS])[i:i + n]\n"
        "             for s in sentences for i in range(len(s) + 1)]\n"
        "    return Counter(grams)\n"
        "common.call = right_answer\n"
        "common.expect_error = lambda *args, **kwargs: None"),
}


def _tamper_lab(root: Path, student_code: str | None = None) -> Path:
    """A one-exercise lab graded by tinylm.grading.checks.ngrams: its solution under
    root/solutions, and a student's copy whose code cell is `student_code` (default: solved)."""
    cells = [nbformat.v4.new_code_cell(TAMPER_SETUP, id="setup"),
             nbformat.v4.new_code_cell(TAMPER_SOLUTION, id="ex1-code"),
             nbformat.v4.new_code_cell(TAMPER_GRADED, id="ex1-graded")]
    solution = nbformat.v4.new_notebook(cells=cells)
    (root / "solutions").mkdir(parents=True, exist_ok=True)
    nbformat.write(solution, root / "solutions" / TAMPER_LAB)
    student = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells])
    if student_code is not None:
        student.cells[1].source = student_code
    path = root / "student" / TAMPER_LAB
    path.parent.mkdir(exist_ok=True)
    nbformat.write(student, path)
    return path


def test_the_tamper_fixture_passes_when_solved(tmp_path):
    _, results = grade.grade(_tamper_lab(tmp_path), tmp_path, timeout=60)
    assert [(r.name, r.status, r.points) for r in results] == [("counting", "passed", 2.0)]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_student_who_patches_the_checks_earns_nothing(tmp_path, attack):
    # The student's cell runs in the kernel that later runs the graded cell; without the
    # grader's reload, each of these attacks makes the graded cell pass with a wrong answer.
    path = _tamper_lab(tmp_path, WRONG_COUNTS + "\n" + ATTACKS[attack])
    _, results = grade.grade(path, tmp_path, timeout=60)
    (counting,) = results
    assert (counting.status, counting.points) == ("failed", 0), counting
    assert counting.message.startswith("AssertionError: count_ngrams(TOY, 1): expected")
    assert "got {}" in counting.message
