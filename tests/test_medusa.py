"""tinylm.medusa against its oracles: the paper's code, sequential decoding, plain greedy.

- Tree buffers equal their definitions, computed here from the choice paths (node i attends to
  j iff j's path prefixes i's, depth, the token-pool index, root-to-leaf paths), and equal what
  the paper's ``generate_medusa_buffers`` (FasterDecoding/Medusa, medusa/model/utils.py, ported
  below) returns, for the 63-node tree, small trees and random trees.
- ``tree_logits`` row i equals the logits after feeding the root-to-i path one token at a time
  (the zoo's base model, atol 1e-4): the tree mask and position ids are right.
- Greedy Medusa returns exactly ``generate()``'s greedy tokens, for several prompts and trees,
  with seeded random heads, heads started from the output head, and heads that know the greedy
  continuation (so that many candidates are accepted and the KV cache is rolled back to paths
  deeper than the root); the accepted lengths add up to the tokens generated.
- Typical acceptance equals the paper's ``evaluate_posterior`` (ported below) and a per-token
  loop over its formula, on random logits.
- Bad trees, batches, heads and lengths are refused with a message.
"""

import functools
import itertools
import random

import pytest
import torch
from torch import nn

from tinylm import zoo
from tinylm.generation import generate
from tinylm.llama import Llama, LlamaConfig
from tinylm.medusa import (
    MC_SIM_7B_63,
    TOPK,
    MedusaBuffers,
    MedusaHeads,
    evaluate_posterior,
    generate_candidates,
    medusa_buffers,
    medusa_generate,
    tree_logits,
)

SMALL_TREE = [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]
CHAIN = [[0], [0, 0], [0, 0, 0]]
WIDE = [[r] for r in range(TOPK)]
PROMPTS = ["Once upon a time", '{"name": "', "12 + 7 =", "The city of"]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@functools.cache
def base():
    return zoo.load("base")


def encode(text: str) -> torch.Tensor:
    _, tok = base()
    return torch.tensor([tok.encode(text).ids])


def random_tree(seed: int, size: int, depth: int = 4) -> list[list[int]]:
    """A random tree of ``size`` paths: each new node hangs under a random existing one."""
    rng = random.Random(seed)
    paths = set()
    while len(paths) < size:
        parent = rng.choice([()] + [p for p in paths if len(p) < depth])
        paths.add(parent + (rng.randrange(TOPK),))
    paths = [list(p) for p in paths]
    rng.shuffle(paths)
    return paths


# ---------------------------------------------------------------------------------------------
# The paper's code (FasterDecoding/Medusa, medusa/model/utils.py), ported as the oracle
# ---------------------------------------------------------------------------------------------


def paper_pad_path(path, length, pad_value=-2):
    return path + [pad_value] * (length - len(path))


def paper_generate_medusa_buffers(medusa_choices):
    sorted_medusa_choices = sorted(medusa_choices, key=lambda x: (len(x), x))
    medusa_len = len(sorted_medusa_choices) + 1

    depth_counts = []
    prev_depth = 0
    for path in sorted_medusa_choices:
        depth = len(path)
        if depth != prev_depth:
            depth_counts.append(0)
        depth_counts[depth - 1] += 1
        prev_depth = depth

    medusa_attn_mask = torch.eye(medusa_len, medusa_len)
    medusa_attn_mask[:, 0] = 1
    start = 0
    for i in range(len(depth_counts)):
        for j in range(depth_counts[i]):
            cur_medusa_choice = sorted_medusa_choices[start + j]
            if len(cur_medusa_choice) == 1:
                continue
            ancestor_idx = []
            for c in range(len(cur_medusa_choice) - 1):
                ancestor_idx.append(sorted_medusa_choices.index(cur_medusa_choice[:c + 1]) + 1)
            medusa_attn_mask[j + start + 1, ancestor_idx] = 1
        start += depth_counts[i]

    medusa_tree_indices = torch.zeros(medusa_len, dtype=torch.long)
    medusa_tree_indices[0] = 0
    start = 0
    for i in range(len(depth_counts)):
        for j in range(depth_counts[i]):
            cur_medusa_choice = sorted_medusa_choices[start + j]
            medusa_tree_indices[start + j + 1] = cur_medusa_choice[-1] + TOPK * i + 1
        start += depth_counts[i]

    medusa_position_ids = torch.zeros(medusa_len, dtype=torch.long)
    start = 0
    for i in range(len(depth_counts)):
        medusa_position_ids[start + 1: start + depth_counts[i] + 1] = i + 1
        start += depth_counts[i]

    retrieve_indices_nest = []
    retrieve_paths = []
    for i in range(len(sorted_medusa_choices)):
        cur_medusa_choice = sorted_medusa_choices[-i - 1]
        retrieve_indice = []
        if cur_medusa_choice in retrieve_paths:
            continue
        else:
            for c in range(len(cur_medusa_choice)):
                retrieve_indice.append(sorted_medusa_choices.index(cur_medusa_choice[:c + 1]))
                retrieve_paths.append(cur_medusa_choice[:c + 1])
        retrieve_indices_nest.append(retrieve_indice)
    max_length = max([len(x) for x in retrieve_indices_nest])
    retrieve_indices = [paper_pad_path(path, max_length) for path in retrieve_indices_nest]
    retrieve_indices = torch.tensor(retrieve_indices, dtype=torch.long)
    retrieve_indices = retrieve_indices + 1
    retrieve_indices = torch.cat([torch.zeros((retrieve_indices.shape[0], 1), dtype=torch.long),
                                  retrieve_indices], dim=1)
    return {
        "medusa_attn_mask": medusa_attn_mask.unsqueeze(0).unsqueeze(0),
        "tree_indices": medusa_tree_indices,
        "medusa_position_ids": medusa_position_ids,
        "retrieve_indices": retrieve_indices,
    }


