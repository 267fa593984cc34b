"""Checks of lab 7, Medusa (labs/07-medusa-lab.ipynb).

The reference is `tinylm.medusa`: `medusa_buffers` (Exercises 1 and 2), `generate_candidates`
(Exercise 3) and `evaluate_posterior`, greedy (Exercise 4) and typical (Exercise 5). Each check
runs the tiny cases of the lab's tasks, worked out there by hand, then cases from fixed seeds
against the reference: the paper's 63-node tree, a chain, a tree one level deep, a single node,
and random trees given in any order. The candidates and logits of Exercises 4 and 5 come from
real trees: the heads' top tokens fill the tree, and the base model's logits at a node lean,
more or less, towards one of its children, so that paths are accepted to every depth.

When an answer is wrong, the message names the node, row or path that differs, and which
known mistake the answer matches, if one does (a mask without the root's column, positions off
by one, padding with 0 instead of -1, a path that goes on after a refusal, the entropy's sign).
"""

from __future__ import annotations

import copy
import random

import torch

from tinylm.grading.checks.common import as_int, call, check_tensor, fail, torch_rng
from tinylm.medusa import (
    MC_SIM_7B_63,
    TOPK,
    evaluate_posterior,
    generate_candidates,
    medusa_buffers,
)

# The tree of the lab's worked examples: two children of the root, three grandchildren, one
# great-grandchild. In the paper's node order: 0 root, 1 [0], 2 [1], 3 [0, 0], 4 [0, 1],
# 5 [1, 0], 6 [0, 0, 0].
SMALL_TREE = [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]
CHAIN = [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]]
WIDE = [[rank] for rank in range(TOPK)]

SHOWN_NODES = 12  # trees up to this many nodes are listed in full in a message


def random_tree(seed: int, size: int, depth: int = 4) -> list[list[int]]:
    """A random tree of `size` paths in random order: each new node hangs under a random one."""
    rng = random.Random(seed)
    paths: set[tuple[int, ...]] = set()
    while len(paths) < size:
        parent = rng.choice([()] + sorted(p for p in paths if len(p) < depth))
        paths.add(parent + (rng.randrange(TOPK),))
    shuffled = [list(p) for p in sorted(paths)]
    rng.shuffle(shuffled)
    return shuffled


def trees() -> list[tuple[str, list[list[int]]]]:
    """The trees every buffer check runs: (label, choices)."""
    shuffled = [SMALL_TREE[i] for i in (5, 4, 2, 0, 3, 1)]
    cases = [("the worked example's tree", SMALL_TREE),
             ("the worked example's tree, its paths in another order", shuffled),
             ("a single node, [[0]]", [[0]]),
             ("a single node of rank 3, [[3]]", [[3]]),
             ("a chain of four nodes", CHAIN),
             ("ten children of the root", WIDE),
             ("a deep, narrow tree given unsorted", [[0, 5, 9], [2], [0], [0, 5]]),
             ("the paper's 63-node tree, MC_SIM_7B_63", MC_SIM_7B_63)]
    cases += [(f"a random tree (seed {seed}, {size} paths)", random_tree(seed, size))
              for seed, size in enumerate([5, 9, 17, 30, 50])]
    return cases


# -- shared helpers ------------------------------------------------------------------------------


def _pair(got, what: str, names: str):
    """The two values of a returned pair, or fail saying what came back."""
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        f"{what}: expected a pair {names}, got {type(got).__name__} "
        f"{_short(got)}" + ("; did you forget `return`?" if got is None else ""))
    return got


def _rows_wrong(wrong: int, total: int) -> str:
    """"1 of 7 rows is wrong", "2 of 7 rows are wrong"."""
    return f"{wrong} of {total} rows {'is' if wrong == 1 else 'are'} wrong"


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _unchanged(before: list, after: list, what: str, hint: str) -> None:
    for old, new in zip(before, after, strict=True):
        same = torch.equal(old, new) if isinstance(old, torch.Tensor) else old == new
        assert same, f"{what} changed its input: leave it as it was ({hint})"


def _node_order(choices) -> list[list[int]]:
    """The paths in the paper's node order: node i + 1 is the i-th (the root is node 0)."""
    return sorted((list(p) for p in choices), key=lambda p: (len(p), p))


def _node(paths: list[list[int]], i: int) -> str:
    return "the root" if i == 0 else f"node {i}, path {paths[i - 1]}"


def _order_note(paths: list[list[int]]) -> str:
    """The node order of a small tree, spelled out."""
    if len(paths) + 1 > SHOWN_NODES:
        return ""
    listed = ", ".join([f"{i + 1} {p}" for i, p in enumerate(paths)])
    return f" (the nodes in order: 0 root, {listed})"


