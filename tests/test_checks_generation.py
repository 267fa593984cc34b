"""The checks of lab 4 (tinylm.grading.checks.generation) pass a right answer and fail wrong ones
with a message that names the problem.

Right answers are the package's own (`tinylm.generation`); most wrong answers are the mistakes
the checks name in their hints.
"""

from __future__ import annotations

import math

import pytest
import torch

from tinylm import generation as tg
from tinylm.grading.checks import generation as checks

INF = math.inf


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

# -- right answers, from the package -------------------------------------------------------------


def top_k_filter(scores, top_k, min_tokens_to_keep=1, filter_value=-INF):
    return tg.TopKLogitsWarper(top_k, filter_value, min_tokens_to_keep)(None, scores)


def top_p_filter(scores, top_p, min_tokens_to_keep=1, filter_value=-INF):
    return tg.TopPLogitsWarper(top_p, filter_value, min_tokens_to_keep)(None, scores)


def repetition_penalty(input_ids, scores, penalty):
    return tg.RepetitionPenaltyLogitsProcessor(penalty)(input_ids, scores)


def test_right_answers_pass():
    checks.top_k_filter(top_k_filter)
    checks.top_p_filter(top_p_filter)
    checks.repetition_penalty(repetition_penalty)
    checks.beam_step(tg.beam_step)
    checks.beam_hypotheses(tg.BeamHypotheses)


# -- wrong answers -------------------------------------------------------------------------------


def exactly_k(scores, top_k, min_tokens_to_keep=1, filter_value=-INF):
    best = torch.topk(scores, min(max(top_k, min_tokens_to_keep), scores.shape[-1]))
    return torch.full_like(scores, filter_value).scatter(1, best.indices, best.values)


def at_most_k(scores, top_k, min_tokens_to_keep=1, filter_value=-INF):  # <= drops the k-th too
    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    return scores.masked_fill(scores <= torch.topk(scores, k).values[:, -1:], filter_value)


def in_place_top_k(scores, top_k, min_tokens_to_keep=1, filter_value=-INF):
    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    return scores.masked_fill_(scores < torch.topk(scores, k).values[:, -1:], filter_value)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(exactly_k, r"top_k_filter\(\[\[1.0, 3.0, 2.0, 2.0, 0.5\]\], 2, .*\(a token tied "
                            r"with the k-th largest score must stay", id="ties-dropped"),
    pytest.param(at_most_k, r"\(the k-th largest score itself must stay: filter the scores < the "
                            r"k-th largest, not <=\)$", id="less-or-equal"),
    pytest.param(lambda s, k, keep=1, fv=-INF: top_k_filter(s, k, 1, fv),
                 r"min_tokens_to_keep=3\): .* \(keep k = max\(top_k, min_tokens_to_keep\) "
                 r"tokens\)$", id="min-tokens-ignored"),
    pytest.param(lambda s, k, keep=1, fv=-INF: top_k_filter(s, k, keep, -INF),
                 r"filter_value=-10000\), compared with tinylm's TopKLogitsWarper: .* \(filtered "
                 r"scores must become filter_value\)$",
                 id="filter-value-ignored"),
    pytest.param(lambda s, k, keep=1, fv=-INF: s.masked_fill(
                     s < torch.topk(s, max(k, keep)).values[:, -1:], fv),
                 r"raised RuntimeError: .*Is k larger than the vocabulary \(5 tokens\)\? Keep "
                 r"min\(k, vocab\) tokens$", id="k-beyond-vocab"),
    pytest.param(in_place_top_k, r"changed its input scores: return a new tensor \(masked_fill, "
                                 r"not masked_fill_\)$", id="in-place"),
])
def test_top_k_filter_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.top_k_filter(wrong)


def sorted_mask(scores, top_p, min_tokens_to_keep=1, filter_value=-INF):
    sorted_scores, _ = torch.sort(scores, dim=-1)
    remove = sorted_scores.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
    remove[:, -min_tokens_to_keep:] = False
    return scores.masked_fill(remove, filter_value)  # not scattered back to vocabulary order


@pytest.mark.parametrize("wrong, message", [
    pytest.param(sorted_mask, r"\(the mask is in sorted order: scatter it back to vocabulary "
                              r"order", id="mask-in-sorted-order"),
    pytest.param(lambda s, p, keep=1, fv=-INF: top_p_filter(s, p, 1, fv),
                 r"min_tokens_to_keep=2\): .* \(top_p=0.4\) \(the last min_tokens_to_keep sorted "
                 r"positions \(the most likely tokens\) must stay\)$", id="min-tokens-ignored"),
    pytest.param(lambda s, p, keep=1, fv=-INF: top_p_filter(s, min(1.0, p + 0.05), keep, fv),
                 r"^top_p_filter\(scores of shape \(6, 64\), 0.9, .*: \d+ of 384 scores differ, .*"
                 r"row \d keeps \d+ tokens holding [\d.]+ of the probability, expected \d+ holding "
                 r"[\d.]+ \(top_p=0.9\)$", id="nucleus-too-large"),
])
def test_top_p_filter_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.top_p_filter(wrong)


def penalty_with(input_ids, scores, penalty, negative, positive, per_occurrence=False,
                 every_row=False):
    counts = torch.zeros_like(scores).scatter_add(
        1, input_ids, torch.ones_like(input_ids, dtype=scores.dtype))
    present = counts > 0
    if every_row:
        present = present.any(dim=0, keepdim=True).expand_as(present)
    times = counts if per_occurrence else torch.ones_like(counts)
    changed = torch.where(scores < 0, negative(scores, penalty ** times),
                          positive(scores, penalty ** times))
    return torch.where(present, changed, scores)


