"""The checks of lab 6 (tinylm.grading.checks.speculative) pass a right answer and fail wrong ones
with a message that names the problem, and survive code that raises or returns nonsense.

Right answers come from the package (`tinylm.speculative`); `count_accepted`, the rule inside
`verify_sampling`, has no function of its own there, so it is written here from the rule's
statement. The wrong answers are the mistakes a learner makes: the ratio upside down, min(p, q)
instead of min(1, p/q), counting every passing draft instead of a run, a residual left
unnormalised or nan where p equals q, an off-by-one row in greedy verification, no bonus token,
a draw from p instead of the residual, and 0/0 at alpha = 1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinylm.grading.checks import speculative as checks
from tinylm.speculative import (
    acceptance_probability,
    expected_tokens_per_call,
    residual_distribution,
    verify_greedy,
    verify_sampling,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def count_accepted(draft_tokens, p, q, u):
    """Drafts kept in a row: draft i is kept when u[i] < p[i, x_i] / q[i, x_i]."""
    kept = 0
    for i, x in enumerate(draft_tokens.tolist()):
        if not u[i] < p[i, x] / q[i, x]:
            break
        kept += 1
    return kept


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_right_answers_pass():
    checks.accept_rule(count_accepted, acceptance_probability)
    checks.residual(residual_distribution)
    checks.greedy(verify_greedy)
    checks.sampling_step(verify_sampling, count_accepted, residual_distribution)
    checks.tokens_per_call(expected_tokens_per_call)


def test_unsolved_exercises_raise_not_implemented():
    for run in (lambda: checks.accept_rule(stub, stub),
                lambda: checks.accept_rule(count_accepted, stub),
                lambda: checks.residual(stub),
                lambda: checks.greedy(stub),
                lambda: checks.sampling_step(stub, stub, stub),
                lambda: checks.sampling_step(stub, count_accepted, residual_distribution),
                lambda: checks.tokens_per_call(stub)):
        with pytest.raises(NotImplementedError):
            run()


def raises(error):
    def broken(*args, **kwargs):
        raise error
    return broken


@pytest.mark.parametrize("run", [
    pytest.param(lambda f: checks.accept_rule(f, acceptance_probability), id="count_accepted"),
    pytest.param(lambda f: checks.accept_rule(count_accepted, f), id="acceptance_probability"),
    pytest.param(checks.residual, id="residual"),
    pytest.param(checks.greedy, id="greedy"),
    pytest.param(lambda f: checks.sampling_step(f, count_accepted, residual_distribution),
                 id="sampling_step"),
    pytest.param(checks.tokens_per_call, id="tokens_per_call"),
])
@pytest.mark.parametrize("student", [
    pytest.param(raises(RuntimeError("shapes do not match")), id="RuntimeError"),
    pytest.param(raises(KeyError(3)), id="KeyError"),
    pytest.param(raises(AssertionError("my own assert")), id="AssertionError"),
    pytest.param(lambda *args: None, id="returns-None"),
    pytest.param(lambda *args: "three", id="returns-a-string"),
    pytest.param(lambda *args: [[1, 2], [3]], id="returns-a-list"),
])
def test_broken_code_fails_with_a_message(run, student):
    """Whatever the student's code does, the check ends in an AssertionError for the student."""
    with pytest.raises(AssertionError) as failure:
        run(student)
    message = str(failure.value)
    assert message.strip() and "Traceback" not in message


def test_an_error_is_reported_with_the_call_and_the_line():
    def verify_greedy_broken(draft_tokens, target_scores):
        choice = target_scores.argmax(-1)
        return int(choice[len(draft_tokens) + 1]), 0  # row k + 1 does not exist

    with pytest.raises(AssertionError, match=(
            r"^verify_greedy\(\[2, 0, 3\], the worked example's scores\[:4\]\) raised "
            r"IndexError: .*\(raised in verify_greedy_broken, at line \d+ of its cell: .*"
            r"There are k \+ 1 rows of target_scores")):
        checks.greedy(verify_greedy_broken)


# -- Exercise 1 ----------------------------------------------------------------------------------


def _ratio(draft_tokens, p, q):
    rows = torch.arange(draft_tokens.shape[0])
    return p[rows, draft_tokens], q[rows, draft_tokens]


