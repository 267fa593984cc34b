"""tinylm.structured.json_grammar: the byte-level pushdown automaton agrees with json.loads on
random valid and broken texts; random token walks that end only produce text json.loads
parses; the cached token masks equal a token-by-token check; and along seeded random token
paths the allowed tokens equal xgrammar's built-in JSON grammar on the course vocabulary.

Two differences with xgrammar, both principled, are pinned down rather than hidden:
xgrammar reads the special tokens <unk>, <s> and <pad> as their literal text (so it allows them
inside strings), and after the byte ED it allows A0-BF, the encoded UTF-16 surrogates
U+D800-DFFF, which are not UTF-8 (Python's decoder refuses them, and so does this grammar).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from tinylm.structured import JsonGrammar, JsonState, Vocabulary
from tinylm.structured.json_grammar import MODE_NAMES, VALUE_DONE, M
from tinylm.tokenizer import EOS_ID, load_tokenizer, to_transformers

SPECIAL_IDS = {0, 1, 3}  # <unk>, <s>, <pad>: not in our Vocabulary, plain text to xgrammar


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.from_tokenizer(load_tokenizer())


@pytest.fixture(scope="module")
def grammar(vocabulary):
    return JsonGrammar(vocabulary)


def parses(text: str, root: str = "any") -> bool:
    """What the grammar should say: json.loads reads it (without NaN/Infinity), with no
    whitespace around the root, and the root is a container if ``root="container"``."""
    def no_constants(name):
        raise ValueError(name)
    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return False
    if text != text.strip(" \t\n\r"):
        return False
    return root == "any" or isinstance(value, (dict, list))


# ---------------------------------------------------------------------------------------------
# Random JSON texts and broken ones
# ---------------------------------------------------------------------------------------------

CHARS = 'aZ 09"\\/é中😀\x7f\u2028\n\t'


def random_text(rng: random.Random, depth: int = 0) -> str:
    """A JSON value written with random whitespace, escapes and number forms."""
    def ws():
        return "".join(rng.choice(" \t\n\r") for _ in range(rng.choice([0, 0, 1, 2])))
    kind = rng.randrange(8 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(["true", "false", "null"])
    if kind == 1:
        return str(rng.randint(-10**6, 10**6))
    if kind == 2:
        mantissa = f"{rng.choice(['', '-'])}{rng.choice(['0', str(rng.randint(1, 999))])}"
        fraction = rng.choice(["", f".{rng.randint(0, 9999)}"])
        exponent = rng.choice(["", f"{rng.choice('eE')}{rng.choice(['', '+', '-'])}"
                                   f"{rng.randint(0, 300)}"])
        return mantissa + fraction + exponent
    if kind in (3, 4, 5):
        out = []
        for _ in range(rng.randrange(6)):
            c = rng.choice(CHARS)
            if c in '"\\\n\t':
                c = rng.choice(['\\"', "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f", "\\r",
                                f"\\u{rng.randrange(0x10000):04{rng.choice('xX')}}"])
            out.append(c)
        return '"' + "".join(out) + '"'
    if kind == 6:
        items = [random_text(rng, depth + 1) for _ in range(rng.randrange(4))]
        return "[" + ws() + (ws() + "," + ws()).join(items) + ws() + "]"
    pairs = [random_text(rng, 99 if rng.random() < 0.5 else depth + 1)
             for _ in range(rng.randrange(4))]
    pairs = [f'"k{i}"{ws()}:{ws()}{v}' for i, v in enumerate(pairs)]
    return "{" + ws() + (ws() + "," + ws()).join(pairs) + ws() + "}"


def broken(text: str, rng: random.Random) -> str:
    noise = '{}[]",:.0-+eE \\tnu\x01é'
    i = rng.randrange(len(text) + 1)
    edit = rng.randrange(3)
    if edit == 0:
        return text[:i] + text[i + 1:]
    if edit == 1:
        return text[:i] + rng.choice(noise) + text[i:]
    return text[:i] + rng.choice(noise) + text[i + 1:]


@pytest.mark.parametrize("root", ["any", "container"])
def test_acceptor_agrees_with_json_loads(root):
    acceptor = JsonGrammar(root=root)
    rng = random.Random(0)
    counts = {True: 0, False: 0}
    for _ in range(1500):
        text = random_text(rng, depth=rng.choice([0, 4]))
        for sample in (text, broken(text, rng), broken(broken(text, rng), rng),
                       " " + text, text + "\n"):
            expected = parses(sample, root)
            assert acceptor.accepts(sample) == expected, repr(sample)
            counts[expected] += 1
    assert counts[True] > 200 and counts[False] > 1000  # plenty of each


def test_deep_nesting():
    acceptor = JsonGrammar()
    deep = "[" * 500 + '{"a": 1}' + "]" * 500
    assert acceptor.accepts(deep)
    assert not acceptor.accepts(deep[:-1]) and not acceptor.accepts(deep + "]")
    state = acceptor.read(acceptor.initial_state, deep[:-3].encode())
    assert len(state.stack) == 3 and not acceptor.is_final_state(state)


@pytest.mark.parametrize("data, valid", [
    (b'["\xc3\xa9"]', True),                  # U+00E9
    (b'["\xe2\x82\xac"]', True),              # U+20AC
    (b'["\xf0\x9f\x98\x80"]', True),          # U+1F600
    (b'["\xf4\x8f\xbf\xbf"]', True),          # U+10FFFF, the last code point
    (b'["\xc0\x80"]', False),                 # overlong NUL
    (b'["\xe0\x80\xaf"]', False),             # overlong "/"
    (b'["\xed\xa0\x80"]', False),             # a UTF-16 surrogate
    (b'["\xf4\x90\x80\x80"]', False),         # past U+10FFFF
    (b'["\xff"]', False), (b'["\x80"]', False), (b'["\xc3"]', False),
    (b'[\xc3\xa9]', False),                   # non-ASCII outside a string
])
def test_utf8_inside_strings_only(data, valid):
    assert JsonGrammar().accepts(data) == valid
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        assert not valid
    else:
        assert parses(decoded) == valid


def test_random_bytes_agree_with_utf8_decoding_and_json_loads():
    acceptor = JsonGrammar(root="any")
    rng = random.Random(1)
    for _ in range(3000):
        data = b'"' + bytes(rng.choice([rng.randrange(256), rng.randrange(0x80, 0x100),
                                        0x41]) for _ in range(rng.randrange(1, 5))) + b'"'
        try:
            expected = parses(data.decode("utf-8"))
        except UnicodeDecodeError:
            expected = False
        assert acceptor.accepts(data) == expected, data


def test_numbers_at_the_root_are_complete_but_can_grow():
    acceptor = JsonGrammar(root="any")
    state = acceptor.read(acceptor.initial_state, b"12")
    assert acceptor.is_final_state(state)
    assert acceptor.is_final_state(acceptor.read(state, b"3.5e-1"))
    assert acceptor.read(state, b" ") is None  # no whitespace after the root
    assert not JsonGrammar().accepts("12")  # the default root is an object or an array


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def finishing_distances(table) -> list[int]:
    """For each mode, the fewest bytes that finish the current value without opening a
    container (a complete number needs none: the next byte ends it)."""
    done = {M["AFTER_VALUE"], M["DONE"], M["ZERO"], M["INT"], M["FRAC"], M["EXP"]}
    distance = [0 if mode in done else 10**6 for mode in range(len(MODE_NAMES))]
    for _ in MODE_NAMES:  # Bellman-Ford: every edge costs one byte
        for mode, row in enumerate(table):
            for target in row:
                if target == VALUE_DONE:
                    distance[mode] = min(distance[mode], 1)
                elif target >= 0:
                    distance[mode] = min(distance[mode], 1 + distance[target])
    return distance


bytes_to_finish = finishing_distances(JsonGrammar().table)
STRUCTURAL_BYTES = {bytes([b]) for b in b'{}[],:"-0123456789tfn'}


def closing_walk(grammar, rng, steps, eos_probability=0.5):
    """Random allowed tokens for ``steps``, then tokens that close what is open; yields
    (state, allowed, chosen) until EOS or a dead end (there should be none)."""
    state = grammar.initial_state
    for step in range(steps + 200):
        allowed = grammar.allowed_tokens(state)
        assert allowed, f"no token allowed in {state}"
        if grammar.eos_token_id in allowed and (step >= steps or rng.random() < eos_probability):
            yield state, allowed, grammar.eos_token_id
            return
        options = [t for t in allowed if t != grammar.eos_token_id]
        if not options:
            yield state, allowed, grammar.eos_token_id
            return
        if step >= steps:  # head for the end: fewest open containers, then fewest bytes left
            nexts = [grammar.next_state(state, t) for t in options]
            ranks = [(len(n.stack), bytes_to_finish[n.mode], rng.random()) for n in nexts]
            options = [options[ranks.index(min(ranks))]]
        else:  # mostly structure and short tokens, else strings would fill the walk
            structural = [t for t in options
                          if grammar.vocabulary.token_bytes(t)[:1] in STRUCTURAL_BYTES]
            short = [t for t in options if len(grammar.vocabulary.token_bytes(t)) <= 2]
            draw = rng.random()
            options = (structural if structural and draw < 0.4
                       else short if short and draw < 0.8 else options)
        token = rng.choice(options)
        yield state, allowed, token
        state = grammar.next_state(state, token)
    raise AssertionError("the walk did not end")


def test_random_token_walks_end_in_json(grammar, vocabulary):
    rng = random.Random(2)
    for _ in range(40):
        text, ended = b"", False
        for state, allowed, token in closing_walk(grammar, rng, steps=rng.randrange(1, 60)):
            assert (vocabulary.eos_token_id in allowed) == grammar.is_final_state(state)
            if token == vocabulary.eos_token_id:
                value = json.loads(text.decode("utf-8"))
                assert isinstance(value, (dict, list))
                ended = True
            else:
                text += vocabulary.token_bytes(token)
        assert ended


def test_masks_equal_a_token_by_token_check(grammar, vocabulary):
    """The cached mask of a state (cached by mode and the top of the stack) equals reading
    every token from that very state."""
    rng = random.Random(3)
    tokens = [(t, vocabulary.token_bytes(t)) for t in range(4096)
              if t != EOS_ID and t not in SPECIAL_IDS]
    states = [state for _ in range(6)
              for state, _, _ in closing_walk(grammar, rng, steps=40, eos_probability=0.05)]
    states += [grammar.read(grammar.initial_state, b"[" * 7 + b'{"a":[{"b":' + b"[" * k)
               for k in range(4)]
    states = rng.sample(states, min(len(states), 60))
    for state in states:
        expected = sorted([t for t, data in tokens if grammar.read(state, data) is not None]
                          + ([EOS_ID] if grammar.is_final_state(state) else []))
        assert grammar.allowed_tokens(state) == expected, state
        mask = grammar.allowed_mask(state)
        assert np.flatnonzero(mask).tolist() == expected and not mask.flags.writeable
        bias = grammar.logit_bias(state)  # the same mask, as 0 / -inf to add to the scores
        assert bias.dtype == torch.float32 and bias.shape == mask.shape
        assert torch.equal(bias == 0, torch.from_numpy(mask.copy()))
        assert torch.isneginf(bias[~torch.from_numpy(mask.copy())]).all()
        assert grammar.logit_bias(state) is bias  # kept


def test_next_state_and_states(grammar, vocabulary):
    state = grammar.initial_state
    assert state == JsonState((), M["ROOT"]) and hash(state) == hash(JsonState((), 0))
    brace = vocabulary.token_ids(b"{")[0]
    opened = grammar.next_state(state, brace)
    assert opened.stack == (1,) and MODE_NAMES[opened.mode] == "OBJECT_OPEN"
    assert grammar.next_state(state, EOS_ID) is None  # not final: EOS refused
    assert grammar.next_state(opened, 1) is None  # <s> is never allowed
    for outside in (-1, 4096, 10**9):  # not ids of the vocabulary
        assert grammar.next_state(opened, outside) is None
    assert grammar.next_state(((), M["ROOT"]), brace) == opened  # a plain tuple is checked
    closed = grammar.next_state(opened, vocabulary.token_ids(b"}")[0])
    assert grammar.is_final_state(closed) and grammar.next_state(closed, EOS_ID) == closed
    assert grammar.allowed_tokens(closed) == [EOS_ID]
    assert "OBJECT_OPEN" in repr(opened)


def test_errors(vocabulary):
    with pytest.raises(ValueError, match="root must be 'container'"):
        JsonGrammar(vocabulary, root="object")
    with pytest.raises(TypeError, match="vocabulary must be"):
        JsonGrammar({"a": [1]})
    with pytest.raises(ValueError, match="no vocabulary"):
        JsonGrammar().allowed_tokens(JsonGrammar().initial_state)
    for bad in (3, ((), len(MODE_NAMES)), JsonState((), -1), ([], 0)):
        with pytest.raises(ValueError, match="state must be a JsonState"):
            JsonGrammar(vocabulary).allowed_tokens(bad)
        with pytest.raises(ValueError, match="state must be a JsonState"):
            JsonGrammar(vocabulary).next_state(bad, 5)


# ---------------------------------------------------------------------------------------------
# xgrammar's built-in JSON grammar on the same vocabulary
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xgrammar_json():
    xgr = pytest.importorskip("xgrammar")
    info = xgr.TokenizerInfo.from_huggingface(to_transformers(), vocab_size=4096)
    compiled = xgr.GrammarCompiler(info).compile_builtin_json_grammar()
    assert info.stop_token_ids == [EOS_ID]

    def allowed(matcher) -> set[int]:
        bitmask = xgr.allocate_token_bitmask(1, 4096)
        matcher.fill_next_token_bitmask(bitmask)
        bits = np.unpackbits(bitmask.numpy().view(np.uint8), bitorder="little")[:4096]
        return set(np.flatnonzero(bits).tolist())

    return lambda: xgr.GrammarMatcher(compiled), allowed


def test_allowed_tokens_equal_xgrammars_along_random_paths(grammar, vocabulary, xgrammar_json):
    new_matcher, xgrammar_allowed = xgrammar_json
    rng = random.Random(4)
    compared = surrogate_steps = 0
    for _ in range(25):
        matcher = new_matcher()
        for state, allowed, token in closing_walk(grammar, rng, steps=rng.randrange(1, 50),
                                                  eos_probability=0.3):
            theirs = xgrammar_allowed(matcher)
            assert SPECIAL_IDS <= theirs or not SPECIAL_IDS & theirs
            theirs -= SPECIAL_IDS  # xgrammar reads <unk>, <s>, <pad> as plain text
            if state.mode in (M["KEY_ED"], M["VALUE_ED"]):  # after the byte ED
                surrogates = {t for t in theirs - set(allowed)
                              if 0xA0 <= vocabulary.token_bytes(t)[0] <= 0xBF}
                theirs -= surrogates
                surrogate_steps += bool(surrogates)
            assert set(allowed) == theirs, (state, sorted(set(allowed) ^ theirs)[:10])
            compared += 1
            assert matcher.accept_token(token)
        assert matcher.is_terminated()
    assert compared > 500


def test_only_surrogates_differ_after_multibyte_lead_bytes(grammar, vocabulary, xgrammar_json):
    """Every lead byte 80-FF, and every second byte after E0, ED, F0 and F4 (the lead bytes
    that narrow it), inside a string: the same tokens allowed, except ED A0-BF."""
    new_matcher, xgrammar_allowed = xgrammar_json
    single = {vocabulary.token_bytes(t)[0]: t for t in range(4, 4096)
              if len(vocabulary.token_bytes(t)) == 1}
    start = [single[ord("[")], single[ord('"')]]
    paths = [[b] for b in range(0x80, 0x100)]
    paths += [[lead, b] for lead in (0xE0, 0xED, 0xF0, 0xF4) for b in range(0x80, 0xC0)]
    for path in paths:
        matcher, state = new_matcher(), grammar.initial_state
        for token in start + [single[b] for b in path]:
            state = None if state is None else grammar.next_state(state, token)
            if not matcher.accept_token(token):
                break
        else:
            if state is None:  # xgrammar went on where we stopped: only ED A0-BF
                assert path[0] == 0xED and 0xA0 <= path[1] <= 0xBF, path
                continue
            theirs = xgrammar_allowed(matcher) - SPECIAL_IDS
            if path == [0xED]:
                theirs -= {single[b] for b in range(0xA0, 0xC0)}
            assert set(grammar.allowed_tokens(state)) == theirs, path
            continue
        assert state is None, path  # xgrammar refused: so do we
