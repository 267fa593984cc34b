"""The attention-tree viewer's state: what the page draws must be the traced generation's own.

Real greedy runs of the zoo's base model with its trained Medusa heads, on a small tree (the
chapter's kind) and on the paper's 63-node tree, and a sampled run (typical acceptance). The
tree is checked against its definition, computed here from the choice paths alone: nodes
sorted by depth then by path, a node's parent is its path without the last step, and a node
attends to the nodes whose paths prefix its own. Each step's kept path, its tokens and the
nodes marked refused are checked against the greedy rule, applied here to the trace's tokens
and the base model's argmaxes: a node is kept when its token and all its ancestors' are what
the base model predicted after their parent. The per-head counts are counted here from the
kept paths' depths. A run cut short by max_new_tokens covers the last step's cut node.
A hand-made trace (`fake_output`, also used by the theme test) covers what runs cannot.
"""

from __future__ import annotations

import functools
import json

import pytest
import torch

from tinylm import zoo
from tinylm.medusa import (
    MedusaHeads,
    MedusaOutput,
    MedusaStep,
    medusa_buffers,
    medusa_generate,
)
from tinylm.widgets import MedusaTreeViewer, medusa_tree_state

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

PROMPT = "Once upon a time, there was a little girl named Lily."
SMALL = [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0], [0, 0, 0, 0], [2]]  # the chapter's kind
NEW_TOKENS = 48


@functools.cache
def base():
    model, tok = zoo.load("base")
    heads = MedusaHeads.from_zoo("base", model=model)
    return model, heads, tok


@functools.cache
def run(choices: tuple | None = None, max_new_tokens: int = NEW_TOKENS,
        temperature: float = 0.0):
    """A traced Medusa generation of the prompt (choices as a tuple of tuples, None: the
    63-node tree); sampled runs are seeded."""
    model, heads, tok = base()
    ids = torch.tensor([tok.encode(PROMPT).ids])
    torch.manual_seed(0)
    tree = None if choices is None else [list(c) for c in choices]
    return medusa_generate(model, heads, ids, max_new_tokens=max_new_tokens, choices=tree,
                           temperature=temperature, trace=True)


def small_run():
    return run(tuple(map(tuple, SMALL)))


def tokenizer():
    return base()[2]


# ---- what the page should show, worked out here from the choices and the trace -------------


def node_order(choices) -> list[list[int]]:
    """The nodes' paths, root ([]) first, then by depth, then by path."""
    return [[]] + sorted((list(c) for c in choices), key=lambda c: (len(c), c))


def greedy_kept(step, parent: list[int]) -> set[int]:
    """The nodes greedy acceptance keeps: the root, and every node whose token, and every
    ancestor's, is the base model's argmax after its parent."""
    def agreed(i):
        return step.tree_tokens[i] == step.predicted[parent[i]]

    kept = set()
    for i in range(len(parent)):
        chain, n = [], i
        while n > 0:
            chain.append(n)
            n = parent[n]
        if all(agreed(m) for m in chain):
            kept.add(i)
    return kept


# ---- the tree --------------------------------------------------------------------------------


@pytest.mark.parametrize("choices", [SMALL, None], ids=["small", "63 nodes"])
def test_the_tree_is_its_definition(choices):
    out = small_run() if choices else run()
    tree = medusa_tree_state(tokenizer(), out)["tree"]
    paths = node_order(choices or out.buffers.choices)
    assert tree["choice"] == paths
    assert tree["depth"] == [len(p) for p in paths]
    assert tree["parent"] == [-1] + [paths.index(p[:-1]) for p in paths[1:]]
    assert tree["rank"] == [None] + [p[-1] for p in paths[1:]]
    # node i attends to node j iff j's path prefixes i's (the root's prefixes all)
    assert tree["attends"] == [[j for j, q in enumerate(paths) if p[:len(q)] == q]
                               for p in paths]
    assert tree["attends"] == [[j for j, on in enumerate(row) if on]
                               for row in out.buffers.attn_mask.tolist()]
    # a row per leaf, each a chain from the root down to the leaf
    leaves = [i for i, p in enumerate(paths) if i and not any(
        len(q) == len(p) + 1 and q[:len(p)] == p for q in paths)]
    assert sorted(r[-1] for r in tree["rows"]) == sorted(leaves)
    for row in tree["rows"]:
        assert [len(paths[n]) for n in row] == list(range(len(row)))
        assert all(tree["parent"][b] == a for a, b in zip(row[:-1], row[1:], strict=True))
    if choices is None:
        assert len(paths) == 64


