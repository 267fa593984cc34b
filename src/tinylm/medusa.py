"""Medusa: extra heads on the model itself guess the next few tokens, a tree of guesses is checked
in one call.

Speculative decoding (chapter 6) needs a second model to draft tokens. Medusa (Cai et al. 2024)
drafts with the target alone: beside its output head, ``K`` small *Medusa heads* read the same
last hidden state; head k guesses the token k + 2 places ahead (the output head gives the one
right after). Each head offers its top few tokens, so the guesses form a tree: the base model's
next token at the root, head 1's top tokens as its children, head 2's below each of them, and
so on. The whole tree is decoded in *one* forward pass with a tree attention mask (each
candidate sees the cached prefix, its ancestors and itself, never the other branches) and
position ids equal to each node's depth. Then the longest root-to-leaf path the base model
agrees with is kept: on a memory-bound GPU, several tokens for about the price of one.

Reading order, top to bottom:

1. The tree. A tree is a list of *choices*, paths of top-k ranks: ``[0, 1]`` is "head 1's best
   token, then head 2's second best after it". ``MC_SIM_7B_63`` is the 63-node tree the paper's
   code uses for Vicuna-7B. ``medusa_buffers(choices)`` turns the list into the tensors tree
   decoding needs, numbering the nodes as the paper's code does (root 0, then the paths sorted
   by length, then by value): the attention mask, the position ids (depths), ``tree_indices``
   (where each node takes its token from: the root token, or rank r of head d at
   ``1 + 10 (d - 1) + r``) and ``retrieve_indices`` (the nodes of each root-to-leaf path).
   Which tree? ``tree_from_accuracies`` builds the paper's: measure how often head d's rank-r
   guess is right (``head_accuracies``), take a path's chance to be kept as the product of its
   steps' (``expected_accept_length`` sums them), and greedily add the likeliest node.
2. ``tree_logits``: the base model's logits at every node of a tree, in one forward pass over
   the cached prompt (``Llama``'s ``tree_mask`` and ``position_ids``). Row i equals the logits
   after decoding the root-to-i path one token at a time; the tests check exactly that.
3. ``MedusaHeads``: Medusa-1's heads, each a residual block ``h + SiLU(W h + b)`` (W starts at
   zero) then a projection to the vocabulary (starting as a copy of the model's output head, so
   an untrained head guesses roughly what the model itself says next). The backbone stays
   frozen: Medusa-1 trains only the heads. Medusa-2 trains the backbone with them, which needs
   care (a combined loss, a warm-up) so the model's own predictions do not degrade.
   With ``share_output_head=True`` the heads keep only their residual blocks and all project
   with the model's own (frozen) output head. The paper gives each head its own projection;
   at our size that projection (4,096 x 256, a million weights) is 16 times the residual
   block, so sharing it keeps the zoo's trained heads (``medusa-base.safetensors``, trained by
   ``tinylm zoo train medusa-base``, see ``tinylm.zoo.medusa_heads``) at a few hundred KB
   instead of 8 MB, and the block alone must move the hidden state to where the output head
   reads the token k + 2 places ahead.
4. Acceptance, ``evaluate_posterior`` (the paper's name). Greedy (temperature 0): a path's
   candidates are kept while each equals the base model's argmax after the previous one; the
   longest wins, so the output is exactly plain greedy decoding. *Typical acceptance*
   (temperature > 0): keep candidate x while ``p(x) > min(epsilon, alpha * exp(-H(p)))``, H the
   entropy of the base model's distribution p there: plausible tokens pass, and more of them
   when p is flat. It does not reproduce sampling from p exactly (speculative sampling does);
   it trades that for longer accepted paths. Among equally long paths the likeliest wins.
   ``evaluate_posterior`` reads the tree path by path, as the paper's code does;
   ``evaluate_tree`` gives the same answer judging each node once (what generation uses).
5. ``medusa_generate``: the loop. Each step: the root is the base model's argmax (the paper
   always takes the first token greedily, so every step gains at least one token), the heads
   fill the tree, one forward pass scores it, the accepted path is appended, and the KV cache
   keeps only the accepted path's keys and values (copied into place, then ``KVCache.crop``).
   The last accepted node's logits and hidden state give the next root and the next guesses,
   so each step costs one forward pass.

    model, tok = zoo.load("base")
    heads = MedusaHeads.from_zoo("base", model=model)   # trained heads (or from_model: untrained)
    out = medusa_generate(model, heads, ids, max_new_tokens=64)   # the 63-node tree
    out.sequences        # (1, prompt + generated); greedy: what generate(model, ids) returns
    out.accept_lengths   # per step, candidate tokens kept beyond the base model's own token
    medusa_generate(..., trace=True).steps   # every step's tree, probabilities and kept path
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

TOPK = 10  # tokens each head offers to the tree (the paper's code: a path step is a rank < 10)

# The paper's tree for Vicuna-7B, 63 nodes below the root, found by greedily adding the node
# with the highest estimated acceptance (FasterDecoding/Medusa, medusa/model/medusa_choices.py).
MC_SIM_7B_63 = [
    [0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0],
    [0, 5], [0, 0, 1], [5], [0, 6], [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2],
    [3, 0], [0, 9], [8], [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3], [4, 0], [2, 1],
    [0, 0, 4], [0, 0, 5], [0, 0, 0, 0], [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3],
    [0, 0, 7], [0, 0, 8], [0, 0, 9], [6, 0], [0, 4, 0], [1, 4], [7, 0], [0, 1, 2], [2, 0, 0],
    [3, 1], [2, 2], [8, 0], [0, 5, 0], [1, 5], [1, 0, 1], [0, 2, 1], [9, 0], [0, 6, 0],
    [0, 0, 0, 1], [1, 6], [0, 7, 0],
]

# ---------------------------------------------------------------------------------------------
# 1. The tree
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MedusaBuffers:
    """A tree of candidates as tensors. N nodes below the root; node 0 is the root.

    choices:          the paths, in node order (node i + 1 is ``choices[i]``)
    attn_mask:        bool (N+1, N+1): node i attends to node j iff j is i, an ancestor or the root
    position_ids:     (N+1,) each node's depth, the root 0
    tree_indices:     (N+1,) where each node's token comes from in ``[root, head 1's top 10,
                      head 2's top 10, ...]``: 0 for the root, ``rank + 10 (depth - 1) + 1``
    retrieve_indices: (leaves, depth+1) the nodes of each root-to-leaf path, root first,
                      padded with -1
    """

    choices: list[list[int]]
    attn_mask: torch.Tensor
    position_ids: torch.Tensor
    tree_indices: torch.Tensor
    retrieve_indices: torch.Tensor

    @property
    def num_nodes(self) -> int:
        """N + 1, the root included: the tokens one verification call reads."""
        return len(self.choices) + 1

    @property
    def depth(self) -> int:
        """The longest path: how many heads the tree needs."""
        return max(len(path) for path in self.choices)

    @cached_property
    def parents(self) -> torch.Tensor:
        """(N+1,) each node's parent, read off the paths (the root's: -1)."""
        paths = self.retrieve_indices  # (leaves, depth+1)
        parents = torch.full((self.num_nodes,), -1, device=paths.device)
        child, parent = paths[:, 1:], paths[:, :-1]
        real = child >= 0
        parents[child[real]] = parent[real]
        return parents

    def to(self, device) -> MedusaBuffers:
        """The same buffers on ``device``."""
        return MedusaBuffers(self.choices, self.attn_mask.to(device), self.position_ids.to(device),
                             self.tree_indices.to(device), self.retrieve_indices.to(device))


def check_choices(choices) -> list[list[int]]:
    """The paths as lists of ints, after checking they form a tree whose steps are ranks < 10."""
    if not isinstance(choices, (list, tuple)) or len(choices) == 0:
        raise ValueError(f"choices must be a non-empty list of paths such as [[0], [1], [0, 0]], "
                         f"got {choices!r}")
    paths = []
    for path in choices:
        if not isinstance(path, (list, tuple)) or len(path) == 0:
            raise ValueError(f"each choice must be a non-empty list of ranks, got {path!r}")
        for rank in path:
            if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < TOPK:
                raise ValueError(f"each step of a choice is a rank, an int in [0, {TOPK}), got "
                                 f"{rank!r} in {path!r}")
        paths.append(list(path))
    seen = set()
    for path in paths:
        if tuple(path) in seen:
            raise ValueError(f"choice {path} appears twice")
        seen.add(tuple(path))
    for path in paths:
        for d in range(1, len(path)):
            if tuple(path[:d]) not in seen:
                raise ValueError(f"choice {path} needs its parent {path[:d]} in the tree too")
    return paths


def medusa_buffers(choices=None, device=None) -> MedusaBuffers:
    """The tensors that decode and read back the tree ``choices`` (None: ``MC_SIM_7B_63``)."""
    paths = sorted(check_choices(MC_SIM_7B_63 if choices is None else choices),
                   key=lambda path: (len(path), path))
    node = {tuple(path): i + 1 for i, path in enumerate(paths)}  # path -> node index
    n = len(paths) + 1

    attn_mask = torch.eye(n, dtype=torch.bool)  # every node sees itself ...
    attn_mask[:, 0] = True  # ... the root ...
    for path in paths:  # ... and its ancestors
        for d in range(1, len(path)):
            attn_mask[node[tuple(path)], node[tuple(path[:d])]] = True

    position_ids = torch.tensor([0] + [len(path) for path in paths])
    tree_indices = torch.tensor([0] + [path[-1] + TOPK * (len(path) - 1) + 1 for path in paths])

    # Leaves are the paths that prefix no other path; the paper's code lists them last node
    # first, and so do we, so that rows (and ties between them) are the same.
    prefixes = {tuple(path[:d]) for path in paths for d in range(1, len(path))}
    leaves = [path for path in reversed(paths) if tuple(path) not in prefixes]
    depth = max(len(path) for path in paths)
    retrieve_indices = torch.full((len(leaves), depth + 1), -1)
    retrieve_indices[:, 0] = 0  # every path starts at the root
    for row, leaf in enumerate(leaves):
        for d in range(1, len(leaf) + 1):
            retrieve_indices[row, d] = node[tuple(leaf[:d])]

    return MedusaBuffers(paths, attn_mask.to(device), position_ids.to(device),
                         tree_indices.to(device), retrieve_indices.to(device))


def expected_accept_length(choices, accuracies) -> float:
    """The candidates a step keeps beyond the root, on average, if head d's rank-r token is right
    with probability ``accuracies[d][r]`` independently of the others: a node is kept when every
    step of its path is right, so each node adds the product of its path's accuracies."""
    acc = torch.as_tensor(accuracies, dtype=torch.float64)
    total = 0.0
    for path in check_choices(choices):
        if len(path) > acc.shape[0]:
            raise ValueError(f"choice {path} is {len(path)} deep; accuracies cover "
                             f"{acc.shape[0]} heads")
        total += float(torch.prod(acc[torch.arange(len(path)), torch.tensor(path)]))
    return total


