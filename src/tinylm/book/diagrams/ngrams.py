"""Diagrams of chapter 1 (n-gram language models), drawn with the kit.

- `sliding_window`: a window of n tokens over a padded sentence; its first n - 1 tokens are
  the context, the last is the word they predict.
- `kneser_ney_ladder`: interpolated Kneser-Ney as a ladder of ever shorter contexts, each level
  keeping its discounted counts and passing the rest of the mass down.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylm.book.diagrams import kit

BOX_W, BOX_H, GAP = 1.0, 0.8, 0.12  # a token's box, and the space between two boxes
# Inches per unit, and font sizes: the figures are about 500 px wide, so that on a 390 px phone
# (where they shrink to the width of the text) their words still read at about 12 px.
INCH, BIG, TEXT, SMALL = 0.48, 13.5, 13, 12


def sliding_window(tokens: Sequence[str], n: int, target: int, ax=None):
    """The n-gram window that ends at ``tokens[target]``.

    The n - 1 tokens before the target (the context, blue) predict the target (orange); a
    dashed outline shows where the window was one step earlier, and the probability the window
    estimates is written underneath. Returns ``ax`` if given (else it shows its own figure).
    """
    if not 1 <= n <= target + 1 <= len(tokens):
        raise ValueError(f"a window of n = {n} ending at token {target} does not fit in "
                         f"{len(tokens)} tokens")
    step = BOX_W + GAP
    width, height = len(tokens) * step + 0.2, 3.9
    fig, ax_ = kit.canvas(width, height, figsize=(width * INCH, height * INCH), ax=ax)
    y = 1.75  # the token row
    first = target - n + 1
    for i, tok in enumerate(tokens):
        color = kit.ORANGE if i == target else kit.BLUE if first <= i < target else kit.GREY
        kit.box(ax_, 0.1 + i * step, y, BOX_W, BOX_H, tok, color=color, fontsize=BIG,
                bold=i == target)

    # the window, and the same window one step earlier (dashed): it slides along the sentence
    left, right = 0.1 + first * step - 0.06, 0.1 + target * step + BOX_W + 0.06
    kit.box(ax_, left, y - 0.08, right - left, BOX_H + 0.16, color=kit.INK, filled=False)
    if first > 0:
        kit.box(ax_, left - step, y - 0.2, right - left, BOX_H + 0.4, color=kit.GREY,
                filled=False, dashed=True)
    kit.label(ax_, (left + right) / 2, y - 0.52, f"window of n = {n}", fontsize=TEXT)

    # what the parts are called
    top = y + BOX_H + 0.45
    if n > 1:
        kit.brace(ax_, left + 0.06, 0.1 + (target - 1) * step + BOX_W, top, "context",
                  color=kit.BLUE, fontsize=TEXT)
    kit.label(ax_, 0.1 + target * step + BOX_W / 2, top + 0.28, "next", color=kit.ORANGE,
              fontsize=TEXT, fontweight="bold")

    # the probability the window estimates, by counting
    context = " ".join(tokens[first:target])
    formula = (f"P({tokens[target]} | {context}) = c({context} {tokens[target]}) / c({context})"
               if n > 1 else f"P({tokens[target]}) = c({tokens[target]}) / N")
    kit.label(ax_, width / 2, 0.3, formula, fontsize=TEXT)
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a notebook cell that draws shows no text after it


def kneser_ney_ladder(context: Sequence[str], word: str, ax=None):
    """Where interpolated Kneser-Ney gets P(word | context): one rung per context length.

    Read it as the formula, top to bottom: each rung keeps its discounted counts,
    (c - d)+ / total, and adds lambda(its context) times the rung below, whose context is one
    word shorter; lambda is the mass the discount took away. The top rung's c counts the n-gram;
    the lower rungs' c count the distinct words seen before (continuation counts); the bottom
    is the uniform 1 / |V|. Returns ``ax`` if given (else it shows its own figure).
    """
    context = list(context)
    rungs = []  # (the probability, what its c counts, the lambda that leads to the next rung)
    for m in range(len(context), -1, -1):
        ctx = " ".join(context[len(context) - m:])
        gram = f"“{ctx} {word}”" if ctx else f"“{word}”"
        what = f"c: count of {gram}" if m == len(context) else f"c: # words before {gram}"
        rungs.append((f"P({word} | {ctx})" if ctx else f"P({word})", what,
                      f"λ({ctx})" if ctx else "λ"))
    rungs.append(("1 / |V|", "uniform: every word, <unk> too", ""))

    row, width, box_w, box_h = 1.8, 10.0, 4.3, 1.0
    height = len(rungs) * row - (row - box_h) + 0.1
    fig, ax_ = kit.canvas(width, height, figsize=(width * INCH, height * INCH), ax=ax)
    for r, (name, what, weight) in enumerate(rungs):
        y = height - 0.05 - box_h - r * row  # the rung's box, top rung first
        last = r == len(rungs) - 1
        kit.box(ax_, 0.1, y, box_w, box_h, name, color=kit.GREY if last else kit.BLUE,
                fontsize=TEXT, bold=r == 0)
        text_x = box_w + 0.35
        if last:
            kit.label(ax_, text_x, y + box_h / 2, what, ha="left", fontsize=SMALL,
                      color=kit.MUTED)
            continue
        kit.label(ax_, text_x, y + 0.73, "(c − d)⁺ / total", ha="left", fontsize=SMALL)
        kit.label(ax_, text_x, y + 0.25, what, ha="left", fontsize=SMALL, color=kit.MUTED)
        mid = 0.1 + box_w / 2
        kit.arrow(ax_, (mid, y - 0.02), (mid, y - row + box_h + 0.02), color=kit.ORANGE)
        kit.label(ax_, mid + 0.2, y - (row - box_h) / 2, f"+ {weight} ×", ha="left",
                  fontsize=TEXT, color=kit.ORANGE)
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a notebook cell that draws shows no text after it