def paper_evaluate_posterior(logits, candidates, temperature, posterior_threshold,
                             posterior_alpha):
    if temperature == 0:
        posterior_mask = (candidates[:, 1:] == torch.argmax(logits[:, :-1], dim=-1)).int()
        candidates_accept_length = (torch.cumprod(posterior_mask, dim=1)).sum(dim=1)
        accept_length = candidates_accept_length.max()
        if accept_length == 0:
            best_candidate = torch.tensor(0, dtype=torch.long, device=candidates.device)
        else:
            best_candidate = torch.argmax(candidates_accept_length).to(torch.long)
        return best_candidate, accept_length
    posterior_prob = torch.softmax(logits[:, :-1] / temperature, dim=-1)
    candidates_prob = torch.gather(
        posterior_prob, dim=-1, index=candidates[:, 1:].unsqueeze(-1)).squeeze(-1)
    posterior_entropy = -torch.sum(posterior_prob * torch.log(posterior_prob + 1e-5), dim=-1)
    threshold = torch.minimum(torch.ones_like(posterior_entropy) * posterior_threshold,
                              torch.exp(-posterior_entropy) * posterior_alpha)
    posterior_mask = candidates_prob > threshold
    candidates_accept_length = (torch.cumprod(posterior_mask, dim=1)).sum(dim=1)
    accept_length = candidates_accept_length.max()
    if accept_length == 0:
        best_candidate = torch.tensor(0, dtype=torch.long, device=candidates.device)
    else:
        best_candidates = torch.where(candidates_accept_length == accept_length)[0]
        likelihood = torch.sum(
            torch.log(candidates_prob[best_candidates, :accept_length]), dim=-1)
        best_candidate = best_candidates[torch.argmax(likelihood)]
    return best_candidate, accept_length


# ---------------------------------------------------------------------------------------------
# Buffers
# ---------------------------------------------------------------------------------------------

TREES = [MC_SIM_7B_63, SMALL_TREE, CHAIN, WIDE, [[3]], [[0], [0, 5], [0, 5, 9], [2]]] + \
        [random_tree(seed, size) for seed, size in enumerate([5, 12, 30, 50])]


@pytest.mark.parametrize("choices", TREES, ids=lambda c: f"{len(c)}-paths")
def test_buffers_equal_the_paper_code(choices):
    ours = medusa_buffers(choices)
    paper = paper_generate_medusa_buffers(choices)
    assert torch.equal(ours.attn_mask, paper["medusa_attn_mask"][0, 0].bool())
    assert torch.equal(ours.position_ids, paper["medusa_position_ids"])
    assert torch.equal(ours.tree_indices, paper["tree_indices"])
    assert torch.equal(ours.retrieve_indices, paper["retrieve_indices"])


