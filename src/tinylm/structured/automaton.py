"""From a regular expression to a byte-level DFA, the automaton the token index walks.

A regex describes a set of strings; a deterministic finite automaton (DFA) recognises that
set one symbol at a time: a state, a table "in this state, this symbol leads there", a start
and some final (accepting) states. Constrained decoding needs the DFA, because "which tokens
may come next" is a question about the state reached so far, not about the whole string.

Four steps, each below:

1. Read the regex into a tree of alternations, concatenations, repetitions and character
   classes. The regexes come from outlines-core's JSON-Schema converter and use the syntax of
   Rust's ``regex`` crate, which is close to Python's. ``parse_regex`` reads it in one pass,
   names any feature a DFA cannot have (backreferences, lookaround, anchors in the middle) and
   spells Unicode classes out: Rust's ``\\d`` is every Unicode decimal digit ("٣" too),
   ``\\s`` every Unicode space, as outlines-core's matcher has them. A class is a list of code
   point ranges, so "any character but a quote" is two ranges, not a million characters.
   (The grammar is that of ``interegular``, the parser outlines used before its Rust core;
   ``translate_regex`` writes the tree out for it, and the tests check that both read the
   same language.)
2. Split the characters into *symbols* (``Alphabet``): characters that every class of the
   regex treats alike share a symbol, and one symbol holds every character the regex never
   names, so "[^"]" needs two symbols.
3. Thompson's construction turns the tree into a nondeterministic automaton over symbols, and
   the subset construction into a ``CharDFA``: one state per set of positions the regex can be
   in after some text. (interegular's own ``to_fsm()`` builds the same language by combining
   whole automata: seconds, where this takes tens of milliseconds, on a JSON-Schema regex.)
4. Tokens are bytes, so ``ByteDFA`` re-expresses each character transition as the UTF-8 byte
   paths that spell its characters. Characters of 2 to 4 bytes go through intermediate
   states ("inside a character"), shared when they lead to the same place.

The ``ByteDFA``'s states are the ints 0 .. n-1; state 0 (``DEAD``) is the dead state: every
byte leads there from where the regex can no longer match, and it never leaves. The initial
state is 1. A state is live only if some final state can still be reached from it.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

DEAD = 0
INITIAL = 1
MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)  # UTF-16's halves: code points that are not characters
N_CHARACTERS = MAX_CODE_POINT + 1 - (SURROGATES[1] - SURROGATES[0] + 1)

# ---------------------------------------------------------------------------------------------
# 1. Reading the regex
# ---------------------------------------------------------------------------------------------

# Rust's \d: Unicode's decimal digits (category Nd), as of Unicode 16 (the version of the
# tables inside outlines-core 0.2): "0"-"9" and the digits of 70 other scripts, each a run of
# (first, last) code points. Python 3.11's unicodedata knows only Unicode 14's, hence a table.
DECIMAL_DIGITS = (
    (0x30, 0x39), (0x660, 0x669), (0x6F0, 0x6F9), (0x7C0, 0x7C9), (0x966, 0x96F),
    (0x9E6, 0x9EF), (0xA66, 0xA6F), (0xAE6, 0xAEF), (0xB66, 0xB6F), (0xBE6, 0xBEF),
    (0xC66, 0xC6F), (0xCE6, 0xCEF), (0xD66, 0xD6F), (0xDE6, 0xDEF), (0xE50, 0xE59),
    (0xED0, 0xED9), (0xF20, 0xF29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9),
    (0x1810, 0x1819), (0x1946, 0x194F), (0x19D0, 0x19D9), (0x1A80, 0x1A89), (0x1A90, 0x1A99),
    (0x1B50, 0x1B59), (0x1BB0, 0x1BB9), (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0xA620, 0xA629),
    (0xA8D0, 0xA8D9), (0xA900, 0xA909), (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59),
    (0xABF0, 0xABF9), (0xFF10, 0xFF19), (0x104A0, 0x104A9), (0x10D30, 0x10D39),
    (0x10D40, 0x10D49), (0x11066, 0x1106F), (0x110F0, 0x110F9), (0x11136, 0x1113F),
    (0x111D0, 0x111D9), (0x112F0, 0x112F9), (0x11450, 0x11459), (0x114D0, 0x114D9),
    (0x11650, 0x11659), (0x116C0, 0x116C9), (0x116D0, 0x116E3), (0x11730, 0x11739),
    (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11BF0, 0x11BF9), (0x11C50, 0x11C59),
    (0x11D50, 0x11D59), (0x11DA0, 0x11DA9), (0x11F50, 0x11F59), (0x16130, 0x16139),
    (0x16A60, 0x16A69), (0x16AC0, 0x16AC9), (0x16B50, 0x16B59), (0x16D70, 0x16D79),
    (0x1CCF0, 0x1CCF9), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9),
    (0x1E4F0, 0x1E4F9), (0x1E5F1, 0x1E5FA), (0x1E950, 0x1E959), (0x1FBF0, 0x1FBF9),
)
# Rust's \s: Unicode's White_Space property (Python's \s adds the separators \x1c-\x1f).
WHITESPACE = ((0x9, 0xD), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
              (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
              (0x3000, 0x3000))
CLASS_ESCAPES = {"d": DECIMAL_DIGITS, "s": WHITESPACE}
CHAR_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}  # \x7F, \u00e9, \U0001F600 (or \x{...} of any length)
UNSUPPORTED_ESCAPES = {
    "w": "\\w (Unicode word characters: write the class you mean, such as [A-Za-z0-9_])",
    "p": "a Unicode property class \\p{...}", "b": "a word boundary \\b",
    "B": "a word boundary \\B", "<": "a word boundary \\<", ">": "a word boundary \\>",
    "k": "a backreference \\k<name>", "A": "the anchor \\A in the middle of a regex",
    "z": "the anchor \\z in the middle of a regex", "0": "an octal escape \\0",
}
LOOKAROUND = (("(?=", "lookahead (?=...)"), ("(?!", "lookahead (?!...)"),
              ("(?<=", "lookbehind (?<=...)"), ("(?<!", "lookbehind (?<!...)"),
              ("(?P=", "a backreference (?P=name)"))
OPERATORS = {"*": (0, None), "+": (1, None), "?": (0, 1)}  # repetition: (at least, at most)
# Compiled once: the reader tries them at every '{', named group and hex escape.
REPETITION_COUNTS = re.compile(r"\{(\d*)(,(\d*))?\}")
NAMED_GROUP = re.compile(r"\(\?P?<[A-Za-z_][A-Za-z0-9_.\[\]]*>")
BRACED_HEX = re.compile(r"\{([0-9A-Fa-f]{1,8})\}")
FIXED_HEX = {n: re.compile(f"[0-9A-Fa-f]{{{n}}}") for n in HEX_ESCAPES.values()}


class UnsupportedRegexError(ValueError):
    """A regex feature that no DFA (or this module) has, named in the message."""

    def __init__(self, feature: str, regex: str, position: int):
        context = regex[max(0, position - 12):position + 12]
        super().__init__(f"{feature} is not supported (at position {position} of the regex, "
                         f"near {context!r})")


def normalize_ranges(ranges) -> list[tuple[int, int]]:
    """Sorted, merged (first, last) code point ranges, the surrogates cut out."""
    first_surrogate, last_surrogate = SURROGATES
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if first <= last_surrogate and last >= first_surrogate:  # keep what is around them
            pieces = ((first, first_surrogate - 1), (last_surrogate + 1, last))
        else:
            pieces = ((first, last),)
        for lo, hi in pieces:
            if lo > hi:
                continue
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def complement(ranges) -> list[tuple[int, int]]:
    """Every character not in ``ranges``."""
    out, start = [], 0
    for lo, hi in normalize_ranges(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE_POINT:
        out.append((start, MAX_CODE_POINT))
    return normalize_ranges(out)


# \d \D \s \S as ranges, the capital letters negated: worked out once, here.
CLASS_ESCAPE_RANGES = {letter: ranges for lower, table in CLASS_ESCAPES.items()
                       for letter, ranges in ((lower, normalize_ranges(table)),
                                              (lower.upper(), complement(table)))}

# The tree. Four kinds of node, tuples with names (cheap to make, and they print as they read):


class Chars(NamedTuple):
    """A character class: the characters of ``ranges`` (sorted, merged (first, last) code
    points), or with ``negated`` every character but those. A plain character is a class of
    one; the dot is every character but the newline."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


