"""The BPE merge viewer's state is the course tokenizer, and what it says the page must show is
what tinylm.bpe and the course tokenizer do.

- The state embeds all 3,836 merges of the course tokenizer, with its ids, and stays small.
- Run from the state alone (as the page does, here in Python with the same pattern), every
  step equals `expected_steps`, which comes from `BPETokenizer.merge_steps`; the last step is
  the course tokenizer's encoding, and step k is what a tokenizer with only the first merges
  (up to the rank of step k's merge) makes of the text.
- Chips are labelled as the page labels them (`token_label`).
"""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
import regex

from tinylm import bpe
from tinylm.tokenizer import load_tokenizer
from tinylm.widgets import BPEMergesViewer, bpe_merges_state
from tinylm.widgets.bpe_merges import MAX_CHARS, expected_steps, merge_table, token_label

TEXTS = [
    "the lowest newest widest", "Café naïve façade, déjà vu", "我们的猫喜欢吃鱼",
    "emoji 🙂👍🏽 and 🇫🇷!", "Tokenizers: 12 cats, 猫 🙂\ttab\nline", "", " ", "aaaaaaaaaa",
    '{"name": "Mia", "age": 7}', "Question: 12 * 34 = 408",
]


@pytest.fixture(scope="module")
def course():
    return load_tokenizer()


@pytest.fixture(scope="module")
def state():
    return bpe_merges_state()


def steps_from_state(state: dict, text: str) -> list[dict]:
    """What the page computes, from the state alone: the pieces by the state's pattern, their
    UTF-8 bytes by the state's byte ids, then the merge of lowest rank, again and again."""
    merges = [tuple(state["merges"][i : i + 3]) for i in range(0, len(state["merges"]), 3)]
    rank = {}
    for k, (a, b, _) in enumerate(merges):
        rank.setdefault((a, b), k)
    token_bytes = {i: bytes([b]) for b, i in enumerate(state["byte_ids"])}
    for a, b, made in merges:
        token_bytes.setdefault(made, token_bytes[a] + token_bytes[b])
    words = [[state["byte_ids"][b] for b in piece.encode()]
             for piece in regex.findall(state["pattern"], text)]
    steps, merge = [], None
    while True:
        steps.append({"tokens": [(token_label(token_bytes[i]), i) for w in words for i in w],
                      "merge": merge})
        found = [rank[p] for w in words for p in pairwise(w) if p in rank]
        if not found:
            return steps
        best = min(found)
        a, b, made = merges[best]
        merge = {"rank": best, "left": a, "right": b, "made": made}
        words = [bpe.merge(w, (a, b), made) for w in words]


def test_the_state_is_the_course_tokenizer(state, course):
    model = json.loads(course.to_str())["model"]
    assert state["n_merges"] == len(model["merges"]) == 3836
    assert len(state["merges"]) == 3 * 3836
    assert state["byte_ids"] == [model["vocab"][bpe.bytes_to_symbols(bytes([b]))]
                                 for b in range(256)]
    vocab = {bpe.symbols_to_bytes(s): i for s, i in model["vocab"].items()}
    for k, (left, right) in enumerate(model["merges"][:50]):
        a, b, made = state["merges"][3 * k : 3 * k + 3]
        joined = bpe.symbols_to_bytes(left) + bpe.symbols_to_bytes(right)
        assert (a, b, made) == (model["vocab"][left], model["vocab"][right], vocab[joined])
    assert state["pattern"] == bpe.PAT_STR and state["step"] == -1
    assert len(json.dumps(state)) < 100_000  # light enough for a page


@pytest.mark.parametrize("text", TEXTS)
def test_every_step_from_the_state_is_tinylm_bpes(state, course, text):
    expected = expected_steps(text)
    assert steps_from_state(state, text) == expected
    last = [i for _, i in expected[-1]["tokens"]]
    assert last == course.encode(text, add_special_tokens=False).ids
    assert expected[0]["merge"] is None
    assert len(expected[0]["tokens"]) == len(text.encode())  # step 0: one token a byte


