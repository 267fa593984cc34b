"""tinylm.structured.Index against outlines-core's Index (the oracle), on the course vocabulary.

State numbers differ between the two, so both walk the same token paths (the tokens of real
instances, and seeded random paths) and at every step the allowed tokens and finality must be
equal. outlines-core has one documented quirk (see tinylm/structured/index.py): it drops a
token when the text before the token's last byte was already a whole match and the text with
it is not; such tokens are the only ones ours may allow beyond it, and only for the regexes
whose matches can go on after a whole match.
"""

import random
import re

import numpy as np
import outlines_core
import pytest
import torch
from _structured_cases import SCHEMA_REGEXES
from outlines_core.json_schema import DATE, NUMBER, STRING, URI
from tokenizers import Tokenizer, models

from tinylm.bpe import from_tokenizers
from tinylm.structured import Index, Vocabulary
from tinylm.structured.automaton import UnsupportedRegexError
from tinylm.tokenizer import EOS_ID, load_tokenizer

SIMPLE_REGEXES = {  # regex -> instances (tokenised with the course tokenizer, then walked)
    r"[0-9]+": ["2025", "7"],
    r"[a-z]+@[a-z]+\.com": ["alice@example.com", "bob@mail.com"],
    r"(cat|dog|bird)s?": ["cats", "bird"],
    r"\d{3}-\d{4}": ["555-1234", "٣٤٥-6789"],
    r"x{2,4}y{3}z{0,2}": ["xxyyy", "xxxxyyyzz"],
    r"(Once|One day), [a-z ]{1,30}\.": ["Once, the fox met a crow.", "One day, it rained."],
    r'"[α-ωΑ-Ω]+ é😀"': ['"αβγ é😀"'],
    r"café|naïve|日本語": ["café", "日本語"],
    r"[^\n]{0,12}\n": ["Hello, world\n", "é😀日本\n"],
    STRING: ['"Hello, \\"world\\"!"', '"tab\\t and é"'],
    DATE: ['"2025-03-14"'],
}
# Regexes whose matches can go on after a whole match through text that is not one: there
# outlines-core's quirk shows (NUMBER: "1" then "."; URI: a path after a closing quote).
QUIRKY = {NUMBER: ["-1500", "0"], URI: ['"https://example.com/a?b=1#c"']}
CASES = {**SIMPLE_REGEXES, **QUIRKY,
         **{name: examples for name, (_, examples) in SCHEMA_REGEXES.items()}}


def regex_of(case: str) -> str:
    return SCHEMA_REGEXES[case][0] if case in SCHEMA_REGEXES else case


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return Vocabulary.from_tokenizer(tokenizer)


@pytest.fixture(scope="module")
def outlines_vocab(vocab):
    return vocab.to_outlines()


def outlines_drops(index: Index, state: int, token_id: int) -> bool:
    """outlines-core's quirk: the text before the token's last byte is a whole match and the
    text with the whole token is not."""
    data = index.vocabulary.token_bytes(token_id)
    dfa = index.dfa
    return bool(dfa.finals[dfa.walk(state, data[:-1])] and not dfa.finals[dfa.walk(state, data)])


