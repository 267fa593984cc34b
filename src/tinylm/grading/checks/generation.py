"""Checks of lab 4, `generate()` and beam search (labs/04-generation-lab.ipynb).

The reference is `tinylm.generation`; the outside library is Hugging Face transformers
(`transformers.generation`: its logits processors, the helpers of its beam search, and
`generate()` itself on a small random LLaMA converted with `Llama.to_hf`).
"""

from __future__ import annotations

import math

import torch
from transformers.generation import logits_process as hf_lp
from transformers.generation.utils import GenerationMixin

from tinylm import generation as tinylm_generation
from tinylm import llama as tl
from tinylm.generation import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
    beam_search,
    build_stopping_criteria,
    generate,
)
from tinylm.grading.checks.common import call, check_tensor, fail, torch_rng

INF = math.inf

# -- what the logits processors share ------------------------------------------------------------


def _checked_processor(fn, args, scores, what, hints=None, ids=None):
    """Call a student's logits processor `fn(*args)`: it must leave `scores` (and `ids`) as they
    were and return a new tensor of the same shape and dtype as `scores`."""
    before, ids_before = scores.clone(), None if ids is None else ids.clone()
    got = call(fn, *args, call=what, hints=hints)
    if ids is not None:
        assert torch.equal(ids, ids_before), f"{what} changed input_ids: leave them as they were"
    change = "scatter, not scatter_" if ids is not None else "masked_fill, not masked_fill_"
    assert torch.equal(scores, before), (
        f"{what} changed its input scores: return a new tensor ({change})")
    check_tensor(got, what, scores.shape, dtype=scores.dtype, finite=False)
    return got


def compare_filtered(got, expected, scores, what, filter_value, hints=(), top_p=None):
    """Fail at the first row and token that differ: how many tokens the row keeps (and, for
    top-p, the probability they hold); name a known mistake if one matches exactly."""
    def shown(value):
        return f"{value:.4f}" + (" (filtered out)" if value == filter_value else "")

    same = torch.isclose(got, expected, rtol=0, atol=1e-6)
    if same.all():
        return
    row, token = (~same).nonzero()[0].tolist()
    kept, kept_expected = (int((got[row] != filter_value).sum()),
                           int((expected[row] != filter_value).sum()))
    if top_p is None:
        message = (f"{what}: {int((~same).sum())} of {got.numel()} scores differ, the first in "
                   f"row {row}, token {token} (score {scores[row, token].item():.4f}): expected "
                   f"{shown(expected[row, token].item())}, got {shown(got[row, token].item())}")
        if kept != kept_expected:
            message += (f"; row {row} keeps {kept} token{'s' * (kept != 1)}, expected "
                        f"{kept_expected}")
    else:
        probs = scores[row].softmax(dim=-1)
        mass = probs[got[row] != filter_value].sum().item()
        mass_expected = probs[expected[row] != filter_value].sum().item()
        message = (f"{what}: {int((~same).sum())} of {got.numel()} scores differ, the first in "
                   f"row {row}, token {token} (probability {probs[token].item():.4f}): expected "
                   f"{shown(expected[row, token].item())}, got {shown(got[row, token].item())}; "
                   f"row {row} keeps {kept} token{'s' * (kept != 1)} holding {mass:.4f} of the "
                   f"probability, expected {kept_expected} holding {mass_expected:.4f} "
                   f"(top_p={top_p})")
    for hint, variant in hints:
        if torch.equal(got, variant):
            message += f" ({hint})"
            break
    fail(message)


# -- Exercise 1: top_k_filter --------------------------------------------------------------------


def top_k_mistakes(scores, top_k, min_tokens_to_keep, filter_value):
    """What some wrong versions of top-k give, to recognise them."""
    vocab = scores.shape[-1]
    k = min(max(top_k, min_tokens_to_keep), vocab)
    best = torch.topk(scores, k)
    by_index = torch.full_like(scores, filter_value).scatter(1, best.indices, best.values)
    kth = best.values[:, -1:]
    only_top_k = torch.topk(scores, min(top_k, vocab)).values[:, -1:]
    hints = [
        ("a token tied with the k-th largest score must stay: compare every score with the "
         "k-th largest value instead of keeping exactly k indices", by_index),
        ("the k-th largest score itself must stay: filter the scores < the k-th largest, "
         "not <=", scores.masked_fill(scores <= kth, filter_value)),
        ("filtered scores must become filter_value",
         scores.masked_fill(scores < kth, -math.inf)),
    ]
    if min_tokens_to_keep > top_k:
        hints.insert(0, ("keep k = max(top_k, min_tokens_to_keep) tokens",
                         scores.masked_fill(scores < only_top_k, filter_value)))
    return hints


def _top_k_call(top_k_filter, scores, top_k, keep, filter_value, what):
    # a RuntimeError here is most often torch.topk asked for more than vocab values
    hint = (f"Is k larger than the vocabulary ({scores.shape[-1]} tokens)? Keep min(k, vocab) "
            "tokens")
    return _checked_processor(top_k_filter, (scores, top_k, keep, filter_value), scores, what,
                              hints={RuntimeError: hint})


