"""The no-repeat-n-gram kernel equals its plain-Python reference (run also with
NUMBA_DISABLE_JIT=1, where the kernel runs as ordinary Python). transformers' processor is
compared in test_generation.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.generation_kernels import banned_ngram_tokens, banned_ngram_tokens_reference


@st.composite
def token_rows(draw):
    """A few rows of equal length over a small alphabet (so n-grams do repeat), sometimes with
    ids beyond the vocabulary the result covers."""
    rows = draw(st.integers(1, 4))
    length = draw(st.integers(0, 25))
    alphabet = draw(st.integers(1, 6))
    ids = draw(st.lists(st.integers(0, alphabet), min_size=rows * length,
                        max_size=rows * length))
    return np.array(ids, dtype=np.int64).reshape(rows, length)


@settings(max_examples=200, deadline=None)
@given(ids=token_rows(), n=st.integers(1, 5), vocab_size=st.integers(1, 8))
def test_kernel_equals_reference(ids, n, vocab_size):
    fast = banned_ngram_tokens(ids, n, vocab_size)
    assert fast.shape == (ids.shape[0], vocab_size) and fast.dtype == np.bool_
    np.testing.assert_array_equal(fast, banned_ngram_tokens_reference(ids, n, vocab_size))


def test_kernel_equals_reference_on_long_random_rows():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(8, 200), dtype=np.int64)
    for n in range(1, 7):
        np.testing.assert_array_equal(banned_ngram_tokens(ids, n, 5),
                                      banned_ngram_tokens_reference(ids, n, 5))


@pytest.mark.parametrize("row, n, banned", [
    ([7, 1, 2, 7, 1], 3, {2}),        # prefix (7, 1) was followed by 2
    ([7, 1, 2, 7, 1], 2, {2}),        # prefix (1,) was followed by 2
    ([7, 1, 2, 7, 5], 2, set()),      # 5 never occurred before
    ([3, 4, 3, 5, 3], 2, {4, 5}),     # 3 was followed by 4 and by 5
    ([3, 4, 3, 5, 3], 1, {3, 4, 5}),  # n = 1: every token seen
    ([3, 3], 3, set()),               # shorter than n: nothing to repeat
    ([3, 3, 3], 3, {3}),              # (3, 3) -> 3 occurred once
    ([9, 1, 9], 2, {1}),
])
def test_small_known_cases(row, n, banned):
    ids = np.array([row], dtype=np.int64)
    for impl in (banned_ngram_tokens, banned_ngram_tokens_reference):
        assert set(np.flatnonzero(impl(ids, n, 10)[0]).tolist()) == banned, impl.__name__


def test_ids_outside_the_vocabulary_are_never_banned():
    ids = np.array([[5, 6, 5]], dtype=np.int64)  # 5 -> 6 repeats, but 6 is outside vocab 6
    for impl in (banned_ngram_tokens, banned_ngram_tokens_reference):
        assert not impl(ids, 2, 6).any()
