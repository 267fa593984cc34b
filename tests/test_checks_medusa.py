"""The checks of lab 7 (tinylm.grading.checks.medusa) pass a right answer and fail wrong ones
with a message that names the problem, and survive code that raises or returns nonsense.

Right answers come from the package (`tinylm.medusa`); the lab's generate_candidates takes the
tree's index tensors instead of `MedusaBuffers`, so it is written here from its statement, as is
a typical acceptance with the entropy computed exactly (no 1e-5 inside the log), which must pass
too. The wrong answers are the mistakes a learner makes: a mask without the root's column or
transposed, the paths left unsorted, positions off by one, padding with 0 instead of -1, rows in
the wrong order, the root taken from a head, a path that goes on after a refusal, the entropy's
sign flipped, min turned into max, the temperature forgotten, the first longest path instead of
the likeliest.
"""

from __future__ import annotations

import pytest
import torch

from tinylm.grading.checks import medusa as checks
from tinylm.medusa import (
    MC_SIM_7B_63,
    TOPK,
    evaluate_posterior,
    medusa_buffers,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# -- right answers -------------------------------------------------------------------------------


def tree_mask_and_positions(choices):
    bufs = medusa_buffers(choices)
    return bufs.attn_mask, bufs.position_ids


def tree_and_retrieve_indices(choices):
    bufs = medusa_buffers(choices)
    return bufs.tree_indices, bufs.retrieve_indices


def generate_candidates(logits, head_logits, tree_indices, retrieve_indices):
    """The pool [root, head 1's top 10, head 2's top 10, ...], read at each node and path."""
    root = logits.argmax(dim=-1, keepdim=True)
    pool = torch.cat((root, head_logits.topk(TOPK, dim=-1).indices.flatten()))
    tree_tokens = pool[tree_indices]
    padded = retrieve_indices < 0
    return tree_tokens, tree_tokens[retrieve_indices.clamp(min=0)].masked_fill(padded, -1)


def evaluate_greedy(logits, candidates):
    return evaluate_posterior(logits, candidates, 0.0)


def evaluate_typical(logits, candidates, temperature, posterior_threshold=0.09,
                     posterior_alpha=0.3):
    return evaluate_posterior(logits, candidates, temperature, posterior_threshold,
                              posterior_alpha)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


RIGHT = {checks.tree_mask: tree_mask_and_positions,
         checks.tree_indices: tree_and_retrieve_indices,
         checks.candidates: generate_candidates,
         checks.greedy: evaluate_greedy,
         checks.typical: evaluate_typical}


def test_right_answers_pass():
    for check, answer in RIGHT.items():
        check(answer)


def test_unsolved_exercises_raise_not_implemented():
    for check in RIGHT:
        with pytest.raises(NotImplementedError):
            check(stub)


def raises(error):
    def broken(*args, **kwargs):
        raise error
    return broken


@pytest.mark.parametrize("check", list(RIGHT), ids=lambda c: c.__name__)
@pytest.mark.parametrize("student", [
    pytest.param(raises(RuntimeError("shapes do not match")), id="RuntimeError"),
    pytest.param(raises(KeyError(3)), id="KeyError"),
    pytest.param(raises(IndexError("index -1 is out of bounds")), id="IndexError"),
    pytest.param(raises(AssertionError("my own assert")), id="AssertionError"),
    pytest.param(lambda *args: None, id="returns-None"),
    pytest.param(lambda *args: "three", id="returns-a-string"),
    pytest.param(lambda *args: [[1, 2], [3]], id="returns-a-list"),
    pytest.param(lambda *args: (None, None), id="returns-two-Nones"),
    pytest.param(lambda *args: (torch.zeros(3), 1.5), id="returns-a-tensor-and-a-float"),
    pytest.param(lambda *args: (torch.ones(0, dtype=torch.long),) * 2, id="returns-empty-tensors"),
])
def test_broken_code_fails_with_a_message(check, student):
    """Whatever the student's code does, the check ends in an AssertionError for the student."""
    with pytest.raises(AssertionError) as failure:
        check(student)
    message = str(failure.value)
    assert message.strip() and "Traceback" not in message


@pytest.mark.parametrize("check", [checks.tree_mask, checks.tree_indices, checks.candidates],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("second", [None, "three", [[1, 2], [3]], torch.zeros(2, 2, 2),
                                    torch.zeros(0)], ids=repr)
def test_a_right_first_half_and_a_broken_second_fail_with_a_message(check, second):
    def half_right(*args):
        return RIGHT[check](*args)[0], second

    with pytest.raises(AssertionError) as failure:
        check(half_right)
    assert str(failure.value).strip() and "Traceback" not in str(failure.value)


def test_an_error_is_reported_with_the_call_and_the_line():
    def evaluate_typical_unclamped(logits, candidates, temperature, posterior_threshold=0.09,
                                   posterior_alpha=0.3):
        p = torch.softmax(logits[:, :-1] / temperature, dim=-1)
        return p.gather(-1, candidates[:, 1:, None]), 0  # -1 is no index

    with pytest.raises(AssertionError, match=(
            r"^evaluate_typical\(the worked example, temperature=1\.0\) raised RuntimeError: "
            r".*\(raised in evaluate_typical_unclamped, at line \d+ of its cell: .*gather.*\)\. "
            r"The padding -1 is not a token: clamp it")):
        checks.typical(evaluate_typical_unclamped)


# -- Exercise 1 ----------------------------------------------------------------------------------


def with_mask(change_mask=None, change_positions=None):
    def answer(choices):
        mask, positions = tree_mask_and_positions(choices)
        return (change_mask(mask, choices) if change_mask else mask,
                change_positions(positions) if change_positions else positions)
    return answer


def drop_root_column(mask, choices):
    mask = mask.clone()
    mask[1:, 0] = False
    return mask


def drop_diagonal(mask, choices):
    return mask & ~torch.eye(len(mask), dtype=torch.bool) | (torch.arange(len(mask)) == 0)


def nodes_in_given_order(choices):
    """The right rules, with node i + 1 the i-th path as given (not sorted)."""
    node = {tuple(p): i + 1 for i, p in enumerate(choices)}
    mask = torch.eye(len(choices) + 1, dtype=torch.bool)
    mask[:, 0] = True
    for path in choices:
        for d in range(1, len(path)):
            mask[node[tuple(path)], node[tuple(path[:d])]] = True
    return mask, torch.tensor([0] + [len(p) for p in choices])


def lexicographic_order(choices):
    return nodes_in_given_order(sorted(choices))


def parents_only(choices):
    paths = sorted(choices, key=lambda p: (len(p), p))
    node = {tuple(p): i + 1 for i, p in enumerate(paths)}
    mask = torch.eye(len(paths) + 1, dtype=torch.bool)
    mask[:, 0] = True
    for path in paths:
        if len(path) > 1:
            mask[node[tuple(path)], node[tuple(path[:-1])]] = True
    return mask, torch.tensor([0] + [len(p) for p in paths])


def sorts_in_place(choices):
    choices.sort(key=lambda p: (len(p), p))
    return tree_mask_and_positions(choices)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(with_mask(drop_root_column),
                 r"^tree_mask_and_positions\(the worked example's tree\), attn_mask: 6 of 7 rows "
                 r"are wrong, the first row 1 \(node 1, path \[0\]\): it should attend to nodes "
                 r"\[0, 1\], got \[1\] \(every node attends to the root, column 0: .*\) "
                 r"\(the nodes in order: 0 root, 1 \[0\], 2 \[1\], 3 \[0, 0\], 4 \[0, 1\], "
                 r"5 \[1, 0\], 6 \[0, 0, 0\]\)$", id="no-root-column"),
    pytest.param(with_mask(drop_diagonal), r"\(every node attends to itself too", id="no-self"),
    pytest.param(with_mask(lambda mask, choices: mask.T.clone()),
                 r"the first row 0 \(the root\): it should attend to nodes \[0\], got "
                 r"\[0, 1, 2, 3, 4, 5, 6\] \(row i is the node that looks.*you built the "
                 r"transpose\)", id="transpose"),
    pytest.param(parents_only,
                 r"row 6 \(node 6, path \[0, 0, 0\]\): it should attend to nodes \[0, 1, 3, 6\], "
                 r"got \[0, 3, 6\] \(a node attends to all its ancestors.*not only to its "
                 r"parent\)", id="parents-only"),
    pytest.param(lexicographic_order,
                 r"^tree_mask_and_positions\(the worked example's tree\), attn_mask: .*\(sort "
                 r"the paths by length first, then by value: sorted\(choices\) alone puts",
                 id="lexicographic"),
    pytest.param(nodes_in_given_order,
                 r"^tree_mask_and_positions\(the worked example's tree, its paths in another "
                 r"order\), attn_mask: .*\(number the nodes in the paper's order: sort the paths "
                 r"by length, then by value, not in the order they are given\)",
                 id="given-order"),
    pytest.param(with_mask(change_positions=lambda pos: pos + 1),
                 r"^tree_mask_and_positions\(the worked example's tree\), position_ids: expected "
                 r"\[0, 1, 1, 2, 2, 2, 3\], got \[1, 2, 2, 3, 3, 3, 4\] .*\(off by one: the root "
                 r"is at position 0", id="positions-plus-one"),
    pytest.param(with_mask(change_positions=lambda pos: torch.cat((pos[:1], pos[1:] - 1))),
                 r"got \[0, 0, 0, 1, 1, 1, 2\] .*\(off by one: a node's position is its depth",
                 id="positions-minus-one"),
    pytest.param(with_mask(change_positions=lambda pos: torch.arange(len(pos))),
                 r"got \[0, 1, 2, 3, 4, 5, 6\] .*not its index: siblings share a position",
                 id="positions-are-indices"),
    pytest.param(with_mask(lambda mask, choices: mask.float()),
                 r"attn_mask: expected dtype torch\.bool, got torch\.float32$", id="float-mask"),
    pytest.param(with_mask(change_positions=lambda pos: pos.int()),
                 r"position_ids: expected dtype torch\.int64, got torch\.int32$",
                 id="int32-positions"),
    pytest.param(sorts_in_place,
                 r"^tree_mask_and_positions\(the worked example's tree, its paths in another "
                 r"order\) changed its input: leave it as it was \(sort a copy", id="in-place"),
    pytest.param(lambda choices: tree_mask_and_positions(choices)[0],
                 r"expected a pair \(attn_mask, position_ids\), got Tensor", id="mask-only"),
])
def test_tree_mask_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.tree_mask(wrong)


