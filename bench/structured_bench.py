"""Benchmark: structured generation, tinylm vs outlines-core and xgrammar: building the token
index (or compiling the grammar) and masking per generated token, on the course vocabulary and
on a 32k-token BPE vocabulary.

Run from the repository root:

    .venv/bin/python bench/structured_bench.py          # full run, writes bench/results/
    .venv/bin/python bench/structured_bench.py --quick  # one regex, one schema, JSON; 1 repeat

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import outlines_core
import torch
import xgrammar as xgr
from benchlib import Rows, benchmark, main, positive_int
from outlines_core.json_schema import build_regex_from_schema
from outlines_core.kernels.numpy import apply_token_bitmask_inplace as outlines_apply
from tokenizers import Tokenizer

from tinylm.structured import Index, JsonGrammar, Vocabulary, regex_from_schema
from tinylm.structured.index import vocabulary_trie
from tinylm.synthetic import course_corpus, json_record_schema, json_records
from tinylm.tokenizer import EOS_ID, load_tokenizer, to_transformers, train_tokenizer

GOAL = 1.0  # build: outlines-core's time / ours >= 1.0; masking: ours no slower (ratio >= 1.0)
SPECIAL_IDS = {0, 1, 3}  # <unk> <s> <pad>: plain text to xgrammar, never allowed by ours

# ---------------------------------------------------------------------------------------------
# The constraints: a few regexes, three JSON Schemas (with instances to walk), any JSON
# ---------------------------------------------------------------------------------------------

REGEXES = {
    "number": r"-?[0-9]+(\.[0-9]+)?",
    "email": r"[a-z0-9._]{1,20}@[a-z]{2,12}\.(com|org|net)",
    "phone": r"\(\d{3}\) \d{3}-\d{4}",
    "story opening": r"(Once upon a time|One day), [A-Za-z ,']{5,60}\.",
}
TOOL_CALL = {
    "type": "object",
    "properties": {
        "name": {"enum": ["get_weather", "search", "send_email"]},
        "arguments": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30},
                           "days": {"type": "integer", "minimum": 1, "maximum": 14},
                           "units": {"enum": ["metric", "imperial"]}},
            "required": ["city", "days"],
        },
    },
    "required": ["name", "arguments"],
}
ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
        "items": {"type": "array", "minItems": 1, "maxItems": 5, "items": {
            "type": "object",
            "properties": {"sku": {"type": "string", "maxLength": 12},
                           "qty": {"type": "integer"}, "price": {"type": "number"}},
            "required": ["sku", "qty", "price"]}},
        "paid": {"type": "boolean"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["order_id", "items", "paid", "note"],
}
SCHEMAS = {  # name -> (schema, instances: texts both libraries must accept token by token)
    "records (json_record_schema)": (json_record_schema(), json_records(4, seed=0)),
    "tool call": (TOOL_CALL, [
        json.dumps({"name": "get_weather", "arguments": {"city": "Oslo", "days": 3,
                                                         "units": "metric"}}),
        json.dumps({"name": "search", "arguments": {"city": "São Paulo", "days": 14}},
                   ensure_ascii=False)]),
    "order": (ORDER, [
        json.dumps({"order_id": "ABC-0042", "items": [
            {"sku": "kettle-2", "qty": 1, "price": 39.5},
            {"sku": "mug", "qty": 4, "price": 7.25}], "paid": True, "note": None}),
        json.dumps({"order_id": "XYZ-9000", "items": [{"sku": "tea", "qty": 12, "price": 3}],
                    "paid": False, "note": "leave at the door"})]),
}
NESTED = json.dumps({"a": [1, -2.5e+3, {"b": [True, None, {"c": "x\\n\u00e9"}]}],
                     "d": {"e": {"f": [[], {}, [[[0]]]]}}, "g": "\u65e5\u672c"},
                    ensure_ascii=False)
JSON_TEXTS = json_records(3, seed=1) + [NESTED]


# ---------------------------------------------------------------------------------------------
# The vocabularies, each as every library wants it
# ---------------------------------------------------------------------------------------------


@dataclass
class Vocab:
    name: str
    tokenizer: Tokenizer
    vocabulary: Vocabulary  # ours
    outlines: outlines_core.Vocabulary
    compiler: xgr.GrammarCompiler
    setup: dict

    @property
    def size(self) -> int:
        return self.vocabulary.size

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids


def timed(fn: Callable):
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def prepare(name: str, tokenizer: Tokenizer) -> Vocab:
    """The vocabulary for ours (bytes per id, and the trie the index kernel walks), for
    outlines-core (its Vocabulary) and for xgrammar (TokenizerInfo and a GrammarCompiler with
    its cache off, so that every compile is timed in full); each step's time is kept."""
    ours_s, vocabulary = timed(lambda: Vocabulary.from_tokenizer(tokenizer))
    trie_s, _ = timed(lambda: vocabulary_trie(vocabulary))
    outlines_s, outlines = timed(vocabulary.to_outlines)
    size = vocabulary.size

    def compiler():
        info = xgr.TokenizerInfo.from_huggingface(to_transformers(tokenizer), vocab_size=size)
        assert info.stop_token_ids == [EOS_ID], info.stop_token_ids
        return xgr.GrammarCompiler(info, cache_enabled=False)

    xgr_s, compiler = timed(compiler)
    setup = {"vocab": name, "tokens": size, "ours_vocabulary_s": ours_s, "ours_trie_s": trie_s,
             "outlines_vocabulary_s": outlines_s, "xgrammar_setup_s": xgr_s}
    return Vocab(name, tokenizer, vocabulary, outlines, compiler, setup)


