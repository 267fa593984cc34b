"""Checks of lab 6, speculative decoding (labs/06-speculative-lab.ipynb).

The reference is `tinylm.speculative`: `acceptance_probability`, `residual_distribution`,
`verify_greedy`, `verify_sampling` and `expected_tokens_per_call`. Each check runs the tiny
cases of the lab's tasks, worked out there by hand, then random cases from fixed seeds against
the reference. The sampling step is also held to the property that makes speculative sampling
exact, with no reference in the loop: over thousands of steps with drafts drawn from q, the
tokens it outputs are distributed as the target's p (a chi-square test).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch

from tinylm.grading.checks.common import (
    as_int,
    builds_on,
    call,
    check_number,
    check_tensor,
    fail,
    passes,
    rounded,
    torch_rng,
)
from tinylm.speculative import (
    acceptance_probability,
    expected_tokens_per_call,
    residual_distribution,
    verify_greedy,
    verify_sampling,
)

# The worked example of Exercise 1 (and 4): three drafts over a vocabulary of three tokens.
# Draft 0 is token 0 (p/q = 0.2/0.4), draft 1 token 1 (0.6/0.3), draft 2 token 2 (0.1/0.5).
EXAMPLE_DRAFTS = [0, 1, 2]
EXAMPLE_P = [[0.2, 0.5, 0.3], [0.2, 0.6, 0.2], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]]
EXAMPLE_Q = [[0.4, 0.3, 0.3], [0.4, 0.3, 0.3], [0.2, 0.3, 0.5]]


def _listed(values: torch.Tensor, digits: int = 4) -> list:
    """A tensor as (nested) lists of rounded floats: 0.4, not float32's 0.4000000059604645."""
    return np.round(values.double().numpy(), digits).tolist()


def _tensors(drafts, p, q):
    """draft_tokens (k,), p (k + 1, vocab) and q (k, vocab) from lists (q may be [])."""
    p = torch.tensor(p, dtype=torch.float32)
    q = torch.tensor(q, dtype=torch.float32).reshape(len(drafts), p.shape[-1])
    return torch.tensor(drafts, dtype=torch.long), p, q


def random_case(gen: torch.Generator, k: int, vocab: int, sharpness: float = 2.0):
    """k drafts drawn from q, with p (k + 1, vocab) and q (k, vocab) random softmaxes."""
    p = torch.softmax(sharpness * torch.randn(k + 1, vocab, generator=gen), dim=-1)
    q = torch.softmax(sharpness * torch.randn(k, vocab, generator=gen), dim=-1)
    if k == 0:
        return torch.empty(0, dtype=torch.long), p, q
    drafts = torch.multinomial(q, 1, generator=gen)[:, 0]  # (k,) one draft per row of q
    return drafts, p, q


def _ratios(drafts, p, q) -> list[float]:
    rows = torch.arange(drafts.shape[0])
    return rounded(p[rows, drafts] / q[rows, drafts])


def _as_pair(got, what: str) -> tuple[int, int]:
    """(accepted, token), both ints."""
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        f"{what}: expected a pair (accepted, token), got {type(got).__name__} {got!r}"
        + ("; did you forget `return`?" if got is None else ""))
    return as_int(got[0], f"{what}, accepted"), as_int(got[1], f"{what}, token")


def _seeded(seed: int) -> str:
    """How the student would write the generator `torch_rng(seed)` gives."""
    return f"torch.Generator().manual_seed({seed})"


def _unchanged(before: list[torch.Tensor], after: list[torch.Tensor], what: str) -> None:
    for old, new in zip(before, after, strict=True):
        assert torch.equal(old, new), (
            f"{what} changed its inputs: leave them as they were (compute new tensors, no "
            "in-place operations such as clamp_ or /=)")


# -- Exercise 1: the accept/reject rule ----------------------------------------------------------


