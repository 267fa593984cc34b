"""Chapter 7's diagrams: Medusa's heads on the model's last hidden state, and a tree of their
guesses with the attention mask and the positions that decode it in one forward pass.

    from tinylm.book.diagrams import medusa as diagrams

    diagrams.medusa_heads(context=["The", "cat", "sat"], guesses=["on", "the", "mat", "."])
    diagrams.tree_attention([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]], root="sat",
                            top=[["on", "in"], ["the", "a"], ["mat"]])

`medusa_heads` is the picture of the idea: the backbone reads the text once; its last hidden
state goes to the output head (the token after it, t + 1) and to K Medusa heads (the tokens
t + 2 to t + K + 1). `tree_attention` lays a tree of guesses out one node per row, in the order
the package numbers them (`tree_order`: the root, then the paths by length, then by rank),
and draws beside each node its row of the attention mask (the cached prompt, its ancestors and
itself) and its position id (its depth). A node's token is its head's guess at its rank,
whatever its parent: head d proposes the same top tokens under every node of depth d - 1.

The mask and the depths are worked out here from the paths themselves (a node sees the nodes
whose path is a prefix of its own), not read from `tinylm.medusa`; the tests check that they
equal `medusa_buffers`. Each function draws with `kit` on a fresh figure and shows it
(returning None), or into ``ax=`` (returning that axes). Parts carry a ``gid`` for the tests:
``"guess:k"`` the token k + 1 places ahead and ``"head:k"`` what guessed it (0 the output
head); ``"node:i"`` node i of the tree, ``"edge:p:i"`` the line from its parent p,
``"cell:i:j:on"`` (or ``:off``) the mask's cell for node i reading node j, ``"prompt:i"`` the
cached prompt in row i, and ``"position:i"`` node i's position id.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylm.book.diagrams import kit

FONT = 17  # large, so that the diagrams read on a phone
SMALL = 15  # column and row labels
CONTEXT, LAST, BACKBONE = kit.GREY, kit.YELLOW, kit.BLUE
OUTPUT_HEAD, MEDUSA_HEAD = kit.TEAL, kit.ORANGE
SEES, HIDDEN = kit.BLUE, kit.GREY


def _done(fig, ax_, ax):
    kit.finish(fig, ax)
    return ax_ if ax is not None else None


# ---- the heads ---------------------------------------------------------------------------------


def medusa_heads(context: Sequence[str] = ("The", "cat", "sat"),
                 guesses: Sequence[str] = ("on", "the", "mat", "."), ax=None):
    """The model reads ``context`` once; its last hidden state h_t feeds the output head,
    which guesses ``guesses[0]`` (the next token, t + 1), and one Medusa head per further
    guess: head k guesses ``guesses[k]``, the token k + 1 places ahead (t + k + 1)."""
    if len(context) < 1 or len(guesses) < 2:
        raise ValueError(f"need at least one context token and two guesses (the output head's "
                         f"and one head's), got {len(context)} and {len(guesses)}")
    rows = len(guesses)
    step = 1.35
    height = rows * step + 0.45
    top = height - 1.6  # the first row's lower edge
    ys = [top - r * step for r in range(rows)]  # one row per guess, the output head first
    middle = (ys[0] + ys[-1]) / 2
    x_ctx, w_ctx = 0.05, 1.55
    x_model, w_model = 2.15, 2.2
    x_h, w_h = 4.85, 1.05
    x_head, w_head = 6.65, 2.5
    x_tok, w_tok = 9.8, 1.9
    width = x_tok + w_tok + 1.05
    fig, ax_ = kit.canvas(width, height, ax=ax)
    for x, w, text in [(x_ctx, w_ctx, "text"), (x_model, w_model, "the model"),
                       (x_head, w_head, "heads"), (x_tok, w_tok + 0.9, "guesses")]:
        kit.label(ax_, x + w / 2, height - 0.32, text, fontsize=FONT - 2, color=kit.MUTED)

    # the text, the last token x_t highlighted
    ctx_step = min(step, (ys[0] - ys[-1]) / max(len(context) - 1, 1))
    ctx_top = middle + ctx_step * (len(context) - 1) / 2
    for i, word in enumerate(context):
        y = ctx_top - i * ctx_step
        last = i == len(context) - 1
        kit.box(ax_, x_ctx, y, w_ctx, 0.9, word, color=LAST if last else CONTEXT,
                fontsize=FONT, bold=last).set_gid(f"context:{i}")
        kit.arrow(ax_, (x_ctx + w_ctx, y + 0.45), (x_model, y + 0.45), color=kit.MUTED)

    # the backbone, read once; its last hidden state
    span_low, span_high = ys[-1], ys[0] + 0.9
    kit.box(ax_, x_model, span_low, w_model, span_high - span_low,
            "backbone\n\nread\nonce", color=BACKBONE, fontsize=FONT).set_gid("backbone")
    kit.box(ax_, x_h, middle, w_h, 0.9, "h$_t$", color=BACKBONE, fontsize=FONT,
            bold=True).set_gid("hidden")
    kit.arrow(ax_, (x_model + w_model, middle + 0.45), (x_h, middle + 0.45), width=1.6)

    # the heads and their guesses
    for k, (y, word) in enumerate(zip(ys, guesses, strict=True)):
        own = k == 0
        color = OUTPUT_HEAD if own else MEDUSA_HEAD
        name = "output head" if own else f"head {k}"
        kit.box(ax_, x_head, y, w_head, 0.9, name, color=color,
                fontsize=FONT - 1).set_gid(f"head:{k}")
        kit.arrow(ax_, (x_h + w_h, middle + 0.45), (x_head, y + 0.45), color=color, width=1.5)
        kit.box(ax_, x_tok, y, w_tok, 0.9, word, color=color, fontsize=FONT).set_gid(f"guess:{k}")
        kit.arrow(ax_, (x_head + w_head, y + 0.45), (x_tok, y + 0.45), color=color, width=1.5)
        kit.label(ax_, x_tok + w_tok + 0.12, y + 0.45, f"t+{k + 1}", ha="left",
                  fontsize=FONT - 2, color=kit.MUTED).set_gid(f"offset:{k}")
    return _done(fig, ax_, ax)


# ---- a tree of guesses -------------------------------------------------------------------------


def tree_order(choices: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """The nodes of the tree ``choices`` (paths of ranks) in the package's order: the root
    ``()`` first, then the paths by length, then by rank."""
    paths = [tuple(p) for p in choices]
    if len(set(paths)) != len(paths) or any(len(p) == 0 for p in paths):
        raise ValueError(f"choices must be distinct non-empty paths, got {list(choices)}")
    missing = [p for p in paths if len(p) > 1 and p[:-1] not in set(paths)]
    if missing:
        raise ValueError(f"paths {missing} need their parents in the tree too")
    return [()] + sorted(paths, key=lambda p: (len(p), p))


def sees(reader: tuple[int, ...], node: tuple[int, ...]) -> bool:
    """Whether the node with path ``reader`` attends to the node with path ``node``: the root,
    its ancestors and itself, the nodes whose path is a prefix of its own."""
    return reader[:len(node)] == node


def tree_attention(choices: Sequence[Sequence[int]] = ([0], [1], [0, 0], [0, 1], [1, 0],
                                                       [0, 0, 0]),
                   root: str = "sat",
                   top: Sequence[Sequence[str]] = (("on", "in"), ("the", "a"), ("mat",)),
                   ax=None):
    """The tree ``choices``, one node per row (``tree_order``), beside its tree attention mask
    and its position ids.

    root: the root's token (the model's own next token); top: ``top[d][r]`` is head d + 1's
    guess at rank r, the token of every node of depth d + 1 whose last step is r. Left: the
    tree, each node in the column of its depth, joined to its parent. Middle: each row of the
    mask, what that node attends to: the cached prompt (always), then one cell per node, filled
    where the node reads it. Right: the position id, the node's depth, counted after the prompt.
    """
    nodes = tree_order(choices)
    depth = max(len(p) for p in nodes)
    if len(top) < depth or any(len(top[len(p) - 1]) <= p[-1] for p in nodes[1:]):
        raise ValueError(f"top must give, for every depth d of the tree, head d's tokens up to "
                         f"the largest rank the tree uses there; got {[len(t) for t in top]}")
    index = {p: i for i, p in enumerate(nodes)}
    tokens = [root] + [top[len(p) - 1][p[-1]] for p in nodes[1:]]
    n = len(nodes)
    row_h, cell = 0.95, 0.8
    col_w, node_w = 2.0, 1.25  # the gap between columns holds the lines to the children
    x_tree = 0.05
    x_num = x_tree + depth * col_w + node_w + 0.25
    x_prompt = x_num + 0.7
    w_prompt = 1.5
    x_grid = x_prompt + w_prompt + 0.15
    x_pos = x_grid + n * cell + 0.55
    width = x_pos + 1.7
    header = 2.3
    height = n * row_h + header
    fig, ax_ = kit.canvas(width, height, ax=ax)

    def y_of(i):  # lower edge of row i
        return height - header - (i + 1) * row_h + 0.08

    box_h = row_h - 0.16
    title_y, sub_y = height - 0.35, height - 1.05
    kit.label(ax_, x_tree + (depth * col_w + node_w) / 2, title_y, "the tree",
              fontsize=FONT + 1, fontweight="bold")
    kit.label(ax_, (x_prompt + x_grid + n * cell) / 2, title_y, "attends to",
              fontsize=FONT + 1, fontweight="bold")
    kit.label(ax_, x_pos + 0.8, title_y, "position", fontsize=FONT + 1, fontweight="bold")
    for d in range(depth + 1):
        kit.label(ax_, x_tree + d * col_w + node_w / 2, sub_y,
                  "root" if d == 0 else f"head {d}", fontsize=SMALL, color=kit.MUTED)
    kit.label(ax_, x_prompt + w_prompt / 2, sub_y, "prompt", fontsize=SMALL,
              color=kit.MUTED)
    for j in range(n):
        kit.label(ax_, x_grid + j * cell + cell / 2, sub_y, str(j), fontsize=SMALL,
                  color=kit.MUTED)
    kit.label(ax_, x_grid + n * cell / 2, height - 1.65, "node", fontsize=SMALL,
              color=kit.MUTED)
    kit.label(ax_, x_pos + 0.8, sub_y, "prompt +", fontsize=SMALL, color=kit.MUTED)

    for i, path in enumerate(nodes):
        y = y_of(i)
        x = x_tree + len(path) * col_w
        color = OUTPUT_HEAD if i == 0 else MEDUSA_HEAD
        kit.box(ax_, x, y, node_w, box_h, tokens[i], color=color,
                fontsize=FONT + 1).set_gid(f"node:{i}")
        if path:  # from the parent's right edge to this node's left edge: the nodes are
            # numbered by depth, then in their parents' order, so these lines never cross
            parent = index[path[:-1]]
            (line,) = ax_.plot([x - col_w + node_w, x], [y_of(parent) + box_h / 2,
                                                         y + box_h / 2],
                               color=kit.MUTED, linewidth=1.4)
            line.set_gid(f"edge:{parent}:{i}")
        kit.label(ax_, x_num + 0.3, y + box_h / 2, str(i), fontsize=SMALL,
                  color=kit.MUTED).set_gid(f"row:{i}")
        kit.box(ax_, x_prompt, y, w_prompt, box_h, "", color=SEES).set_gid(f"prompt:{i}")
        for j, other in enumerate(nodes):
            on = sees(path, other)
            kit.box(ax_, x_grid + j * cell + 0.04, y, cell - 0.08, box_h, "",
                    color=SEES if on else HIDDEN, filled=on,
                    dashed=not on).set_gid(f"cell:{i}:{j}:{'on' if on else 'off'}")
        kit.label(ax_, x_pos + 0.8, y + box_h / 2, str(len(path)),
                  fontsize=FONT + 1).set_gid(f"position:{i}")
    return _done(fig, ax_, ax)