def _variant_hint(got: torch.Tensor, expected: torch.Tensor, variants) -> str:
    """The advice of the first known mistake that gives exactly `got`, if one does."""
    for hint, variant in variants:
        if (variant is not None and variant.shape == got.shape and torch.equal(got, variant)
                and not torch.equal(expected, variant)):
            return f" ({hint})"
    return ""


def _choices_call(fn, choices, what: str, names: str):
    """Call fn(choices) on a copy; check it left the copy alone and returned a pair."""
    given = copy.deepcopy(choices)
    got = call(fn, given, call=what,
               hints={KeyError: "Number every path first (a dictionary from tuple(path) to its "
                                "node), then look up the ancestors",
                      TypeError: "If it says unhashable type 'list': lists cannot be dictionary "
                                 "keys or set members, tuple(path) can"})
    _unchanged([choices], [given], what, "sort a copy, sorted(choices, key=...), not the list "
                                         "itself")
    return _pair(got, what, names)


def _mask_and_positions(paths_in_order: list[list[int]], parents_only: bool = False):
    """attn_mask and position_ids of the nodes in the given order (for recognising mistakes)."""
    node = {tuple(p): i + 1 for i, p in enumerate(paths_in_order)}
    mask = torch.eye(len(paths_in_order) + 1, dtype=torch.bool)
    mask[:, 0] = True
    for path in paths_in_order:
        ancestors = [path[:-1]] if parents_only else [path[:d] for d in range(1, len(path))]
        for ancestor in ancestors:
            if ancestor:
                mask[node[tuple(path)], node[tuple(ancestor)]] = True
    positions = torch.tensor([0] + [len(p) for p in paths_in_order])
    return mask, positions


# -- Exercise 1: the tree attention mask and position ids ----------------------------------------


def _mask_mistakes(choices, expected: torch.Tensor):
    paths = _node_order(choices)
    no_root = expected.clone()
    no_root[1:, 0] = False
    no_self = expected & ~torch.eye(len(expected), dtype=torch.bool)
    no_self[0, 0] = True  # the root still sees itself through the root column
    return [
        ("every node attends to the root, column 0: the root is the token the base model "
         "chose, the start of every path", no_root),
        ("every node attends to itself too: set the diagonal", no_self),
        ("row i is the node that looks, column j the node it sees: node i attends to its "
         "ancestors, not to the nodes below it; you built the transpose", expected.T.clone()),
        ("a node attends to all its ancestors, the root, its grandparent and so on, not only "
         "to its parent", _mask_and_positions(paths, parents_only=True)[0]),
        ("number the nodes in the paper's order: sort the paths by length, then by value, "
         "not in the order they are given", _mask_and_positions(list(choices))[0]),
        ("sort the paths by length first, then by value: sorted(choices) alone puts [0, 0] "
         "before [1]", _mask_and_positions(sorted(list(p) for p in choices))[0]),
    ]


def _position_mistakes(choices, expected: torch.Tensor):
    n = len(expected)
    return [
        ("off by one: the root is at position 0 and a node's position is its depth, "
         "len(path)", expected + 1),
        ("off by one: a node's position is its depth, len(path), and the root's is 0",
         torch.cat((expected[:1], expected[1:] - 1))),
        ("a node's position is its depth, not its index: siblings share a position, as the "
         "tokens they stand for would all come at the same place in the text",
         torch.arange(n)),
        ("number the nodes in the paper's order: sort the paths by length, then by value",
         _mask_and_positions(list(choices))[1]),
    ]


def _check_mask(got, expected, choices, what) -> None:
    check_tensor(got, f"{what}, attn_mask", expected.shape, dtype=torch.bool)
    if torch.equal(got, expected):
        return
    paths = _node_order(choices)
    wrong = (got != expected).any(dim=1).nonzero()[:, 0].tolist()
    i = wrong[0]
    fail(f"{what}, attn_mask: {_rows_wrong(len(wrong), len(expected))}, the first row "
         f"{i} ({_node(paths, i)}): it should attend to nodes "
         f"{expected[i].nonzero()[:, 0].tolist()}, got {got[i].nonzero()[:, 0].tolist()}"
         f"{_variant_hint(got, expected, _mask_mistakes(choices, expected))}{_order_note(paths)}")


def _check_per_node(got, expected, choices, what, name, mistakes) -> None:
    """A per-node vector (position_ids, tree_indices): equal, or fail naming the first node
    that differs and the known mistake its values match (``mistakes(choices, expected)``)."""
    check_tensor(got, f"{what}, {name}", expected.shape, dtype=torch.int64)
    if torch.equal(got, expected):
        return
    paths = _node_order(choices)
    i = int((got != expected).nonzero()[0])
    if len(expected) <= SHOWN_NODES:
        shown = f"expected {expected.tolist()}, got {got.tolist()}"
    else:
        shown = (f"{int((got != expected).sum())} of {len(expected)} differ, the first at "
                 f"{_node(paths, i)}: expected {int(expected[i])}, got {int(got[i])}")
    fail(f"{what}, {name}: {shown}"
         f"{_variant_hint(got, expected, mistakes(choices, expected))}{_order_note(paths)}")