def count_cases():
    """The tiny cases of Exercise 1, worked out in its task: (label, draft_tokens, p, q, u,
    drafts kept)."""
    example = _tensors(EXAMPLE_DRAFTS, EXAMPLE_P, EXAMPLE_Q)
    cases = [("the worked example", *example, torch.tensor(u), kept)
             for u, kept in [([0.3, 0.9, 0.1], 3), ([0.7, 0.0, 0.0], 0), ([0.3, 0.99, 0.5], 2),
                             ([0.5, 0.0, 0.0], 0), ([0.49, 0.0, 0.0], 3)]]
    forbidden = _tensors([0], [[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]], [[0.5, 0.25, 0.25]])
    cases.append(("a draft the target forbids, p(x) = 0", *forbidden, torch.tensor([0.0]), 0))
    cases.append(("no drafts, k = 0", *_tensors([], [[0.2, 0.3, 0.5]], []), torch.empty(0), 0))
    return cases


def count_works(count_accepted) -> bool:
    """A quick probe of Exercise 1 (for the note of Exercise 4)."""
    return passes(lambda: all(count_accepted(d, p, q, u) == kept
                              for _, d, p, q, u, kept in count_cases()))


def _count_call(count_accepted, drafts, p, q, u, what) -> int:
    inputs = [drafts.clone(), p.clone(), q.clone(), u.clone()]
    got = call(count_accepted, drafts, p, q, u, call=what,
               hints={IndexError: "There are k + 1 rows of p and k of q: draft i uses row i "
                                  "of both"})
    _unchanged(inputs, [drafts, p, q, u], what)
    return as_int(got, what)


def _count_hint(got: int, drafts, p, q, u) -> str:
    """Which known mistake gives `got` on this case, if one does."""
    rows = torch.arange(drafts.shape[0])
    px, qx = p[rows, drafts], q[rows, drafts]
    mistakes = [  # the most specific first: u equal to the ratio is the only case of `<=`
        ("keep a draft when u < p(x) / q(x), strictly: u equal to the ratio rejects it",
         u <= px / qx),
        ("a draft is kept when u < p(x) / q(x): target over draft, not draft over target",
         u < qx / px),
        ("the chance to keep a draft is min(1, p(x) / q(x)), not min(p(x), q(x))",
         u < torch.minimum(px, qx)),
        ("draft i is checked against row i of p, the target's distribution at its position; "
         "row k of p is not used here", u < p[rows + 1, drafts] / qx),
    ]
    expected = int((u < px / qx).long().cumprod(0).sum())
    for hint, kept in mistakes:
        if int(kept.long().cumprod(0).sum()) == got != expected:
            return f" ({hint})"
    if int((u < px / qx).sum()) == got != expected:
        return (" (count the drafts kept in a row, from the first: everything after the first "
                "rejection is thrown away, even drafts that would pass)")
    return ""


def _check_count(count_accepted, drafts, p, q, u, expected: int, label: str) -> None:
    what = f"count_accepted({label}, u={rounded(u)})"
    got = _count_call(count_accepted, drafts, p, q, u, what)
    if got != expected:
        fail(f"{what}: expected {expected}, got {got}; the drafts {drafts.tolist()} have "
             f"p/q = {_ratios(drafts, p, q)}{_count_hint(got, drafts, p, q, u)}")


def _alpha_call(acceptance_probability_fn, p, q, what):
    inputs = [p.clone(), q.clone()]
    got = call(acceptance_probability_fn, p, q, call=what)
    _unchanged(inputs, [p, q], what)
    check_tensor(got, what, p.shape[:-1], dtype=p.dtype)
    return got


def _check_alpha(acceptance_probability_fn, p, q, expected, what) -> None:
    got = _alpha_call(acceptance_probability_fn, p, q, what)
    if torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
        return
    hint = ""
    if torch.allclose(got, torch.clamp(p / q, max=1).sum(-1), rtol=1e-5, atol=1e-6):
        hint = (" (the rule's min(1, p(x)/q(x)) must be weighed by q(x), the chance that x is "
                "drafted: sum_x q(x) min(1, p(x)/q(x)) = sum_x min(p(x), q(x)))")
    elif torch.allclose(got, torch.maximum(p, q).sum(-1), rtol=1e-5, atol=1e-6):
        hint = " (the overlap of p and q is the sum of their minimum, not their maximum)"
    fail(f"{what}: expected {rounded(expected.flatten())}, got {rounded(got.flatten())}{hint}")