def tree_from_accuracies(accuracies, num_nodes: int) -> list[list[int]]:
    """The tree of ``num_nodes`` candidates with the highest expected accept length, built as
    the paper does: greedily add the node whose path is likeliest to be kept.

    accuracies: (num_heads, k) with ``accuracies[d][r]`` the measured chance that head d's
    rank-r token is the right one (``head_accuracies``), k <= 10. A path's chance is the
    product of its steps'; a child's chance is never above its parent's, so adding the
    likeliest node not yet in the tree always keeps it a tree, and the greedy tree is the
    ``num_nodes`` likeliest paths. Ties go to the shorter path, then the smaller ranks.
    """
    import heapq

    acc = torch.as_tensor(accuracies, dtype=torch.float64)
    if acc.ndim != 2 or not 1 <= acc.shape[1] <= TOPK or bool(((acc < 0) | (acc > 1)).any()):
        raise ValueError(f"accuracies must be (num_heads, k <= {TOPK}) chances in [0, 1], got "
                         f"shape {tuple(acc.shape)}")
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
    num_heads, k = acc.shape
    if num_nodes > sum(k ** d for d in range(1, num_heads + 1)):
        raise ValueError(f"{num_heads} heads of {k} ranks hold fewer than {num_nodes} nodes")
    frontier = [(-float(acc[0, r]), 1, [r]) for r in range(k)]  # (-chance, depth, path)
    heapq.heapify(frontier)
    tree = []
    while len(tree) < num_nodes:
        minus_chance, depth, path = heapq.heappop(frontier)
        tree.append(path)
        if depth < num_heads:  # its children become candidates
            for r in range(k):
                heapq.heappush(frontier, (minus_chance * float(acc[depth, r]), depth + 1,
                                          path + [r]))
    return tree


