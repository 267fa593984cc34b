"""The index-building kernel equals its plain-Python reference (run also with
NUMBA_DISABLE_JIT=1, where the kernel runs as ordinary Python), on random small DFAs and
vocabularies and on real ones."""

import numpy as np
import pytest
from _structured_cases import SCHEMA_REGEXES
from hypothesis import given, settings
from hypothesis import strategies as st
from outlines_core.json_schema import DATE, STRING

from tinylm.structured import Vocabulary
from tinylm.structured.automaton import DEAD, ByteDFA
from tinylm.structured.index import vocabulary_trie
from tinylm.structured.index_kernels import (
    VocabularyTrie,
    build_index,
    build_index_reference,
)
from tinylm.tokenizer import load_tokenizer


def kernel(transitions, finals, eos, trie: VocabularyTrie):
    return build_index(transitions, finals, eos, trie.child_start, trie.child_byte,
                       trie.child_node, trie.token_start, trie.token_ids)


def assert_same(a, b):
    for x, y, name in zip(a, b, ("offsets", "tokens", "next_states"), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@st.composite
def dfa_and_vocabulary(draw):
    """A random DFA over bytes 0..4 (state 0 dead) and random tokens over those bytes."""
    n_states = draw(st.integers(2, 10))
    table = np.zeros((n_states, 256), dtype=np.int32)
    for state in range(1, n_states):
        for byte in range(5):
            table[state, byte] = draw(st.integers(0, n_states - 1))
    finals = np.array([False] + draw(st.lists(st.booleans(), min_size=n_states - 1,
                                              max_size=n_states - 1)))
    words = draw(st.lists(st.binary(min_size=1, max_size=5).map(
        lambda b: bytes(x % 5 for x in b)), min_size=1, max_size=40, unique=True))
    ids = draw(st.permutations(range(1, len(words) + 30)))  # id 0 is the EOS
    tokens, k = [], 0
    for word in words:
        n_ids = draw(st.integers(1, 2))  # a token may have two ids
        tokens.append((word, ids[k:k + n_ids]))
        k += n_ids
    return table, finals, tokens


@settings(max_examples=60, deadline=None)
@given(case=dfa_and_vocabulary())
def test_kernel_equals_reference_on_random_dfas(case):
    table, finals, tokens = case
    trie = VocabularyTrie.from_tokens(tokens)
    expected = build_index_reference(table, finals, 0, trie)
    assert_same(kernel(table, finals, 0, trie), expected)
    # and the reference is what walking each token by itself gives
    offsets, row_tokens, row_next = expected
    for state in range(table.shape[0]):
        row = dict(zip(row_tokens[offsets[state]:offsets[state + 1]].tolist(),
                       row_next[offsets[state]:offsets[state + 1]].tolist(), strict=True))
        walked = {}
        if state != DEAD:
            for word, ids in tokens:
                s = state
                for byte in word:
                    s = table[s, byte]
                    if s == DEAD:
                        break
                if s != DEAD:
                    walked |= {i: int(s) for i in ids}
            if finals[state]:
                walked[0] = state
        assert row == walked


def test_trie_holds_every_token():
    tokens = [(b"the", [5]), (b"then", [6]), (b"th", [7, 8]), (b"a", [9])]
    trie = VocabularyTrie.from_tokens(tokens)
    assert trie.n_nodes == 1 + 4 + 1  # root, t, th, the, then, a
    for word, ids in tokens:
        node = 0
        for byte in word:
            edges = range(trie.child_start[node], trie.child_start[node + 1])
            node = next(int(trie.child_node[e]) for e in edges if trie.child_byte[e] == byte)
        assert trie.token_ids[trie.token_start[node]:trie.token_start[node + 1]].tolist() == ids


@pytest.fixture(scope="module")
def course_trie():
    return vocabulary_trie(Vocabulary.from_tokenizer(load_tokenizer()))


@pytest.mark.parametrize("regex", [STRING, DATE, r"(Once|One day), [a-z ]{1,30}\.",
                                   SCHEMA_REGEXES["nested_enums"][0]])
def test_kernel_equals_reference_on_the_course_vocabulary(regex, course_trie):
    dfa = ByteDFA.from_regex(regex)
    expected = build_index_reference(dfa.transitions, dfa.finals, 2, course_trie)
    assert_same(kernel(dfa.transitions, dfa.finals, 2, course_trie), expected)
    assert len(expected[1]) > 4 * dfa.n_states  # many tokens allowed: a real comparison
