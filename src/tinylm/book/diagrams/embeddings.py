"""Diagrams of chapter 2 (word embeddings), drawn with the kit.

- `one_hot_lookup`: a one-hot vector times a matrix is one row of the matrix: each entry x_i
  of the one-hot vector scales row i of W, and only the row under the 1 survives.
- `skipgram_window`: skip-gram with negative sampling on one sentence: the centre word, the
  context words of its window (the positive pairs, label 1) and k noise words drawn from the
  unigram distribution raised to the power 0.75 (the negative pairs, label 0).
- `cbow_vs_skipgram`: the two word2vec architectures on the same window: skip-gram predicts
  each context word from the centre word; CBOW predicts the centre word from the mean of the
  context.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinylm.book.diagrams import kit

TOKEN_W, TOKEN_H, GAP = 1.24, 0.8, 0.12  # a token's box, and the space between two boxes


def _number(v: float) -> str:
    """A matrix entry as the figure prints it: one decimal."""
    return f"{v:.1f}"


def one_hot_lookup(words: Sequence[str], weights, picked: int, ax=None):
    """One-hot times a matrix selects a row: ``one_hot(picked) @ weights == weights[picked]``.

    The one-hot vector is drawn as a column beside the rows of ``weights`` (|V| x d), so that
    each entry x_i sits next to the row it multiplies: the row under the 1 (orange) is the
    result, every other row is multiplied by 0 (grey). Returns the axes drawn on.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[0] != len(words):
        raise ValueError(f"weights must have one row per word: {len(words)} words, "
                         f"shape {w.shape}")
    if not 0 <= picked < len(words):
        raise ValueError(f"picked = {picked} is not a row of {len(words)} words")
    n, d = w.shape
    cw, ch = 0.95, 0.72  # a matrix cell
    left = 1.6  # words to the left of this
    x_hot = left  # the one-hot column
    x_w = x_hot + cw + 0.65  # the matrix
    x_out = x_w + d * cw + 1.15  # the selected row
    width, height = x_out + d * cw + 0.15, (n + 2.1) * ch + 0.9
    fig, ax_ = kit.canvas(width, height, ax=ax)
    top = height - 1.25 * ch  # the upper edge of the first row
    row_y = [top - (i + 1) * ch for i in range(n)]  # lower edge of row i

    heads = [(x_hot + cw / 2, "one-hot $x$"), (x_w + d * cw / 2, r"$W$  ($|V| \times d$)"),
             (x_out + d * cw / 2, r"$xW$")]
    for x, text in heads:
        kit.label(ax_, x, top + 0.45 * ch, text, fontsize=13)
    for i, word in enumerate(words):
        on = i == picked
        color = kit.ORANGE if on else kit.GREY
        kit.label(ax_, left - 0.15, row_y[i] + ch / 2, word, ha="right", fontsize=13,
                  color=kit.INK if on else kit.MUTED, fontweight="bold" if on else "normal")
        kit.box(ax_, x_hot + 0.04, row_y[i] + 0.04, cw - 0.08, ch - 0.08, "1" if on else "0",
                color=color, fontsize=13, bold=on, radius=0.05)
        for j in range(d):
            kit.box(ax_, x_w + j * cw + 0.04, row_y[i] + 0.04, cw - 0.08, ch - 0.08,
                    _number(w[i, j]), color=color, fontsize=12, bold=on, radius=0.05,
                    text_color=kit.INK if on else kit.MUTED)
    kit.label(ax_, x_hot + cw + 0.32, top - n * ch / 2, "\u00d7", fontsize=16)

    # the surviving row, copied out
    y = row_y[picked]
    kit.arrow(ax_, (x_w + d * cw + 0.15, y + ch / 2), (x_out - 0.15, y + ch / 2),
              color=kit.ORANGE, width=1.8)
    for j in range(d):
        kit.box(ax_, x_out + j * cw + 0.04, y + 0.04, cw - 0.08, ch - 0.08, _number(w[picked, j]),
                color=kit.ORANGE, fontsize=12, bold=True, radius=0.05)
    kit.label(ax_, x_out + d * cw / 2, y - 0.55 * ch, f"row “{words[picked]}”",
              color=kit.ORANGE, fontsize=13)
    kit.label(ax_, x_out + d * cw / 2, y - 1.35 * ch, r"$x_i$ scales row $i$;" "\n"
              r"only the 1 survives", color=kit.MUTED, fontsize=12)
    kit.label(ax_, width / 2, 0.35, r"$xW = \sum_i\, x_i\, W_{i,:}$ = the row of "
              f"“{words[picked]}”", fontsize=13)
    kit.finish(fig, ax)
    return ax_


