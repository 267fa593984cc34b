"""Run the benchmarks: every ``bench/NAME_bench.py``, or only the ones named.

    .venv/bin/python bench/run.py                      # all of them, one after the other
    .venv/bin/python bench/run.py ngram                # one (make bench ONLY=ngram)
    .venv/bin/python bench/run.py ngram,llama --quick  # several; the options go to each

Names may be separated by commas or spaces; the options after them (``--quick``,
``--repeats N``, ...) are passed to every benchmark run. Each benchmark runs in a process of its
own, as ``python bench/NAME_bench.py [options]``: that is the command its results record, and
the command that reproduces them. A failed benchmark does not stop the others; the exit status
says whether all of them succeeded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SUFFIX = "_bench.py"


def known() -> list[str]:
    """The benchmark names: NAME for every bench/NAME_bench.py."""
    return sorted(path.name[: -len(SUFFIX)] for path in BENCH.glob(f"*{SUFFIX}"))


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(benchmark names, options): the names are the words before the first option."""
    names = []
    for i, arg in enumerate(argv):
        if arg.startswith("-"):
            return names, argv[i:]
        names += [name for name in arg.replace(",", " ").split() if name]
    return names, []


def select(names: list[str]) -> list[str]:
    """The benchmarks to run, in the order given (all of them when none is named)."""
    available = known()
    unknown = [name for name in names if name not in available]
    if unknown:
        raise SystemExit(f"unknown benchmark{'s' if len(unknown) > 1 else ''}: "
                         f"{', '.join(unknown)}; known: {', '.join(available)}")
    return list(dict.fromkeys(names)) or available


def main(argv: list[str] | None = None) -> int:
    names, options = split_args(sys.argv[1:] if argv is None else argv)
    failed = []
    for name in select(names):
        script = (BENCH / f"{name}{SUFFIX}").relative_to(BENCH.parent)
        print(f"=== {name}: {Path(sys.executable).name} {script} {' '.join(options)}",
              flush=True)
        if subprocess.run([sys.executable, str(script), *options], cwd=BENCH.parent).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
