"""Chapter 7's diagrams draw what the package does: the tree's rows are medusa_buffers' nodes in
its order, each row of the drawn mask and each position id is the buffers', each node carries
the token generate_candidates puts there, and the heads' picture has one guess per offset."""

import itertools

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from _diagrams import by_gid, label_of  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tinylm.book.diagrams import medusa as diagrams  # noqa: E402
from tinylm.medusa import (  # noqa: E402
    MC_SIM_7B_63,
    TOPK,
    generate_candidates,
    medusa_buffers,
    tree_from_accuracies,
)

EXAMPLE = [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]
TREES = {
    "the chapter's example": EXAMPLE,
    "a chain": [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]],
    "one level": [[r] for r in range(5)],
    "the paper's, first 20 nodes": MC_SIM_7B_63[:20],
    "greedy from accuracies": tree_from_accuracies(
        torch.tensor([[0.6, 0.2, 0.1], [0.5, 0.2, 0.1], [0.4, 0.2, 0.1]]), 12),
    "given out of order": [[1, 0], [0, 1], [1], [0], [0, 0]],
}


def words_for(choices):
    """Head d's guesses: distinct words, so a node's label tells which head and rank it is."""
    depth = max(len(p) for p in choices)
    return [[f"h{d + 1}r{r}" for r in range(TOPK)] for d in range(depth)]


@pytest.mark.parametrize("name", TREES)
def test_rows_are_the_packages_nodes_in_its_order(name):
    choices = TREES[name]
    assert diagrams.tree_order(choices)[1:] == [tuple(p) for p in medusa_buffers(choices).choices]


@pytest.mark.parametrize("name", TREES)
def test_drawn_mask_and_positions_are_the_buffers(ax, name):
    choices = TREES[name]
    bufs = medusa_buffers(choices)
    diagrams.tree_attention(choices, root="root", top=words_for(choices), ax=ax)
    n = bufs.num_nodes
    cells = by_gid(ax, "cell:")
    assert len(cells) == n * n
    drawn = torch.zeros(n, n, dtype=torch.bool)
    for gid in cells:
        _, i, j, state = gid.split(":")
        drawn[int(i), int(j)] = state == "on"
    assert torch.equal(drawn, bufs.attn_mask)
    # a cell the node reads is filled, in one shade; one it does not read is left empty
    on = {to_hex(p.get_facecolor()) for g, p in cells.items() if g.endswith(":on")}
    assert len(on) == 1 and all(p.get_facecolor()[3] > 0 for g, p in cells.items()
                                if g.endswith(":on"))
    assert all(p.get_facecolor()[3] == 0 for g, p in cells.items() if g.endswith(":off"))
    positions = by_gid(ax, "position:")
    assert [int(positions[f"position:{i}"].get_text()) for i in range(n)] == \
        bufs.position_ids.tolist()
    assert len(by_gid(ax, "prompt:")) == n  # every node sees the cached prompt


@pytest.mark.parametrize("name", TREES)
def test_nodes_carry_the_tokens_generate_candidates_puts_there(ax, name):
    choices = TREES[name]
    bufs = medusa_buffers(choices)
    words = words_for(choices)
    vocab = ["root"] + [w for head in words for w in head]
    depth = len(words)
    logits = torch.zeros(len(vocab))
    logits[0] = 1.0  # the model's own next token: "root"
    head_logits = torch.zeros(depth, len(vocab))
    for d in range(depth):  # head d ranks its words h{d}r0 > h{d}r1 > ...
        for r in range(TOPK):
            head_logits[d, vocab.index(words[d][r])] = TOPK - r
    tree_tokens, _ = generate_candidates(logits, head_logits, bufs)

    diagrams.tree_attention(choices, root="root", top=words, ax=ax)
    nodes = by_gid(ax, "node:")
    assert [label_of(ax, nodes[f"node:{i}"]) for i in range(bufs.num_nodes)] == \
        [vocab[t] for t in tree_tokens.tolist()]
    # each node sits in the column of its depth
    x0 = [nodes[f"node:{i}"].get_bbox().x0 for i in range(bufs.num_nodes)]
    for i, j in itertools.combinations(range(bufs.num_nodes), 2):
        same_depth = bufs.position_ids[i] == bufs.position_ids[j]
        assert (x0[i] == pytest.approx(x0[j])) == bool(same_depth)


@pytest.mark.parametrize("name", TREES)
def test_edges_join_each_node_to_its_parent_and_never_cross(ax, name):
    choices = TREES[name]
    bufs = medusa_buffers(choices)
    diagrams.tree_attention(choices, root="root", top=words_for(choices), ax=ax)
    edges = by_gid(ax, "edge:")
    assert {tuple(int(k) for k in g.split(":")[1:]) for g in edges} == \
        {(int(bufs.parents[i]), i) for i in range(1, bufs.num_nodes)}
    nodes = by_gid(ax, "node:")
    ends = {}
    for gid, line in edges.items():
        parent, child = (int(k) for k in gid.split(":")[1:])
        (xa, xb), (ya, yb) = line.get_xdata(), line.get_ydata()
        p, c = nodes[f"node:{parent}"].get_bbox(), nodes[f"node:{child}"].get_bbox()
        assert (xa, ya) == pytest.approx((p.x1, (p.y0 + p.y1) / 2))
        assert (xb, yb) == pytest.approx((c.x0, (c.y0 + c.y1) / 2))
        ends[child] = (xa, ya, yb)
    for a, b in itertools.combinations(ends.values(), 2):
        if a[0] == pytest.approx(b[0]):  # between the same two columns
            assert (a[1] - b[1]) * (a[2] - b[2]) >= 0


def test_tree_attention_wants_a_tree_and_a_token_for_every_node():
    with pytest.raises(ValueError, match="parents"):
        diagrams.tree_attention([[0], [1, 0]])
    with pytest.raises(ValueError, match="top must give"):
        diagrams.tree_attention([[0], [2]], top=[["a", "b"]])
    with pytest.raises(ValueError, match="distinct"):
        diagrams.tree_attention([[0], [0]])


def test_the_heads_guess_one_token_each_further_ahead(ax):
    guesses = ["on", "the", "mat", "."]
    assert diagrams.medusa_heads(["The", "cat", "sat"], guesses, ax=ax) is ax
    found = by_gid(ax, "guess:")
    assert [label_of(ax, found[f"guess:{k}"]) for k in range(4)] == guesses
    heads = by_gid(ax, "head:")
    assert [label_of(ax, heads[f"head:{k}"]) for k in range(4)] == [
        "output head", "head 1", "head 2", "head 3"]
    offsets = by_gid(ax, "offset:")
    assert [offsets[f"offset:{k}"].get_text() for k in range(4)] == ["t+1", "t+2", "t+3", "t+4"]
    # the output head stands apart from the Medusa heads, and rows go down in order
    assert to_hex(heads["head:0"].get_edgecolor()) == diagrams.OUTPUT_HEAD
    assert {to_hex(heads[f"head:{k}"].get_edgecolor()) for k in (1, 2, 3)} == {
        diagrams.MEDUSA_HEAD}
    ys = [found[f"guess:{k}"].get_bbox().y0 for k in range(4)]
    assert ys == sorted(ys, reverse=True)
    context = by_gid(ax, "context:")
    assert [label_of(ax, context[f"context:{i}"]) for i in range(3)] == ["The", "cat", "sat"]


def test_medusa_heads_needs_a_guess_from_a_head():
    with pytest.raises(ValueError, match="two guesses"):
        diagrams.medusa_heads(["The"], ["cat"])