def test_tree_mask_names_the_node_of_a_big_tree():
    """On the 63-node tree the message names the first wrong node by its path, without listing
    every node."""
    def wrong_on_big_trees(choices):
        mask, positions = tree_mask_and_positions(choices)
        if len(choices) > 50:
            positions = positions.clone()
            positions[40] += 1
        return mask, positions

    paths = sorted(MC_SIM_7B_63, key=lambda p: (len(p), p))
    with pytest.raises(AssertionError, match=(
            r"^tree_mask_and_positions\(the paper's 63-node tree, MC_SIM_7B_63\), position_ids: "
            rf"1 of 64 differ, the first at node 40, path \[{paths[39][0]}, .*\]: expected 3, "
            r"got 4$")):
        checks.tree_mask(wrong_on_big_trees)


# -- Exercise 2 ----------------------------------------------------------------------------------


def with_indices(change_tree=None, change_retrieve=None):
    def answer(choices):
        tree, retrieve = tree_and_retrieve_indices(choices)
        return (change_tree(tree, choices) if change_tree else tree,
                change_retrieve(retrieve, choices) if change_retrieve else retrieve)
    return answer


def every_path_a_row(retrieve, choices):
    """A row for every path, not only for the leaves."""
    paths = sorted(choices, key=lambda p: (len(p), p))
    node = {tuple(p): i + 1 for i, p in enumerate(paths)}
    depth = max(len(p) for p in paths)
    rows = torch.full((len(paths), depth + 1), -1)
    rows[:, 0] = 0
    for r, path in enumerate(reversed(paths)):
        for d in range(1, len(path) + 1):
            rows[r, d] = node[tuple(path[:d])]
    return rows


