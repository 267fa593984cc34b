"""Sphinx glue for the tinylm book.

- `tinylm.book.offline`: a Sphinx extension that makes the static book carry its own JavaScript
  (MathJax, require.js, the Jupyter widget manager, anywidget, plotly.js), so pages render
  without any request leaving the machine that serves them.
- `tinylm.book.plotly_mime`: a myst-nb renderer that draws plotly's notebook output
  (`application/vnd.plotly.v1+json`) on the book's pages.
"""
