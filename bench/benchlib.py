"""What every benchmark records beside its timings: the machine, its load, the command."""

from __future__ import annotations

import importlib
import os
import platform
import shlex
import sys
from pathlib import Path


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
    for name in packages:
        info[name] = importlib.import_module(name).__version__
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


RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, result: dict, text: str) -> None:
    """Save a run as bench/results/NAME.json (every number) and NAME.md (the tables)."""
    import json

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    print(f"wrote {RESULTS / f'{name}.md'} and {RESULTS / f'{name}.json'}")


def fmt_rate(x: float) -> str:
    """A rate for a table: 1.21 M, 594.0 k, 9.1."""
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.1f}"
