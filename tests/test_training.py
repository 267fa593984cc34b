"""The training loop's pieces, each held against torch's own (or transformers') version."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from tinylm.llama import Llama, LlamaConfig
from tinylm.training import (
    AdamW,
    clip_grad_norm,
    evaluate,
    next_token_loss,
    param_groups,
    set_learning_rate,
    shuffled_batches,
    torch_warmup_cosine,
    train_step,
    warmup_cosine,
)

TINY = LlamaConfig(vocab_size=64, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn_hidden=64,
                   max_seq_len=32)
ZOO_BETAS, ZOO_EPS = (0.9, 0.95), 1e-8  # the zoo's AdamW settings


def random_windows(n: int = 8, seq: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, TINY.vocab_size, (n, seq + 1), generator=gen)


# ---------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------


def test_next_token_loss_is_the_mean_negative_log_probability_of_the_next_token():
    windows = random_windows(3, 5)
    logits = torch.randn(3, 5, TINY.vocab_size, dtype=torch.float64)
    log_probs = logits.log_softmax(-1)
    by_hand = [-log_probs[b, i, windows[b, i + 1]] for b in range(3) for i in range(5)]
    expected = torch.stack(by_hand)
    assert next_token_loss(logits, windows).item() == pytest.approx(expected.mean().item(),
                                                                    rel=1e-12)
    assert next_token_loss(logits, windows, reduction="sum").item() == pytest.approx(
        expected.sum().item(), rel=1e-12)


def test_next_token_loss_shifts_as_transformers_does():
    """transformers shifts the labels inside ``LlamaForCausalLM``: ``model(ids, labels=ids)``."""
    model = Llama(TINY, seed=0)
    hf = model.to_hf()
    windows = random_windows(4, 12)
    with torch.no_grad():
        ours = next_token_loss(model(windows[:, :-1]), windows)
        theirs = hf(input_ids=windows, labels=windows).loss
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)


def test_next_token_loss_refuses_a_wrong_shift_with_a_clear_message():
    windows = random_windows(2, 6)  # (2, 7): 6 targets per row
    with pytest.raises(ValueError, match=r"model\(windows\[:, :-1\]\)"):
        next_token_loss(torch.randn(2, 7, 64), windows)  # logits of the whole window
    with pytest.raises(ValueError, match=r"must be \(batch, seq, vocab\) = \(2, 5, vocab\)"):
        next_token_loss(torch.randn(2, 6, 64), windows[:, 1:])  # targets shifted already
    with pytest.raises(ValueError, match=r"\(batch, seq, vocab\)"):
        next_token_loss(torch.randn(12, 64), windows)
    with pytest.raises(ValueError, match=r"\(batch, seq \+ 1\)"):
        next_token_loss(torch.randn(1, 6, 64), windows[0])
    with pytest.raises(TypeError, match="token ids"):
        next_token_loss(torch.randn(2, 6, 64), windows.float())
    with pytest.raises(ValueError, match="reduction"):
        next_token_loss(torch.randn(2, 6, 64), windows, reduction="none")


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def test_shuffled_batches_visit_every_window_once_per_epoch_in_a_seeded_order():
    windows = torch.arange(10)[:, None].expand(10, 3)  # window i holds the number i
    batches = shuffled_batches(windows, batch_size=3, seed=7)
    epoch = [next(batches) for _ in range(3)]  # 9 of the 10 windows; one waits
    seen = torch.cat([b[:, 0] for b in epoch])
    assert all(b.shape == (3, 3) for b in epoch) and len(set(seen.tolist())) == 9
    expected_order = torch.randperm(10, generator=torch.Generator().manual_seed(7))
    assert torch.equal(seen, expected_order[:9])
    second = torch.cat([next(batches)[:, 0] for _ in range(3)])
    assert len(set(second.tolist())) == 9 and not torch.equal(second, seen)  # a new order
    again = shuffled_batches(windows, batch_size=3, seed=7)
    assert all(torch.equal(next(again), b) for b in epoch)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 10\]"):
        next(shuffled_batches(windows, batch_size=11, seed=0))


# ---------------------------------------------------------------------------------------------
# Parameter groups
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [True, False])
def test_param_groups_decay_matrices_and_not_norm_gains(tie):
    model = Llama(LlamaConfig(**{**TINY.to_dict(), "tie_embeddings": tie}))
    decayed, plain = param_groups(model, weight_decay=0.1)
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    plain_names = {names[id(p)] for p in plain["params"]}
    assert plain_names == {n for n in names.values() if n.endswith("norm.weight")}
    assert "tok_embeddings.weight" in decayed_names and "layers.0.attention.wq.weight" in \
        decayed_names
    assert ("output.weight" in decayed_names) is not tie  # a tied matrix is listed once
    assert sum(p.numel() for g in (decayed, plain) for p in g["params"]) == \
        model.num_parameters()


def test_param_groups_skip_frozen_weights_and_refuse_negative_decay():
    model = Llama(TINY)
    model.tok_embeddings.weight.requires_grad_(False)
    decayed, _ = param_groups(model, 0.1)
    assert all(p is not model.tok_embeddings.weight for p in decayed["params"])
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        param_groups(model, -0.1)


# ---------------------------------------------------------------------------------------------
# AdamW
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-7), (torch.float64, 1e-12)])
def test_adamw_equals_torch_adamw_over_many_steps(dtype, tolerance):
    """Two groups (decay 0.1 on the matrix, none on the vector), the zoo's betas and eps, a
    learning rate that changes every step, and steps where one parameter has no gradient."""
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(12, 7, generator=gen, dtype=dtype),
             torch.randn(7, generator=gen, dtype=dtype)]

    def make(cls):
        matrix, vector = (torch.nn.Parameter(t.clone()) for t in start)
        groups = [{"params": [matrix], "weight_decay": 0.1},
                  {"params": [vector], "weight_decay": 0.0}]
        return [matrix, vector], cls(groups, lr=1e-2, betas=ZOO_BETAS, eps=ZOO_EPS)

    ours, our_opt = make(AdamW)
    theirs, their_opt = make(torch.optim.AdamW)
    steps = 300
    for step in range(steps):
        lr = warmup_cosine(step, steps, 1e-2, 20, 0.1)
        for opt in (our_opt, their_opt):
            set_learning_rate(opt, lr)
        # gradients from time to time as large as the weights, or tiny (eps matters then)
        scale = 10.0 ** (step % 7 - 5)
        grads = [torch.randn(p.shape, generator=gen, dtype=dtype) * scale for p in start]
        for params in (ours, theirs):
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                p.grad = None if (i == 1 and step % 5 == 3) else g.clone()
        our_opt.step()
        their_opt.step()
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == dtype and (a - b).abs().max().item() <= tolerance
        assert not torch.equal(a, torch.nn.Parameter(start[0] if a.ndim == 2 else start[1]))
    assert our_opt.state[ours[1]]["step"] == their_opt.state[theirs[1]]["step"].item() == \
        steps - steps // 5


def test_adamw_trains_a_model_exactly_as_torch_adamw():
    windows = random_windows(8, 16)
    losses, models = {}, {}
    for cls in (AdamW, torch.optim.AdamW):
        model = Llama(TINY, seed=0).train()
        opt = cls(param_groups(model, 0.1), lr=3e-3, betas=ZOO_BETAS, eps=ZOO_EPS)
        losses[cls] = [train_step(model, opt, windows, max_grad_norm=1.0) for _ in range(5)]
        models[cls] = model
    assert losses[AdamW] == pytest.approx(losses[torch.optim.AdamW], abs=1e-6)
    assert losses[AdamW][-1] < losses[AdamW][0]
    for (name, a), b in zip(models[AdamW].named_parameters(),
                            models[torch.optim.AdamW].parameters(), strict=True):
        assert (a - b).abs().max().item() <= 1e-6, name


def test_adamw_refuses_bad_settings():
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        AdamW([p], weight_decay=-0.01)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        AdamW([{"params": [p], "weight_decay": -1.0}])
    with pytest.raises(ValueError, match="betas"):
        AdamW([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="lr"):
        AdamW([p], lr=-1.0)


# ---------------------------------------------------------------------------------------------
# The learning-rate schedule
# ---------------------------------------------------------------------------------------------


SCHEDULES = [  # (total steps, warm-up steps, floor ratio)
    (600, 40, 0.1),  # the draft model's recipe
    (1400, 40, 0.1),  # the base model's
    (60, 6, 0.1),  # the zoo's warm-up rule on a short run: min(40, 60 // 10)
    (30, 3, 0.1),
    (5, 1, 0.1),  # a one-step warm-up: LinearLR with total_iters=0
    (100, 0, 0.0),  # no warm-up: CosineAnnealingLR alone
    (3000, 300, 0.0),  # decay to zero
    (50, 49, 0.5),
]


@pytest.mark.parametrize("total, warmup, ratio", SCHEDULES)
def test_warmup_cosine_equals_torch_schedulers_at_every_step(total, warmup, ratio):
    peak = 3e-3
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=peak)
    scheduler = torch_warmup_cosine(optimizer, total, warmup, ratio)
    for step in range(total):
        theirs = optimizer.param_groups[0]["lr"]
        ours = warmup_cosine(step, total, peak, warmup, ratio)
        assert ours == pytest.approx(theirs, rel=1e-12, abs=0), step
        optimizer.step()
        scheduler.step()


def test_warmup_cosine_rises_to_the_peak_then_falls_to_the_floor():
    lrs = [warmup_cosine(s, 100, 1.0, 10, 0.1) for s in range(100)]
    assert lrs[0] == 0.1 and lrs[9] == lrs[10] == 1.0  # peak at the warm-up's last step
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10], strict=True))
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert warmup_cosine(100, 100, 1.0, 10, 0.1) == pytest.approx(0.1)  # the floor, after
    assert warmup_cosine(500, 100, 1.0, 10, 0.1) == pytest.approx(0.1)  # and stays there


def test_warmup_cosine_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"warmup_steps must be in \[0, total_steps\)"):
        warmup_cosine(0, 10, 1.0, 10, 0.1)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine(0, 10, 1.0, -1, 0.1)
    with pytest.raises(ValueError, match="step must be >= 0"):
        warmup_cosine(-1, 10, 1.0, 2, 0.1)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        warmup_cosine(0, 10, 1.0, 2, 1.5)
    with pytest.raises(ValueError, match="warmup_steps"):
        torch_warmup_cosine(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                            5, 5, 0.1)


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_norm", [1e-3, 1.0, 1e6])
def test_clip_grad_norm_equals_torch(max_norm):
    gen = torch.Generator().manual_seed(1)
    shapes = [(64, 32), (32,), (16, 32), (5,)]
    ours = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for a, b in zip(ours, theirs, strict=True):
        a.grad = torch.randn(a.shape, generator=gen)
        b.grad = a.grad.clone()
    ours[3].grad = theirs[3].grad = None  # a parameter without a gradient is left out
    norm = clip_grad_norm(ours, max_norm)
    assert torch.equal(norm, torch.nn.utils.clip_grad_norm_(theirs, max_norm))
    for a, b in zip(ours[:3], theirs[:3], strict=True):
        assert torch.equal(a.grad, b.grad)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours[:3]]))
    assert after.item() == pytest.approx(min(norm.item(), max_norm), rel=1e-5)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(ours, 0.0)


# ---------------------------------------------------------------------------------------------
# One step, with gradient accumulation
# ---------------------------------------------------------------------------------------------


def gradients_after_step(windows, micro_batches):
    """The gradients train_step leaves behind (an optimizer with lr 0 changes nothing)."""
    model = Llama(TINY, seed=0).train()
    loss = train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), windows,
                      micro_batches=micro_batches)
    return loss, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("micro_batches", [2, 4, 8])
def test_accumulated_gradients_equal_the_whole_batch_gradient(micro_batches):
    windows = random_windows(8, 16)
    whole_loss, whole = gradients_after_step(windows, 1)
    loss, accumulated = gradients_after_step(windows, micro_batches)
    assert loss == pytest.approx(whole_loss, abs=1e-6)
    for a, b in zip(accumulated, whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


def test_one_step_with_accumulation_equals_one_step_without():
    """Adam's first step moves a weight by lr * g / (|g| + eps) (plus the decay): about lr
    where |g| >> eps, whatever the rounding of g. Only where |g| is near eps (a few weights)
    does the last-bit difference of the accumulated gradient show, and then by less than lr."""
    windows = random_windows(8, 16)
    model = Llama(TINY, seed=0).train()
    twin = copy.deepcopy(model)
    lr = 1e-3
    for m, micro_batches in ((model, 1), (twin, 4)):
        opt = torch.optim.AdamW(param_groups(m, 0.1), lr=lr, betas=ZOO_BETAS, eps=ZOO_EPS)
        train_step(m, opt, windows, max_grad_norm=1.0, micro_batches=micro_batches)
    start = Llama(TINY, seed=0)
    for (name, a), b, a0 in zip(model.named_parameters(), twin.parameters(),
                                start.parameters(), strict=True):
        assert (a - a0).abs().max() > lr / 2, name  # the step moved every tensor
        far_from_eps = a.grad.abs() > 1e-6
        assert ((a - b) * far_from_eps).abs().max() < 1e-8, name
        assert (a - b).abs().max() < lr / 10, name


def test_train_step_refuses_micro_batches_that_do_not_divide_the_batch():
    model = Llama(TINY)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    for bad in (3, 0, 2.0, True):
        with pytest.raises(ValueError, match=r"dividing the batch of 8 windows.*\[1, 2, 4, 8\]"):
            train_step(model, opt, random_windows(8, 4), micro_batches=bad)
    with pytest.raises(ValueError, match=r"\(batch, seq \+ 1\)"):
        train_step(model, opt, random_windows(1, 4)[0])


# ---------------------------------------------------------------------------------------------
# Reproducibility and evaluation
# ---------------------------------------------------------------------------------------------


def run_a_few_steps(seed: int, steps: int = 3):
    windows = random_windows(16, 16)
    model = Llama(TINY, seed=seed).train()
    opt = AdamW(param_groups(model, 0.1), lr=3e-3, betas=ZOO_BETAS, eps=ZOO_EPS)
    batches = shuffled_batches(windows, 4, seed=seed)
    losses = []
    for step in range(steps):
        set_learning_rate(opt, warmup_cosine(step, steps, 3e-3, 1, 0.1))
        losses.append(train_step(model, opt, next(batches), max_grad_norm=1.0, micro_batches=2))
    return losses, [p.detach().clone() for p in model.parameters()]


def test_the_same_seed_gives_the_same_steps_bit_for_bit():
    losses, weights = run_a_few_steps(seed=3)
    again_losses, again_weights = run_a_few_steps(seed=3)
    assert losses == again_losses
    assert all(torch.equal(a, b) for a, b in zip(weights, again_weights, strict=True))
    other_losses, _ = run_a_few_steps(seed=4)
    assert other_losses != losses


def test_evaluate_is_the_mean_loss_and_leaves_training_alone():
    model = Llama(TINY, seed=0).train()
    windows = random_windows(10, 16)
    before = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    loss = evaluate(model, windows, batch_size=4)  # batches of 4, 4 and 2 windows
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with torch.no_grad():
        logits = model(windows[:, :-1])
    expected = F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).item()
    assert loss == pytest.approx(expected, rel=1e-6)
    assert math.log(TINY.vocab_size) - 0.5 < loss < math.log(TINY.vocab_size) + 0.5
    model.eval()
    assert evaluate(model, windows, batch_size=4) == loss and not model.training