def top_k_filter(top_k_filter) -> None:
    """Exercise 1: `top_k_filter(scores, top_k, min_tokens_to_keep, filter_value)`, against
    tinylm's and transformers' TopKLogitsWarper."""
    # 1. The worked example, by hand
    s = torch.tensor([[1.0, 3.0, 2.0, 3.0, 0.5]])
    t = torch.tensor([[1.0, 3.0, 2.0, 2.0, 0.5]])
    for scores, top_k, keep, expected in [
            (s, 2, 1, [-INF, 3.0, -INF, 3.0, -INF]), (s, 3, 1, [-INF, 3.0, 2.0, 3.0, -INF]),
            (s, 1, 3, [-INF, 3.0, 2.0, 3.0, -INF]), (t, 2, 1, [-INF, 3.0, 2.0, 2.0, -INF]),
            (s, 9, 1, [1.0, 3.0, 2.0, 3.0, 0.5])]:
        what = f"top_k_filter({scores.tolist()}, {top_k}, min_tokens_to_keep={keep})"
        got = _top_k_call(top_k_filter, scores, top_k, keep, -INF, what)
        compare_filtered(got, torch.tensor([expected]), scores, what, -INF,
                         top_k_mistakes(scores, top_k, keep, -INF))

    # 2. Random scores, against tinylm's TopKLogitsWarper and transformers' TopKLogitsWarper
    gen = torch_rng(0)
    scores = 3 * torch.randn(5, 64, generator=gen)
    order = scores[1].argsort(descending=True)
    scores[1, order[5]] = scores[1, order[4]]  # row 1: the 5th and 6th largest tie
    scores[2, ::2] = -INF  # row 2: half the tokens already filtered out (32 remain)
    scores[3, :4] = scores[3].max()  # row 3: four tokens tie for the largest score
    ids = torch.randint(0, 64, (5, 7), generator=gen)  # not used by top-k, but part of the API
    for top_k, keep, filter_value in [(1, 1, -INF), (5, 1, -INF), (2, 4, -INF), (4, 1, -INF),
                                      (40, 1, -INF), (64, 1, -INF), (500, 1, -INF),
                                      (3, 1, -1e4), (7, 7, -50.0)]:
        what = (f"top_k_filter(scores of shape (5, 64), {top_k}, min_tokens_to_keep={keep}, "
                f"filter_value={filter_value:g})")
        got = _top_k_call(top_k_filter, scores, top_k, keep, filter_value, what)
        ours = TopKLogitsWarper(top_k, filter_value=filter_value, min_tokens_to_keep=keep)
        theirs = hf_lp.TopKLogitsWarper(top_k, filter_value=filter_value,
                                        min_tokens_to_keep=keep)
        hints = top_k_mistakes(scores, top_k, keep, filter_value)
        compare_filtered(got, ours(ids, scores.clone()), scores,
                         f"{what}, compared with tinylm's TopKLogitsWarper", filter_value, hints)
        compare_filtered(got, theirs(ids, scores.clone()), scores,
                         f"{what}, compared with transformers' TopKLogitsWarper", filter_value,
                         hints)

    # 3. Sampling after top-k only ever draws one of the k best tokens
    what = "top_k_filter(scores[:1], 3)"
    probs = call(top_k_filter, scores[:1], 3, call=what).softmax(dim=-1)
    drawn = torch.multinomial(probs.expand(2000, -1), 1, generator=gen).unique()
    allowed = set(torch.topk(scores[0], 3).indices.tolist())
    assert set(drawn.tolist()) <= allowed, (
        f"sampling from softmax(top_k_filter(scores, 3)) drew tokens {sorted(drawn.tolist())}; "
        f"only the three best, {sorted(allowed)}, may be drawn")


# -- Exercise 2: top_p_filter --------------------------------------------------------------------


def top_p_mistakes(scores, top_p, min_tokens_to_keep, filter_value):
    """What some wrong versions of top-p give, to recognise them."""
    sorted_scores, order = torch.sort(scores, dim=-1)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= 1 - top_p
    remove_sorted[:, -min_tokens_to_keep:] = False
    no_min = cumulative <= 1 - top_p
    descending, d_order = torch.sort(scores, dim=-1, descending=True)
    d_probs = descending.softmax(dim=-1)
    d_remove = d_probs.cumsum(dim=-1) - d_probs >= top_p  # the mass above already holds top_p
    d_remove[:, :min_tokens_to_keep] = False
    return [
        ("the mask is in sorted order: scatter it back to vocabulary order with "
         "remove_sorted.scatter(1, order, remove_sorted) before masked_fill",
         scores.masked_fill(remove_sorted, filter_value)),
        ("the last min_tokens_to_keep sorted positions (the most likely tokens) must stay",
         scores.masked_fill(no_min.scatter(1, order, no_min), filter_value)),
        ("you add up the probabilities from the most likely token: right in exact "
         "arithmetic, but float32 sums round differently and a different set survives; follow "
         "transformers' recipe: sort ascending, remove where cumulative <= 1 - top_p",
         scores.masked_fill(d_remove.scatter(1, d_order, d_remove), filter_value)),
    ]


def top_p_filter(top_p_filter) -> None:
    """Exercise 2: `top_p_filter(scores, top_p, min_tokens_to_keep, filter_value)`, against
    tinylm's and transformers' TopPLogitsWarper."""
    def checked(scores, top_p, keep, filter_value, what):
        return _checked_processor(top_p_filter, (scores, top_p, keep, filter_value), scores,
                                  what)

    # 1. The worked example, by hand
    s = torch.tensor([[0.1, 0.5, 0.15, 0.25]]).log()
    for top_p, keep, kept in [(0.7, 1, [1, 3]), (0.8, 1, [1, 2, 3]), (0.4, 1, [1]),
                              (0.4, 2, [1, 3]), (1.0, 1, [0, 1, 2, 3]), (0.05, 1, [1])]:
        what = (f"top_p_filter(log([0.1, 0.5, 0.15, 0.25]), {top_p}, "
                f"min_tokens_to_keep={keep})")
        got = checked(s, top_p, keep, -INF, what)
        expected = torch.full_like(s, -INF)
        expected[0, kept] = s[0, kept]
        compare_filtered(got, expected, s, what, -INF, top_p_mistakes(s, top_p, keep, -INF),
                         top_p=top_p)

    # 2. Random scores, against tinylm's TopPLogitsWarper and transformers' TopPLogitsWarper
    gen = torch_rng(0)
    scores = 3 * torch.randn(6, 64, generator=gen)
    scores[1, 7] += 20.0  # row 1: one token holds nearly all the probability
    scores[2] /= 6  # row 2: nearly flat, a large nucleus
    scores[3, 10:] = -INF  # row 3: only 10 tokens left (as after top-k)
    ids = torch.randint(0, 64, (6, 7), generator=gen)  # not used by top-p, but part of the API
    for top_p, keep, filter_value in [(0.9, 1, -INF), (0.5, 1, -INF), (0.1, 1, -INF),
                                      (0.95, 1, -INF), (1.0, 1, -INF), (0.3, 3, -INF),
                                      (0.999, 1, -INF), (0.6, 2, -1e4)]:
        what = (f"top_p_filter(scores of shape (6, 64), {top_p}, min_tokens_to_keep={keep}, "
                f"filter_value={filter_value:g})")
        got = checked(scores, top_p, keep, filter_value, what)
        ours = TopPLogitsWarper(top_p, filter_value=filter_value, min_tokens_to_keep=keep)
        theirs = hf_lp.TopPLogitsWarper(top_p, filter_value=filter_value,
                                        min_tokens_to_keep=keep)
        hints = top_p_mistakes(scores, top_p, keep, filter_value)
        compare_filtered(got, ours(ids, scores.clone()), scores,
                         f"{what}, compared with tinylm's TopPLogitsWarper", filter_value, hints,
                         top_p=top_p)
        compare_filtered(got, theirs(ids, scores.clone()), scores,
                         f"{what}, compared with transformers' TopPLogitsWarper", filter_value,
                         hints, top_p=top_p)

    # 3. After top-k, as generate() chains them: top-k 10, then top-p 0.8
    top_k_first = TopKLogitsWarper(10)(ids, scores)
    what = "top_p_filter(scores after top-k 10, 0.8)"
    got = checked(top_k_first, 0.8, 1, -INF, what)
    compare_filtered(got, hf_lp.TopPLogitsWarper(0.8)(ids, top_k_first.clone()), top_k_first,
                     f"{what}, compared with transformers' TopPLogitsWarper", -INF, top_p=0.8)

    # 4. The nucleus really is the smallest set of most likely tokens holding >= top_p
    for top_p in (0.5, 0.9):
        got = call(top_p_filter, scores, top_p, call=f"top_p_filter(scores, {top_p})")
        for row in range(scores.shape[0]):
            probs = scores[row].softmax(dim=-1)
            kept = got[row] != -INF
            mass, least = probs[kept].sum().item(), probs[kept].min().item()
            assert mass >= top_p - 1e-6 and mass - least < top_p + 1e-6, (
                f"top_p_filter(scores, {top_p}), row {row}: the kept tokens hold {mass:.4f} of "
                f"the probability; without the least likely of them ({least:.4f}) they would "
                f"hold {mass - least:.4f}. The nucleus must hold >= {top_p}, and be the "
                "smallest such set")