def bpe_32k(vocab_size: int):
    """A byte-level BPE tokenizer of ``vocab_size`` tokens trained on the whole course corpus
    (``min_frequency`` 2, lowered if the corpus runs out of pairs), and its training time."""
    docs = course_corpus("train")
    for min_frequency in (2, 1):
        seconds, tokenizer = timed(lambda m=min_frequency: train_tokenizer(
            docs, vocab_size=vocab_size, min_frequency=m))
        if tokenizer.get_vocab_size() == vocab_size:
            break
    return tokenizer, {"bpe_train_s": seconds, "bpe_min_frequency": min_frequency,
                       "bpe_vocab_size": tokenizer.get_vocab_size()}


# ---------------------------------------------------------------------------------------------
# Token paths, and the check that both sides allow the same tokens along them
# ---------------------------------------------------------------------------------------------


def outlines_drops(index: Index, state: int, token: bytes) -> bool:
    """outlines-core's documented quirk (tinylm/structured/index.py): it refuses a token when
    the text before the token's last byte is a whole match and the text with it is not."""
    dfa = index.dfa
    return bool(dfa.finals[dfa.walk(state, token[:-1])] and not dfa.finals[dfa.walk(state, token)])


def compare_outlines(ours: Index, theirs, paths: list[list[int]], vocab: Vocab) -> dict:
    """Walk every path in both indexes; at every step (the last one too, where EOS is
    allowed) outlines-core's allowed tokens must be ours, minus only tokens its quirk drops."""
    steps = quirks = 0
    problems = []
    for path in paths:
        state, their_state = ours.initial_state, theirs.get_initial_state()
        for i in range(len(path) + 1):
            allowed = set(ours.allowed_tokens(state))
            their = set(theirs.get_allowed_tokens(their_state) or [])
            extra = allowed - their
            explained = all(t != EOS_ID and outlines_drops(
                ours, state, vocab.vocabulary.token_bytes(t)) for t in extra)
            if not their <= allowed or not explained:
                problems.append(f"step {i}: {len(their - allowed)} tokens only outlines-core "
                                f"allows, {len(extra)} only ours")
                break
            quirks += len(extra)
            steps += 1
            if i == len(path):
                if EOS_ID not in allowed & their:
                    problems.append("the path does not end in a final state")
                break
            token = path[i]
            if token not in their:
                problems.append(f"step {i}: token {token} not allowed")
                break
            state = ours.next_state(state, token)
            their_state = theirs.get_next_state(their_state, token)
    return {"steps": steps, "quirk_tokens": quirks, "problems": problems}


