"""Checks of lab 3, the LLaMA 2 decoder (labs/03-llama-lab.ipynb).

The reference is `tinylm.llama`; the outside library is Hugging Face transformers
(`transformers.models.llama.modeling_llama`), given the same weights. Values are float32 and
compared within 1e-5 (rtol and atol), the rounding of two correct float32 computations.

The attention checks build the student's `AttentionWeights` (the lab's set-up cell defines it),
so they take that class as an argument.
"""

from __future__ import annotations

import inspect
import sys

import torch
from transformers import DynamicCache
from transformers.models.llama import modeling_llama as hf_llama

from tinylm import llama as tl
from tinylm.grading.checks.common import (
    builds_on,
    call,
    check_tensor,
    compare_tensors,
    fail,
    passes,
    torch_rng,
)

# transformers 5 renamed the cache argument of its layers from past_key_values to cache
CACHE_ARG = ("cache" if "cache" in inspect.signature(hf_llama.LlamaAttention.forward).parameters
             else "past_key_values")
QKV_AXES = ("batch", "head", "position", "channel")  # queries, keys and values, split in heads
HIDDEN_AXES = ("batch", "position", "channel")  # hidden states

# -- Exercise 1: rms_norm ------------------------------------------------------------------------


def rms_norm_mistakes(x, weight, eps):
    """What some wrong versions of RMSNorm give, to recognise them."""
    mean_square = x.pow(2).mean(-1, keepdim=True)
    centred = x - x.mean(-1, keepdim=True)
    return [
        ("eps goes inside the square root: x / sqrt(mean(x**2) + eps)",
         x / (mean_square.sqrt() + eps) * weight),
        ("eps is missing: x / sqrt(mean(x**2) + eps)", x / mean_square.sqrt() * weight),
        ("that is LayerNorm: RMSNorm subtracts no mean",
         centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps) * weight),
        ("the gain is missing: multiply by weight", x * torch.rsqrt(mean_square + eps)),
        ("the mean must run over the last dimension only: mean(dim=-1, keepdim=True)",
         x * torch.rsqrt(x.pow(2).mean() + eps) * weight),
        ("divide by the root of the mean of the squares, not of their sum",
         x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps) * weight),
    ]


def rms_norm(rms_norm) -> None:
    """Exercise 1: `rms_norm(x, weight, eps)`, against tinylm.llama.RMSNorm and transformers'
    LlamaRMSNorm."""
    # 1. The worked examples, by hand
    for x, weight, expected in [([3.0, 4.0], [1.0, 2.0], [0.8485, 2.2627]),
                                ([1e-3, -1e-3], [1.0, 1.0], [0.3015, -0.3015]),
                                ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])]:
        what = f"rms_norm(torch.tensor({x}), torch.tensor({weight}))"
        got = call(rms_norm, torch.tensor(x), torch.tensor(weight), call=what)
        check_tensor(got, what, (len(x),))
        assert torch.allclose(got, torch.tensor(expected), atol=1e-4), (
            f"{what}: expected {expected}, got {[round(v, 4) for v in got.tolist()]}")

    # 2. Random inputs, against tinylm.llama.RMSNorm and transformers' LlamaRMSNorm
    gen = torch_rng(0)
    for shape, eps in [((2, 5, 24), 1e-5), ((7, 16), 1e-6), ((3, 2, 4, 8), 0.5), ((64,), 1e-5)]:
        dim = shape[-1]
        x = 3 * torch.randn(shape, generator=gen)
        weight = 1 + 0.5 * torch.randn(dim, generator=gen)
        ours, theirs = tl.RMSNorm(dim, eps), hf_llama.LlamaRMSNorm(dim, eps)
        with torch.no_grad():
            ours.weight.copy_(weight)
            theirs.weight.copy_(weight)
            expected_ours, expected_theirs = ours(x), theirs(x)
        x_before = x.clone()
        what = f"rms_norm(x of shape {shape}, weight, eps={eps:g})"
        got = call(rms_norm, x, weight.clone(), eps, call=what)
        check_tensor(got, what, shape)
        assert torch.equal(x, x_before), (
            f"{what} changed x: return a new tensor instead (no in-place operations on x)")
        compare_tensors(got, expected_ours, f"{what}, compared with tinylm.llama.RMSNorm",
                        hints=rms_norm_mistakes(x, weight, eps))
        compare_tensors(got, expected_theirs, f"{what}, compared with transformers' LlamaRMSNorm")


# -- Exercise 2: rope_cos_sin, rotate_half, apply_rope -------------------------------------------


