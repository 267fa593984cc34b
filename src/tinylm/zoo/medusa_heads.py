"""Medusa-1 heads for a zoo model: trained on the frozen model, from a fixed seed.

``tinylm zoo train medusa-base`` (``train("medusa-base")``) trains ``MedusaHeads`` on the zoo's
``base`` model and writes, next to it, ``medusa-base.safetensors`` (the heads in float16) and
``medusa-base.json`` (the manifest: recipe, loss curves, held-out accuracy of every head).
``MedusaHeads.from_zoo("base")`` loads them.

What a head learns. The model reads a window ``t_0 .. t_seq`` and gives hidden states
``h_0 .. h_{seq-1}`` (the final norm's output). Its own output head predicts ``t_{i+1}`` from
``h_i``; Medusa head k (0-based) predicts ``t_{i+k+2}`` from the same ``h_i``, so head k has
``seq - k - 1`` targets per window. The loss is Medusa-1's: the sum over heads of their mean
cross-entropies, head k weighted by ``lambda_k = 0.8**k`` (Cai et al. 2024, section 2.3.1): the
farther ahead, the harder the guess and the smaller its weight.

Medusa-1 keeps the backbone frozen: its weights do not require gradients, its hidden states
are computed under ``torch.no_grad``, and the optimizer holds the heads' parameters only. The
heads share the model's output head (``share_output_head=True``): each is one residual block,
66k parameters at width 256, so four heads store in about half a megabyte (see
``tinylm.medusa``). The loop is the zoo's (``tinylm.training``): the same token stream and
windows, shuffled batches, ``param_groups``, ``torch.optim.AdamW``, the warm-up and cosine
schedule, gradient clipping.

    from tinylm import zoo
    from tinylm.medusa import MedusaHeads, medusa_generate
    model, tok = zoo.load("base")
    heads = MedusaHeads.from_zoo("base", model=model)
    out = medusa_generate(model, heads, ids, max_new_tokens=64)

Medusa-2 trains the backbone together with its heads: ``medusa2_loss`` adds the model's own
next-token loss to the heads' (weighted by lambda_0), and ``train_medusa2`` runs a short joint
run in place, the backbone at a smaller learning rate than the heads. The zoo keeps Medusa-1
heads only; chapter 7 demonstrates Medusa-2 on a few steps.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from tinylm.medusa import MedusaHeads
from tinylm.training import clip_grad_norm, param_groups, set_learning_rate, shuffled_batches
from tinylm.zoo import (
    ADAM_BETAS,
    ADAM_EPS,
    STORE_DTYPE,
    load,
    lr_at,
    prepare_run,
    read_manifest,
    run_record,
    token_stream,
    torch_threads,
    windows,
    zoo_dir,
)

CHECK_WINDOWS = 8  # validation windows whose loss training records every eval_every steps


@dataclass(frozen=True)
class HeadsSpec:
    """Medusa heads for zoo model ``base``: their sizes and the recipe that trains them."""

    name: str
    base: str
    description: str
    steps: int
    num_heads: int = 4
    num_layers: int = 1
    share_output_head: bool = True
    head_decay: float = 0.8  # lambda_k = head_decay ** k, the paper's weights
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # fields the zoo's schedule (tinylm.zoo.lr_at) reads
    warmup_steps: int = 20
    weight_decay: float = 0.0  # as the paper's training script
    grad_clip: float = 1.0
    seed: int = 0
    corpus_seed: int = 0


HEADS_SPECS: dict[str, HeadsSpec] = {
    "medusa-base": HeadsSpec(
        name="medusa-base", base="base",
        description="four Medusa-1 heads on the frozen base model, sharing its output head "
                    "(chapter 7)",
        steps=800),
}


def spec(name: str) -> HeadsSpec:
    if name not in HEADS_SPECS:
        raise KeyError(f"no Medusa heads {name!r} in the zoo; there are {sorted(HEADS_SPECS)}")
    return HEADS_SPECS[name]


# ---------------------------------------------------------------------------------------------
# The objective
# ---------------------------------------------------------------------------------------------


def head_targets(windows_: torch.Tensor, k: int) -> torch.Tensor:
    """Head k's targets (batch, seq - k - 1): the token k + 2 places after each input position
    of ``windows_`` (batch, seq + 1) that has one."""
    return windows_[:, k + 2:]


def medusa_loss(head_logits: torch.Tensor, windows_: torch.Tensor,
                head_decay: float = 0.8) -> tuple[torch.Tensor, list[float]]:
    """Medusa-1's loss: sum over heads k of ``head_decay**k`` * head k's mean cross-entropy.

    head_logits: (num_heads, batch, seq, vocab), the heads on the hidden states of
    ``windows_[:, :-1]``; windows_: (batch, seq + 1). Returns the weighted sum (a scalar to
    back-propagate) and each head's unweighted mean loss (nats per token).
    """
    num_heads, batch, seq, _ = head_logits.shape
    if windows_.shape != (batch, seq + 1):
        raise ValueError(f"head logits {tuple(head_logits.shape)} need windows of shape "
                         f"({batch}, {seq + 1}), got {tuple(windows_.shape)}")
    if num_heads > seq - 1:
        raise ValueError(f"{num_heads} heads need windows of more than {num_heads + 1} tokens")
    total, per_head = head_logits.new_zeros(()), []
    for k in range(num_heads):
        targets = head_targets(windows_, k)  # (batch, seq - k - 1)
        logits = head_logits[k, :, :seq - k - 1]  # (batch, seq - k - 1, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        total = total + head_decay**k * loss
        per_head.append(loss.item())
    return total, per_head


def backbone_hidden(model, windows_: torch.Tensor) -> torch.Tensor:
    """The frozen model's hidden states (batch, seq, dim) on ``windows_[:, :-1]``."""
    with torch.no_grad():
        return model.hidden_states(windows_[:, :-1])