def random_paths(ours: Index, theirs, n: int, rng: random.Random,
                 max_len: int = 40) -> list[list[int]]:
    """Token paths that both indexes allow, drawn at random; each ends where EOS is allowed
    (drawn with probability 0.3 there, or forced when nothing else is)."""
    paths = []
    while len(paths) < n:
        state, their_state, path = ours.initial_state, theirs.get_initial_state(), []
        for _ in range(max_len):
            options = sorted(set(theirs.get_allowed_tokens(their_state) or [])
                             & set(ours.allowed_tokens(state)))
            if EOS_ID in options and (len(options) == 1 or rng.random() < 0.3):
                paths.append(path)
                break
            token = rng.choice([t for t in options if t != EOS_ID])
            path.append(token)
            state = ours.next_state(state, token)
            their_state = theirs.get_next_state(their_state, token)
    return paths


def xgrammar_allowed(matcher, bitmask, size: int) -> set[int]:
    matcher.fill_next_token_bitmask(bitmask)
    bits = np.unpackbits(bitmask.numpy().view(np.uint8), bitorder="little")[:size]
    return set(np.flatnonzero(bits).tolist())


def compare_xgrammar(ours, compiled, paths, vocab: Vocab, same_language: bool) -> dict:
    """Walk every path in ours and in an xgrammar matcher. With ``same_language`` (any JSON)
    the allowed sets must be equal at every step, but for two differences of xgrammar's: it
    reads <unk>, <s> and <pad> as plain text (they are set aside), and its mask may leave out
    a token that its own matcher accepts (``accept_token``, then ``rollback``): such tokens
    are counted, any other difference fails. For a JSON Schema xgrammar compiles another
    language (it enforces minimum/maximum, has its own whitespace and number rules), so every
    token of the path must be allowed by both, and both must end in a final state."""
    steps = omitted = 0
    problems = []
    bitmask = xgr.allocate_token_bitmask(1, vocab.size)
    for path in paths:
        matcher = xgr.GrammarMatcher(compiled, max_rollback_tokens=1)
        state = ours.initial_state
        for i in range(len(path) + 1):
            allowed = set(ours.allowed_tokens(state))
            their = xgrammar_allowed(matcher, bitmask, vocab.size)
            if same_language:
                their -= SPECIAL_IDS
                only_ours = allowed - their
                accepted = {t for t in only_ours if t != EOS_ID and accepts(matcher, t)}
                if their - allowed or only_ours - accepted:
                    problems.append(f"step {i}: {len(their - allowed)} tokens only xgrammar "
                                    f"allows, {len(only_ours - accepted)} only ours")
                    break
                omitted += len(accepted)
            steps += 1
            if i == len(path):
                if EOS_ID not in allowed & their:
                    problems.append("the path does not end in a final state")
                break
            token = path[i]
            if token not in allowed or token not in their or not matcher.accept_token(token):
                problems.append(f"step {i}: token {token} not allowed by both")
                break
            state = ours.next_state(state, token)
    return {"steps": steps, "quirk_tokens": omitted, "problems": problems}


def accepts(matcher, token: int) -> bool:
    """Does xgrammar's matcher accept ``token`` here? (Its state is left as it was.)"""
    if not matcher.accept_token(token):
        return False
    matcher.rollback(1)
    return True


# ---------------------------------------------------------------------------------------------
# Timing: builds, and one pass of masking over the paths (cold: the first; warm: the best)
# ---------------------------------------------------------------------------------------------


def best_loop(fn: Callable, repeats: int, min_time: float) -> float:
    """The best over ``repeats`` of the mean time of ``fn()``, called until ``min_time``."""
    best = math.inf
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = min(best, elapsed / calls)
    return best


def ours_pass(constraint, paths, logits=None) -> Callable[[], None]:
    """Our decoding loop's constraint work: the mask of the state (a cached bool array), then
    the next state. With ``logits`` (a (1, vocab) tensor) the mask is applied as
    ``ConstrainedLogitsProcessor`` applies it: the state's cached 0/-inf bias
    (``logit_bias``) added to the scores, out of place (the processor returns a new tensor
    and leaves its input as it was)."""
    def run():
        for path in paths:
            state = constraint.initial_state
            for token in [*path, None]:
                if logits is None:
                    constraint.allowed_mask(state)
                else:
                    logits + constraint.logit_bias(state)
                if token is not None:
                    state = constraint.next_state(state, token)
    return run


