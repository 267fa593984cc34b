"""tinylm.generation against transformers' generate(): same weights, same tokens, same scores.

A tiny transformers LlamaForCausalLM with large random weights (logits of order 1 to 10, so
that decisions are not coin flips on rounding errors) and a boosted EOS row in its output head
(so that hypotheses finish at different lengths), copied with ``Llama.from_hf``. Then:

- greedy decoding and beam search give the same ``sequences`` and ``sequences_scores`` (1e-4)
  over a grid of num_beams, length_penalty, early_stopping and num_return_sequences, on a
  left-padded batch, with and without EOS, with the repetition and n-gram processors;
- sampling with a seed reproduces itself, only draws tokens the processed distribution allows,
  draws them with the right frequencies, and (because torch's CPU generator is the same stream
  whether seeded globally or per ``torch.Generator``) even equals transformers' samples;
- each logits processor and stopping criterion equals transformers' class on random inputs;
- beam search's pieces, ``beam_step`` and ``BeamHypotheses``, equal transformers' private
  helpers (``_get_top_k_continuations``, ``_update_finished_beams``,
  ``_check_early_stop_heuristic``) on hand-made and random cases;
- inconsistent settings fail with clear messages;
- the beam-search trace agrees with itself and with the returned sequences.
"""

import functools
import itertools
import json
import math

import pytest
import torch
import transformers
from transformers import LlamaForCausalLM
from transformers.generation import logits_process as hf_lp
from transformers.generation import stopping_criteria as hf_sc
from transformers.generation.utils import GenerationMixin

from tinylm.generation import (
    BeamHypotheses,
    BeamSearchTrace,
    EosTokenCriteria,
    GenerationConfig,
    LogitsProcessorList,
    MaxLengthCriteria,
    MinNewTokensLengthLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    beam_step,
    build_logits_processors,
    generate,
)
from tinylm.grading.checks.generation import transformers_add, transformers_done
from tinylm.llama import Llama

VOCAB, EOS, PAD, MAX_LEN = 64, 3, 0, 64
ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@functools.cache
def pair(seed: int = 0, eos_boost: float = 1.0):
    """A transformers model with large random weights and a likelier EOS, and our copy."""
    torch.manual_seed(seed)
    hf_config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=MAX_LEN,
        tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    hf = LlamaForCausalLM(hf_config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
        hf.lm_head.weight[EOS] += eos_boost  # EOS gets a head start
    return hf, Llama.from_hf(hf).eval()


def padded_prompts(lengths=(6, 3, 5), seed=1):
    """Left-padded prompts of the given lengths (tokens 4.., never EOS or PAD) and their mask."""
    gen = torch.Generator().manual_seed(seed)
    total = max(lengths)
    ids = torch.full((len(lengths), total), PAD)
    mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, total - n:] = torch.randint(4, VOCAB, (n,), generator=gen)
        mask[i, total - n:] = 1
    return ids, mask


def hf_generate(ids, mask=None, **settings):
    hf, _ = pair()
    config = transformers.GenerationConfig(**settings, return_dict_in_generate=True,
                                           output_scores=True)
    return hf.generate(ids, attention_mask=mask, generation_config=config)


def ours_generate(ids, mask=None, **settings):
    _, model = pair()
    return generate(model, ids, GenerationConfig(**settings), attention_mask=mask)


def assert_same_as_transformers(ids, mask=None, **settings):
    theirs = hf_generate(ids, mask, **settings)
    ours = ours_generate(ids, mask, **settings)
    assert ours.sequences.shape == theirs.sequences.shape, (ours.sequences, theirs.sequences)
    assert torch.equal(ours.sequences, theirs.sequences), \
        f"sequences differ:\nours\n{ours.sequences}\ntransformers\n{theirs.sequences}"
    if settings.get("num_beams", 1) > 1:
        diff = (ours.sequences_scores - theirs.sequences_scores).abs().max().item()
        assert diff <= ATOL, f"sequences_scores differ by {diff:.3g}: " \
                             f"{ours.sequences_scores} vs {theirs.sequences_scores}"
    else:
        assert ours.sequences_scores is None
    return ours


# ---------------------------------------------------------------------------------------------
# Greedy decoding and beam search: identical to transformers
# ---------------------------------------------------------------------------------------------


BEAM_GRID = list(itertools.product([2, 4], [-1.0, 0.0, 1.0, 2.0], [True, False, "never"],
                                   [1, 2]))


@pytest.mark.parametrize("num_beams, length_penalty, early_stopping, num_return_sequences",
                         BEAM_GRID, ids=[f"beams{b}-lp{lp:g}-es{es}-ret{r}"
                                         for b, lp, es, r in BEAM_GRID])