def heads_step(model, heads: MedusaHeads, optimizer, windows_: torch.Tensor, head_decay: float,
               max_grad_norm: float | None) -> tuple[float, list[float]]:
    """One optimizer step of the heads on a batch; returns the weighted loss and each head's."""
    optimizer.zero_grad(set_to_none=True)
    loss, per_head = medusa_loss(heads(backbone_hidden(model, windows_)), windows_, head_decay)
    loss.backward()
    if max_grad_norm is not None:
        clip_grad_norm(heads.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item(), per_head


@torch.no_grad()
def evaluate_heads(model, heads: MedusaHeads, windows_: torch.Tensor, head_decay: float = 0.8,
                   batch_size: int = 16) -> dict:
    """Held-out scores over ``windows_`` (n, seq + 1): the weighted loss, each head's mean loss
    and top-1 accuracy (its argmax is the token k + 2 ahead), and the model's own top-1
    accuracy and loss on the next token, for comparison. Puts the heads back in their mode."""
    was_training = heads.training
    heads.eval()
    num_heads = heads.num_heads
    loss_sums, hits = [0.0] * num_heads, [0] * num_heads
    counts, own_hits, own_count, own_loss = [0] * num_heads, 0, 0, 0.0
    for i in range(0, len(windows_), batch_size):
        batch = windows_[i:i + batch_size]  # (b, seq + 1)
        hidden = backbone_hidden(model, batch)  # (b, seq, dim)
        head_logits = heads(hidden)  # (num_heads, b, seq, vocab)
        seq = hidden.shape[1]
        for k in range(num_heads):
            targets = head_targets(batch, k)  # (b, seq - k - 1)
            logits = head_logits[k, :, :seq - k - 1]
            loss_sums[k] += F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                            reduction="sum").item()
            hits[k] += int((logits.argmax(dim=-1) == targets).sum())
            counts[k] += targets.numel()
        own_logits = model.output(hidden)  # (b, seq, vocab) the model's own next token
        own_hits += int((own_logits.argmax(dim=-1) == batch[:, 1:]).sum())
        own_loss += F.cross_entropy(own_logits.flatten(0, 1), batch[:, 1:].flatten(),
                                    reduction="sum").item()
        own_count += batch[:, 1:].numel()
    heads.train(was_training)
    head_losses = [s / c for s, c in zip(loss_sums, counts, strict=True)]
    return {"loss": sum(head_decay**k * loss for k, loss in enumerate(head_losses)),
            "head_losses": head_losses,
            "head_top1": [h / c for h, c in zip(hits, counts, strict=True)],
            "base_top1": own_hits / own_count, "base_loss": own_loss / own_count}


# ---------------------------------------------------------------------------------------------
# Medusa-2: the backbone trained with its heads
# ---------------------------------------------------------------------------------------------


def medusa2_loss(model, heads: MedusaHeads, windows_: torch.Tensor, head_decay: float = 0.8,
                 heads_weight: float = 0.2, own_weight: float = 1.0
                 ) -> tuple[torch.Tensor, float, list[float]]:
    """Medusa-2's objective: the model's own next-token loss plus ``heads_weight`` (the paper's
    lambda_0) times Medusa-1's heads loss, both through the backbone (not frozen).

    The model's own loss is the anchor: without it (``own_weight=0``, the cautionary run),
    gradients from the heads move the backbone wherever the heads guess best and the model's
    own next token gets worse. Returns the total (to back-propagate), the model's own loss and
    each head's loss.
    """
    hidden = model.hidden_states(windows_[:, :-1])  # (batch, seq, dim), with gradients
    own = F.cross_entropy(model.output(hidden).flatten(0, 1), windows_[:, 1:].flatten())
    heads_loss, per_head = medusa_loss(heads(hidden), windows_, head_decay)
    return own_weight * own + heads_weight * heads_loss, own.item(), per_head


