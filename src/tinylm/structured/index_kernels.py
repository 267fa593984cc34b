"""Building the token index fast: a Numba kernel beside the plain Python it must equal.

The index answers, for every state of the byte-level DFA, "which tokens may come next, and
where does each lead?". A token is allowed in a state when reading its bytes from there never
reaches the dead state; it leads to the state where its last byte lands.

Walking every token from every state repeats work: " the", " then" and " there" share their
first four bytes. So the tokens go into a *trie* (a tree of bytes: one node per distinct
prefix, the ids of a token on the node where its bytes end), and each state walks the trie
once, depth first. A branch stops as soon as the DFA dies, so from a state that expects a
digit only the digit branches are visited, never the 4,000 words.

The trie is stored flat, as arrays a kernel can read (CSR, "compressed sparse rows"):

    child_start (n_nodes + 1,)  node v's children are entries child_start[v] .. child_start[v+1]-1
    child_byte  (n_edges,)      the byte on each edge, ascending within a node
    child_node  (n_edges,)      the node it leads to (node 0 is the root, the empty prefix)
    token_start (n_nodes + 1,)  the tokens ending at node v are token_ids[token_start[v] ..]
    token_ids   (n_token_ids,)

The index comes out in the same form, one row per DFA state, token ids ascending:

    offsets     (n_states + 1,) int64   state s's row is entries offsets[s] .. offsets[s+1]-1
    tokens      (n_entries,) int32      the allowed token ids (EOS in the final states' rows)
    next_states (n_entries,) int32      where each leads (EOS: the state itself)

Fast version (Numba)        Plain reference (same results, easy to read)
``build_index``             ``build_index_reference``
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit

DEAD = 0  # the byte DFA's dead state (see automaton.py)


@dataclass(frozen=True)
class VocabularyTrie:
    """The vocabulary's tokens as a flat byte trie (the arrays described above)."""

    child_start: np.ndarray
    child_byte: np.ndarray
    child_node: np.ndarray
    token_start: np.ndarray
    token_ids: np.ndarray

    @property
    def n_nodes(self) -> int:
        return self.child_start.shape[0] - 1

    @classmethod
    def from_tokens(cls, tokens: Iterable[tuple[bytes, Iterable[int]]]) -> VocabularyTrie:
        """The trie of (token bytes, ids) pairs."""
        children: list[dict[int, int]] = [{}]  # node -> {byte: child node}
        ids_at: list[list[int]] = [[]]  # node -> ids of the tokens ending there
        for token, ids in tokens:
            node = 0
            for byte in token:
                if byte not in children[node]:
                    children[node][byte] = len(children)
                    children.append({})
                    ids_at.append([])
                node = children[node][byte]
            ids_at[node] += ids
        edges = [sorted(c.items()) for c in children]
        return cls(
            child_start=np.cumsum([0] + [len(e) for e in edges]).astype(np.int64),
            child_byte=np.array([b for e in edges for b, _ in e], dtype=np.int32),
            child_node=np.array([n for e in edges for _, n in e], dtype=np.int32),
            token_start=np.cumsum([0] + [len(i) for i in ids_at]).astype(np.int64),
            token_ids=np.array([i for ids in ids_at for i in ids], dtype=np.int32),
        )


# ---------------------------------------------------------------------------------------------
# Plain reference
# ---------------------------------------------------------------------------------------------


