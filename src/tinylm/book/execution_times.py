"""Sphinx extension: record how long each notebook of the book took to execute.

myst-nb times every notebook it executes (and, when jupyter-cache serves a page, keeps the time
of the run that filled the cache). At the end of the build this extension writes those times
next to the output folder, as ``_build/execution-times.json``::

    {"book/01-ngrams": {"seconds": 17.2, "method": "cache", "succeeded": true}, ...}

`tests/test_budget.py` reads the file to hold every chapter to its time budget, so a slow chapter
is named the moment it lands rather than when the whole test run grows too long.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FILE_NAME = "execution-times.json"


def execution_times(app: Sphinx) -> dict[str, dict]:
    """docname -> {seconds, method, succeeded} for every notebook myst-nb executed or cached."""
    from myst_nb.sphinx_ import NbMetadataCollector

    times = {}
    for docname in sorted(app.env.found_docs):
        data = NbMetadataCollector.get_exec_data(app.env, docname)
        if data and data.get("runtime") is not None:
            times[docname] = {"seconds": round(float(data["runtime"]), 2),
                              "method": data.get("method"), "succeeded": data.get("succeeded")}
    return times


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    path = Path(app.outdir).parent / FILE_NAME
    path.write_text(json.dumps(execution_times(app), indent=2) + "\n", encoding="utf-8")
    logger.info(f"tinylm.book.execution_times: wrote {path}")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