def depths(choices):
    return torch.tensor([0] + sorted(len(p) for p in choices))


@pytest.mark.parametrize("wrong, message", [
    pytest.param(with_indices(change_retrieve=lambda r, c: r.clamp(min=0)),
                 r"^tree_and_retrieve_indices\(the worked example's tree\), retrieve_indices: 2 "
                 r"of 3 rows are wrong, the first row 1 \(the path to node 5\): expected "
                 r"\[0, 2, 5, -1\], got \[0, 2, 5, 0\] .*\(pad with -1, not 0", id="pad-zero"),
    pytest.param(with_indices(change_retrieve=lambda r, c: r.flip(0)),
                 r"the first row 0 \(the path to node 6\): expected \[0, 1, 3, 6\], got "
                 r"\[0, 1, 4, -1\] .*\(list the leaves last node first", id="leaves-in-order"),
    pytest.param(with_indices(change_retrieve=lambda r, c: r[:, 1:]),
                 r"retrieve_indices: expected shape \(3, 4\), got \(3, 3\): every row starts "
                 r"with the root, node 0", id="no-root-column"),
    pytest.param(with_indices(change_retrieve=every_path_a_row),
                 r"expected shape \(3, 4\), got \(6, 4\): one row per leaf, a path that is no "
                 r"other path's prefix; this tree has 6 paths but 3 leaves$", id="every-path"),
    pytest.param(with_indices(lambda t, c: torch.where(depths(c) > 0, t - 1, t)),
                 r"^tree_and_retrieve_indices\(the worked example's tree\), tree_indices: "
                 r"expected \[0, 1, 2, 11, 12, 11, 21\], got \[0, 0, 1, 10, 11, 10, 20\] .*\(the "
                 r"pool starts with the root", id="no-plus-one"),
    pytest.param(with_indices(lambda t, c: torch.where(depths(c) > 0, t + TOPK, t)),
                 r"got \[0, 11, 12, 21, 22, 21, 31\] .*you counted 10 \* d\)", id="ten-d"),
    pytest.param(with_indices(lambda t, c: t % TOPK - (t > 0).long()),
                 r"got \[0, 0, 1, 0, 1, 0, 0\] .*\(the rank alone does not say which head",
                 id="rank-only"),
    pytest.param(with_indices(change_retrieve=lambda r, c: r.int()),
                 r"retrieve_indices: expected dtype torch\.int64, got torch\.int32$",
                 id="int32"),
    pytest.param(with_indices(change_retrieve=lambda r, c: r.tolist()),
                 r"retrieve_indices: expected a torch\.Tensor, got list$", id="list"),
])
def test_tree_indices_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.tree_indices(wrong)


