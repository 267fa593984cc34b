"""Constrained generation: mask every token the constraint does not allow, then decode as usual.

The model still proposes a score for every token; constrained decoding only takes away the
tokens that would leave the language (their score becomes -inf), so greedy decoding, sampling
and beam search all run unchanged (``tinylm.generation.generate``) and can only ever produce
text the constraint accepts. The constraint is anything with the interface of ``Index``
(a regex's token index, ``index.py``) or ``JsonGrammar`` (any JSON, ``json_grammar.py``):
``initial_state``, ``next_state(state, token_id)``, ``logit_bias(state)`` (0 for the allowed
tokens, -inf for the others: adding it to the scores is the mask), ``is_final_state(state)``
and ``eos_token_id``. EOS is allowed exactly in final states, so a sequence can only end once
its text is complete.

``ConstrainedLogitsProcessor`` is a logits processor like the others of ``tinylm.generation``.
It does not keep one state per row between steps: beam search reorders and duplicates rows at
every step, so a row's state is worked out from the row's own generated tokens each time
(``state_after``), from the state of the same tokens minus the last one, cached from the step
before. Any row order is then right by construction.

``generate_regex`` and ``generate_json`` wrap it: prompt in, text (or parsed JSON) out. When
``max_new_tokens`` runs out before the text is complete they raise ``IncompleteGenerationError``
rather than return something that does not match.

    model, tokenizer = tinylm.zoo.load("base")
    generate_json(model, tokenizer, "", tinylm.synthetic.json_record_schema("event"),
                  max_new_tokens=150)          # a dict that the schema validates
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from tinylm.generation import GenerationConfig, LogitsProcessor, generate
from tinylm.structured.index import Index
from tinylm.structured.json_grammar import JsonGrammar
from tinylm.structured.schema import regex_from_schema
from tinylm.structured.vocabulary import Vocabulary


class IncompleteGenerationError(RuntimeError):
    """max_new_tokens ran out before the constrained text was complete."""


# ---------------------------------------------------------------------------------------------
# The logits processor
# ---------------------------------------------------------------------------------------------

_FINISHED = object()  # the state of a row that already holds EOS
_DEAD = object()  # the state of a row whose tokens the constraint does not allow


class ConstrainedLogitsProcessor(LogitsProcessor):
    """Set to -inf the score of every token ``constraint`` does not allow after each row's
    generated tokens (those after the first ``prompt_length`` columns of ``input_ids``).

    A row that already ended (holds EOS) or that holds a token the constraint refuses (beam
    search may keep a -inf candidate when too few tokens are allowed) is offered EOS only, so
    that it ends at once and never holds a finite score for an invalid text.
    """

    def __init__(self, constraint, prompt_length: int):
        for name in ("initial_state", "next_state", "logit_bias", "is_final_state",
                     "eos_token_id"):
            if not hasattr(constraint, name):
                raise TypeError(f"constraint must be an Index or a JsonGrammar (it needs "
                                f"{name}), got {type(constraint).__name__}")
        if isinstance(prompt_length, bool) or not isinstance(prompt_length, int) \
                or prompt_length < 0:
            raise ValueError(f"prompt_length must be an int >= 0, got {prompt_length!r}")
        self.constraint = constraint
        self.prompt_length = prompt_length
        self.eos_token_id = constraint.eos_token_id
        self._states: dict[tuple[int, ...], object] = {}  # the last step's rows -> states

    def __repr__(self):
        return (f"ConstrainedLogitsProcessor({self.constraint!r}, "
                f"prompt_length={self.prompt_length})")

    def state_after(self, generated: tuple[int, ...]):
        """The constraint's state after ``generated`` (or _FINISHED / _DEAD)."""
        if generated in self._states:
            return self._states[generated]
        if not generated:
            return self.constraint.initial_state
        previous = self.state_after(generated[:-1])
        token = generated[-1]
        if previous is _FINISHED or previous is _DEAD:
            return previous
        if token == self.eos_token_id:
            return _FINISHED if self.constraint.is_final_state(previous) else _DEAD
        state = self.constraint.next_state(previous, token)
        return _DEAD if state is None else state

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows = input_ids[:, self.prompt_length:].tolist()  # (rows, generated)
        states = {}
        for tokens in map(tuple, rows):
            if tokens not in states:
                states[tokens] = self.state_after(tokens)
        self._states = states  # next step's rows extend these by one token
        # Masking is an addition: a bias of 0 for the allowed tokens and -inf for the others
        # (kept per state by the constraint) leaves the allowed scores as they are and sends
        # the others to -inf, for all rows in one vectorized add.
        bias = torch.stack([self._bias(states[tuple(tokens)], scores.shape[-1])
                            for tokens in rows])  # (rows, vocab)
        return scores + bias.to(scores.device, scores.dtype)

    def _bias(self, state, vocab: int) -> torch.Tensor:
        """(vocab,) float32: 0 for the tokens allowed in ``state``, -inf for the others."""
        if state is _FINISHED or state is _DEAD:
            bias = torch.full((vocab,), -math.inf)
            bias[self.eos_token_id] = 0.0
            return bias
        bias = self.constraint.logit_bias(state)
        if len(bias) == vocab:
            return bias
        if len(bias) > vocab:
            raise ValueError(f"the constraint's vocabulary has {len(bias)} ids but the model "
                             f"scores {vocab}")
        return F.pad(bias, (0, vocab - len(bias)), value=-math.inf)  # ids it lacks: refused