@pytest.mark.parametrize("text", ["Tokenizers learn the lowest, newest and widest words",
                                  "Café, 猫 🙂"])
def test_step_k_is_a_tokenizer_with_the_first_merges(course, text):
    ours, ids = merge_table()
    for step in expected_steps(text)[1:]:
        first = bpe.BPETokenizer(ours.merges[: step["merge"]["rank"] + 1], ())
        assert [ids[i] for i in first.encode(text)] == [i for _, i in step["tokens"]]


def test_labels_make_whitespace_and_cut_characters_visible():
    assert token_label(b" the") == "\u2423the"
    assert token_label("é".encode()) == "é"
    assert token_label("猫".encode()[:2]) == "\\xe7\\x8c"
    assert token_label(b"\n\t\r") == "\u21b5\u21e5\u240d"
    assert token_label(b"\x00a\x7f") == "\\x00a\\x7f"
    assert token_label(b"\xff\xc3") == "\\xff\\xc3"
    assert token_label("\u0085".encode()) == "\\xc2\\x85"  # a control character
    assert token_label("🙂".encode()) == "🙂"


def test_the_widget_carries_the_state():
    widget = BPEMergesViewer(text="the cat", step=2, title="demo")
    assert widget.data["text"] == "the cat" and widget.data["step"] == 2
    assert widget.data["title"] == "demo"
    assert widget.data["merges"] == bpe_merges_state(text="the cat", step=2)["merges"]


def test_the_first_merges_only(course):
    state = bpe_merges_state(max_merges=100)
    assert len(state["merges"]) == 300 and state["n_merges"] == 3836
    text = "Tokenizers learn the lowest, newest and widest words"
    ours, ids = merge_table()
    first = bpe.BPETokenizer(ours.merges[:100], ())
    assert steps_from_state(state, text) == expected_steps(text, max_merges=100)
    assert [i for _, i in steps_from_state(state, text)[-1]["tokens"]] == \
        [ids[i] for i in first.encode(text)]


def test_merges_of_your_own():
    tok = bpe.train_bpe(["low lower lowest newest widest"] * 3, 270, special_tokens=())
    state = bpe_merges_state(merges=tok.merges, text=" lowest")
    assert state["byte_ids"] == list(range(256)) and state["n_merges"] == len(tok.merges)
    steps = expected_steps(" lowest", merges=tok.merges)
    assert steps_from_state(state, " lowest") == steps
    assert [i for _, i in steps[-1]["tokens"]] == tok.encode(" lowest")
    as_dict = {pair: tok.merged_ids[pair] for pair in tok.merges}
    assert bpe_merges_state(merges=as_dict, text=" lowest") == state
    # a BPETokenizer shows its own ids
    assert bpe_merges_state(tok, text=" lowest") == state


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match=f"at most {MAX_CHARS} characters"):
        bpe_merges_state(text="x" * (MAX_CHARS + 1))
    with pytest.raises(TypeError, match="not both"):
        bpe_merges_state(load_tokenizer(), merges=[(97, 98)])
    with pytest.raises(ValueError, match="makes token 256"):
        bpe_merges_state(merges={(97, 98): 300})
    with pytest.raises(TypeError, match="merges must be"):
        bpe_merges_state(merges="ab")
    with pytest.raises(ValueError, match="max_merges"):
        bpe_merges_state(max_merges=-1)
    with pytest.raises(ValueError, match="step"):
        bpe_merges_state(step=-2)
    from tokenizers import pre_tokenizers
    other = bpe.BPETokenizer([(97, 98)], (), pre_tokenizers.ByteLevel(add_prefix_space=True))
    with pytest.raises(ValueError, match="course pre-tokenizer"):
        bpe_merges_state(other)