# ---------------------------------------------------------------------------------------------
# 2. Decoding a tree in one forward pass
# ---------------------------------------------------------------------------------------------


def _decode_tree(model, tree_tokens: torch.Tensor, bufs: MedusaBuffers, cache) -> torch.Tensor:
    """Hidden states (N+1, dim) of the tree's nodes after the ``cache.length`` cached tokens;
    the nodes' keys and values land in the cache after them."""
    positions = cache.length + bufs.position_ids  # (N+1,) the root sits right after the prefix
    hidden = model.hidden_states(tree_tokens[None], cache=cache, tree_mask=bufs.attn_mask,
                                 position_ids=positions)  # (1, N+1, dim)
    return hidden[0]


def tree_logits(model, input_ids: torch.Tensor, tree_tokens: torch.Tensor,
                bufs: MedusaBuffers) -> torch.Tensor:
    """The model's logits (N+1, vocab) at every node of a tree after the prompt ``input_ids``
    (1, prompt): row i is what the model predicts after the prompt and the tokens on the path
    from the root to node i. ``tree_tokens`` (N+1,): the root token, then each node's
    candidate. The prompt is cached first; the tree is one forward pass."""
    _check_prompt(model, input_ids)
    tree_tokens = torch.as_tensor(tree_tokens, device=input_ids.device)
    if tree_tokens.shape != (bufs.num_nodes,):
        raise ValueError(f"tree_tokens must be ({bufs.num_nodes},), one token per node root "
                         f"included, got {tuple(tree_tokens.shape)}")
    _check_room(model, input_ids.shape[1] + bufs.num_nodes)
    with torch.no_grad():
        cache = model.new_cache(max_len=input_ids.shape[1] + bufs.num_nodes)
        model(input_ids, cache=cache)
        return model.output(_decode_tree(model, tree_tokens, bufs.to(input_ids.device), cache))