# ---------------------------------------------------------------------------------------------
# Prompt in, text out
# ---------------------------------------------------------------------------------------------

_VOCABULARIES: dict[int, tuple[object, Vocabulary]] = {}
_CONSTRAINTS: dict[tuple, object] = {}


def vocabulary_of(tokenizer) -> Vocabulary:
    """``Vocabulary.from_tokenizer(tokenizer)``, made once per tokenizer object."""
    cached = _VOCABULARIES.get(id(tokenizer))
    if cached is None or cached[0] is not tokenizer:
        cached = (tokenizer, Vocabulary.from_tokenizer(tokenizer))
        _VOCABULARIES[id(tokenizer)] = cached
    return cached[1]


def regex_index(regex: str, vocabulary: Vocabulary) -> Index:
    """``Index(regex, vocabulary)``, built once per regex and vocabulary."""
    key = ("regex", regex, id(vocabulary))
    if key not in _CONSTRAINTS or _CONSTRAINTS[key].vocabulary is not vocabulary:
        _CONSTRAINTS[key] = Index(regex, vocabulary)
    return _CONSTRAINTS[key]


def json_grammar(vocabulary: Vocabulary) -> JsonGrammar:
    """``JsonGrammar(vocabulary)`` (its mask cache is worth keeping), once per vocabulary."""
    key = ("json", id(vocabulary))
    if key not in _CONSTRAINTS or _CONSTRAINTS[key].vocabulary is not vocabulary:
        _CONSTRAINTS[key] = JsonGrammar(vocabulary)
    return _CONSTRAINTS[key]


def generate_constrained(model, tokenizer, prompt: str, constraint, max_new_tokens: int = 64,
                         do_sample: bool = False, seed: int | None = None,
                         **options) -> str:
    """Continue ``prompt`` with text that ``constraint`` accepts; returns that text.

    options: other ``GenerationConfig`` fields (temperature, top_k, num_beams, ...).
    Raises IncompleteGenerationError when max_new_tokens runs out first.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    vocabulary = constraint.vocabulary
    input_ids = torch.tensor([tokenizer.encode(prompt).ids])  # <s> and the prompt's tokens
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=do_sample, seed=seed,
                              eos_token_id=vocabulary.eos_token_id, **options)
    processor = ConstrainedLogitsProcessor(constraint, prompt_length=input_ids.shape[1])
    out = generate(model, input_ids, config, logits_processor=[processor])
    generated = out.sequences[0, input_ids.shape[1]:].tolist()
    if vocabulary.eos_token_id in generated:  # what follows EOS is padding
        generated = generated[:generated.index(vocabulary.eos_token_id) + 1]
    state = processor.state_after(tuple(generated))
    text = b"".join(vocabulary.token_bytes(t) for t in generated
                    if t != vocabulary.eos_token_id)
    if state is _DEAD:  # cannot happen through the mask; guard all the same
        raise RuntimeError(f"the output left the constraint: {text!r}")
    if state is not _FINISHED and not constraint.is_final_state(state):
        raise IncompleteGenerationError(
            f"max_new_tokens={max_new_tokens} ran out before the output was complete: after "
            f"{len(generated)} tokens the text is {text.decode('utf-8', 'replace')!r}, only "
            "the start of a match; raise max_new_tokens")
    return text.decode("utf-8")


def generate_regex(model, tokenizer, prompt: str, regex: str, max_new_tokens: int = 64,
                   do_sample: bool = False, seed: int | None = None, **options) -> str:
    """Continue ``prompt`` with text that matches ``regex`` in full; returns that text.

    Greedy by default; ``do_sample=True`` with ``seed`` samples reproducibly; ``options`` are
    other GenerationConfig fields (``num_beams=4``, ``temperature=0.7``, ...). Raises
    IncompleteGenerationError if max_new_tokens runs out before the match is complete.

    >>> generate_regex(model, tokenizer, "The answer is ", r"(yes|no)")   # doctest: +SKIP
    'yes'
    """
    if not isinstance(regex, str):
        raise TypeError(f"regex must be a str, got {type(regex).__name__}")
    index = regex_index(regex, vocabulary_of(tokenizer))
    return generate_constrained(model, tokenizer, prompt, index, max_new_tokens, do_sample,
                                seed, **options)


def generate_json(model, tokenizer, prompt: str, schema: dict | str | None = None,
                  max_new_tokens: int = 200, do_sample: bool = False, seed: int | None = None,
                  whitespace_pattern: str | None = None, **options):
    """Continue ``prompt`` with JSON that ``schema`` describes; returns it parsed.

    schema: a JSON Schema (dict or JSON text), turned into a regex by ``regex_from_schema``;
        None for any JSON object or array (``JsonGrammar``, any depth).
    Value bounds such as ``minimum`` are not enforced (see ``schema.IGNORED_KEYWORDS``):
    validate the result if they matter. Raises IncompleteGenerationError if max_new_tokens
    runs out before the JSON is complete: it never returns partial or invalid JSON.
    """
    vocabulary = vocabulary_of(tokenizer)
    if schema is None:
        if whitespace_pattern is not None:
            raise ValueError("whitespace_pattern applies to a schema's regex; without a "
                             "schema JSON's own whitespace rules hold")
        constraint = json_grammar(vocabulary)
    else:
        constraint = regex_index(regex_from_schema(schema, whitespace_pattern), vocabulary)
    text = generate_constrained(model, tokenizer, prompt, constraint, max_new_tokens,
                                do_sample, seed, **options)
    return json.loads(text)
