"""The bench runner: a benchmark is one function that measures and returns the rows of its table.

    @benchmark("ngram", title="...", chapter=1, packages=("numpy", "nltk"), options=add_options,
               columns=[("smoothing", "smoothing", "text"), ("fit_s", "fit s", "seconds"), ...])
    def run(args):
        '''What is measured and how (markdown): the description shown above the table.'''
        ...
        return rows                     # a list of dicts, or Rows(rows, notes=..., facts=...)

    if __name__ == "__main__":
        main(run)

`main` does the rest: the command-line options every benchmark has (``--quick``, ``--repeats``,
``--threads`` for those that use torch) plus the benchmark's own (``options(parser)``), the
machine and its load at the start and the end, the wall time, and the results: the markdown is
printed, and unless ``--quick`` the run is saved as ``RESULTS/NAME.json`` (every number) and
``RESULTS/NAME.md`` (the markdown, the same as the book's benchmark appendix shows). A column is
(key in the rows, heading, format), the format one of ``tinylm.book.benchmarks.FORMATS``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tinylm.book.benchmarks import FORMATS, render_markdown

RESULTS = Path(__file__).resolve().parent / "results"  # where runs are saved (tests move it)


@dataclass
class Rows:
    """What a benchmark function can return instead of a bare list of rows.

    notes:  markdown sentences computed by the run, shown under the tables (goal met in k of n
            cases, all outputs identical, the size of the data, ...);
    facts:  any other numbers worth keeping in the JSON (corpus sizes, model config, ...);
    tables: the rows of the extra tables declared in ``@benchmark(tables=...)``, by name;
    failed: why the run failed (outputs that differ, ...): the markdown is printed with the
            failure, nothing is saved, and the command exits with an error.
    """

    rows: list[dict]
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    failed: str | None = None


@dataclass
class Benchmark:
    name: str
    title: str
    chapter: int
    columns: list[tuple[str, str, str]]
    run: Callable[[argparse.Namespace], list[dict] | Rows]
    description: str
    packages: tuple[str, ...] = ()
    options: Callable[[argparse.ArgumentParser], None] | None = None
    threads: bool = False  # uses torch: a --threads option, recorded with the machine
    repeats: int = 3  # the default of --repeats (--quick makes it 1)
    tables: dict[str, tuple[str, list[tuple[str, str, str]]]] = field(default_factory=dict)


class BenchmarkFailed(Exception):
    """A run whose outputs are wrong: its timings mean nothing."""


BENCHMARKS: dict[str, Benchmark] = {}  # every benchmark declared so far, by name


def benchmark(name, *, title, chapter, columns, packages=(), options=None, threads=False,
              repeats=3, tables=None, description=None):
    """Declare a benchmark (see the module's docstring). ``tables`` declares extra tables,
    ``{name: (caption, columns)}``; ``description`` defaults to the function's docstring."""

    def register(fn):
        for _caption, cols in [("", columns), *(tables or {}).values()]:
            for key, _heading, fmt in cols:
                if fmt not in FORMATS:
                    raise ValueError(f"{name}: column {key!r} has unknown format {fmt!r} "
                                     f"(known: {', '.join(FORMATS)})")
        bench = Benchmark(name, title, chapter, list(columns), fn,
                          description or inspect.getdoc(fn) or "", tuple(packages), options,
                          threads, repeats, dict(tables or {}))
        BENCHMARKS[name] = bench
        return bench

    return register


# ---------------------------------------------------------------------------------------------
# What every run records beside its timings: the machine, its load, the command
# ---------------------------------------------------------------------------------------------


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(*packages: str, **extra) -> dict:
    """CPU, core count, platform, Python, the versions of ``packages``, and ``extra`` fields."""
    info = {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    for name in packages:  # kenlm has no __version__: then the installed distribution's
        module = importlib.import_module(name)
        info[name] = getattr(module, "__version__", None) or importlib.metadata.version(name)
    return info | extra


def load_average():
    """1-minute load average, or None where the OS does not report it."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def auto_threads():
    """One torch thread per CPU that other processes leave free (at least one).

    On a quiet machine that is every CPU. On a busy one, more threads than free CPUs is far
    worse than fewer: torch's threads wait for each other at every operation, and a thread
    that the scheduler has put aside stalls the others (with 2 threads on a 2-CPU machine
    whose two CPUs were taken, one decoding step took 380 ms instead of 3 ms). The busy CPUs
    are estimated by the 1-minute load average, rounded.
    """
    cpus = os.cpu_count() or 1
    load = load_average()
    busy = 0 if load is None else round(load)
    return max(1, min(cpus, cpus - busy))


def command_line() -> str:
    """The command that ran this benchmark, with the interpreter's path relative to here."""
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        exe = Path("python")
    return shlex.join([str(exe), *sys.argv])


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------


def make_parser(bench: Benchmark) -> argparse.ArgumentParser:
    """The common options, then the benchmark's own."""
    parser = argparse.ArgumentParser(description=bench.title)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 1 repeat, a smoke test; saves nothing")
    parser.add_argument("--repeats", type=positive_int, default=None,
                        help=f"runs per case, the best is kept (default {bench.repeats}, "
                             "1 with --quick)")
    if bench.threads:
        parser.add_argument("--threads", type=positive_int, default=None,
                            help="torch threads (default: one per CPU that other processes "
                                 "leave free, see auto_threads)")
    if bench.options:
        bench.options(parser)
    return parser


def table_json(columns) -> list[dict]:
    return [{"key": key, "heading": heading, "format": fmt} for key, heading, fmt in columns]


def run_benchmark(bench: Benchmark, argv: list[str] | None = None,
                  results: Path | None = None) -> dict:
    """Run ``bench`` with the command-line arguments ``argv``; print the markdown, save the run
    in ``results`` (default RESULTS) unless --quick, and return it as a dict."""
    args = make_parser(bench).parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else bench.repeats
    machine = machine_info(*bench.packages)
    if bench.threads:
        import torch

        args.threads_auto = args.threads is None
        args.threads = args.threads or auto_threads()
        torch.set_num_threads(args.threads)
        machine |= {"torch_threads": torch.get_num_threads(),
                    "torch_threads_auto": args.threads_auto}

    load_at_start, t_start = load_average(), time.perf_counter()
    out = bench.run(args)
    wall_s = time.perf_counter() - t_start
    out = out if isinstance(out, Rows) else Rows(list(out))

    result = {
        "name": bench.name, "title": bench.title, "chapter": bench.chapter,
        "description": bench.description, "command": command_line(), "quick": args.quick,
        "machine": machine, "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": load_average(), "wall_s": wall_s,
        "columns": table_json(bench.columns), "rows": out.rows,
        "tables": [{"name": name, "caption": caption, "columns": table_json(columns),
                    "rows": out.tables[name]} for name, (caption, columns) in bench.tables.items()],
        "notes": out.notes, "facts": out.facts, "failed": out.failed,
    }
    text = render_markdown(result)
    print()
    print(text)
    if out.failed:
        raise BenchmarkFailed(f"{bench.name}: {out.failed} (nothing saved)")
    if not args.quick:
        save(result, text, results or RESULTS)
    return result


def save(result: dict, text: str, folder: Path) -> None:
    """The run as FOLDER/NAME.json (every number) and FOLDER/NAME.md (the markdown)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = result["name"]
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / f"{name}.md").write_text(text)
    print(f"wrote {folder / f'{name}.md'} and {folder / f'{name}.json'}")


def main(bench: Benchmark, argv: list[str] | None = None) -> None:
    """The command line of one benchmark script: ``python bench/NAME_bench.py [options]``."""
    try:
        run_benchmark(bench, argv)
    except BenchmarkFailed as err:
        raise SystemExit(str(err)) from None