def outlines_pass(index, paths, size: int, logits=None) -> Callable[[], None]:
    """outlines-core's: ``Guide.write_mask_into`` a bitmask, then ``Guide.advance``; with
    ``logits`` (a (1, vocab) array) also its Numba kernel that applies the bitmask."""
    guide = outlines_core.Guide(index)
    bitmask = np.full((1, (size + 31) // 32), -1, dtype=np.int32)
    pointer, numel = bitmask.ctypes.data, bitmask.size

    def run():
        for path in paths:
            guide.reset()
            for token in [*path, None]:
                guide.write_mask_into(pointer, numel, 4)
                if logits is not None:
                    outlines_apply(logits, bitmask)
                if token is not None:
                    guide.advance(token, return_tokens=False)
    return run


def xgrammar_pass(compiled, paths, size: int, logits=None) -> Callable[[], None]:
    """xgrammar's: ``fill_next_token_bitmask``, then ``accept_token``; with ``logits`` (a
    (1, vocab) tensor) also ``xgrammar.apply_token_bitmask_inplace`` (its CPU kernel)."""
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, size)

    def run():
        for path in paths:
            matcher.reset()
            for token in [*path, None]:
                matcher.fill_next_token_bitmask(bitmask)
                if logits is not None:
                    xgr.apply_token_bitmask_inplace(logits, bitmask)
                if token is not None:
                    matcher.accept_token(token)
    return run


def measure(build: Callable, make_pass: Callable, paths, size: int, args, apply: Callable):
    """build s (best loop), cold pass s (first pass after a fresh build, best of repeats),
    warm pass s and warm pass with the logits masked too (best loops)."""
    build_s = best_loop(build, args.repeats, args.min_time)
    cold_s = math.inf
    for _ in range(args.repeats):
        product = build()
        seconds, _ = timed(make_pass(product, paths, size))
        cold_s = min(cold_s, seconds)
    warm_s = best_loop(make_pass(product, paths, size), args.repeats, args.min_time)
    apply_s = best_loop(make_pass(product, paths, size, apply()), args.repeats, args.min_time)
    return product, {"build_s": build_s, "cold_s": cold_s, "warm_s": warm_s,
                     "apply_s": apply_s}


def ours_make_pass(constraint, paths, size, logits=None):
    return ours_pass(constraint, paths, logits)


def case_rows(vocab: Vocab, kind: str, name: str, ours_build: Callable, theirs: str,
              theirs_build: Callable, paths_of: Callable, compare: Callable, args) -> tuple:
    """One constraint on one vocabulary against one reference: the build row and the masking
    row."""
    size = vocab.size
    ours, reference = ours_build(), theirs_build()  # untimed: the paths and the comparison
    paths = paths_of(ours, reference)
    steps = sum(len(p) + 1 for p in paths)
    agreement = compare(ours, reference, paths)
    ours, mine = measure(ours_build, ours_make_pass, paths, size, args,
                         lambda: torch.zeros(1, size))
    if theirs == "outlines-core":
        make_pass, apply = outlines_pass, lambda: np.zeros((1, size), dtype=np.float32)
    else:
        make_pass, apply = xgrammar_pass, lambda: torch.zeros(1, size)
    _, other = measure(theirs_build, make_pass, paths, size, args, apply)
    states = getattr(ours, "n_states", None)
    label = {"vocab": vocab.name, "constraint": name, "kind": kind, "reference": theirs}
    build_row = {**label, "states": states, "ours_build_s": mine["build_s"],
                 "theirs_build_s": other["build_s"],
                 "build_ratio": other["build_s"] / mine["build_s"],
                 "same": not agreement["problems"], "problems": agreement["problems"],
                 "quirk_tokens": agreement["quirk_tokens"],
                 "compared": "allowed sets" if kind != "schema" or theirs == "outlines-core"
                 else "paths accepted"}
    us = 1e6 / steps
    mask_row = {**label, "steps": steps, "compared_steps": agreement["steps"],
                "ours_cold_us": mine["cold_s"] * us, "ours_warm_us": mine["warm_s"] * us,
                "theirs_cold_us": other["cold_s"] * us, "theirs_warm_us": other["warm_s"] * us,
                "warm_ratio": other["warm_s"] / mine["warm_s"],
                "ours_apply_us": mine["apply_s"] * us, "theirs_apply_us": other["apply_s"] * us,
                "apply_ratio": other["apply_s"] / mine["apply_s"]}
    return build_row, mask_row


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--big-vocab", type=positive_int, default=32000,
                        help="tokens of the second BPE vocabulary, trained on the course corpus "
                             "(default 32000)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds each timing loop runs at least (default 0.2, 0.02 with "
                             "--quick)")
    parser.add_argument("--walks", type=positive_int, default=8,
                        help="random token paths per regex (default 8)")


