"""Checks of lab 5, structured generation (labs/05-structured-lab.ipynb).

The reference is `tinylm.structured` (its byte-level DFA, `Index` and
`ConstrainedLogitsProcessor`); the outside libraries are Python's `re` (what a regex matches),
outlines-core (`outlines_core.Index`: the allowed tokens of every state, compared along token
paths since its states are numbered differently) and jsonschema (what a valid object is).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import deque

import numpy as np
import torch

from tinylm.grading.checks.common import builds_on, call, check_tensor, fail, passes, torch_rng
from tinylm.structured import ConstrainedLogitsProcessor, Index, Vocabulary
from tinylm.structured.automaton import DEAD, ByteDFA, CharDFA

NUMBER = r"-?[0-9]+(\.[0-9]+)?"  # the regex of Exercises 1 to 4
ACCENTS = r"café|naïve|[α-ω]+"  # characters of 2 bytes: states inside a character
ANSWER = r"(yes|no|maybe), [a-z ]{1,10}\."  # for the course's 4,096-token vocabulary


def tiny_vocabulary() -> Vocabulary:
    """The tiny vocabulary of Exercises 3 and 4: EOS is 2, ids 0 and 1 spell nothing."""
    return Vocabulary(eos_token_id=2, tokens={
        "-": [3], "0": [4], "1": [5], "2": [6], "5": [7], ".": [8], "12": [9], "1.": [10],
        ".5": [11], "-1": [12], "a": [13], "2.5": [14, 15], "é": [16], b"\xc3": [17]})


def accents_vocabulary() -> Vocabulary:
    """Tokens that split "é", "ï" and "α" between their two bytes."""
    return Vocabulary(eos_token_id=2, tokens={
        "caf": [3], "é": [4], b"\xc3": [5], b"\xa9": [6], "na": [7], "ï": [8], "ve": [9],
        "α": [10], "β": [11], "αβ": [12], "c": [13], "a": [14], "f": [15], b"\xce": [16],
        "é!": [17], b"\xb1": [18], b"\xaf": [19]})


_COURSE: dict[str, object] = {}


def course_vocabulary() -> Vocabulary:
    """The course tokenizer's vocabulary (4,093 tokens and EOS), made once."""
    if "vocabulary" not in _COURSE:
        from tinylm.tokenizer import load_tokenizer

        _COURSE["vocabulary"] = Vocabulary.from_tokenizer(load_tokenizer())
    return _COURSE["vocabulary"]


def shown(data: bytes) -> str:
    """Bytes as the text they spell, with the bytes of a broken character written \\xHH."""
    return repr(data.decode("utf-8", errors="backslashreplace"))


def reaching_texts(dfa: ByteDFA) -> dict[int, bytes]:
    """For every live state, the shortest bytes leading there from the initial state (the
    smallest byte first): a name for a state the student can read."""
    texts, queue = {dfa.initial: b""}, deque([dfa.initial])
    while queue:
        state = queue.popleft()
        for byte in range(256):
            nxt = int(dfa.transitions[state, byte])
            if nxt != DEAD and nxt not in texts:
                texts[nxt] = texts[state] + bytes([byte])
                queue.append(nxt)
    return texts


def outlines_drops(dfa: ByteDFA, state: int, token: bytes) -> bool:
    """outlines-core's one difference: it refuses a token when the text before the token's
    last byte is already a whole match and the text with the whole token is not."""
    return bool(dfa.finals[dfa.walk(state, token[:-1])] and not dfa.finals[dfa.walk(state, token)])


def _difference(expected, got) -> str:
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    parts = ([f"missing {missing}"] if missing else []) + ([f"extra {extra}"] if extra else [])
    return "; ".join(parts) or "the same ids, in another order or repeated"


# -- Exercise 1: a character DFA -----------------------------------------------------------------


