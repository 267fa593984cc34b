"""Diagrams of the book's structures, drawn by code (matplotlib) so they never go stale.

One module per topic (`diagrams.ngrams`, ...), each built from the small kit in
`diagrams.kit`: boxes, arrows, labels and one palette, shared with the widgets' colours. A
diagram function draws on a fresh figure and shows it (`plt.show()`), so a chapter cell is one
call; pass ``ax=`` to draw into an axes of your own instead.

Diagrams have transparent backgrounds and dark text: the book's dark theme puts images on a
light panel, so they read the same in light and dark mode.
"""