class Repeat(NamedTuple):
    """``base`` repeated ``low`` to ``high`` times (``high`` None: no limit)."""

    base: Node
    low: int
    high: int | None


class Concat(NamedTuple):
    """``parts`` one after another (no parts: the empty string)."""

    parts: tuple[Node, ...]


class Alternation(NamedTuple):
    """Any one of ``options``."""

    options: tuple[Node, ...]


Node = Chars | Repeat | Concat | Alternation


class _RegexReader:
    """Reads a regex in Rust's syntax into a tree, left to right, one grammar rule per method
    (a recursive descent): an alternation is concatenations separated by "|", a concatenation
    is items in a row, an item is an atom (a character, a class, an escape, the dot) or a
    group, then its repetition operators. ``classes`` collects the ranges of every class read,
    for the alphabet.

    The grammar is interegular's, kept so that every regex reads as it did when interegular
    parsed it: an atom takes up to two repetition operators (``a{2}*``), a group one; a lazy
    ``a*?`` matches what ``a*`` matches; and where nothing can be repeated, a well-formed
    ``{m,n}`` is plain characters.
    """

    def __init__(self, regex: str):
        self.regex, self.i = regex, 0
        self.classes: set[tuple[tuple[int, int], ...]] = set()

    def fail(self, feature: str, position: int | None = None):
        raise UnsupportedRegexError(feature, self.regex,
                                    self.i if position is None else position)

    def syntax_error(self, problem: str, position: int):
        raise ValueError(f"cannot parse the regex {self.regex!r}: {problem} (at position "
                         f"{position})")

    def peek(self, text: str) -> bool:
        return self.regex.startswith(text, self.i)

    def chars(self, ranges, negated: bool = False) -> Chars:
        """A class node; its ranges are noted for the alphabet."""
        ranges = tuple(ranges)
        self.classes.add(ranges)
        return Chars(ranges, negated)

    def class_of(self, ranges: list[tuple[int, int]]) -> Chars:
        """A class as the shorter of its two lists: the characters it holds, or (negated) the
        ones it leaves out when it holds more than half of them. The alphabet then tells apart
        only the characters the regex names: [^"] names one."""
        if sum(hi - lo + 1 for lo, hi in ranges) > N_CHARACTERS // 2:
            return self.chars(complement(ranges), negated=True)
        return self.chars(ranges)

    def read(self) -> Node:
        tree = self.alternation()
        if self.i < len(self.regex):  # an alternation stops early only at a ")"
            self.syntax_error("a ')' without its '('", self.i)
        return tree

    def alternation(self) -> Node:
        options = [self.concatenation()]
        while self.peek("|"):
            self.i += 1
            options.append(self.concatenation())
        return options[0] if len(options) == 1 else Alternation(tuple(options))

    def concatenation(self) -> Node:
        parts = []
        regex, end = self.regex, len(self.regex)
        while self.i < end and regex[self.i] not in "|)":
            part = self.item()
            if part is not None:  # None: an anchor, which reads no character
                parts.append(part)
        return parts[0] if len(parts) == 1 else Concat(tuple(parts))

    def item(self) -> Node | None:
        if self.peek("("):
            node, operators = self.group(), 1
        else:
            node, operators = self.atom(), 2
            if node is None:
                return None
        for _ in range(operators):
            counts = self.repetition()
            if counts is None:
                break
            node = Repeat(node, *counts)
        return node

    def repetition(self) -> tuple[int, int | None] | None:
        """The (low, high) counts of the repetition operator here, or None if there is none."""
        if self.i == len(self.regex):
            return None
        c = self.regex[self.i]
        if c == "{":
            counts = self.repetition_counts()
        elif c in OPERATORS:
            counts = OPERATORS[c]
            self.i += 1
        else:
            return None
        if self.peek("?"):  # lazy: it prefers fewer repeats, but matches the same strings
            self.i += 1
        return counts

    def repetition_counts(self) -> tuple[int, int | None]:
        counts = REPETITION_COUNTS.match(self.regex, self.i)
        if not counts or (counts[1] == "" and counts[2] is None):
            self.fail("a '{' that does not start a repetition {m}, {m,} or {m,n}")
        low = int(counts[1] or 0)
        high = low if counts[2] is None else int(counts[3]) if counts[3] else None
        if high is not None and high < low:
            self.fail(f"the repetition {counts[0]} (its maximum is below its minimum)")
        self.i = counts.end()
        return low, high

    def group(self) -> Node:
        """(...), (?:...) or a named group (?P<name>...): each matches what it holds."""
        start = self.i
        if not self.peek("(?"):
            self.i += 1
        elif self.peek("(?:"):
            self.i += 3
        else:
            for opening, feature in LOOKAROUND:
                if self.peek(opening):
                    self.fail(feature)
            named = NAMED_GROUP.match(self.regex, self.i)
            if not named:
                self.fail("an inline flag group such as (?i) or (?s:...)")
            self.i = named.end()
        inside = self.alternation()
        if not self.peek(")"):
            self.syntax_error("a '(' without its ')'", start)
        self.i += 1
        return inside

    def atom(self) -> Chars | None:
        """A character, a class, an escape or the dot; None for an anchor at either end."""
        regex, start = self.regex, self.i
        c = regex[start]
        if c == "\\":
            return self.escape_outside_class()
        if c == "[":
            return self.class_of(self.char_class())
        self.i += 1
        if c == ".":
            return self.chars([(0x0A, 0x0A)], negated=True)  # any character but the newline
        if c in "^$":
            # The index matches the whole text, so ^ first and $ last change nothing.
            if (c == "^" and start > 0) or (c == "$" and start < len(regex) - 1):
                self.fail(f"the anchor {c!r} in the middle of a regex", start)
            return None
        if c in OPERATORS:
            self.syntax_error(f"a repetition {c!r} with nothing to repeat", start)
        if c == "{":  # nothing to repeat here: a well-formed {m,n} is plain characters
            self.i = start
            self.repetition_counts()
            self.i = start + 1
        return self.chars([(ord(c), ord(c))])

    def escape_outside_class(self) -> Chars | None:
        position = self.i
        if (self.peek("\\A") and position == 0) or (self.peek("\\z")
                                                    and position == len(self.regex) - 2):
            self.i += 2
            return None  # anchors at the ends, as ^ and $
        item = self.escape()
        if isinstance(item, int):
            return self.chars([(item, item)])
        return self.class_of(item)

    def escape(self) -> int | list[tuple[int, int]]:
        """One escape: a code point, or a class as ranges."""
        start = self.i
        self.i += 1
        if self.i >= len(self.regex):
            self.fail("a backslash at the end of the regex", start)
        c = self.regex[self.i]
        self.i += 1
        if c in HEX_ESCAPES:
            return self.hex_code_point(HEX_ESCAPES[c], start)
        if c in CLASS_ESCAPE_RANGES:
            return CLASS_ESCAPE_RANGES[c]
        if c in CHAR_ESCAPES:
            return ord(CHAR_ESCAPES[c])
        if c in "WP" or c in UNSUPPORTED_ESCAPES:
            self.fail(UNSUPPORTED_ESCAPES[c.lower() if c in "WP" else c], start)
        if c.isdigit():
            self.fail(f"a backreference \\{c}", start)
        if c.isalnum() or not c.isascii():
            self.fail(f"the escape \\{c}", start)
        return ord(c)  # an escaped punctuation mark: itself

    def hex_code_point(self, n_digits: int, start: int) -> int:
        braced = BRACED_HEX.match(self.regex, self.i)
        found = braced or FIXED_HEX[n_digits].match(self.regex, self.i)
        if not found:
            self.fail(f"the escape {self.regex[start:self.i + n_digits]!r} (expected "
                      f"{n_digits} hex digits or {{hex}})", start)
        self.i = found.end()
        code_point = int(found[1] if braced else found[0], 16)
        if code_point > MAX_CODE_POINT or SURROGATES[0] <= code_point <= SURROGATES[1]:
            self.fail(f"the code point {code_point:#x} (not a Unicode character)", start)
        return code_point

    def char_class(self) -> list[tuple[int, int]]:
        """A bracketed class [...] or [^...] as ranges (negation applied)."""
        start = self.i
        self.i += 1
        negate = self.peek("^")
        self.i += negate
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(self.regex):
                self.fail("an unterminated character class", start)
            if self.peek("]") and not first:
                self.i += 1
                break
            if self.peek("["):
                self.fail("a nested class or an ASCII class such as [[:alpha:]]")
            if self.regex[self.i:self.i + 2] in ("&&", "--", "~~"):
                self.fail("a class set operation (&&, -- or ~~)")
            item = self.class_item()
            if isinstance(item, int) and self.peek("-") and not self.peek("-]"):
                self.i += 1
                high = self.class_item()
                if not isinstance(high, int) or high < item:
                    self.fail("an invalid range in a character class", start)
                ranges.append((item, high))
            elif isinstance(item, int):
                ranges.append((item, item))
            else:
                ranges += item
            first = False
        return complement(ranges) if negate else normalize_ranges(ranges)

    def class_item(self) -> int | list[tuple[int, int]]:
        if self.peek("\\"):
            return self.escape()
        self.i += 1
        return ord(self.regex[self.i - 1])


