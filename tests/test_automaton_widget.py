"""The automaton explorer's state: what the page reads must give the numbers of
tinylm.structured.Index. For small automata the page walks the embedded byte DFA over the
embedded token bytes; doing the same here must give every state's allowed tokens exactly. For
large ones the recorded steps must be the index's states and masks along the path."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tinylm.structured import Index, Vocabulary, regex_from_schema
from tinylm.structured.automaton import CharDFA
from tinylm.synthetic import json_record_schema, json_records
from tinylm.tokenizer import EOS_ID, load_tokenizer
from tinylm.widgets import AutomatonExplorer, automaton_state
from tinylm.widgets.automaton import (
    MAX_LIVE_STATES,
    class_label,
    dfa_graph,
    expected_steps,
    mask_bits,
    sample_ids,
)

SMALL = [
    {"name": "integer", "regex": r"-?(0|[1-9][0-9]*)", "path": "-1250", "note": "an integer"},
    {"name": "words", "regex": r"(cat|dog|bird)s?", "path": "birds"},
    {"name": "UTF-8", "regex": r"(café|naïve|日本)", "path": "naïve"},
    {"name": "string", "regex": r'"([^"\\]|\\["\\/bfnrt])*"', "path": '"Hi, \\"you\\" é"'},
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return Vocabulary.from_tokenizer(tokenizer)


@pytest.fixture(scope="module")
def event():
    regex = regex_from_schema(json_record_schema("event"))
    return {"name": "event", "regex": regex, "path": json_records(1, seed=2, kind="event")[0]}


@pytest.fixture(scope="module")
def state(event):
    return automaton_state(SMALL + [event])


def unpack(b64: str, size: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(b64), dtype=np.uint8),
                         bitorder="little")[:size].astype(bool)


class PageVocabulary:
    """The vocabulary as automaton.js reads it from the state."""

    def __init__(self, data):
        self.size, self.eos = data["vocab_size"], data["eos"]
        self.lengths = np.frombuffer(base64.b64decode(data["token_lengths"]), dtype=np.uint8)
        self.bytes = base64.b64decode(data["token_bytes"])
        self.offsets = [0, *np.cumsum(self.lengths, dtype=np.int64).tolist()]

    def token(self, i: int) -> bytes:
        return self.bytes[self.offsets[i]:self.offsets[i + 1]]


def page_allowed(entry, page: PageVocabulary, state: int) -> list[int]:
    """automaton.js's maskOf: every id whose bytes never reach the dead state, EOS if final."""
    table = np.frombuffer(base64.b64decode(entry["dfa"]), dtype=np.uint8).reshape(-1, 256)
    finals = set(entry["finals"])
    out = []
    for i in range(page.size):
        if i == page.eos:
            if state in finals and state != 0:
                out.append(i)
            continue
        if page.lengths[i] == 0 or state == 0:
            continue
        s = state
        for b in page.token(i):
            s = int(table[s, b])
            if s == 0:
                break
        if s != 0:
            out.append(i)
    return out


def test_the_vocabulary_on_the_page_is_the_tokenizers(state, vocab, tokenizer):
    page = PageVocabulary(state)
    assert page.size == vocab.size == 4096 and page.eos == EOS_ID
    assert len(state["labels"]) == 4096
    for i in range(4096):
        if i in (0, 1, 2, 3):  # special: no bytes, named
            assert page.lengths[i] == 0
            assert state["labels"][i] == tokenizer.id_to_token(i)
        else:
            assert page.token(i) == vocab.token_bytes(i)
    assert state["labels"][tokenizer.token_to_id("Ġthe")] == "\u2423the"


@pytest.mark.parametrize("k", range(len(SMALL)))
def test_small_automata_give_the_indexs_allowed_tokens_in_every_state(state, vocab, k):
    entry, spec = state["automata"][k], SMALL[k]
    index = Index(spec["regex"], vocab)
    assert entry["live"] and entry["n_states"] == index.n_states <= MAX_LIVE_STATES
    table = np.frombuffer(base64.b64decode(entry["dfa"]), dtype=np.uint8).reshape(-1, 256)
    assert np.array_equal(table, index.dfa.transitions)
    assert entry["finals"] == index.final_states and entry["initial"] == index.initial_state
    page = PageVocabulary(state)
    for s in range(index.n_states):
        assert page_allowed(entry, page, s) == index.allowed_tokens(s), s
    assert entry["note"] == spec.get("note", "")
    assert "steps" not in entry


def test_the_path_is_the_tokenizers_and_walks_the_index(state, vocab, tokenizer):
    for entry, spec in zip(state["automata"], SMALL, strict=False):
        ids = tokenizer.encode(spec["path"], add_special_tokens=False).ids
        assert entry["path"] == ids
        index = Index(spec["regex"], vocab)
        steps = expected_steps(index, ids)
        assert len(steps) == len(ids) + 1
        assert steps[-1]["final"] and steps[-1]["next"] is None
        assert [s["next"] for s in steps[:-1]] == ids
    # naïve's ï is two bytes, two tokens: after the first the state is inside a character
    utf8 = state["automata"][2]
    steps = expected_steps(Index(SMALL[2]["regex"], vocab), utf8["path"])
    inside = [s["state"] > utf8["n_char_states"] for s in steps]
    assert any(inside)
    k = inside.index(True)
    assert steps[k]["allowed"] == 1 and steps[k]["samples"] == [utf8["path"][k]]


