"""The regex -> character DFA -> byte DFA chain of tinylm.structured.automaton accepts exactly
what Python's ``re.fullmatch`` accepts, on strings sampled near the regex's language (ASCII
and multi-byte UTF-8), and its UTF-8 expansion is exact."""

import json
import random
import re
import unicodedata

import interegular
import numpy as np
import pytest
from _structured_cases import SCHEMA_REGEXES
from outlines_core.json_schema import DATE, EMAIL, INTEGER, NUMBER, STRING, URI, UUID

from tinylm.structured.automaton import (
    DEAD,
    DECIMAL_DIGITS,
    WHITESPACE,
    ByteDFA,
    CharDFA,
    translate_regex,
    utf8_sequences,
)

SIMPLE_REGEXES = [
    r"[0-9]+",
    r"-?\d{1,3}(,\d{3})*",
    r"[a-z]+@[a-z]+\.com",
    r"(cat|dog|bird)s?",
    r"(ab|a)(bc|c)?d",
    r"x{2,4}y{3}z{0,2}",
    r"[^aeiou\s]{2,5}",
    r"café|naïve|日本語|😀+",
    r"[α-ωΑ-Ω]+ [\u00e0-\u00ff]\x41\u{1F600}",
    r"\([0-9]{3}\) [0-9]{3}-[0-9]{4}",
    r"a.b",
    INTEGER, NUMBER, STRING, DATE, UUID, URI, EMAIL,
]

# Characters to build strings from: ASCII, 2-, 3- and 4-byte UTF-8. Characters on which
# Python's re and Rust's regex disagree are left out: Python's \s also holds \x1c-\x1f, and
# Python 3.11's \d knows only Unicode 14's digits.
PALETTE = list("abcxyz019 -_.,@\"\\/:!?{}[]()\n\tAZ") + list("éñ£αω٣日本語€😀𝟘")


def sample_char(ranges, rng: random.Random) -> str:
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def python_and_rust_agree(char: str) -> bool:
    if "\x1c" <= char <= "\x1f":
        return False
    in_rust_digits = any(lo <= ord(char) <= hi for lo, hi in DECIMAL_DIGITS)
    return in_rust_digits == (unicodedata.category(char) == "Nd")


def sample_match(dfa: CharDFA, rng: random.Random, max_len: int = 40) -> str:
    """A random walk through the character DFA that stops in a final state (or gives up)."""
    state, text = dfa.initial, []
    for _ in range(max_len):
        if state in dfa.finals and (rng.random() < 0.3 or not dfa.transitions[state]):
            break
        symbol, state = rng.choice(sorted(dfa.transitions[state].items()))
        for _ in range(20):  # a character of the symbol that both engines read alike
            char = sample_char(dfa.symbol_ranges[symbol], rng)
            if python_and_rust_agree(char):
                break
        text.append(char)
    return "".join(text)


def mutate(text: str, rng: random.Random) -> str:
    """Insert, delete or replace one character, or cut the text short."""
    i = rng.randint(0, len(text))
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + rng.choice(PALETTE) + text[i:]
    if op == 1:
        return text[:i] + text[i + 1:]
    if op == 2:
        return text[:i] + rng.choice(PALETTE) + text[i + 1:]
    return text[:i]


def samples(dfa: CharDFA, seed: int, n: int = 150, max_len: int = 40) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = sample_match(dfa, rng, max_len)
        out += [text, mutate(text, rng), mutate(mutate(text, rng), rng),
                "".join(rng.choice(PALETTE) for _ in range(rng.randint(0, 6)))]
    return out


def check_against_re(regex: str, seed: int, n: int = 150, max_len: int = 40) -> tuple[int, int]:
    char_dfa = CharDFA.from_regex(regex)
    byte_dfa = ByteDFA.from_char_dfa(char_dfa)
    compiled = re.compile(regex.replace(r"\u{1F600}", "\U0001F600"))
    accepted = rejected = 0
    for text in samples(char_dfa, seed, n, max_len):
        expected = compiled.fullmatch(text) is not None
        assert char_dfa.accepts(text) == expected, (regex, text)
        assert byte_dfa.accepts(text.encode("utf-8")) == expected, (regex, text)
        accepted += expected
        rejected += not expected
    return accepted, rejected


