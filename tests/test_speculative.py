"""tinylm.speculative against its oracles: target-only decoding and transformers.

- Greedy speculative decoding returns exactly ``generate()``'s greedy tokens, for the zoo's
  base model with every kind of drafter (the zoo's draft, a random-weight draft, the target
  itself, the n-gram drafter with either rule), gamma 1..8, with and without EOS, and at the
  edges of max_new_tokens; and the same on tiny random models with an EOS-prone head.
- Speculative sampling draws its first two tokens from the target's (warped) distribution:
  chi-square over thousands of seeds, with a tiny random model (the property does not depend
  on size), with a draft close to the target, with a random draft that forces the residual
  path, with temperature and top-k, and with the n-gram drafter's one-hot q. Each test also
  shows it could fail: the same samples against the draft's distribution are rejected.
- transformers' assisted generation (``assistant_model=``) gives the same tokens *and* the same
  target calls (how many tokens each read, after how many cached ones), so our acceptance
  counts are its; ``NGramDrafter(rule="copy")`` proposes what ``PromptLookupCandidateGenerator``
  proposes.
- The statistics add up: generated == sum(accepted) + target_calls (minus one when the last
  call ended on an accepted EOS draft), and the trace's p and q are the models' probabilities.
"""

import functools
import itertools
import json
import math

import numpy as np
import pytest
import scipy.stats
import torch
from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

from tinylm import zoo
from tinylm.generation import (
    GenerationConfig,
    LogitsProcessorList,
    build_logits_processors,
    generate,
)
from tinylm.llama import Llama, LlamaConfig
from tinylm.speculative import (
    Decoding,
    NGramDrafter,
    SpeculativeOutput,
    acceptance_probability,
    expected_speedup,
    expected_tokens_per_call,
    measure_acceptance,
    measure_cost_ratio,
    measure_forward_ms,
    residual_distribution,
    speculative_generate,
    verify_greedy,
    verify_sampling,
)
from tinylm.tokenizer import EOS_ID

VOCAB, EOS = 8, 3  # the tiny models: 8 tokens, so that 64 cells hold every pair of tokens


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


@functools.cache
def zoo_pair():
    target, tok = zoo.load("base")
    draft, _ = zoo.load("draft")
    return target, draft, tok


@functools.cache
def zoo_random_draft():
    """The draft's shape with untrained N(0, 0.02) weights: its guesses are noise."""
    return Llama(zoo.spec("draft").config, seed=7).eval()


def tiny_llama(seed: int, vocab: int = VOCAB, eos_boost: float = 0.0, like: Llama | None = None,
               noise: float = 1.0) -> Llama:
    """A tiny Llama with weights of scale 1/sqrt(fan_in) (logits of order 1, so that decisions
    are not coin flips on rounding errors). With ``like``, its weights plus ``noise`` times
    fresh ones: a draft close to ``like`` for small noise."""
    config = LlamaConfig(vocab_size=vocab, dim=32, n_layers=1, n_heads=4, n_kv_heads=2,
                         ffn_hidden=64, max_seq_len=64, tie_embeddings=False)
    model = Llama(config)
    gen = torch.Generator().manual_seed(seed)
    base = None if like is None else like.state_dict()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                continue
            fresh = 2 * torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5
            p.copy_(fresh if base is None else base[name] + noise * fresh)
        if eos_boost:
            model.output.weight[EOS] += eos_boost
    return model.eval()


@functools.cache
def tiny_target():
    return tiny_llama(0)


@functools.cache
def tiny_close_draft():
    return tiny_llama(1, like=tiny_target(), noise=0.15)


@functools.cache
def tiny_random_draft():
    return tiny_llama(2)


TINY_PROMPT = torch.tensor([[1, 5, 2, 6]])
GREEDY = Decoding(False, LogitsProcessorList(), None, ())  # no EOS


# ---------------------------------------------------------------------------------------------
# Checks shared by every run
# ---------------------------------------------------------------------------------------------