def test_beam_search_matches_transformers(num_beams, length_penalty, early_stopping,
                                          num_return_sequences):
    ids, mask = padded_prompts()
    assert_same_as_transformers(
        ids, mask, max_new_tokens=10, num_beams=num_beams, length_penalty=length_penalty,
        early_stopping=early_stopping, num_return_sequences=num_return_sequences,
        eos_token_id=EOS, pad_token_id=PAD)


@pytest.mark.parametrize("num_beams, early_stopping, length_penalty",
                         list(itertools.product([2, 4], [True, False, "never"], [-1.0, 2.0])))
def test_beam_search_without_eos_matches_transformers(num_beams, early_stopping,
                                                      length_penalty):
    ids, mask = padded_prompts()
    ours = assert_same_as_transformers(
        ids, mask, max_new_tokens=6, num_beams=num_beams, early_stopping=early_stopping,
        length_penalty=length_penalty, num_return_sequences=2)
    assert ours.sequences.shape == (6, 6 + 6)  # nothing ends early without EOS


@pytest.mark.parametrize("num_beams", [2, 3])
@pytest.mark.parametrize("early_stopping", [True, False, "never"])
def test_beam_search_single_unpadded_prompt(num_beams, early_stopping):
    ids, _ = padded_prompts(lengths=(4,), seed=7)
    assert_same_as_transformers(ids, max_new_tokens=12, num_beams=num_beams,
                                early_stopping=early_stopping, num_return_sequences=2,
                                eos_token_id=EOS, pad_token_id=PAD)


@pytest.mark.parametrize("eos", [EOS, None, [EOS, 5]])
@pytest.mark.parametrize("padded", [True, False])
def test_greedy_matches_transformers(eos, padded):
    ids, mask = padded_prompts() if padded else padded_prompts(lengths=(5, 5), seed=3)
    ours = assert_same_as_transformers(ids, mask if padded else None, max_new_tokens=12,
                                       eos_token_id=eos, pad_token_id=PAD)
    if eos == EOS and padded:  # the test exercises rows that end early and get padded
        ends = (ours.sequences[:, ids.shape[1]:] == EOS).any(dim=1)
        assert ends.any() and not ends.all()


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("settings", [
    dict(no_repeat_ngram_size=1), dict(no_repeat_ngram_size=2), dict(no_repeat_ngram_size=3),
    dict(repetition_penalty=1.5), dict(repetition_penalty=0.7),
    dict(min_new_tokens=5), dict(repetition_penalty=1.3, no_repeat_ngram_size=2,
                                 min_new_tokens=2),
    dict(eos_token_id=[EOS, 5, 9]),     # three EOS ids: beam search keeps 4 * num_beams
    dict(pad_token_id=None),            # pads with the first EOS id
    dict(pad_token_id=7),               # a non-zero pad id (with 0, beam search fills with EOS)
], ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_processors_and_special_tokens_match_transformers(num_beams, settings):
    ids, mask = padded_prompts()
    settings = dict(dict(eos_token_id=EOS, pad_token_id=PAD), **settings)
    assert_same_as_transformers(ids, mask, max_new_tokens=10, num_beams=num_beams,
                                num_return_sequences=min(2, num_beams), **settings)


@pytest.mark.parametrize("num_beams", [1, 2])
def test_mask_inferred_from_pad_token_like_transformers(num_beams):
    """No attention_mask, but the prompts hold pad_token_id (and it is not EOS): both libraries
    infer the mask from it."""
    ids, _ = padded_prompts()
    assert_same_as_transformers(ids, None, max_new_tokens=8, num_beams=num_beams,
                                eos_token_id=EOS, pad_token_id=PAD)


def test_padded_rows_equal_their_unpadded_selves():
    _, model = pair()
    ids, mask = padded_prompts()
    config = GenerationConfig(max_new_tokens=8, num_beams=3, eos_token_id=EOS, pad_token_id=PAD)
    batch = generate(model, ids, config, attention_mask=mask)
    for b in range(ids.shape[0]):
        alone = generate(model, ids[b:b + 1, mask[b].argmax():], config)
        new = alone.sequences[0, ids.shape[1] - mask[b].argmax():]
        assert torch.equal(batch.sequences[b, ids.shape[1]:][:len(new)], new)
        assert batch.sequences_scores[b].item() == pytest.approx(
            alone.sequences_scores[0].item(), abs=ATOL)


def test_kv_cache_is_used_one_token_per_step():
    _, model = pair()
    ids, mask = padded_prompts()
    seen = []
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(
        tuple(args[0].shape)), with_kwargs=True)
    try:
        generate(model, ids, max_new_tokens=5, num_beams=2, attention_mask=mask)
    finally:
        hook.remove()
    assert seen == [(3, 6)] + [(6, 1)] * 4  # the prompts once, then one token per beam


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