@pytest.mark.parametrize("regex", SIMPLE_REGEXES)
def test_byte_dfa_accepts_what_re_fullmatch_accepts(regex):
    accepted, rejected = check_against_re(regex, seed=len(regex), max_len=200)
    assert accepted >= 100 and rejected >= 100, (accepted, rejected)  # both sides were tried


@pytest.mark.parametrize("name", list(SCHEMA_REGEXES))
def test_schema_regexes_accept_what_re_fullmatch_accepts(name):
    accepted, rejected = check_against_re(SCHEMA_REGEXES[name][0], seed=1, n=40, max_len=5000)
    assert accepted >= 20 and rejected >= 20, (accepted, rejected)


@pytest.mark.parametrize("name", list(SCHEMA_REGEXES))
def test_schema_examples_are_accepted(name):
    regex, examples = SCHEMA_REGEXES[name]
    dfa = ByteDFA.from_regex(regex)
    for example in examples:
        assert dfa.accepts(example), (name, example)
        assert not dfa.accepts(example[:-1])


@pytest.mark.parametrize("regex", [r"[0-9]+", r"(cat|dog|bird)s?", r"café|naïve|日本語|😀+",
                                   r"[^aeiou\s]{2,5}", r"a.b"])
def test_char_dfa_equals_interegulars_own_fsm(regex):
    """interegular's own (slower) FSM construction reads the same language."""
    fsm = interegular.parse_pattern(translate_regex(regex)).to_fsm()
    dfa = CharDFA.from_regex(regex)
    for text in samples(dfa, seed=0, n=50):
        if all("\x1c" > c or c > "\x1f" for c in text):
            assert dfa.accepts(text) == fsm.accepts(text), (regex, text)