def test_tree_indices_names_the_row_of_a_big_tree():
    def wrong_on_big_trees(choices):
        tree, retrieve = tree_and_retrieve_indices(choices)
        if len(choices) > 50:
            retrieve = retrieve.clone()
            retrieve[5, -1] = 0
        return tree, retrieve

    with pytest.raises(AssertionError, match=(
            r"^tree_and_retrieve_indices\(the paper's 63-node tree, MC_SIM_7B_63\), "
            r"retrieve_indices: 1 of \d+ rows is wrong, the first row 5 \(the path to node "
            r"\d+\): expected \[0, \d+, \d+, \d+, -1\], got \[0, \d+, \d+, \d+, 0\]$")):
        checks.tree_indices(wrong_on_big_trees)


# -- Exercise 3 ----------------------------------------------------------------------------------


def candidates_with(root=None, largest=True, pad=-1, mask_padding=True, pool_root=True):
    def answer(logits, head_logits, tree_indices, retrieve_indices):
        top = head_logits.topk(TOPK, dim=-1, largest=largest).indices.flatten()
        first = (root or (lambda lo, he: lo.argmax(dim=-1, keepdim=True)))(logits, head_logits)
        pool = torch.cat((first, top)) if pool_root else top
        tree_tokens = pool[tree_indices]
        paths = tree_tokens[retrieve_indices]  # -1 reads the last node
        if mask_padding:
            paths = paths.masked_fill(retrieve_indices < 0, pad)
        return tree_tokens, paths
    return answer


