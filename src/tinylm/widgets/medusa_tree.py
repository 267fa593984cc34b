"""The attention-tree viewer: the tree of guesses Medusa checks in one forward pass, the tree
attention mask that lets it, and which guesses a real generation kept, step by step.

Medusa's heads guess the tokens 2, 3, ... places ahead; their top few tokens form a tree whose
nodes are checked together, each attending only to the cached prefix, its ancestors and itself
(``tinylm.medusa``). `MedusaTreeViewer` reads a traced generation
(``medusa_generate(..., trace=True)``) and shows, for the step picked with the buttons or the
slider:

- the tree, one row per node in the tree's own order (root 0, then the nodes by depth) and one
  column per depth, that is per head: each node's token and the probability its head (the base
  model, for the root) gave it. The path the base model agreed with is lit; the guesses right
  after it are marked refused, with the token the base model predicted there;
- the attention mask, (N+1) x (N+1), its rows level with the tree's: hovering (or tapping) a
  node or a row lights the row, the nodes it attends to and the node's ancestors;
- the text so far, step by step; the candidates kept at every step beyond the base model's own
  token (the accept length); and per head how many steps kept its guess on the chosen path.

`medusa_tree_state` builds what the page draws; everything interactive happens in
medusa_tree.js, so the viewer also works on the book's static pages.
"""

from __future__ import annotations

import anywidget
import traitlets

from tinylm.widgets._assets import css, esm
from tinylm.widgets.speculative_dashboard import PROMPT_CHARS, _Texts

# What became of a node of a step's tree, one letter per node in the step's "status" string.
NODE_STATUSES = {
    "k": "kept",     # on the path the base model agreed with (the root always)
    "r": "refused",  # a child of the last kept node: the base model predicted another token
    "c": "cut",      # a child the base model agreed with, dropped when generation stopped
                     # (max_new_tokens or the end-of-sequence token, last step only)
    "-": "unused",   # below a refused node, or on another branch
}


class MedusaTreeViewer(anywidget.AnyWidget):
    """A traced Medusa generation, step by step: the candidate tree with each node's token and
    head probability, the tree attention mask beside it, the accepted path, the text so far,
    accept lengths per step and per head.

    tokenizer: writes each token (a ``tokenizers.Tokenizer`` such as the zoo's, a
               ``tinylm.bpe.BPETokenizer``, or anything with ``decode(list_of_ids)``; None: the
               course tokenizer).
    output:    the ``MedusaOutput`` of ``medusa_generate(..., trace=True)``.
    step:      the step the page opens on (0-based).
    """

    _esm = esm("medusa_tree")
    _css = css("medusa_tree")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, tokenizer, output, step: int = 0, *, title: str | None = None):
        state = medusa_tree_state(tokenizer, output)
        steps = len(state["steps"])
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < steps:
            raise ValueError(f"step must be an int in [0, {steps}), the generation's steps; "
                             f"got {step!r}")
        super().__init__(data={**state, "title": title or "", "step": step})


# ---- checking the output -----------------------------------------------------------------------


def _check_output(output) -> None:
    from tinylm.medusa import MedusaOutput

    if not isinstance(output, MedusaOutput):
        raise TypeError(f"output must be the MedusaOutput that medusa_generate returned, got "
                        f"{type(output).__name__}")
    if output.steps is None:
        raise ValueError("the output has no trace: run medusa_generate(..., trace=True) so "
                         "that it records every step's tree")
    if not output.steps:
        raise ValueError("the output has no step")
    if output.buffers is None:
        raise ValueError("the output has no tree buffers (output.buffers)")
    if len(output.accept_lengths) != len(output.steps):
        raise ValueError(f"{len(output.accept_lengths)} accept lengths for "
                         f"{len(output.steps)} steps")
    n = output.buffers.num_nodes
    for i, step in enumerate(output.steps):
        if not len(step.tree_tokens) == len(step.probs) == len(step.predicted) == n:
            raise ValueError(f"step {i}: the tree has {n} nodes, the step records "
                             f"{len(step.tree_tokens)} tokens")
        if not step.path or step.path[0] != 0:
            raise ValueError(f"step {i}: the kept path must start at the root, got {step.path}")
        if len(step.path) != output.accept_lengths[i] + 1:
            raise ValueError(f"step {i}: {len(step.path)} kept nodes but an accept length of "
                             f"{output.accept_lengths[i]}")


# ---- the page's state ------------------------------------------------------------------------


def tree_state(buffers) -> dict:
    """The tree as the page draws it, nodes in the buffers' order (root 0): ``choice`` (the
    node's path of ranks, [] for the root), ``depth``, ``parent`` (-1 for the root), ``rank``
    (its rank among its head's guesses, None for the root), ``attends`` (per node, the nodes
    its row of the attention mask lets it see, ascending) and ``rows`` (the root-to-leaf
    paths of ``retrieve_indices``, without their padding)."""
    mask = buffers.attn_mask.cpu()
    return {
        "choice": [[]] + [list(path) for path in buffers.choices],
        "depth": buffers.position_ids.cpu().tolist(),
        "parent": buffers.parents.cpu().tolist(),
        "rank": [None] + [path[-1] for path in buffers.choices],
        "attends": [row.nonzero()[:, 0].tolist() for row in mask],
        "rows": [[i for i in row if i >= 0] for row in buffers.retrieve_indices.cpu().tolist()],
    }