class PathWalker:
    """Walks token paths in both indexes at once, comparing every step."""

    def __init__(self, ours: Index, theirs, quirky: bool):
        self.ours, self.theirs, self.quirky = ours, theirs, quirky
        self.steps = self.quirks = self.finals = self.max_allowed = 0

    def compare(self, state: int, their_state: int) -> list[int]:
        allowed = self.ours.allowed_tokens(state)
        theirs = sorted(self.theirs.get_allowed_tokens(their_state) or [])
        assert self.ours.is_final_state(state) == self.theirs.is_final_state(their_state)
        extra = set(allowed) - set(theirs)
        assert set(theirs) <= set(allowed), sorted(set(theirs) - set(allowed))[:10]
        if extra:
            assert self.quirky, ("ours allows more", sorted(extra)[:10])
            assert all(outlines_drops(self.ours, state, t) for t in extra)
        self.steps += 1
        self.quirks += len(extra)
        self.max_allowed = max(self.max_allowed, len(allowed))
        return theirs

    def walk(self, token_ids: list[int]) -> None:
        """A given path (an instance's tokens): every token allowed, final at the end."""
        state, their_state = self.ours.initial_state, self.theirs.get_initial_state()
        for token in token_ids:
            assert token in self.compare(state, their_state)
            state = self.ours.next_state(state, token)
            their_state = self.theirs.get_next_state(their_state, token)
        assert EOS_ID in self.compare(state, their_state)
        self.finals += 1

    def random_walk(self, rng: random.Random, max_steps: int) -> None:
        state, their_state = self.ours.initial_state, self.theirs.get_initial_state()
        for _ in range(max_steps):
            allowed = self.compare(state, their_state)  # both allow these
            if not allowed:
                return
            if EOS_ID in allowed and rng.random() < 0.3:
                self.finals += 1
                return
            token = rng.choice(allowed)
            if token == EOS_ID:
                self.finals += 1
                return
            state = self.ours.next_state(state, token)
            their_state = self.theirs.get_next_state(their_state, token)
            assert state is not None and their_state is not None


@pytest.mark.parametrize("case", list(CASES))
def test_allowed_tokens_equal_outlines_core_along_token_paths(case, tokenizer, vocab,
                                                              outlines_vocab):
    regex = regex_of(case)
    ours, theirs = Index(regex, vocab), outlines_core.Index(regex, outlines_vocab)
    walker = PathWalker(ours, theirs, quirky=case in QUIRKY)
    for text in CASES[case]:
        assert re.fullmatch(regex, text), text
        walker.walk(tokenizer.encode(text, add_special_tokens=False).ids)
    rng = random.Random(len(regex))
    long = case in SCHEMA_REGEXES
    for _ in range(6 if long else 20):
        walker.random_walk(rng, max_steps=200 if long else 40)
    # the comparison had something to compare
    assert walker.steps >= 60 and walker.finals >= len(CASES[case])
    assert walker.max_allowed >= (1000 if '[^"' in regex or "[^\\s" in regex else 2)
    if case in QUIRKY:
        assert walker.quirks > 0  # the quirk showed, and was the only difference


def test_the_quirk_is_outlines_cores_not_the_regexs(vocab, outlines_vocab, tokenizer):
    """After "1", a number regex goes on with "." ("1.5" matches): ours allows it, outlines-core
    does not (so it could never write 1.5 with the course tokenizer, whose digits are single
    tokens)."""
    assert re.fullmatch(NUMBER, "1.5")
    ours, theirs = Index(NUMBER, vocab), outlines_core.Index(NUMBER, outlines_vocab)
    one, dot = tokenizer.token_to_id("1"), tokenizer.token_to_id(".")
    state = ours.next_state(ours.initial_state, one)
    their_state = theirs.get_next_state(theirs.get_initial_state(), one)
    assert dot in ours.allowed_tokens(state)
    assert dot not in theirs.get_allowed_tokens(their_state)


@pytest.mark.parametrize("case", [r"[0-9]+", r"(cat|dog|bird)s?", STRING, "person"])
def test_allowed_tokens_ascending_with_eos_iff_final(case, vocab):
    index = Index(regex_of(case), vocab)
    for state in range(index.n_states):
        allowed = index.allowed_token_ids(state)
        assert np.all(np.diff(allowed) > 0)
        assert (vocab.eos_token_id in allowed) == index.is_final_state(state)
        assert index.allowed_tokens(state) == allowed.tolist()
        mask = index.allowed_mask(state)
        assert mask.shape == (vocab.size,) and np.flatnonzero(mask).tolist() == allowed.tolist()
        if index.is_final_state(state):
            assert index.next_state(state, vocab.eos_token_id) == state
    assert index.allowed_tokens(0) == []  # the dead state
    assert len(index.final_states) >= 1
    assert sum(map(len, index.to_dict().values())) == len(index._tokens)