def accept_rule(count_accepted, acceptance_probability_fn) -> None:
    """Exercise 1: `count_accepted(draft_tokens, p, q, u)`, the drafts kept in a row with
    uniforms u, against the rule of `tinylm.speculative.verify_sampling`; and
    `acceptance_probability(p, q)`, alpha, against the package's."""
    # 1. The worked example, by hand
    for label, drafts, p, q, u, expected in count_cases():
        _check_count(count_accepted, drafts, p, q, u, expected, label)
    # 2. Random cases: the same count as tinylm's verify_sampling with the same uniforms
    for seed in range(60):
        gen = torch_rng(seed)
        k, vocab = seed % 6, 4 + seed % 13
        drafts, p, q = random_case(gen, k, vocab, sharpness=0.5 + seed % 4)
        u = torch.rand(k, generator=torch_rng(1000 + seed))
        # verify_sampling draws its k uniforms first, with one torch.rand(k) call
        expected = verify_sampling(drafts, p, q, torch_rng(1000 + seed))[0]
        _check_count(count_accepted, drafts, p, q, u, expected,
                     f"a random case (seed {seed}, k={k}, vocab={vocab})")
    # 3. alpha: by hand, then random batches against the package
    drafts, p, q = _tensors(EXAMPLE_DRAFTS, EXAMPLE_P, EXAMPLE_Q)
    what = "acceptance_probability(p[:3], q) of the worked example"
    _check_alpha(acceptance_probability_fn, p[:3], q, torch.tensor([0.8, 0.7, 0.6]), what)
    what = "acceptance_probability(p[0], q[0]) of the worked example (one row)"
    _check_alpha(acceptance_probability_fn, p[0], q[0], torch.tensor(0.8), what)
    gen = torch_rng(7)
    for shape in [(6,), (5, 10), (2, 3, 50)]:
        p = torch.softmax(2 * torch.randn(shape, generator=gen), dim=-1)
        q = torch.softmax(2 * torch.randn(shape, generator=gen), dim=-1)
        _check_alpha(acceptance_probability_fn, p, q, acceptance_probability(p, q),
                     f"acceptance_probability(p, q) of random p, q of shape {shape}")


# -- Exercise 2: the residual distribution -------------------------------------------------------


def residual_cases():
    """The tiny cases of Exercise 2, worked out in its task: (call, p, q, residual)."""
    p, q = torch.tensor([0.4, 0.4, 0.2]), torch.tensor([0.1, 0.3, 0.6])
    p2 = torch.stack([p, torch.tensor([0.5, 0.5, 0.0])])
    q2 = torch.stack([q, torch.tensor([0.5, 0.25, 0.25])])
    return [
        (f"residual_distribution(p={_listed(p)}, q={_listed(q)})", p, q,
         torch.tensor([0.75, 0.25, 0.0])),
        (f"residual_distribution(p={_listed(p)}, q=p)", p, p.clone(), p),
        (f"residual_distribution(p={_listed(p2)}, q={_listed(q2)}), a batch of two rows", p2, q2,
         torch.tensor([[0.75, 0.25, 0.0], [0.0, 1.0, 0.0]])),
    ]


def residual_works(residual_distribution_fn) -> bool:
    """A quick probe of Exercise 2 (for the note of Exercise 4)."""
    return passes(lambda: all(torch.allclose(residual_distribution_fn(p, q), expected)
                              for _, p, q, expected in residual_cases()))


def _residual_mistakes(p, q):
    """What some wrong versions give, to recognise them."""
    positive = (p - q).clamp(min=0)
    other_way = (q - p).clamp(min=0)
    overlap = torch.minimum(p, q)
    return [
        ("max(0, p - q) must be normalised: divide it by its sum, so that it sums to 1",
         positive),
        ("the residual is max(0, p - q), target minus draft: you computed max(0, q - p)",
         other_way / other_way.sum(-1, keepdim=True)),
        ("the residual is max(0, p - q), what p has beyond q; min(p, q), normalised, is what "
         "the drafts already cover", overlap / overlap.sum(-1, keepdim=True)),
        ("normalise each row by its own sum, positive.sum(-1, keepdim=True), not by the sum "
         "of the whole batch", positive / positive.sum()),
    ]