BUILD_COLUMNS = [
    ("vocab", "vocabulary", "text"), ("constraint", "constraint", "text"),
    ("reference", "reference", "text"), ("states", "states (ours)", "int"),
    ("ours_build_s", "ours build s", "seconds"), ("theirs_build_s", "reference build s", "seconds"),
    ("build_ratio", "reference / ours", "ratio"), ("same", "outputs agree", "yesno"),
    ("compared", "compared", "text")]
MASK_COLUMNS = [
    ("vocab", "vocabulary", "text"), ("constraint", "constraint", "text"),
    ("reference", "reference", "text"), ("steps", "steps", "int"),
    ("ours_cold_us", "ours cold µs", "float"), ("ours_warm_us", "ours µs", "float"),
    ("theirs_cold_us", "ref. cold µs", "float"), ("theirs_warm_us", "ref. µs", "float"),
    ("warm_ratio", "ref. / ours", "ratio"), ("ours_apply_us", "ours + apply µs", "float"),
    ("theirs_apply_us", "ref. + apply µs", "float"),
    ("apply_ratio", "ref. / ours (+apply)", "ratio")]
SETUP_COLUMNS = [
    ("vocab", "vocabulary", "text"), ("tokens", "ids", "int"),
    ("ours_vocabulary_s", "ours: token bytes s", "seconds"),
    ("ours_trie_s", "ours: trie s", "seconds"),
    ("outlines_vocabulary_s", "outlines-core Vocabulary s", "seconds"),
    ("xgrammar_setup_s", "xgrammar TokenizerInfo + compiler s", "seconds")]


