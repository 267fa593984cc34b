"""Chapter 5's diagrams draw what they say: the loop of constrained decoding with the mask fed by
the index at the current state; a regex's DFA with exactly its states and transitions (and the
states a text visits); the trie walk that builds the index, with the tokens allowed and the
subtrees cut where the match dies; and the stack of open containers after each byte of JSON."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _diagrams import label_of  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402

from tinylm.book.diagrams import kit  # noqa: E402
from tinylm.book.diagrams import structured as diagrams  # noqa: E402
from tinylm.structured import Index, Vocabulary  # noqa: E402
from tinylm.structured.automaton import DEAD, ByteDFA, CharDFA  # noqa: E402

INTEGER = r"-?(0|[1-9][0-9]*)"
LITERALS = r"(true|false|null)"


def by_gid(ax, prefix: str) -> dict:
    """Every drawn patch or text whose gid starts with ``prefix``, by gid (a list when several
    share one)."""
    out: dict = {}
    for a in list(ax.patches) + list(ax.texts):
        gid = a.get_gid()
        if gid and gid.startswith(prefix):
            out.setdefault(gid, []).append(a)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def centre(patch) -> tuple[float, float]:
    if isinstance(patch, Circle):
        return patch.center
    bb = patch.get_bbox()
    return (bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2


def text_at(ax, xy) -> str:
    return next((t.get_text() for t in ax.texts if t.get_position() == pytest.approx(xy)), "")


def test_diagrams_draw_into_the_given_axes_without_showing(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda: pytest.fail("a diagram given ax= must not show"))
    for draw in (lambda a: diagrams.pipeline(ax=a), lambda a: diagrams.dfa(INTEGER, ax=a),
                 lambda a: diagrams.trie_walk(LITERALS, ["t", "a"], ax=a),
                 lambda a: diagrams.json_stack("[1]", ax=a)):
        fig, a = plt.subplots()
        assert draw(a) is a
        assert a.patches and a.texts
        plt.close(fig)


def test_pipeline_masks_the_scores_with_the_index_row_of_the_current_state(ax):
    diagrams.pipeline(ax=ax)
    stages = by_gid(ax, "stage:")
    top = ["text", "model", "logits", "mask", "sample"]
    assert set(stages) == {f"stage:{k}" for k in top + ["state", "index", "advance"]}
    xs = [centre(stages[f"stage:{k}"])[0] for k in top]
    ys = {centre(stages[f"stage:{k}"])[1] for k in top}
    assert xs == sorted(xs) and len(ys) == 1  # one row, left to right, in this order
    row = ys.pop()
    # the index and the state sit below; the index right under the mask, feeding it
    assert centre(stages["stage:index"])[0] == pytest.approx(xs[3])
    assert centre(stages["stage:index"])[1] < row
    assert centre(stages["stage:state"])[0] < centre(stages["stage:index"])[0]
    assert "allowed" in label_of(ax, stages["stage:index"])
    assert "\u2212\u221e" in label_of(ax, stages["stage:mask"])
    assert "4,096" in label_of(ax, stages["stage:logits"])
    assert "next(s, t)" in label_of(ax, stages["stage:advance"])
    assert to_hex(stages["stage:mask"].get_edgecolor()) == kit.ORANGE
    loops = {a.get_gid() for a in ax.patches if (a.get_gid() or "").startswith("loop:")}
    assert loops == {"loop:token", "loop:advance", "loop:append"}


def test_dfa_draws_every_state_and_transition_of_the_regex(ax):
    diagrams.dfa(INTEGER, path="-12", ax=ax)
    char_dfa = CharDFA.from_regex(INTEGER)
    states = {a.get_gid(): a for a in ax.patches if isinstance(a, Circle) and a.get_gid()}
    assert set(states) == {f"state:{s}" for s in range(char_dfa.n_states)}
    for gid, circle in states.items():
        assert text_at(ax, circle.center) == gid.split(":")[1]
    # finals have a second, inner circle
    rings = [a for a in ax.patches if isinstance(a, Circle) and not a.get_gid()]
    assert sorted(next(s for s, c in states.items() if c.center == r.center) for r in rings) \
        == sorted(f"state:{s}" for s in char_dfa.finals)
    expected = {f"edge:{s}:{t}" for s, row in enumerate(char_dfa.transitions)
                for t in row.values()}
    assert set(by_gid(ax, "edge:")) == expected
    labels = {t.get_text() for t in ax.texts}
    assert {"-", "0", "[1-9]", "[0-9]"} <= labels
    # "-12" visits states 0, 1 and 3 (twice): drawn orange, with their steps
    visited = {gid for gid, c in states.items() if to_hex(c.get_edgecolor()) == kit.ORANGE}
    assert visited == {"state:0", "state:1", "state:3"}
    assert {"step 0", "step 1", "step 2, 3"} <= labels


def test_dfa_refuses_a_path_the_regex_does_not_read(ax):
    with pytest.raises(ValueError, match="does not accept"):
        diagrams.dfa(INTEGER, path="1a", ax=ax)


def test_trie_walk_allows_what_the_index_allows_and_cuts_dead_branches(ax):
    tokens = ["t", "tru", "f", "n", "a", "at", "ull"]
    diagrams.trie_walk(LITERALS, tokens, ax=ax)
    nodes = by_gid(ax, "trie:")
    # one node per distinct prefix, the root included
    prefixes = {t[:i] for t in tokens for i in range(len(t) + 1)}
    assert set(nodes) == {f"trie:{p}" for p in prefixes}
    vocab = Vocabulary(eos_token_id=0, tokens={t: [i + 1] for i, t in enumerate(tokens)})
    index = Index(LITERALS, vocab)
    allowed = {tokens[i - 1] for i in index.allowed_tokens(index.initial_state)}
    assert allowed == {"t", "tru", "f", "n"}
    dfa = ByteDFA.from_regex(LITERALS)
    for token in tokens:
        patch = nodes[f"trie:{token}"]
        text = label_of(ax, patch)
        if token in allowed:  # green, with the state the index says it leads to
            assert to_hex(patch.get_edgecolor()) == kit.GREEN
            state = index.next_state(index.initial_state, tokens.index(token) + 1)
            assert text == f"{token} \u2192 {state}"
        elif dfa.walk(dfa.initial, token[:1].encode()) == DEAD:
            assert to_hex(patch.get_edgecolor()) in (kit.RED, kit.GREY)
    # the first refused byte is dead (red); what lies below it is never visited (dashed grey)
    for prefix in ("a", "u"):
        assert to_hex(nodes[f"trie:{prefix}"].get_edgecolor()) == kit.RED
    for prefix in ("at", "ul", "ull"):
        patch = nodes[f"trie:{prefix}"]
        assert to_hex(patch.get_edgecolor()) == kit.GREY and patch.get_linestyle() == "--"
    assert label_of(ax, nodes["trie:"]) == f"state {dfa.initial}"
    # "tr" is no token: an inner node with the state only
    assert label_of(ax, nodes["trie:tr"]) == str(dfa.walk(dfa.initial, b"tr"))


def test_json_stack_shows_the_open_containers_after_each_byte(ax):
    text = '{"a": [1, [2, {}]]}'
    diagrams.json_stack(text, ax=ax)
    columns = by_gid(ax, "stack:")
    depth, expected = [], {}
    for k, char in enumerate(text):  # no brackets inside strings here: count them
        if char in "{[":
            depth.append(char)
        elif char in "}]":
            depth.pop()
        expected[k] = list(depth)
    for k, stack in expected.items():
        drawn = columns.get(f"stack:{k}", [])
        drawn = drawn if isinstance(drawn, list) else [drawn]
        drawn = sorted(drawn, key=lambda p: p.get_bbox().y0)  # bottom first
        assert [label_of(ax, p) for p in drawn] == stack, k
        for p, opener in zip(drawn, stack, strict=True):
            assert to_hex(p.get_edgecolor()) == (kit.BLUE if opener == "{" else kit.ORANGE)
    assert max(len(s) for s in expected.values()) == 4  # { [ [ {
    assert all(isinstance(p, FancyBboxPatch) for v in columns.values()
               for p in (v if isinstance(v, list) else [v]))


def test_json_stack_refuses_text_that_is_not_json(ax):
    with pytest.raises(ValueError, match="not JSON"):
        diagrams.json_stack('{"a": ]', ax=ax)