def _check_dfa_shape(dfa) -> None:
    name = "NUMBER_DFA"
    assert isinstance(dfa, dict), f"{name}: expected a dict, got {type(dfa).__name__}"
    keys = {"initial", "finals", "transitions"}
    assert set(dfa) == keys, (
        f"{name}: expected the keys {sorted(keys)}, got {sorted(map(str, dfa))}")
    assert isinstance(dfa["initial"], int), (
        f"{name}['initial']: expected a state (an int), got {dfa['initial']!r}")
    finals = dfa["finals"]
    assert isinstance(finals, (set, frozenset, list, tuple)) and all(
        isinstance(s, int) for s in finals), (
        f"{name}['finals']: expected a set of states (ints), got {finals!r}")
    transitions = dfa["transitions"]
    assert isinstance(transitions, dict), (
        f"{name}['transitions']: expected a dict {{state: {{character: next state}}}}, got "
        f"{type(transitions).__name__}")
    for state, row in transitions.items():
        assert isinstance(state, int) and isinstance(row, dict), (
            f"{name}['transitions']: expected state (int) -> {{character: next state}}, got "
            f"{state!r} -> {row!r}")
        for char, nxt in row.items():
            assert isinstance(char, str) and len(char) == 1, (
                f"{name}['transitions'][{state}] has the key {char!r}: keys must be single "
                "characters (write {d: 2 for d in '0123456789'} for every digit)")
            assert isinstance(nxt, int), (
                f"{name}['transitions'][{state}][{char!r}]: expected the next state (an int), "
                f"got {nxt!r}")


def _walk_chars(dfa, text: str):
    """(state reached or None, characters read, state where the walk stopped)."""
    state = dfa["initial"]
    for i, char in enumerate(text):
        row = dfa["transitions"].get(state, {})
        if char not in row:
            return None, i, state
        state = row[char]
    return state, len(text), state


def number_samples() -> list[str]:
    """Texts to walk: tricky ones by hand, random strings of the regex's characters, random
    numbers; shortest first, so that a failure shows the simplest text."""
    rng = random.Random(0)
    texts = {"", "0", "7", "42", "-", "-3", "--3", "-0.5", "3.14", "3.", ".5", ".", "1.2.3",
             "1..2", "12a", "a", "+1", "1e5", " 1", "1 ", "-.5", "00", "007.100", "-0", "1-2",
             "\u0663", "-12.", "0.0", "9.99", "1.5-"}
    for _ in range(400):
        texts.add("".join(rng.choice("-.0123456789") for _ in range(rng.randrange(8))))
    for _ in range(200):
        number = rng.choice(["", "-"]) + str(rng.randrange(10 ** rng.randrange(1, 6)))
        if rng.random() < 0.5:
            number += "." + str(rng.randrange(10 ** rng.randrange(1, 4))).zfill(rng.randrange(4))
        texts.add(number)
    return sorted(texts, key=lambda t: (len(t), t))


def number_dfa(dfa) -> None:
    """Exercise 1: `NUMBER_DFA` accepts exactly the texts that re.fullmatch(NUMBER, text)
    matches (and tinylm's CharDFA of the same regex)."""
    if dfa is NotImplemented or dfa is None:
        raise NotImplementedError("NUMBER_DFA is not written yet")
    _check_dfa_shape(dfa)
    reference = CharDFA.from_regex(NUMBER)
    finals = set(dfa["finals"])
    for text in number_samples():
        expected = re.fullmatch(NUMBER, text) is not None
        assert reference.accepts(text) == expected, text  # the package agrees with re
        state, read, stopped = _walk_chars(dfa, text)
        accepted = state is not None and state in finals
        if accepted == expected:
            continue
        if accepted:
            fail(f"NUMBER_DFA accepts {text!r}, which re.fullmatch(r'{NUMBER}', {text!r}) does "
                 f"not match: the walk ends in state {state}, and {state} is in finals "
                 f"{sorted(finals)}")
        if state is None:
            fail(f"NUMBER_DFA rejects {text!r}, which the regex r'{NUMBER}' matches: after "
                 f"{text[:read]!r} it is in state {stopped}, which has no transition for "
                 f"{text[read]!r}")
        fail(f"NUMBER_DFA rejects {text!r}, which the regex r'{NUMBER}' matches: the walk ends "
             f"in state {state}, which is not in finals {sorted(finals)}")