def count_upside_down(draft_tokens, p, q, u):
    px, qx = _ratio(draft_tokens, p, q)
    return int((u < qx / px).long().cumprod(0).sum())


def count_min_p_q(draft_tokens, p, q, u):
    px, qx = _ratio(draft_tokens, p, q)
    return int((u < torch.minimum(px, qx)).long().cumprod(0).sum())


def count_less_or_equal(draft_tokens, p, q, u):
    px, qx = _ratio(draft_tokens, p, q)
    return int((u <= px / qx).long().cumprod(0).sum())


def count_every_pass(draft_tokens, p, q, u):
    px, qx = _ratio(draft_tokens, p, q)
    return int((u < px / qx).sum())


def count_as_tensor(draft_tokens, p, q, u):
    px, qx = _ratio(draft_tokens, p, q)
    return (u < px / qx).long().cumprod(0).sum()


def count_with_p_rows_shifted(draft_tokens, p, q, u):
    """Reads p one row late, as if p[0] were the distribution before the prompt."""
    rows = torch.arange(draft_tokens.shape[0])
    return int((u < p[rows + 1, draft_tokens] / q[rows, draft_tokens]).long().cumprod(0).sum())


def count_scaling_u_in_place(draft_tokens, p, q, u):
    """u < p/q written as u q < p, with u scaled in place."""
    px, qx = _ratio(draft_tokens, p, q)
    u *= qx
    return int((u < px).long().cumprod(0).sum())


@pytest.mark.parametrize("wrong, message", [
    pytest.param(count_upside_down,
                 r"^count_accepted\(the worked example, u=\[0\.3, 0\.9, 0\.1\]\): expected 3, "
                 r"got 1; the drafts \[0, 1, 2\] have p/q = \[0\.5, 2\.0, 0\.2\] \(a draft is "
                 r"kept when u < p\(x\) / q\(x\): target over draft", id="upside-down"),
    pytest.param(count_min_p_q, r"expected 3, got 0; .*\(the chance to keep a draft is "
                                r"min\(1, p\(x\) / q\(x\)\), not min\(p\(x\), q\(x\)\)\)$",
                 id="min-p-q"),
    pytest.param(count_less_or_equal,
                 r"^count_accepted\(the worked example, u=\[0\.5, 0\.0, 0\.0\]\): expected 0, "
                 r"got 3; .*strictly: u equal to the ratio rejects it\)$", id="less-or-equal"),
    pytest.param(count_every_pass,
                 r"u=\[0\.7, 0\.0, 0\.0\]\): expected 0, got 2; .*\(count the drafts kept in a "
                 r"row, from the first", id="every-pass"),
    pytest.param(count_as_tensor, r"expected a Python int, got a tensor tensor\(3\): turn it "
                                  r"into an int with int\(\.\.\.\)", id="tensor"),
    pytest.param(count_with_p_rows_shifted,
                 r"^count_accepted\(the worked example, u=\[0\.3, 0\.99, 0\.5\]\): expected 2, "
                 r"got 3; .*\(draft i is checked against row i of p", id="p-row-shifted"),
    pytest.param(count_scaling_u_in_place,
                 r"^count_accepted\(the worked example, u=\[0\.3, 0\.9, 0\.1\]\) changed its "
                 r"inputs: leave them as they were", id="in-place"),
])
def test_count_accepted_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.accept_rule(wrong, acceptance_probability)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda p, q: torch.clamp(p / q, max=1).sum(-1),
                 r"^acceptance_probability\(p\[:3\], q\) of the worked example: expected "
                 r"\[0\.8, 0\.7, 0\.6\], got .*must be weighed by q\(x\)", id="unweighted"),
    pytest.param(lambda p, q: torch.maximum(p, q).sum(-1),
                 r"expected \[0\.8, 0\.7, 0\.6\], got \[1\.2, 1\.3, 1\.4\] \(the overlap of p "
                 r"and q is the sum of their minimum, not their maximum\)$", id="maximum"),
    pytest.param(lambda p, q: torch.minimum(p, q).sum(),
                 r"^acceptance_probability\(p\[:3\], q\) of the worked example: expected shape "
                 r"\(3,\), got \(\)$", id="sums-everything"),
    pytest.param(lambda p, q: float(torch.minimum(p, q).sum()),
                 r"expected a torch\.Tensor, got float$", id="float"),
])
def test_acceptance_probability_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.accept_rule(count_accepted, wrong)