# ---- the steps --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small", "63 nodes"])
def test_each_step_is_the_trace(which):
    out = small_run() if which == "small" else run()
    state = medusa_tree_state(tokenizer(), out)
    steps = state["steps"]
    assert len(steps) == len(out.steps) == len(out.accept_lengths)
    prompt_len = out.sequences.shape[1] - state["generated"]
    generated = out.sequences[0, prompt_len:].tolist()
    assert state["generated"] == NEW_TOKENS == len(generated)
    lit = []
    for shown, step, accepted in zip(steps, out.steps, out.accept_lengths, strict=True):
        assert shown["tokens"] == step.tree_tokens
        assert shown["predicted"] == step.predicted
        assert shown["probs"] == pytest.approx(step.probs, rel=5e-3)
        assert shown["path"] == step.path and shown["row"] == step.row
        assert shown["accept_length"] == accepted == len(step.path) - 1
        lit += [step.tree_tokens[n] for n in shown["path"]]
    assert lit == generated  # the lit paths, step after step, are the generated text
    assert state["accept_lengths"] == out.accept_lengths
    assert state["tokens_per_step"] == pytest.approx(NEW_TOKENS / len(out.steps), abs=1e-4)
    assert state["depth"] == max(state["tree"]["depth"])


@pytest.mark.parametrize("which", ["small", "63 nodes"])
def test_kept_and_refused_nodes_follow_the_greedy_rule(which):
    out = small_run() if which == "small" else run()
    state = medusa_tree_state(tokenizer(), out)
    parent = state["tree"]["parent"]
    refusals, last = 0, len(out.steps) - 1
    for k, (shown, step) in enumerate(zip(state["steps"], out.steps, strict=True)):
        status = shown["status"]
        assert len(status) == len(step.tree_tokens)
        kept = {i for i, c in enumerate(status) if c == "k"}
        greedy = greedy_kept(step, parent)
        assert kept == set(step.path)
        end = step.path[-1]
        after = {i for i, p in enumerate(parent) if p == end}  # the guesses right after it
        cut = {i for i, c in enumerate(status) if c == "c"}
        refused = {i for i, c in enumerate(status) if c == "r"}
        if k < last:
            assert kept == greedy and cut == set()
        else:  # max_new_tokens may have cut the path short of what the model agreed with
            assert kept <= greedy and cut == greedy & after
        assert refused == after - cut
        assert all(step.tree_tokens[i] != step.predicted[end] for i in refused)
        row = state["tree"]["rows"][step.row]
        assert shown["next"] == (row[len(step.path)] if len(row) > len(step.path) else None)
        if shown["next"] is not None:
            assert shown["next"] in refused | cut
        refusals += len(refused)
        if k < len(out.steps) - 1:  # what the base model predicted there roots the next step
            assert out.steps[k + 1].tree_tokens[0] == step.predicted[end]
    assert refusals > 0
    assert any(len(s.path) > 2 for s in out.steps)  # the heads' guesses are kept deep down


def test_a_path_cut_by_max_new_tokens_is_marked_cut():
    full = small_run()
    # a step that kept guesses: stop generation one token into it
    k = next(k for k, s in enumerate(full.steps) if k > 0 and len(s.path) >= 2)
    before = sum(len(s.path) for s in full.steps[:k])
    out = run(tuple(map(tuple, SMALL)), max_new_tokens=before + 1)
    state = medusa_tree_state(tokenizer(), out)
    last, whole = state["steps"][-1], full.steps[k]
    assert len(state["steps"]) == k + 1 and last["tokens"] == whole.tree_tokens
    assert last["path"] == [0]
    # the guess the full run kept after the root was agreed to, then cut; its siblings refused
    assert last["status"][whole.path[1]] == "c"
    siblings = [i for i, p in enumerate(state["tree"]["parent"]) if p == 0 and i != whole.path[1]]
    assert all(last["status"][i] == "r" for i in siblings)
    assert all("c" not in s["status"] for s in state["steps"][:-1])


def test_sampled_run_typical_acceptance():
    out = run(tuple(map(tuple, SMALL)), temperature=0.8)
    state = medusa_tree_state(tokenizer(), out)
    generated = out.sequences[0, out.sequences.shape[1] - state["generated"]:].tolist()
    assert [s["tokens"][n] for s in state["steps"] for n in s["path"]] == generated
    for shown, step in zip(state["steps"], out.steps, strict=True):
        assert {i for i, c in enumerate(shown["status"]) if c == "k"} == set(step.path)


# ---- per head, and the text --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small", "63 nodes"])
def test_per_head_counts(which):
    out = small_run() if which == "small" else run()
    heads = medusa_tree_state(tokenizer(), out)["heads"]
    depth = max(len(c) for c in out.buffers.choices)
    depths = out.buffers.position_ids.tolist()
    counted = [0] * depth
    for step in out.steps:
        for node in step.path[1:]:
            counted[depths[node] - 1] += 1
    assert heads == {"kept": counted, "steps": len(out.steps)}
    assert sum(counted) == sum(out.accept_lengths)
    assert counted == sorted(counted, reverse=True)  # a head's guess needs the one above it