# ---------------------------------------------------------------------------------------------
# 3. The heads
# ---------------------------------------------------------------------------------------------


class ResBlock(nn.Module):
    """``h + SiLU(W h + b)``: with W = 0 at the start it changes h only by SiLU(b)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)  # as the paper's code: start close to the identity

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + F.silu(self.linear(h))  # (..., dim)


class MedusaHeads(nn.Module):
    """``num_heads`` Medusa-1 heads: hidden states (..., dim) -> logits (num_heads, ..., vocab).

    Head k (0-based) guesses the token k + 2 places after the one whose hidden state it reads.
    Each head is ``num_layers`` residual blocks, then its own projection to the vocabulary or,
    with ``share_output_head=True``, the model's output head (``attach_output`` gives it; it is
    neither saved nor trained with the heads).
    """

    def __init__(self, dim: int, vocab_size: int, num_heads: int = 4, num_layers: int = 1,
                 seed: int | None = None, share_output_head: bool = False):
        super().__init__()
        for name, value in (("dim", dim), ("vocab_size", vocab_size), ("num_heads", num_heads),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.dim, self.vocab_size = dim, vocab_size
        self.num_heads, self.num_layers = num_heads, num_layers
        self.share_output_head = bool(share_output_head)

        def head() -> nn.Sequential:
            layers = [ResBlock(dim) for _ in range(num_layers)]
            if not self.share_output_head:
                layers.append(nn.Linear(dim, vocab_size, bias=False))
            return nn.Sequential(*layers)

        with torch.random.fork_rng(devices=[]):  # seed the initialisation, not the caller
            if seed is not None:
                torch.manual_seed(seed)
            self.heads = nn.ModuleList(head() for _ in range(num_heads))
        self.__dict__["shared_output"] = None  # kept out of the modules: not saved, not trained

    def attach_output(self, output: nn.Linear) -> MedusaHeads:
        """Project with ``output`` (the model's output head, (vocab, dim) weights); returns self."""
        if not self.share_output_head:
            raise ValueError("these heads have their own projections (share_output_head=False)")
        if tuple(output.weight.shape) != (self.vocab_size, self.dim):
            raise ValueError(f"the heads need an output head of shape ({self.vocab_size}, "
                             f"{self.dim}), got {tuple(output.weight.shape)}")
        self.__dict__["shared_output"] = output
        return self

    @classmethod
    def from_model(cls, model, num_heads: int = 4, num_layers: int = 1,
                   seed: int | None = None, share_output_head: bool = False) -> MedusaHeads:
        """Heads sized for ``model``, each projection a copy of its output head (the paper's
        starting point: every head first guesses roughly the model's own next token), or the
        output head itself with ``share_output_head=True``."""
        heads = cls(model.config.dim, model.config.vocab_size, num_heads, num_layers, seed,
                    share_output_head)
        if share_output_head:
            return heads.to(model.output.weight.device).attach_output(model.output)
        with torch.no_grad():
            for head in heads.heads:
                head[-1].weight.copy_(model.output.weight)
        return heads.to(model.output.weight.device)

    def forward(self, hidden: torch.Tensor, num_heads: int | None = None) -> torch.Tensor:
        """Logits (num_heads, ..., vocab) of the first ``num_heads`` heads (default: all): a
        tree only ``d`` deep needs only the first ``d``."""
        heads = self.heads[:num_heads]
        if not self.share_output_head:
            return torch.stack([head(hidden) for head in heads])  # (num_heads, ..., vocab)
        if self.shared_output is None:
            raise RuntimeError("these heads project with the model's output head: give it with "
                               "heads.attach_output(model.output), or load them with "
                               "MedusaHeads.from_zoo(name, model=model)")
        blocks = torch.stack([head(hidden) for head in heads])  # (num_heads, ..., dim)
        return self.shared_output(blocks)  # one projection for every head: the weights read once

    def save(self, path: str | Path, dtype: torch.dtype | None = None) -> None:
        """Weights (cast to ``dtype`` if given, e.g. torch.float16) and sizes in one safetensors
        file (``from_file`` reads it back). The sizes are one metadata entry: safetensors
        writes several in any order, and the file's sha256 would change from run to run."""
        from safetensors.torch import save_file

        sizes = {"dim": self.dim, "vocab_size": self.vocab_size, "num_heads": self.num_heads,
                 "num_layers": self.num_layers, "share_output_head": self.share_output_head}
        state = {k: (v if dtype is None else v.to(dtype)).contiguous()
                 for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata={"medusa": json.dumps(sizes, sort_keys=True)})

    @classmethod
    def from_file(cls, path: str | Path) -> MedusaHeads:
        """Heads saved by ``save``, in float32 and eval mode. Heads that share the output head
        come without it: ``attach_output(model.output)`` before use."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            sizes = json.loads(f.metadata()["medusa"])
        heads = cls(sizes["dim"], sizes["vocab_size"], sizes["num_heads"], sizes["num_layers"],
                    share_output_head=sizes["share_output_head"])
        heads.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
        return heads.eval()

    @classmethod
    def from_zoo(cls, name: str = "base", directory: str | Path | None = None,
                 model=None) -> MedusaHeads:
        """The trained heads of zoo model ``name``: ``medusa-NAME.safetensors`` in the zoo
        (checked against the sha256 of ``medusa-NAME.json`` when that manifest is there).
        Heads that share the output head get ``model``'s, by default zoo model ``name``'s
        loaded from the same directory."""
        from tinylm.zoo import load, sha256, zoo_dir

        path = zoo_dir(directory) / f"medusa-{name}.safetensors"
        if not path.exists():
            raise FileNotFoundError(
                f"no trained Medusa heads for {name!r} at {path}: train them on the frozen "
                f"zoo model with `tinylm zoo train medusa-{name}`, or write your own there "
                f"with heads.save({str(path)!r})")
        manifest_path = path.with_suffix(".json")
        if manifest_path.exists():
            recorded = json.loads(manifest_path.read_text(encoding="utf-8"))["sha256"]
            if sha256(path) != recorded:
                raise ValueError(f"{path} does not match the sha256 in {manifest_path}: the "
                                 f"file is damaged or was replaced; retrain it with "
                                 f"`tinylm zoo train medusa-{name}`")
        heads = cls.from_file(path)
        if heads.share_output_head:
            model = load(name, directory)[0] if model is None else model
            heads.to(model.output.weight.device).attach_output(model.output)
        return heads


@torch.no_grad()
def head_accuracies(model, heads, windows: torch.Tensor, k: int = TOPK,
                    batch_size: int = 16) -> torch.Tensor:
    """(num_heads, k): how often head d's rank-r guess is the token d + 2 places ahead, over
    every position of ``windows`` (n, seq) token ids that has one (held-out text)."""
    num_heads = heads.num_heads
    hits = torch.zeros(num_heads, k, dtype=torch.float64)
    counts = torch.zeros(num_heads, dtype=torch.float64)
    for i in range(0, len(windows), batch_size):
        batch = windows[i:i + batch_size]  # (b, seq)
        top = heads(model.hidden_states(batch)).topk(k, dim=-1).indices  # (heads, b, seq, k)
        for d in range(num_heads):
            ahead = batch[:, d + 2:]  # (b, seq - d - 2) the tokens head d guesses
            guesses = top[d, :, :ahead.shape[1]]  # (b, seq - d - 2, k)
            hits[d] += (guesses == ahead[..., None]).sum(dim=(0, 1)).double().cpu()
            counts[d] += ahead.numel()
    return (hits / counts.clamp(min=1)[:, None]).float()


# ---------------------------------------------------------------------------------------------
# 4. Candidates and acceptance
# ---------------------------------------------------------------------------------------------


def generate_candidates(logits: torch.Tensor, head_logits: torch.Tensor, bufs: MedusaBuffers):
    """The tree's tokens and its paths' tokens.

    logits: (vocab,) the base model's next-token logits; head_logits: (num_heads, vocab).
    Returns tree_tokens (N+1,), the root (the base model's argmax) then each node's candidate,
    and candidates (leaves, depth+1), each root-to-leaf path's tokens padded with -1.
    """
    root = logits.argmax(dim=-1, keepdim=True)  # (1,)
    top = head_logits[:bufs.depth].topk(TOPK, dim=-1).indices  # (depth, TOPK)
    pool = torch.cat((root, top.flatten()))  # (1 + depth * TOPK,) [root, head 1's top, ...]
    tree_tokens = pool[bufs.tree_indices]  # (N+1,)
    padded = bufs.retrieve_indices < 0
    candidates = tree_tokens[bufs.retrieve_indices.clamp(min=0)].masked_fill(padded, -1)
    return tree_tokens, candidates


def typical_threshold(p: torch.Tensor, epsilon: float, alpha: float) -> torch.Tensor:
    """Typical acceptance's bar, min(epsilon, alpha * exp(-H(p))), for each distribution p over
    the last axis (..., vocab) -> (...): the flatter p, the lower the bar."""
    entropy = -(p * torch.log(p + 1e-5)).sum(dim=-1)  # the paper's code adds 1e-5 too
    return torch.minimum(torch.full_like(entropy, epsilon), alpha * torch.exp(-entropy))


def evaluate_posterior(logits: torch.Tensor, candidates: torch.Tensor, temperature: float = 0.0,
                       posterior_threshold: float = 0.09, posterior_alpha: float = 0.3):
    """Pick the path to keep: (best path's row, candidates accepted on it beyond the root).

    logits: (paths, depth+1, vocab), the base model's logits at each node of each path;
    candidates: (paths, depth+1) their tokens, root first, padded with -1 (never accepted; the
    paper's code pads with token 0, which its greedy rule accepts where the argmax is 0).
    Candidate d of a path (d >= 1) is judged by the logits at node d - 1, what the model
    predicts after it. Greedy (temperature 0): accepted iff it is their argmax. Typical:
    accepted iff ``p(x) > min(posterior_threshold, posterior_alpha * exp(-H(p)))``, p the
    softmax of logits / temperature. A path keeps candidates up to its first refusal.
    """
    following = candidates[:, 1:]  # (paths, depth) the tokens to judge
    judge = logits[:, :-1]  # (paths, depth, vocab) the predictions that judge them
    real = following >= 0
    if temperature == 0:
        accepted = (following == judge.argmax(dim=-1)) & real
    else:
        p = torch.softmax(judge / temperature, dim=-1)  # (paths, depth, vocab)
        p_candidate = p.gather(-1, following.clamp(min=0)[..., None])[..., 0]  # (paths, depth)
        accepted = (p_candidate > typical_threshold(p, posterior_threshold, posterior_alpha)) \
            & real
    return _longest_path(accepted, None if temperature == 0 else p_candidate)


def _longest_path(accepted: torch.Tensor, p_along: torch.Tensor | None = None):
    """(row, kept) of the path that keeps the most candidates. accepted: (paths, depth) each
    candidate's verdict, a path keeping its candidates up to its first refusal. Ties go to the
    first row (greedy: the paths then hold the same tokens) or, given p_along (paths, depth),
    the candidates' probabilities, to the likeliest path."""
    lengths = accepted.long().cumprod(dim=1).sum(dim=1)  # (paths,) kept up to the first refusal
    accept_length = int(lengths.max())
    if accept_length == 0:
        return 0, 0
    if p_along is None:
        return int(lengths.argmax()), accept_length
    longest = torch.nonzero(lengths == accept_length)[:, 0]
    likelihood = torch.log(p_along[longest, :accept_length]).sum(dim=-1)
    return int(longest[likelihood.argmax()]), accept_length


def evaluate_tree(node_logits: torch.Tensor, tree_tokens: torch.Tensor, bufs: MedusaBuffers,
                  temperature: float = 0.0, posterior_threshold: float = 0.09,
                  posterior_alpha: float = 0.3):
    """``evaluate_posterior`` judged node by node: the same (best path's row, accepted).

    node_logits: (N+1, vocab) the base model's logits at each node; tree_tokens: (N+1,).
    ``evaluate_posterior`` reads the logits path by path, (paths, depth+1, vocab): a node
    shared by many paths (the root by all of them) is gathered, softmaxed and compared once per
    path. Here each node is judged once, by its parent's logits, and the verdicts are then
    read along the paths: with the 63-node tree, 64 rows instead of 42 x 5 = 210.
    """
    parents = bufs.parents[1:]  # (N,) each node's parent (the root has none)
    token = tree_tokens[1:]  # (N,)
    if temperature == 0:
        ok = token == node_logits.argmax(dim=-1)[parents]  # (N,) the parent's argmax
    else:
        judge = node_logits[parents]  # (N, vocab) what the model predicts before node i
        p = torch.softmax(judge / temperature, dim=-1)  # (N, vocab)
        p_token = p.gather(-1, token[:, None])[:, 0]  # (N,)
        ok = p_token > typical_threshold(p, posterior_threshold, posterior_alpha)
    following = bufs.retrieve_indices[:, 1:]  # (paths, depth) node ids, -1 padding
    real = following >= 0
    on_paths = (following - 1).clamp(min=0)  # node i's verdict is ok[i - 1]
    accepted = ok[on_paths] & real  # (paths, depth)
    return _longest_path(accepted, None if temperature == 0 else p_token[on_paths])


# ---------------------------------------------------------------------------------------------
# 5. Generation
# ---------------------------------------------------------------------------------------------


@dataclass
class MedusaStep:
    """One step of ``medusa_generate(..., trace=True)``: the tree it decoded and what it kept.

    tree_tokens: the N+1 tokens, root first; probs: each one's probability under what proposed
    it (the base model's softmax for the root, head d's for a node at depth d); predicted: the
    base model's argmax after each node (what it says comes next there); row: the chosen row of
    ``retrieve_indices``; path: the kept nodes, root first (the step's tokens are
    ``tree_tokens[path]``, trimmed at max_new_tokens or EOS as the output is).
    """

    tree_tokens: list[int]
    probs: list[float]
    predicted: list[int]
    row: int
    path: list[int]


@dataclass
class MedusaOutput:
    """sequences: (1, prompt + generated); accept_lengths: per step (one forward pass each),
    the candidate tokens kept beyond the base model's own token (after trimming to
    max_new_tokens or EOS), so generated = steps + sum(accept_lengths). steps: with
    ``trace=True``, one ``MedusaStep`` per step; buffers: the tree's ``MedusaBuffers``."""

    sequences: torch.Tensor
    accept_lengths: list[int]
    steps: list[MedusaStep] | None = None
    buffers: MedusaBuffers | None = field(default=None, repr=False)

    @property
    def tokens_per_step(self) -> float:
        return 1 + sum(self.accept_lengths) / max(len(self.accept_lengths), 1)


def _trace_step(logits, head_logits, tree_tokens, node_logits, bufs, row, path) -> MedusaStep:
    """What ``MedusaStep`` records, from one step's tensors (see medusa_generate)."""
    proposer = torch.cat((torch.softmax(logits, -1)[None], torch.softmax(head_logits, -1)))
    depth = bufs.position_ids  # (N+1,) 0 for the root, d for head d's nodes
    probs = proposer[depth, tree_tokens]  # (N+1,)
    return MedusaStep(tree_tokens.tolist(), [round(float(x), 5) for x in probs],
                      node_logits.argmax(dim=-1).tolist(), row, path)


def _keep_path(cache, past: int, nodes: torch.Tensor) -> None:
    """After a tree pass, keep only the keys and values of ``nodes`` (kept,), the accepted path
    (root first), moved to the slots right after the ``past`` cached tokens."""
    slots = past + nodes  # where the path's entries are now
    for k, v in zip(cache.k, cache.v, strict=True):  # each (batch, kv_heads, max_len, head_dim)
        k[:, :, past:past + len(nodes)] = k[:, :, slots]  # indexing copies: overlap is safe
        v[:, :, past:past + len(nodes)] = v[:, :, slots]
    cache.crop(past + len(nodes))


def medusa_generate(model, heads, input_ids: torch.Tensor, max_new_tokens: int = 64,
                    choices=None, temperature: float = 0.0, posterior_threshold: float = 0.09,
                    posterior_alpha: float = 0.3, eos_token_id: int | None = None,
                    trace: bool = False) -> MedusaOutput:
    """Continue ``input_ids`` (1, prompt) by up to ``max_new_tokens`` with Medusa decoding.

    heads: ``MedusaHeads`` (or any module mapping hidden states (dim,) to (num_heads, vocab)),
        at least as many as the tree is deep. choices: the tree (None: ``MC_SIM_7B_63``) or
        its ``MedusaBuffers``. temperature 0 is greedy acceptance (the output is plain greedy
        decoding's); above 0, typical acceptance with epsilon = posterior_threshold and
        alpha = posterior_alpha. Generation stops after ``eos_token_id`` if given.
        trace: also record every step's tree and verdicts (``out.steps``), for the viewer.
    """
    bufs = choices if isinstance(choices, MedusaBuffers) else medusa_buffers(choices)
    bufs = bufs.to(input_ids.device)
    _check_generate(model, heads, input_ids, max_new_tokens, bufs, temperature,
                    posterior_threshold, posterior_alpha)
    prompt_len = input_ids.shape[1]
    generated, accept_lengths, steps = [], [], []
    with torch.no_grad():
        cache = model.new_cache(max_len=prompt_len + max_new_tokens + bufs.num_nodes - 1)
        hidden = model.hidden_states(input_ids, cache=cache)[0, -1]  # (dim,) the last token's
        logits = model.output(hidden)  # (vocab,) the next token's
        while len(generated) < max_new_tokens:
            head_logits = (heads(hidden, bufs.depth) if isinstance(heads, MedusaHeads)
                           else heads(hidden))  # (the tree's depth or more, vocab)
            tree_tokens, _ = generate_candidates(logits, head_logits, bufs)
            past = cache.length
            tree_hidden = _decode_tree(model, tree_tokens, bufs, cache)  # (N+1, dim)
            node_logits = model.output(tree_hidden)  # (N+1, vocab)
            best, accepted = evaluate_tree(node_logits, tree_tokens, bufs, temperature,
                                           posterior_threshold, posterior_alpha)
            nodes = bufs.retrieve_indices[best, :accepted + 1]  # (accepted + 1,) root first
            _keep_path(cache, past, nodes)
            tokens = tree_tokens[nodes].tolist()[:max_new_tokens - len(generated)]
            if eos_token_id is not None and eos_token_id in tokens:
                tokens = tokens[:tokens.index(eos_token_id) + 1]
            generated += tokens
            accept_lengths.append(len(tokens) - 1)
            if trace:
                steps.append(_trace_step(logits, head_logits, tree_tokens, node_logits, bufs,
                                         best, nodes[:len(tokens)].tolist()))
            if eos_token_id is not None and tokens[-1] == eos_token_id:
                break
            hidden, logits = tree_hidden[nodes[-1]], node_logits[nodes[-1]]  # the next root's
    new = torch.tensor(generated, dtype=input_ids.dtype, device=input_ids.device)
    return MedusaOutput(torch.cat((input_ids, new[None]), dim=1), accept_lengths,
                        steps if trace else None, bufs)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_prompt(model, input_ids):
    if not hasattr(model, "hidden_states") or not hasattr(model, "new_cache"):
        raise TypeError(f"model must be a tinylm Llama, got {type(model).__name__}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or \
            input_ids.shape[1] == 0:
        raise ValueError("input_ids must be a (1, prompt) tensor of token ids, got "
                         f"{getattr(input_ids, 'shape', type(input_ids).__name__)}")
    if input_ids.shape[0] != 1:
        raise ValueError(f"Medusa decodes one sequence at a time (batch 1): accepted paths "
                         f"differ in length between rows; got batch {input_ids.shape[0]}")


def _check_room(model, needed: int):
    if needed > model.config.max_seq_len:
        raise ValueError(f"{needed} tokens (prompt, generated and the tree's nodes) do not fit "
                         f"in max_seq_len={model.config.max_seq_len}: shorten the prompt or "
                         f"max_new_tokens, or use a smaller tree")


def _check_generate(model, heads, input_ids, max_new_tokens, bufs, temperature,
                    posterior_threshold, posterior_alpha):
    _check_prompt(model, input_ids)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or \
            max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature!r}")
    if not 0 <= posterior_threshold <= 1 or not posterior_alpha >= 0:
        raise ValueError(f"posterior_threshold must be in [0, 1] and posterior_alpha >= 0, got "
                         f"{posterior_threshold!r} and {posterior_alpha!r}")
    vocab, dim = model.config.vocab_size, model.config.dim
    if getattr(heads, "vocab_size", vocab) != vocab or getattr(heads, "dim", dim) != dim:
        raise ValueError(f"the heads read width {getattr(heads, 'dim', '?')} and predict "
                         f"{getattr(heads, 'vocab_size', '?')} tokens, the model has width "
                         f"{dim} and {vocab} tokens")
    if getattr(heads, "num_heads", bufs.depth) < bufs.depth:
        raise ValueError(f"the tree is {bufs.depth} deep but there are only {heads.num_heads} "
                         "heads (one per level)")
    if vocab < TOPK:
        raise ValueError(f"each head offers its top {TOPK} tokens; the vocabulary has {vocab}")
    _check_room(model, input_ids.shape[1] + max_new_tokens + bufs.num_nodes - 1)