# -- Exercise 2 ----------------------------------------------------------------------------------


def residual_unnormalised(p, q):
    return (p - q).clamp(min=0)


def residual_other_way(p, q):
    r = (q - p).clamp(min=0)
    return r / r.sum(-1, keepdim=True)


def residual_of_min(p, q):
    r = torch.minimum(p, q)
    return r / r.sum(-1, keepdim=True)


def residual_divided_by_batch_sum(p, q):
    r = (p - q).clamp(min=0)
    return r / r.sum() if r.sum() > 0 else p


def residual_nan_when_equal(p, q):
    r = (p - q).clamp(min=0)
    return r / r.sum(-1, keepdim=True)


def residual_zeros_when_equal(p, q):
    r = (p - q).clamp(min=0)
    total = r.sum(-1, keepdim=True)
    return torch.where(total > 0, r / total.clamp(min=1e-30), torch.zeros_like(r))


def residual_in_place(p, q):
    p.sub_(q).clamp_(min=0)
    total = p.sum(-1, keepdim=True)
    return torch.where(total > 0, p / total, q)


def residual_one_row_only(p, q):
    """Falls back to p when the whole batch has no residual, not row by row."""
    r = (p - q).clamp(min=0)
    return r / r.sum(-1, keepdim=True) if r.sum() > 0 else p


def residual_float64(p, q):
    return residual_distribution(p.double(), q.double())


@pytest.mark.parametrize("wrong, message", [
    pytest.param(residual_unnormalised,
                 r"^residual_distribution\(p=\[0\.4.*\]\): 2 of 3 values differ, the first at "
                 r"index \(0,\): expected 0\.750000, got 0\.300000; the whole row: expected "
                 r"\[0\.75, 0\.25, 0\.0\], got \[0\.3, 0\.1, 0\.0\] \(max\(0, p - q\) must be "
                 r"normalised", id="unnormalised"),
    pytest.param(residual_other_way, r"\(the residual is max\(0, p - q\), target minus draft: "
                                     r"you computed max\(0, q - p\)\)$", id="q-minus-p"),
    pytest.param(residual_of_min, r"min\(p, q\), normalised, is what the drafts already cover",
                 id="min"),
    pytest.param(residual_divided_by_batch_sum,
                 r"a batch of two rows: 3 of 6 values differ.*\(normalise each row by its own "
                 r"sum, positive\.sum\(-1, keepdim=True\), not by the sum of the whole batch\)$",
                 id="divided-by-batch-sum"),
    pytest.param(residual_nan_when_equal,
                 r"^residual_distribution\(p=\[0\.4.*\], q=p\): expected p where p equals q, "
                 r"got \[nan, nan, nan\]: .*return p in that case$", id="nan-when-equal"),
    pytest.param(residual_zeros_when_equal,
                 r"^residual_distribution\(p=\[0\.4.*\], q=p\): 3 of 3 values differ.*\(where p "
                 r"equals q, return p, not zeros\)$", id="zeros-when-equal"),
    pytest.param(residual_in_place, r"changed its inputs: leave them as they were",
                 id="in-place"),
    pytest.param(residual_one_row_only,
                 r"^residual_distribution\(p, q\) of random p, q of shape \(4, 8\): expected p "
                 r"where p equals q, got \[nan, .*return p in that case$",
                 id="fallback-not-per-row"),
    pytest.param(residual_float64, r"expected dtype torch\.float32, got torch\.float64$",
                 id="float64"),
])
def test_residual_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.residual(wrong)


# -- Exercise 3 ----------------------------------------------------------------------------------


def greedy_counts_every_match(draft_tokens, target_scores):
    choice = target_scores.argmax(-1)
    k = len(draft_tokens)
    accepted = int((choice[:k] == draft_tokens).sum())
    return accepted, int(choice[accepted])


def greedy_token_one_row_late(draft_tokens, target_scores):
    choice = target_scores.argmax(-1)
    k = len(draft_tokens)
    accepted = int((choice[:k] == draft_tokens).long().cumprod(0).sum())
    return accepted, int(choice[min(accepted + 1, k)])


