"""No-repeat-n-gram banning: a Numba kernel beside the plain Python it must equal.

``no_repeat_ngram_size = n`` forbids any n-gram from occurring twice in a row of tokens. Before
the next token is chosen, look at the row's last ``n - 1`` tokens (the *prefix*): every earlier
place where the same ``n - 1`` tokens appeared was followed by some token ``t``, and choosing
``t`` now would repeat that n-gram, so ``t`` is banned. With ``n = 1`` the prefix is empty and
every token seen so far is banned.

The rows are whole sequences as ``generate`` sees them: prompt (left padding included, as in
transformers) plus the tokens generated so far. A row shorter than ``n`` holds no complete
n-gram and bans nothing.

Fast version (Numba)       Plain reference (dictionaries, the fairseq way)
``banned_ngram_tokens``    ``banned_ngram_tokens_reference``
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def banned_ngram_tokens(input_ids, n, vocab_size):
    """Which next tokens would repeat an n-gram, for every row.

    input_ids:  (rows, length) int64 token ids
    n:          n-gram size, >= 1
    vocab_size: width of the result; ids >= vocab_size are never banned (they cannot be chosen)
    returns:    (rows, vocab_size) bool, True where the token is banned

    One pass per row: slide a window of n tokens over the row and compare its first n - 1
    tokens with the prefix (the row's last n - 1 tokens). A window that matches bans its last
    token. The window that would start at the prefix itself needs one token more than the row
    has, so the loop stops before it.
    """
    rows, length = input_ids.shape
    banned = np.zeros((rows, vocab_size), dtype=np.bool_)
    prefix_start = length - n + 1  # the prefix is input_ids[r, prefix_start:]
    for r in range(rows):
        for start in range(length - n + 1):  # windows input_ids[r, start:start + n]
            match = True
            for j in range(n - 1):
                if input_ids[r, start + j] != input_ids[r, prefix_start + j]:
                    match = False
                    break
            if match:
                token = input_ids[r, start + n - 1]
                if 0 <= token < vocab_size:
                    banned[r, token] = True
    return banned


def banned_ngram_tokens_reference(input_ids, n: int, vocab_size: int) -> np.ndarray:
    """The same result, written the obvious way: map every (n-1)-gram of the row to the tokens
    that followed it, then look up the row's last n - 1 tokens."""
    input_ids = np.asarray(input_ids)
    banned = np.zeros((input_ids.shape[0], vocab_size), dtype=bool)
    for r, row in enumerate(input_ids.tolist()):
        followers: dict[tuple[int, ...], set[int]] = {}
        for start in range(len(row) - n + 1):
            gram = row[start:start + n]
            followers.setdefault(tuple(gram[:-1]), set()).add(gram[-1])
        prefix = tuple(row[len(row) - n + 1:])  # empty when n == 1: every token follows it
        for token in followers.get(prefix, ()):
            if 0 <= token < vocab_size:
                banned[r, token] = True
    return banned