def train_medusa2(model, heads: MedusaHeads, steps: int = 30, batch_size: int = 8,
                  seq_len: int = 64, backbone_lr: float = 3e-4, heads_lr: float = 1e-3,
                  heads_weight: float = 0.2, own_weight: float = 1.0, head_decay: float = 0.8,
                  seed: int = 0, max_documents: int | None = 2000, progress: bool = True) -> dict:
    """A short Medusa-2 run, in place: ``model`` and ``heads`` trained together on the course
    corpus with ``medusa2_loss``, the backbone at a smaller learning rate than the heads (the
    paper's differential learning rates; it also starts from trained Medusa-1 heads, its
    warm-up). ``own_weight=0`` is the cautionary run: the heads' loss alone through an
    unfrozen backbone. Returns per step ``own_loss`` (the model's) and ``head_losses``.
    Pass copies (``copy.deepcopy``) to keep the zoo's model and heads as they were.
    """
    from tqdm.auto import tqdm

    model.train().requires_grad_(True)
    heads.train().requires_grad_(True)
    stream, _ = token_stream("train", seed=seed, max_documents=max_documents)
    batches = shuffled_batches(windows(stream, seq_len), batch_size, seed=seed)
    groups = [{"params": list(model.parameters()), "lr": backbone_lr},
              {"params": list(heads.parameters()), "lr": heads_lr}]
    optimizer = torch.optim.AdamW(groups, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=0.0)
    own_history, head_history = [], []
    for _ in tqdm(range(steps), desc="Medusa-2", disable=not progress, unit="step"):
        optimizer.zero_grad(set_to_none=True)
        loss, own, per_head = medusa2_loss(model, heads, next(batches), head_decay,
                                           heads_weight, own_weight)
        loss.backward()
        clip_grad_norm([*model.parameters(), *heads.parameters()], 1.0)
        optimizer.step()
        own_history.append(round(own, 4))
        head_history.append([round(x, 4) for x in per_head])
    model.eval().requires_grad_(False)
    heads.eval()
    return {"own_loss": own_history, "head_losses": head_history}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def train(name: str = "medusa-base", steps: int | None = None, out_dir: str | Path | None = None,
          progress: bool = True, max_documents: int | None = None,
          validation_windows: int | None = None, threads: int | None = None,
          batch_size: int | None = None, eval_every: int | None = None, model=None) -> dict:
    """Train heads ``name`` on their frozen zoo model from their seed; write
    ``NAME.safetensors`` (float16) and ``NAME.json`` to ``out_dir`` (default: the zoo) and
    return the manifest.

    ``steps``, ``batch_size``, ``max_documents`` and ``threads`` work as in
    ``tinylm.zoo.train``; ``validation_windows`` scores the heads on the first validation
    windows only (default: all); ``model`` is the backbone (default: the zoo model the spec
    names, loaded from the zoo). The manifest holds ``history`` (the weighted loss of every
    step), ``head_history`` (each head's loss, per step), ``lr_history``, ``eval_history``
    ([step, weighted loss] on the first validation windows) and ``validation``: each head's
    held-out loss and top-1 accuracy, measured on the stored float16 heads.
    """
    sp, steps, eval_every, command = prepare_run(spec(name), name, steps, out_dir,
                                                 max_documents, threads, batch_size, eval_every)
    with torch_threads(threads):
        return _train(sp, steps, out_dir, progress, max_documents, validation_windows,
                      command, eval_every, model)


