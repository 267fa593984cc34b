"""Benchmark results as markdown, for `bench/` and for the book's benchmark appendix.

Every benchmark in `bench/` saves its run as `bench/results/NAME.json`: what was measured and how
(``description``), the command, the machine and its load, and the table itself as ``columns``
(key, heading, format) and ``rows`` (dicts), with optional extra ``tables``, ``notes`` (markdown
sentences) and ``facts`` (other numbers worth keeping). The format names below make the JSON
self-describing: `render_markdown` needs nothing but the file.

`render_markdown` is used twice: by `bench/benchlib.py` to print a run and write
`bench/results/NAME.md`, and by this module as a Sphinx extension, which fills the page
`book/appendix-benchmarks.md` with one section per results file (ordered by chapter, then name)
where the page has the line `MARKER`. A results file that cannot be read, or lacks a key, is a
Sphinx warning naming the file and the key (the book is built with -W, so the build fails).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Formats: how a column's values are written in a table
# ---------------------------------------------------------------------------------------------


def fmt_rate(x: float) -> str:
    """A rate: 1.21 M, 594.0 k, 9.1."""
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.1f}"


def fmt_float(x: float) -> str:
    """0.244, 598.72, inf; n/a for NaN (a ratio to a score that was not positive)."""
    if math.isnan(x):
        return "n/a"
    return "inf" if math.isinf(x) else f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}"


def fmt_seconds(x: float) -> str:
    """Three significant digits, whole seconds from 1000 s on: 0.0127, 2.12, 12.8, 3,320."""
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


FORMATS = {
    "text": str,
    "int": lambda x: f"{x:,}",
    "float": fmt_float,
    "rate": fmt_rate,  # tokens/s, words/s
    "ratio": lambda x: "n/a" if math.isnan(x) else f"{x:.2f}x",
    "seconds": fmt_seconds,
    "ms": lambda x: f"{x:.2f}" if x < 100 else f"{x:.0f}",
    "percent": lambda x: f"{100 * x:.2f} %",  # a fraction, shown as a percentage
    "yesno": lambda x: "yes" if x else "**no**",
}
ALIGN = {"text": "---", "yesno": ":-:"}  # every other format is a number: right-aligned

REQUIRED = ("name", "title", "chapter", "description", "command", "quick", "machine",
            "load_average_1min_at_start", "load_average_1min_at_end", "wall_s", "columns", "rows")


def format_cell(value, fmt: str) -> str:
    """One table cell: ``value`` in format ``fmt`` ("-" for a missing value)."""
    if value is None:
        return "-"
    return FORMATS[fmt](value).replace("|", "\\|")


# ---------------------------------------------------------------------------------------------
# One results file as markdown
# ---------------------------------------------------------------------------------------------


def problems(result: dict) -> list[str]:
    """What makes ``result`` impossible to render: missing keys, unknown formats."""
    out = [f"missing key {key!r}" for key in REQUIRED if key not in result]
    tables = [result] + list(result.get("tables", []))
    for table in tables:
        for column in table.get("columns", []):
            if column.get("format") not in FORMATS:
                out.append(f"column {column.get('key')!r} has unknown format "
                           f"{column.get('format')!r} (known: {', '.join(FORMATS)})")
    return out


def markdown_table(columns: list[dict], rows: list[dict]) -> list[str]:
    """The lines of a markdown table. A row may mark cells: ``"_marks": {"key": "*"}``."""
    lines = ["| " + " | ".join(c["heading"] for c in columns) + " |",
             "|" + "|".join(ALIGN.get(c["format"], "--:") for c in columns) + "|"]
    for row in rows:
        marks = row.get("_marks", {})
        cells = [format_cell(row.get(c["key"]), c["format"]) + marks.get(c["key"], "")
                 for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_line(result: dict) -> str:
    """The machine, the versions that matter, the torch threads and the load during the run."""
    m = dict(result["machine"])
    cpu, cpus, system, python = (m.pop(k, "?") for k in ("cpu", "cpu_count", "platform", "python"))
    threads, auto = m.pop("torch_threads", None), m.pop("torch_threads_auto", False)
    versions = "".join(f", {package} {version}" for package, version in m.items())
    line = f"Machine: {cpu}, {cpus} CPUs, {system}; Python {python}{versions}."
    if threads is not None:
        line += (f" {threads} torch thread{'s' if threads != 1 else ''}"
                 + (" (one per CPU left free by other processes)." if auto else "."))
    return (line + f" 1-minute load average {result['load_average_1min_at_start']} at the start, "
            f"{result['load_average_1min_at_end']} at the end (above {cpus} means other processes "
            "shared the CPUs and the times are noisy).")


def render_markdown(result: dict, level: int = 1) -> str:
    """A run of a benchmark as markdown: a heading of ``level``, the description, the command,
    the machine, the table(s), the notes."""
    quick = " (quick smoke test: small sizes, 1 repeat)" if result["quick"] else ""
    out = [f"{'#' * level} Chapter {result['chapter']}: {result['title']}", "",
           result["description"].strip(), "",
           f"Command: `{result['command']}`{quick}", "",
           machine_line(result), "",
           *markdown_table(result["columns"], result["rows"]), ""]
    for table in result.get("tables", []):
        if table.get("caption"):
            out += [table["caption"], ""]
        out += [*markdown_table(table["columns"], table["rows"]), ""]
    for note in result.get("notes", []):
        out += [note, ""]
    if result.get("failed"):
        out += [f"**This run failed:** {result['failed']}", ""]
    out += [f"Total wall time of the run: {result['wall_s']:.0f} s.", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# A folder of results files as one page section
# ---------------------------------------------------------------------------------------------


def read_results(folder: Path) -> tuple[list[tuple[Path, dict]], list[str]]:
    """Every ``*.json`` of ``folder`` that can be rendered, ordered by chapter then name, and
    one message per file that cannot (naming the file and what is wrong)."""
    found, errors = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            errors.append(f"{path}: not a readable JSON file: {err}")
            continue
        if not isinstance(result, dict):
            errors.append(f"{path}: expected a JSON object, found {type(result).__name__}")
            continue
        wrong = problems(result)
        if wrong:
            errors.append(f"{path}: " + "; ".join(wrong))
            continue
        found.append((path, result))
    found.sort(key=lambda item: (item[1]["chapter"], item[1]["name"]))
    return found, errors


def results_markdown(folder: Path, level: int = 2) -> tuple[str, list[str]]:
    """One section per results file of ``folder`` (ordered by chapter, then name), and the
    messages about files that could not be rendered."""
    found, errors = read_results(folder)
    sections = [render_markdown(result, level=level) for _, result in found]
    return "\n".join(sections), errors


# ---------------------------------------------------------------------------------------------
# The Sphinx extension
# ---------------------------------------------------------------------------------------------

MARKER = "% BENCHMARK RESULTS"  # the line of the page that the sections replace


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if docname != app.config.tinylm_benchmarks_page:
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    folder = Path(app.srcdir) / app.config.tinylm_benchmarks_results
    for path in sorted(folder.glob("*.json")):
        app.env.note_dependency(str(path))
    text, errors = results_markdown(folder)
    for message in errors:
        logger.warning(f"tinylm.book.benchmarks: {message}", location=docname)
    if MARKER not in source[0].splitlines():
        logger.warning(f"tinylm.book.benchmarks: no line {MARKER!r} on this page to replace "
                       "with the benchmark results", location=docname)
    elif not text:
        logger.warning(f"tinylm.book.benchmarks: no results in {folder}", location=docname)
    source[0] = "\n".join(text if line == MARKER else line for line in source[0].splitlines())


def _always_reread(app, env, added, changed, removed) -> list[str]:
    """The page is cheap to build: read it again at every build, so a new results file shows."""
    page = app.config.tinylm_benchmarks_page
    return [page] if page in env.found_docs else []


def setup(app) -> dict:
    app.add_config_value("tinylm_benchmarks_page", "book/appendix-benchmarks", "env")
    app.add_config_value("tinylm_benchmarks_results", "bench/results", "env")
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _always_reread)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