# -- Exercise 3: repetition_penalty --------------------------------------------------------------


def penalty_mistakes(ids, scores, penalty):
    """What some wrong versions of the penalty give, to recognise them."""
    counts = torch.zeros_like(scores).scatter_add(
        1, ids, torch.ones_like(ids, dtype=scores.dtype))
    present = counts > 0
    every_row = present.any(dim=0, keepdim=True).expand_as(present)
    per_occurrence = torch.where(scores < 0, scores * penalty ** counts,
                                 scores / penalty ** counts)

    def penalise(where, negative, positive):
        return torch.where(where, torch.where(scores < 0, negative, positive), scores)

    return [
        ("a token is penalised once however often it occurs, not once per occurrence",
         torch.where(present, per_occurrence, scores)),
        ("negative scores must be multiplied by the penalty, not divided: dividing moves them "
         "towards 0 and makes the token more likely", penalise(present, scores / penalty,
                                                              scores / penalty)),
        ("positive scores are divided by the penalty and negative ones multiplied, not the "
         "other way round", penalise(present, scores / penalty, scores * penalty)),
        ("each row has its own history: penalise only the tokens of that row",
         penalise(every_row, scores * penalty, scores / penalty)),
    ]


def _compare_penalised(got, expected, ids, scores, what, hints=()):
    """Fail at the first row and token that differ, saying how often the token occurs."""
    same = torch.isclose(got, expected, rtol=1e-6, atol=1e-6)
    if same.all():
        return
    row, token = (~same).nonzero()[0].tolist()
    times = int((ids[row] == token).sum())
    occurs = (f"occurs {times} time{'s' * (times > 1)} in row {row}" if times
              else f"does not occur in row {row}")
    message = (f"{what}: {int((~same).sum())} of {got.numel()} scores differ, the first in row "
               f"{row}, token {token}, which {occurs} and scores "
               f"{scores[row, token].item():.4f}: expected {expected[row, token].item():.4f}, "
               f"got {got[row, token].item():.4f}")
    for hint, variant in hints:
        if torch.allclose(got, variant, rtol=1e-6, atol=1e-6):
            message += f" ({hint})"
            break
    fail(message)


def repetition_penalty(repetition_penalty) -> None:
    """Exercise 3: `repetition_penalty(input_ids, scores, penalty)`, against tinylm's and
    transformers' RepetitionPenaltyLogitsProcessor."""
    def checked(ids, scores, penalty, what):
        return _checked_processor(repetition_penalty, (ids, scores, penalty), scores, what,
                                  ids=ids)

    # 1. The worked example, by hand
    ids = torch.tensor([[1, 3, 3], [0, 0, 0]])
    s = torch.tensor([[2.0, 2.0, -1.0, -1.0], [2.0, 2.0, -1.0, -1.0]])
    for penalty, expected in [(2.0, [[2.0, 1.0, -1.0, -2.0], [1.0, 2.0, -1.0, -1.0]]),
                              (0.5, [[2.0, 4.0, -1.0, -0.5], [4.0, 2.0, -1.0, -1.0]])]:
        what = f"repetition_penalty({ids.tolist()}, {s.tolist()}, {penalty})"
        got = checked(ids, s, penalty, what)
        _compare_penalised(got, torch.tensor(expected), ids, s, what,
                           penalty_mistakes(ids, s, penalty))

    # 2. Random scores of both signs and token ids that repeat, against tinylm's and
    #    transformers' RepetitionPenaltyLogitsProcessor
    gen = torch_rng(0)
    for rows, length, vocab in [(5, 12, 64), (3, 1, 16), (4, 30, 40)]:
        ids = torch.randint(0, min(vocab, 10), (rows, length), generator=gen)  # ids repeat
        ids[0, -1] = vocab - 1  # the last id of the vocabulary
        scores = 3 * torch.randn(rows, vocab, generator=gen)
        scores[:, 1] = 0.0  # a score of exactly 0 stays 0
        for penalty in (1.3, 0.6, 2.0, 1.0):
            what = (f"repetition_penalty(input_ids of shape {(rows, length)}, scores of shape "
                    f"{(rows, vocab)}, {penalty})")
            got = checked(ids, scores, penalty, what)
            hints = penalty_mistakes(ids, scores, penalty)
            _compare_penalised(got, RepetitionPenaltyLogitsProcessor(penalty)(ids, scores.clone()),
                               ids, scores, f"{what}, compared with tinylm's "
                               "RepetitionPenaltyLogitsProcessor", hints)
            _compare_penalised(got, hf_lp.RepetitionPenaltyLogitsProcessor(penalty)(
                ids, scores.clone()), ids, scores, f"{what}, compared with transformers' "
                "RepetitionPenaltyLogitsProcessor", hints)

    # 3. In beam search the scores are log-probabilities: a penalty > 1 lowers every token seen
    ids = torch.tensor([[5, 9, 5, 2]])
    log_probs = torch.log_softmax(torch.randn(1, 12, generator=gen), dim=-1)
    got = checked(ids, log_probs, 1.5, "repetition_penalty(ids, log-probabilities, 1.5)")
    for token in range(12):
        seen = token in (2, 5, 9)
        wrong = (got[0, token] >= log_probs[0, token] if seen
                 else got[0, token] != log_probs[0, token])
        assert not wrong, (
            f"repetition_penalty([[5, 9, 5, 2]], log-probabilities, 1.5): token {token} "
            f"{'occurs' if seen else 'does not occur'}, its log-probability "
            f"{log_probs[0, token].item():.4f} must {'go down' if seen else 'stay'}; got "
            f"{got[0, token].item():.4f}")


# -- Exercise 4: beam_step -----------------------------------------------------------------------