def _checked_cos_sin(rope_cos_sin, head_dim, max_seq_len, theta):
    what = f"rope_cos_sin({head_dim}, {max_seq_len}, theta={theta:g})"
    got = call(rope_cos_sin, head_dim, max_seq_len, theta, call=what)
    assert got is not None, f"{what} returned None: did you forget `return`?"
    assert isinstance(got, (tuple, list)) and len(got) == 2, (
        f"{what}: expected a tuple (cos, sin), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    for name, table in zip(("cos", "sin"), got, strict=True):
        if isinstance(table, torch.Tensor) and tuple(table.shape) == (max_seq_len, head_dim // 2):
            fail(f"{what}: {name} has shape {tuple(table.shape)}, one column per frequency; "
                 "write each angle twice, once for each half, with torch.cat((angles, angles), "
                 f"dim=-1): shape ({max_seq_len}, {head_dim})")
        check_tensor(table, f"{what}: {name}", (max_seq_len, head_dim))
    return got


def table_mistakes(head_dim, max_seq_len, theta):
    """The angle tables of some wrong versions of rope_cos_sin, to recognise them."""
    half = torch.arange(head_dim // 2, dtype=torch.float32)
    positions = torch.arange(max_seq_len, dtype=torch.float32)[:, None]
    freq = theta ** (-2 * half / head_dim)
    twice = lambda angles: torch.cat((angles, angles), dim=-1)
    return [
        ("the angles are interleaved (w0, w0, w1, w1, ...); each row must be "
         "(w0, ..., w_last, w0, ..., w_last): torch.cat((angles, angles), dim=-1)",
         (positions * freq).repeat_interleave(2, dim=-1)),
        ("the frequency of pair i is theta ** (-2i / head_dim): the exponent takes the even "
         "numbers 0, 2, 4, ... divided by head_dim",
         twice(positions * theta ** (-half / head_dim))),
        ("row m is position m: the positions start at 0", twice((positions + 1) * freq)),
    ]


def hf_tables(head_dim, max_seq_len, theta):
    """transformers' cos and sin for positions 0 ... max_seq_len - 1: (max_seq_len, head_dim)."""
    config = hf_llama.LlamaConfig(hidden_size=2 * head_dim, num_attention_heads=2,
                                  max_position_embeddings=max_seq_len, rope_theta=theta)
    rotary = hf_llama.LlamaRotaryEmbedding(config)
    cos, sin = rotary(torch.zeros(1), torch.arange(max_seq_len)[None])  # (1, max_seq_len, hd)
    return cos[0], sin[0]


def rope_mistakes(x, cos, sin):
    """What some wrong versions of apply_rope give, to recognise them."""
    c, s = cos[:, None], sin[:, None]
    half = x.shape[-1] // 2
    even, odd = x[..., 0::2], x[..., 1::2]  # neighbouring channels, as in Meta's code
    pairs = torch.stack((even * c[..., :half] - odd * s[..., :half],
                         even * s[..., :half] + odd * c[..., :half]), dim=-1).flatten(-2)
    variants = [
        ("you turned neighbouring channels (0, 1), (2, 3), ... as Meta's code does; here "
         "channel i pairs with channel i + head_dim/2: x * cos + rotate_half(x) * sin", pairs),
        ("you turned the pairs the wrong way round: x * cos + rotate_half(x) * sin",
         x * c - tl.rotate_half(x) * s),
        ("cos and sin are swapped", x * s + tl.rotate_half(x) * c),
    ]
    if x.shape[0] == x.shape[1]:  # cos without its heads axis broadcasts, wrongly, here
        variants.append(("cos and sin are (batch, seq, head_dim): give them a heads axis, "
                         "cos[:, None], so that they broadcast over the heads of x",
                         x * cos + tl.rotate_half(x) * sin))
    return variants


def _rope_call(apply_rope, x, cos, sin, what):
    # a RuntimeError here is most often tensors that do not broadcast
    hint = (f"x is (batch, heads, seq, head_dim) = {tuple(x.shape)}, cos and sin are (batch, "
            f"seq, head_dim) = {tuple(cos.shape)}: give cos and sin a heads axis, cos[:, None], "
            "so that they broadcast over the heads")
    return call(apply_rope, x, cos, sin, call=what, hints={RuntimeError: hint})


def rope(rope_cos_sin, rotate_half, apply_rope) -> None:
    """Exercise 2: `rope_cos_sin(head_dim, max_seq_len, theta)`, `rotate_half(x)` and
    `apply_rope(x, cos, sin)`, against tinylm.llama and transformers' rotary embedding."""
    # 1. The worked example, by hand
    cos, sin = _checked_cos_sin(rope_cos_sin, 4, 3, 100.0)
    for name, table, row1 in [("cos", cos, [0.5403, 0.9950, 0.5403, 0.9950]),
                              ("sin", sin, [0.8415, 0.0998, 0.8415, 0.0998])]:
        row0 = [1.0] * 4 if name == "cos" else [0.0] * 4
        assert torch.allclose(table[0], torch.tensor(row0), atol=1e-6), (
            f"rope_cos_sin(4, 3, theta=100): {name}[0] (position 0) must be {row0}, got "
            f"{[round(v, 4) for v in table[0].tolist()]}")
        assert torch.allclose(table[1], torch.tensor(row1), atol=1e-4), (
            f"rope_cos_sin(4, 3, theta=100): expected {name}[1] = {row1}, got "
            f"{[round(v, 4) for v in table[1].tolist()]}")
    what = "rotate_half(torch.tensor([1., 2., 3., 4.]))"
    got = call(rotate_half, torch.tensor([1.0, 2.0, 3.0, 4.0]), call=what)
    check_tensor(got, what, (4,))
    assert got.tolist() == [-3.0, -4.0, 1.0, 2.0], (
        f"{what}: expected [-3, -4, 1, 2], got {got.tolist()}")
    x = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 4)
    what = "apply_rope(x = [1, 0, 0, 0] at position 1, theta=100)"
    got = _rope_call(apply_rope, x, cos[1].view(1, 1, 4), sin[1].view(1, 1, 4), what)
    check_tensor(got, what, (1, 1, 1, 4))
    assert torch.allclose(got.flatten(), torch.tensor([0.5403, 0.0, 0.8415, 0.0]), atol=1e-4), (
        f"{what}: expected [0.5403, 0, 0.8415, 0] (channels 0 and 2 turned by one radian), got "
        f"{[round(v, 4) for v in got.flatten().tolist()]}")

    # 2. The tables, against tinylm.llama.rope_cos_sin and transformers' LlamaRotaryEmbedding
    for head_dim, max_seq_len, theta in [(8, 16, 1e4), (16, 48, 5e5), (2, 5, 100.0),
                                         (64, 12, 1e4)]:
        cos, sin = _checked_cos_sin(rope_cos_sin, head_dim, max_seq_len, theta)
        what = f"rope_cos_sin({head_dim}, {max_seq_len}, theta={theta:g})"
        ref_cos, ref_sin = tl.rope_cos_sin(head_dim, max_seq_len, theta)
        hf_cos, hf_sin = hf_tables(head_dim, max_seq_len, theta)
        wrong = table_mistakes(head_dim, max_seq_len, theta)
        if torch.allclose(cos, ref_sin, atol=1e-5) and torch.allclose(sin, ref_cos, atol=1e-5):
            fail(f"{what}: cos and sin are swapped; return (cos, sin)")
        axes = ("position", "channel")
        compare_tensors(cos, ref_cos, f"{what}: cos, compared with tinylm.llama.rope_cos_sin",
                        axes, [(h, a.cos()) for h, a in wrong])
        compare_tensors(sin, ref_sin, f"{what}: sin, compared with tinylm.llama.rope_cos_sin",
                        axes, [(h, a.sin()) for h, a in wrong])
        compare_tensors(cos, hf_cos,
                        f"{what}: cos, compared with transformers' LlamaRotaryEmbedding", axes)
        compare_tensors(sin, hf_sin,
                        f"{what}: sin, compared with transformers' LlamaRotaryEmbedding", axes)

    # 3. rotate_half and apply_rope on random queries and keys, against tinylm and transformers
    gen = torch_rng(0)
    x = torch.randn(2, 3, 5, 8, generator=gen)
    what = "rotate_half(x of shape (2, 3, 5, 8))"
    got = call(rotate_half, x, call=what)
    check_tensor(got, what, (2, 3, 5, 8))
    compare_tensors(got, hf_llama.rotate_half(x),
                    f"{what}, compared with transformers' rotate_half", QKV_AXES,
                    [("(x1, x2) must become (-x2, x1), not (x2, -x1)", -hf_llama.rotate_half(x))])
    table_cos, table_sin = tl.rope_cos_sin(16, 64, 10000.0)
    # Positions need not be in order: a token's angle depends on its own position only
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [10, 3, 3, 0, 25, 7, 63]])  # (batch, seq)
    cos, sin = table_cos[positions], table_sin[positions]  # (batch, seq, head_dim)
    for n_heads in (4, 2):
        q = torch.randn(2, n_heads, 7, 16, generator=gen)  # (batch, heads, seq, head_dim)
        k = torch.randn(2, n_heads, 7, 16, generator=gen)
        hf_q, hf_k = hf_llama.apply_rotary_pos_emb(q, k, cos, sin)
        for name, x, theirs in [("q", q, hf_q), ("k", k, hf_k)]:
            what = f"apply_rope({name} of shape {tuple(x.shape)}, cos, sin)"
            x_before = x.clone()
            got = _rope_call(apply_rope, x, cos.clone(), sin.clone(), what)
            check_tensor(got, what, x.shape)
            assert torch.equal(x, x_before), (
                f"{what} changed {name}: return a new tensor instead (no in-place operations)")
            compare_tensors(got, tl.apply_rope(x, cos, sin),
                            f"{what}, compared with tinylm.llama.apply_rope", QKV_AXES,
                            rope_mistakes(x, cos, sin))
            compare_tensors(got, theirs, f"{what}, compared with transformers' "
                            "apply_rotary_pos_emb", QKV_AXES)

    # 4. With your tables and your apply_rope: lengths are kept, scores depend on m - n only
    cos, sin = _checked_cos_sin(rope_cos_sin, 16, 64, 10000.0)
    q, k = torch.randn(1, 1, 1, 16, generator=gen), torch.randn(1, 1, 1, 16, generator=gen)

    def turned(x, m):  # x as if it stood at position m
        what = f"apply_rope(x at position {m})"
        return call(apply_rope, x, cos[None, m:m + 1], sin[None, m:m + 1], call=what).flatten()

    def score(m, n):
        return float(turned(q, m) @ turned(k, n))

    norm = float(q.norm())
    assert abs(float(turned(q, 37).norm()) - norm) < 1e-4, (
        f"|q| = {norm:.5f} but |apply_rope(q) at position 37| = "
        f"{float(turned(q, 37).norm()):.5f}: a rotation keeps lengths")
    assert abs(score(0, 0) - float(q.flatten() @ k.flatten())) < 1e-4, (
        f"at positions 0 and 0 nothing turns, so the score must be q . k = "
        f"{float(q.flatten() @ k.flatten()):.5f}; got {score(0, 0):.5f}")
    for (m, n), (m2, n2) in [((10, 7), (40, 37)), ((3, 0), (63, 60)), ((5, 9), (20, 24))]:
        assert abs(score(m, n) - score(m2, n2)) < 1e-4, (
            f"the score of a query at position {m} and a key at {n} is {score(m, n):.5f}, at "
            f"{m2} and {n2} it is {score(m2, n2):.5f}; with RoPE it depends on m - n = {m - n} "
            "only")


