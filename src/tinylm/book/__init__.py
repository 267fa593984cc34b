"""The book's side of the package: display helpers for the chapters, and the Sphinx glue.

- `show` and `table` (from `tinylm.book.display`): what several chapters use to show the
  package's source and small tables, written once.
- `tinylm.book.offline`: a Sphinx extension that makes the static book carry its own JavaScript
  (MathJax, require.js, the Jupyter widget manager, anywidget, plotly.js), so pages render
  without any request leaving the machine that serves them.
- `tinylm.book.plotly_mime`: a myst-nb renderer that draws plotly's notebook output
  (`application/vnd.plotly.v1+json`) on the book's pages.
- `tinylm.book.diagrams`: the book's diagrams, drawn by code (a small matplotlib kit and one
  module per topic).
- Sphinx extensions: `tinylm.book.execution_times` records each notebook's execution time for
  the time budget (tests/test_budget.py); `tinylm.book.benchmarks` fills the benchmark
  appendix from bench/results/*.json; `tinylm.book.icons` serves only the icons the pages use;
  `tinylm.book.links` links the repository when one is configured.

Importing `tinylm.book` does not import Sphinx: the extensions are separate modules.
"""

from tinylm.book.display import show, table, table_html

__all__ = ["show", "table", "table_html"]
