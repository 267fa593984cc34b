"""The automaton explorer: a regex's automaton, the state as text grows token by token, and the
mask of allowed tokens at every step.

Constrained decoding (``tinylm.structured``) keeps one automaton state per sequence; before each
token it asks the token index which of the vocabulary's tokens may come next, and masks the
others. `AutomatonExplorer` shows that loop for a few regexes: a slider (and buttons) walks a
token path one token at a time; for each step the page shows the text so far as tokens, the
state reached, the mask over all the vocabulary's ids (a 64 x 64 map, one square per token
id), how many tokens survive and a sample of them.

Two kinds of automata, so the page stays light:

- **small** ones (at most 255 byte states) carry their byte-level DFA and the bytes of every
  token: the page computes the mask of any state itself, so the reader can extend the path by
  clicking any allowed token. When the character DFA is small enough it is drawn (states as
  circles, transitions labelled with their character classes) and the current state lights up;
- **large** ones (a JSON Schema's regex has thousands of states) carry only their demo path:
  per step, the state and the mask (a 512-byte bitmask). The graph is replaced by a strip of
  the number of allowed tokens at each step.

`automaton_state` builds what the page draws; `expected_steps` computes with
``tinylm.structured.Index`` what the page must show, for the tests. `dfa_graph` lays out a
character DFA (the book's diagram of a DFA uses it too).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping, Sequence

import anywidget
import numpy as np
import traitlets

from tinylm.widgets._assets import css, esm

SAMPLES = 20  # how many allowed tokens the page lists per step
MAX_LIVE_STATES = 255  # byte DFAs up to this size are embedded (one byte per transition)
MAX_GRAPH_STATES = 14  # character DFAs up to this size are drawn
MAX_PATH = 400  # the longest demo path (tokens)
DEAD = 0  # the byte DFA's dead state (tinylm.structured.automaton)


class AutomatonExplorer(anywidget.AnyWidget):
    """Regexes as automata, and the tokens each state allows, step by step.

    automata: a list of specs, each a dict with ``name`` (the selector's label), ``regex`` and
              ``path`` (the text to walk, tokenised with ``tokenizer``, or a list of token
              ids), and optionally ``note`` (a sentence shown under the regex) and ``index``
              (a ``tinylm.structured.Index`` of that regex, to avoid building it twice).
    tokenizer: the course tokenizer (default) or another byte-level BPE ``tokenizers.Tokenizer``.
    selected:  which automaton the page opens on; step: the step it opens on (default 0).
    """

    _esm = esm("automaton")
    _css = css("automaton")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, automata: Sequence[Mapping], tokenizer=None, *, selected: int = 0,
                 step: int = 0, title: str | None = None, samples: int = SAMPLES):
        state = automaton_state(automata, tokenizer, samples=samples)
        if not 0 <= selected < len(state["automata"]):
            raise ValueError(f"selected must be in 0..{len(state['automata']) - 1}, got "
                             f"{selected}")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        super().__init__(data={**state, "selected": selected, "step": step,
                               "title": title or ""})


# ---- the vocabulary ----------------------------------------------------------------------------


def _vocabulary(tokenizer):
    from tinylm.structured import Vocabulary
    from tinylm.tokenizer import load_tokenizer

    tokenizer = load_tokenizer() if tokenizer is None else tokenizer
    return tokenizer, Vocabulary.from_tokenizer(tokenizer)


def vocabulary_state(tokenizer, vocabulary) -> dict:
    """Every token id's label (as the BPE viewer writes tokens: a space as ␣; special tokens by
    name) and, in base64, its bytes: ``token_lengths`` (uint8 per id, 0 for special tokens)
    and ``token_bytes`` (all tokens' bytes, end to end)."""
    from tinylm.widgets.bpe_merges import token_label

    size = vocabulary.size
    labels, lengths, chunks = [], [], []
    for token_id in range(size):
        try:
            data = vocabulary.token_bytes(token_id)
        except ValueError:  # EOS and the other special tokens spell nothing
            name = tokenizer.id_to_token(token_id) if hasattr(tokenizer, "id_to_token") else None
            labels.append(name or f"<{token_id}>")
            lengths.append(0)
            continue
        if len(data) > 255:
            raise ValueError(f"token {token_id} has {len(data)} bytes; the page reads at most 255")
        labels.append(token_label(data))
        lengths.append(len(data))
        chunks.append(data)
    return {"vocab_size": size, "eos": vocabulary.eos_token_id, "labels": labels,
            "token_lengths": _b64(np.array(lengths, dtype=np.uint8).tobytes()),
            "token_bytes": _b64(b"".join(chunks))}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mask_bits(allowed_ids, size: int) -> str:
    """A mask over ``size`` token ids as base64: bit ``i % 8`` of byte ``i // 8`` is token i."""
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(allowed_ids, dtype=np.int64)] = True
    return _b64(np.packbits(mask, bitorder="little").tobytes())