def rope_works(apply_rope) -> bool:
    """Does apply_rope (Exercise 2) match tinylm? Attention builds on it."""
    def matches():
        gen = torch_rng(1)
        x, (cos, sin) = torch.randn(2, 3, 4, 8, generator=gen), tl.rope_cos_sin(8, 4)
        cos, sin = cos.expand(2, 4, 8), sin.expand(2, 4, 8)
        return torch.allclose(apply_rope(x, cos, sin), tl.apply_rope(x, cos, sin), atol=1e-5)

    return passes(matches)


# -- Exercise 3: swiglu --------------------------------------------------------------------------


def swiglu_mistakes(x, w1, w2, w3):
    """What some wrong versions of SwiGLU give, to recognise them."""
    silu = torch.nn.functional.silu
    return [
        ("gate and values are swapped: the gate is silu(x @ w1.T), the values x @ w3.T",
         (silu(x @ w3.T) * (x @ w1.T)) @ w2.T),
        ("SiLU is z * sigmoid(z), not sigmoid(z)", (torch.sigmoid(x @ w1.T) * (x @ w3.T)) @ w2.T),
        ("the activation is SiLU, not ReLU", (torch.relu(x @ w1.T) * (x @ w3.T)) @ w2.T),
        ("the values x @ w3.T are missing: silu(x @ w1.T) * (x @ w3.T)", silu(x @ w1.T) @ w2.T),
        ("SiLU goes on the gate only, not on the product",
         silu((x @ w1.T) * (x @ w3.T)) @ w2.T),
    ]