@benchmark(
    "structured", title="Structured generation: tinylm vs outlines-core and xgrammar", chapter=5,
    packages=("numba", "tokenizers"), options=add_options,
    repeats=3, columns=BUILD_COLUMNS,
    tables={"masking": ("Masking, per generated token (µs), along the same token paths "
                        "(cold: the first pass after a build; + apply: the scores of a "
                        "(1, vocabulary) float32 row set to -inf too):", MASK_COLUMNS),
            "setup": ("Once per vocabulary (not in the build times above):", SETUP_COLUMNS)},
)
def run(args):
    """**Constraints.** Four regexes (a number, an e-mail address, a phone number with `\\d`, a
    story opening), three JSON Schemas (`tinylm.synthetic.json_record_schema()`, the corpus's
    records under `oneOf`; a tool call with an optional argument; an order with a list of
    objects, a pattern and `anyOf`) and any JSON (no schema). **Vocabularies.** The course
    tokenizer (4,096 ids) and a byte-level BPE tokenizer of 32,000 ids trained for this run with
    `tinylm.tokenizer.train_tokenizer(course_corpus("train"), vocab_size=32000)` (the trainer
    and corpus of the course tokenizer; about 3 s).

    **References.** *outlines-core* `Index(regex, Vocabulary)` for the regexes and for the
    schemas, both built from the very same regex (outlines-core's `build_regex_from_schema`
    output, which `tinylm.structured.regex_from_schema` reproduces). *xgrammar*
    `GrammarCompiler(...).compile_builtin_json_grammar()` against our `JsonGrammar`, and
    `compile_json_schema(schema)` against our `Index(regex_from_schema(schema))` (ours timed
    from the schema: conversion and index). xgrammar's compiler runs with its cache off (every
    compile is timed in full) and its default `max_threads`; all three work on one thread here
    (process CPU time equals wall time on the largest builds).

    **What is timed.** *Build*: `Index(regex, vocabulary)` (regex to byte DFA, then the Numba
    walk of the vocabulary's trie from every state; the trie is built once per vocabulary, see
    the last table) against `outlines_core.Index`; `JsonGrammar(vocabulary)` against xgrammar's
    compile. *Masking*: the constraint's work per generated token along token paths: the mask
    of the current state, then the move to the next state with the path's token (ours:
    `allowed_mask(state)` and `next_state`; outlines-core: `Guide.write_mask_into` and
    `Guide.advance`; xgrammar: `GrammarMatcher.fill_next_token_bitmask` and `accept_token`),
    one step more at the end of each path, where EOS is allowed. *+ apply* adds setting the
    disallowed scores of a (1, vocabulary) float32 row to -inf (ours as
    `ConstrainedLogitsProcessor` does it: `scores + logit_bias(state)`, the state's cached
    additive mask of 0s and -infs, out of place, in place of `allowed_mask`; outlines-core: its
    Numba kernel `apply_token_bitmask_inplace`; xgrammar: its `apply_token_bitmask_inplace`,
    both in place). The paths: 8 random walks per regex among the tokens both
    sides allow; the tokens of valid instances for the schemas (`json_records` for the records)
    and for any JSON (three records and one deeper document). *Cold* is the first pass after a
    fresh build (our masks and JsonGrammar's are computed on first use and cached), the other
    columns the best of `--repeats` (3) loops of at least `--min-time` (0.2 s), after an
    untimed warm-up that compiles the Numba kernels.

    **Outputs must agree** (or the run fails): at every step of every path the allowed tokens
    are equal, but for three differences of the references', allowed and counted:
    outlines-core's quirk (it drops a token when the text before the token's last byte is
    already a whole match and the text with it is not, see `tinylm/structured/index.py`);
    xgrammar's reading of `<unk>`, `<s>` and `<pad>` as plain text; and tokens that xgrammar's
    JSON mask leaves out although its own matcher accepts them (`accept_token`, then
    `rollback`; `}],` after a string at depth 5, for one). For `compile_json_schema` xgrammar
    compiles another language than the regex (it enforces `minimum`/`maximum`, allows more
    whitespace), so there both must accept every token of the same instances and end in a
    final state.

    **Goal** (from the issue): build ratio outlines-core / ours >= 1.0, and masking no slower
    (ratio >= 1.0). The build goal is against outlines-core only: it builds the same complete
    index, where xgrammar's compile does other work (it precomputes only part of each mask and
    completes the masks during decoding), so its build rows are shown but not counted.
    """
    if args.min_time is None:
        args.min_time = 0.02 if args.quick else 0.2
    regexes = {"number": REGEXES["number"]} if args.quick else REGEXES
    schemas = {"tool call": SCHEMAS["tool call"]} if args.quick else SCHEMAS
    warm_up()

    print("training the big BPE vocabulary", flush=True)
    big, facts = bpe_32k(args.big_vocab)
    vocabs = [prepare("course (4,096)", load_tokenizer()),
              prepare(f"BPE {big.get_vocab_size() / 1000:.0f}k", big)]
    rng = random.Random(0)
    rows, masking = [], []
    for vocab in vocabs:
        for name, regex in regexes.items():
            print(f"{vocab.name}: regex {name}", flush=True)
            rows_pair = case_rows(
                vocab, "regex", f"regex: {name}", lambda r=regex, v=vocab: Index(r, v.vocabulary),
                "outlines-core", lambda r=regex, v=vocab: outlines_core.Index(r, v.outlines),
                lambda ours, theirs: random_paths(ours, theirs, args.walks, rng),
                lambda ours, theirs, paths, v=vocab: compare_outlines(ours, theirs, paths, v),
                args)
            rows.append(rows_pair[0])
            masking.append(rows_pair[1])
        for name, (schema, instances) in schemas.items():
            paths = [vocab.encode(text) for text in instances]
            regex = build_regex_from_schema(json.dumps(schema))
            assert regex == regex_from_schema(schema), name  # the same language, the same text
            print(f"{vocab.name}: schema {name}", flush=True)
            for theirs, theirs_build, compare in (
                    ("outlines-core", lambda r=regex, v=vocab: outlines_core.Index(r, v.outlines),
                     lambda ours, theirs, p, v=vocab: compare_outlines(ours, theirs, p, v)),
                    ("xgrammar", lambda s=schema, v=vocab: v.compiler.compile_json_schema(
                        json.dumps(s)),
                     lambda ours, theirs, p, v=vocab: compare_xgrammar(ours, theirs, p, v,
                                                                       False))):
                ours_build = ((lambda r=regex, v=vocab: Index(r, v.vocabulary))
                              if theirs == "outlines-core" else
                              (lambda s=schema, v=vocab: Index(regex_from_schema(s),
                                                               v.vocabulary)))
                build_row, mask_row = case_rows(
                    vocab, "schema", f"schema: {name}", ours_build, theirs, theirs_build,
                    lambda ours, ref, p=paths: p, compare, args)
                rows.append(build_row)
                masking.append(mask_row)
        print(f"{vocab.name}: any JSON", flush=True)
        paths = [vocab.encode(text) for text in JSON_TEXTS]
        build_row, mask_row = case_rows(
            vocab, "json", "any JSON (no schema)", lambda v=vocab: JsonGrammar(v.vocabulary),
            "xgrammar", lambda v=vocab: v.compiler.compile_builtin_json_grammar(),
            lambda ours, ref, p=paths: p,
            lambda ours, theirs, p, v=vocab: compare_xgrammar(ours, theirs, p, v, True), args)
        rows.append(build_row)
        masking.append(mask_row)
    facts |= {"versions": {name: importlib.metadata.version(name)
                           for name in ("outlines-core", "xgrammar", "interegular")},
              "regexes": regexes, "walks_per_regex": args.walks, "min_time": args.min_time,
              "xgrammar_max_threads": "default (8)"}
    return summarize(rows, masking, [v.setup for v in vocabs], facts)