def tree_mask(tree_mask_and_positions) -> None:
    """Exercise 1: `tree_mask_and_positions(choices)`, (attn_mask, position_ids), against
    `tinylm.medusa.medusa_buffers` on the worked example (by hand) and on trees of every shape."""
    # 1. The worked example, by hand: who sees whom, and each node's depth
    seen = [[0], [0, 1], [0, 2], [0, 1, 3], [0, 1, 4], [0, 2, 5], [0, 1, 3, 6]]
    by_hand = torch.zeros(7, 7, dtype=torch.bool)
    for row, columns in enumerate(seen):
        by_hand[row, columns] = True
    by_hand_positions = torch.tensor([0, 1, 1, 2, 2, 2, 3])
    # 2. Every tree, against the package's buffers
    for label, choices in trees():
        what = f"tree_mask_and_positions({label})"
        got = _choices_call(tree_mask_and_positions, choices, what, "(attn_mask, position_ids)")
        bufs = medusa_buffers(choices)
        if choices is SMALL_TREE:
            assert torch.equal(bufs.attn_mask, by_hand)  # the worked example is the package's
            assert torch.equal(bufs.position_ids, by_hand_positions)
        _check_mask(got[0], bufs.attn_mask, choices, what)
        _check_per_node(got[1], bufs.position_ids, choices, what, "position_ids",
                        _position_mistakes)


# -- Exercise 2: tree indices and retrieve indices -----------------------------------------------


def _tree_index_mistakes(choices, expected: torch.Tensor):
    paths = _node_order(choices)
    ranks = torch.tensor([0] + [p[-1] for p in paths])
    depths = torch.tensor([0] + [len(p) for p in paths])
    return [
        ("the pool starts with the root: rank r of head d sits at 1 + 10 * (d - 1) + r, so "
         "node [0] takes entry 1, not 0", torch.where(depths > 0, expected - 1, expected)),
        ("head d's top 10 start at 1 + 10 * (d - 1): head 1's at 1, head 2's at 11; you "
         "counted 10 * d", torch.where(depths > 0, expected + TOPK, expected)),
        ("the rank alone does not say which head: add 10 * (depth - 1), and 1 for the root",
         ranks),
        ("number the nodes in the paper's order: sort the paths by length, then by value",
         torch.tensor([0] + [p[-1] + TOPK * (len(p) - 1) + 1 for p in choices])),
    ]


def _retrieve_mistakes(expected: torch.Tensor):
    return [
        ("pad with -1, not 0: 0 is the root, a real node, and a padded 0 would look like a "
         "path that goes back to the root", expected.clamp(min=0)),
        ("list the leaves last node first, in reverse node order, as medusa_buffers and the "
         "paper's code do: the order of the rows decides which of two equally good paths "
         "wins", expected.flip(0)),
    ]


def _path_of(row: list[int]) -> str:
    last = max(i for i in row if i >= 0) if any(i >= 0 for i in row) else 0
    return f"the path to node {last}"


def _check_retrieve(got, expected, choices, what) -> None:
    paths = _node_order(choices)
    leaves, width = expected.shape
    if isinstance(got, torch.Tensor) and got.ndim == 2 and tuple(got.shape) != (leaves, width):
        if got.shape[0] == len(paths) != leaves:
            fail(f"{what}, retrieve_indices: expected shape {(leaves, width)}, got "
                 f"{tuple(got.shape)}: one row per leaf, a path that is no other path's "
                 f"prefix; this tree has {len(paths)} paths but {leaves} leaves")
        if got.shape == (leaves, width - 1):
            fail(f"{what}, retrieve_indices: expected shape {(leaves, width)}, got "
                 f"{tuple(got.shape)}: every row starts with the root, node 0, then the nodes "
                 f"of one path, depth + 1 = {width} columns")
    check_tensor(got, f"{what}, retrieve_indices", expected.shape, dtype=torch.int64)
    if torch.equal(got, expected):
        return
    wrong = (got != expected).any(dim=1).nonzero()[:, 0].tolist()
    row = wrong[0]
    fail(f"{what}, retrieve_indices: {_rows_wrong(len(wrong), leaves)}, the first row "
         f"{row} ({_path_of(expected[row].tolist())}): expected {expected[row].tolist()}, got "
         f"{got[row].tolist()}{_variant_hint(got, expected, _retrieve_mistakes(expected))}"
         f"{_order_note(paths)}")