def parse_regex(regex: str) -> tuple[Node, set[tuple[tuple[int, int], ...]]]:
    """``regex`` (Rust's syntax, as outlines-core writes it) as a tree, and the ranges of the
    classes in it (for the alphabet). An unsupported feature raises ``UnsupportedRegexError``
    naming it; a malformed regex, ``ValueError``.

    >>> parse_regex("a|b?")[0]  # doctest: +NORMALIZE_WHITESPACE
    Alternation(options=(Chars(ranges=((97, 97),), negated=False),
                         Repeat(base=Chars(ranges=((98, 98),), negated=False), low=0, high=1)))
    """
    if not isinstance(regex, str):
        raise TypeError(f"regex must be a str, got {type(regex).__name__}")
    reader = _RegexReader(regex)
    return reader.read(), reader.classes


def _char(code_point: int) -> str:
    """A character as interegular reads it anywhere, in a class or not: ASCII letters and
    digits as they are, other codes below 256 as \\xHH, the rest as they are."""
    char = chr(code_point)
    if code_point < 256 and not (char.isascii() and char.isalnum()):
        return f"\\x{code_point:02x}"
    return char


def _python_syntax(node: Node) -> str:
    kind = type(node)
    if kind is Chars:
        items = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}"
                        for lo, hi in node.ranges)
        return f"[{'^' if node.negated else ''}{items}]"
    if kind is Concat:
        return "".join(_python_syntax(part) for part in node.parts)
    if kind is Alternation:
        return f"(?:{'|'.join(_python_syntax(option) for option in node.options)})"
    high = "" if node.high is None else node.high
    counts = f"{node.low}" if node.high == node.low else f"{node.low},{high}"
    return f"(?:{_python_syntax(node.base)}){{{counts}}}"