# -- Exercise 2: walking a token through the byte DFA --------------------------------------------


def _walk_token_call(walk_token, dfa, state, token, what):
    hints = {TypeError: "Iterating over a bytes object gives ints, the byte values: use them as "
                        "the table's column index directly",
             UnicodeDecodeError: "A token may stop inside a character: walk its bytes, do not "
                                 "decode it"}
    return call(walk_token, dfa.transitions, state, token, call=what, hints=hints)


def _expected_walk(dfa, state, token):
    end = dfa.walk(state, token)
    return None if end == DEAD else end


def _check_one_walk(walk_token, dfa, regex, state, token):
    what = f"walk_token(ByteDFA.from_regex(r'{regex}').transitions, {state}, {token!r})"
    got = _walk_token_call(walk_token, dfa, state, token, what)
    expected = _expected_walk(dfa, state, token)
    if isinstance(got, (np.integer,)):
        got = int(got)
    if got == expected and (got is None) == (expected is None):
        return
    if expected is None and got == DEAD:
        fail(f"{what}: expected None (a byte leads to the dead state 0), got 0: return None "
             "as soon as the walk reaches DEAD")
    if expected is None:
        fail(f"{what}: expected None (a byte of the token leads to the dead state 0: the "
             f"regex cannot match any text that goes on with {shown(token)}), got {got!r}")
    hint = ""
    if got is None:
        hint = " (only a byte that leads to DEAD, state 0, makes the token impossible)"
    elif got == state and token:
        hint = " (did you update the state after each byte?)"
    fail(f"{what}: expected state {expected}, got {got!r}{hint}")


def walk_token(walk_token) -> None:
    """Exercise 2: `walk_token(transitions, state, token)`, against `ByteDFA.walk`."""
    dfa = ByteDFA.from_regex(NUMBER)
    # 1. The worked example, by hand
    for token in (b"-1", b"1.", b"1.5", b"1a", b"", b"--", b"0"):
        _check_one_walk(walk_token, dfa, NUMBER, dfa.initial, token)
    # 2. Every live state, tokens of the tiny vocabularies and of the course vocabulary
    rng = random.Random(1)
    course = [token for token, _ in course_vocabulary().items()]
    for regex, vocab in ((NUMBER, tiny_vocabulary()), (ACCENTS, accents_vocabulary()),
                         (ANSWER, None)):
        dfa = ByteDFA.from_regex(regex)
        tokens = [token for token, _ in vocab.items()] if vocab else []
        tokens += rng.sample(course, 60)
        if regex == ANSWER:  # tokens that survive a few bytes, too
            tokens += [b"yes", b"no", b"maybe", b", ", b" the", b"cat", b" ", b"."]
        for state in range(1, dfa.n_states):
            for token in tokens if len(tokens) < 40 else rng.sample(tokens, 25):
                _check_one_walk(walk_token, dfa, regex, state, token)


def walk_token_works(walk_token) -> bool:
    """A quick probe of Exercise 2 (for the note of Exercise 3)."""
    dfa = ByteDFA.from_regex(ACCENTS)

    def right():
        return all(walk_token(dfa.transitions, state, token) == _expected_walk(dfa, state, token)
                   for state in range(1, dfa.n_states)
                   for token in (b"caf\xc3", b"\xa9", b"na\xc3\xaf", b"x", "αβ".encode()))

    return passes(right)


# -- Exercise 3: the token index -----------------------------------------------------------------


