"""Chapter 3b's diagrams: a word coming together from its bytes by BPE merges, and one step of
the training loop, from a batch of windows to updated weights.

    from tinylm.book.diagrams import training as diagrams

    diagrams.merge_steps(steps, merges)  # one row per step, the token made at each step in orange
    diagrams.training_step()   # window -> inputs and shifted targets -> model -> loss ->
                               # backward -> clip -> AdamW (learning rate from the schedule)

Each draws with `kit` on a fresh figure and shows it (returning None), or into ``ax=`` when
given (returning that axes). Parts carry a ``gid``: in `merge_steps`, ``"token:2:1"`` is the
second token of step 2, ``"merge:2"`` the label of the merge made at step 2, ``"step:2"`` the
row's name; in `training_step`, ``"input:2"`` and ``"target:2"`` are the third input token and
the token it must predict, ``"stage:loss"`` a stage of the step, ``"schedule"`` the
learning-rate schedule, ``"loop"`` the line back to the next batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylm.book.diagrams import kit

# ---- byte-pair encoding: a word coming together ----------------------------------------------

ROW = 0.95  # height of a step's row
LEFT = 1.9  # room for the step's name, left of the tokens


def label(token: bytes) -> str:
    """A token's bytes as text, its spaces written "␣" (bytes that are no character: \\xNN)."""
    return token.decode("utf-8", "backslashreplace").replace(" ", "\u2423")


def merge_steps(steps: Sequence[Sequence[bytes]], merges: Sequence[str] = (), ax=None):
    """The tokens of a text after 0, 1, 2, ... merges, one row per step, top to bottom.

    steps:  the tokens (bytes) of each step, each step the previous one with one merge
            applied, as ``tinylm.bpe.BPETokenizer.merge_steps`` returns them; every token is
            drawn as wide as it has bytes, so a merge joins the two boxes above it into one,
            and the token made at a step is orange
    merges: a label per merge (one fewer than ``steps``), written right of its row
    """
    if not steps:
        raise ValueError("steps must hold at least one step (the bytes)")
    widths = [[len(t) for t in step] for step in steps]
    n_bytes = sum(widths[0])
    if any(sum(w) != n_bytes for w in widths):
        raise ValueError("every step must spell the same bytes")
    if merges and len(merges) != len(steps) - 1:
        raise ValueError(f"one merge label per step after the first: expected "
                         f"{len(steps) - 1}, got {len(merges)}")
    label_room = 0.6 + 0.26 * max((len(m) for m in merges), default=0)
    width, height = LEFT + n_bytes + label_room, ROW * len(steps) + 0.5
    fig, ax_ = kit.canvas(width, height, ax=ax)
    previous = None
    for row, (tokens, sizes) in enumerate(zip(steps, widths, strict=True)):
        y = height - 0.45 - ROW * (row + 1)
        name = "bytes" if row == 0 else f"step {row}"
        kit.label(ax_, LEFT - 0.2, y + ROW * 0.42, name, ha="right", fontsize=13,
                  color=kit.MUTED).set_gid(f"step:{row}")
        edges, x = [], LEFT
        for size in sizes:
            edges.append((x, x + size))
            x += size
        for i, (token, (x0, x1)) in enumerate(zip(tokens, edges, strict=True)):
            new = previous is not None and (x0, x1) not in previous
            box = kit.box(ax_, x0 + 0.04, y, x1 - x0 - 0.08, ROW * 0.84, label(token),
                          color=kit.ORANGE if new else kit.BLUE, fontsize=15, bold=new)
            box.set_gid(f"token:{row}:{i}")
        if row and merges:
            kit.label(ax_, LEFT + n_bytes + 0.3, y + ROW * 0.42, merges[row - 1], ha="left",
                      fontsize=14, color=kit.INK).set_gid(f"merge:{row}")
        previous = set(edges)
    kit.finish(fig, ax)
    return ax_ if ax is not None else None


# ---- one training step ----------------------------------------------------------------------

# The stages of one step, top to bottom: (gid, text, colour).
STAGES = (
    ("model", "model(inputs): logits\n(batch, seq, vocab)", kit.PURPLE),
    ("loss", "cross-entropy with the targets:\nthe loss, one number", kit.RED),
    ("backward", "loss.backward():\na gradient for every weight", kit.TEAL),
    ("clip", "clip: global gradient norm ≤ 1", kit.GREEN),
    ("adamw", "AdamW step: weights move", kit.BLUE),
)


