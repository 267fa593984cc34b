"""The token index: for each state of a regex's automaton, the tokens allowed next.

Constrained decoding keeps one automaton state per sequence. Before each step it asks the
index which token ids are allowed in that state, masks every other logit to -inf, samples,
and moves to the state the chosen token leads to. The index is built once per regex and
vocabulary (``index_kernels.build_index`` walks the vocabulary's byte trie from every state
of ``automaton.ByteDFA``); after that each step is a lookup.

States are the byte DFA's: ints 0 .. n_states-1, ``initial_state`` is 1 and 0 is the dead
state (no token is allowed there and none leads there). A token is allowed when its bytes
keep the text a prefix of some match; the EOS token is allowed exactly in the final states,
where the text so far is a whole match (it "leads" to the same state: generation ends).

Numbering differs from outlines-core's, whose states are offsets in its Rust DFA, but the
tokens allowed along any path of tokens are the same (tests/test_structured_index.py walks
random paths in both). One difference is deliberate: outlines-core also drops a token when
the text before the token's last byte was already a whole match but the text with it is not
(after "1" for a number regex it refuses ".", though "1.5" matches); here every token that
keeps a match reachable is allowed, the regex's own language.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from tinylm.structured.automaton import ByteDFA
from tinylm.structured.index_kernels import VocabularyTrie, build_index
from tinylm.structured.vocabulary import Vocabulary

_TRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocabulary_trie(vocabulary: Vocabulary) -> VocabularyTrie:
    """The byte trie of a vocabulary's tokens, built once per vocabulary."""
    if vocabulary not in _TRIES:
        _TRIES[vocabulary] = VocabularyTrie.from_tokens(vocabulary.items())
    return _TRIES[vocabulary]


