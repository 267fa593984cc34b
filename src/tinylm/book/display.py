"""Small display helpers the chapters share, so each page opens with its lesson, not set-up.

    from tinylm.book import show, table

    show(NGramLM.prob)                       # the package's own source, highlighted
    table(["model", "perplexity"], rows)     # a small table that scrolls on a phone

Both render the same in JupyterLab and in the static book.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Iterable, Sequence

from IPython.display import HTML, Code, display


def show(obj) -> None:
    """Display the source of a function, class or module from the package itself.

    The page shows the code that runs, so page and package never drift apart.
    """
    display(Code(inspect.getsource(obj), language="python"))


def table_html(header: Sequence, rows: Iterable[Sequence], caption: str | None = None,
               numeric: bool = True) -> str:
    """An HTML table inside a box that scrolls sideways when the page is narrower than it.

    Cells are escaped text; with ``numeric`` every column but the first is right-aligned, as
    numbers read best.
    """
    def cells(tag: str, row: Sequence) -> str:
        out = []
        for i, value in enumerate(row):
            align = ' style="text-align:right"' if numeric and i > 0 else ""
            out.append(f"<{tag}{align}>{html.escape(str(value))}</{tag}>")
        return "".join(out)

    head = f"<thead><tr>{cells('th', header)}</tr></thead>"
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<div class="tinylm-table" style="overflow-x:auto;max-width:100%">'
            f'<table class="table">{title}{head}<tbody>{body}</tbody></table></div>')


def table(header: Sequence, rows: Iterable[Sequence], caption: str | None = None,
          numeric: bool = True) -> None:
    """Display `table_html(header, rows, caption, numeric)`."""
    display(HTML(table_html(header, rows, caption, numeric)))