SAMPLING = [dict(), dict(temperature=0.7, top_k=10, top_p=0.9), dict(top_k=0, top_p=0.5),
            dict(temperature=1.5, top_k=5), dict(repetition_penalty=1.2, no_repeat_ngram_size=2)]


@pytest.mark.parametrize("settings", SAMPLING, ids=lambda s: str(s) or "defaults")
@pytest.mark.parametrize("num_beams", [1, 2])
def test_sampling_matches_transformers_with_the_same_seed(settings, num_beams):
    ids, mask = padded_prompts()
    settings = dict(max_new_tokens=10, do_sample=True, num_beams=num_beams,
                    num_return_sequences=2, eos_token_id=EOS, pad_token_id=PAD, **settings)
    torch.manual_seed(123)  # transformers samples from torch's global generator
    theirs = hf_generate(ids, mask, **settings)
    ours = ours_generate(ids, mask, seed=123, **settings)
    assert torch.equal(ours.sequences, theirs.sequences)
    if num_beams > 1:
        torch.testing.assert_close(ours.sequences_scores, theirs.sequences_scores, atol=ATOL,
                                   rtol=0)


def test_same_seed_same_samples():
    ids, mask = padded_prompts()
    settings = dict(max_new_tokens=10, do_sample=True, num_return_sequences=4, top_k=0)
    first = ours_generate(ids, mask, seed=5, **settings).sequences
    assert torch.equal(first, ours_generate(ids, mask, seed=5, **settings).sequences)
    assert not torch.equal(first, ours_generate(ids, mask, seed=6, **settings).sequences)
    assert len({tuple(row) for row in first[:4].tolist()}) > 1  # copies of a prompt differ


@pytest.mark.parametrize("settings", [dict(top_k=3), dict(top_k=0, top_p=0.6),
                                      dict(temperature=0.5, top_k=8, top_p=0.9)])
def test_sampled_tokens_are_allowed_by_the_filtered_distribution(settings):
    """Re-score every sampled prefix (a fresh forward, no cache) with the same processors: the
    token that was drawn always has a finite processed score."""
    _, model = pair()
    ids, mask = padded_prompts()
    config = GenerationConfig(max_new_tokens=8, do_sample=True, num_return_sequences=4, seed=0,
                              **settings)
    out = generate(model, ids, config, attention_mask=mask).sequences  # (12, 14)
    rows_mask = mask.repeat_interleave(4, dim=0)
    processors = build_logits_processors(config, ids.shape[1])
    with torch.no_grad():
        for t in range(ids.shape[1], out.shape[1]):
            prefix = out[:, :t]
            full_mask = torch.cat([rows_mask, torch.ones(12, t - ids.shape[1],
                                                         dtype=torch.long)], dim=1)
            scores = processors(prefix, model(prefix, attention_mask=full_mask)[:, -1])
            allowed = scores.gather(1, out[:, t:t + 1])
            assert torch.isfinite(allowed).all(), f"step {t}: a filtered-out token was drawn"


def test_sampling_frequencies_follow_the_filtered_distribution():
    _, model = pair()
    ids, _ = padded_prompts(lengths=(5,), seed=2)
    config = GenerationConfig(max_new_tokens=1, do_sample=True, temperature=2.0, top_k=6,
                              top_p=0.8, num_return_sequences=4000, seed=0)
    drawn = generate(model, ids, config).sequences[:, -1]
    with torch.no_grad():
        scores = build_logits_processors(config, 5)(ids, model(ids)[:, -1])
    probs = scores.softmax(-1)[0]  # (vocab,)
    counts = torch.bincount(drawn, minlength=VOCAB).double()
    assert (counts[probs == 0] == 0).all()
    assert (probs > 0).sum() > 1  # the filter leaves a real choice
    sigma = (4000 * probs * (1 - probs)).sqrt()
    assert ((counts - 4000 * probs).abs() <= 5 * sigma + 1).all(), (counts, 4000 * probs)


# ---------------------------------------------------------------------------------------------
# Logits processors and stopping criteria, one by one, against transformers' classes
# ---------------------------------------------------------------------------------------------