def _as_id_list(value, what) -> list[int]:
    assert isinstance(value, (list, tuple)), (
        f"{what}: expected a list of token ids, got {type(value).__name__} {value!r}")
    ids = []
    for token_id in value:
        assert isinstance(token_id, (int, np.integer)) and not isinstance(token_id, bool), (
            f"{what}: expected token ids (ints), got {token_id!r}")
        ids.append(int(token_id))
    return ids


def _index_hint(expected, got, final, eos) -> str:
    missing, extra = set(expected) - set(got), set(got) - set(expected)
    if sorted(got) == expected and got != expected:
        return " (the list must be ascending, each id once: sorted(...))"
    if missing == {eos} and not extra:
        return f" (the state is final: EOS, id {eos}, must be allowed there)"
    if extra == {eos} and not missing:
        return f" (EOS, id {eos}, is allowed only in final states)"
    return ""


def compare_index(got, dfa: ByteDFA, vocab: Vocabulary, regex: str, what: str) -> None:
    """The student's {state: allowed ids} against tinylm's Index, state by state."""
    assert isinstance(got, dict), (
        f"{what}: expected a dict {{state: [allowed token ids]}}, got {type(got).__name__}; "
        "did you forget `return`?")
    index = Index(regex, vocab)
    texts = reaching_texts(dfa)
    states = range(1, dfa.n_states)
    for key in got:
        ok = isinstance(key, (int, np.integer)) and (key in states or (key == 0 and not got[key]))
        assert ok, (f"{what}: the key {key!r} is not a state of the DFA: expected one key per "
                    f"state 1 .. {dfa.n_states - 1} (0 is DEAD, where nothing is allowed)")
    for state in states:
        assert state in got, (
            f"{what}: state {state} (reached by {shown(texts[state])}) has no entry: expected "
            f"one key per state 1 .. {dfa.n_states - 1}, with [] where no token is allowed")
        ids = _as_id_list(got[state], f"{what}[{state}]")
        expected = index.allowed_tokens(state)
        if ids != expected:
            final = bool(dfa.finals[state])
            multi = [i for token, token_ids in vocab.items() if len(token_ids) > 1
                     for i in token_ids if i in set(expected) - set(ids)]
            hint = _index_hint(expected, ids, final, vocab.eos_token_id)
            if multi and not hint:
                hint = (f" (a token can have several ids: "
                        f"{shown(vocab.token_bytes(multi[0]))} is spelled by "
                        f"{list(vocab.token_ids(vocab.token_bytes(multi[0])))}: allow them all)")
            fail(f"{what}: state {state} (reached by {shown(texts[state])}, "
                 f"{'final' if final else 'not final'}): expected {expected}, got {ids}: "
                 f"{_difference(expected, ids)}{hint}")


def compare_with_outlines(got, dfa: ByteDFA, vocab: Vocabulary, regex: str, what: str,
                          seed: int, walks: int = 12) -> None:
    """Walk random token paths in outlines-core's Index and in the DFA at once; at every step
    the student's allowed ids must be outlines-core's, plus only the tokens its one quirk
    drops (see `outlines_drops`)."""
    import outlines_core

    theirs = outlines_core.Index(regex, vocab.to_outlines())
    eos = vocab.eos_token_id
    rng = random.Random(seed)
    for _ in range(walks):
        state, their_state, text = dfa.initial, theirs.get_initial_state(), b""
        for _step in range(30):
            allowed = sorted(theirs.get_allowed_tokens(their_state) or [])
            ours = got.get(state, [])
            extra = [t for t in set(ours) - set(allowed)
                     if t == eos or not outlines_drops(dfa, state, vocab.token_bytes(t))]
            missing = sorted(set(allowed) - set(ours))
            if missing or extra:
                fail(f"{what}, compared with outlines-core's Index after {shown(text)}: "
                     f"outlines-core allows {allowed}, you allow {sorted(ours)} "
                     f"(missing {missing}, extra {sorted(extra)})")
            if not allowed or (eos in allowed and rng.random() < 0.3):
                break
            token = rng.choice(allowed)
            if token == eos:
                break
            state = dfa.walk(state, vocab.token_bytes(token))
            their_state = theirs.get_next_state(their_state, token)
            text += vocab.token_bytes(token)


