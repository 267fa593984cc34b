"""The checks of lab 5 (tinylm.grading.checks.structured) pass a right answer and fail wrong ones
with a message that names the problem.

Right answers come from the package (`tinylm.structured`: its character DFA, `ByteDFA.walk`, the
plain reference of the index kernel, `ConstrainedLogitsProcessor`); Exercise 5 has no package
counterpart, so its right answer is written here. Most wrong answers are the mistakes the checks
name in their hints.
"""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import torch

from tinylm.grading.checks import structured as checks
from tinylm.structured import ConstrainedLogitsProcessor
from tinylm.structured.automaton import DEAD, ByteDFA, CharDFA
from tinylm.structured.index import vocabulary_trie
from tinylm.structured.index_kernels import build_index_reference

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# -- right answers, from the package -------------------------------------------------------------


def number_dfa_from_package() -> dict:
    """tinylm's character DFA of NUMBER as the lab's dict: every character of every symbol."""
    dfa = CharDFA.from_regex(checks.NUMBER)
    rows = {state: {chr(c): nxt for symbol, nxt in row.items()
                    for lo, hi in dfa.symbol_ranges[symbol] for c in range(lo, hi + 1)}
            for state, row in enumerate(dfa.transitions)}
    return {"initial": dfa.initial, "finals": set(dfa.finals), "transitions": rows}


def walk_token(transitions, state, token):
    dfa = ByteDFA(np.asarray(transitions), np.zeros(len(transitions), dtype=bool))
    end = dfa.walk(state, token)
    return None if end == DEAD else end


def build_index(dfa, vocabulary):
    offsets, tokens, _ = build_index_reference(dfa.transitions, dfa.finals,
                                               vocabulary.eos_token_id,
                                               vocabulary_trie(vocabulary))
    return {state: tokens[offsets[state]:offsets[state + 1]].tolist()
            for state in range(1, dfa.n_states)}


def extract_with_retries(generate_text, prompt, schema, max_attempts=3):
    problem = None
    for attempt in range(max_attempts):
        text = generate_text(prompt, seed=attempt)
        try:
            value = json.loads(text)
            jsonschema.validate(value, schema)
        except (json.JSONDecodeError, jsonschema.ValidationError) as error:
            problem = error
        else:
            return value, attempt + 1
    raise ValueError(f"no valid answer in {max_attempts} attempts: {problem}")


def test_right_answers_pass():
    checks.number_dfa(number_dfa_from_package())
    checks.walk_token(walk_token)
    checks.token_index(build_index, walk_token)
    checks.logits_processor(ConstrainedLogitsProcessor)
    checks.parse_validate_retry(extract_with_retries)


def test_unsolved_exercises_raise_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: replace this line with your code")

    with pytest.raises(NotImplementedError):
        checks.number_dfa(None)
    for check in (checks.walk_token, checks.token_index, checks.logits_processor,
                  checks.parse_validate_retry):
        with pytest.raises(NotImplementedError):
            check(stub)


# -- Exercise 1 ----------------------------------------------------------------------------------

DIGITS = "0123456789"


def number_dfa(finals=(2, 4), minus=True, minus_loop=False, keys=None, **rows):
    table = {0: ({"-": 1} if minus else {}) | {d: 2 for d in DIGITS},
             1: ({"-": 1} if minus_loop else {}) | {d: 2 for d in DIGITS},
             2: {".": 3} | {d: 2 for d in DIGITS},
             3: {d: 4 for d in DIGITS},
             4: {d: 4 for d in DIGITS}}
    table.update(rows.get("table", {}))
    dfa = {"initial": 0, "finals": set(finals), "transitions": table}
    return {k: dfa[k] for k in keys} if keys else dfa