def training_step(window: Sequence[str] = ("<s>", "Once", "␣upon", "␣a", "␣time", ","),
                  ax=None):
    """One training step of the zoo's loop.

    A window of seq + 1 tokens (``window``, drawn as one of the batch) gives the inputs, its
    first seq tokens, and the targets, the same tokens shifted by one: each input position
    must predict the token after it. The model's logits and the targets give the loss; its
    gradient (backward) is clipped, and AdamW moves the weights with the learning rate the
    warm-up + cosine schedule gives this step. Then the next batch.
    """
    window = list(window)
    if len(window) < 2:
        raise ValueError(f"a window needs at least 2 tokens (an input and its target), "
                         f"got {len(window)}")
    seq = len(window) - 1
    cell, x0 = 1.45, 2.3  # width of a token box, left edge of the first
    width = max(x0 + cell * seq + 0.3, 9.6)
    bh, gap = 0.95, 0.42  # height of a stage's box, and the space between two
    height = 0.8 + 2.75 + 1.0 + len(STAGES) * bh + (len(STAGES) - 1) * gap + 0.3
    fig, ax_ = kit.canvas(width, height, ax=ax)
    size = 11.5

    # the window, then inputs over targets: target i is window token i + 1
    top = height - 0.8
    kit.label(ax_, 0.55, top + 0.3, f"one window of the batch: seq + 1 = {seq + 1} tokens",
              ha="left",
              fontsize=size, color=kit.MUTED).set_gid("window-title")
    y_in, y_out = top - 1.35, top - 2.75
    kit.label(ax_, x0 - 0.2, y_in + 0.3, "inputs", ha="right", fontsize=size,
              fontweight="bold").set_gid("inputs")
    kit.label(ax_, x0 - 0.2, y_out + 0.3, "targets", ha="right", fontsize=size,
              fontweight="bold").set_gid("targets")
    for i in range(seq):
        x = x0 + cell * i
        kit.box(ax_, x + 0.05, y_in, cell - 0.1, 0.6, window[i], color=kit.BLUE,
                fontsize=size).set_gid(f"input:{i}")
        kit.box(ax_, x + 0.05, y_out, cell - 0.1, 0.6, window[i + 1], color=kit.ORANGE,
                fontsize=size).set_gid(f"target:{i}")
        kit.arrow(ax_, (x + cell / 2, y_in - 0.02), (x + cell / 2, y_out + 0.62),
                  color=kit.MUTED, width=1.0)
    kit.label(ax_, x0 + cell * seq / 2, y_out - 0.35,
              "each position predicts the token after it (shifted by one)", fontsize=10,
              color=kit.MUTED).set_gid("shift-note")

    # the stages of the step, top to bottom
    bx, bw = 0.9, width - 4.2
    y = y_out - 1.0 - bh
    centres = {}
    for gid, text, colour in STAGES:
        kit.box(ax_, bx, y, bw, bh, text, color=colour, fontsize=size).set_gid(f"stage:{gid}")
        centres[gid] = (bx + bw / 2, y + bh / 2)
        y -= bh + gap
    names = [gid for gid, _, _ in STAGES]
    for a, b in zip(names, names[1:], strict=False):
        kit.arrow(ax_, (centres[a][0], centres[a][1] - bh / 2),
                  (centres[b][0], centres[b][1] + bh / 2))
    kit.arrow(ax_, (bx + bw / 2, y_out - 0.55), (centres["model"][0],
                                                 centres["model"][1] + bh / 2))

    # the schedule hands AdamW its learning rate; then the next batch
    sx, sw = bx + bw + 0.35, width - bx - bw - 0.45
    sy = centres["clip"][1] - 0.1
    kit.box(ax_, sx, sy, sw, 1.55, "schedule:\nwarm-up,\ncosine\nlr(step)", color=kit.YELLOW,
            fontsize=10.5).set_gid("schedule")
    kit.arrow(ax_, (sx + sw / 2, sy), (bx + bw + 0.02, centres["adamw"][1]), curve=-0.25)
    # up the left margin, back to the top: the next batch
    loop_x, loop_y = 0.25, centres["adamw"][1]
    xs, ys = (bx, loop_x, loop_x), (loop_y, loop_y, top + 0.3)
    (line,) = ax_.plot(xs, ys, color=kit.MUTED, linewidth=1.3, linestyle="--")
    line.set_gid("loop")
    kit.arrow(ax_, (loop_x, top + 0.3), (0.5, top + 0.3), color=kit.MUTED)
    kit.label(ax_, loop_x + 0.3, (centres["model"][1] + centres["loss"][1]) / 2, "next batch",
              rotation=90, fontsize=10.5, color=kit.MUTED).set_gid("next-batch")
    kit.finish(fig, ax)
    return ax_ if ax is not None else None