def token_index(build_index, walk_token=None) -> None:
    """Exercise 3: `build_index(dfa, vocabulary)` -> {state: allowed ids}, against tinylm's
    Index (every state) and outlines-core's Index (along token paths).

    `walk_token` (Exercise 2) only serves the note a failure gets when Exercise 2 is wrong.
    """
    earlier_ok = walk_token is None or walk_token_works(walk_token)
    with builds_on(earlier_ok, "walk_token of Exercise 2 does not work yet, and build_index "
                   "builds on it: make Exercise 2 pass first"):
        cases = [(NUMBER, tiny_vocabulary(), "the tiny vocabulary"),
                 (ACCENTS, accents_vocabulary(), "the vocabulary of split characters"),
                 (ANSWER, course_vocabulary(), "the course vocabulary")]
        for seed, (regex, vocab, name) in enumerate(cases):
            dfa = ByteDFA.from_regex(regex)
            what = f"build_index(ByteDFA.from_regex(r'{regex}'), {name})"
            got = call(build_index, dfa, vocab, call=what)
            compare_index(got, dfa, vocab, regex, what)
            compare_with_outlines(got, dfa, vocab, regex, what, seed)


# -- Exercise 4: the masking logits processor ----------------------------------------------------


def random_paths(index: Index, n_rows: int, length: int, rng: random.Random) -> list[list[int]]:
    """`n_rows` token paths of `length` tokens that the index allows (EOS never chosen)."""
    rows = []
    while len(rows) < n_rows:
        state, path = index.initial_state, []
        for _ in range(length):
            options = [t for t in index.allowed_tokens(state) if t != index.eos_token_id]
            if not options:
                break
            token = rng.choice(options)
            path.append(token)
            state = index.next_state(state, token)
        if len(path) == length:
            rows.append(path)
    return rows


def compare_masked(got, expected, scores, rows_text, what) -> None:
    """Row by row: the same tokens kept (with their scores unchanged), the others -inf."""
    for row in range(scores.shape[0]):
        disallowed = expected[row] == -math.inf
        kept_expected = (~disallowed).nonzero().flatten().tolist()
        kept = (got[row] != -math.inf).nonzero().flatten().tolist()
        where = f"row {row} (generated {rows_text[row]})"
        lowered = got[row][disallowed]
        if (lowered.numel() and torch.all(lowered < scores[row][disallowed])
                and not torch.all(lowered == -math.inf)
                and torch.equal(got[row][~disallowed], scores[row][~disallowed])):
            value = lowered[lowered != -math.inf][0].item()
            fail(f"{what}: {where}: a disallowed token must get the score -inf (-math.inf), "
                 f"got {value}")
        if kept != kept_expected:
            hint = ""
            if set(kept) == set(range(scores.shape[1])) - set(kept_expected):
                hint = " (you masked the allowed tokens instead of the others)"
            fail(f"{what}: {where}: expected the allowed tokens {kept_expected}, got scores "
                 f"other than -inf at {kept[:20]}{'...' if len(kept) > 20 else ''}: "
                 f"{_difference(kept_expected, kept)}{hint}")
        if not torch.equal(got[row, kept], scores[row, kept]):
            fail(f"{what}: {where}: the scores of the allowed tokens must stay as they were")