def _check_residual(residual_fn, p, q, what, expected=None) -> None:
    inputs = [p.clone(), q.clone()]
    got = call(residual_fn, p, q, call=what)
    _unchanged(inputs, [p, q], what)
    expected = residual_distribution(p, q) if expected is None else expected
    equal_rows = (p == q).all(dim=-1)
    if isinstance(got, torch.Tensor) and got.shape == p.shape and equal_rows.any():
        bad = ~torch.isfinite(got[equal_rows]).all(dim=-1)
        if bad.any():
            row = _listed(got[equal_rows][bad][0])
            fail(f"{what}: expected p where p equals q, got {row}: there max(0, p - q) is all "
                 "zero and dividing by its sum gives nan; return p in that case")
    check_tensor(got, what, p.shape, dtype=p.dtype)
    close = torch.isclose(got, expected, rtol=1e-5, atol=1e-6)
    if close.all():
        return
    at = tuple((~close).nonzero()[0].tolist())
    row = at[:-1]
    message = (f"{what}: {int((~close).sum())} of {got.numel()} values differ, the first at "
               f"index {at}: expected {expected[at].item():.6f}, got {got[at].item():.6f}")
    if p.shape[-1] <= 8:
        message += f"; the whole row: expected {_listed(expected[row])}, got {_listed(got[row])}"
    for hint, variant in _residual_mistakes(p, q) if (~equal_rows).any() else []:
        if torch.allclose(got[~equal_rows], variant[~equal_rows], rtol=1e-5, atol=1e-6):
            message += f" ({hint})"
            break
    else:
        if equal_rows[row] and torch.allclose(got[row], torch.zeros_like(got[row])):
            message += " (where p equals q, return p, not zeros)"
    fail(message)


def residual(residual_distribution_fn) -> None:
    """Exercise 2: `residual_distribution(p, q)`, against the package's, on one row and on
    batches, with rows where p equals q."""
    # 1. The worked examples, by hand
    for label, p, q, expected in residual_cases():
        _check_residual(residual_distribution_fn, p, q, label, expected=expected)
    # 2. Random cases against the package: one row, batches, some rows with p equal to q
    gen = torch_rng(2)
    for shape in [(5,), (4, 8), (3, 2, 100), (6, 4096)]:
        p = torch.softmax(2 * torch.randn(shape, generator=gen), dim=-1)
        q = torch.softmax(2 * torch.randn(shape, generator=gen), dim=-1)
        if len(shape) > 1:
            q[..., 0, :] = p[..., 0, :]  # the first row of every batch: nothing left over
        _check_residual(residual_distribution_fn, p, q,
                        f"residual_distribution(p, q) of random p, q of shape {shape}")


# -- Exercise 3: greedy verification -------------------------------------------------------------


def _greedy_hint(got, drafts, scores) -> str:
    choice = scores.argmax(-1).tolist()
    accepted, token = got
    k = len(drafts)
    matches = sum(c == d for c, d in zip(choice, drafts.tolist(), strict=False))
    expected = verify_greedy(drafts, scores)
    if accepted == matches != expected[0]:
        return (" (count the drafts that match in a row, from the first: after the first "
                "mismatch the target's scores follow a token it did not choose)")
    shifted = (torch.tensor(choice[1:]) == drafts).long().cumprod(0).sum()
    if accepted == int(shifted) != expected[0]:
        return (" (row i of target_scores is the target's choice at draft i's position: compare "
                "draft i with the argmax of row i, not of row i + 1)")
    if accepted == expected[0] and 0 <= accepted + 1 <= k and token == choice[accepted + 1]:
        return (f" (off by one: row i of target_scores checks draft i, so the token is the "
                f"argmax of row {accepted}, not of row {accepted + 1})")
    if accepted == expected[0] and accepted >= 1 and token == choice[accepted - 1]:
        return (f" (off by one: the token is the argmax of row {accepted}, the row right after "
                f"the accepted drafts, not of row {accepted - 1})")
    if accepted == expected[0] and accepted < k and token == int(drafts[accepted]):
        return " (the token replaces the rejected draft: it is the target's argmax, not the draft)"
    return ""