@pytest.mark.parametrize("wrong, message", [
    pytest.param(number_dfa(finals=(2, 3, 4)),
                 r"^NUMBER_DFA accepts '0\.', which re.fullmatch\(.*\) does not match: the walk "
                 r"ends in state 3, and 3 is in finals \[2, 3, 4\]$", id="point-final"),
    pytest.param(number_dfa(finals=(2,)),
                 r"^NUMBER_DFA rejects '0\.0', which the regex .* matches: the walk ends in "
                 r"state 4, which is not in finals \[2\]$", id="fraction-not-final"),
    pytest.param(number_dfa(minus=False),
                 r"^NUMBER_DFA rejects '-0', which the regex .* matches: after '' it is in "
                 r"state 0, which has no transition for '-'$", id="no-minus"),
    pytest.param(number_dfa(minus_loop=True), r"^NUMBER_DFA accepts '--\d'", id="minus-loop"),
    pytest.param(number_dfa(table={0: {"-": 1, ".": 3} | {d: 2 for d in DIGITS}}),
                 r"^NUMBER_DFA accepts '\.\d'", id="leading-point"),
    pytest.param(number_dfa(table={4: {"0-9": 4}}),
                 r"transitions'\]\[4\] has the key '0-9': keys must be single characters",
                 id="range-as-key"),
    pytest.param(number_dfa(keys=("initial", "transitions")),
                 r"expected the keys \['finals', 'initial', 'transitions'\]", id="no-finals"),
    pytest.param([0, {2, 4}], r"^NUMBER_DFA: expected a dict, got list$", id="not-a-dict"),
])
def test_number_dfa_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.number_dfa(wrong)


# -- Exercise 2 ----------------------------------------------------------------------------------


def zero_for_dead(transitions, state, token):
    for byte in token:
        state = int(transitions[state, byte])
    return state


def never_moves(transitions, state, token):
    for byte in token:
        if transitions[state, byte] == DEAD:
            return None
    return state


def first_byte_only(transitions, state, token):
    if not token:
        return state
    state = int(transitions[state, token[0]])
    return None if state == DEAD else state


def by_characters(transitions, state, token):
    for char in token.decode("utf-8"):
        state = int(transitions[state, ord(char)])
        if state == DEAD:
            return None
    return state


def with_ord(transitions, state, token):
    for byte in token:
        state = int(transitions[state, ord(byte)])
        if state == DEAD:
            return None
    return state


@pytest.mark.parametrize("wrong, message", [
    pytest.param(zero_for_dead, r"walk_token\(.*, 1, b'1a'\): expected None \(a byte leads to "
                                r"the dead state 0\), got 0: return None", id="zero-for-dead"),
    pytest.param(never_moves, r"walk_token\(.*, 1, b'-1'\): expected state 3, got 1 \(did you "
                              r"update the state after each byte\?\)$", id="never-moves"),
    pytest.param(first_byte_only, r"walk_token\(.*, 1, b'-1'\): expected state 3, got 2$",
                 id="first-byte-only"),
    pytest.param(by_characters, r"raised UnicodeDecodeError: .*A token may stop inside a "
                                r"character: walk its bytes, do not decode it$", id="characters"),
    pytest.param(with_ord, r"raised TypeError: .*Iterating over a bytes object gives ints",
                 id="ord-of-an-int"),
])
def test_walk_token_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.walk_token(wrong)


# -- Exercise 3 ----------------------------------------------------------------------------------


def index_with(eos="final", ids="all", order=sorted, first_state=1, walk=walk_token):
    def build(dfa, vocabulary):
        index = {}
        for state in range(first_state, dfa.n_states):
            allowed = [i for token, token_ids in vocabulary.items()
                       if walk(dfa.transitions, state, token) is not None
                       for i in (token_ids if ids == "all" else token_ids[:1])]
            if eos == "always" or (eos == "final" and dfa.finals[state]):
                allowed.append(vocabulary.eos_token_id)
            index[state] = order(allowed)
        return index
    return build