def skipgram_window(tokens: Sequence[str], centre: int, window: int,
                    negatives: Sequence[tuple[str, float]], ax=None):
    """Skip-gram with negative sampling around ``tokens[centre]``.

    The centre word (orange) and the words at most ``window`` positions away (green, the
    context) make the positive pairs, whose score sigma(v_centre . u_context) training pushes
    towards 1. ``negatives`` are the k noise words drawn for one of those pairs, each with its
    probability under the noise distribution P_n(w) ~ count(w)^0.75 (red): their pairs are
    pushed towards 0. Returns the axes drawn on.
    """
    if not 0 <= centre < len(tokens):
        raise ValueError(f"centre = {centre} is not a position of {len(tokens)} tokens")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not negatives:
        raise ValueError("draw at least one negative (noise) word")
    step = TOKEN_W + GAP
    width = max(len(tokens) * step + 0.1, 8.0)
    height = 7.7
    fig, ax_ = kit.canvas(width, height, ax=ax)
    x0 = (width - len(tokens) * step + GAP) / 2
    context = [i for i in range(centre - window, centre + window + 1)
               if 0 <= i < len(tokens) and i != centre]

    def mid(i: int) -> float:
        return x0 + i * step + TOKEN_W / 2

    def row(n: int):  # the left edges and the width of n boxes side by side, centred
        w = min(2.8, (width - 0.1) / n - 0.12)
        left = (width - n * (w + 0.12) + 0.12) / 2
        return [left + k * (w + 0.12) for k in range(n)], w

    # the sentence, its centre word and its window
    y = 5.4
    for i, tok in enumerate(tokens):
        color = kit.ORANGE if i == centre else kit.GREEN if i in context else kit.GREY
        kit.box(ax_, x0 + i * step, y, TOKEN_W, TOKEN_H, tok, color=color, fontsize=13,
                bold=i == centre)
    left, right = x0 + context[0] * step - 0.06, x0 + context[-1] * step + TOKEN_W + 0.06
    kit.box(ax_, left, y - 0.1, right - left, TOKEN_H + 0.2, color=kit.INK, filled=False)
    for i in context:  # the centre word predicts every word of its window
        kit.arrow(ax_, (mid(centre), y + TOKEN_H + 0.05), (mid(i), y + TOKEN_H + 0.05),
                  color=kit.GREEN, curve=-0.45 if i > centre else 0.45, width=1.4)
    kit.label(ax_, mid(centre), y + TOKEN_H + 1.2, f"window \u00b1{window}", fontsize=12.5)

    # the positive pairs
    kit.label(ax_, width / 2, 4.55, r"positive pairs: $\sigma(v_w \cdot u_c) \to 1$",
              color=kit.GREEN, fontsize=12.5)
    xs, w = row(len(context))
    for x, i in zip(xs, context, strict=True):
        kit.box(ax_, x, 3.45, w, 0.75, f"{tokens[centre]}, {tokens[i]}", color=kit.GREEN,
                fontsize=12.5)

    # k negatives from the noise distribution
    kit.label(ax_, width / 2, 2.65, rf"$k = {len(negatives)}$ noise words, "
              r"$P_n(w) \propto n(w)^{0.75}$: $\sigma(v_w \cdot u_n) \to 0$",
              color=kit.RED, fontsize=12.5)
    xs, w = row(len(negatives))
    for x, (word, p) in zip(xs, negatives, strict=True):
        kit.box(ax_, x, 0.95, w, 1.25, "", color=kit.RED)
        kit.label(ax_, x + w / 2, 1.8, f"{tokens[centre]}, {word}", fontsize=12.5)
        kit.label(ax_, x + w / 2, 1.3, f"$P_n$ = {100 * p:.2g}%", fontsize=12,
                  color=kit.MUTED)
    kit.label(ax_, width / 2, 0.4, "drawn at random, not from the window", color=kit.MUTED,
              fontsize=12)
    kit.finish(fig, ax)
    return ax_


def cbow_vs_skipgram(context: Sequence[str], centre: str, ax=None):
    """The two word2vec models on one window: skip-gram (left) predicts each context word from
    the centre word; CBOW (right) predicts the centre word from the mean of the context
    words' vectors. Returns the axes drawn on."""
    if not context:
        raise ValueError("a window needs at least one context word")
    n = len(context)
    bw, gap = 1.2, 0.08
    panel = n * (bw + gap) - gap
    width, height = 2 * panel + 0.9, 5.0
    fig, ax_ = kit.canvas(width, height, ax=ax)
    for p, (name, what) in enumerate([("skip-gram", "centre \u2192 each context word"),
                                      ("CBOW", "mean of the context \u2192 centre")]):
        x0 = 0.1 + p * (panel + 0.7)
        cx = x0 + panel / 2
        kit.label(ax_, cx, 4.6, name, fontsize=14, fontweight="bold")
        kit.label(ax_, cx, 4.1, what, fontsize=12, color=kit.MUTED)
        tops = [x0 + k * (bw + gap) + bw / 2 for k in range(n)]
        for k, word in enumerate(context):
            kit.box(ax_, tops[k] - bw / 2, 2.85, bw, 0.75, word, color=kit.GREEN, fontsize=13)
        kit.box(ax_, cx - bw / 2, 0.15, bw, 0.75, centre, color=kit.ORANGE, fontsize=13,
                bold=True)
        if p == 0:  # one input, n predictions
            for x in tops:
                kit.arrow(ax_, (cx, 0.95), (x, 2.8), color=kit.GREEN)
        else:  # n inputs averaged, one prediction
            kit.box(ax_, cx - 0.6, 1.55, 1.2, 0.6, "mean", color=kit.BLUE, fontsize=12)
            for x in tops:
                kit.arrow(ax_, (x, 2.8), (cx, 2.2), color=kit.BLUE)
            kit.arrow(ax_, (cx, 1.52), (cx, 0.95), color=kit.ORANGE)
    kit.finish(fig, ax)
    return ax_
