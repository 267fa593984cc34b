"""Training a language model: the pieces of the loop that made the model zoo.

One step of pre-training, in the order this module builds it:

1. ``next_token_loss``: every position of a window predicts the token after it; the loss is the
   mean cross-entropy of those predictions (nats per token).
2. ``shuffled_batches``: the training windows in a fresh random order every epoch.
3. ``param_groups``: which weights get weight decay (matrices) and which do not (norm gains,
   biases).
4. ``AdamW``: the optimizer, written out: moving averages of the gradient and of its square,
   bias correction, and decoupled weight decay. It equals ``torch.optim.AdamW`` (the tests check
   it step by step), which the zoo uses.
5. ``warmup_cosine``: the learning rate of each step, a linear warm-up then a cosine decay to a
   floor; ``torch_warmup_cosine`` builds the same schedule from ``torch.optim.lr_scheduler``.
6. ``clip_grad_norm``: scale all gradients down together when their norm is too large.
7. ``train_step``: one optimizer step on a batch, split into micro-batches whose gradients add
   up to the gradient of the whole batch (gradient accumulation).
8. ``evaluate``: the mean next-token loss on held-out windows, without touching training.

The data are *windows*: int64 tensors (batch, seq_len + 1) cut from one long token stream
(``tinylm.zoo.windows``). A window holds the inputs and the targets at once: inputs
``window[:, :-1]``, targets ``window[:, 1:]``, shifted by one.

Reproducibility: nothing here draws from torch's global random state. The model's weights come
from ``Llama(config, seed=...)``, the batch order from ``shuffled_batches(..., seed=...)``, each
with its own ``torch.Generator``; the same seeds, data and thread count give the same steps bit
for bit. (Different thread counts may add floating-point sums in a different order and differ
in the last bits.) Nothing here moves tensors between devices: new tensors are made on the
device of the ones they come from, so the loop runs wherever the model and data are.

    model = Llama(config, seed=0).train()
    optimizer = AdamW(param_groups(model, weight_decay=0.1), lr=3e-3, betas=(0.9, 0.95))
    batches = shuffled_batches(windows, batch_size=32, seed=0)
    for step in range(total_steps):
        set_learning_rate(optimizer, warmup_cosine(step, total_steps, 3e-3, 40, 0.1))
        loss = train_step(model, optimizer, next(batches), max_grad_norm=1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# 1. The objective: predict the next token
# ---------------------------------------------------------------------------------------------


def next_token_loss(logits: torch.Tensor, windows: torch.Tensor,
                    reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the next-token predictions of ``logits`` against ``windows``.

    windows: int (batch, seq + 1), the whole windows, inputs and targets together.
    logits:  (batch, seq, vocab), the model's output on the inputs: ``model(windows[:, :-1])``.
    Position i of the logits predicts token i + 1 of the window, so the targets are
    ``windows[:, 1:]``; the shift happens here, once. Passing the logits of the whole window,
    or targets shifted already, fails with a ValueError instead of training on the wrong pairs.

    Returns a scalar: the mean over the batch * seq predictions (nats per token), or their sum
    with ``reduction="sum"`` (to average over several batches exactly).
    """
    _check_logits_and_windows(logits, windows)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    targets = windows[:, 1:]  # (batch, seq): the token after each input position
    return F.cross_entropy(logits.flatten(0, 1),  # (batch * seq, vocab)
                           targets.flatten(),  # (batch * seq,)
                           reduction=reduction)


def _check_logits_and_windows(logits, windows) -> None:
    if not isinstance(windows, torch.Tensor) or windows.dtype not in (torch.int64, torch.int32):
        raise TypeError("windows must be an int64/int32 tensor of token ids (batch, seq + 1), "
                        f"got {getattr(windows, 'dtype', type(windows).__name__)}")
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor (batch, seq, vocab), got "
                        f"{getattr(logits, 'dtype', type(logits).__name__)}")
    if windows.ndim != 2 or windows.shape[1] < 2:
        raise ValueError("windows must be (batch, seq + 1) with seq >= 1, got shape "
                         f"{tuple(windows.shape)}")
    if logits.ndim != 3:
        raise ValueError(f"logits must be (batch, seq, vocab), got shape {tuple(logits.shape)}")
    batch, width = windows.shape
    if logits.shape[:2] != (batch, width - 1):
        raise ValueError(
            f"windows {tuple(windows.shape)} hold {width - 1} next-token targets per row, so "
            f"the logits must be (batch, seq, vocab) = ({batch}, {width - 1}, vocab), got "
            f"{tuple(logits.shape)}: compute them as model(windows[:, :-1]) and pass the whole "
            "windows (the shift to the targets happens inside next_token_loss)")


