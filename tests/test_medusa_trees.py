"""Choosing and judging Medusa trees, against their definitions.

- ``evaluate_tree`` (each node judged once) picks the same path and length as
  ``evaluate_posterior`` (each path judged on its own), greedy and typical, on random trees and
  the 63-node tree, with candidates drawn so that paths stop at every depth.
- ``MedusaBuffers.parents`` is each path's prefix.
- ``tree_from_accuracies`` returns the ``num_nodes`` likeliest paths among all of them
  (enumerated here), and ``expected_accept_length`` equals a simulation of independent heads.
- ``head_accuracies``' rank-0 column is the heads' top-1 accuracy as the zoo's trainer scores it.
- A traced generation records trees and paths that add up to the generated text.
"""

import functools
import itertools

import pytest
import torch
from test_medusa import SMALL_TREE, random_tree  # the same trees as the oracle tests

from tinylm import zoo
from tinylm.generation import generate
from tinylm.medusa import (
    MC_SIM_7B_63,
    TOPK,
    MedusaHeads,
    evaluate_posterior,
    evaluate_tree,
    expected_accept_length,
    head_accuracies,
    medusa_buffers,
    medusa_generate,
    tree_from_accuracies,
)
from tinylm.zoo.medusa_heads import evaluate_heads

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

TREES = [SMALL_TREE, MC_SIM_7B_63, [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]]] + \
    [random_tree(seed, size) for seed, size in ((0, 5), (1, 17), (2, 40))]


def random_tree_case(choices, seed, vocab=40):
    """Node logits (N+1, vocab), flat to peaked, and tree tokens: each node's token is its
    parent's argmax, a draw from its parent's softmax, or anything, so that paths stop at
    every depth."""
    bufs = medusa_buffers(choices)
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(bufs.num_nodes, vocab, generator=gen) * (1 + 3 * (seed % 3))
    tokens = torch.randint(0, vocab, (bufs.num_nodes,), generator=gen)
    for node in range(1, bufs.num_nodes):
        parent = int(bufs.parents[node])
        pick = torch.rand((), generator=gen)
        if pick < 0.5:
            tokens[node] = logits[parent].argmax()
        elif pick < 0.8:
            tokens[node] = torch.multinomial(torch.softmax(logits[parent], -1), 1, generator=gen)
    return bufs, logits, tokens


def by_paths(bufs, node_logits, tree_tokens):
    """What ``evaluate_posterior`` reads: (paths, depth+1, vocab) logits, (paths, depth+1)
    candidates padded with -1, as medusa_generate used to gather them."""
    rows = bufs.retrieve_indices
    candidates = tree_tokens[rows.clamp(min=0)].masked_fill(rows < 0, -1)
    return node_logits[rows.clamp(min=0)], candidates


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("choices", TREES, ids=lambda c: f"{len(c)}-paths")
@pytest.mark.parametrize("temperature, epsilon, alpha", [
    (0.0, 0.09, 0.3), (1.0, 0.09, 0.3), (0.7, 0.3, 0.55), (1.0, 0.0, 0.3)])
def test_evaluate_tree_equals_evaluate_posterior(choices, seed, temperature, epsilon, alpha):
    bufs, node_logits, tree_tokens = random_tree_case(choices, seed)
    ours = evaluate_tree(node_logits, tree_tokens, bufs, temperature, epsilon, alpha)
    reference = evaluate_posterior(*by_paths(bufs, node_logits, tree_tokens), temperature,
                                   epsilon, alpha)
    assert ours == reference


def test_evaluate_tree_accepts_lengths_at_every_depth():
    """The random cases above are not all trivial: across trees and seeds, greedy keeps 0 .. 4."""
    seen = set()
    for choices, seed in itertools.product(TREES, range(6)):
        bufs, node_logits, tree_tokens = random_tree_case(choices, seed)
        seen.add(evaluate_tree(node_logits, tree_tokens, bufs)[1])
    assert seen == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("choices", TREES, ids=lambda c: f"{len(c)}-paths")
def test_parents_are_the_path_prefixes(choices):
    bufs = medusa_buffers(choices)
    node = {tuple(path): i + 1 for i, path in enumerate(bufs.choices)}
    assert int(bufs.parents[0]) == -1
    for path, i in node.items():
        assert int(bufs.parents[i]) == node.get(path[:-1], 0)


# ---------------------------------------------------------------------------------------------
# Trees from head accuracies
# ---------------------------------------------------------------------------------------------