def _swiglu_call(swiglu, x, w1, w2, w3, what):
    # a RuntimeError here is most often a shape mismatch in a matrix product
    hint = (f"Shapes: x {tuple(x.shape)}, w1 and w3 {tuple(w1.shape)}, w2 {tuple(w2.shape)}; "
            "weights are (out_features, in_features), so the first projection is x @ w1.T")
    return call(swiglu, x, w1, w2, w3, call=what, hints={RuntimeError: hint})


def swiglu(swiglu) -> None:
    """Exercise 3: `swiglu(x, w1, w2, w3)`, against tinylm.llama.FeedForward and transformers'
    LlamaMLP."""
    # 1. The worked example, by hand
    eye = torch.eye(2)
    what = "swiglu(torch.tensor([1., -1.]), I, I, I)"
    got = _swiglu_call(swiglu, torch.tensor([1.0, -1.0]), eye, eye, eye, what)
    check_tensor(got, what, (2,))
    assert torch.allclose(got, torch.tensor([0.7311, 0.2689]), atol=1e-4), (
        f"{what}: expected [0.7311, 0.2689], got {[round(v, 4) for v in got.tolist()]}")

    # 2. Random weights, against tinylm's FeedForward and transformers' LlamaMLP
    gen = torch_rng(0)
    for dim, hidden, shape in [(16, 40, (2, 5)), (32, 86, (7,)), (8, 8, ()), (24, 64, (2, 3, 4))]:
        ours = tl.FeedForward(tl.LlamaConfig(dim=dim, n_heads=2, ffn_hidden=hidden))
        theirs = hf_llama.LlamaMLP(hf_llama.LlamaConfig(
            hidden_size=dim, intermediate_size=hidden, num_attention_heads=2, hidden_act="silu"))
        w1 = torch.randn(hidden, dim, generator=gen) / dim ** 0.5
        w3 = torch.randn(hidden, dim, generator=gen) / dim ** 0.5
        w2 = torch.randn(dim, hidden, generator=gen) / hidden ** 0.5
        with torch.no_grad():
            for mine, theirs_name, w in [(ours.w1, "gate_proj", w1), (ours.w3, "up_proj", w3),
                                         (ours.w2, "down_proj", w2)]:
                mine.weight.copy_(w)
                getattr(theirs, theirs_name).weight.copy_(w)
            x = 2 * torch.randn(*shape, dim, generator=gen)
            expected_ours, expected_theirs = ours(x), theirs(x)
        what = (f"swiglu(x of shape {tuple(x.shape)}, w1, w2, w3) with dim={dim}, "
                f"ffn_hidden={hidden}")
        got = _swiglu_call(swiglu, x, w1.clone(), w2.clone(), w3.clone(), what)
        check_tensor(got, what, x.shape)
        compare_tensors(got, expected_ours, f"{what}, compared with tinylm.llama.FeedForward",
                        hints=swiglu_mistakes(x, w1, w2, w3))
        compare_tensors(got, expected_theirs, f"{what}, compared with transformers' LlamaMLP")


# -- Exercise 4: repeat_kv, causal_mask, attention -----------------------------------------------


def attention_layers(weights_class, dim, n_heads, n_kv_heads, seed):
    """transformers' LlamaAttention with random weights, tinylm's Attention with the same
    weights, the weights as a `weights_class` (the lab's AttentionWeights), and tinylm's
    config."""
    hf_config = hf_llama.LlamaConfig(hidden_size=dim, num_attention_heads=n_heads,
                                     num_key_value_heads=n_kv_heads, attn_implementation="eager")
    theirs = hf_llama.LlamaAttention(hf_config, layer_idx=0).eval()
    config = tl.LlamaConfig(dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads, n_layers=1)
    ours = tl.Attention(config).eval()
    gen = torch_rng(seed)
    weights = {}
    with torch.no_grad():
        for name in "qkvo":  # about unit-variance outputs, so that the softmax is not flat
            linear = getattr(theirs, f"{name}_proj")
            w = torch.randn(linear.weight.shape, generator=gen) / linear.weight.shape[1] ** 0.5
            linear.weight.copy_(w)
            getattr(ours, f"w{name}").weight.copy_(w)
            weights[f"w{name}"] = w.clone()
    layer = weights_class(**weights, n_heads=n_heads, n_kv_heads=n_kv_heads)
    return theirs, ours, layer, config