def _processor_call(processor_class, index, prompt_length, input_ids, scores, what):
    processor = call(processor_class, index, prompt_length,
                     call=f"RegexLogitsProcessor(index, prompt_length={prompt_length})")
    ids_before, scores_before = input_ids.clone(), scores.clone()
    hint = ("A state of None means that a token was walked where it is not allowed: walk "
            "only the generated tokens, input_ids[row, prompt_length:], all of them, from "
            "index.initial_state (the prompt is not part of the constrained text)")
    got = call(processor, input_ids, scores, call=what, hints={TypeError: hint, ValueError: hint})
    assert torch.equal(input_ids, ids_before), f"{what} changed input_ids: leave them as they were"
    assert torch.equal(scores, scores_before), (
        f"{what} changed its input scores: return a new tensor (masked_fill, not masked_fill_)")
    check_tensor(got, what, scores.shape, dtype=scores.dtype, finite=False)
    return got


def _check_processor_rows(processor_class, index, vocab, prompt, paths, gen, label):
    prompt_length = len(prompt)
    input_ids = torch.tensor([prompt + path for path in paths], dtype=torch.long)
    input_ids = input_ids.view(len(paths), -1)
    scores = torch.randn(len(paths), vocab.size, generator=gen)
    what = (f"RegexLogitsProcessor(Index(r'{index.regex}', {label}), prompt_length="
            f"{prompt_length})(input_ids of shape {tuple(input_ids.shape)}, scores)")
    got = _processor_call(processor_class, index, prompt_length, input_ids, scores, what)
    expected = ConstrainedLogitsProcessor(index, prompt_length)(input_ids, scores.clone())
    texts = [f"{path} = {shown(b''.join(vocab.token_bytes(t) for t in path))}" for path in paths]
    compare_masked(got, expected, scores, texts, f"{what}, compared with tinylm's "
                   "ConstrainedLogitsProcessor")


def _decode_with(processor, model, tokenizer, prompt, max_new_tokens, **settings):
    from tinylm.generation import GenerationConfig, generate
    from tinylm.tokenizer import EOS_ID

    ids = torch.tensor([tokenizer.encode(prompt).ids])
    config = GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=EOS_ID, **settings)
    out = generate(model, ids, config, logits_processor=[processor(ids.shape[1])])
    return out.sequences[0, ids.shape[1]:].tolist()


def logits_processor(processor_class) -> None:
    """Exercise 4: `RegexLogitsProcessor(index, prompt_length)(input_ids, scores)`, against
    tinylm's ConstrainedLogitsProcessor; then greedy and sampled decoding with it on the zoo's
    base model give a full match, token for token what tinylm's processor gives."""
    gen = torch_rng(0)
    rng = random.Random(0)
    # 1. The tiny vocabulary, by hand: "-1", "12.", "12", "-1.5" after a prompt of "a a"
    vocab = tiny_vocabulary()
    index = Index(NUMBER, vocab)
    prompt = [1, 13, 13]  # <s> a a: tokens the regex would refuse, so skip them
    _check_processor_rows(processor_class, index, vocab, prompt, [[], []], gen,
                          "tiny vocabulary")
    _check_processor_rows(processor_class, index, vocab, prompt,
                          [[3, 5], [9, 8], [5, 6], [12, 11], [14, 7]], gen, "tiny vocabulary")
    # 2. The course vocabulary, random paths of several lengths
    vocab = course_vocabulary()
    index = Index(ANSWER, vocab)
    for length in (0, 1, 3, 6):
        paths = random_paths(index, 4, length, rng)
        prompt = rng.sample(range(4, 4096), 5)
        _check_processor_rows(processor_class, index, vocab, prompt, paths, gen,
                              "course vocabulary")
    # 3. Decoding with it: greedy and sampling on the zoo's base model
    from tinylm import zoo

    model, tokenizer = zoo.load("base")
    cases = [('{"kind": "event", "id": 52210, "title": "Chess Meetup", "date": "',
              r'2025-[0-9]{2}-[0-9]{2}"', {}),
             ("Once upon a time", ANSWER, {}),
             ("Once upon a time", ANSWER, {"do_sample": True, "seed": 3})]
    for prompt, regex, settings in cases:
        index = Index(regex, vocab)
        mode = "sampling (seed 3)" if settings else "greedy decoding"
        what = (f"{mode} of the base model after {prompt!r}, with RegexLogitsProcessor("
                f"Index(r'{regex}', course vocabulary), prompt_length)")
        tokens = call(_decode_with, lambda n, index=index: processor_class(index, n), model,
                      tokenizer, prompt, 24, **settings, call=what)
        expected = _decode_with(lambda n, index=index: ConstrainedLogitsProcessor(index, n),
                                model, tokenizer, prompt, 24, **settings)
        text = b"".join(vocab.token_bytes(t) for t in tokens if t != vocab.eos_token_id)
        expected_text = b"".join(vocab.token_bytes(t) for t in expected
                                 if t != vocab.eos_token_id)
        assert tokens == expected, (
            f"{what}: expected the tokens {expected} ({shown(expected_text)}), as tinylm's "
            f"ConstrainedLogitsProcessor gives, got {tokens} ({shown(text)})")
        assert re.fullmatch(regex, text.decode("utf-8")), (
            f"{what}: {shown(text)} does not match the regex")


