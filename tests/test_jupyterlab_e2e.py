"""A lab, run end to end the way a student runs it: JupyterLab in Chromium, Run All.

Starts `jupyter lab` on the repository (no token, a free port, settings in a temporary folder),
opens each solved lab of solutions/ (or, while there is none, tests/fixtures/e2e-lab.ipynb),
runs every cell from the Run menu, waits until the kernel is idle and every code cell has run,
and checks in the page that

- no output area shows an error (a traceback on stderr, or an exception's name);
- every graded cell (first line `# GRADED: <name> (<n> points)`) printed its pass line,
  `<name>: OK (<n>/<n> points)`;
- every cell that builds one of tinylm's widgets (`tinylm.widgets`) drew it in JupyterLab: its
  output holds the widget's `.tinylm-widget` root, with something inside;
- no output reached the notebook file on disk (autosave is off: outputs are never committed),
  and no checkpoint is written into the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _chromium import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path("tests/fixtures/e2e-lab.ipynb")
LABS = sorted(p.relative_to(REPO) for p in (REPO / "solutions").glob("*-lab.ipynb")) or [FIXTURE]

SERVER_START_TIMEOUT = 90.0
RUN_ALL_TIMEOUT = 300.0
WIDGET_TIMEOUT = 20.0  # seconds a widget may take to draw after the kernel is idle
GRADED_LINE = re.compile(r"^# GRADED: (?P<name>.+?) \((?P<points>\d+(\.\d+)?) points?\)")
EXCEPTION_NAME = re.compile(r"^\w*(Error|Exception|Interrupt)\b", re.MULTILINE)

# JupyterLab user settings for the run: every cell attached to the DOM (so the page can be
# inspected), and no autosave (so running the notebook never writes its outputs to disk).
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a JupyterLab server started for these tests (stopped by its PID)."""
    home = tmp_path_factory.mktemp("jupyterlab")
    for name, settings in USER_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings), encoding="utf-8")
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("jupyter")), "lab",
        "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
        "--IdentityProvider.token=", f"--ServerApp.root_dir={REPO}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # not .ipynb_checkpoints/
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "MPLBACKEND": "Agg"}
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}; see {log.name}:\n"
                            + Path(log.name).read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer on {base} within "
                            f"{SERVER_START_TIMEOUT:.0f} s; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# Evaluated in the page: true once a kernel is attached to the notebook and idle. The status bar
# reads "Python 3 (ipykernel) | Idle"; the toolbar's execution indicator is no help here, as it
# already says "idle" while the page is still at "No Kernel | Initializing".
KERNEL_IDLE_JS = """
() => [...document.querySelectorAll(".jp-StatusBar-TextItem")]
  .some((item) => /\\| Idle$/.test(item.textContent) && !item.textContent.startsWith("No Kernel"))
"""

# Evaluated in the page: the state of every code cell of the open notebook.
CELLS_JS = """
() => [...document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")]
  .map((cell) => {
    const firstLine = cell.querySelector(".jp-InputArea .cm-line");
    const outputs = [...cell.querySelectorAll(".jp-OutputArea-output")];
    return {
      prompt: (cell.querySelector(".jp-InputArea-prompt") || {}).textContent || "",
      firstLine: firstLine ? firstLine.textContent : "",
      text: outputs.map((o) => o.textContent).join("\\n"),
      stderr: outputs.filter((o) => o.dataset.mimeType === "application/vnd.jupyter.stderr")
                     .map((o) => o.textContent),
      widgets: [...cell.querySelectorAll(".jp-OutputArea .tinylm-widget")]
                 .filter((el) => el.getBoundingClientRect().height > 0).length,
    };
  })
"""