def random_inputs(rows=5, length=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 8, (rows, length), generator=gen)  # 8 ids: n-grams repeat
    scores = 3 * torch.randn(rows, VOCAB, generator=gen)
    scores[0, :3] = scores[0, 3]  # a tie at the top-k boundary
    return ids, scores


PROCESSOR_PAIRS = [
    (TemperatureLogitsWarper(0.5), hf_lp.TemperatureLogitsWarper(0.5)),
    (TemperatureLogitsWarper(1.7), hf_lp.TemperatureLogitsWarper(1.7)),
    (TopKLogitsWarper(1), hf_lp.TopKLogitsWarper(1)),
    (TopKLogitsWarper(5), hf_lp.TopKLogitsWarper(5)),
    (TopKLogitsWarper(2, min_tokens_to_keep=4), hf_lp.TopKLogitsWarper(2, min_tokens_to_keep=4)),
    (TopKLogitsWarper(500), hf_lp.TopKLogitsWarper(500)),
    (TopPLogitsWarper(0.1), hf_lp.TopPLogitsWarper(0.1)),
    (TopPLogitsWarper(0.5), hf_lp.TopPLogitsWarper(0.5)),
    (TopPLogitsWarper(0.95, min_tokens_to_keep=3), hf_lp.TopPLogitsWarper(0.95,
                                                                         min_tokens_to_keep=3)),
    (TopPLogitsWarper(0.01, min_tokens_to_keep=2), hf_lp.TopPLogitsWarper(0.01,
                                                                         min_tokens_to_keep=2)),
    (RepetitionPenaltyLogitsProcessor(1.3), hf_lp.RepetitionPenaltyLogitsProcessor(1.3)),
    (RepetitionPenaltyLogitsProcessor(0.6), hf_lp.RepetitionPenaltyLogitsProcessor(0.6)),
    (RepetitionPenaltyLogitsProcessor(1.3, 4), hf_lp.RepetitionPenaltyLogitsProcessor(1.3, 4)),
    (RepetitionPenaltyLogitsProcessor(2.0, torch.tensor([0, 3, 12, 5, 1])),
     hf_lp.RepetitionPenaltyLogitsProcessor(2.0, torch.tensor([0, 3, 12, 5, 1]))),
    (NoRepeatNGramLogitsProcessor(1), hf_lp.NoRepeatNGramLogitsProcessor(1)),
    (NoRepeatNGramLogitsProcessor(2), hf_lp.NoRepeatNGramLogitsProcessor(2)),
    (NoRepeatNGramLogitsProcessor(3), hf_lp.NoRepeatNGramLogitsProcessor(3)),
    (NoRepeatNGramLogitsProcessor(13), hf_lp.NoRepeatNGramLogitsProcessor(13)),
    (MinNewTokensLengthLogitsProcessor(8, 5, EOS),
     hf_lp.MinNewTokensLengthLogitsProcessor(8, 5, EOS)),
    (MinNewTokensLengthLogitsProcessor(8, 4, [EOS, 9]),
     hf_lp.MinNewTokensLengthLogitsProcessor(8, 4, [EOS, 9])),
]


@pytest.mark.parametrize("ours, theirs", PROCESSOR_PAIRS, ids=lambda p: repr(p)[:60])
@pytest.mark.parametrize("seed", [0, 1])
def test_processor_matches_transformers(ours, theirs, seed):
    ids, scores = random_inputs(seed=seed)
    expected = theirs(ids, scores.clone())
    got = ours(ids, scores.clone())
    assert torch.equal(got.isinf(), expected.isinf()), "different tokens filtered out"
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_processors_keep_their_input_intact():
    ids, scores = random_inputs()
    before = scores.clone()
    for ours, _ in PROCESSOR_PAIRS:
        ours(ids, scores)
        assert torch.equal(scores, before), type(ours).__name__


def test_processor_list_applies_in_order():
    ids, scores = random_inputs()
    chain = LogitsProcessorList([TemperatureLogitsWarper(0.5), TopKLogitsWarper(3)])
    theirs = hf_lp.LogitsProcessorList([hf_lp.TemperatureLogitsWarper(0.5),
                                        hf_lp.TopKLogitsWarper(3)])
    torch.testing.assert_close(chain(ids, scores), theirs(ids, scores))