def check_statistics(out: SpeculativeOutput, gamma: int, max_new_tokens: int, eos=None):
    """The trace accounts for every generated token, and the counts add up."""
    generated = out.sequences[0, out.prompt_length:].tolist()
    assert out.generated == len(generated) <= max_new_tokens
    assert sum((s.tokens for s in out.steps), []) == generated, "the trace is not the output"
    assert [s.start for s in out.steps] == list(itertools.accumulate(
        [0] + [len(s.tokens) for s in out.steps[:-1]]))
    ended_on_draft = out.steps[-1].outcome == "eos"
    assert out.generated == sum(out.accepted) + out.target_calls - ended_on_draft
    assert all(s.outcome == "eos" for s in out.steps if s.token is None)
    assert all(s.outcome != "eos" for s in out.steps[:-1]), "only the last call can end on EOS"
    for s in out.steps:
        k = len(s.proposed)
        assert 0 <= s.accepted <= k <= gamma and len(s.p) == len(s.q) == k
        assert (s.outcome == "bonus") == (s.accepted == k and s.token is not None)
        assert all(0 <= v <= 1 + 1e-6 for v in s.p + s.q)
    if out.target_calls:
        proposed = sum(out.proposed)
        rate = out.acceptance_rate
        assert math.isnan(rate) if proposed == 0 else rate == sum(out.accepted) / proposed
    eos_ids = [] if eos is None else [eos]
    eos_at = [i for i, t in enumerate(generated) if t in eos_ids]
    assert eos_at in ([], [len(generated) - 1]), "tokens after EOS"
    if not eos_at:
        assert out.generated == max_new_tokens


def assert_greedy_equal(target, draft, ids, gamma, max_new_tokens, eos=None):
    reference = generate(target, ids, max_new_tokens=max_new_tokens, eos_token_id=eos).sequences
    out = speculative_generate(target, draft, ids, max_new_tokens=max_new_tokens, gamma=gamma,
                               eos_token_id=eos)
    assert torch.equal(out.sequences, reference), (
        f"speculative greedy differs from target greedy (gamma={gamma}):\n"
        f"{out.sequences.tolist()}\n{reference.tolist()}")
    check_statistics(out, gamma, max_new_tokens, eos)
    return out


# ---------------------------------------------------------------------------------------------
# Greedy: exactly the target's tokens
# ---------------------------------------------------------------------------------------------

STORY = "There once was a little frog named Jack. He lived"
ZOO_PROMPTS = (
    STORY,
    '{"kind": "product", "id": 51182, "name": "Classic Kettle", "price":',
    "A book has 181 pages. Nora reads 5 pages every day for 3 days. How many pages are left",
)
# Ends a JSON record: the base model closes it and emits EOS within ~30 tokens (checked below).
EOS_PROMPT = ('{"kind": "event", "id": 7149, "title": "Pottery Concert", "date": "2025-08-22", '
              '"duration_h": 7.5, "priority": "low", "location": {"city": "Dublin", "indoor": '
              'true}, "attendees": [], "notes": "Tickets')


def zoo_ids(text):
    _, _, tok = zoo_pair()
    return torch.tensor([tok.encode(text).ids])


DRAFTS = {
    "zoo draft": lambda: zoo_pair()[1],
    "random draft": zoo_random_draft,
    "target itself": lambda: zoo_pair()[0],
    "ngram count": lambda: NGramDrafter(max_ngram=3),
    "ngram copy": lambda: NGramDrafter(max_ngram=2, rule="copy"),
}


@pytest.mark.parametrize("draft_name", DRAFTS)
@pytest.mark.parametrize("gamma", [1, 3, 8])
def test_greedy_equals_target_greedy_on_the_zoo(draft_name, gamma):
    target = zoo_pair()[0]
    for i, text in enumerate(ZOO_PROMPTS):
        out = assert_greedy_equal(target, DRAFTS[draft_name](), zoo_ids(text), gamma,
                                  max_new_tokens=16 + 8 * i)
        if draft_name == "target itself":
            assert out.acceptance_rate == 1.0
            assert all(s.outcome == "bonus" for s in out.steps)


