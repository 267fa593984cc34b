"""The BPE training kernel equals its plain-Python reference, and the fast trainer the textbook
one (run also with NUMBA_DISABLE_JIT=1, where the kernel runs as ordinary Python)."""

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.bpe import get_pair_counts, learn_merges
from tinylm.bpe_kernels import (
    GAP,
    PairQueue,
    learn_merges_fast,
    merge_pair,
    merge_pair_reference,
    pack_words,
    unpack_words,
)

# words over a small alphabet, so that pairs repeat and merges happen
words_st = st.lists(st.lists(st.integers(0, 5), max_size=12), min_size=1, max_size=12)


def counts_after(changes, before):
    counts = Counter(before)
    counts.update(changes)
    return {pair: n for pair, n in counts.items() if n}


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(words=words_st)
def test_pack_unpack_round_trip(words):
    ids, starts = pack_words(words)
    assert ids.dtype == np.int32 and starts.shape == (len(words) + 1,)
    assert unpack_words(ids, starts) == words
    assert all(ids[b - 1] == GAP for b in starts[1:])  # every slot ends with a GAP


def test_pack_no_words():
    ids, starts = pack_words([])
    assert ids.shape == (0,) and starts.tolist() == [0]
    assert unpack_words(ids, starts) == []


# ---------------------------------------------------------------------------------------------
# merge_pair: kernel vs reference
# ---------------------------------------------------------------------------------------------


def test_merge_pair_known_case():
    ids, starts = pack_words([[1, 2, 3, 1, 2], [7, 7, 7], [2, 1]])
    weights = np.array([10, 4, 1])
    changes = merge_pair(ids, starts, weights, (1, 2), 256)
    assert unpack_words(ids, starts) == [[256, 3, 256], [7, 7, 7], [2, 1]]
    assert changes == {(1, 2): -20, (2, 3): -10, (3, 1): -10, (256, 3): 10, (3, 256): 10}
    changes = merge_pair(ids, starts, weights, (7, 7), 257)
    assert unpack_words(ids, starts) == [[256, 3, 256], [257, 7], [2, 1]]
    assert changes == {(7, 7): -8, (257, 7): 4}
    assert ids.tolist()[6:10] == [257, 7, GAP, GAP]  # the place freed in its slot: a GAP
    assert merge_pair(ids, starts, weights, (5, 6), 258) == {}


@settings(max_examples=100, deadline=None)
@given(words=words_st, data=st.data())
def test_merge_pair_equals_reference(words, data):
    weights = np.array(data.draw(st.lists(st.integers(1, 50), min_size=len(words),
                                          max_size=len(words))), dtype=np.int64)
    pair = (data.draw(st.integers(0, 5)), data.draw(st.integers(0, 5)))
    before = get_pair_counts(words, weights.tolist())
    ids, starts = pack_words(words)
    ref_ids = ids.copy()
    changes = merge_pair(ids, starts, weights, pair, 6)
    expected = merge_pair_reference(ref_ids, starts, weights, pair, 6)
    assert changes == expected
    assert ids.tolist() == ref_ids.tolist()
    after = unpack_words(ids, starts)
    # the changes keep the counts exact: old counts + changes = counts of the merged words
    assert counts_after(changes, before) == get_pair_counts(after, weights.tolist())
    assert pair not in get_pair_counts(after, weights.tolist())


# ---------------------------------------------------------------------------------------------
# The priority queue and the whole trainer
# ---------------------------------------------------------------------------------------------


def test_pair_queue_pops_the_most_frequent_and_skips_stale_entries():
    a, b, space = ord("a"), ord("b"), ord(" ")
    counts = Counter({(a, b): 5, (space, b): 5, (b, a): 3, (a, a): 1})
    queue = PairQueue(counts)

    def merge_next():  # what training does: pop, then the merge leaves none of the pair
        pair = queue.pop()
        if pair is not None:
            counts[pair] = 0
        return pair

    assert merge_next() == (a, b)  # ties: "a" (97) before "Ġ" (the space, character 288)
    counts[space, b] = 2  # went down: its entry is stale
    counts[a, a] = 4  # went up: pushed again
    queue.push((a, a))
    assert [merge_next(), merge_next(), merge_next()] == [(a, a), (b, a), (space, b)]
    assert merge_next() is None


# pieces over four bytes whose order by value (newline, space, "!", "a") is not the order of
# their symbols ("!", "a", "Ċ", "Ġ"), so that the tie rule matters
piece_st = st.lists(st.sampled_from(b"\n !a"), min_size=1, max_size=10).map(bytes)
pieces_st = st.lists(piece_st, min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(pieces=pieces_st, weights=st.lists(st.integers(1, 9), min_size=20, max_size=20),
       n_tokens=st.integers(256, 300), min_frequency=st.integers(1, 4))
def test_fast_trainer_equals_textbook_trainer(pieces, weights, n_tokens, min_frequency):
    piece_counts = dict(zip(pieces, weights, strict=False))
    expected = learn_merges(piece_counts, n_tokens, min_frequency)
    assert learn_merges_fast(piece_counts, n_tokens, min_frequency) == expected


def test_fast_trainer_on_text():
    text = ("the cat sat on the mat and the dog sat on the log while the cats sat on "
            "the mats in the sun, the sun sat low").split(" ")
    piece_counts = Counter((" " + w).encode() for w in text)
    for min_frequency in (1, 2, 3):
        expected = learn_merges(piece_counts, 300, min_frequency)
        assert len(expected) >= 8
        assert learn_merges_fast(piece_counts, 300, min_frequency) == expected