def _run_all(page, timeout: float) -> list[dict]:
    """Run every cell from the Run menu; return the cells once the kernel is done."""
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        cells = page.evaluate(CELLS_JS)
        running = any("*" in c["prompt"] for c in cells)
        all_ran = all(re.search(r"\[\d+\]", c["prompt"]) for c in cells)
        errored = any(c["stderr"] for c in cells)  # Run All stops at the first error
        idle = page.evaluate(KERNEL_IDLE_JS)
        if idle and not running and (all_ran or errored):
            return cells
    pytest.fail(f"the notebook did not finish within {timeout:.0f} s: "
                + json.dumps([c["prompt"] for c in page.evaluate(CELLS_JS)]))


def _wait_for_widgets(page, cells: list[dict], positions: list[int], timeout: float) -> list[dict]:
    """The cells again once every widget cell has drawn its widget, or after ``timeout`` s.
    A widget draws in the browser after its output arrives, so the kernel can be idle a moment
    before the last widget is on the page (a large one, such as the projector, on a busy
    machine). The caller still asserts that each one was drawn."""
    deadline = time.monotonic() + timeout
    while any(not cells[i]["widgets"] for i in positions if i < len(cells)):
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
        cells = page.evaluate(CELLS_JS)
    return cells


def _widget_cells(path: Path) -> list[int]:
    """Positions (among code cells) of the cells that build one of tinylm's widgets."""
    import tinylm.widgets as widgets

    classes = [name for name in widgets.__all__ if isinstance(getattr(widgets, name), type)]
    builds = re.compile(r"\b(" + "|".join(classes) + r")\(")
    code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code"]
    return [i for i, c in enumerate(code) if builds.search("".join(c["source"]))]


def _saved_outputs(path: Path) -> int:
    """How many outputs and execution counts the notebook file holds."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(len(c.get("outputs", [])) + (c.get("execution_count") is not None)
               for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("lab", LABS, ids=str)
def test_run_all_in_jupyterlab(lab: Path, jupyterlab: str, browser) -> None:
    before = _saved_outputs(REPO / lab)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{jupyterlab}/lab/tree/{lab.as_posix()}?reset", wait_until="load")
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=90_000)
        page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)  # the kernel has started
        cells = _run_all(page, RUN_ALL_TIMEOUT)
        cells = _wait_for_widgets(page, cells, _widget_cells(REPO / lab), WIDGET_TIMEOUT)
    finally:  # the screenshot shows what went wrong when a step above timed out
        shots = REPO / "_build" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"jupyterlab__{lab.stem}.png"))
        page.close()

    assert cells, f"no code cell found in {lab}"
    errors = [
        (cell["firstLine"], text[-1500:]) for cell in cells for text in cell["stderr"]
        if "Traceback" in text or EXCEPTION_NAME.search(text)
    ]
    assert errors == [], f"{lab}: cells raised errors:\n" + "\n\n".join(
        f"--- cell starting {first!r}\n{text}" for first, text in errors)

    not_run = [cell["firstLine"] for cell in cells if not re.search(r"\[\d+\]", cell["prompt"])]
    assert not_run == [], f"{lab}: cells that did not run: {not_run}"

    graded = [(GRADED_LINE.match(cell["firstLine"]), cell) for cell in cells
              if cell["firstLine"].startswith("# GRADED:")]
    assert graded, f"{lab} has no graded cell (first line `# GRADED: <name> (<n> points)`)"
    malformed = [cell["firstLine"] for match, cell in graded if match is None]
    assert malformed == [], f"{lab}: graded cells with a malformed first line: {malformed}"
    silent = [
        match["name"] for match, cell in graded
        if not re.search(rf"^{re.escape(match['name'])}: OK\b", cell["text"], re.MULTILINE)
    ]
    assert silent == [], f"{lab}: graded cells that did not print `<name>: OK`: {silent}"

    undrawn = [cells[i]["firstLine"] for i in _widget_cells(REPO / lab) if not cells[i]["widgets"]]
    assert undrawn == [], f"{lab}: widgets not drawn in JupyterLab, in cells starting {undrawn}"

    assert _saved_outputs(REPO / lab) == before, f"{lab}: JupyterLab saved outputs to disk"
