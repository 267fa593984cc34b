"""The Numba counting kernels equal their plain-Python references (run also with
NUMBA_DISABLE_JIT=1, where the kernels run as ordinary Python)."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.ngram_kernels import (
    check_key_range,
    context_totals,
    continuation_counts,
    continuation_counts_reference,
    count_ngrams,
    count_ngrams_reference,
    gram_of,
    key_of,
)


def padded_corpus(sentences, order, bos=1, eos=2):
    """Flat ids with order-1 <s> before each sentence and </s> after, and the target positions."""
    tokens, targets = [], []
    for sent in sentences:
        start = len(tokens) + order - 1
        tokens += [bos] * (order - 1) + list(sent) + [eos]
        targets += range(start, len(tokens))
    return np.array(tokens, dtype=np.int64), np.array(targets, dtype=np.int64)


def as_counter(keys, counts, k, base):
    return Counter({gram_of(key, k, base): int(c) for key, c in zip(keys, counts, strict=True)})


sentences = st.lists(st.lists(st.integers(3, 9), max_size=15), min_size=1, max_size=10)


@settings(max_examples=50, deadline=None)
@given(sents=sentences, order=st.integers(1, 5))
def test_count_ngrams_equals_reference(sents, order):
    base = 10
    tokens, targets = padded_corpus(sents, order)
    for k in range(1, order + 1):
        keys, counts = count_ngrams(tokens, targets, k, base)
        assert np.all(np.diff(keys) > 0), "keys must come out sorted and unique"
        assert as_counter(keys, counts, k, base) == count_ngrams_reference(tokens, targets, k)


@settings(max_examples=50, deadline=None)
@given(sents=sentences, order=st.integers(2, 5))
def test_continuation_counts_equal_reference(sents, order):
    base = 10
    tokens, targets = padded_corpus(sents, order)
    for k in range(1, order):
        higher_keys, _ = count_ngrams(tokens, targets, k + 1, base)
        keys, counts = continuation_counts(higher_keys, k, base)
        expected = continuation_counts_reference(count_ngrams_reference(tokens, targets, k + 1))
        assert as_counter(keys, counts, k, base) == expected


def test_continuation_counts_small_case():
    # bigrams (a b) (c b) (a b) (b d): b follows two distinct tokens, d one
    a, b, c, d = 3, 4, 5, 6
    higher = np.array(sorted({key_of(g, 10) for g in [(a, b), (c, b), (b, d)]}), dtype=np.int64)
    keys, counts = continuation_counts(higher, 1, 10)
    assert dict(zip(keys.tolist(), counts.tolist(), strict=True)) == {b: 2, d: 1}


@settings(max_examples=50, deadline=None)
@given(grams=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1),
       values=st.data())
def test_context_totals_equal_reference(grams, values):
    base = 7
    keys = np.array(sorted({key_of(g, base) for g in grams}), dtype=np.int64)
    vals = np.array(values.draw(st.lists(st.integers(0, 5), min_size=len(keys),
                                         max_size=len(keys))), dtype=np.int64)
    ctx, totals, types = context_totals(keys, vals, base)
    ref_tot, ref_types = Counter(), Counter()
    for key, v in zip(keys.tolist(), vals.tolist(), strict=True):
        ref_tot[key // base] += v
        ref_types[key // base] += v > 0
    assert ctx.tolist() == sorted(ref_tot)
    assert totals.tolist() == [ref_tot[c] for c in sorted(ref_tot)]
    assert types.tolist() == [ref_types[c] for c in sorted(ref_tot)]


@given(gram=st.lists(st.integers(0, 999), min_size=1, max_size=6))
def test_keys_round_trip(gram):
    assert gram_of(key_of(gram, 1000), len(gram), 1000) == tuple(gram)


def test_key_range_is_checked():
    check_key_range(50_000, 4)
    with pytest.raises(ValueError, match="use a lower order"):
        check_key_range(50_000, 5)


# ---------------------------------------------------------------------------------------------
# Scoring in the backoff form (KenLM's walk) against the interpolated reference
# ---------------------------------------------------------------------------------------------


def interpolated_sentence_logprobs(lm, sentences):
    """The reference: each predicted token's interpolated probability (``NGramLM._probs``,
    the formula level by level), summed per sentence."""
    logp = lm._target_logprobs(sentences)
    sizes = np.array([len(s) + 1 for s in sentences])
    return np.add.reduceat(logp, np.cumsum(sizes) - sizes)


# The hash multiplies wrap around 2**64 on purpose; run as plain Python (NUMBA_DISABLE_JIT=1),
# NumPy says so for every scalar product.
WRAPAROUND = pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply")


@WRAPAROUND
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [0.75, 1.0])
def test_backoff_walk_scores_as_the_interpolated_model(order, discount):
    from tinylm import data
    from tinylm.ngram import NGramLM

    train = data.wiki_sentences("train")[:800]
    held_out = data.wiki_sentences("test")[:300]
    held_out += [[], ["zzz-unseen"], ["zzz-unseen", "the", "zzz-unseen"], train[0][:3],
                 ["<unk>", "of"]]
    lm = NGramLM(order, "kneser_ney", discount=discount).fit(train)
    ours = lm.sentence_logprobs(held_out)
    np.testing.assert_allclose(ours, interpolated_sentence_logprobs(lm, held_out), rtol=1e-10)
    again = lm.sentence_logprobs(held_out[::-1])  # the tables are reused, in any order
    np.testing.assert_allclose(again, ours[::-1], rtol=1e-12)
    words, lengths = lm.encode(held_out)
    assert lengths.tolist() == [len(s) for s in held_out]
    assert words.tolist() == [lm.index.get(w, lm.index["<unk>"]) for s in held_out for w in s]
    np.testing.assert_array_equal(lm.sentence_logprobs_of_ids(words, lengths), ours)
    with pytest.raises(ValueError, match="add up"):
        lm.sentence_logprobs_of_ids(words, lengths + 1)
    with pytest.raises(ValueError, match="ids in"):
        lm.sentence_logprobs_of_ids(words + len(lm.vocab), lengths)


@WRAPAROUND
def test_backoff_tables_hold_every_ngram_once_and_probe_them_back():
    from tinylm import data
    from tinylm.ngram import NGramLM
    from tinylm.ngram_kernels import EMPTY, SLOT

    lm = NGramLM(3, "kneser_ney").fit(data.wiki_sentences("train")[:300])
    unigram_logp, _, slots, starts, bits, _, _ = lm._backoff_tables()
    assert np.isfinite(unigram_logp[lm._levels[0].keys]).all()
    listed = np.ones(len(lm.vocab), bool)
    listed[lm._levels[0].keys] = False
    assert np.isnan(unigram_logp[listed]).all()  # never listed: no probability of its own
    for m in (1, 2):
        table = slots[SLOT * starts[m]:SLOT * (starts[m] + (1 << bits[m]))].reshape(-1, SLOT)
        keys = table[table[:, 0] != EMPTY, 0]
        assert sorted(keys.tolist()) == lm._levels[m].keys.tolist()
        assert len(keys) * 4 <= len(table)  # a quarter full at most