# -- Exercise 5: parse, validate, retry ----------------------------------------------------------

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
VALID = '{"name": "Ada", "age": 36}'
NOT_JSON = '{"name": "Ada", "age": 36'  # the closing brace never came
PROSE = 'Sure! Here it is: {"name": "Ada", "age": 36}'
MISSING = '{"name": "Ada"}'  # valid JSON, but "age" is required
WRONG_TYPE = '{"name": "Ada", "age": "36"}'
NEGATIVE = '{"name": "Ada", "age": -1}'  # below the minimum
A_LIST = '["Ada", 36]'  # JSON, not an object
PADDED = '  {"name": "Bo", "age": 7}\n'  # whitespace around JSON is fine for json.loads


class ScriptedModel:
    """A fake model: answers the scripted texts in order and records every call."""

    def __init__(self, outputs, error=None, what="extract_with_retries(...)"):
        self.outputs, self.error, self.what, self.calls = list(outputs), error, what, []

    def __call__(self, prompt, seed=None):
        self.calls.append((prompt, seed))
        if self.error is not None:
            raise self.error
        if len(self.calls) > len(self.outputs):
            fail(f"{self.what}: generate_text was called {len(self.calls)} times, but the "
                 f"scripted model has only {len(self.outputs)} answers: stop at the first valid "
                 "answer, and after max_attempts attempts")
        return self.outputs[len(self.calls) - 1]


def _seeds_hint(seeds) -> str:
    if len(set(seeds)) < len(seeds):
        return " (each attempt needs a new seed: seed=attempt, 0, 1, 2, ...)"
    return " (attempt k, counted from 0, uses seed=k)"