def _train(sp: HeadsSpec, steps: int, out_dir, progress: bool, max_documents,
           validation_windows, command: str, eval_every: int, model) -> dict:
    from tqdm.auto import tqdm

    started = time.time()
    base_sha256 = None
    if model is None:
        model, _ = load(sp.base)
        base_sha256 = read_manifest(sp.base)["sha256"]
    model.eval().requires_grad_(False)  # frozen: no gradients reach the backbone

    stream, n_docs = token_stream("train", seed=sp.seed, corpus_seed=sp.corpus_seed,
                                  max_documents=max_documents)
    data = windows(stream, sp.seq_len)  # (n, seq_len + 1)
    val_data = windows(token_stream("validation", corpus_seed=sp.corpus_seed)[0], sp.seq_len)
    if validation_windows is not None:
        val_data = val_data[:validation_windows]
    check_data = val_data[:CHECK_WINDOWS]

    heads = MedusaHeads.from_model(model, sp.num_heads, sp.num_layers, seed=sp.seed,
                                   share_output_head=sp.share_output_head).train()
    optimizer = torch.optim.AdamW(param_groups(heads, sp.weight_decay), lr=sp.lr,
                                  betas=ADAM_BETAS, eps=ADAM_EPS)
    batches = shuffled_batches(data, sp.batch_size, seed=sp.seed)
    history, head_history, lr_history = [], [], []
    eval_history = [[0, round(evaluate_heads(model, heads, check_data, sp.head_decay)["loss"], 4)]]
    bar = tqdm(range(steps), desc=f"train {sp.name}", disable=not progress, unit="step")
    train_start = time.time()
    for step in bar:
        lr = lr_at(step, sp, steps)
        set_learning_rate(optimizer, lr)
        loss, per_head = heads_step(model, heads, optimizer, next(batches), sp.head_decay,
                                    sp.grad_clip)
        history.append(round(loss, 4))
        head_history.append([round(x, 4) for x in per_head])
        lr_history.append(float(f"{lr:.6g}"))
        done = step + 1
        if done % eval_every == 0 or done == steps:
            check = evaluate_heads(model, heads, check_data, sp.head_decay)["loss"]
            eval_history.append([done, round(check, 4)])
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}")
    train_seconds = time.time() - train_start

    out = zoo_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights_path, manifest_path = out / f"{sp.name}.safetensors", out / f"{sp.name}.json"
    heads.save(weights_path, dtype=STORE_DTYPE)
    stored = MedusaHeads.from_file(weights_path)  # score what was stored, in float32
    if stored.share_output_head:
        stored.attach_output(model.output)
    scores = evaluate_heads(model, stored, val_data, sp.head_decay)
    tail = history[-min(50, len(history)):]
    manifest = {
        "name": sp.name,
        "description": sp.description,
        "base": sp.base,
        "base_sha256": base_sha256,
        "heads": {"num_heads": sp.num_heads, "num_layers": sp.num_layers,
                  "share_output_head": sp.share_output_head, "dim": heads.dim,
                  "vocab_size": heads.vocab_size,
                  "predicts": "head k (0-based) predicts the token k + 2 places after the "
                              "hidden state's; the base model's output head predicts +1"},
        "parameters": sum(p.numel() for p in heads.parameters()),
        "parameters_per_head": sum(p.numel() for p in heads.heads[0].parameters()),
        "loss": f"sum over heads k of {sp.head_decay}**k * mean cross-entropy of head k",
        "training": {k: v for k, v in asdict(sp).items() if k not in ("name", "description")}
                    | {"steps": steps},
        "data": {
            "corpus": f"tinylm.synthetic.course_corpus(split='train', seed={sp.corpus_seed})",
            "format": "<s> document </s>, documents shuffled with the seed, packed into "
                      f"windows of {sp.seq_len + 1} tokens (tinylm.zoo.token_stream, windows)",
            "train_documents": n_docs,
            "train_windows": len(data),
            "tokens_seen": steps * sp.batch_size * sp.seq_len,
            "validation": f"the first {len(val_data)} windows of tinylm.synthetic."
                          f"course_corpus(split='validation', seed={sp.corpus_seed}), in order",
            "validation_tokens": int(val_data[:, 1:].numel()),
        },
        "command": command,
        "steps": steps,
        "train_loss": round(sum(tail) / len(tail), 4),
        "train_loss_last_steps": len(tail),
        "validation": {"loss": round(scores["loss"], 4),
                       "head_losses": [round(x, 4) for x in scores["head_losses"]],
                       "head_top1": [round(x, 4) for x in scores["head_top1"]],
                       "base_top1": round(scores["base_top1"], 4)},
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / steps, 3),
        **run_record(started, weights_path),
        "history": history,
        "head_history": head_history,
        "lr_history": lr_history,
        "eval_every": eval_every,
        "check_windows": len(check_data),
        "eval_history": eval_history,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def report(m: dict) -> str:
    """One line about a training run, for the command line."""
    top1 = ", ".join(f"{x:.2f}" for x in m["validation"]["head_top1"])
    return (f"{m['name']}: {m['parameters']:,} parameters, {m['steps']} steps, train loss "
            f"{m['train_loss']:.3f}, held-out top-1 per head {top1} (the base model's own next "
            f"token: {m['validation']['base_top1']:.2f}), {m['seconds_per_step']:.2f} s/step; "
            f"wrote {m['bytes'] / 1e3:.0f} KB")