def tree_indices(tree_and_retrieve_indices) -> None:
    """Exercise 2: `tree_and_retrieve_indices(choices)`, (tree_indices, retrieve_indices),
    against `tinylm.medusa.medusa_buffers` on the worked example (by hand) and on trees of every
    shape."""
    by_hand_tree = torch.tensor([0, 1, 2, 11, 12, 11, 21])
    by_hand_retrieve = torch.tensor([[0, 1, 3, 6], [0, 2, 5, -1], [0, 1, 4, -1]])
    for label, choices in trees():
        what = f"tree_and_retrieve_indices({label})"
        got = _choices_call(tree_and_retrieve_indices, choices, what,
                            "(tree_indices, retrieve_indices)")
        bufs = medusa_buffers(choices)
        if choices is SMALL_TREE:
            assert torch.equal(bufs.tree_indices, by_hand_tree)  # the worked example's
            assert torch.equal(bufs.retrieve_indices, by_hand_retrieve)
        _check_per_node(got[0], bufs.tree_indices, choices, what, "tree_indices",
                        _tree_index_mistakes)
        _check_retrieve(got[1], bufs.retrieve_indices, choices, what)


# -- Exercise 3: the candidates ------------------------------------------------------------------


def worked_heads() -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 3's worked example: the base model picks 7; head 1 ranks 3 then 5, head 2 ranks
    2 then 9, head 3 ranks 4 first (vocabulary of 12)."""
    logits = torch.zeros(12)
    logits[7] = 1.0
    head_logits = torch.zeros(3, 12)
    head_logits[0, [3, 5]] = torch.tensor([2.0, 1.0])
    head_logits[1, [2, 9]] = torch.tensor([2.0, 1.0])
    head_logits[2, 4] = 2.0
    return logits, head_logits


def _candidate_mistakes(logits, head_logits, bufs, expected_tokens, expected_candidates):
    """(advice, tree_tokens, candidates) of known wrong versions."""
    top = head_logits[:bufs.depth].topk(TOPK, dim=-1).indices  # (depth, 10)
    padded = bufs.retrieve_indices < 0
    unmasked = expected_tokens[bufs.retrieve_indices]  # -1 picks the last node's token
    root_from_head = torch.cat((head_logits[0].argmax(dim=-1, keepdim=True), top.flatten()))
    bottom = head_logits[:bufs.depth].topk(TOPK, dim=-1, largest=False).indices
    smallest = torch.cat((logits.argmax(dim=-1, keepdim=True), bottom.flatten()))
    rootless = top.flatten()  # the heads' tokens without the root in front
    shifted = rootless[bufs.tree_indices] if int(bufs.tree_indices.max()) < len(rootless) else None
    return [
        ("the padding -1 of retrieve_indices is not a node: indexing with it picks the last "
         "node's token; put -1 back where retrieve_indices is -1",
         None, unmasked),
        ("pad the candidates with -1, as retrieve_indices is padded: 0 is a real token",
         None, expected_candidates.masked_fill(padded, 0)),
        ("the root is the base model's own next token, the argmax of logits, not of a head's",
         root_from_head[bufs.tree_indices], None),
        ("rank 0 is a head's most likely token: take the top 10 largest logits, in "
         "descending order", smallest[bufs.tree_indices], None),
        ("the pool of tokens starts with the root, then head 1's top 10, head 2's top 10, "
         "...: tree_indices count the root as entry 0", shifted, None),
    ]


def _check_tokens(got, expected, bufs, what, hint) -> None:
    check_tensor(got, f"{what}, tree_tokens", expected.shape, dtype=torch.int64)
    if torch.equal(got, expected):
        return
    paths = bufs.choices
    i = int((got != expected).nonzero()[0])
    where = ("the root, the base model's argmax" if i == 0 else
             f"node {i}, path {paths[i - 1]}: rank {paths[i - 1][-1]} of head "
             f"{len(paths[i - 1])}")
    shown = (f"; the whole tree: expected {expected.tolist()}, got {got.tolist()}"
             if len(expected) <= SHOWN_NODES else "")
    fail(f"{what}, tree_tokens: {int((got != expected).sum())} of {len(expected)} nodes "
         f"differ, the first {where}: expected {int(expected[i])}, got {int(got[i])}"
         f"{shown}{hint}")


def _check_candidates(got, expected, bufs, what, hint) -> None:
    check_tensor(got, f"{what}, candidates", expected.shape, dtype=torch.int64)
    if torch.equal(got, expected):
        return
    wrong = (got != expected).any(dim=1).nonzero()[:, 0].tolist()
    row = wrong[0]
    fail(f"{what}, candidates: {_rows_wrong(len(wrong), len(expected))}, the first row "
         f"{row} ({_path_of(bufs.retrieve_indices[row].tolist())}, nodes "
         f"{bufs.retrieve_indices[row].tolist()}): expected {expected[row].tolist()}, got "
         f"{got[row].tolist()}{hint}")


def _candidate_case(generate_candidates_fn, logits, head_logits, bufs, what) -> None:
    tree_idx, retrieve = bufs.tree_indices.clone(), bufs.retrieve_indices.clone()
    inputs = [logits.clone(), head_logits.clone(), tree_idx.clone(), retrieve.clone()]
    hints = {IndexError: "The pool of tokens is [root, head 1's top 10, head 2's top 10, ...], "
                         "1 + 10 * depth entries, in that order"}
    got = _pair(call(generate_candidates_fn, logits, head_logits, tree_idx, retrieve, call=what,
                     hints=hints), what, "(tree_tokens, candidates)")
    _unchanged(inputs, [logits, head_logits, tree_idx, retrieve], what,
               "compute new tensors, no in-place operations such as masked_fill_ or clamp_")
    tokens, candidates = generate_candidates(logits, head_logits, bufs)
    mistakes = _candidate_mistakes(logits, head_logits, bufs, tokens, candidates)
    got_tokens, got_candidates = got
    token_hint = next((f" ({advice})" for advice, variant, _ in mistakes
                       if variant is not None and isinstance(got_tokens, torch.Tensor)
                       and variant.shape == got_tokens.shape
                       and torch.equal(got_tokens, variant)), "")
    _check_tokens(got_tokens, tokens, bufs, what, token_hint)
    candidate_hint = next((f" ({advice})" for advice, _, variant in mistakes
                           if variant is not None and isinstance(got_candidates, torch.Tensor)
                           and variant.shape == got_candidates.shape
                           and torch.equal(got_candidates, variant)), "")
    _check_candidates(got_candidates, candidates, bufs, what, candidate_hint)


def candidates(generate_candidates_fn) -> None:
    """Exercise 3: `generate_candidates(logits, head_logits, tree_indices, retrieve_indices)`,
    (tree_tokens, candidates), against `tinylm.medusa.generate_candidates`."""
    # 1. The worked example, by hand
    logits, head_logits = worked_heads()
    bufs = medusa_buffers(SMALL_TREE)
    tokens, paths = generate_candidates(logits, head_logits, bufs)
    assert tokens.tolist() == [7, 3, 5, 2, 9, 2, 4]  # the worked example is the package's
    assert paths.tolist() == [[7, 3, 2, 4], [7, 5, 2, -1], [7, 3, 9, -1]]
    _candidate_case(generate_candidates_fn, logits, head_logits, bufs,
                    "generate_candidates(the worked example)")
    # 2. Random logits: every tree, vocabularies from 10 (a head's whole top 10) to 4,096,
    # and more heads than the tree is deep
    for seed, (label, choices) in enumerate(trees()):
        bufs = medusa_buffers(choices)
        gen = torch_rng(seed)
        vocab = [10, 13, 50, 4096][seed % 4]
        num_heads = bufs.depth + seed % 3
        logits = 3 * torch.randn(vocab, generator=gen)
        head_logits = 3 * torch.randn(num_heads, vocab, generator=gen)
        _candidate_case(generate_candidates_fn, logits, head_logits, bufs,
                        f"generate_candidates(random logits, vocab={vocab}, {num_heads} heads, "
                        f"{label})")


# -- Exercises 4 and 5: acceptance ---------------------------------------------------------------


def one_hot_logits(argmaxes, vocab: int) -> torch.Tensor:
    """Logits (len, vocab) whose argmax in row i is argmaxes[i]."""
    return 4.0 * torch.nn.functional.one_hot(torch.tensor(argmaxes), vocab).float()


def greedy_cases():
    """The tiny cases of Exercise 4, worked out in its task: (label, path logits, candidates,
    (best, accept_length))."""
    bufs = medusa_buffers(SMALL_TREE)
    candidates = torch.tensor([[7, 3, 2, 4], [7, 5, 2, -1], [7, 3, 9, -1]])
    rows = bufs.retrieve_indices.clamp(min=0)
    # the base model's argmax after each node 0..6 (tokens 7, 3, 5, 2, 9, 2, 4)
    cases = [("the worked example", [3, 9, 1, 6, 0, 8, 5], (2, 2)),
             ("the worked example where nothing starts right", [4, 9, 2, 6, 0, 8, 5], (0, 0)),
             ("the worked example where two paths accept 1", [3, 8, 1, 6, 0, 8, 5], (0, 1)),
             ("the worked example where the longest path is accepted whole",
              [3, 2, 1, 4, 0, 8, 5], (0, 3))]
    return [(label, one_hot_logits(argmaxes, 12)[rows], candidates, expected)
            for label, argmaxes, expected in cases]


def typical_cases():
    """The tiny cases of Exercise 5, worked out in its task: (label, path logits, candidates,
    temperature, (best, accept_length))."""
    def logits(*rows):
        return torch.log(torch.tensor(rows))

    root = [0.5, 0.3, 0.1, 0.1]
    flat, sure, after_two = [0.25] * 4, [0.97, 0.01, 0.01, 0.01], [0.9, 0.05, 0.03, 0.02]
    candidates = torch.tensor([[0, 1, 3], [0, 0, 2], [0, 2, -1]])
    example = torch.stack([logits(root, flat, flat), logits(root, sure, flat),
                           logits(root, after_two, root)])
    likelier = example.clone()
    likelier[1, 1] = logits([0.1, 0.1, 0.6, 0.2])
    uniform = torch.zeros(2, 20)  # p = 1/20 everywhere: H = log 20, the threshold 0.3 / 20
    return [("the worked example", example, candidates, 1.0, (0, 2)),
            ("the worked example where two paths accept 2", likelier, candidates, 1.0, (1, 2)),
            ("the worked example of a flat distribution over 20 tokens", uniform[None],
             torch.tensor([[5, 11]]), 1.0, (0, 1))]


def tree_case(seed: int, choices, vocab: int, sharpness: float = 2.0, follow: float = 0.75,
              lean: tuple[float, float] = (0.5, 2.0)):
    """Path logits (leaves, depth + 1, vocab) and candidates (leaves, depth + 1) of a real
    tree: the heads' top tokens fill it (`generate_candidates`), and the base model's logits at
    a node lean, with probability `follow`, towards the token of one of its children (most
    often rank 0): that token's logit is set to the node's largest plus `sharpness` times a
    uniform draw from `lean` (above 0 it becomes the argmax; below, it may still pass the
    typical rule). After a leaf, they lean the same way towards token 0, which a path padded
    with 0 would then accept."""
    gen = torch_rng(seed)
    bufs = medusa_buffers(choices)
    base = torch.randn(vocab, generator=gen)
    heads = torch.randn(bufs.depth, vocab, generator=gen)
    tokens, candidates = generate_candidates(base, heads, bufs)
    node_logits = sharpness * torch.randn(bufs.num_nodes, vocab, generator=gen)
    node = {tuple(p): i + 1 for i, p in enumerate(bufs.choices)}
    children: dict[int, list[int]] = {}
    for path in bufs.choices:
        children.setdefault(node.get(tuple(path[:-1]), 0), []).append(node[tuple(path)])
    low, high = lean
    for i in range(bufs.num_nodes):
        if float(torch.rand((), generator=gen)) >= follow:
            continue
        kids = children.get(i)
        if kids:
            first = float(torch.rand((), generator=gen)) < 0.7
            pick = kids[0] if first else kids[int(torch.randint(len(kids), (), generator=gen))]
            token = int(tokens[pick])
        else:
            token = 0
        height = low + (high - low) * float(torch.rand((), generator=gen))
        node_logits[i, token] = node_logits[i].max() + sharpness * height
    return node_logits[bufs.retrieve_indices.clamp(min=0)], candidates


def acceptance_variant(logits, candidates, temperature=0.0, posterior_threshold=0.09,
                       posterior_alpha=0.3, *, in_a_row=True, pad_is_token_0=False, judge_shift=1,
                       entropy_sign=1.0, combine=torch.minimum, use_temperature=True,
                       log_eps=1e-5, likeliest=True, count_root=False):
    """`evaluate_posterior` with one thing changed, to recognise a mistake by its result. With
    the defaults it is `evaluate_posterior` itself (the tests check that)."""
    following = candidates[:, 1:]  # (paths, depth)
    if judge_shift == 1:
        judge = logits[:, :-1]  # candidate d judged by the logits at node d - 1
    else:
        judge = logits[:, 1:]  # ... or, wrongly, by the logits at node d itself
    real = following >= 0
    tokens = following.clamp(min=0)
    if pad_is_token_0:
        real = torch.ones_like(real)
    if temperature == 0:
        accepted = (tokens == judge.argmax(dim=-1)) & real
        p_candidate = None
    else:
        t = temperature if use_temperature else 1.0
        p = torch.softmax(judge / t, dim=-1)
        p_candidate = p.gather(-1, tokens[..., None])[..., 0]
        plogp = p * torch.log(p + log_eps) if log_eps else torch.special.xlogy(p, p)
        entropy = -entropy_sign * plogp.sum(dim=-1)
        threshold = combine(torch.full_like(entropy, posterior_threshold),
                            posterior_alpha * torch.exp(-entropy))
        accepted = (p_candidate > threshold) & real
    flags = accepted.long()
    lengths = flags.cumprod(dim=1).sum(dim=1) if in_a_row else flags.sum(dim=1)
    accept_length = int(lengths.max())
    extra = 1 if count_root else 0
    if accept_length == 0:
        return 0, extra
    if temperature == 0 or not likeliest:
        return int(lengths.argmax()), accept_length + extra
    longest = torch.nonzero(lengths == accept_length)[:, 0]
    likelihood = torch.log(p_candidate[longest, :accept_length]).sum(dim=-1)
    return int(longest[likelihood.argmax()]), accept_length + extra


_PADDING = ("the padding -1 is not a token and is never accepted: a path ends at its last "
            "node (the paper's code pads with 0, and its greedy rule then accepts a 0 where "
            "the model's argmax is 0)")
_IN_A_ROW = ("a path keeps its candidates up to its first refusal: after a refused token the "
             "logits further down the path follow a token the model did not accept")
_SHIFT = ("candidate d is judged by the logits at node d - 1, the model's prediction after "
          "the token before it: logits[:, :-1] judge candidates[:, 1:]")
_ROOT = ("accept_length counts the candidates accepted beyond the root: the root is the base "
         "model's own token, always kept")


def _greedy_mistakes():
    return [
        (_PADDING, {"pad_is_token_0": True}),
        (_IN_A_ROW, {"in_a_row": False}),
        (_SHIFT, {"judge_shift": 0}),
        (_ROOT, {"count_root": True}),
    ]


def _typical_mistakes():
    return [
        ("the entropy is H(p) = -sum p log p, a positive number: with the sign flipped, "
         "exp(-H) grows instead of shrinking and a flat distribution accepts less, not more",
         {"entropy_sign": -1.0}),
        ("the threshold is the smaller of epsilon and alpha * exp(-H): min, not max",
         {"combine": torch.maximum}),
        ("divide the logits by the temperature before the softmax: p = softmax(logits / T)",
         {"use_temperature": False}),
        (_PADDING, {"pad_is_token_0": True}),
        (_IN_A_ROW, {"in_a_row": False}),
        (_SHIFT, {"judge_shift": 0}),
        ("among equally long paths the likeliest wins: the largest sum of log p(x) over the "
         "accepted candidates, not the first", {"likeliest": False}),
        (_ROOT, {"count_root": True}),
    ]


def _acceptance_hint(got, expected, mistakes, logits, candidates, *args) -> str:
    """The advice of every known mistake that gives `got` here (one case can fit several)."""
    fitting = []
    for advice, change in mistakes:
        try:
            variant = acceptance_variant(logits, candidates, *args, **change)
        except (IndexError, RuntimeError):
            continue
        if variant == got != expected:
            fitting.append(advice)
    if len(fitting) > 1:
        return " (" + "; or ".join(fitting) + ")"
    return f" ({fitting[0]})" if fitting else ""


def _acceptance_call(fn, logits, candidates, args, what):
    inputs = [logits.clone(), candidates.clone()]
    padding = ("The padding -1 is not a token: clamp it to a valid index before you look it "
               "up, candidates.clamp(min=0), then never accept it")
    got = call(fn, logits, candidates, *args, call=what,
               hints={IndexError: padding, RuntimeError: padding})
    _unchanged(inputs, [logits, candidates], what,
               "compute new tensors, no in-place operations such as clamp_ or /=")
    got = _pair(got, what, "(best, accept_length)")
    return as_int(got[0], f"{what}, best"), as_int(got[1], f"{what}, accept_length")


def _paths_text(candidates: torch.Tensor) -> str:
    if candidates.numel() > 48:
        return ""
    return f"; the candidates, one path a row: {candidates.tolist()}"


def _check_acceptance(fn, logits, candidates, args, what, mistakes, expected) -> None:
    """Compare fn(logits, candidates, *args) with `expected`; args are () for greedy, else
    (temperature, posterior_threshold, posterior_alpha)."""
    got = _acceptance_call(fn, logits, candidates, args, what)
    if got == expected:
        return
    message = f"{what}: expected (best, accept_length) = {expected}, got {got}"
    if got[1] == expected[1] == 0:
        message += (": no candidate is accepted on any path, and then best is 0 (only the "
                    "root is kept, whichever row it is read from)")
    elif got[1] == expected[1]:
        message += (f": the right length, another path (among the paths that accept "
                    f"{expected[1]}, {'the likeliest' if args else 'the first'} wins)")
    elif not args and candidates.numel() <= 48:
        message += (f"; the model's argmax along each path: "
                    f"{logits.argmax(dim=-1).tolist()}{_paths_text(candidates)}")
    else:
        message += _paths_text(candidates)
    fail(message + _acceptance_hint(got, expected, mistakes, logits, candidates, *args))


def greedy(evaluate_greedy) -> None:
    """Exercise 4: `evaluate_greedy(logits, candidates)`, (best, accept_length), against
    `tinylm.medusa.evaluate_posterior` at temperature 0."""
    # 1. The worked examples, by hand
    for label, logits, candidates, expected in greedy_cases():
        assert evaluate_posterior(logits, candidates, 0.0) == expected  # and the package's
        _check_acceptance(evaluate_greedy, logits, candidates, (), f"evaluate_greedy({label})",
                          _greedy_mistakes(), expected)
    # 2. Real trees with logits from fixed seeds
    for seed, (label, choices) in enumerate(trees() * 3):
        vocab = [10, 17, 100, 4096][seed % 4]
        logits, candidates = tree_case(seed, choices, vocab, follow=[0.5, 0.8, 1.0][seed % 3])
        what = f"evaluate_greedy(the logits of seed {seed}, vocab={vocab}, on {label})"
        _check_acceptance(evaluate_greedy, logits, candidates, (), what, _greedy_mistakes(),
                          evaluate_posterior(logits, candidates, 0.0))


def _clear_cut(logits, candidates, args) -> bool:
    """True if no decision of the typical rule lies within rounding of its threshold, whether
    the entropy adds 1e-5 inside the log (as the paper's code) or not, and no two equally long
    paths are nearly but not exactly as likely."""
    temperature, epsilon, alpha = args
    p = torch.softmax(logits[:, :-1].double() / temperature, dim=-1)  # (paths, depth, vocab)
    tokens, real = candidates[:, 1:].clamp(min=0), candidates[:, 1:] >= 0
    p_candidate = p.gather(-1, tokens[..., None])[..., 0]  # (paths, depth)
    for log_eps in (1e-5, 0):
        plogp = p * torch.log(p + log_eps) if log_eps else torch.special.xlogy(p, p)
        threshold = torch.clamp(alpha * torch.exp(plogp.sum(dim=-1)), max=epsilon)
        if ((p_candidate - threshold).abs() < 1e-4 * threshold)[real].any():
            return False
    if acceptance_variant(logits, candidates, *args) != \
            acceptance_variant(logits, candidates, *args, log_eps=0):
        return False
    _, length = evaluate_posterior(logits, candidates, *args)
    threshold = torch.clamp(alpha * torch.exp((p * torch.log(p + 1e-5)).sum(dim=-1)),
                            max=epsilon)
    lengths = ((p_candidate > threshold) & real).long().cumprod(dim=1).sum(dim=1)
    log_p = torch.log(p_candidate[lengths == length, :length]).sum(dim=-1)
    gaps = (log_p[:, None] - log_p[None, :]).abs()
    return bool(((gaps == 0) | (gaps > 1e-6)).all())


def typical(evaluate_typical) -> None:
    """Exercise 5: `evaluate_typical(logits, candidates, temperature, posterior_threshold,
    posterior_alpha)`, (best, accept_length), against `tinylm.medusa.evaluate_posterior` at
    temperatures above 0."""
    # 1. The worked examples, by hand
    for label, logits, candidates, temperature, expected in typical_cases():
        args = (temperature, 0.09, 0.3)
        assert evaluate_posterior(logits, candidates, *args) == expected  # and the package's
        _check_acceptance(evaluate_typical, logits, candidates, args,
                          f"evaluate_typical({label}, temperature={temperature})",
                          _typical_mistakes(), expected)
    # 2. Real trees, temperatures, thresholds and alphas from fixed seeds; cases that rounding
    # could tip one way or the other are left out
    settings = [(0.7, 0.09, 0.3), (1.0, 0.09, 0.3), (0.3, 0.09, 0.3), (2.0, 0.09, 0.3),
                (1.0, 0.2, 0.5), (0.5, 0.05, 0.1)]
    for seed, (label, choices) in enumerate(trees() * 3):
        vocab = [10, 17, 100, 4096][seed % 4]
        args = settings[seed % len(settings)]
        logits, candidates = tree_case(seed, choices, vocab, sharpness=[0.5, 1.0, 2.0][seed % 3],
                                       follow=[0.5, 0.8, 1.0][seed % 3], lean=(-1.5, 1.5))
        if not _clear_cut(logits, candidates, args):
            continue
        what = (f"evaluate_typical(the logits of seed {seed}, vocab={vocab}, on {label}, "
                f"temperature={args[0]}, posterior_threshold={args[1]}, "
                f"posterior_alpha={args[2]})")
        _check_acceptance(evaluate_typical, logits, candidates, args, what, _typical_mistakes(),
                          evaluate_posterior(logits, candidates, *args))
