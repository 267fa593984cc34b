"""Chapter 5's diagrams: the loop of constrained decoding, a regex's automaton, the walk of the
vocabulary's byte trie that builds the token index, and the stack of a pushdown automaton.

    from tinylm.book.diagrams import structured as diagrams

    diagrams.pipeline()                        # prompt -> model -> logits -> mask -> sample,
                                               # the mask read from the index at state s
    diagrams.dfa(r"-?(0|[1-9][0-9]*)", path="-12")   # states, transitions, the states a text visits
    diagrams.trie_walk(r"-?(0|[1-9][0-9]*)", ["1", "12", "-", "-0", "a", "ab"])
    diagrams.json_stack('{"a": [1, [2]]}')    # the open containers after each byte

Each draws with `kit` on a fresh figure and shows it (returning None), or into ``ax=`` when
given (returning that axes). Parts carry a ``gid`` for the tests: ``"stage:mask"`` a box of the
pipeline, ``"loop:advance"`` its arrows back; ``"state:3"`` a state of the DFA and
``"edge:0:1"`` a transition; ``"trie:12"`` the trie node of the token spelling "12"; ``"stack:5"``
the column of byte 5.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from matplotlib.patches import Circle, FancyArrowPatch
from matplotlib.path import Path

from tinylm.book.diagrams import kit

# ---- the loop of constrained decoding ----------------------------------------------------------


def pipeline(ax=None):
    """One step of constrained decoding. Top row: the text so far goes through the model to a
    score for every token; the mask sets the score of every token the constraint does not allow
    to -inf; a token is sampled (or the best taken). Bottom row: the mask is the index's row for
    the automaton's current state s; the chosen token moves the state to next(s, token) and is
    appended to the text, and the loop starts again."""
    width, height = 12.7, 6.3
    fig, ax_ = kit.canvas(width, height, ax=ax)
    w, h, top, low = 2.3, 1.55, 3.65, 0.75
    xs = [0.05, 2.65, 5.25, 7.85, 10.4]
    stages = [("text", "text\nso far", kit.GREY), ("model", "model", kit.BLUE),
              ("logits", "4,096\nscores", kit.BLUE), ("mask", "mask:\n\u2212\u221e if not\nallowed",
                                                       kit.ORANGE),
              ("sample", "sample", kit.BLUE)]
    for x, (key, text, color) in zip(xs, stages, strict=True):
        kit.box(ax_, x, top, w, h, text, color=color, fontsize=16,
                bold=key == "mask").set_gid(f"stage:{key}")
    for a, b in itertools.pairwise(xs):
        kit.arrow(ax_, (a + w, top + h / 2), (b, top + h / 2), width=1.6)
    lower = [("state", "state s", kit.GREEN, xs[2]), ("index", "index[s]:\nallowed ids",
                                                      kit.ORANGE, xs[3]),
             ("advance", "s \u2190\nnext(s, t)", kit.GREEN, xs[4])]
    for key, text, color, x in lower:
        kit.box(ax_, x, low, w, h, text, color=color, fontsize=16).set_gid(f"stage:{key}")
    kit.arrow(ax_, (xs[2] + w, low + h / 2), (xs[3], low + h / 2), width=1.6)
    kit.arrow(ax_, (xs[3] + w / 2, low + h), (xs[3] + w / 2, top), color=kit.ORANGE, width=2)
    kit.arrow(ax_, (xs[4] + w / 2, top), (xs[4] + w / 2, low + h), color=kit.GREEN,
              width=1.6).set_gid("loop:token")
    kit.label(ax_, xs[4] + w / 2 + 0.15, (top + low + h) / 2, "token t", ha="left",
              fontsize=15)
    kit.arrow(ax_, (xs[4] + w / 2, low), (xs[2] + w / 2, low), color=kit.GREEN, width=1.6,
              curve=-0.22).set_gid("loop:advance")
    kit.arrow(ax_, (xs[4] + w / 2, top + h), (xs[0] + w / 2, top + h), color=kit.GREY,
              width=1.6, curve=0.1).set_gid("loop:append")
    kit.label(ax_, width / 2, height - 0.02, "append t to the text", fontsize=15,
              color=kit.MUTED, va="top")
    kit.label(ax_, xs[0] + 0.05, low + h / 2, "index: built\nonce per regex\n"
              "and vocabulary", ha="left", fontsize=14, color=kit.MUTED)
    return _done(fig, ax_, ax)


def _done(fig, ax_, ax):
    kit.finish(fig, ax)
    return ax_ if ax is not None else None


# ---- a small DFA ---------------------------------------------------------------------------------

COLUMN, ROW, RADIUS = 2.1, 1.5, 0.32


def dfa(regex: str, path: str | None = None, ax=None):
    """The character DFA of a small regex, laid out as the automaton explorer lays it out
    (`tinylm.widgets.automaton.dfa_graph`): states as circles (finals doubled), transitions
    labelled with their character classes, an arrow into the initial state. With ``path``,
    the states the text visits are orange and numbered with the step."""
    from tinylm.structured.automaton import CharDFA
    from tinylm.widgets.automaton import dfa_graph

    char_dfa = CharDFA.from_regex(regex)
    graph = dfa_graph(char_dfa)
    visited: dict[int, list[int]] = {}
    if path is not None:
        state = char_dfa.initial
        visited[state] = [0]
        for k, char in enumerate(path, start=1):
            state = char_dfa.transitions[state].get(char_dfa.symbol_of(char))
            if state is None:
                raise ValueError(f"the regex {regex!r} does not accept {path!r} past "
                                 f"{path[:k - 1]!r}")
            visited.setdefault(state, []).append(k)
    min_row = min(n["y"] for n in graph["nodes"])
    width = 1.1 + (graph["columns"] - 1) * COLUMN + 0.7
    height = 2.3 + (graph["rows"] - 1) * ROW
    scale = min(0.85, 10 / width)  # larger than the kit's default: few, small labels
    fig, ax_ = kit.canvas(width, height, figsize=(width * scale, height * scale), ax=ax)
    at = {n["id"]: (1.0 + n["x"] * COLUMN, height - 1.15 - (n["y"] - min_row) * ROW)
          for n in graph["nodes"]}
    for e in graph["edges"]:
        _edge(ax_, at[e["from"]], at[e["to"]], e["label"], e["bend"], e.get("loop", "up"),
              gid=f"edge:{e['from']}:{e['to']}")
    loops = {e["from"]: e["loop"] for e in graph["edges"] if "loop" in e}
    x0, y0 = at[graph["initial"]]
    kit.arrow(ax_, (x0 - RADIUS - 0.55, y0), (x0 - RADIUS, y0), width=1.4)
    for n in graph["nodes"]:
        x, y = at[n["id"]]
        steps = visited.get(n["id"])
        color = kit.ORANGE if steps else kit.INK
        circle = Circle((x, y), RADIUS, facecolor=kit.LIGHT[kit.ORANGE] if steps else "white",
                        edgecolor=color, linewidth=2 if steps else 1.4, gid=f"state:{n['id']}")
        ax_.add_patch(circle)
        if n["final"]:
            ax_.add_patch(Circle((x, y), RADIUS - 0.07, facecolor="none", edgecolor=color,
                                 linewidth=1.1))
        kit.label(ax_, x, y, str(n["id"]), fontsize=13)
        if steps:  # under the state, or above right of it when its loop hangs below
            below = loops.get(n["id"]) != "down"
            kit.label(ax_, x if below else x + RADIUS * 0.8, y - RADIUS - 0.12 if below
                      else y + RADIUS + 0.02, "step " + ", ".join(map(str, steps)),
                      fontsize=11.5, color=kit.ORANGE, va="top" if below else "bottom",
                      ha="center" if below else "left")
    return _done(fig, ax_, ax)


def _edge(ax, a, b, text, bend, loop, gid):
    """A transition from a to b (points in data units, y up), bowed by ``bend`` (the widget's
    convention: a fraction of the length, to the right of the direction in a y-down picture);
    a loop (a == b) goes above the state, or below it when ``loop`` is "down"."""
    if a == b:
        x, y = a
        up = 1 if loop == "up" else -1
        verts = [(x - 0.13, y + up * (RADIUS - 0.02)), (x - 0.5, y + up * 1.05),
                 (x + 0.5, y + up * 1.05), (x + 0.13, y + up * (RADIUS - 0.02))]
        path = Path(verts, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
        mid = (x, y + up * 0.86)
    else:
        (x1, y1), (x2, y2) = a, b
        dx, dy = x2 - x1, y2 - y1
        # y-down "right of the direction" is y-up "left of it": (-dy, dx) in y-up becomes
        # (dy, -dx) in y-down, so the control point moves by bend * (dy, -dx) here.
        cx, cy = (x1 + x2) / 2 + bend * dy, (y1 + y2) / 2 - bend * dx

        def towards(p, q):
            d = ((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2) ** 0.5 or 1.0
            return (p[0] + RADIUS * (q[0] - p[0]) / d, p[1] + RADIUS * (q[1] - p[1]) / d)

        start, end = towards(a, (cx, cy)), towards(b, (cx, cy))
        path = Path([start, (cx, cy), end], [Path.MOVETO, Path.CURVE3, Path.CURVE3])
        mid = (0.25 * start[0] + 0.5 * cx + 0.25 * end[0],
               0.25 * start[1] + 0.5 * cy + 0.25 * end[1])
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=13,
                                 color=kit.MUTED, linewidth=1.3, gid=gid))
    kit.label(ax, mid[0], mid[1], text, fontsize=12.5, family="monospace",
              bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none",
                        alpha=0.9))


# ---- building the index: walking the vocabulary's trie ------------------------------------------


def trie_walk(regex: str, tokens: Sequence[str], state: int | None = None, ax=None):
    """The byte trie of ``tokens`` walked from one state of the regex's byte DFA, as
    ``tinylm.structured.index_kernels`` walks it: one node per prefix, the DFA state reached
    written in it. A byte that kills the match (the dead state) cuts its whole subtree, which is
    never visited (grey); a token whose node is reached is allowed (green, with the state it
    leads to). ``state`` defaults to the initial state."""
    from tinylm.structured.automaton import DEAD, ByteDFA

    byte_dfa = ByteDFA.from_regex(regex)
    state = byte_dfa.initial if state is None else state
    tokens = list(dict.fromkeys(tokens))
    nodes: dict[bytes, int | None] = {b"": state}  # prefix -> DFA state (None: never visited)
    for token in tokens:
        data = token.encode("utf-8")
        for i in range(1, len(data) + 1):
            prefix = data[:i]
            if prefix not in nodes:
                parent = nodes[prefix[:-1]]
                nodes[prefix] = None if parent in (None, DEAD) else int(
                    byte_dfa.transitions[parent, prefix[-1]])
    children: dict[bytes, list[bytes]] = {}
    for prefix in nodes:
        if prefix:
            children.setdefault(prefix[:-1], []).append(prefix)
    ends = {t.encode("utf-8") for t in tokens}

    # leaves left to right, each inner node above the middle of its leaves
    order: list[bytes] = []

    def leaves(prefix):
        kids = sorted(children.get(prefix, []))
        if not kids:
            order.append(prefix)
        for kid in kids:
            leaves(kid)

    leaves(b"")
    depth = max(len(p) for p in nodes)
    col, row_h, w, h = 1.75, 1.3, 1.5, 0.66
    width, height = col * len(order) + 0.3, row_h * depth + h + 0.95
    x_of: dict[bytes, float] = {}

    def place(prefix) -> float:
        kids = sorted(children.get(prefix, []))
        x_of[prefix] = (0.2 + col * order.index(prefix) + w / 2 if not kids
                        else sum(place(k) for k in kids) / len(kids))
        return x_of[prefix]

    place(b"")
    fig, ax_ = kit.canvas(width, height, ax=ax)

    def y_of(prefix):
        return height - 0.35 - h - row_h * len(prefix)

    for prefix, reached in nodes.items():
        x, y = x_of[prefix], y_of(prefix)
        if prefix:
            px, py = x_of[prefix[:-1]], y_of(prefix[:-1])
            alive = reached is not None and reached != DEAD
            kit.arrow(ax_, (px, py), (x, y + h), color=kit.INK if alive else kit.GREY,
                      dashed=reached is None, width=1.4)
            byte = chr(prefix[-1]) if 32 < prefix[-1] < 127 else f"\\x{prefix[-1]:02x}"
            lx, ly = px + 0.62 * (x - px), py + 0.62 * (y + h - py)  # nearer the child
            kit.label(ax_, lx - 0.1, ly, byte, fontsize=13, family="monospace", ha="right",
                      color=kit.INK if alive else kit.MUTED)
        if not prefix:
            text, color, filled = f"state {state}", kit.BLUE, True
        elif reached is None:
            text, color, filled = _spelled(prefix), kit.GREY, False
        elif reached == DEAD:
            text, color, filled = f"{_spelled(prefix)} \u2717", kit.RED, True
        elif prefix in ends:
            text, color, filled = f"{_spelled(prefix)} \u2192 {reached}", kit.GREEN, True
        else:
            text, color, filled = f"{reached}", kit.BLUE, True
        patch = kit.box(ax_, x - w / 2, y, w, h, "", color=color, filled=filled,
                        dashed=reached is None and bool(prefix))
        patch.set_gid(f"trie:{prefix.decode('utf-8', 'backslashreplace')}")
        kit.label(ax_, x, y + h / 2, text, fontsize=12.5, family="monospace",
                  color=kit.MUTED if reached is None else kit.INK,
                  weight="bold" if prefix in ends and reached not in (None, DEAD) else "normal")
    return _done(fig, ax_, ax)


def _spelled(prefix: bytes) -> str:
    """A prefix as the trie's box shows it: its characters, a space as ␣."""
    return prefix.decode("utf-8", "backslashreplace").replace(" ", "\u2423")


