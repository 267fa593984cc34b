"""tests/stages.py: make test's stage runner and its closing table of wall times."""

from __future__ import annotations

import stages


def test_table_lists_every_stage_its_result_and_the_total():
    text = stages.table([("lint", 0, 4.2), ("unit", 2, 125.0), ("browser", 0, 61.5)])
    lines = text.splitlines()
    assert lines[0].split() == ["stage", "result", "wall", "time"]
    assert lines[1].split() == ["lint", "ok", "0:04.2"]
    assert lines[2].split() == ["unit", "FAILED", "2:05.0"]
    assert lines[3].split() == ["browser", "ok", "1:01.5"]
    assert lines[4].split() == ["total", "3:10.7"]


def test_every_stage_runs_and_a_failure_sets_the_exit_code(monkeypatch, capsys):
    ran = []

    def fake_stage(target):
        ran.append(target)
        return (1 if target == "unit" else 0), 1.0

    monkeypatch.setattr(stages, "run_stage", fake_stage)
    assert stages.main(["lint", "unit", "browser"]) == 1
    assert ran == ["lint", "unit", "browser"], "a failed stage does not stop the later ones"
    out = capsys.readouterr().out
    assert "FAILED: unit" in out and "make test: stages" in out
    monkeypatch.setattr(stages, "run_stage", lambda target: (0, 1.0))
    assert stages.main(["lint"]) == 0


def test_stages_of_make_test_are_makefile_targets():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if ln.startswith("STAGES :="))
    for stage in line.split(":=")[1].split():
        assert f"\n{stage}:" in makefile, f"stage {stage} has no Makefile target"
