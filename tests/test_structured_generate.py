"""Constrained generation with the zoo's base model: every output is in the constraint's
language (jsonschema validates every JSON result, re.fullmatch every regex result), with
greedy decoding, seeded sampling and beam search; the processor never lets through a token
the Index refuses; running out of tokens is an error, never a partial answer."""

from __future__ import annotations

import json
import math
import random
import re

import jsonschema
import numpy as np
import pytest
import torch

from tinylm import zoo
from tinylm.generation import GenerationConfig, generate
from tinylm.structured import (
    ConstrainedLogitsProcessor,
    IncompleteGenerationError,
    Index,
    JsonGrammar,
    generate_json,
    generate_regex,
    regex_from_schema,
)
from tinylm.structured.generate import regex_index, vocabulary_of
from tinylm.synthetic import CITIES, json_record_schema

DATE = r"2025-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
REGEXES = [DATE, r"(yes|no|maybe)", r"[A-Z][a-z]{2,8}", r"\d{3}-\d{4}", r"(true|false|[0-9]{1,3})"]
PLACE = {"type": "object", "properties": {"city": {"enum": list(CITIES)},
                                          "indoor": {"type": "boolean"}},
         "required": ["city", "indoor"]}
TOOL_CALL = {  # the shape of a function call's arguments
    "type": "object", "required": ["name", "arguments"], "properties": {
        "name": {"enum": ["get_weather", "add_event"]},
        "arguments": {"type": "object", "required": ["city", "days"], "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "maxDigits": 2},
            "units": {"anyOf": [{"enum": ["metric", "imperial"]}, {"type": "null"}]}}}}}


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(2)
    return zoo.load("base")


# ---------------------------------------------------------------------------------------------
# generate_json, generate_regex
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["person", "product", "event", None])
def test_generate_json_records_validate_greedy_and_sampled(base, kind):
    model, tokenizer = base
    schema = json_record_schema(kind)
    for seed in (None, 0, 1):
        sampled = seed is not None
        obj = generate_json(model, tokenizer, "", schema, max_new_tokens=200,
                            do_sample=sampled, seed=seed, temperature=0.8 if sampled else 1.0)
        jsonschema.validate(obj, schema)
        if kind is not None:
            assert obj["kind"] == kind


@pytest.mark.parametrize("schema", [PLACE, TOOL_CALL], ids=["place", "tool_call"])
def test_generate_json_other_schemas(base, schema):
    model, tokenizer = base
    for prompt, seed in [("", None), ('Weather in Oslo: ', 0), ("", 3)]:
        obj = generate_json(model, tokenizer, prompt, schema, max_new_tokens=120,
                            do_sample=seed is not None, seed=seed)
        jsonschema.validate(obj, schema)


def test_sampling_is_seeded(base):
    model, tokenizer = base
    schema = json_record_schema("event")
    runs = [generate_json(model, tokenizer, "", schema, max_new_tokens=200, do_sample=True,
                          seed=s) for s in (5, 5, 6)]
    assert runs[0] == runs[1] != runs[2]


def test_generate_json_without_schema_is_any_json(base):
    model, tokenizer = base
    for seed in (None, 2):
        obj = generate_json(model, tokenizer, "", None, max_new_tokens=200,
                            do_sample=seed is not None, seed=seed)
        assert isinstance(obj, (dict, list))


@pytest.mark.parametrize("regex", REGEXES)
def test_generate_regex_fullmatches(base, regex):
    model, tokenizer = base
    for prompt, seed in [("The answer is ", None), ("Once upon a time", 0), ("", 1)]:
        text = generate_regex(model, tokenizer, prompt, regex, max_new_tokens=16,
                              do_sample=seed is not None, seed=seed)
        assert re.fullmatch(regex, text), text


def test_running_out_of_tokens_is_an_error(base):
    model, tokenizer = base
    with pytest.raises(IncompleteGenerationError, match="max_new_tokens=12 ran out"):
        generate_json(model, tokenizer, "", json_record_schema("person"), max_new_tokens=12)
    with pytest.raises(IncompleteGenerationError, match="only the start of a match"):
        generate_regex(model, tokenizer, "", r"[a-z]{40}", max_new_tokens=3)


