"""Chapter 3's diagrams: the LLaMA decoder, rotary embeddings, head sharing and the KV cache.

    from tinylm.book.diagrams import llama as diagrams

    diagrams.decoder_block()   # embedding, N x [RMSNorm, attention, +; RMSNorm, SwiGLU, +], head
    diagrams.rope_rotation()   # q and k turned by m*theta and n*theta: the angle between them stays
    diagrams.head_sharing()    # MHA, GQA and MQA: which query heads share which key/value head
    diagrams.kv_cache()        # prefill writes the prompt's keys and values, each step appends one

Each draws with `kit` on a fresh figure and shows it (returning None, so that a notebook cell
shows the picture and nothing else), or into ``ax=`` when given: then it only draws, and returns
that axes. The parts a reader (or a test) must find carry a ``gid`` naming them: ``"q:1:3"`` is
query head 3 in the second row of `head_sharing`, and so on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.patches import Arc, Circle

from tinylm.book.diagrams import kit

# One colour per group of query heads that share a key/value head.
GROUP_COLORS = (kit.BLUE, kit.ORANGE, kit.GREEN, kit.RED, kit.PURPLE, kit.TEAL, kit.YELLOW,
                kit.GREY)


def _line(ax, points, color=kit.INK, width=1.3, gid=None):
    """A polyline without an arrow head (a path's last segment is a `kit.arrow`)."""
    xs, ys = zip(*points, strict=True)
    (line,) = ax.plot(xs, ys, color=color, linewidth=width, solid_capstyle="round")
    if gid:
        line.set_gid(gid)
    return line


def _add_node(ax, x, y, gid, r=0.24):
    """A residual addition: a circle with a plus in it."""
    circle = Circle((x, y), r, facecolor="white", edgecolor=kit.INK, linewidth=1.3, zorder=3)
    circle.set_gid(gid)
    ax.add_patch(circle)
    kit.label(ax, x, y, "+", fontsize=14, zorder=4)
    return circle


def _named_box(ax, x, y, w, h, text, color, gid, **kwargs):
    b = kit.box(ax, x, y, w, h, text, color=color, **kwargs)
    b.set_gid(gid)
    return b


# ---- the decoder -----------------------------------------------------------------------------

def decoder_block(n_layers: str = "N", ax=None):
    """LLaMA's decoder from bottom to top: token ids, embedding; ``n_layers`` x [RMSNorm,
    attention with RoPE, residual add; RMSNorm, SwiGLU, residual add]; final RMSNorm, LM head,
    logits.

    The residual stream runs straight up the middle; each sub-layer reads a normalised copy of
    it (pre-norm) and adds its output back.
    """
    fig, ax_ = kit.canvas(7.6, 13.6, ax=ax)
    xc, bw = 4.7, 4.0  # the stream's x, the boxes' width
    x0, skip = xc - bw / 2, 1.75  # boxes' left edge; x of the residual connections
    size = 12

    kit.label(ax_, xc, 0.3, "token ids", fontsize=size, color=kit.MUTED)
    kit.arrow(ax_, (xc, 0.58), (xc, 1.0))
    _named_box(ax_, x0, 1.0, bw, 0.7, "Embedding", kit.GREY, "embedding", fontsize=size)
    frame = kit.box(ax_, 1.15, 2.15, 6.3, 7.65, filled=False, dashed=True, color=kit.GREY,
                    radius=0.2)
    frame.set_gid("layers")
    kit.label(ax_, 0.55, 6.0, f"{n_layers} ×", fontsize=14, fontweight="bold").set_gid("repeat")
    kit.arrow(ax_, (xc, 1.7), (xc, 2.8))

    # attention: RMSNorm, attention with RoPE, add
    _line(ax_, [(xc, 2.45), (skip, 2.45), (skip, 5.5)], gid="residual:attention")
    kit.arrow(ax_, (skip, 5.5), (xc - 0.26, 5.5))
    _named_box(ax_, x0, 2.8, bw, 0.6, "RMSNorm", kit.TEAL, "norm:attention", fontsize=size)
    kit.arrow(ax_, (xc, 3.4), (xc, 3.8))
    _named_box(ax_, x0, 3.8, bw, 1.1, "Attention\nwith RoPE", kit.BLUE, "attention",
               fontsize=size)
    kit.arrow(ax_, (xc, 4.9), (xc, 5.25))
    _add_node(ax_, xc, 5.5, "add:attention")

    # feed-forward: RMSNorm, SwiGLU, add
    kit.arrow(ax_, (xc, 5.75), (xc, 6.2))
    _line(ax_, [(xc, 5.95), (skip, 5.95), (skip, 9.0)], gid="residual:ffn")
    kit.arrow(ax_, (skip, 9.0), (xc - 0.26, 9.0))
    _named_box(ax_, x0, 6.2, bw, 0.6, "RMSNorm", kit.TEAL, "norm:ffn", fontsize=size)
    kit.arrow(ax_, (xc, 6.8), (xc, 7.2))
    _named_box(ax_, x0, 7.2, bw, 1.1, "SwiGLU\nfeed-forward", kit.ORANGE, "ffn", fontsize=size)
    kit.arrow(ax_, (xc, 8.3), (xc, 8.75))
    _add_node(ax_, xc, 9.0, "add:ffn")
    kit.label(ax_, skip - 0.2, 4.0, "residual", fontsize=10.5, color=kit.MUTED, rotation=90)
    kit.label(ax_, skip - 0.2, 7.5, "residual", fontsize=10.5, color=kit.MUTED, rotation=90)

    # after the last block: RMSNorm and the LM head
    kit.arrow(ax_, (xc, 9.25), (xc, 10.3))
    _named_box(ax_, x0, 10.3, bw, 0.6, "RMSNorm", kit.TEAL, "norm:final", fontsize=size)
    kit.arrow(ax_, (xc, 10.9), (xc, 11.3))
    _named_box(ax_, x0, 11.3, bw, 0.7, "LM head (linear)", kit.PURPLE, "head", fontsize=size)
    kit.arrow(ax_, (xc, 12.0), (xc, 12.6))
    kit.label(ax_, xc - 0.4, 12.95, "logits: a score for every token", fontsize=size,
              color=kit.MUTED)
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a cell that draws shows no text after it


# ---- rotary position embeddings --------------------------------------------------------------

def rope_rotation(positions: Sequence[tuple[int, int]] = ((2, 0), (5, 3)),
                  theta_deg: float = 30.0, q_deg: float = 10.0, k_deg: float = 50.0, ax=None):
    """One pair of coordinates of a query and a key, as an arrow in the plane, once per panel.

    In a panel for ``(m, n)`` the query stands at position m and is turned by m * theta, the
    key at position n by n * theta (solid arrows); dashed, the same vectors unturned (position
    0). The angle between the turned arrows is (q_deg + m theta) - (k_deg + n theta): the same
    in every panel with the same m - n, so their dot product is the same too.
    """
    width_per = 4.6
    fig, ax_ = kit.canvas(width_per * len(positions) + 0.2, 6.3, ax=ax)
    ax_.set_ylim(-0.7, 5.6)
    r = 1.45
    for p, (m, n) in enumerate(positions):
        cx, cy = 0.1 + width_per * (p + 0.5), 2.45
        ring = Circle((cx, cy), r, facecolor="none", edgecolor=kit.GREY, linewidth=0.8,
                      linestyle=":")
        ring.set_gid(f"circle:{p}")
        ax_.add_patch(ring)
        ax_.plot([cx - r - 0.2, cx + r + 0.2], [cy, cy], color=kit.GREY, linewidth=0.6)
        ax_.plot([cx, cx], [cy - r - 0.2, cy + r + 0.2], color=kit.GREY, linewidth=0.6)

        def tip(deg, length=r, cx=cx, cy=cy):  # the end of an arrow from the centre
            return (cx + length * math.cos(math.radians(deg)),
                    cy + length * math.sin(math.radians(deg)))

        q_at, k_at = q_deg + m * theta_deg, k_deg + n * theta_deg
        for deg, color in ((q_deg, kit.BLUE), (k_deg, kit.ORANGE)):  # at position 0
            kit.arrow(ax_, (cx, cy), tip(deg, 0.8 * r), color=color, width=1.0, dashed=True)
        kit.arrow(ax_, (cx, cy), tip(q_at), color=kit.BLUE, width=2.2)
        kit.arrow(ax_, (cx, cy), tip(k_at), color=kit.ORANGE, width=2.2)
        qx, qy = tip(q_at, r + 0.32)
        kx, ky = tip(k_at, r + 0.32)
        kit.label(ax_, qx, qy, "q", color=kit.BLUE, fontsize=14,
                  fontweight="bold").set_gid(f"q:{p}")
        kit.label(ax_, kx, ky, "k", color=kit.ORANGE, fontsize=14,
                  fontweight="bold").set_gid(f"k:{p}")
        low, high = sorted((q_at, k_at))
        arc = Arc((cx, cy), 0.9 * r, 0.9 * r, theta1=low, theta2=high, color=kit.INK,
                  linewidth=1.6)
        arc.set_gid(f"angle:{p}")
        ax_.add_patch(arc)
        kit.label(ax_, cx, 5.2, f"q at m = {m}, k at n = {n}", fontsize=13)
        kit.label(ax_, cx, 0.35, f"q turned {m * theta_deg:g}°, k {n * theta_deg:g}°",
                  fontsize=12.5, color=kit.MUTED).set_gid(f"turn-label:{p}")
        kit.label(ax_, cx, -0.3, f"angle between: {abs(q_at - k_at):g}°", fontsize=13,
                  fontweight="bold").set_gid(f"angle-label:{p}")
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a cell that draws shows no text after it


# ---- head sharing: MHA, GQA, MQA -------------------------------------------------------------

def head_sharing(n_heads: int = 8, kv_heads: Sequence[int] = (8, 2, 1), ax=None):
    """One row per attention variant: ``n_heads`` query heads above, the key/value heads below,
    each query head joined to the key/value head it reads. Query heads that share a key/value
    head have its colour. ``kv_heads`` = n_heads is multi-head attention (MHA), 1 is multi-query
    (MQA), anything between is grouped-query (GQA).
    """
    unit, gap, left = 0.8, 0.22, 0.15
    width = left + n_heads * unit + (n_heads - 1) * gap + 0.15
    row_h = 3.75
    fig, ax_ = kit.canvas(width, row_h * len(kv_heads), ax=ax)

    def q_x(i):  # left edge of query head i
        return left + i * (unit + gap)

    for row, kv in enumerate(kv_heads):
        if n_heads % kv:
            raise ValueError(f"kv_heads {kv} must divide n_heads {n_heads}")
        group = n_heads // kv
        top = row_h * (len(kv_heads) - row)
        name = "MHA" if kv == n_heads else "MQA" if kv == 1 else "GQA"
        heads = f"{kv} key/value head{'s' if kv > 1 else ''}"
        what = (f"{name}: {n_heads} query heads, {heads}" if kv == n_heads else
                f"{name}: {n_heads} query heads share {heads}")
        kit.label(ax_, left, top - 0.3, what, ha="left", fontsize=13,
                  fontweight="bold").set_gid(f"title:{row}")
        saving = (f"cache: {heads} per token" if kv == n_heads else
                  f"cache: {heads} per token, {group}× smaller")
        kit.label(ax_, left, top - 0.82, saving, ha="left", fontsize=12,
                  color=kit.MUTED).set_gid(f"saving:{row}")
        y_q, y_kv = top - 1.9, top - 3.35
        # each key/value head sits under the middle of the query heads that read it
        kv_x = [(q_x(j * group) + q_x((j + 1) * group - 1)) / 2 for j in range(kv)]
        for j, x in enumerate(kv_x):
            _named_box(ax_, x, y_kv, unit, 0.7, "kv", GROUP_COLORS[j % len(GROUP_COLORS)],
                       f"kv:{row}:{j}", fontsize=12)
        for i in range(n_heads):
            x, j = q_x(i), i // group
            color = GROUP_COLORS[j % len(GROUP_COLORS)]
            _named_box(ax_, x, y_q, unit, 0.7, "q", color, f"q:{row}:{i}", fontsize=12)
            _line(ax_, [(x + unit / 2, y_q), (kv_x[j] + unit / 2, y_kv + 0.7)], color=color,
                  width=1.4, gid=f"link:{row}:{i}:{j}")
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a cell that draws shows no text after it


# ---- the KV cache ----------------------------------------------------------------------------

def kv_cache(prompt: Sequence[str] = ("The", "cat", "sat"),
             generated: Sequence[str] = ("on", "the", "mat"), ax=None):
    """The cache of one layer while decoding, one row per forward pass, top to bottom.

    Prefill runs the whole prompt at once and writes its keys and values (one column per
    token); each decoding step runs one new token, appends its column, and that token's query
    attends to every column cached so far. New columns are orange, cached ones blue.
    """
    tokens = list(prompt) + list(generated)
    col, left = 1.05, 2.0
    width = left + col * len(tokens) + 0.1
    row_h = 2.5
    rows = 1 + len(generated)
    fig, ax_ = kit.canvas(width, row_h * rows + 0.1, ax=ax)
    for row in range(rows):
        filled = len(prompt) + row
        new = range(len(prompt)) if row == 0 else range(filled - 1, filled)
        top = row_h * (rows - row)
        y_tok, y_k, y_v = top - 0.35, top - 1.05, top - 1.6
        title = "prefill" if row == 0 else f"step {row}"
        kit.label(ax_, 0.1, y_k + 0.2, title, ha="left", fontsize=13,
                  fontweight="bold").set_gid(f"row:{row}")
        for c in range(filled):
            x = left + c * col
            color = kit.ORANGE if c in new else kit.BLUE
            state = "new" if c in new else "cached"
            kit.label(ax_, x + 0.48, y_tok, tokens[c], fontsize=12.5).set_gid(f"token:{row}:{c}")
            _named_box(ax_, x, y_k, col - 0.1, 0.5, "k", color, f"k:{row}:{c}:{state}",
                       fontsize=11)
            _named_box(ax_, x, y_v, col - 0.1, 0.5, "v", color, f"v:{row}:{c}:{state}",
                       fontsize=11)
        x_end = left + filled * col - 0.1
        if row == 0:
            note = f"writes k, v of all {len(prompt)} tokens at once"
        else:
            note = f"query of “{tokens[filled - 1]}” attends to all {filled} keys"
        _line(ax_, [(left, y_v - 0.06), (left, y_v - 0.18), (x_end, y_v - 0.18),
                    (x_end, y_v - 0.06)], color=kit.ORANGE if row else kit.MUTED, width=1.1)
        kit.label(ax_, left, y_v - 0.5, note, ha="left", fontsize=12,
                  color=kit.MUTED).set_gid(f"note:{row}")
    kit.finish(fig, ax)
    return ax_ if ax is not None else None  # a cell that draws shows no text after it