# ---------------------------------------------------------------------------------------------
# 2. Batches: every window once per epoch, in a new order each epoch
# ---------------------------------------------------------------------------------------------


def shuffled_batches(windows: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless batches (batch_size, seq + 1) of ``windows`` (n, seq + 1).

    Each epoch draws a random order of the n windows and walks through it batch_size at a
    time; the last n % batch_size windows of the order wait for a later epoch (every batch is
    full). The order comes from a ``torch.Generator`` seeded with ``seed``: the same seed gives
    the same batches.
    """
    n = len(windows)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}] (the number of windows), "
                         f"got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(n, generator=generator), 0
    while True:
        if cursor + batch_size > n:  # not enough left for a full batch: a new epoch
            order, cursor = torch.randperm(n, generator=generator), 0
        yield windows[order[cursor : cursor + batch_size]]
        cursor += batch_size


# ---------------------------------------------------------------------------------------------
# 3. Which weights decay
# ---------------------------------------------------------------------------------------------


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The model's trainable parameters in two optimizer groups, as in nanoGPT:

    - matrices (ndim >= 2: linear weights, embeddings), decayed by ``weight_decay``;
    - vectors (ndim < 2: RMSNorm gains, biases), not decayed.

    Weight decay pulls weights towards zero; for a gain that multiplies a normalised vector,
    zero is not a sensible default (1 is), and a bias has no scale to keep small.
    A tied matrix is listed once (``named_parameters`` skips the second name).
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    trainable = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in trainable if p.ndim >= 2]
    vectors = [p for p in trainable if p.ndim < 2]
    return [{"params": matrices, "weight_decay": weight_decay},
            {"params": vectors, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------------
# 4. The optimizer: AdamW, written out
# ---------------------------------------------------------------------------------------------


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    For every parameter p with gradient g, at step t = 1, 2, ...:

        p  <- p - lr * weight_decay * p          decay first, on the weights before the step
        m  <- beta1 * m + (1 - beta1) * g        moving average of the gradient
        v  <- beta2 * v + (1 - beta2) * g**2     moving average of its square (per element)
        m_hat = m / (1 - beta1**t)               bias correction: m and v start at zero
        v_hat = v / (1 - beta2**t)
        p  <- p - lr * m_hat / (sqrt(v_hat) + eps)

    Each element moves by about lr, whatever the scale of its gradient: m_hat / sqrt(v_hat) is
    near +-1 when the gradient keeps its sign and smaller when it is noisy. "Decoupled": the
    decay is applied to the weights directly, not added to the gradient (where Adam would
    rescale it). The arithmetic below is grouped as torch groups it, so both give the same
    floats. Parameter groups may set their own ``lr`` and ``weight_decay``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (torch fills in the defaults), then check its settings."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        beta1, beta2 = group["betas"]
        if not group["lr"] >= 0:
            raise ValueError(f"lr must be >= 0, got {group['lr']!r}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {group['betas']!r}")
        if not group["eps"] >= 0:
            raise ValueError(f"eps must be >= 0, got {group['eps']!r}")
        if not group["weight_decay"] >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {group['weight_decay']!r}")

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-computes the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, weight_decay, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:  # not used in this step's loss: left as it is
                    continue
                self._update(p, p.grad, self.state[p], lr, beta1, beta2, eps, weight_decay)
        return loss

    @staticmethod
    def _update(p, g, state, lr, beta1, beta2, eps, weight_decay) -> None:
        if not state:  # the first step: both moments start at zero
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)  # m
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)  # v
        m, v = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        t = state["step"]

        p.mul_(1 - lr * weight_decay)  # decoupled weight decay
        m.lerp_(g, 1 - beta1)  # m + (1 - beta1) * (g - m) = beta1 * m + (1 - beta1) * g
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # beta2 * v + (1 - beta2) * g * g

        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        denominator = (v.sqrt() / bias_correction2**0.5).add_(eps)  # sqrt(v_hat) + eps
        p.addcdiv_(m, denominator, value=-lr / bias_correction1)  # p - lr * m_hat / denominator


# ---------------------------------------------------------------------------------------------
# 5. The learning-rate schedule: linear warm-up, cosine decay to a floor
# ---------------------------------------------------------------------------------------------


def warmup_cosine(step: int, total_steps: int, peak_lr: float, warmup_steps: int,
                  min_lr_ratio: float) -> float:
    """The learning rate of step ``step`` (0-based) of ``total_steps``.

    - Warm-up, steps 0 .. warmup_steps - 1: rises linearly, peak_lr / warmup_steps at step 0
      up to peak_lr at step warmup_steps - 1. Adam's second moment is still a poor estimate
      in the first steps; small steps keep them from throwing the weights far.
    - Decay, from step warmup_steps: half a cosine from peak_lr (at warmup_steps) towards
      peak_lr * min_lr_ratio (reached at total_steps, one step after the last). Late steps
      are small, so the weights settle instead of bouncing around a minimum.
    - After total_steps the rate stays at the floor.

    ``warmup_steps=0`` skips the warm-up. Equals ``torch_warmup_cosine`` step for step.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps) = [0, {total_steps}), got "
                         f"warmup_steps={warmup_steps} (the cosine decay needs at least one "
                         "step after the warm-up)")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio!r}")
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 -> 1 over the decay
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))  # 1 -> 0
    return peak_lr * (min_lr_ratio + (1 - min_lr_ratio) * cosine)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def torch_warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                        min_lr_ratio: float) -> torch.optim.lr_scheduler.LRScheduler:
    """The same schedule from torch's own schedulers, for ``optimizer`` whose lr is the peak.

    ``LinearLR`` multiplies the lr by ``1/w + (1 - 1/w) * min(e, w - 1) / (w - 1) = (e + 1)/w``
    at its step e (w = warmup_steps), and ``CosineAnnealingLR``, which ``SequentialLR`` starts
    afresh at step w, decays over the ``total_steps - w`` remaining steps to ``eta_min``.
    Call ``scheduler.step()`` after each ``optimizer.step()``. (Torch updates the rate from
    the previous one, so the two agree to about 1e-13 relative, not bit for bit.)
    """
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    warmup_cosine(0, total_steps, 1.0, warmup_steps, min_lr_ratio)  # the same argument checks
    peak_lr = optimizer.param_groups[0]["lr"]
    decay = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps,
                              eta_min=peak_lr * min_lr_ratio)
    if warmup_steps == 0:
        return decay
    warmup = LinearLR(optimizer, start_factor=1 / warmup_steps, end_factor=1.0,
                      total_iters=warmup_steps - 1)
    return SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