def translate_regex(regex: str) -> str:
    r"""``regex`` read by ``parse_regex`` and written out in the Python syntax interegular
    parses, \d and \s spelled out as Unicode classes: the same language for another parser,
    which the tests compare with this module.

    >>> print(translate_regex(r"^[a-c]{2}\.(?P<x>[z-])$"))
    (?:[a-c]){2}[\x2e][\x2dz]
    """
    return _python_syntax(parse_regex(regex)[0])


# ---------------------------------------------------------------------------------------------
# 2. The alphabet
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alphabet:
    """The characters split into symbols: two characters share a symbol when every class of
    the regex treats them alike (both in it or both out). The last symbol ("anything else",
    in interegular's words) holds every character the regex never names.

    symbol_ranges: per symbol, its characters as (first, last) code point ranges
    symbols_of:    per class the regex names (its ranges), the symbols that make it up
    """

    symbol_ranges: tuple[tuple[tuple[int, int], ...], ...]
    symbols_of: dict[tuple[tuple[int, int], ...], frozenset[int]]

    @property
    def n_symbols(self) -> int:
        return len(self.symbol_ranges)

    @classmethod
    def of_classes(cls, classes) -> Alphabet:
        """The alphabet of a regex's classes (each as its ranges). Which classes hold a
        character can change only where a range starts or ends, so the code points are cut
        there into runs; runs held by the same classes are one symbol, numbered in code point
        order."""
        classes = list(classes)
        cuts = {0, MAX_CODE_POINT + 1}
        for ranges in classes:
            for lo, hi in ranges:
                cuts.add(lo)
                cuts.add(hi + 1)
        cuts = sorted(cuts)
        run_at = {cut: run for run, cut in enumerate(cuts)}  # run k is cuts[k] .. cuts[k+1]-1
        holders: list[list[int]] = [[] for _ in range(len(cuts) - 1)]  # per run, its classes
        for c, ranges in enumerate(classes):
            for lo, hi in ranges:
                for run in range(run_at[lo], run_at[hi + 1]):
                    holders[run].append(c)
        symbol_of: dict[tuple[int, ...], int] = {}  # the classes holding a symbol -> symbol
        runs: list[list[tuple[int, int]]] = []  # per symbol
        members: list[set[int]] = [set() for _ in classes]  # per class, its symbols
        anything_else = []
        for run, held_by in enumerate(map(tuple, holders)):
            if not held_by:
                anything_else.append((cuts[run], cuts[run + 1] - 1))
                continue
            if held_by not in symbol_of:
                symbol_of[held_by] = len(runs)
                runs.append([])
                for c in held_by:
                    members[c].add(symbol_of[held_by])
            runs[symbol_of[held_by]].append((cuts[run], cuts[run + 1] - 1))
        runs.append(anything_else)
        return cls(tuple(tuple(normalize_ranges(r)) for r in runs),
                   {ranges: frozenset(m) for ranges, m in zip(classes, members, strict=True)})