def _check_greedy(verify_greedy_fn, drafts, scores, what, expected=None) -> None:
    inputs = [drafts.clone(), scores.clone()]
    hints = {IndexError: ("There are k + 1 rows of target_scores: when all k drafts match, the "
                          "token is the argmax of the last row, row k (the bonus token)")}
    got = _as_pair(call(verify_greedy_fn, drafts, scores, call=what, hints=hints), what)
    _unchanged(inputs, [drafts, scores], what)
    expected = verify_greedy(drafts, scores) if expected is None else expected
    if got != expected:
        fail(f"{what}: expected {expected}, got {got}; the target's argmax, row by row, is "
             f"{scores.argmax(-1).tolist()}{_greedy_hint(got, drafts, scores)}")


def greedy(verify_greedy_fn) -> None:
    """Exercise 3: `verify_greedy(draft_tokens, target_scores)`, against the package's."""
    # 1. The worked example, by hand: the target's argmax is 2, 0, 4, 1 on rows 0..3
    scores = torch.tensor([[0.1, 0.0, 2.0, 0.3, 0.2],
                           [1.5, 0.2, 0.1, 0.0, 0.3],
                           [0.0, 0.1, 0.2, 0.3, 0.9],
                           [0.2, 1.1, 0.0, 0.5, 0.4]])
    for drafts, expected in [([2, 0, 3], (2, 4)), ([2, 0, 4], (3, 1)), ([1, 0, 4], (0, 2)),
                             ([2, 3, 4], (1, 0)), ([2], (1, 0)), ([], (0, 2))]:
        k = len(drafts)
        _check_greedy(verify_greedy_fn, torch.tensor(drafts, dtype=torch.long), scores[:k + 1],
                      f"verify_greedy({drafts}, the worked example's scores[:{k + 1}])",
                      expected=expected)
    # 2. Random cases: drafts that follow the target's argmax for a while, then may not
    for seed in range(60):
        gen = torch_rng(seed)
        k, vocab = seed % 7, 3 + seed % 11
        scores = torch.randn(k + 1, vocab, generator=gen)
        drafts = scores[:k].argmax(-1)
        wrong = torch.rand(k, generator=gen) < 0.3  # each draft wrong with chance 0.3
        drafts = torch.where(wrong, torch.randint(0, vocab, (k,), generator=gen), drafts)
        _check_greedy(verify_greedy_fn, drafts, scores,
                      f"verify_greedy({drafts.tolist()}, random scores (seed {seed}, "
                      f"vocab={vocab}))")


# -- Exercise 4: one speculative sampling step ---------------------------------------------------


def _step_call(verify_sampling_fn, drafts, p, q, gen, what) -> tuple[int, int]:
    inputs = [drafts.clone(), p.clone(), q.clone()]
    hints = {IndexError: ("There are only k rows of q: when all k drafts are kept there is no "
                          "residual to take; the bonus token is drawn from p[k], the last row "
                          "of p")}
    got = _as_pair(call(verify_sampling_fn, drafts, p, q, gen, call=what, hints=hints), what)
    _unchanged(inputs, [drafts, p, q], what)
    return got


def _sure_cases():
    """Hand-made steps whose outcome does not depend on the draws: (label, drafts, p, q,
    expected, hint if wrong)."""
    bonus = ("both drafts have p = q, so both are kept whatever u is; p[2] is sure of token 3",
             [1, 2], [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
             [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0]], (2, 3),
             "when every draft is kept, the target adds a bonus token drawn from p[k], its "
             "distribution after the last draft")
    rejected = ("draft 0 has p(x) = 0, so it is rejected; the residual max(0, p[0] - q[0]) is "
                "all on token 2",
                [1, 0], [[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]],
                [[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]], (0, 2),
                "at a rejection the token is drawn from the residual distribution of that "
                "position, max(0, p[i] - q[i]) normalised, not from p or q")
    no_drafts = ("k = 0: nothing to verify; p[0] is sure of token 2",
                 [], [[0.0, 0.0, 1.0, 0.0]], [], (0, 2),
                 "with no drafts the token is drawn from p[0]")
    return [bonus, rejected, no_drafts]