# ---- nesting: the stack of the pushdown automaton ------------------------------------------------


def json_stack(text: str, ax=None):
    """The containers still open after each byte of a JSON text, as ``JsonGrammar`` reads it:
    one column per byte, the stack drawn upwards (innermost on top), objects blue, arrays
    orange. A finite automaton would need one state per depth; the stack grows instead."""
    from tinylm.structured.json_grammar import OBJECT, JsonGrammar

    grammar = JsonGrammar(root="any")
    state = grammar.initial_state
    stacks = []
    data = text.encode("utf-8")
    for k in range(len(data)):
        state = grammar.read(state, data[k:k + 1])
        if state is None:
            raise ValueError(f"{text!r} is not JSON: byte {k} ({data[k:k + 1]!r}) is refused")
        stacks.append(state.stack)
    deepest = max((len(s) for s in stacks), default=0)
    cell_w, cell_h = 0.75, 0.62
    width, height = 1.55 + cell_w * len(data), cell_h * deepest + 1.7
    fig, ax_ = kit.canvas(width, height, ax=ax)
    kit.label(ax_, 0.05, 0.45, "byte", ha="left", fontsize=15, color=kit.MUTED)
    kit.label(ax_, 0.05, 0.9 + cell_h / 2, "stack", ha="left", fontsize=15, color=kit.MUTED)
    for k, stack in enumerate(stacks):
        x = 1.45 + cell_w * k
        char = chr(data[k]) if data[k] < 128 else "\u00b7"
        kit.label(ax_, x + cell_w / 2, 0.45, "\u2423" if char == " " else char, fontsize=17,
                  family="monospace")
        column = []
        for level, container in enumerate(stack):
            color = kit.BLUE if container == OBJECT else kit.ORANGE
            column.append(kit.box(ax_, x + 0.04, 0.85 + level * cell_h, cell_w - 0.08,
                                  cell_h - 0.06, "{" if container == OBJECT else "[",
                                  color=color, fontsize=15, radius=0.05))
        for patch in column:
            patch.set_gid(f"stack:{k}")
    return _done(fig, ax_, ax)