def test_greedy_acceptance_depends_on_the_drafter():
    """Non-trivial numbers: the trained draft agrees with the target most of the time on a
    story, the untrained one almost never; every gamma from 1 to 8 gives the same text."""
    target, draft, _ = zoo_pair()
    ids = zoo_ids(STORY)
    rates = {}
    for gamma in range(1, 9):
        rates[gamma] = assert_greedy_equal(target, draft, ids, gamma, 48).acceptance_rate
    assert rates[1] > 0.7 and rates[4] > 0.5, rates
    calls = {g: speculative_generate(target, draft, ids, 48, gamma=g).target_calls
             for g in (1, 4)}
    assert calls[4] < 0.5 * 48 and calls[4] < calls[1], calls
    noise = assert_greedy_equal(target, zoo_random_draft(), ids, 4, 48)
    assert noise.acceptance_rate < 0.1 and noise.target_calls >= 44


def test_ngram_drafter_accepts_repeated_text():
    """Prompt lookup pays on text that repeats: a JSON record after one of the same kind."""
    target = zoo_pair()[0]
    first = ('{"kind": "person", "id": 46885, "name": "Ava Kim", "age": 55, "email": '
             '"ava.kim80@example.org", "height_m": 1.69, "is_member": true, "role": "engineer", '
             '"address": {"street": "40 Main Street", "city": "Paris", "zip": "04875"}, '
             '"skills": [], "manager_id": null}')
    _, _, tok = zoo_pair()
    ids = torch.tensor([tok.encode(first).ids + [EOS_ID] + tok.encode('{"kind": "person", '
                                                                      '"id":').ids])
    for rule in ("count", "copy"):
        out = assert_greedy_equal(target, NGramDrafter(3, rule=rule), ids, 4, 40)
        assert out.acceptance_rate > 0.2 and out.tokens_per_call > 1.5, (rule, out.accepted)


@pytest.mark.parametrize("draft_name", DRAFTS)
def test_greedy_stops_at_eos_like_the_target(draft_name):
    target = zoo_pair()[0]
    ids = zoo_ids(EOS_PROMPT)
    reference = generate(target, ids, max_new_tokens=48, eos_token_id=EOS_ID).sequences
    assert reference[0, -1] == EOS_ID and reference.shape[1] - ids.shape[1] < 48, \
        "the prompt no longer leads to EOS: pick another"
    for gamma in (1, 2, 5, 8):
        out = assert_greedy_equal(target, DRAFTS[draft_name](), ids, gamma, 48, eos=EOS_ID)
        if draft_name == "target itself":
            # the drafter proposes EOS itself and the target keeps it: the call ends there,
            # with nothing of the target's own
            assert out.steps[-1].outcome == "eos" and out.steps[-1].token is None


