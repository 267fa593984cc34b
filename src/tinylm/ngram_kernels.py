"""Counting n-grams fast: Numba kernels, each beside the plain Python it must equal.

An n-gram of token ids ``(t0, t1, ..., t_{k-1})`` over a vocabulary of size ``V`` is packed
into one int64 *key*, reading the ids as the digits of a number in base ``V``:

    key = ((t0 * V + t1) * V + t2) ... * V + t_{k-1}

Two facts make keys handy. Sorting keys sorts n-grams lexicographically, so all n-grams that
share a context ``(t0, ..., t_{k-2})`` sit next to each other; and that context's own key is
simply ``key // V``, while the n-gram's last ``k-1`` tokens (its *suffix*) are ``key % V**(k-1)``.
Counting then becomes: make keys, sort them, count runs of equal keys.

The corpus arrives as one flat array ``tokens`` (every sentence padded with ``<s>`` markers and
closed with ``</s>``) and an array ``targets`` of the positions whose token is predicted (every
position that is not a ``<s>`` marker). The k-gram *ending* at a target position ``t`` is
``tokens[t-k+1 : t+1]``; the padding guarantees it never reaches into the previous sentence.

Fast versions (Numba kernels + NumPy sort)   Plain references (same results, easy to read)
``count_ngrams``                             ``count_ngrams_reference``
``continuation_counts``                      ``continuation_counts_reference``
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numba import njit

INT64_MAX = np.iinfo(np.int64).max


def check_key_range(vocab_size: int, order: int) -> None:
    """Keys of ``order``-grams must fit in an int64: ``vocab_size ** order <= 2**63 - 1``."""
    if vocab_size < 1 or order < 1:
        raise ValueError(f"need vocab_size >= 1 and order >= 1, got {vocab_size} and {order}")
    if vocab_size**order > INT64_MAX:
        raise ValueError(
            f"order {order} with a vocabulary of {vocab_size} tokens does not fit 64-bit "
            f"n-gram keys ({vocab_size}**{order} > 2**63): "
            "use a lower order or a smaller vocabulary"
        )


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _runs(sorted_keys):
    """Unique values of a sorted array and how often each occurs (run-length encoding)."""
    n = sorted_keys.shape[0]
    uniq = np.empty(n, dtype=np.int64)
    counts = np.empty(n, dtype=np.int64)
    m = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and sorted_keys[j] == sorted_keys[i]:
            j += 1
        uniq[m] = sorted_keys[i]
        counts[m] = j - i
        m += 1
        i = j
    return uniq[:m], counts[:m]


@njit(cache=True)
def ngram_keys(tokens, targets, k, base):
    """The key of the k-gram ending at each target position.

    tokens:  (n_tokens,) int64 ids of the padded corpus
    targets: (n_targets,) int64 positions of predicted tokens
    returns: (n_targets,) int64 keys
    """
    keys = np.empty(targets.shape[0], dtype=np.int64)
    for i in range(targets.shape[0]):
        t = targets[i]
        key = 0
        for j in range(t - k + 1, t + 1):  # the k tokens ending at t, oldest first
            key = key * base + tokens[j]
        keys[i] = key
    return keys


def count_ngrams(tokens, targets, k, base):
    """Count the k-grams ending at each target position: make keys, sort, count runs.

    returns: keys (n_unique,) sorted int64 and counts (n_unique,) int64
    """
    # NumPy's sort (vectorised with SIMD instructions) beats the one Numba compiles by ~10x.
    return _runs(np.sort(ngram_keys(tokens, targets, k, base)))


def continuation_counts(higher_keys, k, base):
    """Kneser-Ney continuation counts N1+(. w_1..w_k) from the unique (k+1)-gram keys.

    N1+(. s) is the number of distinct tokens seen *before* the k-gram s: each distinct
    (k+1)-gram (u, s) counts one for its suffix s = key % base**k.

    higher_keys: (n,) unique (k+1)-gram keys (any order)
    returns: keys (m,) sorted unique k-gram keys and their continuation counts (m,)
    """
    suffixes = np.asarray(higher_keys, dtype=np.int64) % np.int64(base**k)
    return _runs(np.sort(suffixes))


@njit(cache=True)
def context_totals(keys, values, base):
    """Group sorted n-gram keys by context (key // base).

    returns: context keys (m,), total of ``values`` per context (m,), and the number of
    distinct following tokens with a non-zero value per context (m,)
    """
    n = keys.shape[0]
    ctx = np.empty(n, dtype=np.int64)
    totals = np.empty(n, dtype=np.int64)
    types = np.empty(n, dtype=np.int64)
    m = -1
    for i in range(n):
        c = keys[i] // base
        if m < 0 or ctx[m] != c:
            m += 1
            ctx[m] = c
            totals[m] = 0
            types[m] = 0
        totals[m] += values[i]
        if values[i] > 0:
            types[m] += 1
    return ctx[: m + 1], totals[: m + 1], types[: m + 1]


# ---------------------------------------------------------------------------------------------
# Plain references: tuples and Counters, the way you would write it on a whiteboard
# ---------------------------------------------------------------------------------------------


def count_ngrams_reference(tokens, targets, k) -> Counter:
    """Counter of k-gram tuples ending at each target position."""
    return Counter(tuple(int(x) for x in tokens[t - k + 1 : t + 1]) for t in targets)


def continuation_counts_reference(higher_counts: Counter) -> Counter:
    """N1+(. s): for each distinct (k+1)-gram (u, *s), one count for the suffix s."""
    return Counter(gram[1:] for gram, c in higher_counts.items() if c > 0)


def key_of(gram, base: int) -> int:
    """The int64 key of an n-gram tuple (the inverse of ``gram_of``)."""
    key = 0
    for t in gram:
        key = key * base + int(t)
    return key


def gram_of(key: int, k: int, base: int) -> tuple[int, ...]:
    """The n-gram tuple of ``k`` ids packed in ``key``."""
    digits = []
    for _ in range(k):
        key, t = divmod(int(key), base)
        digits.append(t)
    return tuple(reversed(digits))
