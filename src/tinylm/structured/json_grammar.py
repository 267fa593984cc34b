"""Any JSON, to any depth: a pushdown automaton over bytes, and token masks from it.

A regular expression cannot describe JSON: brackets nest, and matching ``[[[...]]]`` needs a
counter no finite automaton has (a JSON Schema regex stops recursion at a fixed depth for that
reason). One stack is enough. The automaton here reads a JSON text one byte at a time in a
``JsonState``: a *mode*, which says where in the grammar it is (inside a string, after a key,
in the middle of a number, ...), and a *stack* of the containers still open (``{`` or ``[``).
Most bytes only change the mode, by a lookup in a 256-entry table row; ``{`` and ``[`` push,
``}`` and ``]`` pop (only when they close what is on top), ``,`` looks at the top to know
whether a key or a value comes next. A JSON text is complete when the stack is empty and the
root value is done.

The grammar is RFC 8259's, read byte by byte: objects, arrays, strings with every escape
(``\\uXXXX`` included) and well-formed UTF-8 (no overlong forms, no surrogates, nothing past
U+10FFFF), numbers, ``true``/``false``/``null``, and whitespace (space, tab, newline, carriage
return) between tokens inside containers. Two choices fit generation rather than parsing, and
are xgrammar's too: no whitespace before or after the root value (so a model cannot pad its
answer forever, and EOS comes right after the last bracket), and by default the root is an
object or an array (``root="any"`` allows any value; a number at the root is then complete
while it could still grow: EOS and more digits are both allowed).

Token masks: a token is allowed in a state when all its bytes can be read from there. The
vocabulary's tokens form a byte trie (shared prefixes read once); a depth-first walk of the
trie, carrying the automaton state, finds every allowed token in one pass and drops a whole
subtree as soon as a byte is refused. Masks are cached. The cache key cannot be the whole
state (stacks are unbounded), but a token can only look as deep into the stack as it has
closing brackets, plus one (``,`` and the closers read the top): the key is the mode and that
many entries off the top, which gives the same mask for every state that shares them.

    grammar = JsonGrammar(Vocabulary.from_tokenizer(load_tokenizer()))
    state = grammar.initial_state
    grammar.allowed_tokens(state)            # ids of tokens that can start an object or array
    state = grammar.next_state(state, token_id)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from tinylm.structured.vocabulary import Vocabulary

# ---------------------------------------------------------------------------------------------
# Modes and the byte table
# ---------------------------------------------------------------------------------------------

# Containers on the stack
OBJECT, ARRAY = 1, 2

# What a table entry may say besides "go to mode m" (m >= 0): an action on the stack.
OPEN_OBJECT, OPEN_ARRAY, CLOSE_OBJECT, CLOSE_ARRAY = -1, -2, -3, -4
VALUE_DONE = -5   # a string, literal or container ended: what follows depends on the stack
COMMA = -6        # a key comes next in an object, a value in an array
NUMBER_DONE = -7  # this byte ends a number (which cannot say it is over); read it again after
REJECT = -8

WHITESPACE = b" \t\n\r"
DIGITS = b"0123456789"
HEX_DIGITS = b"0123456789abcdefABCDEF"
ESCAPED = b'"\\/bfnrt'


def _mode_names() -> list[str]:
    """Every mode, by name; a mode is its index in this list."""
    structure = ["ROOT", "VALUE", "ARRAY_OPEN", "OBJECT_OPEN", "KEY", "COLON", "AFTER_VALUE",
                 "DONE"]
    numbers = ["MINUS", "ZERO", "INT", "FRAC_START", "FRAC", "EXP_START", "EXP_SIGN", "EXP"]
    literals = [f"{word.upper()}_{i}" for word in ("true", "false", "null")
                for i in range(1, len(word))]
    string_modes = ["STR", "ESC", "U1", "U2", "U3", "U4", "CONT1", "CONT2", "CONT3", "E0",
                    "ED", "F0", "F4"]
    strings = [f"{place}_{m}" for place in ("KEY", "VALUE") for m in string_modes]
    return structure + numbers + literals + strings


MODE_NAMES = _mode_names()
M = {name: i for i, name in enumerate(MODE_NAMES)}  # name -> mode
COMPLETE_NUMBERS = frozenset({M["ZERO"], M["INT"], M["FRAC"], M["EXP"]})


def _value_starts(row: list[int]) -> None:
    """The first byte of any value."""
    row[ord("{")], row[ord("[")] = OPEN_OBJECT, OPEN_ARRAY
    row[ord('"')] = M["VALUE_STR"]
    row[ord("-")], row[ord("0")] = M["MINUS"], M["ZERO"]
    for b in b"123456789":
        row[b] = M["INT"]
    row[ord("t")], row[ord("f")], row[ord("n")] = M["TRUE_1"], M["FALSE_1"], M["NULL_1"]


def _string_rows(table: list[list[int]], place: str) -> None:
    """Inside a string (a key's or a value's): characters, escapes, UTF-8 sequences."""
    def mode(name):
        return M[f"{place}_{name}"]
    row = table[mode("STR")]
    row[ord('"')] = M["COLON"] if place == "KEY" else VALUE_DONE
    row[ord("\\")] = mode("ESC")
    for b in range(0x20, 0x80):  # printable ASCII and DEL; control characters stay REJECT
        if b not in b'"\\':
            row[b] = mode("STR")
    # The first byte of a multi-byte character says how many continuation bytes (80-BF)
    # follow; E0, ED, F0 and F4 narrow the next one (no overlong forms, no surrogates, no
    # code point past U+10FFFF). C0, C1 and F5-FF never appear in UTF-8.
    for b in range(0xC2, 0xE0):
        row[b] = mode("CONT1")
    for b in [*range(0xE1, 0xED), 0xEE, 0xEF]:
        row[b] = mode("CONT2")
    for b in range(0xF1, 0xF4):
        row[b] = mode("CONT3")
    row[0xE0], row[0xED], row[0xF0], row[0xF4] = mode("E0"), mode("ED"), mode("F0"), mode("F4")
    for name, low, high, then in (("CONT1", 0x80, 0xBF, "STR"), ("CONT2", 0x80, 0xBF, "CONT1"),
                                  ("CONT3", 0x80, 0xBF, "CONT2"), ("E0", 0xA0, 0xBF, "CONT1"),
                                  ("ED", 0x80, 0x9F, "CONT1"), ("F0", 0x90, 0xBF, "CONT2"),
                                  ("F4", 0x80, 0x8F, "CONT2")):
        for b in range(low, high + 1):
            table[mode(name)][b] = mode(then)
    for b in ESCAPED:
        table[mode("ESC")][b] = mode("STR")
    table[mode("ESC")][ord("u")] = mode("U4")
    for name, then in (("U4", "U3"), ("U3", "U2"), ("U2", "U1"), ("U1", "STR")):
        for b in HEX_DIGITS:
            table[mode(name)][b] = mode(then)


def _number_rows(table: list[list[int]]) -> None:
    """-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; a complete number ends at the next
    byte that cannot continue it (whitespace, a comma or a closing bracket)."""
    def digits(name, then):
        for b in DIGITS:
            table[M[name]][b] = M[then]
    table[M["MINUS"]][ord("0")] = M["ZERO"]
    for b in b"123456789":
        table[M["MINUS"]][b] = M["INT"]
    digits("INT", "INT")
    digits("FRAC_START", "FRAC")
    digits("FRAC", "FRAC")
    digits("EXP_START", "EXP")
    digits("EXP_SIGN", "EXP")
    digits("EXP", "EXP")
    for name in ("ZERO", "INT"):
        table[M[name]][ord(".")] = M["FRAC_START"]
    for name in ("ZERO", "INT", "FRAC"):
        table[M[name]][ord("e")] = table[M[name]][ord("E")] = M["EXP_START"]
    table[M["EXP_START"]][ord("+")] = table[M["EXP_START"]][ord("-")] = M["EXP_SIGN"]
    for mode in COMPLETE_NUMBERS:
        for b in WHITESPACE + b",]}":
            table[mode][b] = NUMBER_DONE


def _build_table(root: str) -> list[list[int]]:
    """table[mode][byte]: the next mode (>= 0) or an action (< 0)."""
    table = [[REJECT] * 256 for _ in MODE_NAMES]
    _value_starts(table[M["ROOT"]])
    if root == "container":  # only an object or an array at the root
        table[M["ROOT"]] = [t if t in (OPEN_OBJECT, OPEN_ARRAY) else REJECT
                            for t in table[M["ROOT"]]]
    for name in ("VALUE", "ARRAY_OPEN"):
        _value_starts(table[M[name]])
    table[M["ARRAY_OPEN"]][ord("]")] = CLOSE_ARRAY
    table[M["OBJECT_OPEN"]][ord('"')] = table[M["KEY"]][ord('"')] = M["KEY_STR"]
    table[M["OBJECT_OPEN"]][ord("}")] = CLOSE_OBJECT
    table[M["COLON"]][ord(":")] = M["VALUE"]
    table[M["AFTER_VALUE"]][ord(",")] = COMMA
    table[M["AFTER_VALUE"]][ord("]")] = CLOSE_ARRAY
    table[M["AFTER_VALUE"]][ord("}")] = CLOSE_OBJECT
    for name in ("VALUE", "ARRAY_OPEN", "OBJECT_OPEN", "KEY", "COLON", "AFTER_VALUE"):
        for b in WHITESPACE:
            table[M[name]][b] = M[name]
    for word in ("true", "false", "null"):
        for i in range(1, len(word)):
            then = M[f"{word.upper()}_{i + 1}"] if i + 1 < len(word) else VALUE_DONE
            table[M[f"{word.upper()}_{i}"]][ord(word[i])] = then
    _number_rows(table)
    _string_rows(table, "KEY")
    _string_rows(table, "VALUE")
    return table


# ---------------------------------------------------------------------------------------------
# Reading bytes
# ---------------------------------------------------------------------------------------------


class JsonState(NamedTuple):
    """Where the automaton is: the open containers (OBJECT/ARRAY, innermost last) and the
    mode (an index into MODE_NAMES). A tuple: hashable, and a copy costs nothing."""

    stack: tuple[int, ...]
    mode: int

    def __repr__(self):
        opened = "".join("{" if c == OBJECT else "[" for c in self.stack)
        return f"JsonState({opened!r}, {MODE_NAMES[self.mode]})"


def step(table, stack: tuple[int, ...], mode: int, byte: int):
    """Read one byte: the next (stack, mode), or None when the byte is not allowed."""
    target = table[mode][byte]
    if target >= 0:
        return stack, target
    if target == OPEN_OBJECT:
        return stack + (OBJECT,), M["OBJECT_OPEN"]
    if target == OPEN_ARRAY:
        return stack + (ARRAY,), M["ARRAY_OPEN"]
    if target == CLOSE_OBJECT or target == CLOSE_ARRAY:
        if not stack or stack[-1] != (OBJECT if target == CLOSE_OBJECT else ARRAY):
            return None  # "]" cannot close an object, nor "}" an array
        stack = stack[:-1]
        return stack, M["AFTER_VALUE"] if stack else M["DONE"]
    if target == VALUE_DONE:
        return stack, M["AFTER_VALUE"] if stack else M["DONE"]
    if target == COMMA:
        return stack, M["KEY"] if stack[-1] == OBJECT else M["VALUE"]
    if target == NUMBER_DONE:  # the number is over; this byte belongs to what follows
        return step(table, stack, M["AFTER_VALUE"] if stack else M["DONE"], byte)
    return None


# ---------------------------------------------------------------------------------------------
# The grammar over a vocabulary
# ---------------------------------------------------------------------------------------------


class JsonGrammar:
    """Arbitrary JSON as a constraint over ``vocabulary``, with the interface of ``Index``:
    ``initial_state``, ``allowed_tokens(state)``, ``allowed_mask(state)``,
    ``next_state(state, token_id)`` (None when not allowed) and ``is_final_state(state)``.
    States are ``JsonState`` tuples.

    root: "container" (an object or an array, the default) or "any" (any JSON value).

    >>> vocab = Vocabulary(eos_token_id=0, tokens={"{": [1], "}": [2], '"a":': [3], "1": [4]})
    >>> grammar = JsonGrammar(vocab)
    >>> grammar.allowed_tokens(grammar.initial_state)
    [1]
    >>> state = grammar.next_state(grammar.initial_state, 1)
    >>> grammar.allowed_tokens(state)
    [2, 3]
    """

    def __init__(self, vocabulary: Vocabulary | None = None, root: str = "container"):
        if root not in ("container", "any"):
            raise ValueError(f"root must be 'container' (an object or array) or 'any', got "
                             f"{root!r}")
        if vocabulary is not None and not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a tinylm.structured.Vocabulary, got "
                            f"{type(vocabulary).__name__}")
        self.root = root
        self.table = _build_table(root)
        self.vocabulary = vocabulary
        self._masks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._biases: dict[tuple, torch.Tensor] = {}  # same keys: logit_bias, made on first use
        if vocabulary is not None:
            self._children, self._ids_at = _byte_trie(vocabulary)
            self._bytes_of = {i: token for token, ids in vocabulary.items() for i in ids}
            self._size = vocabulary.size  # Vocabulary.size counts the ids: read it once
            # how deep a token can look into the stack: its closing brackets, plus the top
            self._stack_window = 1 + max((token.count(b"}") + token.count(b"]")
                                          for token, _ in vocabulary.items()), default=0)

    def __repr__(self):
        return f"JsonGrammar(root={self.root!r}, {self.vocabulary!r})"

    @property
    def initial_state(self) -> JsonState:
        return JsonState((), M["ROOT"])

    @property
    def eos_token_id(self) -> int:
        return self._need_vocabulary().eos_token_id

    # --- bytes -------------------------------------------------------------------------------

    def read(self, state: JsonState, data: bytes) -> JsonState | None:
        """The state after reading ``data`` from ``state``, or None if a byte is refused."""
        stack, mode = state
        table = self.table
        for byte in data:
            target = table[mode][byte]
            if target >= 0:  # the common case, inlined: only the mode changes
                mode = target
                continue
            result = step(table, stack, mode, byte)
            if result is None:
                return None
            stack, mode = result
        return JsonState(stack, mode)

    def is_final_state(self, state: JsonState) -> bool:
        """True when the text so far is a whole JSON text (EOS may come)."""
        stack, mode = state
        return not stack and (mode == M["DONE"] or (self.root == "any"
                                                    and mode in COMPLETE_NUMBERS))

    def accepts(self, text: bytes | str) -> bool:
        """Is ``text`` (bytes, or str as UTF-8) one whole JSON text of this grammar?"""
        if isinstance(text, str):
            text = text.encode("utf-8")
        state = self.read(self.initial_state, text)
        return state is not None and self.is_final_state(state)

    # --- tokens ------------------------------------------------------------------------------

    def _need_vocabulary(self) -> Vocabulary:
        if self.vocabulary is None:
            raise ValueError("this JsonGrammar has no vocabulary: pass one to mask tokens")
        return self.vocabulary

    def _check_state(self, state) -> JsonState:
        if type(state) is JsonState and 0 <= state.mode < len(MODE_NAMES):
            return state  # the usual case (this class made it), checked quickly
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], tuple)
                and isinstance(state[1], int) and 0 <= state[1] < len(MODE_NAMES)):
            raise ValueError(f"state must be a JsonState(stack, mode), got {state!r}")
        return JsonState(*state)

    def _mask_key(self, state: JsonState) -> tuple:
        """What the mask of ``state`` depends on: the mode and the top of the stack."""
        self._need_vocabulary()
        stack, mode = self._check_state(state)
        window = self._stack_window
        return mode, stack[-window:], len(stack) > window

    def _masks_of(self, state: JsonState) -> tuple[np.ndarray, np.ndarray]:
        """(allowed ids ascending, bool mask) for ``state``, cached by mode and stack top."""
        key = self._mask_key(state)
        if key not in self._masks:
            vocabulary = self.vocabulary
            stack, mode = state
            allowed: list[int] = []
            self._walk(0, stack, mode, allowed)
            if self.is_final_state(state):
                allowed.append(vocabulary.eos_token_id)
            ids = np.array(sorted(allowed), dtype=np.int32)
            mask = np.zeros(self._size, dtype=bool)
            mask[ids] = True
            ids.flags.writeable = mask.flags.writeable = False
            self._masks[key] = ids, mask
        return self._masks[key]

    def _walk(self, node: int, stack, mode: int, allowed: list[int]) -> None:
        """Depth first through the trie below ``node``: collect every token whose bytes the
        automaton reads from (stack, mode); a refused byte cuts its whole subtree."""
        table = self.table
        for byte, child in self._children[node]:
            target = table[mode][byte]
            if target >= 0:  # the common case, inlined: only the mode changes
                nxt_stack, nxt_mode = stack, target
            else:
                result = step(table, stack, mode, byte)
                if result is None:
                    continue
                nxt_stack, nxt_mode = result
            allowed.extend(self._ids_at[child])
            if self._children[child]:
                self._walk(child, nxt_stack, nxt_mode, allowed)

    def allowed_token_ids(self, state: JsonState) -> np.ndarray:
        """The allowed token ids, ascending (read-only int32); EOS among them iff final."""
        return self._masks_of(state)[0]

    def allowed_tokens(self, state: JsonState) -> list[int]:
        """The allowed token ids, ascending; EOS among them iff the state is final."""
        return self._masks_of(state)[0].tolist()

    def allowed_mask(self, state: JsonState) -> np.ndarray:
        """(vocabulary.size,) bool, True for the allowed tokens (read-only, cached)."""
        return self._masks_of(state)[1]

    def logit_bias(self, state: JsonState) -> torch.Tensor:
        """(vocabulary.size,) float32: 0 for the allowed tokens, -inf for the others (cached;
        shared, do not write to it): ``scores + logit_bias(state)`` masks the scores."""
        key = self._mask_key(state)
        if key not in self._biases:
            bias = np.full(self._size, -np.inf, dtype=np.float32)
            bias[self.allowed_token_ids(state)] = 0.0
            self._biases[key] = torch.from_numpy(bias)
        return self._biases[key]

    def next_state(self, state: JsonState, token_id: int) -> JsonState | None:
        """The state after ``token_id``, or None when it is not allowed. EOS is allowed in a
        final state and leaves it unchanged."""
        vocabulary = self._need_vocabulary()
        state = self._check_state(state)
        data = self._bytes_of.get(token_id)
        if data is None:  # EOS, or a special token (never allowed)
            is_eos = token_id == vocabulary.eos_token_id
            return state if is_eos and self.is_final_state(state) else None
        return self.read(state, data)


def _byte_trie(vocabulary: Vocabulary):
    """The vocabulary as a byte trie: children[node] = [(byte, child), ...] and ids_at[node]
    = the ids of the tokens that end at node (node 0 is the root, the empty prefix)."""
    children: list[dict[int, int]] = [{}]
    ids_at: list[list[int]] = [[]]
    for token, ids in vocabulary.items():
        node = 0
        for byte in token:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                ids_at.append([])
            node = children[node][byte]
        ids_at[node].extend(ids)
    return [sorted(c.items()) for c in children], ids_at