@pytest.mark.parametrize("max_new_tokens", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("gamma", [1, 4, 8])
def test_greedy_max_new_tokens_edges(max_new_tokens, gamma):
    """Never more than max_new_tokens: the drafter is asked for at most one token fewer than
    still fit (the target always adds one), so no call is ever cut short."""
    target, draft, _ = zoo_pair()
    out = assert_greedy_equal(target, draft, zoo_ids(STORY), gamma, max_new_tokens)
    assert out.generated == max_new_tokens
    assert all(len(s.proposed) <= max_new_tokens - s.start - 1 for s in out.steps)
    if max_new_tokens == 1:
        assert out.target_calls == 1 and out.proposed == [0] and math.isnan(out.acceptance_rate)


def test_greedy_equals_target_greedy_on_tiny_models_with_eos():
    """Many prompts on a tiny model whose head favours EOS, so texts end at every length, and
    EOS arrives in every way: as a kept draft, as a correction and as a bonus token."""
    target = tiny_llama(10, eos_boost=1.5)
    drafts = [tiny_llama(11, eos_boost=1.5, like=target, noise=0.3), tiny_llama(12), target,
              NGramDrafter(2)]
    ended_by = set()  # the outcome of the call that produced EOS
    for gamma in range(1, 9):
        gen = torch.Generator().manual_seed(gamma)
        for draft, trial in itertools.product(drafts, range(4)):
            ids = torch.randint(4, VOCAB, (1, 3 + trial), generator=gen)
            eos = EOS if trial % 2 == 0 else None
            out = assert_greedy_equal(target, draft, ids, gamma, 20, eos=eos)
            if eos is not None and out.sequences[0, -1] == EOS:
                ended_by.add(out.steps[-1].outcome)
    assert ended_by == {"eos", "correction", "bonus"}, ended_by


# ---------------------------------------------------------------------------------------------
# Sampling: the target's distribution, whatever the drafter
# ---------------------------------------------------------------------------------------------

SAMPLES = 1500
REPEATING_PROMPT = torch.tensor([[4, 5, 6, 4, 5, 6, 4, 5]])  # the n-gram drafter guesses 6


def pair_distribution(model, prompt, temperature=1.0, top_k=0, top_p=1.0):
    """P(first two generated tokens) under ``model`` alone, warped: (vocab, vocab)."""
    config = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    warp = build_logits_processors(config, prompt.shape[1])
    with torch.no_grad():
        first = warp(None, model(prompt)[:, -1]).softmax(-1)[0]  # (vocab,)
        extended = torch.cat([prompt.expand(VOCAB, -1), torch.arange(VOCAB)[:, None]], dim=1)
        second = warp(None, model(extended)[:, -1]).softmax(-1)  # (vocab, vocab)
    return (first[:, None] * second).double()


def chi_square_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson's chi-square test of counts against probs (same shape), cells with an expected
    count under 5 merged into one. Cells of probability 0 must be empty (checked apart)."""
    probs = probs.flatten().double()
    counts, expected = counts.flatten().double(), probs / probs.sum() * counts.sum()
    keep = expected >= 5
    observed = torch.cat([counts[keep], counts[~keep].sum()[None]])
    wanted = torch.cat([expected[keep], expected[~keep].sum()[None]])
    if wanted[-1] == 0:
        if observed[-1] > 0:
            return 0.0  # draws where probs says none can happen
        observed, wanted = observed[:-1], wanted[:-1]
    return float(scipy.stats.chisquare(observed.numpy(), wanted.numpy()).pvalue)


def sample_pairs(draft, prompt, gamma=2, **settings):
    """First two tokens of SAMPLES seeded runs of 3 new tokens (so the first call drafts 2):
    their counts (vocab, vocab), the first call's outcomes, how often its first draft was kept."""
    counts = torch.zeros(VOCAB, VOCAB)
    outcomes = {"bonus": 0, "correction": 0, "eos": 0}
    first_kept = 0
    for seed in range(SAMPLES):
        out = speculative_generate(tiny_target(), draft, prompt, max_new_tokens=3, gamma=gamma,
                                   do_sample=True, seed=seed, **settings)
        a, b = out.sequences[0, prompt.shape[1]:][:2].tolist()
        counts[a, b] += 1
        outcomes[out.steps[0].outcome] += 1
        first_kept += out.steps[0].accepted >= 1
        check_statistics(out, gamma, 3)
    return counts, outcomes, first_kept / SAMPLES


def binomial_close(rate, probability, n=SAMPLES, sigmas=5):
    return abs(rate - probability) <= sigmas * math.sqrt(probability * (1 - probability) / n)


@pytest.mark.parametrize("draft_name, settings", [
    ("close", {}),
    ("random", {}),
    ("random", {"temperature": 1.5, "top_k": 5, "top_p": 0.95}),
])
def test_sampling_follows_the_target_distribution(draft_name, settings):
    draft = tiny_close_draft() if draft_name == "close" else tiny_random_draft()
    settings = {"top_k": 0, **settings}
    counts, outcomes, first_kept = sample_pairs(draft, TINY_PROMPT, **settings)
    probs = pair_distribution(tiny_target(), TINY_PROMPT, **settings)
    assert (counts[probs == 0] == 0).all(), "a token the warpers removed was drawn"
    pvalue = chi_square_pvalue(counts, probs)
    assert pvalue > 1e-3, f"samples do not follow the target (p-value {pvalue:.2g})"
    # The test has power: the same samples are far from the draft's own distribution.
    draft_probs = pair_distribution(draft, TINY_PROMPT, **settings)
    assert chi_square_pvalue(counts, draft_probs) < 1e-6
    # The first draft is kept with probability alpha = sum(min(p, q)).
    alpha = float(acceptance_probability(probs.sum(1), draft_probs.sum(1)))
    assert binomial_close(first_kept, alpha), (first_kept, alpha)
    if draft_name == "close":
        assert alpha > 0.6 and outcomes["bonus"] > 0.3 * SAMPLES, (alpha, outcomes)
    else:  # the residual path is taken, often
        assert alpha < 0.6 and outcomes["correction"] > 0.4 * SAMPLES, (alpha, outcomes)


def test_sampling_with_the_ngram_drafter_follows_the_target_distribution():
    """One-hot q: the drafted token is kept with probability p(x), else the residual is p
    without x. The prompt repeats itself so that the drafter always has a guess (6)."""
    counts, outcomes, first_kept = sample_pairs(NGramDrafter(3), REPEATING_PROMPT, top_k=0)
    probs = pair_distribution(tiny_target(), REPEATING_PROMPT, top_k=0)
    pvalue = chi_square_pvalue(counts, probs)
    assert pvalue > 1e-3, f"samples do not follow the target (p-value {pvalue:.2g})"
    assert binomial_close(first_kept, float(probs.sum(1)[6])), first_kept
    assert outcomes["correction"] > 0.2 * SAMPLES and outcomes["bonus"] > 0, outcomes
    # Power: had the guess been taken as it is, the first token would always be 6.
    guessed = torch.zeros(VOCAB, VOCAB, dtype=torch.double)
    guessed[6] = pair_distribution(tiny_target(), torch.cat(
        [REPEATING_PROMPT, torch.tensor([[6]])], dim=1), top_k=0).sum(1)
    assert chi_square_pvalue(counts, guessed) < 1e-6


def test_sampling_is_seeded():
    """Same seed, same text; another seed, another text; the counts of longer runs add up."""
    target, draft, _ = zoo_pair()
    ids = zoo_ids(STORY)
    runs = [speculative_generate(target, draft, ids, 40, gamma=4, do_sample=True, seed=s,
                                 top_k=0) for s in (0, 0, 1)]
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    assert not torch.equal(runs[0].sequences, runs[2].sequences)
    for out in runs:
        check_statistics(out, 4, 40)
        assert 0.3 < out.acceptance_rate < 1.0


def test_trace_holds_the_models_probabilities():
    """p and q of each proposed token are the target's and the draft's softmax (warped) at
    that point of the text, recomputed here from scratch without any cache."""
    target, draft = tiny_target(), tiny_random_draft()
    settings = dict(temperature=0.8, top_k=6)
    out = speculative_generate(target, draft, TINY_PROMPT, 12, gamma=3, do_sample=True, seed=3,
                               **settings)
    warp = build_logits_processors(GenerationConfig(do_sample=True, **settings), 4)
    seq = out.sequences[0].tolist()
    with torch.no_grad():
        for step in out.steps:
            before = seq[:out.prompt_length + step.start]
            for i, token in enumerate(step.proposed):
                prefix = torch.tensor([before + step.proposed[:i]])
                p = warp(None, target(prefix)[:, -1]).softmax(-1)[0, token]
                q = warp(None, draft(prefix)[:, -1]).softmax(-1)[0, token]
                assert math.isclose(step.p[i], p, abs_tol=1e-5)
                assert math.isclose(step.q[i], q, abs_tol=1e-5)
    record = json.loads(json.dumps(out.to_dict()))  # plain data, for the chapter's widget
    assert record["sequence"] == seq and len(record["steps"]) == out.target_calls
    assert record["steps"][0]["proposed"] == out.steps[0].proposed


# ---------------------------------------------------------------------------------------------
# transformers' assisted generation
# ---------------------------------------------------------------------------------------------


def record_target_calls(model, hf: bool):
    """Forward pre-hook: (cached tokens, new tokens) of every call of ``model``."""
    calls = []

    def hook(module, args, kwargs):
        ids = args[0] if args else kwargs["input_ids"]
        if hf:
            cache = kwargs.get("cache", kwargs.get("past_key_values"))
            cached = 0 if cache is None else cache.get_seq_length()
        else:
            cache = kwargs.get("cache", args[2] if len(args) > 2 else None)
            cached = cache.length
        calls.append((int(cached), ids.shape[1]))

    return calls, model.register_forward_pre_hook(hook, with_kwargs=True)


@functools.cache
def hf_models(gamma):
    target, draft, _ = zoo_pair()
    hf_target, hf_draft = target.to_hf(), draft.to_hf()
    for model in (hf_target, hf_draft):
        model.generation_config.pad_token_id = 3
    hf_draft.generation_config.num_assistant_tokens = gamma
    hf_draft.generation_config.num_assistant_tokens_schedule = "constant"
    hf_draft.generation_config.assistant_confidence_threshold = 0.0  # drafts of exactly gamma
    return hf_target, hf_draft


@pytest.mark.parametrize("gamma", [1, 3, 5])
def test_greedy_equals_transformers_assisted_generation(gamma):
    """Same tokens, and the same target calls: each reads the same number of new tokens after
    the same number of cached ones, so both accepted the same drafts at every call."""
    target, draft, _ = zoo_pair()
    hf_target, hf_draft = hf_models(gamma)
    for text, eos, n in [(STORY, None, 40), (ZOO_PROMPTS[2], None, 32), (EOS_PROMPT, EOS_ID, 48)]:
        ids = zoo_ids(text)
        ours_calls, handle = record_target_calls(target, hf=False)
        try:
            ours = speculative_generate(target, draft, ids, n, gamma=gamma, eos_token_id=eos)
        finally:
            handle.remove()
        theirs_calls, handle = record_target_calls(hf_target, hf=True)
        try:
            with torch.no_grad():
                theirs = hf_target.generate(ids, assistant_model=hf_draft, do_sample=False,
                                            max_new_tokens=n, eos_token_id=eos)
        finally:
            handle.remove()
        assert torch.equal(ours.sequences, theirs), (ours.sequences, theirs)
        assert ours_calls == theirs_calls, (ours_calls, theirs_calls)
        assert len(ours_calls) == ours.target_calls


def test_greedy_equals_transformers_prompt_lookup():
    """prompt_lookup_num_tokens= against our copy-rule drafter: the same tokens (both are the
    target's greedy text). transformers cuts a lookup before an EOS and does not shorten the
    last draft to the tokens that still fit, so call counts may differ at the end."""
    target, _, tok = zoo_pair()
    hf_target, _ = hf_models(1)
    ids = torch.tensor([tok.encode(ZOO_PROMPTS[1] + ' 19.59, "currency": "GBP", "price":').ids])
    for gamma, ngram in [(2, 2), (4, 3)]:
        ours = speculative_generate(target, NGramDrafter(ngram, rule="copy"), ids, 32, gamma=gamma)
        with torch.no_grad():
            theirs = hf_target.generate(ids, prompt_lookup_num_tokens=gamma, do_sample=False,
                                        max_matching_ngram_size=ngram, max_new_tokens=32,
                                        eos_token_id=None)
        assert torch.equal(ours.sequences, theirs)
        assert sum(ours.accepted) > 0


@pytest.mark.parametrize("seed", range(30))
def test_copy_rule_proposes_what_transformers_prompt_lookup_proposes(seed):
    """On random sequences over few tokens (so n-grams repeat), the copy rule's draft equals
    PromptLookupCandidateGenerator.get_candidates, for several n-gram sizes and draft lengths."""
    rng = np.random.default_rng(seed)
    seq = torch.from_numpy(rng.integers(0, 1 + seed % 5 + 1, size=int(rng.integers(1, 40))))
    for max_ngram, num_tokens in itertools.product((1, 2, 3, 5), (1, 3, 7)):
        theirs_gen = PromptLookupCandidateGenerator(num_output_tokens=num_tokens,
                                                    max_matching_ngram_size=max_ngram,
                                                    max_length=10_000)
        candidates, _ = theirs_gen.get_candidates(seq[None])
        theirs = candidates[0, len(seq):].tolist()
        drafter = NGramDrafter(max_ngram, num_tokens=num_tokens, rule="copy")
        ours, q = drafter.propose(seq, 100, GREEDY)
        assert q is None and ours.tolist() == theirs, (seq.tolist(), max_ngram, num_tokens)


# ---------------------------------------------------------------------------------------------
# The pieces: verification rules, formulas, measurements
# ---------------------------------------------------------------------------------------------


def test_verify_greedy_known_cases():
    scores = torch.eye(5)[[1, 2, 3, 4]] * 3  # the target's argmax: 1, 2, 3, then 4
    assert verify_greedy(torch.tensor([1, 2, 3]), scores) == (3, 4)  # all kept, bonus 4
    assert verify_greedy(torch.tensor([1, 0, 3]), scores) == (1, 2)  # second wrong: 2 instead
    assert verify_greedy(torch.tensor([0, 2, 3]), scores) == (0, 1)  # later matches do not count
    assert verify_greedy(torch.tensor([], dtype=torch.long), scores[:1]) == (0, 1)


def test_residual_distribution():
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    q = torch.tensor([0.2, 0.5, 0.1, 0.2])
    torch.testing.assert_close(residual_distribution(p, q), torch.tensor([0.75, 0, 0.25, 0]))
    torch.testing.assert_close(residual_distribution(p, p), p)  # nothing left: fall back to p
    assert math.isclose(acceptance_probability(p, q), 0.2 + 0.3 + 0.1, rel_tol=1e-6)


def test_verify_sampling_draws_the_target_distribution_in_one_position():
    """Draft tokens drawn from q, verified against p: the output token's frequencies equal p
    (20,000 draws of a single position from one generator)."""
    gen = torch.Generator().manual_seed(0)
    p = torch.tensor([[0.1, 0.6, 0.3, 0.0], [0.25, 0.25, 0.25, 0.25]])
    q = torch.tensor([[0.5, 0.1, 0.2, 0.2]])
    counts = torch.zeros(4)
    kept = 0
    n = 20_000
    for x in torch.multinomial(q[0], n, replacement=True, generator=gen).tolist():
        accepted, token = verify_sampling(torch.tensor([x]), p, q, gen)
        kept += accepted
        counts[x if accepted else token] += 1
    assert counts[3] == 0  # p = 0: never kept even if drafted
    assert chi_square_pvalue(counts[:3], p[0, :3].double()) > 1e-3
    alpha = float(acceptance_probability(p[0], q[0]))
    assert abs(kept / n - alpha) < 5 * math.sqrt(alpha * (1 - alpha) / n)


def test_expected_tokens_and_speedup_formulas():
    for alpha, gamma in itertools.product((0.0, 0.3, 0.8, 0.99), (1, 4, 8)):
        closed = (1 - alpha ** (gamma + 1)) / (1 - alpha)
        assert math.isclose(expected_tokens_per_call(alpha, gamma), closed)
        c = 0.25
        assert math.isclose(expected_speedup(alpha, gamma, c),
                            closed / (gamma * c + 1))
    assert expected_tokens_per_call(1.0, 4) == 5 and expected_tokens_per_call(0.0, 4) == 1
    np.testing.assert_allclose(expected_tokens_per_call(np.array([0.0, 0.5]), 2), [1, 1.75])
    # a simulation: i.i.d. acceptances with probability alpha, stop at the first rejection
    rng = np.random.default_rng(0)
    kept = (rng.random((200_000, 4)) < 0.7).cumprod(axis=1).sum(axis=1)
    assert abs((kept + 1).mean() - expected_tokens_per_call(0.7, 4)) < 0.01
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="alpha must lie in"):
            expected_tokens_per_call(bad, 2)
    with pytest.raises(ValueError, match="gamma"):
        expected_speedup(0.5, 0, 0.1)