def _first_tokens(verify_sampling_fn, p, q, n: int, seed: int, what: str):
    """Counts of the first and second token output by n steps with drafts drawn from q."""
    vocab = p.shape[-1]
    draft_gen, verify_gen = torch_rng(seed), torch_rng(seed + 1)
    drafts = torch.multinomial(q, n, replacement=True, generator=draft_gen).T  # (n, k)
    first, second = torch.zeros(vocab), torch.zeros(vocab)
    for row in drafts:
        accepted, token = _step_call(verify_sampling_fn, row, p, q, verify_gen, what)
        assert 0 <= accepted <= len(row) and 0 <= token < vocab, (
            f"{what}: got ({accepted}, {token}): accepted must lie in 0 .. {len(row)} and the "
            f"token in 0 .. {vocab - 1}")
        output = row[:accepted].tolist() + [token]
        first[output[0]] += 1
        if len(output) > 1:
            second[output[1]] += 1
    return first, second


def _same_distribution(counts, probs, what: str, position: str) -> None:
    """A chi-square test of `counts` against `probs` (tokens with p = 0 must never appear)."""
    impossible = (probs == 0) & (counts > 0)
    if impossible.any():
        token = int(impossible.nonzero()[0])
        fail(f"{what}: the {position} token came out as {token} {int(counts[token])} times, "
             f"but the target gives {token} probability 0")
    possible = probs > 0
    observed = counts[possible].double().numpy()
    expected = probs[possible].double().numpy()
    expected = expected / expected.sum() * observed.sum()  # the same total, in float64
    pvalue = scipy.stats.chisquare(observed, expected).pvalue
    if pvalue < 1e-4:
        fail(f"{what}: the {position} token is not distributed as the target's p: over "
             f"{int(counts.sum())} steps its frequencies are {rounded(counts / counts.sum(), 3)}, "
             f"the target's probabilities {rounded(probs, 3)} (chi-square p-value "
             f"{pvalue:.1e}); speculative sampling must output exactly p, so check the "
             "acceptance rule and that a rejected draft is replaced by a draw from the residual")


def sampling_step(verify_sampling_fn, count_accepted, residual_distribution_fn) -> None:
    """Exercise 4: `verify_sampling(draft_tokens, p, q, generator)`: the sure cases by hand; the
    tokens it outputs are distributed as p; then the same (accepted, token) as the package's
    for the same seed."""
    earlier = [name for name, ok in (
        ("Exercise 1 (count_accepted)", count_works(count_accepted)),
        ("Exercise 2 (residual_distribution)", residual_works(residual_distribution_fn)))
        if not ok]
    note = f"{' and '.join(earlier)} still fail{'s' * (len(earlier) == 1)}: fix them first"
    with builds_on(not earlier, note):
        # 1. Steps whose outcome is sure, whatever the draws, for 20 seeds
        for label, drafts, p, q, expected, hint in _sure_cases():
            drafts, p, q = _tensors(drafts, p, q)
            for seed in range(20):
                what = f"verify_sampling({drafts.tolist()}, p, q, {_seeded(seed)}) where {label}"
                got = _step_call(verify_sampling_fn, drafts, p, q, torch_rng(seed), what)
                assert got == expected, f"{what}: expected {expected}, got {got} ({hint})"
        # 2. The output is distributed as p: the first token, and the second when there is one
        gen = torch_rng(5)
        p = torch.softmax(1.5 * torch.randn(3, 6, generator=gen), dim=-1)
        noise = torch.softmax(1.5 * torch.randn(2, 6, generator=gen), dim=-1)
        q = 0.5 * p[:2] + 0.5 * noise  # a drafter half right: alpha about 0.5 at both drafts
        p[0, 5] = 0.0  # a token the target forbids, which the drafter likes
        q[0, 5] += 0.2
        p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
        what = ("verify_sampling(drafts, p, q, generator) over 3,000 steps with the drafts "
                "drawn from q (k=2, vocab=6)")
        first, second = _first_tokens(verify_sampling_fn, p, q, 3000, seed=11, what=what)
        _same_distribution(first, p[0], what, "first")
        _same_distribution(second, p[1], what, "second")
        # 3. Random cases: the same (accepted, token) as tinylm's for the same seed
        for seed in range(80):
            gen = torch_rng(seed)
            k, vocab = seed % 6, 3 + seed % 17
            drafts, p, q = random_case(gen, k, vocab, sharpness=0.5 + seed % 3)
            what = (f"verify_sampling({drafts.tolist()}, p, q, {_seeded(seed)}) of a random "
                    f"case (seed {seed}, vocab={vocab})")
            got = _step_call(verify_sampling_fn, drafts, p, q, torch_rng(seed), what)
            expected = verify_sampling(drafts, p, q, torch_rng(seed))
            if got == expected:
                continue
            u = torch.rand(k, generator=torch_rng(seed))
            if got[0] != expected[0]:
                fail(f"{what}: expected {expected}, got {got}: a different number of drafts "
                     f"kept. With the generator's first k draws u = {rounded(u)} and the "
                     f"drafts' p/q = {_ratios(drafts, p, q)}, {expected[0]} are kept in a row "
                     "(draw the k uniforms with one call, torch.rand(k, generator=generator), "
                     "before anything else)")
            fail(f"{what}: expected {expected}, got {got}: the same number of drafts kept, "
                 "another token. Your steps already have the right distribution, so this is "
                 "the order of the draws: draw the k uniforms with one call, torch.rand(k, "
                 "generator=generator), then the token with one call, torch.multinomial("
                 "distribution, 1, generator=generator), and nothing else from the generator")