class Index:
    """Allowed tokens and next states for a regex over a vocabulary.

    >>> vocab = Vocabulary(eos_token_id=0, tokens={"1": [1], "2": [2], "12": [3], "a": [4]})
    >>> index = Index("[12]+", vocab)
    >>> index.allowed_tokens(index.initial_state)
    [1, 2, 3]
    >>> state = index.next_state(index.initial_state, 3)
    >>> index.is_final_state(state), index.allowed_tokens(state)
    (True, [0, 1, 2, 3])
    >>> index.next_state(state, 4) is None
    True
    """

    def __init__(self, regex: str, vocabulary: Vocabulary):
        if not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a tinylm.structured.Vocabulary, got "
                            f"{type(vocabulary).__name__}")
        self.regex = regex
        self.vocabulary = vocabulary
        self.dfa = ByteDFA.from_regex(regex)
        self.initial_state: int = self.dfa.initial  # an attribute: cheaper to read than a property
        trie = vocabulary_trie(vocabulary)
        self._offsets, self._tokens, self._next_states = build_index(
            self.dfa.transitions, self.dfa.finals, vocabulary.eos_token_id, trie.child_start,
            trie.child_byte, trie.child_node, trie.token_start, trie.token_ids)
        self._tokens.flags.writeable = False
        if self._offsets[self.initial_state + 1] == self._offsets[self.initial_state]:
            raise ValueError(f"no token of the vocabulary can start a match of {regex!r}")
        # vocabulary.size, from the trie's ids (the Vocabulary counts its ids one by one)
        self._size = max(vocabulary.eos_token_id, int(trie.token_ids.max())) + 1
        # per state, built the first time decoding is there (see allowed_mask below); every
        # attribute is set here, in __init__: one added later slows every attribute lookup
        self._masks: dict[int, np.ndarray] = {}
        self._biases: dict[int, torch.Tensor] = {}
        self._next_rows: dict[int, memoryview] = {}

    @property
    def n_states(self) -> int:
        return self.dfa.n_states

    @property
    def eos_token_id(self) -> int:
        return self.vocabulary.eos_token_id

    @property
    def final_states(self) -> list[int]:
        return np.flatnonzero(self.dfa.finals).tolist()

    def __repr__(self) -> str:
        return (f"Index({self.regex!r:.60}, {self.n_states} states, "
                f"{len(self._tokens)} allowed (state, token) pairs)")

    def _check_state(self, state: int) -> int:
        if isinstance(state, bool) or not isinstance(state, (int, np.integer)) \
                or not 0 <= state < self.n_states:
            raise ValueError(f"state must be an int in 0..{self.n_states - 1}, got {state!r}")
        return int(state)

    def is_final_state(self, state: int) -> bool:
        """True when the text that led to ``state`` is a whole match (EOS is allowed)."""
        return bool(self.dfa.finals[self._check_state(state)])

    def allowed_token_ids(self, state: int) -> np.ndarray:
        """The allowed token ids in ``state``, ascending, as a read-only int32 array (a view:
        no copy)."""
        state = self._check_state(state)
        return self._tokens[self._offsets[state]:self._offsets[state + 1]]

    def allowed_tokens(self, state: int) -> list[int]:
        """The allowed token ids in ``state``, ascending; the EOS id is among them iff the
        state is final. The dead state allows none."""
        return self.allowed_token_ids(state).tolist()

    # --- per generated token: a state's tables, built the first time it is seen, then kept ---
    #
    # Decoding asks the same questions of a state again and again (which tokens? where does
    # this one lead?), so each answer is built once per state, in the form that is cheapest to
    # use, and from then on it is a dictionary lookup (a ``try`` costs nothing when no
    # exception comes; the build sits after it so that a bad state raises its own error).
    # Memory grows with the states decoding visits, never to n_states x vocabulary up front:
    # a JSON Schema's index can have thousands of states.

    def allowed_mask(self, state: int) -> np.ndarray:
        """(vocabulary.size,) bool: True for the allowed tokens (read-only, kept per state)."""
        try:
            return self._masks[state]
        except KeyError:  # the first time in this state
            pass
        mask = np.zeros(self._size, dtype=bool)
        mask[self.allowed_token_ids(state)] = True
        mask.flags.writeable = False
        self._masks[state] = mask
        return mask

    def logit_bias(self, state: int) -> torch.Tensor:
        """(vocabulary.size,) float32: 0 for the allowed tokens, -inf for the others (kept per
        state; shared, do not write to it). ``scores + logit_bias(state)`` masks a row of
        scores in one vectorized add, several times faster than ``masked_fill`` with a bool
        mask."""
        try:
            return self._biases[state]
        except KeyError:
            pass
        bias = np.full(self._size, -np.inf, dtype=np.float32)
        bias[self.allowed_token_ids(state)] = 0.0
        self._biases[state] = torch.from_numpy(bias)
        return self._biases[state]

    def next_state(self, state: int, token_id: int) -> int | None:
        """The state after ``token_id``, or None when the token is not allowed in ``state``
        (EOS in a final state stays there)."""
        if token_id < 0:
            return None  # not an id (and a negative index would read the row from its end)
        try:
            return self._next_rows[state][token_id] or None  # 0, the dead state: refused
        except KeyError:
            pass
        except IndexError:  # an id past the vocabulary
            return None
        self._next_rows[state] = self._next_row(state)
        return self.next_state(state, token_id)

    def _next_row(self, state: int) -> memoryview:
        """The next state of every token id from ``state``, in one dense row: 0 (the dead
        state, where no token leads) for the refused ones. int16 when every state fits (half
        the memory of int32), read through a memoryview: indexing one gives a plain Python
        int, without the cost of making a numpy scalar."""
        state = self._check_state(state)
        lo, hi = self._offsets[state], self._offsets[state + 1]
        row = np.zeros(self._size, dtype=np.int16 if self.n_states <= 32767 else np.int32)
        row[self._tokens[lo:hi]] = self._next_states[lo:hi]
        return memoryview(row)

    def to_dict(self) -> dict[int, dict[int, int]]:
        """{state: {token id: next state}} for every state that allows a token (the shape of
        outlines-core's ``Index.get_transitions()``)."""
        out = {}
        for state in range(self.n_states):
            lo, hi = self._offsets[state], self._offsets[state + 1]
            if hi > lo:
                out[state] = dict(zip(self._tokens[lo:hi].tolist(),
                                      self._next_states[lo:hi].tolist(), strict=True))
        return out

