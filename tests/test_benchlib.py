"""The bench runner (bench/benchlib.py, bench/run.py) and the results renderer
(tinylm.book.benchmarks), on a toy benchmark and on the committed results: no real benchmark
runs here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tinylm.book import benchmarks
from tinylm.book.benchmarks import REQUIRED, format_cell, render_markdown, results_markdown

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is not a package: its scripts import benchlib from there

import benchlib  # noqa: E402

COMMITTED = sorted((BENCH / "results").glob("*.json"))


def load_run_py():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toy_options(parser):
    parser.add_argument("--size", type=int, default=1000)


@benchlib.benchmark(
    "toy", title="A toy benchmark", chapter=7, options=toy_options, repeats=4,
    columns=[("impl", "implementation", "text"), ("n", "items", "int"),
             ("rate", "items/s", "rate"), ("ok", "same output", "yesno")],
    tables={"ratios": ("Ratios:", [("impl", "implementation", "text"),
                                   ("speedup", "speed-up", "ratio")])},
)
def toy(args):
    """Counts to `--size`, *quickly*."""
    n = 10 if args.quick else args.size
    rows = [{"impl": "ours", "n": n, "rate": 2.5e6, "ok": True, "repeats": args.repeats},
            {"impl": "theirs", "n": n, "rate": 1234.5, "ok": False, "repeats": args.repeats}]
    return benchlib.Rows(rows, notes=[f"Counted to {n:,}."], facts={"size": n},
                         tables={"ratios": [{"impl": "ours", "speedup": 2.5e6 / 1234.5}]})


@benchlib.benchmark("toy_failing", title="Fails", chapter=7,
                    columns=[("impl", "implementation", "text")])
def toy_failing(args):
    """Always fails."""
    return benchlib.Rows([{"impl": "ours"}], failed="token ids differ: batch 1")


@benchlib.benchmark("toy_plain", title="Plain rows", chapter=7,
                    columns=[("impl", "implementation", "text"), ("s", "time", "seconds")])
def toy_plain(args):
    """Returns a bare list of rows."""
    return [{"impl": "ours", "s": 0.0123}]


def table_lines(columns, rows):
    """The markdown table rows that ``rows`` must produce."""
    return ["| " + " | ".join(format_cell(row.get(c["key"]), c["format"])
                              + row.get("_marks", {}).get(c["key"], "") for c in columns) + " |"
            for row in rows]


def assert_shows_every_row(result, text):
    for table in [result, *result.get("tables", [])]:
        assert table["rows"], result["name"]
        for line in table_lines(table["columns"], table["rows"]):
            assert line in text.splitlines(), (result["name"], line)


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------


def test_quick_run_returns_every_key_prints_the_table_and_saves_nothing(tmp_path, capsys):
    result = benchlib.run_benchmark(benchlib.BENCHMARKS["toy"], ["--quick"], results=tmp_path)
    assert set(REQUIRED) <= set(result)
    assert {"notes", "facts", "tables"} <= set(result)
    assert result["name"] == "toy" and result["chapter"] == 7 and result["quick"] is True
    assert result["description"] == "Counts to `--size`, *quickly*."
    assert result["columns"][2] == {"key": "rate", "heading": "items/s", "format": "rate"}
    assert result["rows"][0]["n"] == 10 and result["rows"][0]["repeats"] == 1  # quick: 1 repeat
    assert result["facts"] == {"size": 10}
    for key in ("cpu", "cpu_count", "platform", "python"):
        assert key in result["machine"]
    assert list(tmp_path.iterdir()) == []
    out = capsys.readouterr().out
    assert "| ours | 10 | 2.50 M | yes |" in out
    assert "| theirs | 10 | 1.2 k | **no** |" in out
    assert "| ours | 2025.11x |" in out
    assert "(quick smoke test" in out


def test_full_run_writes_json_and_markdown(tmp_path):
    result = benchlib.run_benchmark(benchlib.BENCHMARKS["toy"], ["--size", "500"],
                                    results=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.json", "toy.md"]
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert set(REQUIRED) <= set(saved) and saved["quick"] is False
    assert saved["rows"][0]["repeats"] == 4  # the benchmark's default
    assert isinstance(saved["wall_s"], float) and saved["wall_s"] >= 0
    text = (tmp_path / "toy.md").read_text()
    assert text == render_markdown(saved)
    assert text.startswith("# Chapter 7: A toy benchmark\n")
    assert "| ours | 500 | 2.50 M | yes |" in text
    assert "Counted to 500." in text
    assert_shows_every_row(saved, text)


def test_a_plain_list_of_rows_is_enough(tmp_path):
    result = benchlib.run_benchmark(benchlib.BENCHMARKS["toy_plain"], [], results=tmp_path)
    assert result["rows"] == [{"impl": "ours", "s": 0.0123}]
    assert result["notes"] == [] and result["facts"] == {} and result["tables"] == []
    assert "| ours | 0.0123 |" in (tmp_path / "toy_plain.md").read_text()


def test_failed_run_prints_the_failure_saves_nothing_and_exits(tmp_path, capsys):
    bench = benchlib.BENCHMARKS["toy_failing"]
    with pytest.raises(benchlib.BenchmarkFailed, match="token ids differ"):
        benchlib.run_benchmark(bench, [], results=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert "**This run failed:** token ids differ" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="toy_failing: token ids differ"):
        benchlib.main(bench, [])


def test_options_are_checked():
    with pytest.raises(SystemExit):
        benchlib.run_benchmark(benchlib.BENCHMARKS["toy"], ["--repeats", "0"])
    with pytest.raises(ValueError, match="unknown format 'fast'"):
        benchlib.benchmark("bad", title="Bad", chapter=1, columns=[("x", "x", "fast")])(toy)


# ---------------------------------------------------------------------------------------------
# bench/run.py
# ---------------------------------------------------------------------------------------------


def test_run_py_knows_the_benchmark_files_and_splits_names_from_options():
    run = load_run_py()
    assert {"ngram", "word2vec", "llama", "generation"} <= set(run.known())
    assert run.split_args(["ngram,llama", "word2vec", "--quick", "--repeats", "2"]) == (
        ["ngram", "llama", "word2vec"], ["--quick", "--repeats", "2"])
    assert run.split_args(["--quick"]) == ([], ["--quick"])
    assert run.select(["llama", "ngram", "llama"]) == ["llama", "ngram"]
    assert run.select([]) == run.known()


def test_run_py_rejects_unknown_names_listing_the_known_ones():
    run = load_run_py()
    with pytest.raises(SystemExit) as err:
        run.select(["ngram", "ngrams"])
    message = str(err.value)
    assert "unknown benchmark: ngrams" in message
    assert "known: " in message and "word2vec" in message


# ---------------------------------------------------------------------------------------------
# The committed results and the renderer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_results_render_with_their_rows(path):
    result = json.loads(path.read_text())
    assert benchmarks.problems(result) == []
    assert result["name"] == path.stem
    text = render_markdown(result)
    assert text.startswith(f"# Chapter {result['chapter']}: {result['title']}\n")
    assert f"Command: `{result['command']}`" in text
    assert_shows_every_row(result, text)
    for note in result["notes"]:
        assert note in text
    # the .md next to it is the rendering of the JSON
    assert path.with_suffix(".md").read_text() == text


def test_formats():
    assert format_cell(3019559.5, "rate") == "3.02 M"
    assert format_cell(255900.0, "rate") == "255.9 k"
    assert format_cell(float("inf"), "float") == "inf"
    assert format_cell(0.10991, "float") == "0.110"
    assert format_cell(9678.071, "float") == "9678.07"
    assert format_cell(3319.4, "seconds") == "3,319"
    assert format_cell(0.0127, "seconds") == "0.0127"
    assert format_cell(float("nan"), "ratio") == "n/a"
    assert format_cell(0.01747, "percent") == "1.75 %"
    assert format_cell(None, "ms") == "-"
    assert format_cell(519943, "int") == "519,943"
    assert format_cell("a | b", "text") == "a \\| b"


# ---------------------------------------------------------------------------------------------
# The book's appendix (the Sphinx side)
# ---------------------------------------------------------------------------------------------


def toy_result(name, chapter, **changes):
    result = {"name": name, "title": f"{name} title", "chapter": chapter,
              "description": f"How {name} is measured.", "command": f"python bench/{name}.py",
              "quick": False, "machine": {"cpu": "CPU", "cpu_count": 2, "platform": "Linux",
                                          "python": "3.11"},
              "load_average_1min_at_start": 0.5, "load_average_1min_at_end": 0.7, "wall_s": 3.0,
              "columns": [{"key": "x", "heading": "x", "format": "float"}],
              "rows": [{"x": chapter + 0.5}], "notes": [f"{name} note."]}
    return result | changes


def write(folder, name, result):
    (folder / f"{name}.json").write_text(json.dumps(result))


def test_appendix_sections_are_ordered_by_chapter_then_name(tmp_path):
    write(tmp_path, "zeta", toy_result("zeta", 1))
    write(tmp_path, "alpha", toy_result("alpha", 3))
    write(tmp_path, "beta", toy_result("beta", 1))
    text, errors = results_markdown(tmp_path)
    assert errors == []
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["## Chapter 1: beta title", "## Chapter 1: zeta title",
                        "## Chapter 3: alpha title"]
    assert "| 3.50 |" in text and "alpha note." in text


def test_appendix_reports_malformed_files_by_name_and_key(tmp_path):
    write(tmp_path, "good", toy_result("good", 1))
    broken = toy_result("broken", 2)
    del broken["rows"]
    write(tmp_path, "broken", broken)
    write(tmp_path, "odd", toy_result("odd", 2, columns=[{"key": "x", "heading": "x",
                                                          "format": "fast"}]))
    (tmp_path / "garbled.json").write_text("{not json")
    text, errors = results_markdown(tmp_path)
    assert "## Chapter 1: good title" in text and "broken" not in text
    assert len(errors) == 3
    assert any("broken.json" in e and "missing key 'rows'" in e for e in errors)
    assert any("odd.json" in e and "unknown format 'fast'" in e for e in errors)
    assert any("garbled.json" in e and "not a readable JSON file" in e for e in errors)


def fake_app(srcdir, dependencies):
    config = SimpleNamespace(tinylm_benchmarks_page="book/appendix-benchmarks",
                             tinylm_benchmarks_results="bench/results")
    env = SimpleNamespace(note_dependency=dependencies.append)
    return SimpleNamespace(config=config, env=env, srcdir=str(srcdir))


def test_source_read_replaces_the_marker_of_the_appendix_page(tmp_path, monkeypatch):
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    write(results, "one", toy_result("one", 1))
    broken = toy_result("two", 2)
    del broken["title"]
    write(results, "two", broken)
    warnings = []
    monkeypatch.setattr("sphinx.util.logging.SphinxLoggerAdapter.warning",
                        lambda self, msg, *a, **kw: warnings.append(msg))
    deps = []
    app = fake_app(tmp_path, deps)

    page = (ROOT / "book" / "appendix-benchmarks.md").read_text()
    assert benchmarks.MARKER in page.splitlines()
    source = [page]
    benchmarks._on_source_read(app, "book/appendix-benchmarks", source)
    assert benchmarks.MARKER not in source[0]
    assert source[0].startswith("# Benchmarks\n")
    assert "## Chapter 1: one title" in source[0]
    assert sorted(Path(d).name for d in deps) == ["one.json", "two.json"]
    assert len(warnings) == 1 and "two.json" in warnings[0] and "'title'" in warnings[0]

    other = ["# Another page\n% BENCHMARK RESULTS\n"]
    benchmarks._on_source_read(app, "book/intro", other)
    assert other == ["# Another page\n% BENCHMARK RESULTS\n"]


def test_the_appendix_page_reads_the_committed_results():
    page = (ROOT / "book" / "appendix-benchmarks.md").read_text()
    assert "{include}" not in page
    text, errors = results_markdown(BENCH / "results")
    assert errors == []
    chapters = [int(line.split()[2].rstrip(":")) for line in text.splitlines()
                if line.startswith("## Chapter ")]
    assert chapters == sorted(chapters) and len(chapters) == len(COMMITTED)