# ---------------------------------------------------------------------------------------------
# 6. Gradient clipping
# ---------------------------------------------------------------------------------------------


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients by one factor so that their global L2 norm is at most ``max_norm``.

    The global norm treats every gradient as one long vector: sqrt(sum of squares of all).
    One unlucky batch with a huge gradient would otherwise throw the weights far; clipping
    keeps the direction and bounds the length. Returns the norm before clipping (a 0-d
    tensor). The same as ``torch.nn.utils.clip_grad_norm_``, including its 1e-6 guard.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # (n_tensors,)
    total_norm = torch.linalg.vector_norm(norms)  # sqrt(sum of all squares)
    scale = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)  # 1 when already short enough
    for g in grads:
        g.mul_(scale)
    return total_norm


# ---------------------------------------------------------------------------------------------
# 7. One training step, with gradient accumulation
# ---------------------------------------------------------------------------------------------


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, windows: torch.Tensor,
               max_grad_norm: float | None = None, micro_batches: int = 1) -> float:
    """One optimizer step on a batch of ``windows`` (batch, seq + 1); returns its mean loss.

    With ``micro_batches=k`` the batch runs through the model in k slices of batch / k windows
    (less memory for the activations). Each slice's mean loss is scaled by 1/k before
    ``backward``, and ``backward`` adds to the gradients already there, so after the k slices
    every ``p.grad`` holds the gradient of the mean loss over the whole batch, as if it had run
    at once. Then: clip the gradients to ``max_grad_norm`` (None: no clipping), step.
    """
    if windows.ndim != 2:
        raise ValueError(f"windows must be (batch, seq + 1), got shape {tuple(windows.shape)}")
    batch = windows.shape[0]
    if isinstance(micro_batches, bool) or not isinstance(micro_batches, int) or \
            micro_batches < 1 or batch % micro_batches:
        raise ValueError(f"micro_batches must be a positive int dividing the batch of {batch} "
                         f"windows (every slice the same size), got {micro_batches!r}; "
                         f"try one of {[k for k in range(1, batch + 1) if batch % k == 0]}")
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for micro in windows.split(batch // micro_batches):  # each (batch / k, seq + 1)
        loss = next_token_loss(model(micro[:, :-1]), micro) / micro_batches
        loss.backward()  # p.grad += d(loss)/dp
        loss_sum += loss.item()
    if max_grad_norm is not None:
        clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return loss_sum


# ---------------------------------------------------------------------------------------------
# 8. Held-out loss
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: nn.Module, windows: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token loss (nats per token) of ``model`` over ``windows`` (n, seq + 1).

    Runs in eval mode without gradients, then puts the model back in the mode it was in; it
    draws no random numbers, so evaluating in the middle of training does not change it.
    The exponential of the result is the perplexity.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size]  # (<= batch_size, seq + 1)
        total += next_token_loss(model(batch[:, :-1]), batch, reduction="sum").item()
        count += batch[:, 1:].numel()
    model.train(was_training)
    return total / count
