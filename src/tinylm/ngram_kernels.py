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
``backoff_sentence_logprobs``                ``NGramLM``'s interpolation, level by level

Scoring uses the model in its backoff form (the form of ARPA files and KenLM), one hash table
per level: see the section "Scoring in the backoff form" below.
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
# Scoring in the backoff form: hash tables and KenLM's walk
# ---------------------------------------------------------------------------------------------
#
# A Kneser-Ney model in backoff form (see ``NGramLM.to_arpa``) keeps, for every n-gram g it
# counted, log P(last word | the rest) and log b(g), the backoff weight of g as a context (0
# if g is no context). Then
#
#     log P(w | c) = log P(w | c_k) + log b(c_{k+1}) + ... + log b(c)
#
# with c_k the last k tokens of c and (c_k, w) the longest n-gram ending in w that the model
# lists (below the unigrams sits the uniform 1 / V, and b of the empty context). Two facts
# make this fast, as in KenLM (Heafield 2011):
# - listing is closed under suffixes (an n-gram is listed only if its suffix is), so the walk
#   goes up from the unigram and stops at the first n-gram not listed;
# - the weights b(c_j) of the next word's contexts are those of the n-grams just found, so the
#   walk carries them to the next word instead of looking them up again. (A context is listed
#   as an n-gram one level down, except the contexts of <s> markers alone, which only the
#   first word of a sentence has: they start the walk.)
# Unigrams are a plain array; each higher level is an open-addressing hash table (linear
# probing, a quarter full) whose slot holds three 64-bit numbers: the key, log P and log b.

EMPTY = np.int64(-1)  # a free slot; keys are >= 0
GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2**64 / the golden ratio
SLOT = 3  # int64s per slot: the key, then the float64 bits of log P and of log b


def table_bits(n: int) -> int:
    """log2 of a table size that keeps ``n`` keys at most a quarter full."""
    return max(1, int(4 * max(n, 1) - 1).bit_length())


@njit(cache=True, inline="always")
def _home(key, bits):
    """The slot a key hashes to: the top ``bits`` bits of key x GOLDEN (mod 2**64)."""
    return np.int64((np.uint64(key) * GOLDEN) >> np.uint64(64 - bits))


@njit(cache=True)
def fill_table(slots, start, bits, keys, logp, logb):
    """Insert the n-grams ``keys`` (n,) with their ``logp`` and ``logb`` (n,) into the table of
    2**bits slots from slot ``start`` of ``slots`` (all EMPTY before). Keys must be distinct."""
    mask = (1 << bits) - 1
    as_floats = slots.view(np.float64)
    for i in range(keys.shape[0]):
        j = _home(keys[i], bits)
        while slots[SLOT * (start + j)] != EMPTY:
            j = (j + 1) & mask
        at = SLOT * (start + j)
        slots[at] = keys[i]
        as_floats[at + 1] = logp[i]
        as_floats[at + 2] = logb[i]


@njit(cache=True, inline="always")
def _probe(slots, start, bits, key):
    """Where ``key`` sits in the table (an index into ``slots``), or -1."""
    mask = (1 << bits) - 1
    j = _home(key, bits)
    while True:
        at = SLOT * (start + j)
        found = slots[at]
        if found == key:
            return at
        if found == EMPTY:
            return -1
        j = (j + 1) & mask


@njit(cache=True)
def backoff_sentence_logprobs(words, lengths, order, base, bos, eos, unigram_logp,
                              unigram_logb, slots, starts, bits, start_logb, empty_logb,
                              log_uniform):
    """log P(sentence) of each sentence, by KenLM's walk over the backoff tables.

    words:   (total,) int64 ids of every sentence's words, one sentence after another
    lengths: (n_sentences,) their lengths; each sentence is read after ``order - 1`` ``bos``
             and also predicts ``eos`` at its end
    unigram_logp, unigram_logb: (V,) per word (log P NaN for a word the model never lists)
    slots, starts, bits: level m's table (m = 1 .. order-1) starts at slot ``starts[m]`` and
             has 2**bits[m] slots (``SLOT`` int64s each)
    start_logb: (order,) log b(<s> x j) for j < order, the contexts of a sentence's first word
    empty_logb, log_uniform: log b of the empty context, log(1 / V)
    returns: (n_sentences,) float64
    """
    as_floats = slots.view(np.float64)
    out = np.empty(lengths.shape[0])
    logb = np.empty(order + 1)  # logb[j]: log b of the j tokens before the word (j >= 1)
    found_logb = np.empty(order + 1)  # the same for the next word, filled by the walk
    first = 0
    for s in range(lengths.shape[0]):
        n = lengths[s]
        logb[:order] = start_logb
        total = 0.0
        for t in range(n + 1):
            w = words[first + t] if t < n else eos
            logp = unigram_logp[w]
            if np.isnan(logp):  # never listed: the uniform, after every context's weight
                logp, k = empty_logb + log_uniform, 0
            else:
                found_logb[1] = unigram_logb[w]
                key, power, k = w, base, 1  # k: tokens in the longest listed n-gram so far
                for m in range(1, order):  # up: (1 token, w), (2 tokens, w), ...
                    before = words[first + t - m] if t - m >= 0 else bos
                    key += before * power
                    power *= base
                    at = _probe(slots, starts[m], bits[m], key)
                    if at < 0:
                        break
                    logp, k = as_floats[at + 1], m + 1
                    found_logb[m + 1] = as_floats[at + 2]
            for j in range(max(k, 1), order):  # the contexts longer than the listed n-gram
                logp += logb[j]
            total += logp
            for j in range(1, order):  # the next word's contexts end with this word
                logb[j] = found_logb[j] if j <= k else 0.0
        out[s] = total
        first += n
    return out


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
