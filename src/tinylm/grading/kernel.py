"""A Jupyter kernel that runs untrusted cells one at a time, for the grader.

Built directly on jupyter_client (the layer under nbclient) because grading needs control that a
whole-notebook executor does not give: a time limit per cell with interrupt-then-give-up, a
kernel that may die or hang at any cell, and a hard cap on how much output is kept.

The kernel is this environment's Python (`sys.executable -m ipykernel_launcher`), whatever
kernelspecs the machine has installed.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

OUTPUT_LIMIT = 2_000  # characters of output kept per cell here
KERNEL_OUTPUT_LIMIT = 100_000  # characters the kernel sends per cell before dropping the rest
INTERRUPT_GRACE = 5.0  # seconds an interrupted cell gets to stop before we give up on it

# Runs first, silently, inside the kernel. It caps each cell's stdout/stderr and rich output so
# `print("x" * 100_000_000)` never crosses the wire, and turns colours off so messages are
# plain text. Everything is wrapped in try/except: if IPython internals move, grading still
# works, only without the kernel-side cap (the client-side cap remains).
_SETUP = r'''
def _tinylm_grading_setup(limit):
    import sys
    ip = get_ipython()
    state = {"left": limit}
    note = "\n[output truncated by the grader]\n"

    def cap_text(text):
        if state["left"] <= 0:
            return ""
        kept = text[: state["left"]]
        state["left"] -= len(text)
        return kept + (note if state["left"] <= 0 else "")

    def cap_stream(stream):
        write = stream.write
        if getattr(write, "tinylm_capped", False):
            return  # an IPython without the per-cell swap keeps the first wrapper
        def capped_write(text, *args, **kwargs):
            if isinstance(text, str):
                kept = cap_text(text)
                if kept:
                    write(kept, *args, **kwargs)
                return len(text)
            return write(text, *args, **kwargs)
        capped_write.tinylm_capped = True
        stream.write = capped_write

    def start_cell(*args):
        # IPython swaps each stream's `write` for the duration of a cell (to record output)
        # and puts the original back afterwards, so the cap is installed afresh per cell.
        state["left"] = limit
        cap_stream(sys.stdout)
        cap_stream(sys.stderr)

    def cap_data(data):
        return {k: (cap_text(v) if isinstance(v, str) else v) for k, v in data.items()}

    try:
        ip.events.register("pre_run_cell", start_cell)
    except Exception:
        pass
    try:
        publish = ip.display_pub.publish
        ip.display_pub.publish = lambda data, *a, **k: publish(cap_data(data), *a, **k)
        write_format_data = ip.displayhook.write_format_data
        ip.displayhook.write_format_data = (
            lambda data, *a, **k: write_format_data(cap_data(data), *a, **k))
    except Exception:
        pass
    try:
        ip.run_line_magic("colors", "nocolor")
    except Exception:
        pass

_tinylm_grading_setup(%d)
del _tinylm_grading_setup
'''


class KernelStartError(RuntimeError):
    """The kernel could not be started."""


@dataclass
class CellRun:
    """What happened when one cell ran."""

    error: str | None = None  # "ExceptionType: message", or None if the cell succeeded
    error_name: str | None = None
    timed_out: bool = False
    kernel_lost: str | None = None  # why the kernel is no longer usable, if it is not
    output: str = ""  # the first OUTPUT_LIMIT characters of text output
    received: int = 0  # characters of text output the kernel sent in all


class _Output:
    """Collects text output up to a limit and drops the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.parts: list[str] = []
        self.left = limit
        self.received = 0

    def add(self, text: object) -> None:
        if not isinstance(text, str):
            return
        self.received += len(text)
        if self.left > 0:
            self.parts.append(text[: self.left])
        self.left -= len(text)

    def text(self) -> str:
        return "".join(self.parts) + ("\n[truncated]" if self.left < 0 else "")


class GradingKernel:
    """Context manager: a started kernel plus `run(source, timeout) -> CellRun`."""

    def __init__(self, cwd: Path):
        self.cwd = Path(cwd)
        self._specs = tempfile.TemporaryDirectory(prefix="tinylm-grader-")
        self.km: KernelManager | None = None
        self.kc = None

    def __enter__(self) -> GradingKernel:
        try:
            self._start()
        except Exception as exc:
            self.close()
            raise KernelStartError(f"{type(exc).__name__}: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        # A private kernelspec pins the kernel to this interpreter: a user's own "python3"
        # kernelspec may point at another Python without tinylm installed.
        spec_dir = Path(self._specs.name) / "tinylm-grader"
        spec_dir.mkdir()
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "tinylm grader", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "Agg"}
        # Unix sockets in a private directory: nothing listens on TCP, and the kernel does
        # not warn about unencrypted TCP on stderr.
        self.km = KernelManager(
            kernel_name="tinylm-grader",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[self._specs.name]),
            transport="ipc",
            ip=str(Path(self._specs.name) / "kernel-ipc"),
        )
        self.km.start_kernel(cwd=str(self.cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        setup = self.run(_SETUP % KERNEL_OUTPUT_LIMIT, timeout=30, store_history=False)
        if setup.kernel_lost or setup.timed_out:
            raise RuntimeError("the kernel did not answer its set-up cell")

    def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
            self.km = None
        self._specs.cleanup()

    def run(self, source: str, timeout: float, store_history: bool = True) -> CellRun:
        """Execute one cell; interrupt it after `timeout` s, give up on it after a grace period."""
        msg_id = self.kc.execute(source, store_history=store_history, allow_stdin=False,
                                 stop_on_error=False)
        result, output = CellRun(), _Output()
        deadline = monotonic() + timeout
        while True:
            left = deadline - monotonic()
            if left <= 0:
                if result.timed_out:  # the interrupt did not stop it either
                    result.kernel_lost = "it ignored the interrupt after the time limit"
                    self._kill()
                    break
                result.timed_out = True
                self.km.interrupt_kernel()
                deadline = monotonic() + min(INTERRUPT_GRACE, max(timeout, 1.0))
                continue
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    result.kernel_lost = "the kernel process died"
                    result.error = result.error or "the kernel process died (crash or exit)"
                    result.error_name = result.error_name or "KernelDied"
                    break
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue  # left over from an earlier, interrupted cell
            if self._handle(msg, result, output):
                break
        result.output, result.received = output.text(), output.received
        if not result.kernel_lost:
            self._drain_shell(msg_id)
        return result

    @staticmethod
    def _handle(msg: dict, result: CellRun, output: _Output) -> bool:
        """Record one iopub message; True once the cell has finished."""
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            return content.get("execution_state") == "idle"
        if kind == "stream":
            output.add(content.get("text"))
        elif kind in ("execute_result", "display_data"):
            output.add(content.get("data", {}).get("text/plain"))
        elif kind == "error":
            result.error_name = str(content.get("ename", "Error"))
            result.error = f"{result.error_name}: {content.get('evalue', '')}".rstrip(": ")
        return False

    def _drain_shell(self, msg_id: str) -> None:
        """Take the cell's execute_reply off the shell channel so replies never pile up."""
        deadline = monotonic() + 5
        while monotonic() < deadline:
            try:
                reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - monotonic()))
            except queue.Empty:
                return
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    def _kill(self) -> None:
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:  # already gone is fine
            pass