def test_next_state_is_none_for_a_disallowed_token(vocab, tokenizer):
    index = Index(r"[0-9]+", vocab)
    start = index.initial_state
    assert not index.is_final_state(start)
    assert index.next_state(start, tokenizer.token_to_id("a")) is None
    assert index.next_state(start, vocab.eos_token_id) is None  # not final yet
    assert index.next_state(start, tokenizer.token_to_id("<s>")) is None  # special: never
    after = index.next_state(start, tokenizer.token_to_id("7"))
    assert index.is_final_state(after) and index.next_state(after, tokenizer.token_to_id("7"))
    with pytest.raises(ValueError, match="state must be an int"):
        index.allowed_tokens(index.n_states)
    with pytest.raises(ValueError, match="state must be an int"):
        index.is_final_state(-1)


@pytest.mark.parametrize("case", [r"[0-9]+", r"(cat|dog|bird)s?", STRING, "person"])
def test_per_state_tables_equal_the_index_rows(case, vocab):
    """The tables built on first use (the bool mask, the additive bias, the dense row of next
    states) say what the index's own rows say, for every token id."""
    index = Index(regex_of(case), vocab)
    rows = index.to_dict()
    states = range(index.n_states)
    if len(states) > 40:  # a schema's hundreds of states: a seeded sample, and the start
        states = [index.initial_state, *random.Random(0).sample(states, 40)]
    for state in states:
        row = rows.get(state, {})
        mask = index.allowed_mask(state)
        assert np.flatnonzero(mask).tolist() == sorted(row) and not mask.flags.writeable
        bias = index.logit_bias(state)
        assert bias.dtype == torch.float32 and bias.shape == (vocab.size,)
        assert torch.equal(bias == 0, torch.from_numpy(mask.copy()))
        assert torch.isneginf(bias[~torch.from_numpy(mask.copy())]).all()
        assert [index.next_state(state, t) for t in range(vocab.size)] == [
            row.get(t) for t in range(vocab.size)]
        # kept: the second call gives the very same objects
        assert index.allowed_mask(state) is mask and index.logit_bias(state) is bias
    token, after = next(iter(rows[index.initial_state].items()))  # numpy ints work too
    assert index.next_state(np.int64(index.initial_state), np.int32(token)) == after


def test_per_state_tables_are_built_only_for_visited_states(vocab, tokenizer):
    index = Index(regex_of("person"), vocab)
    state = index.initial_state
    visited = [state]
    for token in tokenizer.encode(SCHEMA_REGEXES["person"][1][0], add_special_tokens=False).ids:
        index.allowed_mask(state)
        state = index.next_state(state, token)
        visited.append(state)
    assert set(index._masks) | set(index._next_rows) <= set(visited) and not index._biases
    assert len(index._next_rows) < index.n_states / 10


def test_next_state_of_ids_outside_the_vocabulary_is_none(vocab, tokenizer):
    index = Index(r"[0-9]+", vocab)
    start, seven = index.initial_state, tokenizer.token_to_id("7")
    assert index.next_state(start, seven) is not None
    for token_id in (-1, -vocab.size + seven, vocab.size, vocab.size + seven, 10**9):
        assert index.next_state(start, token_id) is None
    for method in (index.allowed_mask, index.logit_bias):
        for state in (index.n_states, -1, 1.5, "1"):
            with pytest.raises(ValueError, match="state must be an int"):
                method(state)
    for state in (index.n_states, -1):
        with pytest.raises(ValueError, match="state must be an int"):
            index.next_state(state, seven)