def candidates_clamping_in_place(logits, head_logits, tree_indices, retrieve_indices):
    padded = retrieve_indices < 0
    tree_tokens, _ = generate_candidates(logits, head_logits, tree_indices, retrieve_indices)
    return tree_tokens, tree_tokens[retrieve_indices.clamp_(min=0)].masked_fill(padded, -1)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(candidates_with(mask_padding=False),
                 r"^generate_candidates\(the worked example\), candidates: 2 of 3 rows are "
                 r"wrong, the first row 1 \(the path to node 5, nodes \[0, 2, 5, -1\]\): expected "
                 r"\[7, 5, 2, -1\], got \[7, 5, 2, 4\] \(the padding -1 of retrieve_indices is "
                 r"not a node: indexing with it picks the last node's token", id="unmasked"),
    pytest.param(candidates_with(pad=0), r"got \[7, 5, 2, 0\] \(pad the candidates with -1",
                 id="pad-zero"),
    pytest.param(candidates_with(root=lambda lo, he: he[0].argmax(dim=-1, keepdim=True)),
                 r"^generate_candidates\(the worked example\), tree_tokens: 1 of 7 nodes differ, "
                 r"the first the root, the base model's argmax: expected 7, got 3; the whole "
                 r"tree: expected \[7, 3, 5, 2, 9, 2, 4\], got \[3, 3, 5, 2, 9, 2, 4\] \(the root "
                 r"is the base model's own next token", id="root-from-head"),
    pytest.param(candidates_with(largest=False),
                 r"tree_tokens: .* the first node 1, path \[0\]: rank 0 of head 1: .*\(rank 0 is "
                 r"a head's most likely token", id="smallest"),
    pytest.param(candidates_with(pool_root=False),
                 r"^generate_candidates\(the worked example\), tree_tokens: 7 of 7 nodes "
                 r"differ.*\(the pool of tokens starts with the root",
                 id="pool-without-root"),
    pytest.param(candidates_clamping_in_place,
                 r"^generate_candidates\(the worked example\) changed its input: leave it as it "
                 r"was \(compute new tensors", id="in-place"),
    pytest.param(lambda *args: tuple(t.int() for t in generate_candidates(*args)),
                 r"tree_tokens: expected dtype torch\.int64, got torch\.int32$", id="int32"),
])
def test_candidates_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.candidates(wrong)


def test_candidates_catch_a_mistake_the_worked_example_hides():
    """Using heads beyond the tree's depth is fine; reading head d + 1 for depth d is not, and
    the worked example (ranks 0 and 1 only) already shows it; a pool that only holds ranks 0
    and 1 passes the worked example and fails the random cases."""
    def two_ranks_only(logits, head_logits, tree_indices, retrieve_indices):
        top = head_logits.topk(2, dim=-1).indices  # (heads, 2), as if a head offered 2
        pool = torch.full((1 + TOPK * len(head_logits),), -1)
        pool[0] = logits.argmax()
        for d in range(len(head_logits)):
            pool[1 + TOPK * d: 3 + TOPK * d] = top[d]
        tree_tokens = pool[tree_indices]
        return tree_tokens, tree_tokens[retrieve_indices].masked_fill(retrieve_indices < 0, -1)

    with pytest.raises(AssertionError, match=(
            r"^generate_candidates\(random logits, vocab=\d+, \d heads, .*\), tree_tokens: "
            r"\d+ of \d+ nodes differ, the first node \d+, path \[.*\]: rank [2-9] of head "
            r"\d: expected \d+, got -1")):
        checks.candidates(two_ranks_only)


# -- Exercise 4 ----------------------------------------------------------------------------------


def greedy_with(**mistake):
    return lambda logits, candidates: checks.acceptance_variant(logits, candidates, **mistake)


def greedy_last_longest(logits, candidates):
    accepted = (candidates[:, 1:] == logits[:, :-1].argmax(dim=-1)).long()
    lengths = accepted.cumprod(dim=1).sum(dim=1)
    best = max(range(len(lengths)), key=lambda row: (lengths[row], row))  # the last of the best
    return best, int(lengths.max())