def greedy_token_one_row_early(draft_tokens, target_scores):
    choice = target_scores.argmax(-1)
    k = len(draft_tokens)
    accepted = int((choice[:k] == draft_tokens).long().cumprod(0).sum())
    return accepted, int(choice[max(accepted - 1, 0)])


def greedy_compares_shifted_rows(draft_tokens, target_scores):
    """Compares draft i with row i + 1, as if row 0 came after the first draft."""
    choice = target_scores.argmax(-1)
    k = len(draft_tokens)
    accepted = int((choice[1:k + 1] == draft_tokens).long().cumprod(0).sum())
    return accepted, int(choice[accepted])


def greedy_returns_the_draft(draft_tokens, target_scores):
    choice = target_scores.argmax(-1)
    k = len(draft_tokens)
    accepted = int((choice[:k] == draft_tokens).long().cumprod(0).sum())
    token = int(draft_tokens[accepted]) if accepted < k else int(choice[k])
    return accepted, token


def greedy_without_bonus(draft_tokens, target_scores):
    """Looks for the first mismatch and assumes there is one."""
    choice = target_scores.argmax(-1)
    accepted = 0
    while draft_tokens[accepted] == choice[accepted]:
        accepted += 1
    return accepted, int(choice[accepted])


def greedy_tensors(draft_tokens, target_scores):
    accepted, token = verify_greedy(draft_tokens, target_scores)
    return torch.tensor(accepted), torch.tensor(token)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(greedy_counts_every_match,
                 r"^verify_greedy\(\[1, 0, 4\], the worked example's scores\[:4\]\): expected "
                 r"\(0, 2\), got \(2, 4\); the target's argmax, row by row, is \[2, 0, 4, 1\] "
                 r"\(count the drafts that match in a row", id="every-match"),
    pytest.param(greedy_token_one_row_late,
                 r"^verify_greedy\(\[2, 0, 3\], .*expected \(2, 4\), got \(2, 1\); .*\(off by "
                 r"one: row i of target_scores checks draft i, so the token is the argmax of "
                 r"row 2, not of row 3\)$", id="token-late"),
    pytest.param(greedy_token_one_row_early,
                 r"^verify_greedy\(\[2, 0, 3\], .*expected \(2, 4\), got \(2, 0\); .*\(off by "
                 r"one: the token is the argmax of row 2, the row right after the accepted "
                 r"drafts, not of row 1\)$", id="token-early"),
    pytest.param(greedy_compares_shifted_rows,
                 r"^verify_greedy\(\[2, 0, 3\], .*expected \(2, 4\), got \(0, 2\); .*compare "
                 r"draft i with the argmax of row i, not of row i \+ 1\)$",
                 id="rows-shifted"),
    pytest.param(greedy_returns_the_draft, r"expected \(2, 4\), got \(2, 3\); .*\(the token "
                                           r"replaces the rejected draft: it is the target's "
                                           r"argmax, not the draft\)$", id="returns-draft"),
    pytest.param(greedy_without_bonus,
                 r"^verify_greedy\(\[2, 0, 4\], .*\) raised IndexError: .*There are k \+ 1 rows of "
                 r"target_scores: when all k drafts match, the token is the argmax of the last "
                 r"row, row k \(the bonus token\)$",
                 id="no-bonus"),
    pytest.param(greedy_tensors, r", accepted: expected a Python int, got a tensor",
                 id="tensors"),
    pytest.param(lambda d, s: verify_greedy(d, s)[0],
                 r"expected a pair \(accepted, token\), got int 2$", id="only-accepted"),
])
def test_greedy_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.greedy(wrong)


# -- Exercise 4 ----------------------------------------------------------------------------------


def sampling_with(token_from, draw_uniforms=None):
    """A sampling step with the right acceptance and `token_from(p, q, accepted, k)` as the
    distribution of the token; uniforms from `draw_uniforms(k, generator)`."""
    def step(draft_tokens, p, q, generator=None):
        k = draft_tokens.shape[0]
        u = (draw_uniforms or (lambda n, g: torch.rand(n, generator=g)))(k, generator)
        accepted = count_accepted(draft_tokens, p, q, u)
        distribution = token_from(p, q, accepted, k)
        return accepted, int(torch.multinomial(distribution, 1, generator=generator))
    return step