def test_invalid_utf8_is_never_accepted():
    dfa = ByteDFA.from_regex(r"[^x]*")
    assert dfa.accepts("é😀日".encode())
    for bad in (b"\xff", b"\xc3", b"\xe6\x97", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\x80", b"a\xe9b"):
        assert not dfa.accepts(bad), bad
    # a character cut in the middle is a live prefix, not a match
    assert dfa.walk(dfa.initial, "é".encode()[:1]) != DEAD


@pytest.mark.parametrize("regex", SIMPLE_REGEXES[:10] + [SCHEMA_REGEXES["records"][0]])
def test_dead_state_and_liveness(regex):
    dfa = ByteDFA.from_regex(regex)
    table = dfa.transitions
    assert table.dtype == np.int32 and table.shape == (dfa.n_states, 256)
    assert (table[DEAD] == DEAD).all() and not dfa.finals[DEAD] and dfa.initial == 1
    # every state but the dead one can still reach a final state
    live = dfa.finals.copy()
    while True:
        grown = live | live[table].any(axis=1)
        if (grown == live).all():
            break
        live = grown
    assert live[1:].all() and not live[DEAD]


def encodings(lo, hi):
    return {chr(c).encode() for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF}


def matches_a_sequence(data: bytes, sequences) -> bool:
    return any(len(seq) == len(data)
               and all(a <= b <= z for b, (a, z) in zip(data, seq, strict=True))
               for seq in sequences)


@pytest.mark.parametrize("lo,hi", [(0, 0x7F), (0x30, 0x39), (0x7F, 0x100), (0x80, 0x7FF),
                                   (0x7F0, 0x812), (0xD7F0, 0xE010), (0x0FF0, 0x1010),
                                   (0xFFF0, 0x10010), (0x10FFF0, 0x10FFFF), (0x3A0, 0x3A0)])
def test_utf8_sequences_cover_exactly_the_encodings(lo, hi):
    sequences = utf8_sequences(lo, hi) if not (lo <= 0xD800 <= hi) else (
        utf8_sequences(lo, 0xD7FF) + utf8_sequences(0xE000, hi))
    expected = encodings(lo, hi)
    # every encoding matches one sequence, and the sequences hold nothing else
    assert all(matches_a_sequence(e, sequences) for e in expected)
    assert sum(np.prod([z - a + 1 for a, z in seq]) for seq in sequences) == len(expected)


def test_random_utf8_sequences():
    rng = random.Random(0)
    for _ in range(30):
        lo = rng.randint(0x80, 0x10FFFF)
        hi = min(0x10FFFF, lo + rng.randint(0, 5000))
        if lo <= 0xDFFF and hi >= 0xD800:
            continue
        sequences = utf8_sequences(lo, hi)
        assert sum(np.prod([z - a + 1 for a, z in seq]) for seq in sequences) == hi - lo + 1
        for c in rng.sample(range(lo, hi + 1), min(20, hi - lo + 1)):
            assert matches_a_sequence(chr(c).encode(), sequences)


def test_unicode_tables():
    # Rust's \d (Unicode 16) holds every digit Python's Unicode knows, and more
    ours = {c for lo, hi in DECIMAL_DIGITS for c in range(lo, hi + 1)}
    python = {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Nd"}
    assert python <= ours and len(ours) == 760
    # Rust's \s is Python's str.isspace() without the four information separators
    space = {c for lo, hi in WHITESPACE for c in range(lo, hi + 1)}
    assert space == {c for c in range(0x110000) if chr(c).isspace()} - set(range(0x1C, 0x20))
    dfa = ByteDFA.from_regex(r"\d\s")
    assert dfa.accepts("٣\u3000") and dfa.accepts("𝟘 ") and not dfa.accepts("a ")


def test_translate_regex_keeps_the_language_of_outlines_regexes():
    for regex in (STRING, DATE, json.dumps("x")):
        translated = translate_regex(regex)
        interegular.parse_pattern(translated)  # parses
    assert translate_regex("^ab$") == translate_regex("ab")
    with pytest.raises(TypeError, match="regex must be a str"):
        translate_regex(b"ab")



# Pieces of regex that mean the same in Rust's syntax and in Python's, which interegular reads
SHARED_ATOMS = ["a", "b", "é", "[ab]", "[^a]", "[a-c]", ".", "\\.", "}", "]", "-", "{2}"]
SHARED_OPERATORS = ["*", "+", "?", "??", "*?", "{2}", "{1,3}", "{,2}", "{2,}"]


def shared_syntax_regex(rng: random.Random, depth: int = 0) -> str:
    """A random regex in the shared syntax: items in a row (atoms, or groups of the same),
    each with zero to three repetition operators, and now and then an alternative, a
    stray ")" or a stray operator."""
    items = []
    for _ in range(rng.randint(0, 3)):
        if depth < 2 and rng.random() < 0.3:
            item = rng.choice(["(", "(?:"]) + shared_syntax_regex(rng, depth + 1) + ")"
        else:
            item = rng.choice(SHARED_ATOMS)
        n_operators = rng.choice([0, 0, 1, 1, 2, 3])
        items.append(item + "".join(rng.choice(SHARED_OPERATORS) for _ in range(n_operators)))
    regex = "".join(items)
    if rng.random() < 0.2:
        regex += "|" + shared_syntax_regex(rng, depth + 1)
    if rng.random() < 0.05:
        regex = rng.choice([")", "*", "|*"]) + regex
    return regex


def test_regex_reader_reads_regexes_as_interegular_does():
    """Random regexes in the shared syntax, read by our reader and by interegular's parser:
    the same ones are refused (such as "(a)**" or "a|*"), the others accept the same
    strings."""
    rng = random.Random(0)
    refused = compared = 0
    for _ in range(400):
        regex = shared_syntax_regex(rng)
        try:
            fsm = interegular.parse_pattern(regex).to_fsm()
        except Exception:  # interegular's InvalidSyntax or NoMatch
            fsm = None
        try:
            dfa = CharDFA.from_regex(regex)
        except ValueError:
            assert fsm is None, regex
            refused += 1
            continue
        assert fsm is not None, regex
        for text in samples(dfa, seed=compared, n=10):
            assert dfa.accepts(text) == fsm.accepts(text), (regex, text)
        compared += 1
    assert refused >= 40 and compared >= 150, (refused, compared)