def node_statuses(step, parent: list[int], last: bool) -> str:
    """What became of each node of ``step``'s tree, one letter of `NODE_STATUSES` per node.

    The children of the last kept node were all refused: one the base model agreed with would
    have made a longer path than the kept one. Only in the last step can generation have cut
    the path short (max_new_tokens, or the end-of-sequence token): a child there whose token
    is the base model's argmax was agreed with, not refused. (With typical acceptance a child
    other than the argmax can be agreed with too; the trace does not say, so in the last step
    it is counted refused.)"""
    status = ["-"] * len(step.tree_tokens)
    for node in step.path:
        status[node] = "k"
    end = step.path[-1]
    for node, p in enumerate(parent):
        if p == end:
            agreed = step.tree_tokens[node] == step.predicted[end]
            status[node] = "c" if last and agreed else "r"
    return "".join(status)


def step_state(step, tree: dict, last: bool) -> dict:
    """One step as the page reads it, given the `tree_state`: ``tokens`` (the tree's N+1
    token ids, root first), ``probs`` (each one's probability under what proposed it, 3
    significant digits), ``predicted`` (the base model's argmax after each node), ``row``
    (the chosen row of ``retrieve_indices``), ``path`` (the kept nodes, root first),
    ``accept_length`` (len(path) - 1), ``status`` (`node_statuses`) and ``next`` (the node
    after the kept path on the chosen row, the first one not kept there; None when the path
    is the whole row)."""
    path = [int(n) for n in step.path]
    row = tree["rows"][step.row]
    if row[:len(path)] != path:
        raise ValueError(f"the kept path {path} is not the start of row {step.row}, {row}")
    return {
        "tokens": [int(t) for t in step.tree_tokens],
        "probs": [float(f"{p:.3g}") for p in step.probs],
        "predicted": [int(t) for t in step.predicted],
        "row": int(step.row),
        "path": path,
        "accept_length": len(path) - 1,
        "status": node_statuses(step, tree["parent"], last),
        "next": row[len(path)] if len(row) > len(path) else None,
    }


def head_counts(output) -> dict:
    """``kept``: per depth d = 1..depth (head d), how many steps kept a node at depth d (their
    kept path reaches it); ``steps``: how many steps there are."""
    depth = output.buffers.depth
    lengths = [len(step.path) - 1 for step in output.steps]
    return {"kept": [sum(a >= d for a in lengths) for d in range(1, depth + 1)],
            "steps": len(lengths)}


def medusa_tree_state(tokenizer, output) -> dict:
    """The JSON-ready state `MedusaTreeViewer` draws, from a traced ``MedusaOutput``.

    ``tree``: `tree_state` of ``output.buffers``; ``depth``: the tree's; ``steps``: one
    `step_state` per step; ``texts``: the text of every token id the steps use (str(id) ->
    text, control characters made visible as the speculative dashboard does);
    ``prompt_text``: the prompt (its last characters if long); ``generated``: how many tokens
    the steps kept; ``accept_lengths``; ``tokens_per_step`` (1 + their mean: the base model's
    own token and the guesses kept); ``heads``: `head_counts`.

    Raises TypeError for anything but a ``MedusaOutput`` and ValueError for an output without
    trace (``trace=False``) or whose steps do not add up to its sequence.
    """
    from tinylm.tokenizer import load_tokenizer

    _check_output(output)
    texts = _Texts(load_tokenizer() if tokenizer is None else tokenizer)
    tree = tree_state(output.buffers)
    n_steps = len(output.steps)
    steps = [step_state(s, tree, i == n_steps - 1) for i, s in enumerate(output.steps)]

    generated = [s["tokens"][n] for s in steps for n in s["path"]]
    sequence = output.sequences[0].tolist()
    if not generated or sequence[len(sequence) - len(generated):] != generated:
        raise ValueError("the steps' kept tokens are not the end of output.sequences")
    prompt_text = texts.text(sequence[:len(sequence) - len(generated)])
    if len(prompt_text) > PROMPT_CHARS:
        prompt_text = "\u2026" + prompt_text[-PROMPT_CHARS:]
    used = sorted({t for s in steps for t in s["tokens"] + s["predicted"]})
    accept_lengths = [s["accept_length"] for s in steps]
    return {
        "tree": tree,
        "depth": output.buffers.depth,
        "steps": steps,
        "texts": {str(t): texts.token(t) for t in used},
        "prompt_text": prompt_text,
        "generated": len(generated),
        "accept_lengths": accept_lengths,
        "tokens_per_step": round(1 + sum(accept_lengths) / n_steps, 4),
        "heads": head_counts(output),
    }