def test_bad_arguments(base):
    model, tokenizer = base
    with pytest.raises(ValueError, match="unsupported JSON Schema keyword 'not'"):
        generate_json(model, tokenizer, "", {"not": {"type": "null"}})
    with pytest.raises(TypeError, match="regex must be a str"):
        generate_regex(model, tokenizer, "", 5)
    with pytest.raises(TypeError, match="prompt must be a str"):
        generate_regex(model, tokenizer, [1, 2], "a")
    with pytest.raises(TypeError, match="constraint must be an Index or a JsonGrammar"):
        ConstrainedLogitsProcessor("[0-9]+", prompt_length=1)
    with pytest.raises(TypeError, match="logits_processor must be callable"):
        generate(model, torch.tensor([[1]]), logits_processor=["not a processor"])


# ---------------------------------------------------------------------------------------------
# Beam search through tinylm.generation.generate
# ---------------------------------------------------------------------------------------------


def decoded_rows(sequences, prompt_length, vocabulary):
    """(text bytes, ended with EOS) of each generated row."""
    eos = vocabulary.eos_token_id
    rows = []
    for row in sequences[:, prompt_length:].tolist():
        ended = eos in row
        row = row[:row.index(eos)] if ended else row
        rows.append((b"".join(vocabulary.token_bytes(t) for t in row), ended))
    return rows


@pytest.mark.parametrize("regex", [DATE, regex_from_schema(PLACE)], ids=["date", "place"])
def test_beam_search_returns_only_valid_sequences(base, regex):
    model, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    index = regex_index(regex, vocabulary)
    prompts = ["The date is ", "Where: "]
    encoded = [tokenizer.encode(p).ids for p in prompts]
    width = max(map(len, encoded))
    input_ids = torch.tensor([[3] * (width - len(e)) + e for e in encoded])  # left padding
    mask = (input_ids != 3).long()
    for do_sample in (False, True):
        config = GenerationConfig(max_new_tokens=40, num_beams=3, num_return_sequences=2,
                                  eos_token_id=vocabulary.eos_token_id, pad_token_id=3,
                                  do_sample=do_sample, seed=0)
        out = generate(model, input_ids, config, attention_mask=mask,
                       logits_processor=[ConstrainedLogitsProcessor(index, width)])
        rows = decoded_rows(out.sequences, width, vocabulary)
        assert len(rows) == 4 and torch.isfinite(out.sequences_scores).all()
        for text, ended in rows:
            assert ended and re.fullmatch(regex, text.decode("utf-8")), text


def test_generate_regex_and_json_with_beams(base):
    model, tokenizer = base
    assert re.fullmatch(DATE, generate_regex(model, tokenizer, "Date: ", DATE, num_beams=4))
    obj = generate_json(model, tokenizer, "", PLACE, max_new_tokens=40, num_beams=3)
    jsonschema.validate(obj, PLACE)


# ---------------------------------------------------------------------------------------------
# The processor itself
# ---------------------------------------------------------------------------------------------


def test_processor_never_lets_a_refused_token_through(base):
    """Sample hot (temperature 3, no top-k) so that the model alone would wander anywhere;
    walk every row through the Index: each token is allowed where it is taken."""
    model, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    schema = json_record_schema("product")
    index = regex_index(regex_from_schema(schema), vocabulary)
    input_ids = torch.tensor([[1]])
    config = GenerationConfig(max_new_tokens=60, do_sample=True, temperature=3.0, top_k=0,
                              num_return_sequences=4, seed=0,
                              eos_token_id=vocabulary.eos_token_id)
    out = generate(model, input_ids, config,
                   logits_processor=[ConstrainedLogitsProcessor(index, 1)])
    for row in out.sequences[:, 1:].tolist():
        state = index.initial_state
        for token in row:
            if token == vocabulary.eos_token_id:
                assert index.is_final_state(state)
                break
            assert token in index.allowed_tokens(state)
            state = index.next_state(state, token)