def right_token(p, q, accepted, k):
    return p[k] if accepted == k else residual_distribution(p[accepted], q[accepted])


sampling_no_bonus = sampling_with(lambda p, q, a, k: residual_distribution(p[a], q[a]))
sampling_bonus_from_last_draft = sampling_with(
    lambda p, q, a, k: p[k - 1] if a == k else residual_distribution(p[a], q[a]))
sampling_from_p = sampling_with(lambda p, q, a, k: p[a])
sampling_from_q = sampling_with(lambda p, q, a, k: p[k] if a == k else q[a])
sampling_from_next_row = sampling_with(
    lambda p, q, a, k: p[k] if a == k else residual_distribution(p[a + 1], q[min(a + 1, k - 1)]))


def sampling_stops_drawing_at_a_rejection(draft_tokens, p, q, generator=None):
    """Right in distribution, but draws a uniform only while the drafts are kept."""
    accepted = 0
    for i, x in enumerate(draft_tokens.tolist()):
        if not torch.rand((), generator=generator) < p[i, x] / q[i, x]:
            break
        accepted += 1
    distribution = right_token(p, q, accepted, draft_tokens.shape[0])
    return accepted, int(torch.multinomial(distribution, 1, generator=generator))

sampling_uniforms_float64 = sampling_with(
    right_token, lambda k, g: torch.rand(k, generator=g, dtype=torch.float64))


def sampling_own_generator(draft_tokens, p, q, generator=None):
    """Draws from a generator of its own, not the one it is given."""
    return verify_sampling(draft_tokens, p, q, torch.Generator().manual_seed(12345))


def sampling_wrong_count(draft_tokens, p, q, u):
    return count_every_pass(draft_tokens, p, q, u)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(sampling_no_bonus,
                 r"^verify_sampling\(\[1, 2\], p, q, torch\.Generator\(\)\.manual_seed\(0\)\) "
                 r"where both drafts have p = q.* raised IndexError: .*There are only k rows of "
                 r"q: when all k drafts are kept there is no residual to take; the bonus token "
                 r"is drawn from p\[k\]",
                 id="no-bonus"),
    pytest.param(sampling_bonus_from_last_draft,
                 r"^verify_sampling\(\[1, 2\], .*: expected \(2, 3\), got \(2, 2\) \(when every "
                 r"draft is kept, the target adds a bonus token drawn from p\[k\]",
                 id="bonus-from-p-k-minus-1"),
    pytest.param(sampling_from_p,
                 r"^verify_sampling\(\[1, 0\], p, q, torch\.Generator\(\)\.manual_seed\(\d+\)\) "
                 r"where draft 0 has p\(x\) = 0.*: expected \(0, 2\), got \(0, 0\) \(at a "
                 r"rejection the token is drawn from the residual", id="from-p"),
    pytest.param(sampling_from_q, r"where draft 0 has p\(x\) = 0.*expected \(0, 2\), got "
                                  r"\(0, [01]\)", id="from-q"),
    pytest.param(sampling_from_next_row, r"where draft 0 has p\(x\) = 0.*expected \(0, 2\), "
                                         r"got \(0, 3\)", id="next-row"),
    pytest.param(sampling_stops_drawing_at_a_rejection,
                 r"^verify_sampling\(.*\) of a random case \(seed \d+, vocab=\d+\): expected "
                 r"\(\d, \d+\), got \(\d, \d+\): .*draw the k uniforms with one call, "
                 r"torch\.rand\(k, generator=generator\)", id="stops-drawing"),
    pytest.param(sampling_uniforms_float64,
                 r"of a random case .*draw the k uniforms with one call", id="uniforms-float64"),
    pytest.param(sampling_own_generator,  # the same draws at every step: far from p
                 r"over 3,000 steps .*: the first token is not distributed as the target's p",
                 id="own-generator"),
])
def test_sampling_step_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.sampling_step(wrong, count_accepted, residual_distribution)