def test_processors_are_built_in_transformers_order():
    config = GenerationConfig(do_sample=True, num_beams=2, temperature=0.7, top_k=5, top_p=0.9,
                              repetition_penalty=1.2, no_repeat_ngram_size=2, min_new_tokens=3,
                              eos_token_id=[EOS, 5])
    names = [type(p).__name__ for p in build_logits_processors(config, 6)]
    assert names == ["RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
                     "MinNewTokensLengthLogitsProcessor", "TemperatureLogitsWarper",
                     "TopKLogitsWarper", "TopPLogitsWarper"]
    processors = build_logits_processors(config, 6)
    assert processors[4].top_k == 5 and processors[5].min_tokens_to_keep == 3  # 2 EOS + 1
    greedy = build_logits_processors(GenerationConfig(temperature=0.7, top_k=5), 6)
    assert len(greedy) == 0  # warpers only with sampling, as in transformers


@pytest.mark.parametrize("eos", [EOS, [EOS, 5]])
def test_stopping_criteria_match_transformers(eos):
    ids, _ = random_inputs()
    ids[1, -1], ids[3, -1] = EOS, 5
    for length in (11, 12, 13):
        ours = StoppingCriteriaList([MaxLengthCriteria(length), EosTokenCriteria(eos)])
        theirs = hf_sc.StoppingCriteriaList([hf_sc.MaxLengthCriteria(length),
                                             hf_sc.EosTokenCriteria(eos)])
        assert torch.equal(ours(ids), theirs(ids, None))


# ---------------------------------------------------------------------------------------------
# Beam search's pieces, beam_step and BeamHypotheses, against transformers' helpers
# ---------------------------------------------------------------------------------------------


def hf_top_k_continuations(beam_scores, log_probs, num_beams, n_eos, do_sample=False):
    """transformers' _get_top_k_continuations on the same numbers, as (scores, beams, tokens)."""
    rows, vocab = log_probs.shape
    batch, k = rows // num_beams, max(2, 1 + n_eos) * num_beams
    accumulated = log_probs.view(batch, num_beams, vocab) + beam_scores.view(batch, num_beams, 1)
    sequences = torch.zeros(batch, num_beams, 2, dtype=torch.long)  # a prompt of one token
    beam_indices = torch.full((batch, num_beams, 1), -1, dtype=torch.int32)
    scores, sequences, beam_indices = GenerationMixin._get_top_k_continuations(
        GenerationMixin, accumulated_log_probs=accumulated.view(batch, -1),
        running_sequences=sequences, running_beam_indices=beam_indices, cur_len=1,
        decoder_prompt_len=1, do_sample=do_sample, beams_to_keep=k, num_beams=num_beams,
        batch_size=batch)
    rows_of = beam_indices[:, :, 0].long()  # transformers counts rows: b * num_beams + beam
    return scores, rows_of - num_beams * torch.arange(batch)[:, None], sequences[:, :, 1]


def test_beam_step_by_hand():
    beam_scores = torch.tensor([-1.0, -2.0])
    log_probs = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -3.0, -0.7]])
    scores, beams, tokens = beam_step(beam_scores, log_probs, num_beams=2)
    assert scores[0].tolist() == pytest.approx([-1.5, -2.0, -2.1, -2.7])  # K = 2 * 2
    assert beams.tolist() == [[0, 0, 1, 1]] and tokens.tolist() == [[0, 1, 0, 2]]
    assert beams.dtype == tokens.dtype == torch.int64
    assert beam_step(beam_scores, log_probs, 2, n_eos=2)[0].shape == (1, 6)  # K = 3 * 2
    assert beam_step(beam_scores, log_probs, 2, n_eos=0)[0].shape == (1, 4)  # still 2 * 2
    # step 0: only beam 0 proposes (with 3 tokens, K = 4 has to take one from beam 1)
    _, beams, _ = beam_step(torch.tensor([0.0, -1e9]), log_probs, num_beams=2)
    assert beams.tolist() == [[0, 0, 0, 1]]


@pytest.mark.parametrize("batch, num_beams, vocab, n_eos",
                         [(1, 2, 10, 1), (3, 4, 32, 1), (2, 3, 20, 0), (2, 2, 16, 3),
                          (4, 1, 12, 1), (2, 5, 50, 2)])