def warm_up() -> None:
    """Compile (or load) the Numba kernels: ours, and outlines-core's bitmask kernel."""
    vocabulary = Vocabulary(eos_token_id=2, tokens={"1": [3], "2": [4], "12": [5]})
    Index("[12]+", vocabulary)
    outlines_apply(np.zeros((1, 64), dtype=np.float32), np.full((1, 2), -1, dtype=np.int32))


def summarize(rows, masking, setup, facts):
    """The notes, and the failure if any output differs."""
    bad = [f"{r['vocab']}, {r['constraint']} vs {r['reference']}: {'; '.join(r['problems'])}"
           for r in rows if not r["same"]]
    outlines_builds = [r for r in rows if r["reference"] == "outlines-core"]
    builds_met = sum(r["build_ratio"] >= GOAL for r in outlines_builds)
    warm_met = sum(r["warm_ratio"] >= GOAL for r in masking)
    apply_met = sum(r["apply_ratio"] >= GOAL for r in masking)
    outlines_quirks = sum(r["quirk_tokens"] for r in rows if r["reference"] == "outlines-core")
    xgrammar_omitted = sum(r["quirk_tokens"] for r in rows if r["reference"] == "xgrammar")
    steps = sum(r["compared_steps"] for r in masking)
    n = len(rows)
    notes = [
        f"Goal, build against outlines-core (outlines-core / ours >= {GOAL:.1f}): met in "
        f"{builds_met} of {len(outlines_builds)} cases (the xgrammar rows are not counted). "
        f"Masking, no slower: met in {warm_met} of {n} cases for the mask alone, "
        f"{apply_met} of {n} with the scores masked too.",
        (f"Outputs agree: {steps:,} steps compared along the token paths. The documented "
         f"differences: outlines-core's quirk drops {outlines_quirks:,} (state, token) pairs "
         f"that ours allows; xgrammar's JSON mask leaves out {xgrammar_omitted:,} that ours "
         "allows and its own matcher accepts. Every other allowed set is equal (against "
         "xgrammar's schema grammar: every path token is accepted by both, and both end in a "
         "final state).") if not bad else
        "Outputs **differ**: " + "; ".join(bad) + ".",
        f"The {facts['bpe_vocab_size']:,}-token BPE vocabulary was trained in "
        f"{facts['bpe_train_s']:.1f} s with min_frequency {facts['bpe_min_frequency']}.",
    ]
    return Rows(rows, notes=notes, facts=facts, tables={"masking": masking, "setup": setup},
                failed=("outputs differ: " + "; ".join(bad)) if bad else None)


if __name__ == "__main__":
    main(run)
