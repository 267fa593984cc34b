"""`tinylm doctor`: check everything the course needs, one line per dependency.

Paste its output into bug reports. Each line is either

    OK   numpy          2.4.6
    FAIL nltk           (not installed: run `make setup`)

followed by a platform line. The exit code is 1 if a required check failed. Optional checks
(Chromium, used only by the browser tests) print FAIL too, but do not change the exit code.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MIN_PYTHON = (3, 10)
CHROMIUM = Path("/usr/bin/chromium")
HTML_MANAGER = Path("node_modules/@jupyter-widgets/html-manager")
SETUP_HINT = "run `make setup`"

# (name shown, distribution name). numpy to matplotlib: what the package and chapters use;
# the rest come with the extras that `make setup` installs (book, test, lab), and nltk is the
# outside reference of chapter 1. All are required; only Chromium below is optional.
PACKAGES = [
    ("numpy", "numpy"),
    ("numba", "numba"),
    ("scipy", "scipy"),
    ("torch", "torch"),
    ("gensim", "gensim"),
    ("nltk", "nltk"),
    ("tqdm", "tqdm"),
    ("plotly", "plotly"),
    ("anywidget", "anywidget"),
    ("ipywidgets", "ipywidgets"),
    ("matplotlib", "matplotlib"),
    ("jupyter-book", "jupyter-book"),
    ("myst-nb", "myst-nb"),
    ("nbval", "nbval"),
    ("nbclient", "nbclient"),
    ("pytest", "pytest"),
    ("hypothesis", "hypothesis"),
    ("playwright", "playwright"),
    ("jupyterlab", "jupyterlab"),
]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str  # the version when ok, otherwise what is wrong and how to fix it
    optional: bool = False

    def line(self) -> str:
        if self.ok:
            return f"OK   {self.name:<14} {self.detail}"
        return f"FAIL {self.name:<14} ({self.detail})"


# ---- versions -----------------------------------------------------------------------------

def _version_tuple(version: str) -> tuple[int, ...]:
    """'2.13.0+cpu' -> (2, 13, 0); stops at the first part that is not a number."""
    parts = []
    for part in re.split(r"[.+-]", version):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _minimum_versions() -> dict[str, str]:
    """The `>=` lower bounds tinylm declares for each dependency (all extras included)."""
    try:
        requirements = metadata.requires("tinylm") or []
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return {}
    minimums = {}
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*([^;]*)", requirement)
        if match:
            bound = re.search(r">=\s*([0-9][0-9.]*)", match[3])
            if bound:
                minimums[_normalise(match[1])] = bound[1]
    return minimums


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- the checks ----------------------------------------------------------------------------

def check_python() -> Check:
    version = platform.python_version()
    if sys.version_info[:2] < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        return Check("python", False, f"{version} found, tinylm needs >= {wanted}")
    return Check("python", True, version)


def check_package(name: str, distribution: str, minimums: dict[str, str]) -> Check:
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return Check(name, False, f"not installed: {SETUP_HINT}")
    minimum = minimums.get(_normalise(distribution))
    if minimum and _version_tuple(version) < _version_tuple(minimum):
        return Check(name, False, f"{version} installed, tinylm needs >= {minimum}: {SETUP_HINT}")
    return Check(name, True, version)


def _run_version(command: list[str]) -> str | None:
    """First line of `<command> --version`, or None if it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def check_tool(name: str, fix: str) -> Check:
    path = shutil.which(name)
    version = _run_version([path, "--version"]) if path else None
    if version is None:
        return Check(name, False, f"`{name}` not found on PATH: {fix}")
    return Check(name, True, version)


def _repository_root() -> Path | None:
    """The checkout holding package.json: the current folder or one of its parents, else the
    checkout this package was installed from (editable installs)."""
    for folder in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (folder / "package.json").is_file():
            return folder
    return None


def check_node_modules() -> Check:
    root = _repository_root()
    if root is None:
        return Check("node_modules", False,
                     "no package.json here: run this from the tinylm repository")
    manifest = root / HTML_MANAGER / "package.json"
    if not (root / HTML_MANAGER / "dist" / "embed-amd.js").is_file() or not manifest.is_file():
        return Check("node_modules", False,
                     f"{root / HTML_MANAGER} missing: run `npm ci` in {root} (or `make book`)")
    version = re.search(r'"version"\s*:\s*"([^"]+)"', manifest.read_text(encoding="utf-8"))
    return Check("node_modules", True, f"html-manager {version[1] if version else '?'}")


def check_chromium() -> Check:
    version = _run_version([str(CHROMIUM), "--version"]) if CHROMIUM.exists() else None
    if version is None:
        return Check("chromium", False,
                     f"{CHROMIUM} not found: `apt-get install -y chromium`; optional, needed "
                     "only for the browser tests", optional=True)
    return Check("chromium", True, version)


def run_checks() -> list[Check]:
    minimums = _minimum_versions()
    checks = [check_python()]
    checks += [check_package(name, dist, minimums) for name, dist in PACKAGES]
    checks += [
        check_tool("node", "install Node.js >= 18 (Debian: `apt-get install -y nodejs npm`)"),
        check_tool("npm", "install npm (Debian: `apt-get install -y npm`)"),
        check_node_modules(),
        check_chromium(),
    ]
    return checks


def platform_line() -> str:
    try:
        tinylm = metadata.version("tinylm")
    except metadata.PackageNotFoundError:
        tinylm = "not installed"
    return (f"platform: {platform.platform()} ({platform.machine()}), {os.cpu_count()} CPUs; "
            f"Python {platform.python_version()} at {sys.executable}; tinylm {tinylm}")


def main() -> int:
    checks = run_checks()
    for check in checks:
        print(check.line())
    print(platform_line())
    failed = [c.name for c in checks if not c.ok and not c.optional]
    if failed:
        print(f"{len(failed)} required check(s) failed: {', '.join(failed)}")
        return 1
    print("all required checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