@pytest.mark.parametrize("choices", TREES, ids=lambda c: f"{len(c)}-paths")
def test_buffers_equal_their_definitions(choices):
    bufs = medusa_buffers(choices)
    paths = [()] + sorted((tuple(p) for p in choices), key=lambda p: (len(p), p))
    n = len(paths)
    assert bufs.num_nodes == n == len(choices) + 1
    assert [tuple(p) for p in bufs.choices] == paths[1:]
    assert bufs.depth == max(len(p) for p in choices)
    for i, j in itertools.product(range(n), range(n)):
        ancestor_or_self = paths[i][:len(paths[j])] == paths[j]  # the root's () prefixes all
        assert bool(bufs.attn_mask[i, j]) == ancestor_or_self, (paths[i], paths[j])
    assert bufs.position_ids.tolist() == [len(p) for p in paths]
    assert bufs.tree_indices.tolist() == [0] + [p[-1] + 10 * (len(p) - 1) + 1 for p in paths[1:]]
    leaves = {p for p in paths[1:] if not any(q != p and q[:len(p)] == p for q in paths)}
    rows = bufs.retrieve_indices.tolist()
    assert len(rows) == len(leaves)
    assert bufs.retrieve_indices.shape[1] == bufs.depth + 1
    found = set()
    for row in rows:
        nodes = [i for i in row if i != -1]
        assert row == nodes + [-1] * (len(row) - len(nodes))  # padding only at the end
        assert [paths[i] for i in nodes] == [paths[nodes[-1]][:d]
                                            for d in range(len(paths[nodes[-1]]) + 1)]
        found.add(paths[nodes[-1]])
    assert found == leaves


def test_default_tree_is_the_papers_63_nodes():
    bufs = medusa_buffers()
    assert bufs.num_nodes == 64 and bufs.depth == 4
    assert torch.equal(bufs.retrieve_indices,
                       paper_generate_medusa_buffers(MC_SIM_7B_63)["retrieve_indices"])


@pytest.mark.parametrize("choices, message", [
    ([], "non-empty"),
    ("[[0]]", "non-empty"),
    ([[0], []], "non-empty list of ranks"),
    ([[0], [0]], "twice"),
    ([[0], [0, 1], [0, 1]], "twice"),
    ([[0], [1, 0]], r"parent \[1\]"),
    ([[0], [0, 0, 1]], r"parent \[0, 0\]"),
    ([[10]], "rank"),
    ([[-1]], "rank"),
    ([[0.0]], "rank"),
    ([[True]], "rank"),
])
def test_bad_choices_are_refused(choices, message):
    with pytest.raises(ValueError, match=message):
        medusa_buffers(choices)


# ---------------------------------------------------------------------------------------------
# Tree attention: one pass equals sequential decoding of every path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("choices, prompt, seed", [
    (SMALL_TREE, PROMPTS[0], 0), (MC_SIM_7B_63, PROMPTS[1], 1), (random_tree(9, 20), PROMPTS[2], 2),
    (WIDE, PROMPTS[3], 3)])
def test_tree_logits_equal_sequential_decoding_of_each_path(choices, prompt, seed):
    model, _ = base()
    bufs = medusa_buffers(choices)
    ids = encode(prompt)
    gen = torch.Generator().manual_seed(seed)
    tree_tokens = torch.randint(0, model.config.vocab_size, (bufs.num_nodes,), generator=gen)
    logits = tree_logits(model, ids, tree_tokens, bufs)
    assert logits.shape == (bufs.num_nodes, model.config.vocab_size)
    with torch.no_grad():
        for i in range(bufs.num_nodes):
            path = bufs.attn_mask[i].nonzero()[:, 0]  # the root, i's ancestors and i, in order
            sequence = torch.cat((ids, tree_tokens[path][None]), dim=1)
            expected = model(sequence)[0, -1]
            torch.testing.assert_close(logits[i], expected, atol=1e-4, rtol=0)


def test_tree_logits_see_only_their_own_branch():
    """Changing a token on one branch changes the logits on that branch only."""
    model, _ = base()
    bufs = medusa_buffers(SMALL_TREE)  # nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0]
    ids = encode(PROMPTS[0])
    tokens = torch.arange(100, 100 + bufs.num_nodes)
    changed = tokens.clone()
    changed[2] = 7  # the node [1]: its subtree is nodes 2 and 5
    before, after = (tree_logits(model, ids, t, bufs) for t in (tokens, changed))
    moved = [i for i in range(bufs.num_nodes) if not torch.allclose(before[i], after[i])]
    assert moved == [2, 5]