# ---------------------------------------------------------------------------------------------
# 3. Thompson NFA over symbols -> character DFA
# ---------------------------------------------------------------------------------------------


class _SymbolNFA:
    """Thompson's construction: every node of the tree becomes a fragment (entry, exit) wired
    with empty moves; a character class is one move on a set of symbols."""

    def __init__(self, alphabet: Alphabet):
        self.symbols_of = alphabet.symbols_of
        self.all_symbols = frozenset(range(alphabet.n_symbols))
        self.negated: dict[tuple, frozenset[int]] = {}  # a negated class's symbols, once each
        self.empty_moves: list[list[int]] = []
        self.symbol_move: list[tuple[frozenset, int] | None] = []

    def new_state(self) -> int:
        self.empty_moves.append([])
        self.symbol_move.append(None)
        return len(self.symbol_move) - 1

    def symbols(self, node: Chars) -> frozenset[int]:
        """The symbols a class matches."""
        if not node.negated:
            return self.symbols_of[node.ranges]
        if node.ranges not in self.negated:
            self.negated[node.ranges] = self.all_symbols - self.symbols_of[node.ranges]
        return self.negated[node.ranges]

    def fragment(self, node: Node) -> tuple[int, int]:
        kind = type(node)
        if kind is Chars:
            entry, exit_ = self.new_state(), self.new_state()
            self.symbol_move[entry] = (self.symbols(node), exit_)
            return entry, exit_
        if kind is Concat:
            if not node.parts:  # the empty string
                state = self.new_state()
                return state, state
            entry, exit_ = self.fragment(node.parts[0])
            for part in node.parts[1:]:
                a, b = self.fragment(part)
                self.empty_moves[exit_].append(a)
                exit_ = b
            return entry, exit_
        if kind is Alternation:
            entry, exit_ = self.new_state(), self.new_state()
            for option in node.options:
                a, b = self.fragment(option)
                self.empty_moves[entry].append(a)
                self.empty_moves[b].append(exit_)
            return entry, exit_
        return self.repeated(node.base, node.low, node.high)

    def repeated(self, base: Node, low: int, high: int | None) -> tuple[int, int]:
        """base{low,high}: low copies in a row, then high-low optional ones (each may stop the
        repetition), or a loop when high is None."""
        entry = exit_ = self.new_state()
        for _ in range(low):
            a, b = self.fragment(base)
            self.empty_moves[exit_].append(a)
            exit_ = b
        if high is None:
            loop = self.new_state()
            a, b = self.fragment(base)
            self.empty_moves[exit_].append(loop)
            self.empty_moves[loop].append(a)
            self.empty_moves[b].append(loop)
            return entry, loop
        end = self.new_state()
        for _ in range(high - low):
            a, b = self.fragment(base)
            self.empty_moves[exit_] += [a, end]
            exit_ = b
        self.empty_moves[exit_].append(end)
        return entry, end


