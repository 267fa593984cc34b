"""The drawing kit the diagrams share: one palette, boxes, arrows and labels on a blank canvas.

Coordinates are in data units of an axes with equal aspect and no axis lines, so a diagram is
laid out on a grid (one unit = one token box, say) and scales with the figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# The course's colours (also the widgets' and the plots'): Tableau 10, as in Vega-Lite.
BLUE, ORANGE, RED, TEAL, GREEN = "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b"
YELLOW, PURPLE, GREY = "#eeca3b", "#b279a2", "#9d9d9d"
LIGHT = {BLUE: "#c6dbef", ORANGE: "#fdd9b5", RED: "#f8c9c8", TEAL: "#d2ecea",
         GREEN: "#cfe8c9", PURPLE: "#ead3e3", GREY: "#eeeeee", YELLOW: "#faefc2"}
INK = "#222222"  # text and outlines
MUTED = "#666666"  # secondary text


def canvas(width: float, height: float, figsize: tuple[float, float] | None = None, ax=None):
    """A blank drawing area from (0, 0) to (width, height); returns (figure, axes).

    With ``ax`` it draws there (and returns its figure); otherwise it makes a figure whose size
    follows the drawing (about 0.55 inch per unit, at most 10 inches wide).
    """
    if ax is None:
        scale = min(0.55, 10 / width)
        fig, ax = plt.subplots(figsize=figsize or (width * scale, height * scale))
    else:
        fig = ax.figure
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.patch.set_alpha(0)
    return fig, ax


def box(ax, x: float, y: float, w: float, h: float, label: str = "", color: str = BLUE,
        filled: bool = True, fontsize: float = 10, bold: bool = False, dashed: bool = False,
        text_color: str = INK, radius: float = 0.08):
    """A rounded box with its lower-left corner at (x, y), a light fill of ``color`` and a
    ``color`` outline, and ``label`` centred in it."""
    patch = FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={radius}",
                           facecolor=LIGHT.get(color, color) if filled else "none",
                           edgecolor=color, linewidth=1.4, linestyle="--" if dashed else "-")
    ax.add_patch(patch)
    if label:
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=fontsize,
                color=text_color, fontweight="bold" if bold else "normal")
    return patch


def arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = INK,
          width: float = 1.3, style: str = "-|>", curve: float = 0.0, dashed: bool = False):
    """An arrow from ``start`` to ``end``; ``curve`` bends it (an arc with that radius factor)."""
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                            linewidth=width, linestyle="--" if dashed else "-",
                            connectionstyle=f"arc3,rad={curve}", shrinkA=1, shrinkB=1)
    ax.add_patch(patch)
    return patch


def label(ax, x: float, y: float, text: str, color: str = INK, fontsize: float = 10,
          ha: str = "center", va: str = "center", **kwargs):
    """Text at (x, y)."""
    return ax.text(x, y, text, color=color, fontsize=fontsize, ha=ha, va=va, **kwargs)


def brace(ax, x0: float, x1: float, y: float, text: str = "", color: str = BLUE,
          fontsize: float = 9.5):
    """A double-headed span from x0 to x1 at height y, with ``text`` above it."""
    arrow(ax, (x0, y), (x1, y), color=color, style="<|-|>", width=1.1)
    if text:
        label(ax, (x0 + x1) / 2, y + 0.28, text, color=color, fontsize=fontsize)


def finish(fig, ax_given) -> None:
    """Show a figure the diagram made itself (not one drawn into the caller's axes)."""
    if ax_given is None:
        fig.tight_layout(pad=0.2)
        plt.show()