def test_llama_tree_mask_with_a_chain_is_causal_decoding():
    """A chain (lower-triangular tree mask, positions counting on) is ordinary decoding."""
    model, _ = base()
    ids = encode(PROMPTS[2])
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        model(ids[:, :2], cache=cache)
        t = ids.shape[1] - 2
        chain = torch.ones(t, t, dtype=torch.bool).tril()
        rest = model(ids[:, 2:], cache=cache, tree_mask=chain, position_ids=torch.arange(2, 2 + t))
    torch.testing.assert_close(rest, full[:, 2:], atol=1e-4, rtol=0)


def test_llama_refuses_bad_tree_inputs():
    model, _ = base()
    ids = encode(PROMPTS[0])
    t = ids.shape[1]
    eye = torch.eye(t, dtype=torch.bool)
    with pytest.raises(ValueError, match="cannot be combined"):
        model(ids, attention_mask=torch.ones_like(ids), tree_mask=eye)
    with pytest.raises(ValueError, match="tree_mask must be"):
        model(ids, tree_mask=torch.eye(t + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="diagonal"):
        model(ids, tree_mask=torch.zeros(t, t, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        model(ids, tree_mask=eye.float())
    with pytest.raises(ValueError, match="position_ids"):
        model(ids, position_ids=torch.arange(t + 1))
    with pytest.raises(ValueError, match="max_seq_len"):
        model(ids, position_ids=torch.arange(t) + model.config.max_seq_len)


# ---------------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------------


class FutureHeads(nn.Module):
    """Heads that know the greedy continuation: for the hidden state of position i of
    ``sequence``, head k ranks token i + k + 2 at ``rank(i, k)`` of its top 10 (others after it).
    Which position a hidden state belongs to is found by comparing with the hidden states of
    the whole sequence, computed once."""

    def __init__(self, model, sequence: torch.Tensor, num_heads: int, rank=lambda i, k: 0):
        super().__init__()
        self.dim, self.vocab_size, self.num_heads = model.config.dim, model.config.vocab_size, \
            num_heads
        self.sequence, self.rank = sequence[0], rank
        with torch.no_grad():
            self.states = model.hidden_states(sequence)[0]  # (length, dim)

    def forward(self, hidden):  # (dim,) -> (num_heads, vocab)
        distances = (self.states - hidden).norm(dim=-1)
        i = int(distances.argmin())
        assert distances[i] < 1e-3, "the hidden state is not one of the greedy sequence's"
        logits = torch.zeros(self.num_heads, self.vocab_size)
        for k in range(self.num_heads):
            decoys = torch.arange(TOPK) + 1000 * (k + 1)  # distinct filler tokens
            order = decoys.tolist()
            if i + k + 2 < len(self.sequence):
                token = int(self.sequence[i + k + 2])
                order = [t for t in order if t != token][:TOPK - 1]
                order.insert(self.rank(i, k), token)
            logits[k, order] = torch.linspace(10, 1, TOPK)
        return logits


def reference(prompt: str, max_new_tokens: int, eos=None) -> torch.Tensor:
    model, _ = base()
    return generate(model, encode(prompt), max_new_tokens=max_new_tokens,
                    eos_token_id=eos).sequences


def check_counts(out, prompt_len):
    generated = out.sequences.shape[1] - prompt_len
    assert generated == len(out.accept_lengths) + sum(out.accept_lengths)
    assert all(a >= 0 for a in out.accept_lengths)


@pytest.mark.parametrize("prompt, choices, seed", [
    (PROMPTS[0], None, 0), (PROMPTS[1], SMALL_TREE, 1), (PROMPTS[2], CHAIN, 2),
    (PROMPTS[3], WIDE, 3), (PROMPTS[0], random_tree(4, 15), 4)])
def test_greedy_equals_plain_greedy_with_random_heads(prompt, choices, seed):
    model, _ = base()
    heads = MedusaHeads(model.config.dim, model.config.vocab_size, num_heads=4, seed=seed)
    out = medusa_generate(model, heads, encode(prompt), max_new_tokens=40, choices=choices)
    assert torch.equal(out.sequences, reference(prompt, 40))
    check_counts(out, encode(prompt).shape[1])


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_plain_greedy_with_heads_from_the_output_head(prompt):
    model, _ = base()
    heads = MedusaHeads.from_model(model, num_heads=4, seed=0)
    out = medusa_generate(model, heads, encode(prompt), max_new_tokens=48)
    assert torch.equal(out.sequences, reference(prompt, 48))
    check_counts(out, encode(prompt).shape[1])


@pytest.mark.parametrize("prompt, choices, max_new_tokens", [
    (PROMPTS[0], CHAIN, 40), (PROMPTS[1], [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]], 33),
    (PROMPTS[2], None, 50)])
def test_heads_that_know_the_future_are_accepted_to_the_tree_depth(prompt, choices,
                                                                   max_new_tokens):
    """Perfect heads on a tree with the top-ranked path: every step keeps a full path, so the
    cache keeps the deepest path every time; the output is still plain greedy's."""
    model, _ = base()
    expected = reference(prompt, max_new_tokens)
    depth = medusa_buffers(choices).depth
    heads = FutureHeads(model, expected, num_heads=depth)
    out = medusa_generate(model, heads, encode(prompt), max_new_tokens=max_new_tokens,
                          choices=choices)
    assert torch.equal(out.sequences, expected)
    check_counts(out, encode(prompt).shape[1])
    assert out.accept_lengths[:-1] == [depth] * (len(out.accept_lengths) - 1)
    assert out.tokens_per_step > depth  # depth + 1 per step but for the trimmed last one


@pytest.mark.parametrize("prompt, seed", [(PROMPTS[0], 0), (PROMPTS[1], 1), (PROMPTS[3], 2)])
def test_heads_right_at_varying_ranks_give_varying_accepted_paths(prompt, seed):
    """The right token at a pseudo-random rank 0..3 per position and head: the 63-node tree
    holds some of those paths, so steps keep paths of several lengths and branches."""
    model, _ = base()
    expected = reference(prompt, 60)
    rng = random.Random(seed)
    ranks = {(i, k): rng.randrange(4) for i in range(expected.shape[1]) for k in range(4)}
    heads = FutureHeads(model, expected, num_heads=4, rank=lambda i, k: ranks[i, k])
    out = medusa_generate(model, heads, encode(prompt), max_new_tokens=60)
    assert torch.equal(out.sequences, expected)
    check_counts(out, encode(prompt).shape[1])
    assert len(set(out.accept_lengths)) >= 3
    assert max(out.accept_lengths) >= 2


def test_eos_stops_generation_like_generate():
    model, tok = base()
    prompt = PROMPTS[0]
    plain = reference(prompt, 60)
    eos = int(plain[0, encode(prompt).shape[1] + 12])  # a token greedy decoding produces
    expected = reference(prompt, 60, eos=eos)
    heads = FutureHeads(model, plain, num_heads=4)
    out = medusa_generate(model, heads, encode(prompt), max_new_tokens=60, eos_token_id=eos)
    assert torch.equal(out.sequences, expected)
    assert out.sequences[0, -1] == eos
    check_counts(out, encode(prompt).shape[1])


def test_typical_generation_keeps_the_greedy_root_and_counts_add_up():
    """Typical acceptance takes the first token greedily (the paper's rule), so a step that
    accepts nothing is a greedy step; and with a huge threshold nothing is accepted."""
    model, _ = base()
    heads = MedusaHeads.from_model(model, seed=0)
    out = medusa_generate(model, heads, encode(PROMPTS[0]), max_new_tokens=30, temperature=0.7,
                          posterior_threshold=1.0, posterior_alpha=1e9)
    assert out.accept_lengths == [0] * 30
    assert torch.equal(out.sequences, reference(PROMPTS[0], 30))
    out = medusa_generate(model, heads, encode(PROMPTS[1]), max_new_tokens=30, temperature=0.7)
    check_counts(out, encode(PROMPTS[1]).shape[1])


def test_generate_candidates_follow_tree_indices():
    bufs = medusa_buffers(SMALL_TREE)
    gen = torch.Generator().manual_seed(0)
    logits, head_logits = torch.randn(50, generator=gen), torch.randn(3, 50, generator=gen)
    tree_tokens, candidates = generate_candidates(logits, head_logits, bufs)
    ranked = head_logits.argsort(dim=-1, descending=True)  # (heads, vocab)
    assert tree_tokens[0] == logits.argmax()
    for node, path in enumerate(bufs.choices, start=1):
        assert tree_tokens[node] == ranked[len(path) - 1, path[-1]]
    for row, nodes in zip(candidates, bufs.retrieve_indices, strict=True):
        assert row.tolist() == [int(tree_tokens[n]) if n >= 0 else -1 for n in nodes]


def test_heads_shapes_start_and_zoo_file(tmp_path):
    model, _ = base()
    heads = MedusaHeads.from_model(model, num_heads=3, num_layers=2, seed=5)
    hidden = torch.randn(2, 7, model.config.dim)
    assert heads(hidden).shape == (3, 2, 7, model.config.vocab_size)
    for head in heads.heads:  # residual blocks start at W = 0, projections at the output head
        assert torch.equal(head[-1].weight, model.output.weight)
        assert all(not block.linear.weight.any() for block in head[:-1])
    again = MedusaHeads.from_model(model, num_heads=3, num_layers=2, seed=5)
    other = MedusaHeads.from_model(model, num_heads=3, num_layers=2, seed=6)
    assert torch.equal(heads(hidden), again(hidden))
    assert not torch.equal(heads(hidden), other(hidden))
    with pytest.raises(FileNotFoundError, match="train"):
        MedusaHeads.from_zoo("base", directory=tmp_path)
    heads.save(tmp_path / "medusa-base.safetensors")
    loaded = MedusaHeads.from_zoo("base", directory=tmp_path)
    assert (loaded.num_heads, loaded.num_layers) == (3, 2)
    torch.testing.assert_close(loaded(hidden), heads(hidden))


# ---------------------------------------------------------------------------------------------
# Acceptance rules on random logits
# ---------------------------------------------------------------------------------------------


def typical_by_hand(logits, candidates, temperature, epsilon, alpha):
    """Per path, per token: accept while p(x) > min(epsilon, alpha exp(-H)); the longest path,
    ties to the highest sum of log p of its accepted tokens, the first path if nothing."""
    best, best_key = 0, (0, 0.0)
    for row in range(len(candidates)):
        kept, log_likelihood = 0, 0.0
        for d in range(1, candidates.shape[1]):
            p = torch.softmax(logits[row, d - 1].double() / temperature, dim=-1)
            entropy = float(-(p * torch.log(p + 1e-5)).sum())
            x = int(candidates[row, d])
            if x < 0 or not float(p[x]) > min(epsilon, alpha * torch.exp(torch.tensor(-entropy))):
                break
            kept, log_likelihood = kept + 1, log_likelihood + float(torch.log(p[x]))
        if kept > best_key[0] or (kept == best_key[0] and kept > 0 and
                                  log_likelihood > best_key[1]):
            best, best_key = row, (kept, log_likelihood)
    return best, best_key[0]


def random_case(seed, paths=12, depth=4, vocab=50):
    """Random logits, flat to peaked, and candidates each drawn from them (plausible) or
    uniformly (mostly not), so that paths stop at various depths."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(paths, depth + 1, vocab, generator=gen) * (1 + 3 * (seed % 3))
    probs = torch.softmax(logits[:, :-1], dim=-1).reshape(-1, vocab)
    plausible = torch.multinomial(probs, 1, generator=gen).view(paths, depth)
    anything = torch.randint(0, vocab, (paths, depth), generator=gen)
    which = torch.rand(paths, depth, generator=gen) < 0.75
    following = torch.where(which, plausible, anything)
    candidates = torch.cat((torch.zeros(paths, 1, dtype=torch.long), following), dim=1)
    return logits, candidates


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("temperature, epsilon, alpha", [
    (1.0, 0.09, 0.3), (0.7, 0.09, 0.3), (1.0, 0.3, 0.55), (1.5, 0.05, 0.2), (1.0, 0.0, 0.3)])
def test_typical_acceptance_equals_the_paper_and_its_formula(seed, temperature, epsilon, alpha):
    logits, candidates = random_case(seed)
    best, length = evaluate_posterior(logits, candidates, temperature, epsilon, alpha)
    paper_best, paper_length = paper_evaluate_posterior(logits, candidates, temperature, epsilon,
                                                        alpha)
    assert (best, length) == (int(paper_best), int(paper_length))
    assert (best, length) == typical_by_hand(logits, candidates, temperature, epsilon, alpha)
    lengths = []  # each path alone: how far its candidates pass
    for row in range(len(candidates)):
        alone = logits[row:row + 1], candidates[row:row + 1]
        _, kept = evaluate_posterior(*alone, temperature, epsilon, alpha)
        assert kept == typical_by_hand(*alone, temperature, epsilon, alpha)[1]
        assert kept == int(paper_evaluate_posterior(*alone, temperature, epsilon, alpha)[1])
        lengths.append(kept)
    assert max(lengths) == length


@pytest.mark.parametrize("seed", range(12))
def test_greedy_acceptance_equals_the_paper(seed):
    logits, candidates = random_case(seed)
    argmax = logits.argmax(dim=-1)  # make some paths agree with the argmax for a while
    for row in range(0, len(candidates), 3):
        agree = row % 5
        candidates[row, 1:agree + 1] = argmax[row, :agree]
    best, length = evaluate_posterior(logits, candidates, 0.0)
    paper_best, paper_length = paper_evaluate_posterior(logits, candidates, 0, 0.09, 0.3)
    assert (best, length) == (int(paper_best), int(paper_length))
    agreeing = (candidates[:, 1:] == argmax[:, :-1]).long().cumprod(dim=1).sum(dim=1)
    assert length == int(agreeing.max()) and agreeing[best] == length


def test_padding_is_never_accepted():
    """The paper's code pads paths with token 0, which its greedy rule accepts where the argmax
    is 0; our -1 padding cannot be accepted."""
    logits = torch.full((1, 3, 5), -10.0)
    logits[..., 0] = 10.0  # the argmax is token 0 everywhere
    candidates = torch.tensor([[0, 0, -1]])
    assert evaluate_posterior(logits, candidates, 0.0) == (0, 1)
    assert evaluate_posterior(logits, candidates, 1.0, 0.09, 0.3) == (0, 1)


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_generate_refuses_bad_inputs():
    model, _ = base()
    heads = MedusaHeads.from_model(model, num_heads=4, seed=0)
    ids = encode(PROMPTS[0])
    with pytest.raises(ValueError, match="batch 1"):
        medusa_generate(model, heads, ids.repeat(2, 1), max_new_tokens=4)
    with pytest.raises(ValueError, match="batch 1"):
        tree_logits(model, ids.repeat(2, 1), torch.zeros(7, dtype=torch.long),
                    medusa_buffers(SMALL_TREE))
    other_vocab = MedusaHeads(model.config.dim, 100, num_heads=4, seed=0)
    with pytest.raises(ValueError, match="100 tokens"):
        medusa_generate(model, other_vocab, ids, max_new_tokens=4)
    other_width = MedusaHeads(32, model.config.vocab_size, num_heads=4, seed=0)
    with pytest.raises(ValueError, match="width 32"):
        medusa_generate(model, other_width, ids, max_new_tokens=4)
    with pytest.raises(ValueError, match="4 deep but there are only 2 heads"):
        medusa_generate(model, MedusaHeads.from_model(model, num_heads=2), ids, max_new_tokens=4)
    with pytest.raises(ValueError, match="max_seq_len"):
        medusa_generate(model, heads, ids, max_new_tokens=model.config.max_seq_len)
    with pytest.raises(ValueError, match="max_new_tokens"):
        medusa_generate(model, heads, ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        medusa_generate(model, heads, ids, max_new_tokens=4, temperature=-1.0)
    with pytest.raises(ValueError, match="twice"):
        medusa_generate(model, heads, ids, max_new_tokens=4, choices=[[0], [0]])
    with pytest.raises(ValueError, match="tree_tokens"):
        tree_logits(model, ids, torch.zeros(3, dtype=torch.long), medusa_buffers(SMALL_TREE))


def test_buffers_can_be_passed_instead_of_choices_and_moved():
    model, _ = base()
    bufs = medusa_buffers(SMALL_TREE)
    assert isinstance(bufs.to("cpu"), MedusaBuffers)
    heads = MedusaHeads.from_model(model, num_heads=3, seed=0)
    a = medusa_generate(model, heads, encode(PROMPTS[3]), max_new_tokens=20, choices=bufs)
    b = medusa_generate(model, heads, encode(PROMPTS[3]), max_new_tokens=20, choices=SMALL_TREE)
    assert torch.equal(a.sequences, b.sequences) and a.accept_lengths == b.accept_lengths


def test_tiny_model_with_a_vocabulary_smaller_than_the_top_k_is_refused():
    model = Llama(LlamaConfig(vocab_size=8, dim=16, n_layers=1, n_heads=2, max_seq_len=32),
                  seed=0).eval()
    heads = MedusaHeads.from_model(model, num_heads=1)
    with pytest.raises(ValueError, match="top 10"):
        medusa_generate(model, heads, torch.tensor([[1, 2]]), max_new_tokens=2, choices=[[0]])