def test_beam_step_matches_transformers(batch, num_beams, vocab, n_eos):
    gen = torch.Generator().manual_seed(batch * 100 + num_beams * 10 + n_eos)
    log_probs = torch.log_softmax(2 * torch.randn(batch * num_beams, vocab, generator=gen), -1)
    log_probs[0, :vocab // 2] = -float("inf")  # tokens a processor has banned
    beam_scores = -5 * torch.rand(batch * num_beams, generator=gen)
    ours = beam_step(beam_scores, log_probs, num_beams, n_eos)
    theirs = hf_top_k_continuations(beam_scores, log_probs, num_beams, n_eos)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    # beam sampling draws the same candidates from the same random stream
    torch.manual_seed(7)
    theirs = hf_top_k_continuations(beam_scores, log_probs, num_beams, n_eos, do_sample=True)
    torch.manual_seed(7)
    ours = beam_step(beam_scores, log_probs, num_beams, n_eos, do_sample=True)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    seeded = beam_step(beam_scores, log_probs, num_beams, n_eos, do_sample=True,
                       generator=torch.Generator().manual_seed(7))
    for a, b in zip(seeded, theirs, strict=True):
        assert torch.equal(a, b)


def test_beam_hypotheses_by_hand():
    hyps = BeamHypotheses(num_beams=2, length_penalty=1.0, early_stopping=False,
                          max_new_tokens=10)
    assert len(hyps) == 0 and hyps.worst_score == -math.inf
    assert not hyps.is_done(-100.0, 5)  # nothing finished yet
    assert hyps.add([5, 3], -2.0, 2)  # final score -1.0
    assert hyps.add(torch.tensor([7, 3]), torch.tensor(-1.2), 1, step=0, candidate=1)
    assert hyps.add([4, 4, 3], -2.7, 3)  # -0.9 pushes out -1.2
    assert not hyps.add([6, 3], -2.0, 2)  # -1.0 only ties with the worst
    assert len(hyps) == 2 and hyps.worst_score == -1.0
    assert [(round(s, 6), t) for s, t in hyps.hyps] == [(-0.9, [4, 4, 3]), (-1.0, [5, 3])]
    assert hyps.beams[0].score == pytest.approx(-2.7) and hyps.beams[1].step is None
    assert not hyps.is_done(-2.4, 3)  # -0.8 would beat -1.0
    assert hyps.is_done(-3.0, 3)  # -1.0 cannot beat -1.0
    hyps.early_stopping = "never"  # judged at max_new_tokens: -0.3 would beat -1.0
    assert not hyps.is_done(-3.0, 3)
    hyps.early_stopping = True
    assert hyps.is_done(-0.1, 1)

    flat = BeamHypotheses(num_beams=2, length_penalty=0.0)  # plain sums: the short one wins
    for tokens, total, length in [([5, 3], -2.0, 2), ([7, 3], -1.2, 1), ([4, 4, 3], -2.7, 3)]:
        flat.add(tokens, total, length)
    assert [t for _, t in flat.hyps] == [[7, 3], [5, 3]]

    ties = BeamHypotheses(num_beams=3, length_penalty=1.0, early_stopping=True)
    for tokens, total, length in [([1, 3], -2.0, 2), ([2, 3], -2.0, 2), ([9], -0.5, 1)]:
        assert ties.add(tokens, total, length)
    assert [t for _, t in ties.hyps] == [[9], [1, 3], [2, 3]]  # a newcomer goes after ties

    short = BeamHypotheses(num_beams=2, length_penalty=-1.0, early_stopping="never",
                           max_new_tokens=10)
    short.add([1, 3], -1.0, 2)
    short.add([3], -1.5, 1)
    assert not short.is_done(-0.6, 3)  # length_penalty <= 0: judged at its current length


@pytest.mark.parametrize("length_penalty", [-1.0, 0.0, 0.5, 1.0, 2.0])
def test_beam_hypotheses_match_transformers(length_penalty):
    """Random hypotheses offered one by one: the same list, scores to the bit, and the same
    decisions to stop, float32 on both sides (ties included: lengths repeat, sums are rounded)."""
    gen = torch.Generator().manual_seed(int(10 * length_penalty) + 20)
    for _ in range(6):
        num_beams = int(torch.randint(1, 5, (1,), generator=gen))
        hyps = BeamHypotheses(num_beams, length_penalty, False, max_new_tokens=10)
        expected = []
        for marker in range(10):
            total = -(0.1 + torch.randint(1, 40, (1,), generator=gen) / 4).item()
            length = int(torch.randint(1, 11, (1,), generator=gen))
            kept = hyps.add([marker], total, length)
            expected = transformers_add(expected, total, length, marker, num_beams,
                                          length_penalty)
            assert hyps.hyps == [(s, [m]) for s, m in expected]
            assert kept == (marker in [m for _, m in expected])
            for early_stopping in (True, False, "never"):
                hyps.early_stopping = early_stopping
                best = -(0.1 + torch.randint(1, 40, (1,), generator=gen) / 4).item()
                length = int(torch.randint(1, 11, (1,), generator=gen))
                assert hyps.is_done(best, length) == transformers_done(
                    [s for s, _ in expected], best, length, num_beams, length_penalty,
                    early_stopping, 10)
            hyps.early_stopping = False


def test_beam_sampling_without_a_seed_draws_from_torchs_generator():
    ids, mask = padded_prompts()
    settings = dict(max_new_tokens=10, do_sample=True, num_beams=3, num_return_sequences=2,
                    eos_token_id=EOS, pad_token_id=PAD)
    pair()  # built (it seeds torch) before the draws
    torch.manual_seed(11)
    theirs = hf_generate(ids, mask, **settings)
    torch.manual_seed(11)
    ours = ours_generate(ids, mask, **settings)
    assert torch.equal(ours.sequences, theirs.sequences)
    torch.testing.assert_close(ours.sequences_scores, theirs.sequences_scores, atol=ATOL, rtol=0)


# ---------------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings, error, message", [
    (dict(num_beams=2, num_return_sequences=3), ValueError, r"num_return_sequences=3 must be "
                                                            r"<= num_beams=2"),
    (dict(num_return_sequences=2), ValueError, "greedy decoding gives one sequence"),
    (dict(do_sample=True, top_p=0.0), ValueError, r"top_p must lie in \(0, 1\]"),
    (dict(top_p=1.5), ValueError, r"top_p must lie in \(0, 1\]"),
    (dict(do_sample=True, temperature=0.0), ValueError, "temperature must be > 0 when sampling"),
    (dict(do_sample=True, temperature=-1), ValueError, "set do_sample=False"),
    (dict(top_k=-1), ValueError, "top_k must be an int >= 0"),
    (dict(num_beams=0), ValueError, "num_beams must be an int >= 1"),
    (dict(num_beams=2.0), ValueError, "num_beams must be an int"),
    (dict(max_new_tokens=0), ValueError, "max_new_tokens must be an int >= 1"),
    (dict(max_new_tokens=3, min_new_tokens=5), ValueError,
     "min_new_tokens=5 is larger than max_new_tokens=3"),
    (dict(early_stopping="always"), ValueError, "early_stopping must be True, False or 'never'"),
    (dict(early_stopping=1), ValueError, "early_stopping must be True, False or 'never'"),
    (dict(repetition_penalty=0.0), ValueError, "repetition_penalty must be > 0"),
    (dict(no_repeat_ngram_size=-2), ValueError, "no_repeat_ngram_size must be an int >= 0"),
    (dict(length_penalty=float("nan")), ValueError, "length_penalty must be a finite number"),
    (dict(eos_token_id=[]), ValueError, "eos_token_id must be None, an int or a non-empty list"),
    (dict(eos_token_id=-1), ValueError, "eos_token_id must be an int >= 0"),
    (dict(eos_token_id=[2, "3"]), ValueError, "each eos_token_id must be an int"),
    (dict(pad_token_id=-1), ValueError, "pad_token_id must be an int >= 0"),
    (dict(return_trace=True), ValueError, "return_trace records beam search"),
    (dict(do_sample="yes"), TypeError, "do_sample must be True or False"),
])
def test_inconsistent_settings_are_refused(settings, error, message):
    with pytest.raises(error, match=message):
        GenerationConfig(**settings)