def random_accuracies(seed, heads=3, k=4):
    """Per head, chances of ranks 0..k-1 that sum to < 1, falling with rank and depth."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.rand(heads, k, generator=gen).sort(dim=1, descending=True).values
    return raw / raw.sum(dim=1, keepdim=True) * torch.linspace(0.9, 0.5, heads)[:, None]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("num_nodes", [1, 3, 10, 25])
def test_greedy_tree_is_the_likeliest_paths(seed, num_nodes):
    acc = random_accuracies(seed).double()
    heads, k = acc.shape
    chance = {}
    for depth in range(1, heads + 1):
        for path in itertools.product(range(k), repeat=depth):
            chance[path] = float(torch.prod(acc[torch.arange(depth), torch.tensor(path)]))
    likeliest = sorted(chance, key=lambda p: -chance[p])[:num_nodes]
    tree = tree_from_accuracies(acc, num_nodes)
    assert sorted(map(tuple, tree)) == sorted(likeliest)
    medusa_buffers(tree)  # a valid tree: every parent is in it
    assert expected_accept_length(tree, acc) == pytest.approx(sum(chance[p] for p in likeliest))
    more = tree_from_accuracies(acc, num_nodes + 1)
    assert expected_accept_length(more, acc) >= expected_accept_length(tree, acc)


@pytest.mark.parametrize("choices", [SMALL_TREE, [[0], [0, 0], [0, 0, 0]], [[0], [1], [2]]])
def test_expected_accept_length_matches_a_simulation(choices):
    """Independent heads: head d's right token is at rank r with chance acc[d, r] (or not in
    its top k). A step keeps the deepest tree node whose every rank is right."""
    acc = random_accuracies(7).double()
    gen = torch.Generator().manual_seed(0)
    trials = 40_000
    misses = (1 - acc.sum(dim=1, keepdim=True)).clamp(min=0)
    ranks = torch.multinomial(torch.cat((acc, misses), dim=1), trials, replacement=True,
                              generator=gen)  # (heads, trials); rank k = missed
    paths = {tuple(p) for p in choices}
    kept = torch.zeros(trials)
    for t in range(trials):
        right, depth = (), 0
        while depth < acc.shape[0] and right + (int(ranks[depth, t]),) in paths:
            right, depth = right + (int(ranks[depth, t]),), depth + 1
        kept[t] = depth
    expected = expected_accept_length(choices, acc)
    assert abs(kept.mean().item() - expected) < 4 * kept.std().item() / trials**0.5


def test_tree_from_accuracies_refuses_bad_input():
    with pytest.raises(ValueError, match="chances in"):
        tree_from_accuracies([[1.5, 0.1]], 1)
    with pytest.raises(ValueError, match="positive int"):
        tree_from_accuracies([[0.5, 0.1]], 0)
    with pytest.raises(ValueError, match="fewer than"):
        tree_from_accuracies([[0.5, 0.1]], 3)
    with pytest.raises(ValueError, match="deep"):
        expected_accept_length([[0], [0, 0]], [[0.5, 0.1]])


# ---------------------------------------------------------------------------------------------
# On the zoo model and its trained heads
# ---------------------------------------------------------------------------------------------


@functools.cache
def base_and_heads():
    model, tok = zoo.load("base")
    return model, tok, MedusaHeads.from_zoo("base", model=model)


def validation_windows(start=228, step=40, seq_len=64):
    from tinylm.zoo import token_stream, windows
    return windows(token_stream("validation", corpus_seed=0)[0], seq_len)[start::step]


def test_head_accuracies_top1_is_the_trainers_top1():
    model, _, heads = base_and_heads()
    val = validation_windows()
    acc = head_accuracies(model, heads, val)
    assert acc.shape == (heads.num_heads, TOPK)
    assert torch.all(acc.sum(dim=1) <= 1 + 1e-6)
    scores = evaluate_heads(model, heads, val)  # the zoo trainer's scoring, its own code
    assert acc[:, 0].tolist() == pytest.approx(scores["head_top1"], abs=1e-6)
    assert acc[0, 0] > 0.3  # trained heads on the templated text guess well


def test_traced_generation_adds_up():
    model, tok, heads = base_and_heads()
    ids = torch.tensor([tok.encode("Once upon a time").ids])
    out = medusa_generate(model, heads, ids, max_new_tokens=30, choices=SMALL_TREE, trace=True)
    assert torch.equal(out.sequences, generate(model, ids, max_new_tokens=30).sequences)
    bufs = out.buffers
    assert len(out.steps) == len(out.accept_lengths)
    text = []
    for step, kept in zip(out.steps, out.accept_lengths, strict=True):
        assert len(step.tree_tokens) == len(step.probs) == len(step.predicted) == bufs.num_nodes
        assert all(0 < p <= 1 for p in step.probs)
        assert len(step.path) == kept + 1 and step.path[0] == 0
        assert step.path == bufs.retrieve_indices[step.row, :kept + 1].tolist()
        for parent, child in itertools.pairwise(step.path):  # greedy: each kept token is
            assert step.tree_tokens[child] == step.predicted[parent]  # the model's next token
        text += [step.tree_tokens[node] for node in step.path]
    assert text == out.sequences[0, ids.shape[1]:].tolist()
    assert max(out.accept_lengths) >= 1


@pytest.mark.parametrize("share", [True, False])
def test_the_first_heads_alone_are_the_first_rows_of_all_heads(share):
    model, _, _ = base_and_heads()
    heads = MedusaHeads.from_model(model, num_heads=4, seed=3, share_output_head=share)
    for k, block in enumerate(heads.heads):  # move the blocks off zero: the heads differ
        torch.nn.init.normal_(block[0].linear.weight, std=0.05,
                              generator=torch.Generator().manual_seed(k))
    hidden = torch.randn(3, model.config.dim, generator=torch.Generator().manual_seed(0))
    every = heads(hidden)
    assert every.shape == (4, 3, model.config.vocab_size)
    for k in (1, 2, 4):
        # equal up to rounding: a product over fewer rows may add in another order
        torch.testing.assert_close(heads(hidden, k), every[:k], rtol=0, atol=1e-5)
    assert not torch.allclose(every[0], every[1])