def test_sampling_step_catches_a_wrong_distribution_that_the_sure_cases_miss():
    """Draws from p (not the residual) where the draft was kept with some chance: the sure cases
    pass (the draft there is forbidden, so the residual is p without it, and p's draw could be
    the right token), the chi-square test does not."""
    def token_from(p, q, accepted, k):
        if accepted == k:
            return p[k]
        if p[accepted].max() == 1 or (p[accepted] == 0).sum() >= 2:  # the sure cases
            return residual_distribution(p[accepted], q[accepted])
        return p[accepted]

    with pytest.raises(AssertionError, match=(
            r"over 3,000 steps .*: the first token is not distributed as the target's p: over "
            r"3000 steps its frequencies are \[.*\], the target's probabilities \[.*\] "
            r"\(chi-square p-value .*\); speculative sampling must output exactly p")):
        checks.sampling_step(sampling_with(token_from), count_accepted, residual_distribution)


def test_sampling_step_notes_an_earlier_exercise_that_is_wrong():
    with pytest.raises(AssertionError, match=(
            r"\(note: Exercise 1 \(count_accepted\) still fails: fix them first\)$")):
        checks.sampling_step(sampling_from_p, sampling_wrong_count, residual_distribution)
    with pytest.raises(AssertionError, match=(
            r"\(note: Exercise 1 \(count_accepted\) and Exercise 2 \(residual_distribution\) "
            r"still fail: fix them first\)$")):
        checks.sampling_step(sampling_from_p, sampling_wrong_count, residual_unnormalised)


def test_sampling_step_reports_an_impossible_token():
    calls = []

    def forbidden_token(draft_tokens, p, q, generator=None):
        accepted, token = verify_sampling(draft_tokens, p, q, generator)
        if p.shape == (3, 6):  # the distribution test: every 100th step outputs token 5
            calls.append(1)
            if len(calls) % 100 == 0:
                return 0, 5  # the token p[0] forbids
        return accepted, token

    with pytest.raises(AssertionError, match=(
            r"the first token came out as 5 30 times, but the target gives 5 probability 0$")):
        checks.sampling_step(forbidden_token, count_accepted, residual_distribution)


# -- Exercise 5 ----------------------------------------------------------------------------------


def tokens_closed_form(alpha, gamma):
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def tokens_numpy(alpha, gamma):
    alpha = np.float64(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1 - alpha ** (gamma + 1)) / (1 - alpha)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(tokens_closed_form,
                 r"^expected_tokens_per_call\(1\.0, 4\) raised ZeroDivisionError: .*At alpha = 1 "
                 r"the closed form divides 0 by 0; every draft is then kept, so return gamma "
                 r"\+ 1", id="zero-division"),
    pytest.param(tokens_numpy, r"^expected_tokens_per_call\(1\.0, 4\): expected a finite number, "
                               r"got nan \(at alpha = 1", id="numpy-nan"),
    pytest.param(lambda a, g: 1.0 * g + 1 if a == 1 else (1 - a**g) / (1 - a),
                 r"^expected_tokens_per_call\(0\.5, 1\): expected 1\.5, got 1 \(the sum must run "
                 r"up to alpha\*\*gamma", id="exponent-gamma"),
    pytest.param(lambda a, g: g + 1.0 if a == 1 else (1 - a ** (g + 2)) / (1 - a),
                 r"expected 1\.5, got 1\.75 \(the sum stops at alpha\*\*gamma", id="exponent+2"),
    pytest.param(lambda a, g: g + 0.0 if a == 1 else (1 - a ** (g + 1)) / (1 - a) - 1,
                 r"^expected_tokens_per_call\(0\.0, 4\): expected 1, got 0 \(the call always "
                 r"adds one token of its own", id="no-own-token"),
    pytest.param(lambda a, g: 1 + g * a, r"^expected_tokens_per_call\(0\.5, 2\): expected 1\.75, "
                                         r"got 2 \(the i-th draft counts only if", id="linear"),
    pytest.param(lambda a, g: torch.tensor(expected_tokens_per_call(a, g)),
                 r"expected a float, got a tensor", id="tensor"),
])
def test_tokens_per_call_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.tokens_per_call(wrong)


def test_tokens_per_call_accepts_either_right_form():
    """The sum written out and the closed form with alpha = 1 apart both pass."""
    checks.tokens_per_call(lambda a, g: sum(a**i for i in range(g + 1)))
    checks.tokens_per_call(lambda a, g: g + 1 if a == 1 else tokens_closed_form(a, g))