@pytest.mark.parametrize("wrong, message", [
    pytest.param(index_with(eos="never"),
                 r"^build_index\(.*, the tiny vocabulary\): state 3 \(reached by '0', final\): "
                 r"expected \[2, 4, .*\], got \[4, .*\]: missing \[2\] \(the state is final: "
                 r"EOS, id 2, must be allowed there\)$", id="no-eos"),
    pytest.param(index_with(eos="always"),
                 r"state 1 \(reached by '', not final\): .*extra \[2\] \(EOS, id 2, is allowed "
                 r"only in final states\)$", id="eos-everywhere"),
    pytest.param(index_with(ids="first"),
                 r"missing \[15\] \(a token can have several ids: '2.5' is spelled by "
                 r"\[14, 15\]: allow them all\)$", id="first-id-only"),
    pytest.param(index_with(order=lambda ids: sorted(ids, reverse=True)),
                 r"\(the list must be ascending, each id once: sorted\(\.\.\.\)\)$",
                 id="descending"),
    pytest.param(index_with(first_state=2),
                 r"state 1 \(reached by ''\) has no entry: expected one key per state 1 \.\. 5",
                 id="state-1-missing"),
    pytest.param(index_with(walk=first_byte_only),
                 r"state 4 \(reached by '0\.', not final\): expected \[4, 5, 6, 7, 9\], got "
                 r".*: extra \[10, 14, 15\]$",
                 id="first-byte-only"),
    pytest.param(lambda dfa, vocabulary: None,
                 r"expected a dict \{state: \[allowed token ids\]\}, got NoneType; did you "
                 r"forget `return`\?$", id="no-return"),
])
def test_token_index_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.token_index(wrong, walk_token)


def test_token_index_notes_a_wrong_walk_token():
    with pytest.raises(AssertionError, match=r"\(note: walk_token of Exercise 2 does not work "
                                             r"yet, and build_index builds on it"):
        checks.token_index(index_with(walk=first_byte_only), first_byte_only)


def test_the_outlines_comparison_allows_its_quirk_and_nothing_else():
    """The quirk shows on NUMBER: after "12" outlines-core refuses "." and "1."."""
    vocab = checks.tiny_vocabulary()
    dfa = ByteDFA.from_regex(checks.NUMBER)
    right = build_index(dfa, vocab)
    state = dfa.walk(dfa.initial, b"12")
    assert checks.outlines_drops(dfa, state, b".") and checks.outlines_drops(dfa, state, b"1.")
    for seed in range(3):
        checks.compare_with_outlines(right, dfa, vocab, checks.NUMBER, "build_index", seed)
    wrong = dict(right)
    wrong[state] = [t for t in right[state] if t != 11]  # ".5" missing
    with pytest.raises(AssertionError, match=r"compared with outlines-core's Index after "
                                             r"b?'.*': outlines-core allows .*missing \[11\]"):
        for seed in range(20):
            checks.compare_with_outlines(wrong, dfa, vocab, checks.NUMBER, "build_index", seed)


# -- Exercise 4 ----------------------------------------------------------------------------------


class Processor:
    """A processor with switches for the usual mistakes."""

    def __init__(self, index, prompt_length, mistake=None):
        self.index, self.prompt_length, self.mistake = index, prompt_length, mistake

    def __call__(self, input_ids, scores):
        start = 0 if self.mistake == "walks the prompt" else self.prompt_length
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        for row, generated in enumerate(input_ids[:, start:].tolist()):
            state = self.index.initial_state
            if self.mistake == "last token only":
                generated = generated[-1:]
            for token in generated:
                state = self.index.next_state(state, token)
            allowed[row, self.index.allowed_tokens(state)] = True
        if self.mistake == "in place":
            return scores.masked_fill_(~allowed, -math.inf)
        if self.mistake == "inverted":
            return scores.masked_fill(allowed, -math.inf)
        if self.mistake == "-1e9":
            return scores.masked_fill(~allowed, -1e9)
        if self.mistake == "no eos":
            allowed[:, self.index.eos_token_id] = False
        return scores.masked_fill(~allowed, -math.inf)


def with_mistake(mistake):
    return lambda index, prompt_length: Processor(index, prompt_length, mistake)