def mul(s, p):
    return s * p


def div(s, p):
    return s / p


def in_place_penalty(input_ids, scores, penalty):
    seen = scores.gather(1, input_ids)
    return scores.scatter_(1, input_ids, torch.where(seen < 0, seen * penalty, seen / penalty))


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda i, s, p: penalty_with(i, s, p, mul, div, per_occurrence=True),
                 r"\(a token is penalised once however often it occurs, not once per "
                 r"occurrence\)$", id="per-occurrence"),
    pytest.param(lambda i, s, p: penalty_with(i, s, p, div, div),
                 r"\(negative scores must be multiplied by the penalty, not divided",
                 id="divide-all"),
    pytest.param(lambda i, s, p: penalty_with(i, s, p, div, mul),
                 r"\(positive scores are divided by the penalty and negative ones multiplied, not "
                 r"the other way round\)$", id="swapped"),
    pytest.param(lambda i, s, p: penalty_with(i, s, p, mul, div, every_row=True),
                 r"token 0, which does not occur in row 0 .* \(each row has its own history: "
                 r"penalise only the tokens of that row\)$", id="shared-history"),
    pytest.param(in_place_penalty, r"changed its input scores: return a new tensor \(scatter, not "
                                   r"scatter_\)$", id="in-place"),
])
def test_repetition_penalty_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.repetition_penalty(wrong)


def without_beam_scores(beam_scores, log_probs, num_beams, n_eos=1):
    return tg.beam_step(torch.zeros_like(beam_scores), log_probs, num_beams, n_eos)


def per_row(beam_scores, log_probs, num_beams, n_eos=1):  # beams never compete with each other
    k = max(2, 1 + n_eos) * num_beams
    scores, tokens = torch.topk(beam_scores[:, None] + log_probs, k)
    return scores, torch.zeros_like(tokens), tokens


def two_per_beam(beam_scores, log_probs, num_beams, n_eos=1):  # ignores n_eos
    return tg.beam_step(beam_scores, log_probs, num_beams, 1)


def beam_and_token_swapped(beam_scores, log_probs, num_beams, n_eos=1):
    scores, beams, tokens = tg.beam_step(beam_scores, log_probs, num_beams, n_eos)
    return scores, tokens, beams


@pytest.mark.parametrize("wrong, message", [
    pytest.param(without_beam_scores, r"candidate carries the score of the beam it extends$",
                 id="beam-scores-not-added"),
    pytest.param(per_row, r"raised RuntimeError: .*\(raised in per_row, .*view the totals as "
                          r"\(batch, num_beams \* vocab\) before torch.topk",
                 id="ranked-per-row"),
    pytest.param(two_per_beam, r"n_eos=3\): scores must have shape \(batch, K\) = \(2, 8\), got "
                               r"\(2, 4\) \(K = max\(2, 1 \+ n_eos\) \* num_beams",
                 id="n_eos-ignored"),
    pytest.param(beam_and_token_swapped, r"beams must lie in \[0, 2\), got values from 0 to 2",
                 id="beam-and-token-swapped"),
])
def test_beam_step_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.beam_step(wrong)


class PlainSum(tg.BeamHypotheses):  # forgets the length penalty
    def add(self, tokens, sum_logprobs, generated_len, step=None, candidate=None):
        return super().add(tokens, sum_logprobs, 1, step, candidate)


class TiesEnter(tg.BeamHypotheses):  # a newcomer that ties with the worst replaces it
    def add(self, tokens, sum_logprobs, generated_len, step=None, candidate=None):
        score = sum_logprobs / generated_len ** self.length_penalty
        if len(self) >= self.num_beams and score == self.worst_score:
            return super().add(tokens, sum_logprobs + 1e-6, generated_len, step, candidate)
        return super().add(tokens, sum_logprobs, generated_len, step, candidate)


class NeverLikeFalse(tg.BeamHypotheses):  # 'never' judged at the current length
    def is_done(self, best_running_sum_logprobs, generated_len):
        never, self.early_stopping = self.early_stopping, (
            False if self.early_stopping == "never" else self.early_stopping)
        try:
            return super().is_done(best_running_sum_logprobs, generated_len)
        finally:
            self.early_stopping = never


class DoneTooSoon(tg.BeamHypotheses):  # early_stopping=True before num_beams have finished
    def is_done(self, best_running_sum_logprobs, generated_len):
        if self.early_stopping is True and len(self):
            return True
        return super().is_done(best_running_sum_logprobs, generated_len)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(PlainSum, r"then add\(\[5, 3\], -2.0, 2\): expected hyps.hyps = "
                           r"\[\(-1.0000, \[5, 3\]\)\], got \[\(-2.0000, \[5, 3\]\)\] \(the final "
                           r"score is sum_logprobs / generated_len \*\* length_penalty\)$",
                 id="no-length-penalty"),
    pytest.param(TiesEnter, r"then add\(\[6, 3\], -2.0, 2\): expected hyps.hyps = .*\(-0.9000, "
                            r"\[4, 4, 3\]\), \(-1.0000, \[5, 3\]\)\], got", id="ties-enter"),
    pytest.param(NeverLikeFalse, r"is_done\(-3.0, 3\) must be False: with length_penalty > 0, "
                                 r"'never' judges the best running beam at max_new_tokens",
                 id="never-like-false"),
    pytest.param(DoneTooSoon, r"is_done\(-100.0, 5\) must be False while fewer than num_beams = 3 "
                              r"hypotheses have finished", id="done-before-full"),
])
def test_beam_hypotheses_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.beam_hypotheses(wrong)