def test_a_large_automaton_carries_its_recorded_steps(state, event, vocab):
    entry = state["automata"][-1]
    index = Index(event["regex"], vocab)
    assert not entry["live"] and entry["n_states"] == index.n_states > MAX_LIVE_STATES
    assert "dfa" not in entry and "graph" not in entry
    expected = expected_steps(index, entry["path"])
    assert len(entry["steps"]) == len(expected) == len(entry["path"]) + 1
    for step, want in zip(entry["steps"], expected, strict=True):
        assert step["state"] == want["state"]
        mask = unpack(step["mask"], vocab.size)
        allowed = np.flatnonzero(mask).tolist()
        assert allowed == index.allowed_tokens(want["state"])
        assert len(allowed) == want["allowed"]
        assert sample_ids(allowed) == want["samples"]
    # inside a free string many tokens are allowed, inside a key one or two
    counts = [s["allowed"] for s in expected]
    assert max(counts) > 3000 and min(counts) <= 2


def test_graphs_are_the_character_dfas(state):
    for entry, spec in zip(state["automata"], SMALL, strict=False):
        char_dfa = CharDFA.from_regex(spec["regex"])
        graph = entry["graph"]
        assert entry["n_char_states"] == char_dfa.n_states == len(graph["nodes"])
        assert [n["id"] for n in graph["nodes"]] == list(range(char_dfa.n_states))
        assert {n["id"] for n in graph["nodes"] if n["final"]} == set(char_dfa.finals)
        pairs = {(s, t) for s, row in enumerate(char_dfa.transitions) for t in row.values()}
        assert {(e["from"], e["to"]) for e in graph["edges"]} == pairs
        # every edge points right, except loops and edges back to a state being read
        xs = {n["id"]: n["x"] for n in graph["nodes"]}
        assert xs[graph["initial"]] == 0
        forward = [e for e in graph["edges"] if xs[e["to"]] > xs[e["from"]]]
        assert len(forward) >= len(graph["edges"]) - 2
    integer = state["automata"][0]["graph"]
    labels = {(e["from"], e["to"]): e["label"] for e in integer["edges"]}
    assert labels == {(0, 1): "-", (0, 2): "0", (0, 3): "[1-9]", (1, 2): "0",
                      (1, 3): "[1-9]", (3, 3): "[0-9]"}


def test_class_labels():
    assert class_label([(48, 57)]) == "[0-9]"
    assert class_label([(32, 32)]) == "\u2423"
    assert class_label([(ord("-"), ord("-"))]) == "-"
    assert class_label([(0, 0x10FFFF)]) == "."
    assert class_label([(0, 33), (35, 91), (93, 0x10FFFF)]) == '[^"\\\\]'
    assert class_label([(ord("a"), ord("b")), (ord("x"), ord("z"))]) == "[abx-z]"
    graph = dfa_graph(CharDFA.from_regex(r'"[^"]*"'))
    assert {e["label"] for e in graph["edges"]} == {'"', '[^"]'}


def test_sample_ids_are_evenly_spaced():
    assert sample_ids([5, 6, 7], 4) == [5, 6, 7]
    assert sample_ids(list(range(100)), 5) == [0, 24, 49, 74, 99]
    assert sample_ids(list(range(10, 31)), 2) == [10, 30]


def test_mask_bits_round_trip():
    assert np.flatnonzero(unpack(mask_bits([0, 3, 8, 4095], 4096), 4096)).tolist() == \
        [0, 3, 8, 4095]


def test_the_widget_holds_json_and_stays_light(state, event):
    widget = AutomatonExplorer(SMALL + [event], selected=4, step=3, title="t")
    data = widget.data
    assert data["selected"] == 4 and data["step"] == 3 and data["title"] == "t"
    text = json.dumps(data)
    assert len(text) < 400_000  # the page embeds it
    assert json.loads(text)["automata"][0]["path"] == state["automata"][0]["path"]


def test_bad_specs_are_refused(vocab):
    with pytest.raises(TypeError, match="non-empty list"):
        automaton_state([])
    with pytest.raises(TypeError, match="name, regex and path"):
        automaton_state([{"name": "x", "regex": "a"}])
    with pytest.raises(ValueError, match="not allowed in state"):
        automaton_state([{"name": "digits", "regex": "[0-9]+", "path": "12a"}])
    with pytest.raises(ValueError, match="another regex"):
        automaton_state([{"name": "x", "regex": "[0-9]+", "path": "1",
                          "index": Index("[a-z]+", vocab)}])
    with pytest.raises(ValueError, match="selected"):
        AutomatonExplorer([{"name": "x", "regex": "[0-9]+", "path": "1"}], selected=2)
    # a given index is used; EOS at the end of a path is dropped
    given = Index("[0-9]+", vocab)
    data = automaton_state([{"name": "x", "regex": "[0-9]+", "path": [20, 21, EOS_ID],
                             "index": given}])
    assert data["automata"][0]["path"] == [20, 21]
