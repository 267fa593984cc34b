"""Drafting by looking back: Numba kernels beside the plain Python they must equal.

A retrieval drafter proposes the next tokens of a sequence by finding its last few tokens
earlier in the same sequence (the prompt and everything generated so far) and reading what
followed them there. Text repeats itself: JSON keys, names, code identifiers, a phrase copied
from the prompt. Two rules live here, both trying the longest suffix first and backing off to
shorter ones, like chapter 1's n-gram model:

- ``copy_continuation``: prompt lookup (Saxena 2023), as ``transformers``'
  ``PromptLookupCandidateGenerator`` does it. For n = max_ngram down to min_ngram: find the
  *first* (leftmost) earlier place where the last n tokens occur with at least one token after
  them, and copy up to ``num_tokens`` tokens that follow, stopping at the end of the sequence.
- ``count_continuation``: chapter 1's counting. The last n tokens are a context; every earlier
  occurrence of it votes for the token that followed it; the most frequent wins (a tie goes to
  the most recent). Fall back to a shorter context when the longer one never occurred. The
  chosen token is appended as if accepted and the vote is held again for the next one, so a
  draft can run past the end of anything seen before.

Both return the proposed tokens, possibly fewer than ``num_tokens`` (none when not even the
shortest suffix occurred before). Tokens are int64 ids of a single sequence, oldest first.

Fast versions (Numba)      Plain references (slices, tuples and Counters)
``copy_continuation``      ``copy_continuation_reference``
``count_continuation``     ``count_continuation_reference``
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numba import njit


@njit(cache=True)
def _occurs_at(tokens, start, length, n):
    """Do the n tokens at ``start`` equal the last n of ``tokens[:length]``?"""
    suffix = length - n
    for j in range(n):
        if tokens[start + j] != tokens[suffix + j]:
            return False
    return True


@njit(cache=True)
def copy_continuation(tokens, max_ngram, min_ngram, num_tokens):
    """Prompt lookup: the continuation of the first earlier occurrence of the longest suffix.

    tokens:     (length,) int64, the sequence so far
    max_ngram:  longest suffix tried; min_ngram: shortest (>= 1)
    num_tokens: most tokens to propose
    returns:    (k,) int64 with 0 <= k <= num_tokens

    An occurrence at ``start`` counts if something follows it: ``start + n < length``. (The
    suffix itself sits at ``length - n`` and is never its own match.) The copy stops at the end
    of the sequence, so a match near the end proposes fewer tokens.
    """
    length = tokens.shape[0]
    for n in range(min(max_ngram, length - 1), min_ngram - 1, -1):
        for start in range(length - n):  # every start with at least one token after the n-gram
            if _occurs_at(tokens, start, length, n):
                begin = start + n
                end = min(begin + num_tokens, length)
                return tokens[begin:end].copy()
    return np.empty(0, dtype=np.int64)


@njit(cache=True)
def _vote(seq, length, n):
    """The most frequent token after earlier occurrences of the last n tokens of seq[:length]
    (the most recent among equals), or -1 if they never occurred before."""
    followers = np.empty(length, dtype=np.int64)  # the next token of each occurrence, in order
    m = 0
    for start in range(length - n):
        if _occurs_at(seq, start, length, n):
            followers[m] = seq[start + n]
            m += 1
    best, best_count = -1, 0
    for i in range(m):  # m is small (how often the context occurred): O(m^2) is fine
        count = 0
        for j in range(m):
            if followers[j] == followers[i]:
                count += 1
        if count >= best_count:  # >=: a later follower wins a tie (the most recent)
            best, best_count = followers[i], count
    return best


@njit(cache=True)
def count_continuation(tokens, max_ngram, min_ngram, num_tokens):
    """Chapter 1's counting: draft token by token, each the most frequent follower of the
    longest suffix that occurred before.

    tokens:     (length,) int64, the sequence so far
    returns:    (k,) int64 with 0 <= k <= num_tokens; it stops early when no suffix of at
                least ``min_ngram`` tokens occurred before
    """
    length = tokens.shape[0]
    seq = np.empty(length + num_tokens, dtype=np.int64)  # the sequence, then the draft
    seq[:length] = tokens
    drafted = 0
    while drafted < num_tokens:
        current = length + drafted
        token = -1
        for n in range(min(max_ngram, current - 1), min_ngram - 1, -1):
            token = _vote(seq, current, n)
            if token >= 0:
                break
        if token < 0:
            break
        seq[current] = token
        drafted += 1
    return seq[length:length + drafted].copy()


# ---------------------------------------------------------------------------------------------
# Plain references
# ---------------------------------------------------------------------------------------------


def copy_continuation_reference(tokens, max_ngram: int, min_ngram: int,
                                num_tokens: int) -> np.ndarray:
    """The same as ``copy_continuation``, with list slices."""
    seq = [int(t) for t in tokens]
    for n in range(min(max_ngram, len(seq) - 1), min_ngram - 1, -1):
        suffix = seq[len(seq) - n:]
        for start in range(len(seq) - n):
            if seq[start:start + n] == suffix:
                return np.array(seq[start + n:start + n + num_tokens], dtype=np.int64)
    return np.empty(0, dtype=np.int64)


def count_continuation_reference(tokens, max_ngram: int, min_ngram: int,
                                 num_tokens: int) -> np.ndarray:
    """The same as ``count_continuation``: a Counter of followers per context."""
    seq = [int(t) for t in tokens]
    start_length = len(seq)
    while len(seq) - start_length < num_tokens:
        token = None
        for n in range(min(max_ngram, len(seq) - 1), min_ngram - 1, -1):
            context = tuple(seq[len(seq) - n:])
            followers = [seq[i + n] for i in range(len(seq) - n)
                         if tuple(seq[i:i + n]) == context]
            if followers:
                counts = Counter(followers)
                best = max(counts.values())
                token = [t for t in followers if counts[t] == best][-1]  # most recent of the best
                break
        if token is None:
            break
        seq.append(token)
    return np.array(seq[start_length:], dtype=np.int64)
