"""`tinylm doctor` prints one honest line per dependency and fails when one is missing."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

from tinylm import doctor

NAMES = ["python", *(name for name, _ in doctor.PACKAGES), "node", "npm", "node_modules",
         "chromium"]
LINE = re.compile(r"^(OK   \S+ +\S.*|FAIL \S+ +\(.+\))$")


def run(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = doctor.main()
    return code, capsys.readouterr().out.splitlines()


def line_for(lines: list[str], name: str) -> str:
    found = [line for line in lines if line[5:].split(" ")[0] == name]
    assert len(found) == 1, f"expected one line for {name}, got {found}"
    return found[0]


def test_one_line_per_dependency_and_a_platform_line(capsys):
    code, lines = run(capsys)
    for name in NAMES:
        assert LINE.match(line_for(lines, name)), line_for(lines, name)
    assert line_for(lines, "python").startswith("OK   python")  # we are running on it
    assert line_for(lines, "numpy").startswith("OK   numpy")    # tinylm imports it
    assert any(line.startswith("platform: ") for line in lines), lines
    required_failures = [line for line in lines
                         if line.startswith("FAIL") and "optional" not in line]
    assert code == (1 if required_failures else 0), lines


def test_a_missing_package_is_reported_and_fails(capsys, monkeypatch):
    real_version = metadata.version

    def version(distribution: str) -> str:
        if distribution == "nltk":
            raise metadata.PackageNotFoundError(distribution)
        return real_version(distribution)

    monkeypatch.setattr(doctor.metadata, "version", version)
    code, lines = run(capsys)
    assert line_for(lines, "nltk") == "FAIL nltk           (not installed: run `make setup`)"
    assert code == 1
    assert "required check(s) failed" in lines[-1] and "nltk" in lines[-1], lines[-1]


def test_an_unknown_package_is_reported(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "PACKAGES", [*doctor.PACKAGES, ("no-such", "tinylm-no-such-pkg")])
    code, lines = run(capsys)
    assert line_for(lines, "no-such").startswith("FAIL no-such")
    assert code == 1


def test_a_too_old_version_fails(monkeypatch):
    monkeypatch.setattr(doctor.metadata, "version", lambda distribution: "1.0")
    check = doctor.check_package("numpy", "numpy", {"numpy": "1.26"})
    assert not check.ok
    assert check.line() == ("FAIL numpy          (1.0 installed, tinylm needs >= 1.26: "
                            "run `make setup`)")


def test_version_parsing():
    assert doctor._version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert doctor._version_tuple("1.0.4.post1") == (1, 0, 4)
    assert doctor._version_tuple("3.10.4") > doctor._version_tuple("3.9")


def test_missing_chromium_is_optional(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "CHROMIUM", Path("/nonexistent/chromium"))
    check = doctor.check_chromium()
    assert not check.ok and check.optional
    assert "needed only for the browser tests" in check.line()
    code, lines = run(capsys)
    assert line_for(lines, "chromium").startswith("FAIL chromium")
    required_failures = [line for line in lines
                         if line.startswith("FAIL") and "optional" not in line]
    assert code == (1 if required_failures else 0)


def test_missing_node_modules_says_what_to_run(tmp_path, monkeypatch):
    (tmp_path / "package.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    check = doctor.check_node_modules()
    assert not check.ok and not check.optional
    assert "npm ci" in check.detail