@pytest.mark.parametrize("regex,feature", [
    (r"(a)\1", "backreference"),
    (r"(?P<x>a)(?P=x)", "backreference"),
    (r"a(?=b)", "lookahead"),
    (r"a(?!b)", "lookahead"),
    (r"(?<=a)b", "lookbehind"),
    (r"a^b", "anchor"),
    (r"a$b", "anchor"),
    (r"a\Ab", "anchor"),
    (r"\bword\b", "word boundary"),
    (r"\w+", r"\\w"),
    (r"\p{L}+", "property"),
    (r"(?i)abc", "inline flag"),
    (r"[[:alpha:]]", "nested class"),
    (r"[a-z&&[^x]]", "set operation"),
    (r"a{3,1}", "repetition"),
    (r"a{x}", "repetition"),
    (r"\u{D800}", "not a Unicode character"),
    ("ab\\", "backslash at the end"),
    (r"[abc", "unterminated"),
    (r"\q", "escape"),
])
def test_unsupported_regex_features_are_named(regex, feature, vocab):
    with pytest.raises(UnsupportedRegexError, match=feature):
        Index(regex, vocab)
    assert issubclass(UnsupportedRegexError, ValueError)


def test_regexes_that_cannot_match(vocab):
    with pytest.raises(ValueError, match="matches no string"):
        Index(r"a[^\x00-\u{10FFFF}]", vocab)
    small = Vocabulary(0, {"a": [1], "b": [2]})
    with pytest.raises(ValueError, match="no token of the vocabulary can start"):
        Index(r"[0-9]+", small)
    with pytest.raises(ValueError, match="cannot parse"):
        Index(r"a)", small)


def test_course_vocabulary(tokenizer, vocab):
    assert vocab.eos_token_id == EOS_ID == tokenizer.token_to_id("</s>")
    assert len(vocab) == 4093 and vocab.size == 4096  # 4092 tokens + EOS; ids 0..4095
    assert vocab.token_bytes(tokenizer.token_to_id("Ġthe")) == b" the"
    assert {vocab.token_ids(bytes([b]))[0] for b in range(256)}  # every byte is a token
    for special in ("<unk>", "<s>", "</s>", "<pad>"):
        with pytest.raises(ValueError, match="has no token|is the EOS id"):
            vocab.token_bytes(tokenizer.token_to_id(special))
    assert len(vocab.to_outlines()) == len(vocab)
    # a tinylm.bpe.BPETokenizer with the same merges spells the same tokens
    bpe, _ = from_tokenizers(tokenizer)
    from_bpe = Vocabulary.from_tokenizer(bpe)
    assert {t for t, _ in from_bpe.items()} == {t for t, _ in vocab.items()}
    assert from_bpe.eos_token_id == bpe.special_ids["</s>"]


@pytest.mark.parametrize("eos,tokens,error,message", [
    (2, {b"a": [2]}, ValueError, "EOS id"),
    (2, {b"": [1]}, ValueError, "empty token"),
    (2, {b"a": [1], b"b": [1]}, ValueError, "spells both"),
    (2, {"a": [1], b"a": [3]}, ValueError, "given twice"),
    (2, {1: [1]}, TypeError, "bytes or str"),
    (2, {b"a": 1}, TypeError, "non-empty list of ints"),
    (2, {b"a": []}, TypeError, "non-empty list of ints"),
    (2, {b"a": [-1]}, TypeError, "int >= 0"),
    (2, {b"a": [True]}, TypeError, "int >= 0"),
    ("2", {b"a": [1]}, TypeError, "eos_token_id"),
    (2, [(b"a", [1])], TypeError, "mapping"),
])
def test_bad_vocabularies_are_refused(eos, tokens, error, message):
    with pytest.raises(error, match=message):
        Vocabulary(eos, tokens)


def test_bad_tokenizers_are_refused(tokenizer, vocab):
    with pytest.raises(TypeError, match="tokenizers.Tokenizer"):
        Vocabulary.from_tokenizer("gpt2")
    with pytest.raises(ValueError, match="no special token '<eos>'"):
        Vocabulary.from_tokenizer(tokenizer, eos_token="<eos>")
    word_level = Tokenizer(models.WordLevel({"日本": 0, "[UNK]": 1, "</s>": 2},
                                            unk_token="[UNK]"))
    word_level.add_special_tokens(["</s>", "[UNK]"])
    with pytest.raises(ValueError, match="byte-level BPE"):
        Vocabulary.from_tokenizer(word_level)
    with pytest.raises(TypeError, match="tinylm.structured.Vocabulary"):
        Index(r"[0-9]+", vocab.to_outlines())