def _checked_step(beam_step, beam_scores, log_probs, num_beams, n_eos, what):
    """Call beam_step, check what comes back, and return it as three tensors."""
    before = beam_scores.clone(), log_probs.clone()
    # a RuntimeError here is most often torch.topk on a row of only vocab entries
    hint = (f"Shapes: beam_scores {tuple(beam_scores.shape)}, log_probs "
            f"{tuple(log_probs.shape)}; view the totals as (batch, num_beams * vocab) before "
            "torch.topk, so that all the beams of a prompt compete together")
    got = call(beam_step, beam_scores, log_probs, num_beams, n_eos, call=what,
               hints={RuntimeError: hint})
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, (tuple, list)) and len(got) == 3, (
        f"{what}: expected a tuple (scores, beams, tokens), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    assert torch.equal(beam_scores, before[0]) and torch.equal(log_probs, before[1]), (
        f"{what} changed its inputs: leave beam_scores and log_probs as they were")
    rows, vocab = log_probs.shape
    batch, k = rows // num_beams, max(2, 1 + n_eos) * num_beams
    for name, tensor, dtype in [("scores", got[0], log_probs.dtype),
                                ("beams", got[1], torch.int64), ("tokens", got[2], torch.int64)]:
        assert isinstance(tensor, torch.Tensor), (
            f"{what}: {name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tuple(tensor.shape) != (batch, k):
            fail(f"{what}: {name} must have shape (batch, K) = ({batch}, {k}), got "
                 f"{tuple(tensor.shape)}" + (
                     f" (K = max(2, 1 + n_eos) * num_beams = max(2, {1 + n_eos}) * {num_beams}: "
                     "keep spare candidates in case some of the best end with EOS)"
                     if tensor.ndim == 2 and tensor.shape[0] == batch else
                     f" (view the totals as (batch, num_beams * vocab) = ({batch}, "
                     f"{num_beams * vocab}) so that all the beams of a prompt compete)"))
        assert tensor.dtype == dtype, f"{what}: {name} must have dtype {dtype}, got {tensor.dtype}"
    scores, beams, tokens = got
    assert ((beams >= 0) & (beams < num_beams)).all(), (
        f"{what}: beams must lie in [0, {num_beams}), got values from {beams.min().item()} to "
        f"{beams.max().item()} (the beam of flat position j is j // vocab)")
    assert ((tokens >= 0) & (tokens < vocab)).all(), (
        f"{what}: tokens must lie in [0, {vocab}), got values from {tokens.min().item()} to "
        f"{tokens.max().item()} (the token of flat position j is j % vocab)")
    assert (scores[:, :-1] >= scores[:, 1:]).all(), (
        f"{what}: the candidates of each prompt must be sorted best first (torch.topk does it)")
    rows_of = num_beams * torch.arange(batch)[:, None] + beams  # (batch, K)
    recomputed = beam_scores[rows_of] + log_probs[rows_of, tokens]
    wrong = ~torch.isclose(scores, recomputed, rtol=0, atol=1e-5)
    if wrong.any():
        b, j = wrong.nonzero()[0].tolist()
        row = b * num_beams + beams[b, j].item()
        alone = torch.isclose(scores, log_probs[rows_of, tokens], rtol=0, atol=1e-5).all()
        fail(f"{what}: prompt {b}, candidate {j}: its score {scores[b, j].item():.4f} should be "
             f"beam_scores[{row}] + log_probs[{row}, {tokens[b, j].item()}] = "
             f"{recomputed[b, j].item():.4f} (row = {b} * num_beams + beam); " + (
                 "add each row's beam score to its log-probabilities before ranking: a "
                 "candidate carries the score of the beam it extends" if alone else
                 "do its beam and token say where it came from? (beam j // vocab, token "
                 "j % vocab)"))
    return got


def _compare_candidates(got, expected, what, prompts=None, hints=()):
    """Fail at the first candidate that differs: which prompt, which rank, and both answers."""
    prompts = range(expected[0].shape[0]) if prompts is None else prompts
    for b in prompts:
        for j in range(expected[0].shape[1]):
            e = [expected[0][b, j].item(), int(expected[1][b, j]), int(expected[2][b, j])]
            g = [got[0][b, j].item(), int(got[1][b, j]), int(got[2][b, j])]
            if g[1:] != e[1:] or abs(g[0] - e[0]) > 1e-5:
                message = (f"{what}: prompt {b}, candidate {j} (0 is the best): expected beam "
                           f"{e[1]}, token {e[2]}, score {e[0]:.4f}; got beam {g[1]}, token "
                           f"{g[2]}, score {g[0]:.4f}")
                for hint, variant in hints:
                    if torch.equal(got[1], variant[1]) and torch.equal(got[2], variant[2]):
                        message += f" ({hint})"
                        break
                fail(message)


def beam_step_mistakes(beam_scores, log_probs, num_beams, n_eos):
    """What some wrong versions of beam_step give, to recognise them."""
    rows, vocab = log_probs.shape
    batch, k = rows // num_beams, max(2, 1 + n_eos) * num_beams
    _, flat = torch.topk(log_probs.view(batch, -1), k)
    return [("rank the extensions by beam score + log-probability: add each row's beam score",
             (None, flat // vocab, flat % vocab))]


def transformers_step(beam_scores, log_probs, num_beams, n_eos):
    """transformers' _get_top_k_continuations on the same numbers, as (scores, beams, tokens)."""
    rows, vocab = log_probs.shape
    batch, k = rows // num_beams, max(2, 1 + n_eos) * num_beams
    accumulated = log_probs.view(batch, num_beams, vocab) + beam_scores.view(batch, num_beams, 1)
    sequences = torch.zeros(batch, num_beams, 2, dtype=torch.long)  # a prompt of one token
    beam_indices = torch.full((batch, num_beams, 1), -1, dtype=torch.int32)
    scores, sequences, beam_indices = GenerationMixin._get_top_k_continuations(
        GenerationMixin, accumulated_log_probs=accumulated.view(batch, -1),
        running_sequences=sequences, running_beam_indices=beam_indices, cur_len=1,
        decoder_prompt_len=1, do_sample=False, beams_to_keep=k, num_beams=num_beams,
        batch_size=batch)
    rows_of = beam_indices[:, :, 0].long()  # transformers counts rows: b * num_beams + beam
    return scores, rows_of - num_beams * torch.arange(batch)[:, None], sequences[:, :, 1]


def tiny_model(seed=0, eos_boost=0.5):
    """A small random LLaMA (vocabulary 64, token 3 is EOS) with large weights, so that its
    next-token distributions are far from flat and hypotheses end at different lengths."""
    config = tl.LlamaConfig(vocab_size=64, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                            ffn_hidden=48, max_seq_len=64, tie_embeddings=False)
    model = tl.Llama(config).eval()
    gen = torch_rng(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
        model.output.weight[3] += eos_boost
    return model


class Recorder(LogitsProcessor):
    """Changes nothing, but keeps the log-probabilities beam search sees at every step."""

    def __init__(self):
        self.seen = []

    def __call__(self, input_ids, scores):
        self.seen.append(scores.clone())
        return scores


def beam_step(beam_step) -> None:
    """Exercise 4: `beam_step(beam_scores, log_probs, num_beams, n_eos)`, against
    tinylm.generation.beam_step, transformers' _get_top_k_continuations, and every step of
    tinylm's beam search on a small model."""
    # 1. The worked example, by hand
    beam_scores = torch.tensor([-1.0, -2.0])
    log_probs = torch.tensor([[-0.5, -1.0, -2.0], [-0.1, -3.0, -0.7]])
    what = "beam_step([-1, -2], [[-0.5, -1, -2], [-0.1, -3, -0.7]], num_beams=2)"
    got = _checked_step(beam_step, beam_scores, log_probs, 2, 1, what)
    expected = (torch.tensor([[-1.5, -2.0, -2.1, -2.7]]), torch.tensor([[0, 0, 1, 1]]),
                torch.tensor([[0, 1, 0, 2]]))
    _compare_candidates(got, expected, what,
                        hints=beam_step_mistakes(beam_scores, log_probs, 2, 1))
    _compare_candidates(got, tinylm_generation.beam_step(beam_scores, log_probs, 2, 1),
                        f"{what}, compared with tinylm.generation.beam_step")

    # 2. Step 0: every beam is the prompt, and only beam 0 may propose candidates
    gen = torch_rng(0)
    log_probs = torch.log_softmax(2 * torch.randn(6, 20, generator=gen), dim=-1)
    beam_scores = torch.tensor([0.0, -1e9, -1e9] * 2)
    what = "beam_step at step 0 (beam scores [0, -1e9, -1e9] per prompt, 2 prompts, num_beams=3)"
    got = _checked_step(beam_step, beam_scores, log_probs, 3, 1, what)
    assert (got[1] == 0).all(), (
        f"{what}: every candidate must extend beam 0, got beams {got[1].tolist()}")
    _compare_candidates(got, tinylm_generation.beam_step(beam_scores, log_probs, 3, 1),
                        f"{what}, compared with tinylm.generation.beam_step")
    _compare_candidates(got, transformers_step(beam_scores, log_probs, 3, 1), what)

    # 3. Random beam scores and log-probabilities, against tinylm.generation.beam_step and
    #    transformers' _get_top_k_continuations
    for batch, beams, vocab, n_eos in [(1, 2, 10, 1), (3, 4, 32, 1), (2, 3, 20, 0),
                                       (2, 2, 16, 3), (4, 1, 12, 1), (2, 5, 50, 2)]:
        log_probs = torch.log_softmax(2 * torch.randn(batch * beams, vocab, generator=gen),
                                      dim=-1)
        log_probs[0, : vocab // 2] = -INF  # tokens a processor has banned
        beam_scores = -5 * torch.rand(batch * beams, generator=gen)
        what = (f"beam_step(beam_scores of shape ({batch * beams},), log_probs of shape "
                f"({batch * beams}, {vocab}), num_beams={beams}, n_eos={n_eos})")
        got = _checked_step(beam_step, beam_scores, log_probs, beams, n_eos, what)
        hints = beam_step_mistakes(beam_scores, log_probs, beams, n_eos)
        _compare_candidates(got, tinylm_generation.beam_step(beam_scores, log_probs, beams, n_eos),
                            f"{what}, compared with tinylm.generation.beam_step", hints=hints)
        _compare_candidates(got, transformers_step(beam_scores, log_probs, beams, n_eos),
                            f"{what}, compared with transformers' beam search", hints=hints)

    # 4. Every step of tinylm's beam search on a small model: your candidates are the ones in
    #    its trace, given the log-probabilities it saw and the scores of the beams it kept
    model = tiny_model()
    prompts = torch.randint(4, 64, (3, 5), generator=gen)
    for beams, eos in [(3, 3), (2, [3, 5, 9])]:
        config = GenerationConfig(max_new_tokens=8, num_beams=beams, eos_token_id=eos,
                                  pad_token_id=0, return_trace=True)
        n_eos = len(config.eos_token_ids)
        recorder = Recorder()
        _, _, traces = beam_search(model, prompts, None, config, LogitsProcessorList([recorder]),
                                   build_stopping_criteria(config, prompts.shape[1]))
        beam_scores = torch.tensor([0.0] + [-1e9] * (beams - 1)).repeat(len(prompts))
        for step, log_probs in enumerate(recorder.seen):
            what = (f"beam_step at step {step} of tinylm's beam search (3 prompts, "
                    f"num_beams={beams}, {n_eos} EOS id{'s' * (n_eos > 1)})")
            got = _checked_step(beam_step, beam_scores, log_probs, beams, n_eos, what)
            for b, trace in enumerate(traces):
                if step >= len(trace.steps):  # the search is over for prompt b
                    continue
                candidates = trace.steps[step]
                expected = [torch.zeros(len(traces), len(candidates)) for _ in range(3)]
                expected[0][b] = torch.tensor([c.score for c in candidates])
                expected[1][b] = torch.tensor([c.parent for c in candidates])
                expected[2][b] = torch.tensor([c.token_id for c in candidates])
                _compare_candidates(got, expected,
                                    f"{what}, compared with the candidates in tinylm's trace",
                                    prompts=[b])
                kept = sorted((c for c in candidates if c.status == "kept"), key=lambda c: c.beam)
                if kept:  # the beams of the next step, and their scores
                    beam_scores[b * beams:(b + 1) * beams] = torch.tensor([c.score for c in kept])


# -- Exercise 5: BeamHypotheses ------------------------------------------------------------------


def _stored(hyps, what):
    """The student's hyps.hyps as a list of (final_score, tokens), after checking its form."""
    h = getattr(hyps, "hyps", None)
    assert isinstance(h, list), f"{what}: hyps.hyps must be a list, got {type(h).__name__}"
    for entry in h:
        assert isinstance(entry, (tuple, list)) and len(entry) == 2, (
            f"{what}: each entry of hyps.hyps must be a pair (final_score, tokens), got "
            f"{entry!r}")
    assert len(h) <= hyps.num_beams, (
        f"{what}: hyps.hyps holds {len(h)} hypotheses; keep at most num_beams = "
        f"{hyps.num_beams} (drop the worst)")
    scores = [float(s) for s, _ in h]
    assert scores == sorted(scores, reverse=True), (
        f"{what}: hyps.hyps must be sorted best first (highest final score first), got scores "
        f"{[round(s, 4) for s in scores]}")
    return [(float(s), [int(t) for t in tokens]) for s, tokens in h]


def _listed(hypotheses):
    return "[" + ", ".join(f"({s:.4f}, {t})" for s, t in hypotheses) + "]"


def _same_hypotheses(got, expected, what, hint=""):
    if len(got) == len(expected) and all(
            g[1] == e[1] and abs(g[0] - e[0]) <= 1e-5 * max(1.0, abs(e[0]))
            for g, e in zip(got, expected, strict=True)):
        return
    fail(f"{what}: expected hyps.hyps = {_listed(expected)}, got {_listed(got)}" + hint)


def _checked_add(hyps, tokens, sum_logprobs, generated_len, what):
    kept = call(hyps.add, list(tokens), sum_logprobs, generated_len, call=what)
    assert kept is not None, f"{what} returned None: did you forget `return True` / `False`?"
    assert isinstance(kept, bool), f"{what} must return True or False, got {kept!r}"
    return kept


def _checked_done(hyps, best, generated_len, what):
    done = call(hyps.is_done, best, generated_len, call=what)
    assert done is not None, f"{what} returned None: did you forget `return`?"
    return bool(done)


def _same_as_tinylm(hyps, package, what, kept=None, package_kept=None):
    """The student's hypotheses (and the last add()'s answer) against
    tinylm.generation.BeamHypotheses given the same calls."""
    _same_hypotheses(_stored(hyps, what), package.hyps,
                     f"{what}, compared with tinylm.generation.BeamHypotheses")
    assert kept == package_kept, (
        f"{what}: your add() returned {kept}, tinylm.generation.BeamHypotheses.add returns "
        f"{package_kept}")


def transformers_add(before, sum_logprobs, generated_len, marker, num_beams, length_penalty):
    """transformers' _update_finished_beams for one prompt: the finished list (final_score,
    marker) after a hypothesis marked `marker` is offered to the list `before`."""
    k = 2 * num_beams
    sequences = torch.zeros(1, num_beams, 1, dtype=torch.long)
    beam_scores = torch.full((1, num_beams), -1e9)
    is_finished = torch.zeros(1, num_beams, dtype=torch.bool)
    for i, (score, m) in enumerate(before):
        sequences[0, i, 0], beam_scores[0, i], is_finished[0, i] = m, score, True
    candidates = torch.zeros(1, k, 1, dtype=torch.long)
    candidates[0, 0, 0] = marker
    sums = torch.zeros(1, k)
    sums[0, 0] = sum_logprobs
    ends = torch.zeros(1, k, dtype=torch.bool)
    ends[0, 0] = True  # only candidate 0 finishes
    sequences, beam_scores, _, is_finished = GenerationMixin._update_finished_beams(
        GenerationMixin, sequences=sequences, topk_running_sequences=candidates,
        beam_scores=beam_scores, topk_log_probs=sums,
        beam_indices=torch.zeros(1, num_beams, 1, dtype=torch.int32),
        topk_running_beam_indices=torch.zeros(1, k, 1, dtype=torch.int32),
        is_early_stop_heuristic_unsatisfied=torch.ones(1, 1, dtype=torch.bool),
        is_sent_finished=is_finished, next_token_hits_stopping_criteria=ends,
        top_num_beam_mask=torch.arange(k) < num_beams, num_beams=num_beams,
        cur_len=generated_len, decoder_prompt_len=1, length_penalty=length_penalty,
        early_stopping=False)
    return [(beam_scores[0, i].item(), int(sequences[0, i, 0]))
            for i in range(int(is_finished.sum()))]


def transformers_done(scores, best, generated_len, num_beams, length_penalty, early_stopping,
                      max_new_tokens):
    """transformers' stopping rule for one prompt (_check_early_stop_heuristic, then
    _beam_search_has_unfinished_sequences): is the prompt done?"""
    beam_scores = torch.full((1, num_beams), -1e9)
    is_finished = torch.zeros(1, num_beams, dtype=torch.bool)
    beam_scores[0, :len(scores)] = torch.tensor(scores)
    is_finished[0, :len(scores)] = True
    improvable = GenerationMixin._check_early_stop_heuristic(
        torch.ones(1, 1, dtype=torch.bool), torch.tensor([[best]]), beam_scores, is_finished,
        cur_len=generated_len, max_length=max_new_tokens, decoder_prompt_len=0,
        early_stopping=early_stopping, length_penalty=length_penalty)
    return not bool(GenerationMixin._beam_search_has_unfinished_sequences(
        improvable, is_finished, torch.zeros(1, num_beams, dtype=torch.bool), early_stopping))


@torch.no_grad()
def beam_search_with_hypotheses(BeamHypotheses, model, input_ids, config):
    """tinylm's beam search (no logits processors, no padding), step by step, with the given
    BeamHypotheses class keeping each prompt's finished hypotheses and saying when it is done.
    Returns them, and for each prompt the step after which it was done (None: never)."""
    batch, prompt_len = input_ids.shape
    beams, eos = config.num_beams, torch.tensor(config.eos_token_ids)
    k = max(2, 1 + len(eos)) * beams
    cache = model.new_cache(batch, prompt_len + config.max_new_tokens - 1)
    logits = model(input_ids, cache=cache)[:, -1]  # (batch, vocab): each prompt is read once
    rows = torch.arange(batch).repeat_interleave(beams)
    cache.reorder(rows)  # ... and each of its beams starts from a copy
    logits, vocab = logits[rows], logits.shape[-1]  # (batch * beams, vocab)
    beam_scores = torch.zeros(batch, beams)
    beam_scores[:, 1:] = -1e9
    settings = (f"BeamHypotheses({beams}, {config.length_penalty}, {config.early_stopping!r}, "
                f"{config.max_new_tokens})")
    finished = [call(BeamHypotheses, beams, config.length_penalty, config.early_stopping,
                     config.max_new_tokens, call=settings) for _ in range(batch)]
    done_after = [None] * batch
    generated = torch.zeros(batch, beams, 0, dtype=torch.long)
    for step in range(config.max_new_tokens):
        log_probs = torch.log_softmax(logits, dim=-1).view(batch, beams, vocab)
        scores, flat = torch.topk((beam_scores[:, :, None] + log_probs).view(batch, -1), k)
        parents, tokens = flat // vocab, flat % vocab  # Exercise 4: (batch, K) each
        candidates = torch.cat([generated[torch.arange(batch)[:, None], parents],
                                tokens[:, :, None]], dim=2)  # (batch, K, step + 1)
        ended = torch.isin(tokens, eos) | (step + 1 == config.max_new_tokens)
        for b in range(batch):
            for j in range(beams):  # only the best num_beams candidates may finish
                if done_after[b] is None and ended[b, j]:
                    call(finished[b].add, candidates[b, j].tolist(), scores[b, j].item(),
                         step + 1, call=f"{settings}.add(..., generated_len={step + 1})")
        if ended.all():
            break
        kept = torch.topk(scores.masked_fill(ended, -INF), beams).indices  # (batch, beams)
        beam_scores = scores.gather(1, kept)  # best first: beam 0 is the best running beam
        for b in range(batch):
            if done_after[b] is None and call(
                    finished[b].is_done, beam_scores[b, 0].item(), step + 1,
                    call=f"{settings}.is_done(..., generated_len={step + 1})"):
                done_after[b] = step
        if all(d is not None for d in done_after):
            break
        cache.reorder((beams * torch.arange(batch)[:, None] + parents.gather(1, kept)).flatten())
        generated = candidates[torch.arange(batch)[:, None], kept]  # (batch, beams, step + 1)
        logits = model(generated[:, :, -1].reshape(-1, 1), cache=cache)[:, -1]
    return finished, done_after


def beam_hypotheses(BeamHypotheses) -> None:
    """Exercise 5: the class `BeamHypotheses(num_beams, length_penalty, early_stopping,
    max_new_tokens)`, its `add(tokens, sum_logprobs, generated_len)` and
    `is_done(best_running_sum_logprobs, generated_len)`, against tinylm.generation, the rules of
    transformers' beam search, and whole beam searches compared with tinylm's and transformers'
    generate()."""
    import transformers

    transformers.logging.set_verbosity_error()

    def new(*args, **kwargs):
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        return call(BeamHypotheses, *args, call=f"BeamHypotheses({shown})", **kwargs)

    # 1. The worked example, by hand
    what_class = "BeamHypotheses(num_beams=2, length_penalty=1.0)"
    hyps = new(num_beams=2, length_penalty=1.0, early_stopping=False, max_new_tokens=10)
    package = tinylm_generation.BeamHypotheses(2, 1.0, False, 10)
    after = []
    for tokens, total, length, kept, after in [
            ([5, 3], -2.0, 2, True, [(-1.0, [5, 3])]),
            ([7, 3], -1.2, 1, True, [(-1.0, [5, 3]), (-1.2, [7, 3])]),
            ([4, 4, 3], -2.7, 3, True, [(-0.9, [4, 4, 3]), (-1.0, [5, 3])]),
            ([6, 3], -2.0, 2, False, [(-0.9, [4, 4, 3]), (-1.0, [5, 3])])]:
        what = f"{what_class}, then add({tokens}, {total}, {length})"
        got = _checked_add(hyps, tokens, total, length, what)
        hint = (" (the final score is sum_logprobs / generated_len ** length_penalty)"
                if any(abs(s - total) < 1e-9 for s, _ in _stored(hyps, what)) and length > 1
                else "")
        _same_hypotheses(_stored(hyps, what), after, what, hint)
        assert got == kept, (
            f"{what}: expected {kept}" + (" (a newcomer that only ties with the worst of a full "
                                          "list is not stored)" if not kept else "")
            + f", got {got}")
        _same_as_tinylm(hyps, package, what, got, package.add(tokens, total, length))
    for best, length, expected in [(-2.4, 3, False), (-3.0, 3, True), (-3.3, 3, True)]:
        what = f"{what_class} holding {_listed(after)}: is_done({best}, {length})"
        assert package.is_done(best, length) == expected, (
            f"internal check: tinylm's BeamHypotheses disagrees with the worked example ({what})")
        assert _checked_done(hyps, best, length, what) == expected, (
            f"{what}: expected {expected}: {best} / {length} = {best / length:.4f} "
            + ("would beat" if not expected else "cannot beat") + " the worst finished score, "
            "-1.0" + (" (a tie does not beat: <= means done)" if best == -3.0 else ""))
    hyps.early_stopping = package.early_stopping = "never"
    assert not package.is_done(-3.0, 3), (
        "internal check: tinylm's BeamHypotheses disagrees with the worked example "
        "(early_stopping='never')")
    what = (f"BeamHypotheses(num_beams=2, length_penalty=1.0, early_stopping='never', "
            f"max_new_tokens=10) holding {_listed(after)}: is_done(-3.0, 3)")
    assert not _checked_done(hyps, -3.0, 3, what), (
        f"{what} must be False: with length_penalty > 0, 'never' judges the best running beam "
        "at max_new_tokens, -3.0 / 10 = -0.3, which would beat -1.0")

    # 2. More rules: the plain sum, ties, early_stopping=True, 'never' with length_penalty <= 0
    hyps = new(num_beams=2, length_penalty=0.0)
    for tokens, total, length in [([5, 3], -2.0, 2), ([7, 3], -1.2, 1), ([4, 4, 3], -2.7, 3)]:
        _checked_add(hyps, tokens, total, length, f"add({tokens}, {total}, {length})")
    _same_hypotheses(_stored(hyps, "BeamHypotheses(num_beams=2, length_penalty=0.0)"),
                     [(-1.2, [7, 3]), (-2.0, [5, 3])],
                     "BeamHypotheses(num_beams=2, length_penalty=0.0) after the three add() of "
                     "the worked example",
                     " (with length_penalty=0 the final score is the plain sum)")
    what_class = "BeamHypotheses(num_beams=3, length_penalty=1.0)"
    hyps = new(num_beams=3, length_penalty=1.0, early_stopping=True)
    steps = [([1, 3], -2.0, 2, True), ([2, 3], -2.0, 2, True), ([9], -0.5, 1, True),
             ([4, 3], -2.0, 2, False)]
    what = what_class
    for i, (tokens, total, length, kept) in enumerate(steps):
        what = f"{what_class}, after the add()s {[s[:3] for s in steps[:i + 1]]}"
        got = _checked_add(hyps, tokens, total, length, what)
        assert got == kept, f"{what}: the last add() must return {kept}, got {got}" + (
            " (it ties with the worst of a full list: it does not beat it)" if not kept else "")
        if i == 1:
            assert not _checked_done(hyps, -100.0, 5, f"{what}: is_done(-100.0, 5)"), (
                f"{what}, with early_stopping=True: is_done(-100.0, 5) must be False while "
                "fewer than num_beams = 3 hypotheses have finished, whatever early_stopping "
                "says")
    _same_hypotheses(_stored(hyps, what), [(-0.5, [9]), (-1.0, [1, 3]), (-1.0, [2, 3])], what,
                     " (a newcomer goes after the stored hypotheses with the same score)")
    assert _checked_done(hyps, -0.1, 1,
                         f"{what_class}, early_stopping=True, full: is_done(-0.1, 1)"), (
        f"{what_class} with early_stopping=True, holding 3 finished hypotheses: is_done(-0.1, 1) "
        "must be True: with early_stopping=True the prompt is done as soon as num_beams have "
        "finished")
    hyps = new(num_beams=2, length_penalty=-1.0, early_stopping="never", max_new_tokens=10)
    _checked_add(hyps, [1, 3], -1.0, 2, "add([1, 3], -1.0, 2)")
    _checked_add(hyps, [3], -1.5, 1, "add([3], -1.5, 1)")
    what = ("BeamHypotheses(num_beams=2, length_penalty=-1.0, early_stopping='never', "
            "max_new_tokens=10) holding [(-1.5, [3]), (-2.0, [1, 3])]: is_done(-0.6, 3)")
    assert not _checked_done(hyps, -0.6, 3, what), (
        f"{what} must be False: with length_penalty <= 0, 'never' judges the running beam at "
        "its current length, like False: -0.6 / 3 ** -1 = -1.8, which would beat -2.0")

    # 3. Random hypotheses, against tinylm.generation.BeamHypotheses and transformers'
    #    _update_finished_beams and its stopping rule
    gen = torch_rng(0)
    for trial in range(24):
        num_beams = int(torch.randint(1, 5, (1,), generator=gen))
        length_penalty = [-1.0, 0.0, 0.5, 1.0, 2.0][trial % 5]
        hyps = new(num_beams, length_penalty, False, 10)
        package = tinylm_generation.BeamHypotheses(num_beams, length_penalty, False, 10)
        what_class = f"BeamHypotheses(num_beams={num_beams}, length_penalty={length_penalty})"
        expected, offered = [], []
        for marker in range(8):
            total = -(0.1 + 12 * torch.rand(1, generator=gen)).item()
            length = int(torch.randint(1, 11, (1,), generator=gen))
            offered.append(([marker], round(total, 4), length))
            what = f"{what_class}, after add(tokens, sum_logprobs, generated_len) for {offered}"
            kept = _checked_add(hyps, [marker], total, length, what)
            _same_as_tinylm(hyps, package, what, kept, package.add([marker], total, length))
            expected = transformers_add(expected, total, length, marker, num_beams,
                                        length_penalty)
            _same_hypotheses(_stored(hyps, what), [(s, [m]) for s, m in expected],
                             f"{what}, compared with transformers' beam search")
            assert kept == (marker in [m for _, m in expected]), (
                f"{what}: the last add() returned {kept}, but the hypothesis was "
                + ("stored" if not kept else "not stored"))
            for early_stopping in (True, False, "never"):
                best = -(0.1 + 12 * torch.rand(1, generator=gen)).item()
                length = int(torch.randint(1, 11, (1,), generator=gen))
                hyps.early_stopping = package.early_stopping = early_stopping
                if expected:  # skip near ties, where float32 and float64 may disagree
                    at = 10 if early_stopping == "never" and length_penalty > 0 else length
                    if abs(best / at ** length_penalty - expected[-1][0]) < 1e-4:
                        continue
                want = transformers_done([s for s, _ in expected], best, length, num_beams,
                                         length_penalty, early_stopping, 10)
                got = _checked_done(hyps, best, length, f"{what_class}: is_done")
                assert got == package.is_done(best, length), (
                    f"{what_class}, early_stopping={early_stopping!r}, max_new_tokens=10, holding "
                    f"{_listed(_stored(hyps, what_class))}: is_done({best:.4f}, {length}) "
                    f"returned {got}, tinylm.generation.BeamHypotheses.is_done returns {not got}")
                assert got == want, (
                    f"{what_class}, early_stopping={early_stopping!r}, max_new_tokens=10, holding "
                    f"{_listed(_stored(hyps, what_class))}: is_done({best:.4f}, {length}) must "
                    f"be {want} (as in transformers' beam search), got {got}" + (
                        f" (fewer than num_beams = {num_beams} hypotheses have finished: the "
                        "prompt cannot be done yet)" if len(expected) < num_beams else ""))
            hyps.early_stopping = package.early_stopping = False

    # 4. Whole beam searches with your BeamHypotheses, against tinylm's generate() (its trace
    #    keeps every finished hypothesis) and transformers' generate() on the same weights
    model = tiny_model()
    hf_model = model.to_hf()
    prompts = torch.randint(4, 64, (3, 5), generator=torch_rng(1))
    for beams, length_penalty, early_stopping, eos in [
            (2, 1.0, False, 3), (2, 1.0, True, 3), (3, 1.0, "never", 3), (3, 2.0, False, 3),
            (2, 2.0, "never", 3), (3, -1.0, False, 3), (3, 0.0, "never", 3),
            (2, 0.5, False, [3, 5])]:
        settings = dict(max_new_tokens=10, num_beams=beams, length_penalty=length_penalty,
                        early_stopping=early_stopping, num_return_sequences=beams,
                        eos_token_id=eos, pad_token_id=0)
        setting = ", ".join(f"{k}={v!r}" for k, v in settings.items() if k != "pad_token_id")
        finished, done_after = beam_search_with_hypotheses(BeamHypotheses, model, prompts,
                                                           GenerationConfig(**settings))
        ours = generate(model, prompts, GenerationConfig(**settings, return_trace=True))
        theirs = hf_model.generate(prompts, attention_mask=torch.ones_like(prompts),
                                   generation_config=transformers.GenerationConfig(
                                       **settings, do_sample=False, return_dict_in_generate=True,
                                       output_scores=True))
        for b, trace in enumerate(ours.traces):
            what = f"beam search with your BeamHypotheses ({setting}), prompt {b}"
            got = _stored(finished[b], what)
            _same_hypotheses(got, [(h.final_score, h.tokens) for h in trace.finished],
                             f"{what}, compared with tinylm's generate()")
            done = None if trace.stop_reason == "max_new_tokens reached" else len(trace.steps) - 1
            assert done_after[b] == done, (
                f"{what}: your is_done() stopped this prompt after step {done_after[b]}, "
                + ("but tinylm's generate() goes on to max_new_tokens" if done is None
                   else f"tinylm's generate() stops it after step {done}")
                if done_after[b] is not None else
                f"{what}: your is_done() never stopped this prompt; tinylm's generate() stops it "
                f"after step {done}")
            for i, (score, tokens) in enumerate(got):
                row = theirs.sequences[b * beams + i, prompts.shape[1]:].tolist()
                fill = row[len(tokens):]
                right = (row[:len(tokens)] == tokens and len(set(fill)) <= 1
                         and abs(theirs.sequences_scores[b * beams + i].item() - score) < 1e-4)
                assert right, (
                    f"{what}, compared with transformers' generate(): hypothesis {i} is {tokens} "
                    f"with score {score:.4f}, transformers returns {row} (padded) with score "
                    f"{theirs.sequences_scores[b * beams + i].item():.4f}")
