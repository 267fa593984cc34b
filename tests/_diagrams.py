"""Reading back what a diagram of tinylm.book.diagrams drew, for the diagram tests."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import FancyBboxPatch

from tinylm.book.diagrams import kit


def boxes(ax, color: str) -> list:
    """The filled boxes outlined in ``color`` (the kit fills a box with the light shade)."""
    return [p for p in ax.patches if isinstance(p, FancyBboxPatch)
            and to_hex(p.get_edgecolor()) == color
            and to_hex(p.get_facecolor()) == kit.LIGHT[color]]


def label_of(ax, patch) -> str:
    """The text drawn at the centre of a box ("" if none)."""
    bb = patch.get_bbox()
    cx, cy = (bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2
    return next((t.get_text() for t in ax.texts
                 if t.get_position() == pytest.approx((cx, cy))), "")


def labels(ax, color: str) -> list[str]:
    """The labels of the boxes of one colour, left to right then top to bottom."""
    found = sorted(boxes(ax, color), key=lambda p: (-round(p.get_bbox().y0, 3), p.get_bbox().x0))
    return [label_of(ax, p) for p in found]


def texts(ax) -> str:
    """Every text of the axes, one per line."""
    return "\n".join(t.get_text() for t in ax.texts)


def by_gid(ax, prefix: str) -> dict:
    """Every drawn artist (patch, line, text) whose gid starts with ``prefix``, by gid."""
    artists = list(ax.patches) + list(ax.lines) + list(ax.texts)
    return {a.get_gid(): a for a in artists if a.get_gid() and a.get_gid().startswith(prefix)}
