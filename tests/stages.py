"""Run `make test`'s stages one after another and close with a table of their wall times.

    python tests/stages.py lint unit notebooks ...      (each name is a Makefile target)

Every stage runs even when an earlier one failed, so one run shows everything that is wrong;
the exit code is non-zero if any stage failed. The table is how the 30-minute budget of
`make test` is watched: a stage that grows shows up here first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def run_stage(target: str) -> tuple[int, float]:
    """`make TARGET`, its output streamed as it comes; returns (exit code, seconds)."""
    print(f"\n==== make {target} ====", flush=True)
    start = time.perf_counter()
    code = subprocess.call([os.environ.get("MAKE", "make"), "--no-print-directory", target])
    return code, time.perf_counter() - start


def table(results: list[tuple[str, int, float]]) -> str:
    total = sum(seconds for _, _, seconds in results)
    width = max(len("total"), *(len(name) for name, _, _ in results))
    lines = [f"{'stage':{width}}  {'result':6}  {'wall time':>9}"]
    for name, code, seconds in results:
        lines.append(f"{name:{width}}  {'ok' if code == 0 else 'FAILED':6}  "
                     f"{_minutes(seconds):>9}")
    lines.append(f"{'total':{width}}  {'':6}  {_minutes(total):>9}")
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def main(targets: list[str]) -> int:
    if not targets:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    results = [(target, *run_stage(target)) for target in targets]
    print("\n==== make test: stages ====")
    print(table(results))
    failed = [name for name, code, _ in results if code != 0]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