@dataclass(frozen=True)
class CharDFA:
    """A DFA over symbols (classes of characters that the regex treats alike).

    symbol_ranges: per symbol, the (first, last) code point ranges it stands for
    transitions:   per state, {symbol: next state}; a missing symbol leads to no match
    initial:       0
    finals:        the accepting states
    Every state can still reach a final state.
    """

    symbol_ranges: tuple[tuple[tuple[int, int], ...], ...]
    transitions: tuple[dict[int, int], ...]
    finals: frozenset[int]
    initial: int = 0

    @property
    def n_states(self) -> int:
        return len(self.transitions)

    @classmethod
    def from_regex(cls, regex: str) -> CharDFA:
        tree, classes = parse_regex(regex)
        alphabet = Alphabet.of_classes(classes)
        nfa = _SymbolNFA(alphabet)
        entry, accept = nfa.fragment(tree)
        transitions, finals = _subset_construction(nfa, entry, accept)
        return cls(alphabet.symbol_ranges, *_trim(transitions, finals))

    def symbol_of(self, char: str) -> int | None:
        code_point = ord(char)
        for symbol, ranges in enumerate(self.symbol_ranges):
            if any(lo <= code_point <= hi for lo, hi in ranges):
                return symbol
        return None

    def accepts(self, text: str) -> bool:
        state = self.initial
        for char in text:
            state = self.transitions[state].get(self.symbol_of(char))
            if state is None:
                return False
        return state in self.finals