def sample_ids(allowed: Sequence[int], k: int = SAMPLES) -> list[int]:
    """``k`` of the allowed ids (ascending), evenly spaced: item ``i * (n - 1) // (k - 1)``
    for i = 0 .. k-1; all of them if there are at most ``k``. automaton.js picks the same."""
    n = len(allowed)
    if n <= k:
        return list(allowed)
    return [allowed[i * (n - 1) // (k - 1)] for i in range(k)]


# ---- the character DFA as a graph ----------------------------------------------------------------


def _show_char(code_point: int) -> str:
    char = chr(code_point)
    if char == " ":
        return "\u2423"
    if char in "\\-]^[":
        return "\\" + char
    if code_point < 0x20 or 0x7F <= code_point < 0xA0:
        return f"\\x{code_point:02x}"
    if not char.isprintable():
        return f"\\u{code_point:04x}" if code_point <= 0xFFFF else f"\\U{code_point:08x}"
    return char


def class_label(ranges) -> str:
    """A set of characters, given as (first, last) code point ranges, as a short class:
    one character as itself (a space as ␣), a few as ``[0-9]``, most of Unicode as the
    negated class of what is left out (``[^"\\\\]``), all of it as ``.``."""
    from tinylm.structured.automaton import N_CHARACTERS, complement, normalize_ranges

    ranges = normalize_ranges(ranges)
    size = sum(hi - lo + 1 for lo, hi in ranges)
    if size >= N_CHARACTERS:
        return "."
    negate = size > N_CHARACTERS // 2
    shown = complement(ranges) if negate else ranges
    if not negate and len(shown) == 1 and shown[0][0] == shown[0][1]:  # one character
        char = chr(shown[0][0])
        return char if char in "\\-]^[" else _show_char(shown[0][0])
    items = "".join(_show_char(lo) if lo == hi else
                    f"{_show_char(lo)}{_show_char(hi)}" if hi == lo + 1 else
                    f"{_show_char(lo)}-{_show_char(hi)}" for lo, hi in shown)
    return f"[{'^' if negate else ''}{items}]"


def dfa_graph(char_dfa) -> dict:
    """A character DFA laid out in columns, left to right in reading order.

    A state's column is the length of the longest path to it from the initial state, loops
    left out (the edges a depth-first search finds going back to a state it is still inside),
    so every other edge points right. Returns ``{"nodes": [{"id", "x", "y", "final"}],
    "edges": [{"from", "to", "label"}], "initial": 0, "columns", "rows"}``: x is the column,
    y the row, centred on 0 within a column; the symbols that join the same two states share
    one edge, labelled with `class_label` of their characters.
    """
    successors = [sorted(set(row.values())) for row in char_dfa.transitions]
    finished: list[int] = []  # states in depth-first postorder
    back_edges, on_stack, seen = set(), set(), set()

    def visit(state: int) -> None:
        seen.add(state)
        on_stack.add(state)
        for nxt in successors[state]:
            if nxt in on_stack:
                back_edges.add((state, nxt))
            elif nxt not in seen:
                visit(nxt)
        on_stack.discard(state)
        finished.append(state)

    visit(char_dfa.initial)
    depth = {state: 0 for state in finished}
    for state in reversed(finished):  # a topological order of the forward edges
        for nxt in successors[state]:
            if (state, nxt) not in back_edges:
                depth[nxt] = max(depth[nxt], depth[state] + 1)
    order = []  # breadth first, for a stable order within each column
    queue, queued = deque([char_dfa.initial]), {char_dfa.initial}
    while queue:
        state = queue.popleft()
        order.append(state)
        for nxt in successors[state]:
            if nxt not in queued:
                queued.add(nxt)
                queue.append(nxt)
    columns: dict[int, list[int]] = {}
    for state in order:
        columns.setdefault(depth[state], []).append(state)
    rows = _rows(columns, successors, back_edges, char_dfa.initial)
    position = {state: (depth[state], rows[state]) for state in order}
    nodes = [{"id": s, "x": position[s][0], "y": position[s][1],
              "final": s in char_dfa.finals} for s in sorted(order)]
    edges = []
    for state, row in enumerate(char_dfa.transitions):
        targets: dict[int, list] = {}
        for symbol, nxt in sorted(row.items()):
            targets.setdefault(nxt, []).extend(char_dfa.symbol_ranges[symbol])
        for nxt, ranges in sorted(targets.items()):
            edge = {"from": state, "to": nxt, "label": class_label(ranges),
                    "bend": _bend(state, nxt, position, successors)}
            if nxt == state:  # a loop: above the state, unless another one sits right above
                x, y = position[state]
                above = any(px == x and y - 1.01 < py < y for s, (px, py) in position.items())
                edge["loop"] = "down" if above else "up"
            edges.append(edge)
    return {"nodes": nodes, "edges": edges, "initial": char_dfa.initial,
            "columns": max(columns) + 1,
            "rows": max(r for _, r in position.values()) - min(r for _, r in position.values())
            + 1}


def _rows(columns, successors, back_edges, initial) -> dict[int, float]:
    """Each state's row: the mean row of the states with a forward edge into it, then spread
    so that states of one column stay a row apart (a simple barycentre layout)."""
    predecessors: dict[int, list[int]] = {}
    for state, nexts in enumerate(successors):
        for nxt in nexts:
            if (state, nxt) not in back_edges and nxt != state:
                predecessors.setdefault(nxt, []).append(state)
    rows = {initial: 0.0}
    for x in sorted(columns):
        states = columns[x]
        wanted = {s: (sum(rows[p] for p in predecessors[s] if p in rows)
                      / max(1, sum(p in rows for p in predecessors[s])))
                  if predecessors.get(s) else 0.0 for s in states}
        ordered = sorted(states, key=lambda s: (wanted[s], states.index(s)))
        placed: list[float] = []
        for s in ordered:
            placed.append(wanted[s] if not placed else max(wanted[s], placed[-1] + 1))
        shift = sum(wanted.values()) / len(states) - sum(placed) / len(placed)
        for s, y in zip(ordered, placed, strict=True):
            rows[s] = round(y + shift, 3)
    return rows


def _bend(start: int, end: int, position, successors) -> float:
    """How far an edge's curve bows out, as a fraction of its length (0: straight; >0: to
    the right of its direction in a y-down picture). An edge bends when the straight line
    would pass near another state, or when the opposite edge exists (they then bow apart)."""
    if start == end:
        return 0.0
    (ax, ay), (bx, by) = position[start], position[end]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    side = 0.0
    for state, (px, py) in position.items():
        if state in (start, end):
            continue
        t = ((px - ax) * dx + (py - ay) * dy) / length2
        if 0 < t < 1 and ((ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2) < 0.35 ** 2:
            side = dx * (py - ay) - dy * (px - ax) or 1.0  # > 0: the state lies to the right
            break
    if side:
        return -0.35 if side > 0 else 0.35
    if start in successors[end]:
        return 0.2
    return 0.0


# ---- the page's state --------------------------------------------------------------------------


def _path_ids(path, tokenizer, vocabulary, name: str) -> list[int]:
    if isinstance(path, str):
        ids = tokenizer.encode(path, add_special_tokens=False).ids
    elif isinstance(path, Sequence) and not isinstance(path, bytes):
        ids = [int(i) for i in path]
    else:
        raise TypeError(f"{name}: path must be a str or a list of token ids, got "
                        f"{type(path).__name__}")
    if len(ids) > MAX_PATH:
        raise ValueError(f"{name}: the path has {len(ids)} tokens; at most {MAX_PATH}")
    if ids and ids[-1] == vocabulary.eos_token_id:
        ids = ids[:-1]  # the page shows EOS as allowed at the end, not as a token
    return ids


def walk_path(index, path: Sequence[int]) -> list[int]:
    """The states along ``path``: before its first token, then after each (raises ValueError
    at the first token the index does not allow)."""
    states = [index.initial_state]
    for k, token in enumerate(path):
        nxt = index.next_state(states[-1], token)
        if nxt is None:
            raise ValueError(f"token {token} (step {k} of the path) is not allowed in state "
                             f"{states[-1]} of {index.regex!r:.60}")
        states.append(nxt)
    return states


def automaton_state(automata: Sequence[Mapping], tokenizer=None, samples: int = SAMPLES) -> dict:
    """The JSON-ready state `AutomatonExplorer` draws.

    Shared: `vocabulary_state` (labels and bytes of every token id) and ``samples``. Per
    automaton: ``name``, ``regex``, ``note``, ``path`` (token ids, no EOS), ``n_states`` (byte
    DFA), ``n_char_states`` and ``live``. A live automaton has ``dfa`` (base64, uint8
    transitions, ``n_states`` x 256 row by row), ``finals`` (byte states), ``initial`` and
    ``graph`` (`dfa_graph`, or None when too big to draw); a large one has ``steps``, one per
    step of the path (after 0, 1, ... tokens): ``{"state", "mask"}`` (`mask_bits`).
    """
    from tinylm.structured import Index
    from tinylm.structured.automaton import CharDFA

    if isinstance(automata, Mapping) or not isinstance(automata, Sequence) or not automata:
        raise TypeError("automata must be a non-empty list of specs {name, regex, path}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an int >= 2, got {samples!r}")
    tokenizer, vocabulary = _vocabulary(tokenizer)
    out = {**vocabulary_state(tokenizer, vocabulary), "samples": samples, "automata": []}
    for i, spec in enumerate(automata):
        if not isinstance(spec, Mapping) or not {"name", "regex", "path"} <= set(spec):
            raise TypeError(f"automaton {i} must be a dict with name, regex and path, got "
                            f"{spec!r:.80}")
        name, regex = str(spec["name"]), spec["regex"]
        index = spec.get("index")
        if index is None:
            index = Index(regex, vocabulary)
        elif index.regex != regex:
            raise ValueError(f"{name}: the index given is for another regex")
        path = _path_ids(spec["path"], tokenizer, vocabulary, name)
        states = walk_path(index, path)
        char_dfa = CharDFA.from_regex(regex)
        entry = {"name": name, "regex": regex, "note": str(spec.get("note", "")),
                 "path": path, "n_states": index.n_states,
                 "n_char_states": char_dfa.n_states, "live": index.n_states <= MAX_LIVE_STATES}
        if entry["live"]:
            dfa = index.dfa
            entry.update(dfa=_b64(dfa.transitions.astype(np.uint8).tobytes()),
                         finals=np.flatnonzero(dfa.finals).tolist(), initial=dfa.initial,
                         graph=dfa_graph(char_dfa) if char_dfa.n_states <= MAX_GRAPH_STATES
                         else None)
        else:
            entry["steps"] = [{"state": s, "mask": mask_bits(index.allowed_token_ids(s),
                                                             vocabulary.size)}
                              for s in states]
        out["automata"].append(entry)
    return out


# ---- what the page must show ---------------------------------------------------------------------


def expected_steps(index, path: Sequence[int], samples: int = SAMPLES) -> list[dict]:
    """For each step of ``path`` (after 0, 1, ... tokens): what the page shows, from the
    index: ``state``, ``allowed`` (how many ids), ``final``, ``samples`` (`sample_ids`) and
    ``next`` (the path's next token, or None at the end)."""
    states = walk_path(index, path)
    out = []
    for k, state in enumerate(states):
        allowed = index.allowed_tokens(state)
        out.append({"state": state, "allowed": len(allowed),
                    "final": index.is_final_state(state),
                    "samples": sample_ids(allowed, samples),
                    "next": path[k] if k < len(path) else None})
    return out