def build_index_reference(transitions, finals, eos_token_id, trie: VocabularyTrie):
    """The index, one state at a time, walking the trie depth first in plain Python.

    transitions: (n_states, 256) ints, the byte DFA (state 0 dead); finals: (n_states,) bools
    returns: offsets, tokens, next_states (the CSR arrays above)
    """
    table = np.asarray(transitions).tolist()  # Python lists: faster to index one by one
    child_start, child_byte = trie.child_start.tolist(), trie.child_byte.tolist()
    child_node, token_start = trie.child_node.tolist(), trie.token_start.tolist()
    token_ids = trie.token_ids.tolist()

    def walk(node: int, state: int, row: dict[int, int]) -> None:
        """Every token below trie ``node``, read from DFA ``state``, into row {token: next}."""
        for edge in range(child_start[node], child_start[node + 1]):
            nxt = table[state][child_byte[edge]]
            if nxt == DEAD:
                continue  # no token below this edge can be allowed
            child = child_node[edge]
            for k in range(token_start[child], token_start[child + 1]):
                row[token_ids[k]] = nxt
            walk(child, nxt, row)

    offsets, tokens, next_states = [0], [], []
    for state in range(len(table)):
        row: dict[int, int] = {}
        if state != DEAD:
            walk(0, state, row)
            if finals[state]:
                row[eos_token_id] = state  # the text may end here
        for token in sorted(row):
            tokens.append(token)
            next_states.append(row[token])
        offsets.append(len(tokens))
    return (np.array(offsets, dtype=np.int64), np.array(tokens, dtype=np.int32),
            np.array(next_states, dtype=np.int32))


# ---------------------------------------------------------------------------------------------
# Kernel
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _walk_trie(transitions, start, child_start, child_byte, child_node, token_start, token_ids,
               stack_node, stack_state, next_of, found):
    """The reference's ``walk`` for one start state, with an explicit stack instead of
    recursion: sets next_of[token] for each allowed token, lists the tokens in ``found`` and
    returns how many."""
    count = 0
    top = 1
    stack_node[0] = 0
    stack_state[0] = start
    while top > 0:
        top -= 1
        node = stack_node[top]
        state = stack_state[top]
        for edge in range(child_start[node], child_start[node + 1]):
            nxt = transitions[state, child_byte[edge]]
            if nxt == DEAD:
                continue
            child = child_node[edge]
            for k in range(token_start[child], token_start[child + 1]):
                next_of[token_ids[k]] = nxt
                found[count] = token_ids[k]
                count += 1
            if child_start[child + 1] > child_start[child]:  # it has children: go down later
                stack_node[top] = child
                stack_state[top] = nxt
                top += 1
    return count


@njit(cache=True)
def build_index(transitions, finals, eos_token_id, child_start, child_byte, child_node,
                token_start, token_ids):
    """``build_index_reference`` compiled: same arguments (the trie as its five arrays),
    same CSR result. Rows are appended to arrays that double when full."""
    n_states = transitions.shape[0]
    n_nodes = child_start.shape[0] - 1
    vocab_size = max(eos_token_id, token_ids.max() if token_ids.shape[0] else 0) + 1
    stack_node = np.empty(n_nodes + 1, dtype=np.int32)  # a DFS stack never holds a node twice
    stack_state = np.empty(n_nodes + 1, dtype=np.int32)
    next_of = np.full(vocab_size, -1, dtype=np.int32)  # token -> next state, -1: not allowed
    found = np.empty(token_ids.shape[0] + 1, dtype=np.int32)

    offsets = np.zeros(n_states + 1, dtype=np.int64)
    tokens = np.empty(max(1024, 4 * n_states), dtype=np.int32)
    next_states = np.empty_like(tokens)
    size = 0
    for state in range(n_states):
        count = 0
        if state != DEAD:
            count = _walk_trie(transitions, state, child_start, child_byte, child_node,
                               token_start, token_ids, stack_node, stack_state, next_of, found)
            if finals[state]:
                next_of[eos_token_id] = state
                found[count] = eos_token_id
                count += 1
        while size + count > tokens.shape[0]:
            grown = np.empty(2 * tokens.shape[0], dtype=np.int32)
            grown[:size] = tokens[:size]
            tokens = grown
            grown = np.empty(2 * next_states.shape[0], dtype=np.int32)
            grown[:size] = next_states[:size]
            next_states = grown
        # Ascending ids: a few found tokens are sorted; many are read off next_of in id order.
        if 16 * count < vocab_size:
            found[:count].sort()
            for j in range(count):
                tokens[size + j] = found[j]
        else:
            j = 0
            for token in range(vocab_size):
                if next_of[token] >= 0:
                    tokens[size + j] = token
                    j += 1
        for j in range(count):
            next_states[size + j] = next_of[tokens[size + j]]
            next_of[tokens[size + j]] = -1
        size += count
        offsets[state + 1] = size
    return offsets, tokens[:size].copy(), next_states[:size].copy()