def _subset_construction(nfa: _SymbolNFA, entry: int, accept: int):
    """The DFA whose states are the sets of NFA states reachable by the same text. Only the
    NFA states that consume a symbol (or accept) matter in a set; the rest are passed through
    by the closure over empty moves."""
    closures: dict[int, frozenset[int]] = {}
    empty_moves, symbol_move = nfa.empty_moves, nfa.symbol_move

    def closure(state: int) -> frozenset[int]:
        if state not in closures:
            seen, stack = {state}, [state]
            while stack:
                for nxt in empty_moves[stack.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            closures[state] = frozenset([s for s in seen
                                         if symbol_move[s] is not None or s == accept])
        return closures[state]

    start = closure(entry)
    ids = {start: 0}
    transitions: list[dict[int, int]] = []
    queue = deque([start])
    while queue:
        current = queue.popleft()
        targets: dict[int, list[frozenset[int]]] = {}
        for state in current:
            move = nfa.symbol_move[state]
            if move is not None:
                symbols, nxt = move
                reached = closure(nxt)
                for symbol in symbols:
                    targets.setdefault(symbol, []).append(reached)
        row = {}
        for symbol, sets in targets.items():
            key = sets[0] if len(sets) == 1 else frozenset().union(*sets)
            if key not in ids:
                ids[key] = len(ids)
                queue.append(key)
            row[symbol] = ids[key]
        transitions.append(row)
    finals = {ids[key] for key in ids if accept in key}
    return transitions, finals


def _trim(transitions: list[dict[int, int]], finals: set[int]):
    """Keep the states that can reach a final state, renumbered in breadth-first order."""
    predecessors: list[set[int]] = [set() for _ in transitions]
    for state, row in enumerate(transitions):
        for nxt in row.values():
            predecessors[nxt].add(state)
    live, stack = set(finals), list(finals)
    while stack:
        for prev in predecessors[stack.pop()]:
            if prev not in live:
                live.add(prev)
                stack.append(prev)
    if 0 not in live:
        raise ValueError("the regex matches no string")
    order, queue = {0: 0}, deque([0])
    while queue:
        for _symbol, nxt in sorted(transitions[queue.popleft()].items()):
            if nxt in live and nxt not in order:
                order[nxt] = len(order)
                queue.append(nxt)
    rows: list[dict[int, int]] = [{} for _ in order]
    for old, new in order.items():
        rows[new] = {sym: order[nxt] for sym, nxt in transitions[old].items() if nxt in live}
    return tuple(rows), frozenset(order[s] for s in finals if s in order)


# ---------------------------------------------------------------------------------------------
# 4. Characters -> bytes
# ---------------------------------------------------------------------------------------------

# UTF-8 writes a code point in 1 to 4 bytes:
#   U+0000..U+007F     0xxxxxxx
#   U+0080..U+07FF     110xxxxx 10xxxxxx
#   U+0800..U+FFFF     1110xxxx 10xxxxxx 10xxxxxx
#   U+10000..U+10FFFF  11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
# Each 10xxxxxx continuation byte carries 6 bits. So a range of code points whose encodings
# have the same length, and in which every continuation byte after the first one that differs
# runs through all 64 values (0x80-0xBF), is exactly a product of byte ranges:
# U+0800..U+FFFF minus the surrogates is [E0][A0-BF][80-BF] | [E1-EC][80-BF][80-BF] | ...


def _cut(lo: int, hi: int) -> int | None:
    """Where the range lo..hi must be cut so each part is a product of byte ranges."""
    for last in (0x7F, 0x7FF, 0xFFFF):  # the last code point of each encoded length
        if lo <= last < hi:
            return last
    for n_bytes in (1, 2, 3):
        low_bits = (1 << (6 * n_bytes)) - 1  # the bits of the last n_bytes continuation bytes
        if lo & ~low_bits != hi & ~low_bits:  # lo and hi differ before those bytes
            if lo & low_bits:  # lo starts inside a block: cut at the end of its block
                return lo | low_bits
            if hi & low_bits != low_bits:  # hi stops inside a block: cut before that block
                return (hi & ~low_bits) - 1
    return None


def utf8_sequences(lo: int, hi: int) -> list[tuple[tuple[int, int], ...]]:
    """The UTF-8 encodings of code points lo..hi (no surrogates) as sequences of byte ranges:
    a byte string encodes one of them iff it matches one sequence, range by range.

    >>> [[(hex(a), hex(b)) for a, b in seq] for seq in utf8_sequences(0x7F, 0x100)]
    [[('0x7f', '0x7f')], [('0xc2', '0xc3'), ('0x80', '0xbf')], [('0xc4', '0xc4'), ('0x80', '0x80')]]
    """
    if hi <= 0x7F:  # ASCII: one byte, any range of it
        return [((lo, hi),)]
    cut = _cut(lo, hi)
    if cut is not None:
        return utf8_sequences(lo, cut) + utf8_sequences(cut + 1, hi)
    return [tuple(zip(chr(lo).encode("utf-8"), chr(hi).encode("utf-8"), strict=True))]


@dataclass(frozen=True)
class ByteDFA:
    """A DFA over bytes.

    transitions: (n_states, 256) int32: the next state for each byte; 0 is ``DEAD``
    finals:      (n_states,) bool
    initial:     1
    """

    transitions: np.ndarray
    finals: np.ndarray
    initial: int = INITIAL

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    @classmethod
    def from_regex(cls, regex: str) -> ByteDFA:
        return cls.from_char_dfa(CharDFA.from_regex(regex))

    @classmethod
    def from_char_dfa(cls, char_dfa: CharDFA) -> ByteDFA:
        """Byte state 0 is DEAD, byte state c + 1 is character state c, and the states after
        them are "inside a character". For each character state, the UTF-8 sequences of all
        its transitions form a trie over byte ranges (its branches never overlap: UTF-8 is a
        prefix code); every trie node becomes a state, and nodes with the same outgoing
        edges are one state, so "any 2 more continuation bytes, then state t" is built once.
        Neighbouring byte ranges that lead to the same state are one edge: nodes that read
        alike then look alike, and the table below has fewer runs to fill."""
        sequences: dict[int, list] = {}  # symbol -> its characters' byte-range sequences
        rows: list[tuple[tuple[int, int, int], ...]] = [()] * (char_dfa.n_states + 1)
        interned: dict[tuple, int] = {}

        def state_of(trie: dict) -> tuple[tuple[int, int, int], ...]:
            """The edges (first byte, last byte, next state) of a trie node."""
            edges: list[tuple[int, int, int]] = []
            for (lo, hi), child in sorted(trie.items()):
                if isinstance(child, dict):
                    child_edges = state_of(child)
                    if child_edges not in interned:
                        interned[child_edges] = len(rows)
                        rows.append(child_edges)
                    child = interned[child_edges]
                if edges and edges[-1][1] == lo - 1 and edges[-1][2] == child:
                    edges[-1] = (edges[-1][0], hi, child)  # neighbouring bytes, same next state
                else:
                    edges.append((lo, hi, child))
            return tuple(edges)

        for state, row in enumerate(char_dfa.transitions):
            trie: dict = {}
            for symbol, nxt in row.items():
                if symbol not in sequences:  # only the symbols some transition reads
                    sequences[symbol] = [seq for lo, hi in char_dfa.symbol_ranges[symbol]
                                         for seq in utf8_sequences(lo, hi)]
                for sequence in sequences[symbol]:
                    node = trie
                    for byte_range in sequence[:-1]:
                        node = node.setdefault(byte_range, {})
                    node[sequence[-1]] = nxt + 1
            rows[state + 1] = state_of(trie)

        # The table: edge (lo, hi, nxt) of state s sets row s, bytes lo..hi, to nxt.
        transitions = np.zeros((len(rows), 256), dtype=np.int32)
        for state, edges in enumerate(rows):
            row = transitions[state]
            for lo, hi, nxt in edges:
                row[lo:hi + 1] = nxt
        finals = np.zeros(len(rows), dtype=bool)
        finals[[s + 1 for s in char_dfa.finals]] = True
        return cls(transitions, finals)

    def walk(self, state: int, data: bytes) -> int:
        """The state after reading ``data`` from ``state`` (DEAD once no match is possible)."""
        for byte in data:
            state = int(self.transitions[state, byte])
        return state

    def accepts(self, data: bytes | str) -> bool:
        if isinstance(data, str):
            data = data.encode("utf-8")
        return bool(self.finals[self.walk(self.initial, data)])