def test_beam_sampling_is_allowed():
    config = GenerationConfig(do_sample=True, num_beams=3, num_return_sequences=3)
    assert config.num_beams == 3


def test_bad_inputs_are_refused():
    _, model = pair()
    ids, mask = padded_prompts()
    with pytest.raises(ValueError, match=r"\(batch, prompt\)"):
        generate(model, ids[0])
    with pytest.raises(TypeError, match="int64/int32"):
        generate(model, ids.float())
    with pytest.raises(ValueError, match="left padding"):
        generate(model, ids, attention_mask=mask.flip(1))  # right padding
    with pytest.raises(ValueError, match="left padding"):
        generate(model, ids, attention_mask=2 * mask)
    with pytest.raises(ValueError, match="shape of input_ids"):
        generate(model, ids, attention_mask=mask[:, 1:])
    with pytest.raises(TypeError, match="torch tensor"):
        generate(model, ids, attention_mask=mask.tolist())
    with pytest.raises(ValueError, match=r"max_seq_len=64"):
        generate(model, ids, max_new_tokens=60)
    with pytest.raises(TypeError, match="new_cache"):
        generate(pair()[0], ids)
    with pytest.raises(ValueError, match="num_beams must be"):
        generate(model, ids, num_beams=0)  # overrides go through the same checks


# ---------------------------------------------------------------------------------------------
# The beam-search trace
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("early_stopping, length_penalty, max_new_tokens", [
    (True, 1.0, 10), (False, -1.0, 10), ("never", 2.0, 12), (False, 0.0, 4)])
