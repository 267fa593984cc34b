"""The retrieval drafter's Numba kernels equal their plain-Python references (run also with
NUMBA_DISABLE_JIT=1, where the kernels run as ordinary Python), on random sequences over a few
token ids (so that n-grams repeat) and on cases worked out by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.speculative_kernels import (
    copy_continuation,
    copy_continuation_reference,
    count_continuation,
    count_continuation_reference,
)

KERNELS = [(copy_continuation, copy_continuation_reference),
           (count_continuation, count_continuation_reference)]
IDS = ["copy", "count"]


def run(fn, tokens, max_ngram, min_ngram, num_tokens):
    out = fn(np.asarray(tokens, dtype=np.int64), max_ngram, min_ngram, num_tokens)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out.ndim == 1
    return out.tolist()


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=IDS)
@settings(max_examples=150, deadline=None)
@given(tokens=st.lists(st.integers(0, 4), max_size=40), max_ngram=st.integers(1, 5),
       min_ngram=st.integers(1, 5), num_tokens=st.integers(0, 9))
def test_kernel_equals_reference(kernel, reference, tokens, max_ngram, min_ngram, num_tokens):
    min_ngram = min(min_ngram, max_ngram)
    assert run(kernel, tokens, max_ngram, min_ngram, num_tokens) == \
        run(reference, tokens, max_ngram, min_ngram, num_tokens)


@pytest.mark.parametrize("kernel, reference", KERNELS, ids=IDS)
def test_kernel_equals_reference_on_long_random_sequences(kernel, reference):
    rng = np.random.default_rng(0)
    for trial in range(40):
        tokens = rng.integers(0, 2 + trial % 30, size=int(rng.integers(50, 300)))
        args = (int(rng.integers(1, 5)), 1, int(rng.integers(1, 10)))
        assert run(kernel, tokens, *args) == run(reference, tokens, *args), (trial, args)


@pytest.mark.parametrize("fn", [copy_continuation, copy_continuation_reference],
                         ids=["kernel", "reference"])
def test_copy_known_cases(fn):
    # the suffix "1 2" first occurs at 0: copy what followed it, up to the end of the sequence
    assert run(fn, [1, 2, 3, 4, 1, 2, 5, 1, 2], 2, 1, 3) == [3, 4, 1]
    assert run(fn, [1, 2, 3, 1, 2], 2, 1, 9) == [3, 1, 2]  # the copy stops at the end
    # "9 2" never occurred before: back off to "2", first seen at 1
    assert run(fn, [1, 2, 3, 9, 2], 2, 1, 2) == [3, 9]
    assert run(fn, [1, 2, 3, 9, 2], 2, 2, 2) == []  # ... unless 2-grams are the shortest allowed
    assert run(fn, [5, 6, 7], 3, 1, 4) == []  # nothing repeats
    assert run(fn, [4, 4], 3, 1, 4) == [4]  # a run of one token: copy it
    assert run(fn, [], 3, 1, 4) == [] and run(fn, [7], 3, 1, 4) == []


@pytest.mark.parametrize("fn", [count_continuation, count_continuation_reference],
                         ids=["kernel", "reference"])
def test_count_known_cases(fn):
    # after "3 1" (max_ngram 2): 2; after "1 2": 3 and 4 once each, the most recent (4) wins
    # the tie; after "2 4": 1; after "4 1": 3 (the drafted "4 1" is the suffix itself)
    assert run(fn, [1, 2, 3, 1, 2, 4, 1, 3, 1], 2, 1, 4) == [2, 4, 1, 3]
    # with 1-grams only: after "1", 2 twice and 3 once: 2; after "2", 3 once and 4 once: 4
    assert run(fn, [1, 2, 3, 1, 2, 4, 1, 3, 1], 1, 1, 2) == [2, 4]
    # a draft can run past anything seen: the drafted tokens count as text
    assert run(fn, [1, 2, 1], 2, 1, 5) == [2, 1, 2, 1, 2]
    assert run(fn, [5, 6, 7], 3, 1, 4) == []  # no suffix occurred before: no proposal
    assert run(fn, [5, 6, 5], 3, 2, 4) == []  # "6 5" never occurred and 1-grams are not allowed
    assert run(fn, [3, 3], 3, 1, 3) == [3, 3, 3]
    assert run(fn, [1, 2, 1, 2, 1], 3, 1, 0) == []  # nothing asked for


def test_count_prefers_longer_contexts():
    """The longest suffix that occurred decides, even against a more frequent shorter one:
    after "8 1" (seen once, followed by 9) the draft is 9, although 1 was followed by 2
    three times."""
    tokens = [1, 2, 1, 2, 1, 2, 8, 1, 9, 8, 1]
    assert run(count_continuation, tokens, 2, 1, 1) == [9]
    assert run(count_continuation, tokens, 1, 1, 1) == [2]