def test_measure_acceptance_teacher_forced():
    target, draft = tiny_target(), tiny_random_draft()
    windows = torch.randint(0, VOCAB, (3, 10), generator=torch.Generator().manual_seed(0))
    same = measure_acceptance(target, target, windows, top_k=0)
    assert same.greedy == 1.0 and math.isclose(same.sampling, 1.0, rel_tol=1e-5)
    m = measure_acceptance(target, draft, windows, top_k=0, batch_size=2)
    with torch.no_grad():
        p, q = target(windows).softmax(-1), draft(windows).softmax(-1)
    assert m.positions == 30
    assert math.isclose(m.sampling, float(torch.minimum(p, q).sum(-1).mean()), rel_tol=1e-5)
    assert math.isclose(m.greedy, float((p.argmax(-1) == q.argmax(-1)).float().mean()))
    assert 0 < m.sampling < 1


def test_measure_cost_ratio():
    target, draft, _ = zoo_pair()
    ratio = measure_cost_ratio(target, draft, context=16, calls=4, repeats=1)
    assert ratio.target_ms > 0 and ratio.draft_ms > 0
    assert ratio.c == ratio.draft_ms / ratio.target_ms
    assert measure_forward_ms(tiny_target(), new_tokens=5, context=8, calls=2, repeats=1) > 0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_clear_errors():
    target, draft = tiny_target(), tiny_random_draft()
    ids = TINY_PROMPT
    with pytest.raises(ValueError, match="draft's vocabulary has 9 tokens and the target's 8"):
        speculative_generate(target, tiny_llama(3, vocab=9), ids)
    for gamma in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="gamma .* must be an int >= 1"):
            speculative_generate(target, draft, ids, gamma=gamma)
    with pytest.raises(ValueError, match="one prompt \\(batch 1\\), got a batch of 2"):
        speculative_generate(target, draft, ids.repeat(2, 1))
    with pytest.raises(ValueError, match="temperature must be > 0 when sampling"):
        speculative_generate(target, draft, ids, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        speculative_generate(target, draft, ids, temperature=float("nan"))
    with pytest.raises(ValueError, match="input_ids must be \\(1, prompt\\)"):
        speculative_generate(target, draft, ids[0])
    with pytest.raises(TypeError, match="input_ids must be a torch tensor"):
        speculative_generate(target, draft, ids.float())
    with pytest.raises(ValueError, match="more than the target's max_seq_len=64"):
        speculative_generate(target, draft, ids, max_new_tokens=70)
    with pytest.raises(TypeError, match="draft must be a tinylm Llama or a drafter"):
        speculative_generate(target, "draft", ids)
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 1"):
        speculative_generate(target, draft, ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p must lie in"):
        speculative_generate(target, draft, ids, do_sample=True, top_p=1.5)
    for kwargs, match in [({"max_ngram": 0}, "max_ngram must be an int >= 1"),
                          ({"min_ngram": 4, "max_ngram": 3}, "min_ngram=4 is larger"),
                          ({"num_tokens": 0}, "must be an int >= 1"),
                          ({"rule": "longest"}, "rule must be one of")]:
        with pytest.raises(ValueError, match=match):
            NGramDrafter(**kwargs)