def test_token_texts():
    out, tok = small_run(), tokenizer()
    state = medusa_tree_state(tok, out)
    generated_len = state["generated"]
    prompt = out.sequences[0, :-generated_len].tolist()
    generated = out.sequences[0, -generated_len:].tolist()
    assert state["prompt_text"] == tok.decode(prompt) == PROMPT
    texts = state["texts"]
    shown = "".join(texts[str(s["tokens"][n])] for s in state["steps"] for n in s["path"])
    assert shown == tok.decode(generated)
    every = {t for s in out.steps for t in s.tree_tokens + s.predicted}
    assert set(texts) == {str(t) for t in every}
    for t in every:  # whole characters: the same text, a newline drawn as ↵
        assert texts[str(t)] == tok.decode([t]).replace("\n", "\u21b5")
    json.dumps(state)  # the page's state is plain JSON


# ---- the widget, and what it refuses ------------------------------------------------------


def fake_output() -> MedusaOutput:
    """Two steps of a hand-made trace on a 6-node tree (token ids of the course tokenizer):
    the first keeps the root and two guesses, the second the root alone."""
    bufs = medusa_buffers([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]])
    # nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0], 6 [0,0,0]
    first = MedusaStep(tree_tokens=[262, 470, 267, 744, 17, 296, 15],
                       probs=[0.6, 0.3, 0.2, 0.4, 0.1, 0.05, 0.3],
                       predicted=[470, 744, 297, 17, 15, 15, 15], row=0, path=[0, 1, 3])
    # after node 3 the model predicted 17, the next root; node 6 (15) was refused
    second = MedusaStep(tree_tokens=[17, 640, 15, 297, 267, 262, 470],
                        probs=[0.9, 0.2, 0.1, 0.3, 0.2, 0.1, 0.05],
                        predicted=[320, 297, 15, 15, 15, 15, 15], row=0, path=[0])
    prompt = [320, 1337]
    tokens = [262, 470, 744, 17]
    return MedusaOutput(torch.tensor([prompt + tokens]), [2, 0], [first, second], bufs)


def test_the_hand_made_trace():
    state = medusa_tree_state(None, fake_output())
    first, second = state["steps"]
    assert first["status"] == "kk-k--r"  # kept 0, 1, 3; node 6 (after 3) refused
    assert first["next"] == 6
    assert second["status"] == "krr----"
    assert second["next"] == 1  # row 0 runs 0, 1, 3, 6
    assert state["heads"] == {"kept": [1, 1, 0], "steps": 2}
    assert state["tokens_per_step"] == 2.0


def test_the_widget_opens_on_a_step():
    out = small_run()
    widget = MedusaTreeViewer(tokenizer(), out, step=3, title="a tree")
    assert widget.data["step"] == 3 and widget.data["title"] == "a tree"
    assert widget.data["steps"] == medusa_tree_state(tokenizer(), out)["steps"]
    assert MedusaTreeViewer(tokenizer(), out).data["step"] == 0
    for bad in (-1, len(out.steps), 1.0, True):
        with pytest.raises(ValueError, match="step must be an int"):
            MedusaTreeViewer(tokenizer(), out, step=bad)


def test_an_untraced_output_is_refused():
    model, heads, tok = base()
    ids = torch.tensor([tok.encode(PROMPT).ids])
    out = medusa_generate(model, heads, ids, max_new_tokens=4, choices=SMALL)
    assert out.steps is None
    with pytest.raises(ValueError, match=r"trace=True"):
        medusa_tree_state(tok, out)
    with pytest.raises(ValueError, match=r"trace=True"):
        MedusaTreeViewer(tok, out)
    with pytest.raises(TypeError, match="MedusaOutput"):
        medusa_tree_state(tok, out.sequences)


def test_a_trace_that_does_not_add_up_is_refused():
    out = fake_output()
    out.sequences[0, -1] = 999  # the last kept token is not the sequence's
    with pytest.raises(ValueError, match="not the end of output.sequences"):
        medusa_tree_state(None, out)
    out = fake_output()
    out.steps[0].path = [0, 2, 5]  # row 0 is 0, 1, 3, 6
    with pytest.raises(ValueError, match="not the start of row"):
        medusa_tree_state(None, out)
    out = fake_output()
    out.accept_lengths = [2, 1]
    with pytest.raises(ValueError, match="accept length"):
        medusa_tree_state(None, out)