def _retry_case(extract, outputs, max_attempts, expected):
    """Run one scripted case; `expected` is (value, attempts) or None for a ValueError."""
    import jsonschema

    prompt = "Extract the person: Ada Lovelace, 36."
    what = (f"extract_with_retries(model answering {outputs!r}, prompt, PERSON_SCHEMA, "
            f"max_attempts={max_attempts})")
    model = ScriptedModel(outputs, what=what)
    n_calls = len(outputs) if expected is None else expected[1]

    def attempt():
        """("value", what it returned) or ("ValueError" / "ValidationError", the error)."""
        try:
            return "value", extract(model, prompt, PERSON_SCHEMA, max_attempts=max_attempts)
        except ValueError as error:
            return "ValueError", error
        except jsonschema.ValidationError as error:
            return "ValidationError", error

    outcome, got = call(attempt, call=what)
    wanted = ("a ValueError (no answer is valid)" if expected is None
              else f"({expected[0]!r}, {expected[1]})")
    if outcome == "ValidationError":
        fail(f"{what}: expected {wanted}, got jsonschema's ValidationError ({got.message}): "
             "an answer that does not fit the schema is a bad answer like any other: catch "
             "the error and try again, and raise ValueError when no attempt is left")
    if outcome == "ValueError" and expected is not None:
        hint = (" (a text json.loads cannot read is a bad answer: catch json.JSONDecodeError "
                "and try again)" if isinstance(got, json.JSONDecodeError) else "")
        fail(f"{what}: expected {wanted}, got {type(got).__name__}: {got}{hint}")
    if outcome == "value" and expected is None:
        fail(f"{what}: expected a ValueError (no answer is valid in {max_attempts} "
             f"attempts), got {got!r}")
    seeds = [seed for _, seed in model.calls]
    assert len(model.calls) == n_calls, (
        f"{what}: expected {n_calls} call{'s' * (n_calls != 1)} of generate_text, got "
        f"{len(model.calls)} (seeds {seeds})")
    assert seeds == list(range(n_calls)), (
        f"{what}: expected the seeds {list(range(n_calls))}, got {seeds}{_seeds_hint(seeds)}")
    assert all(p == prompt for p, _ in model.calls), (
        f"{what}: generate_text must receive the prompt unchanged, got "
        f"{[p for p, _ in model.calls]!r}")
    if expected is None:
        return
    assert isinstance(got, tuple) and len(got) == 2, (
        f"{what}: expected a tuple (value, attempts), got {got!r}")
    value, attempts = got
    assert value == expected[0] and isinstance(value, type(expected[0])), (
        f"{what}: expected the value {expected[0]!r} (the parsed JSON, json.loads' result), "
        f"got {value!r}")
    assert attempts == expected[1] and not isinstance(attempts, bool), (
        f"{what}: expected attempts = {expected[1]} (the number of calls of generate_text), "
        f"got {attempts!r}")


def parse_validate_retry(extract_with_retries) -> None:
    """Exercise 5: `extract_with_retries(generate_text, prompt, schema, max_attempts)`, with
    scripted fake models: how many attempts, which seeds, what comes back, what is raised."""
    ada, bo = json.loads(VALID), json.loads(PADDED)
    cases = [
        ([VALID], 3, (ada, 1)),
        ([NOT_JSON, VALID], 3, (ada, 2)),
        ([MISSING, WRONG_TYPE, VALID], 3, (ada, 3)),  # valid JSON is not enough: validate it
        ([A_LIST, PROSE, "", NEGATIVE, PADDED], 5, (bo, 5)),
        ([NOT_JSON, MISSING, NEGATIVE], 3, None),  # the last failure is the schema's
        ([MISSING, NOT_JSON], 2, None),  # the last failure is json.loads'
        ([WRONG_TYPE], 1, None),
    ]
    for outputs, max_attempts, expected in cases:
        _retry_case(extract_with_retries, outputs, max_attempts, expected)
    # An error of the model itself is not a bad answer: it must reach the caller unchanged
    model = ScriptedModel([VALID], error=RuntimeError("the model server is down"))
    what = "extract_with_retries(a model that raises RuntimeError, ...)"
    try:
        extract_with_retries(model, "prompt", PERSON_SCHEMA, max_attempts=3)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        assert str(error) == "the model server is down", (
            f"{what}: expected the model's RuntimeError unchanged, got RuntimeError: {error}")
    except Exception as error:
        fail(f"{what}: expected the model's RuntimeError to reach the caller unchanged, got "
             f"{type(error).__name__}: {error} (catch only json.JSONDecodeError and "
             "jsonschema.ValidationError: other errors are not bad answers)")
    else:
        fail(f"{what}: expected the model's RuntimeError to reach the caller, got no error")
    assert len(model.calls) == 1, (
        f"{what}: expected 1 call (the error is not a bad answer to retry), got "
        f"{len(model.calls)} (catch only json.JSONDecodeError and jsonschema.ValidationError)")