def test_trace_is_consistent_with_itself_and_the_output(early_stopping, length_penalty,
                                                        max_new_tokens):
    _, model = pair()
    ids, mask = padded_prompts()
    beams, returned = 3, 2
    config = GenerationConfig(max_new_tokens=max_new_tokens, num_beams=beams,
                              length_penalty=length_penalty, early_stopping=early_stopping,
                              num_return_sequences=returned, eos_token_id=EOS,
                              pad_token_id=PAD, return_trace=True)
    out = generate(model, ids, config, attention_mask=mask)
    plain = generate(model, ids, config, attention_mask=mask, return_trace=False)
    assert torch.equal(out.sequences, plain.sequences) and plain.traces is None
    assert out.trace is out.traces[0] and len(out.traces) == 3
    prompt_len = ids.shape[1]
    for b, trace in enumerate(out.traces):
        assert isinstance(trace, BeamSearchTrace)
        assert trace.prompt_length == int(mask[b].sum())
        assert trace.prompt_ids == ids[b, prompt_len - trace.prompt_length:].tolist()
        assert (trace.num_beams, trace.length_penalty) == (beams, length_penalty)
        assert trace.stop_reason
        check_steps(trace)
        check_finished(trace, out, b, returned, prompt_len)
        json.dumps(trace.to_dict(), allow_nan=False)


def check_steps(trace):
    previous = {0: 0.0}  # beam -> cumulative score of the kept hypotheses of the last step
    for s, candidates in enumerate(trace.steps):
        assert len(candidates) == 2 * trace.num_beams  # one EOS id: 2 * num_beams candidates
        assert all(c.step == s for c in candidates)
        scores = [c.score for c in candidates]
        assert scores == sorted(scores, reverse=True)
        for c in candidates:
            assert c.parent in previous
            assert c.score == pytest.approx(previous[c.parent] + c.token_logprob, abs=1e-4)
            assert c.token_logprob <= 0
            assert (c.beam is not None) == (c.status == "kept")
            assert (c.final_score is not None) == (c.status == "finished")
            if c.status == "finished":
                assert c.final_score == pytest.approx(
                    c.score / (s + 1) ** trace.length_penalty, rel=1e-6)
        kept = [c for c in candidates if c.status == "kept"]
        last = s == len(trace.steps) - 1
        if not (last and trace.stop_reason == "max_new_tokens reached"):
            assert [c.beam for c in kept] == list(range(trace.num_beams))
            assert all(c.token_id != EOS for c in kept)
        previous = {c.beam: c.score for c in kept}
    if trace.stop_reason == "max_new_tokens reached":
        assert len(trace.steps) == trace.max_new_tokens


def check_finished(trace, out, b, returned, prompt_len):
    finished = trace.finished
    assert len(finished) == trace.num_beams
    assert [h.final_score for h in finished] == sorted((h.final_score for h in finished),
                                                       reverse=True)
    assert [h.returned for h in finished] == [True] * returned + [False] * (len(finished) -
                                                                          returned)
    for i, h in enumerate(finished[:returned]):
        row = out.sequences[b * returned + i, prompt_len:]
        assert row[:len(h.tokens)].tolist() == h.tokens
        assert out.sequences_scores[b * returned + i].item() == pytest.approx(h.final_score)
    for h in finished:
        c = trace.steps[h.step][h.candidate]
        assert c.status == "finished" and c.token_id == h.tokens[-1]
        assert (c.score, c.final_score) == (h.score, h.final_score)
        assert len(h.tokens) == h.step + 1
        assert h.tokens[-1] == EOS or h.step == trace.max_new_tokens - 1
        # follow the parents back to step 0: they spell the hypothesis
        tokens, parent = [c.token_id], c.parent
        for s in range(h.step - 1, -1, -1):
            (c,) = [x for x in trace.steps[s] if x.beam == parent]
            tokens.append(c.token_id)
            parent = c.parent
        assert tokens[::-1] == h.tokens


def test_trace_shows_early_finished_and_pruned_candidates():
    """The trace teaches something: hypotheses finish at different steps, some are pruned."""
    _, model = pair()
    ids, mask = padded_prompts()
    out = generate(model, ids, GenerationConfig(max_new_tokens=10, num_beams=3, eos_token_id=EOS,
                                                return_trace=True), attention_mask=mask)
    statuses = {c.status for trace in out.traces for step in trace.steps for c in step}
    assert statuses == {"kept", "pruned", "finished"}
    steps_finished = {h.step for trace in out.traces for h in trace.finished}
    assert len(steps_finished) > 1