@pytest.mark.parametrize("mistake, message", [
    ("walks the prompt", r"raised ValueError: .*A state of None means that a token was "
                         r"walked where it is not allowed: walk only the generated tokens"),
    ("in place", r"changed its input scores: return a new tensor \(masked_fill, not "
                 r"masked_fill_\)$"),
    ("inverted", r"\(you masked the allowed tokens instead of the others\)$"),
    ("-1e9", r"a disallowed token must get the score -inf \(-math.inf\), got -1000000000.0$"),
    ("last token only", r"raised ValueError: .*A state of None means"),
    ("no eos", r"ConstrainedLogitsProcessor: row 0 \(generated \[3, 5\] = '-1'\): expected the "
               r"allowed tokens \[2, .*missing \[2\]$"),
])
def test_logits_processor_rejects(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.logits_processor(with_mistake(mistake))


# -- Exercise 5 ----------------------------------------------------------------------------------


def retries(seed_of=lambda attempt: attempt, catch=(json.JSONDecodeError,
                                                    jsonschema.ValidationError),
            attempts_of=lambda attempt: attempt + 1, exhausted="raise", value_of=None,
            extra_attempt=False):
    def extract(generate_text, prompt, schema, max_attempts=3):
        for attempt in range(max_attempts + extra_attempt):
            try:  # the model's own errors are caught too only when `catch` is too broad
                text = generate_text(prompt, seed=seed_of(attempt))
                value = json.loads(text)
                jsonschema.validate(value, schema)
            except catch:
                continue
            return (value_of(text, value) if value_of else value), attempts_of(attempt)
        if exhausted == "raise":
            raise ValueError(f"no valid answer in {max_attempts} attempts")
        return None
    return extract


@pytest.mark.parametrize("wrong, message", [
    pytest.param(retries(catch=json.JSONDecodeError),
                 r"expected \(\{'name': 'Ada', 'age': 36\}, 3\), got jsonschema's "
                 r"ValidationError \('age' is a required property\): an answer that does not "
                 r"fit the schema is a bad answer", id="no-retry-on-validation"),
    pytest.param(retries(catch=jsonschema.ValidationError),
                 r"expected \(\{'name': 'Ada', 'age': 36\}, 2\), got JSONDecodeError: .*\(a "
                 r"text json.loads cannot read is a bad answer: catch json.JSONDecodeError",
                 id="no-retry-on-bad-json"),
    pytest.param(retries(seed_of=lambda attempt: 0),
                 r"expected the seeds \[0, 1\], got \[0, 0\] \(each attempt needs a new seed",
                 id="same-seed"),
    pytest.param(retries(seed_of=lambda attempt: attempt + 1),
                 r"expected the seeds \[0\], got \[1\] \(attempt k, counted from 0, uses "
                 r"seed=k\)", id="seeds-from-1"),
    pytest.param(retries(attempts_of=lambda attempt: attempt),
                 r"expected attempts = 1 \(the number of calls of generate_text\), got 0$",
                 id="attempts-from-0"),
    pytest.param(retries(exhausted="return"),
                 r"expected a ValueError \(no answer is valid in 3 attempts\), got None$",
                 id="returns-none"),
    pytest.param(retries(value_of=lambda text, value: text),
                 r"expected the value \{'name': 'Ada', 'age': 36\} \(the parsed JSON, "
                 r"json.loads' result\), got '\{", id="returns-text"),
    pytest.param(retries(extra_attempt=True),
                 r"max_attempts=3\): generate_text was called 4 times, but the scripted model "
                 r"has only 3 answers: stop at the first valid answer", id="one-attempt-too-many"),
    pytest.param(retries(catch=Exception),
                 r"expected the model's RuntimeError to reach the caller unchanged, got "
                 r"ValueError: .*\(catch only json.JSONDecodeError and "
                 r"jsonschema.ValidationError", id="catches-everything"),
    pytest.param(lambda generate_text, prompt, schema, max_attempts=3: json.loads(
                     generate_text(prompt, seed=0)),
                 r"expected a tuple \(value, attempts\), got \{'name': 'Ada', 'age': 36\}$",
                 id="no-tuple"),
])
def test_parse_validate_retry_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.parse_validate_retry(wrong)