# -- Exercise 5: expected tokens per target call -------------------------------------------------


def _tokens_hint(got, alpha: float, gamma: int) -> str:
    powers = [alpha**i for i in range(gamma + 2)]
    mistakes = [
        (sum(powers[:gamma]), "the sum must run up to alpha**gamma: gamma drafts can be kept, "
                              "and the call always adds one token of its own"),
        (sum(powers[1:gamma + 1]), "the call always adds one token of its own, the first term 1"),
        (sum(powers[:gamma + 2]), "the sum stops at alpha**gamma: only gamma tokens are drafted"),
        (1 + gamma * alpha, "the i-th draft counts only if all the drafts before it are kept: "
                            "it adds alpha**i, not alpha"),
    ]
    for value, hint in mistakes:
        if math.isclose(got, value, rel_tol=1e-9) and not math.isclose(got, sum(powers[:gamma + 1]),
                                                                      rel_tol=1e-9):
            return f" ({hint})"
    return ""


def tokens_per_call(expected_tokens_per_call_fn) -> None:
    """Exercise 5: `expected_tokens_per_call(alpha, gamma)`, by hand (alpha = 1 included) and on
    random values against the package's."""
    at_one = ("at alpha = 1 the closed form divides 0 by 0; every draft is then kept, so return "
              "gamma + 1 (the formula's limit)")
    hints = {ZeroDivisionError: at_one[0].upper() + at_one[1:]}
    rng = np.random.default_rng(0)
    by_hand = [(0.0, 4, 1.0), (0.5, 1, 1.5), (0.5, 2, 1.75), (0.8, 4, 3.3616), (1.0, 4, 5.0),
               (1.0, 1, 2.0)]
    randoms = [(float(a), int(g), None) for a, g in zip(
        np.concatenate([rng.uniform(0, 1, 40), [0.999, 0.9999, 0.01]]),
        rng.integers(1, 11, 43), strict=True)]
    for alpha, gamma, expected in by_hand + randoms:
        what = f"expected_tokens_per_call({alpha!r}, {gamma})"
        got = call(expected_tokens_per_call_fn, alpha, gamma, call=what, hints=hints)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            fail(f"{what}: expected a float, got a tensor {got!r}: return a Python float")
        check_number(got, what)
        if not math.isfinite(got):
            fail(f"{what}: expected a finite number, got {got}"
                 + (f" ({at_one})" if alpha == 1 else ""))
        if expected is None:
            expected = expected_tokens_per_call(alpha, gamma)
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            fail(f"{what}: expected {expected:.10g}, got {got:.10g}"
                 + _tokens_hint(got, alpha, gamma))