def attention_mistakes(x, layer, cos, sin):
    """What some wrong versions of attention give, to recognise them."""
    b, t, _ = x.shape
    h, h_kv, d = layer.n_heads, layer.n_kv_heads, layer.head_dim

    def run(mask=True, scale=True, rope="qk", tiled=False, split=True, merge=True):
        def heads(y, n):
            return y.view(b, t, n, d).transpose(1, 2) if split else y.view(b, n, t, d)

        q = heads(x @ layer.wq.T, h)
        k, v = heads(x @ layer.wk.T, h_kv), heads(x @ layer.wv.T, h_kv)
        q, k = (tl.apply_rope(q, cos, sin), tl.apply_rope(k, cos, sin)) if rope else (q, k)
        v = tl.apply_rope(v, cos, sin) if rope == "qkv" else v
        if tiled:
            k, v = k.repeat(1, h // h_kv, 1, 1), v.repeat(1, h // h_kv, 1, 1)
        else:
            k, v = tl.repeat_kv(k, h // h_kv), tl.repeat_kv(v, h // h_kv)
        scores = q @ k.transpose(-2, -1) / (d ** 0.5 if scale else 1.0)
        if mask:
            scores = scores.masked_fill(~tl.causal_mask(t, 0)[0, 0], float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v  # (batch, heads, seq, head_dim)
        out = out.transpose(1, 2) if (merge and split) else out
        return out.reshape(b, t, h * d) @ layer.wo.T

    return [
        ("the causal mask is missing", run(mask=False)),
        ("divide the scores by sqrt(head_dim) before the softmax", run(scale=False)),
        ("queries and keys must be turned with apply_rope before the scores", run(rope="")),
        ("only queries and keys are turned, not the values", run(rope="qkv")),
        ("key/value head j must serve query heads j * n_rep ... (j + 1) * n_rep - 1: repeat "
         "each head in place (a a b b), as repeat_kv does, not the whole group (a b a b)",
         run(tiled=True)),
        ("split the heads with .view(batch, seq, heads, head_dim).transpose(1, 2), and merge "
         "them back with .transpose(1, 2).reshape(batch, seq, dim)", run(split=False)),
        ("merge the heads back with .transpose(1, 2) before .reshape(batch, seq, dim)",
         run(merge=False)),
    ]


def _attention_call(attention, x, layer, cos, sin, what):
    # a RuntimeError here is most often a shape mismatch
    hint = (f"Shapes: x {tuple(x.shape)}, wq {tuple(layer.wq.shape)}, wk and wv "
            f"{tuple(layer.wk.shape)}, wo {tuple(layer.wo.shape)}, cos and sin "
            f"{tuple(cos.shape)}; n_heads={layer.n_heads}, n_kv_heads={layer.n_kv_heads}, "
            f"head_dim={layer.head_dim}")
    return call(attention, x, layer, cos, sin, call=what, hints={RuntimeError: hint})


def attention(repeat_kv, causal_mask, attention, weights, apply_rope=None) -> None:
    """Exercise 4: `repeat_kv(x, n_rep)`, `causal_mask(seq, past)` and
    `attention(x, layer, cos, sin)`, against tinylm.llama and transformers' LlamaAttention.

    `weights` is the lab's AttentionWeights class. `apply_rope` (Exercise 2) only serves the
    note a failure gets when Exercise 2 is wrong.
    """
    earlier_ok = apply_rope is None or rope_works(apply_rope)
    with builds_on(earlier_ok, "apply_rope of Exercise 2 does not match tinylm yet, and "
                   "attention builds on it: make Exercise 2 pass first"):
        _check_attention(repeat_kv, causal_mask, attention, weights)


def _check_attention(repeat_kv, causal_mask, attention, weights) -> None:
    gen = torch_rng(0)
    # 1. repeat_kv, by hand and against tinylm and transformers
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)  # two kv heads, a and b
    got = call(repeat_kv, x, 2, call="repeat_kv(heads (1, 2), n_rep=2)")
    check_tensor(got, "repeat_kv(heads (a, b), 2)", (1, 4, 1, 1))
    assert got.flatten().tolist() == [1.0, 1.0, 2.0, 2.0], (
        f"repeat_kv(heads (1, 2), n_rep=2): expected the heads (1, 1, 2, 2), got "
        f"{tuple(got.flatten().tolist())}" + (
            " (each head must be repeated in place: a a b b, not a b a b)"
            if got.flatten().tolist() == [1.0, 2.0, 1.0, 2.0] else ""))
    for shape, n_rep in [((2, 2, 5, 8), 2), ((1, 1, 3, 4), 4), ((2, 3, 4, 8), 1),
                         ((3, 2, 1, 2), 3)]:
        x = torch.randn(shape, generator=gen)
        what = f"repeat_kv(x of shape {shape}, {n_rep})"
        got = call(repeat_kv, x, n_rep, call=what)
        b, h, t, d = shape
        check_tensor(got, what, (b, h * n_rep, t, d))
        compare_tensors(got, tl.repeat_kv(x, n_rep),
                        f"{what}, compared with tinylm.llama.repeat_kv", QKV_AXES,
                        position_note=True)
        compare_tensors(got, hf_llama.repeat_kv(x, n_rep),
                        f"{what}, compared with transformers' repeat_kv", QKV_AXES,
                        position_note=True)

    # 2. causal_mask, by hand and against tinylm
    for seq, past in [(3, 0), (2, 3), (1, 0), (1, 7), (5, 5), (6, 0)]:
        what = f"causal_mask({seq}, past={past})"
        got = call(causal_mask, seq, past, call=what)
        check_tensor(got, what, (seq, past + seq), torch.bool)
        expected = tl.causal_mask(seq, past)[0, 0]
        if not torch.equal(got, expected):
            i, j = (got != expected).nonzero()[0].tolist()
            fail(f"{what}: query {i} stands at position {past + i} and must "
                 f"{'see' if expected[i, j] else 'not see'} the key at position {j}; expected "
                 f"{expected.int().tolist()}, got {got.int().tolist()} (1 = may look)")

    # 3. The worked example, by hand
    eye = torch.eye(2)
    layer = weights(eye, eye, eye, eye, n_heads=1, n_kv_heads=1)
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    what = "attention(x = [[1, 0], [0, 1]], identity weights, no rotation)"
    got = _attention_call(attention, x, layer, torch.ones(1, 2, 2), torch.zeros(1, 2, 2), what)
    check_tensor(got, what, (1, 2, 2))
    if not torch.allclose(got, torch.tensor([[[1.0, 0.0], [0.3302, 0.6698]]]), atol=1e-4):
        known = [([[0.6698, 0.3302], [0.3302, 0.6698]], "token 0 sees token 1: the causal mask "
                  "is missing"),
                 ([[1.0, 0.0], [0.2689, 0.7311]], "divide the scores by sqrt(head_dim)"),
                 ([[0.6698, 0.0], [0.3302, 1.0]], "the softmax runs over the last dimension, "
                  "the keys: each query's weights sum to 1")]
        hint = next((f" ({h})" for w, h in known if torch.allclose(got[0], torch.tensor(w),
                                                                    atol=1e-4)), "")
        fail(f"{what}: expected [[1, 0], [0.3302, 0.6698]], got "
             f"{[[round(v, 4) for v in row] for row in got[0].tolist()]}{hint}")

    # 4. MHA, GQA and MQA: transformers' LlamaAttention and tinylm's Attention, same weights
    table_cos, table_sin = tl.rope_cos_sin(8, 64)
    for dim, n_heads, n_kv_heads in [(32, 4, 4), (32, 4, 2), (32, 4, 1), (48, 6, 2)]:
        kind = "MHA" if n_kv_heads == n_heads else "MQA" if n_kv_heads == 1 else "GQA"
        theirs, ours, layer, _ = attention_layers(weights, dim, n_heads, n_kv_heads,
                                                  seed=n_heads + n_kv_heads)
        b, t = 2, 7
        positions = torch.stack([torch.arange(t), torch.arange(t) + 5])  # row 1 starts at 5
        cos, sin = table_cos[positions], table_sin[positions]  # (batch, seq, head_dim)
        x = torch.randn(b, t, dim, generator=gen)
        what = (f"attention(x of shape {(b, t, dim)}, {kind} layer with n_heads={n_heads}, "
                f"n_kv_heads={n_kv_heads})")
        x_before = x.clone()
        got = _attention_call(attention, x, layer, cos.clone(), sin.clone(), what)
        check_tensor(got, what, (b, t, dim))
        assert torch.equal(x, x_before), f"{what} changed x: no in-place operations on x"
        with torch.no_grad():
            expected_ours = ours(x, cos, sin, tl.causal_mask(t, 0))[0]
            additive = torch.zeros(t, t).masked_fill(~tl.causal_mask(t, 0)[0, 0], float("-inf"))
            expected_theirs = theirs(x, position_embeddings=(cos, sin),
                                     attention_mask=additive[None, None])[0]
        assert expected_theirs.abs().max() > 0.5, (
            "internal check: the comparison needs non-trivial numbers")
        compare_tensors(got, expected_ours, f"{what}, compared with tinylm.llama.Attention",
                        HIDDEN_AXES, attention_mistakes(x, layer, cos, sin), position_note=True)
        compare_tensors(got, expected_theirs,
                        f"{what}, compared with transformers' LlamaAttention", HIDDEN_AXES,
                        position_note=True)


def attention_works(attention, weights) -> bool:
    """Does attention (Exercise 4) match tinylm's Attention? The KV cache builds on it."""
    def matches():
        _, ours, layer, _ = attention_layers(weights, 32, 4, 2, seed=3)
        x = torch.randn(2, 5, 32, generator=torch_rng(3))
        cos, sin = (t[:5].expand(2, 5, 8) for t in tl.rope_cos_sin(8, 5))
        with torch.no_grad():
            expected = ours(x, cos, sin, tl.causal_mask(5, 0))[0]
        return torch.allclose(attention(x, layer, cos, sin), expected, atol=1e-5)

    return passes(matches)


# -- Exercise 5: KVCache and cached_attention ----------------------------------------------------


def _positions(start, end):
    return f"position {start}" if end - start == 1 else f"positions {start} to {end - 1}"


def _compare_decoding(got, expected, what, calls):
    """Fail at the first value off by more than 1e-5, saying at which position (batch,
    position, channel) and in which call of the decoding (calls: the (start, end) of each)."""
    close = torch.isclose(got, expected, rtol=1e-5, atol=1e-5)
    if close.all():
        return
    b, p, c = (~close).nonzero()[0].tolist()
    start, end = next((s, e) for s, e in calls if s <= p < e)
    cached = (f"with {start} token(s) already in the cache" if start else
              "the first one, with the cache still empty")
    message = (f"{what}: {int((~close).sum())} of {got.numel()} values differ, the first at "
               f"batch {b}, position {p}, channel {c}, in the call for {_positions(start, end)} "
               f"({cached}): expected {expected[b, p, c].item():.6f}, got "
               f"{got[b, p, c].item():.6f}")
    if start and close[:, :start].all():
        message += (f"; {_positions(0, start)} are right. With tokens in the cache, new query i "
                    "stands at position past + i: it may see every cached key, so the mask is "
                    "causal_mask(seq, past), and it is turned by the RoPE rows of its own "
                    "position")
    fail(message)


def decode_calls(seq, prefill):
    """(start, end) of each call of cached_attention: the prefill, then one token at a time."""
    return [(0, prefill)] + [(i, i + 1) for i in range(prefill, seq)]


def _rows(table, start, end, batch):
    return table[None, start:end].expand(batch, -1, -1)  # (batch, end - start, head_dim)


@torch.no_grad()
def transformers_decoding(theirs, x, cos, sin, calls):
    """LlamaAttention with a DynamicCache, fed call by call; its outputs and the cache."""
    cache, outputs = DynamicCache(), []
    for start, end in calls:
        allowed = tl.causal_mask(end - start, start)[0, 0]
        additive = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        angles = (_rows(cos, start, end, x.shape[0]), _rows(sin, start, end, x.shape[0]))
        outputs.append(theirs(x[:, start:end], position_embeddings=angles,
                              attention_mask=additive[None, None], **{CACHE_ARG: cache})[0])
    return torch.cat(outputs, dim=1), cache


@torch.no_grad()
def tinylm_decoding(ours, config, x, cos, sin, calls):
    """tinylm's Attention with its preallocated KVCache, fed call by call."""
    cache, outputs = tl.KVCache(config, batch_size=x.shape[0], max_len=x.shape[1]), []
    for start, end in calls:
        mask = tl.causal_mask(end - start, start)
        outputs.append(ours(x[:, start:end], _rows(cos, start, end, x.shape[0]),
                            _rows(sin, start, end, x.shape[0]), mask, cache, 0)[0])
        cache.advance(end - start)
    return torch.cat(outputs, dim=1)


def _watched_cached_attention(cached_attention, x, layer, cos, sin, prefill, what, caller):
    """cached_attention(...), recording every call it makes to `attention`. The name is watched
    where cached_attention looks it up: the globals of the function (behind any decorator), that
    is the notebook's; else those of the graded cell that called the check (`caller`)."""
    namespace = getattr(inspect.unwrap(cached_attention), "__globals__", None)
    if not (isinstance(namespace, dict) and callable(namespace.get("attention"))):
        namespace = caller
    if not callable(namespace.get("attention")):
        fail(f"{what}: cached_attention must call your attention function, by its name "
             "`attention`, once per step")
    calls, student_attention = [], namespace["attention"]

    def watching(x, layer, cos, sin, cache=None):
        calls.append({"seq": x.shape[1], "cos": cos, "cache": cache,
                      "length": getattr(cache, "length", None)})
        return student_attention(x, layer, cos, sin, cache)

    namespace["attention"] = watching
    try:
        out = call(cached_attention, x, layer, cos, sin, prefill, call=what)
    finally:
        namespace["attention"] = student_attention
    return out, calls


def _check_calls(KVCache, calls, what, seq, prefill, table_cos, batch):
    """The calls cached_attention made: their sizes, their cache, their RoPE rows."""
    expected_seqs = [end - start for start, end in decode_calls(seq, prefill)]
    seqs = [c["seq"] for c in calls]
    n = len(expected_seqs)
    assert seqs == expected_seqs, (
        f"{what}: must call attention once with the {prefill} prefill token(s), then once per "
        f"later token: {n} call{'s' * (n > 1)} with {expected_seqs} tokens; got {len(seqs)} "
        f"call{'s' * (len(seqs) != 1)}" + (f" with {seqs} tokens" if seqs else ""))
    caches = [c["cache"] for c in calls]
    others = [c for c in caches if not isinstance(c, KVCache)]
    assert not others, (
        f"{what}: attention got cache={others[0]!r}; pass your KVCache to every call, as "
        "attention's last argument")
    assert all(c is caches[0] for c in caches), (
        f"{what}: the calls to attention got different KVCache objects; make one KVCache() "
        "before the first call and pass that same one to every call")
    for (start, end), c in zip(decode_calls(seq, prefill), calls, strict=True):
        assert c["length"] == start, (
            f"{what}: the call for {_positions(start, end)} found {c['length']} token(s) in "
            f"the cache, expected {start}")
        got, wanted = c["cos"], table_cos[start:end]
        if (isinstance(got, torch.Tensor) and got.ndim == 3 and got.shape[1:] == wanted.shape
                and got.shape[0] in (1, batch)
                and torch.equal(got, wanted.expand(len(got), -1, -1))):
            continue
        found = [r for r in range(len(table_cos)) if isinstance(got, torch.Tensor)
                 and got.ndim == 3 and got.shape[-1] == wanted.shape[-1]
                 and torch.equal(got[0, 0], table_cos[r])]
        fail(f"{what}: the call for {_positions(start, end)} must get "
             f"{_positions(start, end).replace('position', 'row')} of the tables, shape "
             f"(batch, {end - start}, head_dim): cos[{start}:{end}].expand(batch, -1, -1); "
             + (f"its first row is row {found[0]} of the table" if found
                else f"got {type(got).__name__} {tuple(getattr(got, 'shape', ()))}"))


def _update_call(cache, k, v, what):
    # a RuntimeError here is most often torch.cat along the wrong axis
    hint = ("Keys and values are (batch, n_kv_heads, seq, head_dim): append the new ones along "
            "the sequence axis, torch.cat((self.k, k), dim=2)")
    return call(cache.update, k, v, call=what, hints={RuntimeError: hint})


def kv_cache(KVCache, cached_attention, attention, weights) -> None:
    """Exercise 5: the class `KVCache` (its `update(k, v)`) and
    `cached_attention(x, layer, cos, sin, prefill)`, against the student's own attention
    without a cache, tinylm's Attention with its KVCache, and transformers' LlamaAttention with
    a DynamicCache. `weights` is the lab's AttentionWeights class.
    """
    caller = sys._getframe(1).f_globals  # the graded cell's namespace: the notebook's
    with builds_on(attention_works(attention, weights),
                   "attention of Exercise 4 does not match tinylm yet, and this exercise builds "
                   "on it: make Exercise 4 pass first"):
        _check_kv_cache(KVCache, cached_attention, attention, weights, caller)


def _check_kv_cache(KVCache, cached_attention, attention, weights, caller) -> None:
    gen = torch_rng(0)
    # 1. KVCache.update, by hand
    cache = call(KVCache, call="KVCache()")
    assert cache.length == 0, f"a new KVCache must be empty (length 0), got length {cache.length}"
    k1, v1 = torch.randn(2, 2, 3, 4, generator=gen), torch.randn(2, 2, 3, 4, generator=gen)
    k2, v2 = torch.randn(2, 2, 1, 4, generator=gen), torch.randn(2, 2, 1, 4, generator=gen)
    for step, (k, v, length) in enumerate([(k1, v1, 3), (k2, v2, 4)], start=1):
        what = (f"KVCache.update, call {step}, with keys and values of shape {tuple(k.shape)} "
                f"(batch, n_kv_heads, seq, head_dim)")
        got = _update_call(cache, k.clone(), v.clone(), what)
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            f"{what}: expected a tuple (keys, values), got {type(got).__name__}; did you "
            "forget `return self.k, self.v`?")
        for name, tensor, expected in [("keys", got[0], torch.cat((k1, k2), 2)[:, :, :length]),
                                       ("values", got[1],
                                        torch.cat((v1, v2), 2)[:, :, :length])]:
            if (isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == tuple(k.shape)
                    and k.shape != expected.shape):
                fail(f"{what}: returned only this call's {name}, shape {tuple(tensor.shape)}; "
                     f"return all the {name} so far, shape {tuple(expected.shape)}")
            check_tensor(tensor, f"{what}: the {name} returned", expected.shape)
            if not torch.equal(tensor, expected):
                new_first = torch.cat((expected[:, :, 3:], expected[:, :, :3]), 2)
                fail(f"{what}: the {name} returned must be the stored ones followed by the new "
                     "ones" + (" (the new ones come after the old ones)"
                               if torch.equal(tensor, new_first) else ""))
        assert cache.length == length, (
            f"{what}: expected cache.length == {length} afterwards, got {cache.length} (length "
            "reads self.k: keep all the keys so far in self.k)")

    # 2. cached_attention: the calls it makes, the cache, and its outputs, against your full
    #    forward, tinylm's Attention with its KVCache and transformers' LlamaAttention with a
    #    DynamicCache. Then 3. attention fed several new tokens at a time with a non-empty
    #    cache (a prompt read in chunks; chapter 6 checks drafted tokens this way).
    seq = 9
    table_cos, table_sin = tl.rope_cos_sin(8, 16)
    for dim, n_heads, n_kv_heads in [(32, 4, 4), (32, 4, 2), (32, 4, 1)]:
        kind = "MHA" if n_kv_heads == n_heads else "MQA" if n_kv_heads == 1 else "GQA"
        theirs, ours, layer, config = attention_layers(weights, dim, n_heads, n_kv_heads,
                                                       seed=10 + n_kv_heads)
        x = torch.randn(2, seq, dim, generator=gen)
        what = f"attention(x of shape {tuple(x.shape)}, {kind} layer)"
        full = call(attention, x, layer, _rows(table_cos, 0, seq, 2), _rows(table_sin, 0, seq, 2),
                    call=what)
        check_tensor(full, what, x.shape)
        for prefill in (4, 1, seq):
            what = (f"cached_attention(x of shape {tuple(x.shape)}, {kind} layer with "
                    f"n_heads={n_heads} and n_kv_heads={n_kv_heads}, cos, sin, "
                    f"prefill={prefill})")
            got, calls = _watched_cached_attention(cached_attention, x, layer, table_cos.clone(),
                                                   table_sin.clone(), prefill, what, caller)
            _check_calls(KVCache, calls, what, seq, prefill, table_cos, batch=2)
            check_tensor(got, what, x.shape)
            cache = calls[0]["cache"]
            assert tuple(cache.k.shape) == (2, n_kv_heads, seq, 8), (
                f"{what}: afterwards the cache holds keys of shape {tuple(cache.k.shape)}, "
                f"expected (batch, n_kv_heads, seq, head_dim) = (2, {n_kv_heads}, {seq}, 8): "
                "the cache stores the n_kv_heads heads, before repeat_kv")
            steps = decode_calls(seq, prefill)
            expected_theirs, hf_cache = transformers_decoding(theirs, x, table_cos, table_sin,
                                                              steps)
            if not torch.allclose(cache.k, hf_cache.layers[0].keys, rtol=1e-5, atol=1e-5):
                unturned = (x @ layer.wk.T).view(2, seq, n_kv_heads, 8).transpose(1, 2)
                fail(f"{what}: the keys in your cache differ from those in transformers' "
                     "DynamicCache" + (": store them after apply_rope" if torch.allclose(
                         cache.k, unturned, atol=1e-5) else ""))
            _compare_decoding(got, full,
                              f"{what}, compared with your own attention without a cache", steps)
            _compare_decoding(got, tinylm_decoding(ours, config, x, table_cos, table_sin, steps),
                              f"{what}, compared with tinylm's Attention and KVCache", steps)
            _compare_decoding(got, expected_theirs, f"{what}, compared with transformers' "
                              "LlamaAttention and DynamicCache", steps)

        chunks = [(0, 3), (3, 7), (7, 9)]
        what = (f"attention with one KVCache, fed x of shape {tuple(x.shape)} in chunks of 3, 4 "
                f"and 2 tokens ({kind} layer)")
        cache, outputs = call(KVCache, call="KVCache()"), []
        for a, b in chunks:
            # a RuntimeError here is most often a mask of the wrong shape
            hint = ("With past tokens in the cache the scores are (batch, n_heads, seq, past + "
                    "seq), and so is the mask: causal_mask(seq, past)")
            outputs.append(call(attention, x[:, a:b], layer, _rows(table_cos, a, b, 2),
                                _rows(table_sin, a, b, 2), cache,
                                call=f"{what}: the call for {_positions(a, b)}, with {a} tokens "
                                     "in the cache,", hints={RuntimeError: hint}))
        got = torch.cat(outputs, dim=1)
        check_tensor(got, what, x.shape)
        _compare_decoding(got, full, f"{what}, compared with your own attention without a cache",
                          chunks)
        _compare_decoding(got, tinylm_decoding(ours, config, x, table_cos, table_sin, chunks),
                          f"{what}, compared with tinylm's Attention and KVCache", chunks)
        _compare_decoding(got, transformers_decoding(theirs, x, table_cos, table_sin, chunks)[0],
                          f"{what}, compared with transformers' LlamaAttention and "
                          "DynamicCache", chunks)