def greedy_loop(logits, candidates):
    """Path by path, token by token: right, in the plainest Python."""
    best, best_length = 0, 0
    for row in range(candidates.shape[0]):
        length = 0
        for d in range(1, candidates.shape[1]):
            if candidates[row, d] != logits[row, d - 1].argmax():
                break
            length += 1
        if length > best_length:
            best, best_length = row, length
    return best, best_length


@pytest.mark.parametrize("wrong, message", [
    pytest.param(greedy_with(pad_is_token_0=True),
                 r"^evaluate_greedy\(the worked example\): expected \(best, accept_length\) = "
                 r"\(2, 2\), got \(2, 3\); the model's argmax along each path: \[\[3, 9, 6, 5\], "
                 r"\[3, 1, 8, 3\], \[3, 9, 0, 3\]\]; the candidates, one path a row: \[\[7, 3, 2, "
                 r"4\], \[7, 5, 2, -1\], \[7, 3, 9, -1\]\] \(the padding -1 is not a token and is "
                 r"never accepted", id="pad-accepted"),
    pytest.param(greedy_with(in_a_row=False),
                 r"^evaluate_greedy\(the worked example where nothing starts right\): expected "
                 r"\(best, accept_length\) = \(0, 0\), got \(1, 1\); .*\(a path keeps its "
                 r"candidates up to its first refusal", id="after-a-refusal"),
    pytest.param(greedy_with(judge_shift=0),
                 r"^evaluate_greedy\(the worked example\): expected .* \(candidate d is judged "
                 r"by the logits at node d - 1", id="judge-shift"),
    pytest.param(greedy_with(count_root=True),
                 r"^evaluate_greedy\(the worked example\): expected \(best, accept_length\) = "
                 r"\(2, 2\), got \(2, 3\).*\(the padding -1 is not a token.*; or accept_length "
                 r"counts the candidates accepted beyond the root", id="count-root"),
    pytest.param(greedy_last_longest,
                 r"^evaluate_greedy\(the worked example where nothing starts right\): expected "
                 r"\(best, accept_length\) = \(0, 0\), got \(2, 0\): no candidate is accepted on "
                 r"any path, and then best is 0", id="last-longest"),
    pytest.param(lambda lo, ca: tuple(torch.tensor(v) for v in evaluate_greedy(lo, ca)),
                 r", best: expected a Python int, got a tensor", id="tensors"),
])
def test_greedy_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.greedy(wrong)


def test_greedy_accepts_a_plain_loop():
    checks.greedy(greedy_loop)


def test_acceptance_variant_without_a_mistake_is_evaluate_posterior():
    """The reference the hints are computed from is the package's rule when nothing is changed."""
    for seed, (_, choices) in enumerate(checks.trees()):
        logits, candidates = checks.tree_case(seed, choices, vocab=50, sharpness=1.0)
        for args in [(0.0,), (0.7, 0.09, 0.3), (1.5, 0.2, 0.5)]:
            assert checks.acceptance_variant(logits, candidates, *args) == \
                evaluate_posterior(logits, candidates, *args)


def test_tree_cases_accept_at_every_depth():
    """The random cases are worth checking: accepted lengths from 0 to the tree's depth, and the
    padding bait (a leaf's logits leaning to token 0) set somewhere."""
    lengths, baited = set(), False
    for seed, (_, choices) in enumerate(checks.trees() * 3):
        logits, candidates = checks.tree_case(seed, choices, vocab=17,
                                              follow=[0.5, 0.8, 1.0][seed % 3])
        lengths.add(evaluate_posterior(logits, candidates, 0.0)[1])
        padded = candidates[:, 1:] < 0
        baited |= bool((logits[:, :-1].argmax(dim=-1)[padded] == 0).any())
    assert lengths == {0, 1, 2, 3, 4}
    assert baited


# -- Exercise 5 ----------------------------------------------------------------------------------


def typical_with(**mistake):
    def answer(logits, candidates, temperature, posterior_threshold=0.09, posterior_alpha=0.3):
        return checks.acceptance_variant(logits, candidates, temperature, posterior_threshold,
                                         posterior_alpha, **mistake)
    return answer