def random_paths(constraint, rng, n_paths, length):
    """Token paths of random allowed tokens (no EOS) through a constraint."""
    paths = []
    for _ in range(n_paths):
        path, state = [], constraint.initial_state
        for _ in range(rng.randrange(length)):
            allowed = [t for t in constraint.allowed_tokens(state)
                       if t != constraint.eos_token_id]
            if not allowed:
                break
            path.append(rng.choice(allowed))
            state = constraint.next_state(state, path[-1])
        paths.append(path)
    return paths


@pytest.mark.parametrize("which", ["index", "json"])
def test_processor_masks_exactly_the_allowed_tokens_in_any_row_order(base, which):
    _, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    constraint = (regex_index(regex_from_schema(json_record_schema("event")), vocabulary)
                  if which == "index" else JsonGrammar(vocabulary))
    rng = random.Random(0)
    prompt = [1, 7]
    for length in (1, 5, 20):
        paths = [p for p in random_paths(constraint, rng, 12, 40) if len(p) >= length]
        paths = [p[:length] for p in paths]
        rows = torch.tensor([prompt + p for p in paths])
        scores = torch.randn(len(paths), 4096)
        processor = ConstrainedLogitsProcessor(constraint, len(prompt))
        masked = processor(rows, scores)
        for row, path in enumerate(paths):
            state = constraint.initial_state
            for token in path:
                state = constraint.next_state(state, token)
            finite = torch.isfinite(masked[row]).nonzero()[:, 0].tolist()
            assert finite == constraint.allowed_tokens(state)
            assert (masked[row, finite] == scores[row, finite]).all()
        # beams reorder rows: a permutation of the rows permutes the result, nothing else
        order = torch.tensor(rng.sample(range(len(paths)), len(paths)))
        again = processor(rows[order], scores[order])
        assert torch.equal(again, masked[order])


def test_finished_and_refused_rows_may_only_end(base):
    _, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    index = Index(r"(yes|no)", vocabulary)
    eos = vocabulary.eos_token_id
    yes = vocabulary.token_ids(b"yes")[0] if b"yes" in dict(vocabulary.items()) else None
    rows = [[1, eos, eos], [1, vocabulary.token_ids(b"x")[0], 5]]
    if yes is not None:
        rows.append([1, yes, eos])
    masked = ConstrainedLogitsProcessor(index, 1)(torch.tensor(rows),
                                                 torch.zeros(len(rows), 4096))
    for row in masked:
        assert torch.isfinite(row).nonzero()[:, 0].tolist() == [eos]


def test_mask_shorter_than_the_models_vocabulary_is_padded(base):
    _, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    index = regex_index(DATE, vocabulary)
    scores = torch.zeros(1, vocabulary.size + 8)
    masked = ConstrainedLogitsProcessor(index, 1)(torch.tensor([[1]]), scores)
    assert np.isinf(masked[0, vocabulary.size:].numpy()).all()
    assert json.dumps(torch.isfinite(masked[0]).nonzero()[:, 0].tolist()) == json.dumps(
        index.allowed_tokens(index.initial_state))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_processor_equals_masked_fill_and_leaves_its_input_alone(base, dtype):
    """Adding the cached 0/-inf bias is the mask: the same scores as masked_fill with the bool
    mask, in the scores' own dtype, and the scores passed in are not written to."""
    _, tokenizer = base
    vocabulary = vocabulary_of(tokenizer)
    index = regex_index(DATE, vocabulary)
    starts = index.allowed_tokens(index.initial_state)  # tokens a date can start with
    paths = [[starts[0]], [starts[-1]], [starts[0]]]
    rows = torch.tensor([[1, *path] for path in paths])
    scores = torch.randn(len(paths), vocabulary.size, generator=torch.Generator().manual_seed(0))
    scores = scores.to(dtype)
    before = scores.clone()
    masked = ConstrainedLogitsProcessor(index, 1)(rows, scores)
    assert torch.equal(scores, before) and masked.dtype == dtype
    for row, path in enumerate(paths):
        state = index.next_state(index.initial_state, path[0])
        allowed = torch.from_numpy(index.allowed_mask(state).copy())
        assert torch.equal(masked[row], scores[row].masked_fill(~allowed, -math.inf))