def typical_exact_entropy(logits, candidates, temperature, posterior_threshold=0.09,
                          posterior_alpha=0.3):
    """The entropy without the paper's 1e-5 and the likelihood as a product: right too."""
    p = torch.softmax(logits[:, :-1] / temperature, dim=-1)
    entropy = -torch.special.xlogy(p, p).sum(dim=-1)
    threshold = torch.clamp(posterior_alpha * torch.exp(-entropy), max=posterior_threshold)
    real = candidates[:, 1:] >= 0
    p_x = p.gather(-1, candidates[:, 1:].clamp(min=0)[..., None])[..., 0]
    lengths = ((p_x > threshold) & real).long().cumprod(dim=1).sum(dim=1)
    length = int(lengths.max())
    if length == 0:
        return 0, 0
    likelihood = torch.where(lengths == length, p_x[:, :length].prod(dim=-1), -1.0)
    return int(likelihood.argmax()), length


@pytest.mark.parametrize("wrong, message", [
    pytest.param(typical_with(pad_is_token_0=True),
                 r"^evaluate_typical\(the worked example, temperature=1\.0\): expected \(best, "
                 r"accept_length\) = \(0, 2\), got \(2, 2\): the right length, another path "
                 r"\(among the paths that accept 2, the likeliest wins\) \(the padding -1 is not "
                 r"a token", id="pad-accepted"),
    pytest.param(typical_with(entropy_sign=-1.0),
                 r"^evaluate_typical\(the worked example of a flat distribution over 20 tokens, "
                 r"temperature=1\.0\): expected \(best, accept_length\) = \(0, 1\), got \(0, 0\); "
                 r"the candidates, one path a row: \[\[5, 11\]\] \(the entropy is H\(p\) = "
                 r"-sum p log p, a positive number", id="entropy-sign"),
    pytest.param(typical_with(combine=torch.maximum),
                 r"^evaluate_typical\(the worked example of a flat distribution over 20 tokens, "
                 r".*; or the threshold is the smaller of epsilon and alpha \* exp\(-H\): min, not "
                 r"max\)$", id="max"),
    pytest.param(typical_with(use_temperature=False),
                 r"^evaluate_typical\(the logits of seed \d+, .*temperature=(?!1\.0).*\(divide "
                 r"the logits by the temperature", id="no-temperature"),
    pytest.param(typical_with(in_a_row=False),
                 r"\(a path keeps its candidates up to its first refusal", id="after-a-refusal"),
    pytest.param(typical_with(judge_shift=0), r"\(candidate d is judged by the logits at node "
                                              r"d - 1", id="judge-shift"),
    pytest.param(typical_with(likeliest=False),
                 r"^evaluate_typical\(the worked example where two paths accept 2, "
                 r"temperature=1\.0\): expected \(best, accept_length\) = \(1, 2\), got \(0, 2\): "
                 r"the right length, another path \(among the paths that accept 2, the likeliest "
                 r"wins\) \(.*among equally long paths the likeliest wins", id="first-longest"),
    pytest.param(typical_with(count_root=True), r"\(accept_length counts the candidates "
                                                r"accepted beyond the root", id="count-root"),
    pytest.param(lambda lo, ca, t, e=0.09, a=0.3: evaluate_typical(lo, ca, t, e, a)[1],
                 r"expected a pair \(best, accept_length\), got int 2$", id="length-only"),
])
def test_typical_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.typical(wrong)


def test_typical_accepts_the_exact_entropy_and_a_product_of_probabilities():
    checks.typical(typical_exact_entropy)


def test_typical_ignores_its_threshold_arguments_only_at_a_cost():
    """An answer that always uses the defaults epsilon = 0.09 and alpha = 0.3 fails the cases
    with other values."""
    def defaults_only(logits, candidates, temperature, posterior_threshold=0.09,
                      posterior_alpha=0.3):
        return evaluate_typical(logits, candidates, temperature)

    with pytest.raises(AssertionError, match=r"posterior_threshold=(0\.2|0\.05)"):
        checks.typical(defaults_only)
