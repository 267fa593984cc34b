"""The checks of lab 3 (tinylm.grading.checks.llama) pass a right answer and fail wrong ones
with a message that names the problem.

Right answers are built on the package (`tinylm.llama`), the KV cache on transformers'
`DynamicCache`. Most wrong answers are the mistakes the checks name in their hints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from transformers import DynamicCache

from tinylm import llama as tl
from tinylm.grading.checks import llama as checks

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@dataclass
class AttentionWeights:
    """The lab's set-up cell defines this class; the checks build their layers with it."""

    wq: torch.Tensor
    wk: torch.Tensor
    wv: torch.Tensor
    wo: torch.Tensor
    n_heads: int
    n_kv_heads: int

    @property
    def head_dim(self) -> int:
        return self.wq.shape[0] // self.n_heads


# -- right answers, from the package -------------------------------------------------------------


def rms_norm(x, weight, eps=1e-5):
    norm = tl.RMSNorm(x.shape[-1], eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


def swiglu(x, w1, w2, w3):
    ff = tl.FeedForward(tl.LlamaConfig(dim=w1.shape[1], n_heads=1, ffn_hidden=w1.shape[0]))
    with torch.no_grad():
        for linear, w in ((ff.w1, w1), (ff.w2, w2), (ff.w3, w3)):
            linear.weight.copy_(w)
        return ff(x)


def causal_mask(seq, past=0):
    return tl.causal_mask(seq, past)[0, 0]


def attention(x, layer, cos, sin, cache=None, rope=tl.apply_rope, mask=causal_mask,
              merge_heads=True):
    b, t, _ = x.shape
    h, h_kv, d = layer.n_heads, layer.n_kv_heads, layer.head_dim
    q = rope((x @ layer.wq.T).view(b, t, h, d).transpose(1, 2), cos, sin)
    k = rope((x @ layer.wk.T).view(b, t, h_kv, d).transpose(1, 2), cos, sin)
    v = (x @ layer.wv.T).view(b, t, h_kv, d).transpose(1, 2)
    if cache is not None:
        k, v = cache.update(k, v)
    past = k.shape[2] - t
    weights = tl.attention_weights(q, tl.repeat_kv(k, h // h_kv), mask(t, past))
    out = weights @ tl.repeat_kv(v, h // h_kv)  # (batch, heads, seq, head_dim)
    out = out.transpose(1, 2) if merge_heads else out
    return out.reshape(b, t, h * d) @ layer.wo.T


class KVCache:
    """The lab's KVCache, kept by transformers' DynamicCache."""

    def __init__(self):
        self.cache, self.k, self.v = DynamicCache(), None, None

    @property
    def length(self):
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k, v):
        self.k, self.v = self.cache.update(k, v, 0)
        return self.k, self.v


def cached_attention(x, layer, cos, sin, prefill):
    cache, outputs, start = KVCache(), [], 0
    for end in [prefill, *range(prefill + 1, x.shape[1] + 1)]:
        rows = (cos[start:end].expand(len(x), -1, -1), sin[start:end].expand(len(x), -1, -1))
        outputs.append(attention(x[:, start:end], layer, *rows, cache))
        start = end
    return torch.cat(outputs, dim=1)


@torch.no_grad()
def decorated_cached_attention(x, layer, cos, sin, prefill):
    return cached_attention(x, layer, cos, sin, prefill)


def test_right_answers_pass():
    checks.rms_norm(rms_norm)
    checks.rope(tl.rope_cos_sin, tl.rotate_half, tl.apply_rope)
    checks.swiglu(swiglu)
    checks.attention(tl.repeat_kv, causal_mask, attention, AttentionWeights, tl.apply_rope)
    checks.kv_cache(KVCache, cached_attention, attention, AttentionWeights)
    # behind a decorator too: the calls to attention are watched where the undecorated
    # function looks the name up
    checks.kv_cache(KVCache, decorated_cached_attention, attention, AttentionWeights)


# -- wrong answers -------------------------------------------------------------------------------


def in_place(x, weight, eps=1e-5):
    return x.mul_(torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).mul_(weight)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda x, w, eps=1e-5: x * torch.rsqrt(x.pow(2).mean() + eps) * w,
                 r"compared with tinylm.llama.RMSNorm: .* \(the mean must run over the last "
                 r"dimension only: mean\(dim=-1, keepdim=True\)\)$", id="mean-over-everything"),
    pytest.param(lambda x, w, eps=1e-5: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w,
                 r"^rms_norm\(torch.tensor\(\[0.001, -0.001\]\), torch.tensor\(\[1.0, 1.0\]\)\): "
                 r"expected \[0.3015, -0.3015\], got \[0.9901", id="eps-outside-the-root"),
    pytest.param(lambda x, w, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps) * w,
                 r"^rms_norm\(torch.tensor\(\[3.0, 4.0\]\), .*\): expected \[0.8485, 2.2627\], "
                 r"got \[-1.0, 2.0\]$", id="layer-norm"),
    pytest.param(in_place, r"changed x: return a new tensor instead", id="in-place"),
])
def test_rms_norm_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.rms_norm(wrong)


def interleaved_tables(head_dim, max_seq_len, theta=10000.0):
    freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = (torch.arange(max_seq_len, dtype=torch.float32)[:, None] * freq)
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()


def half_tables(head_dim, max_seq_len, theta=10000.0):
    cos, sin = tl.rope_cos_sin(head_dim, max_seq_len, theta)
    return cos[:, : head_dim // 2], sin[:, : head_dim // 2]


def rope_without_heads_axis(x, cos, sin):
    return x * cos + tl.rotate_half(x) * sin


@pytest.mark.parametrize("rope, message", [
    pytest.param((interleaved_tables, tl.rotate_half, tl.apply_rope),
                 r"^rope_cos_sin\(4, 3, theta=100\): expected cos\[1\] = \[0.5403, 0.995, 0.5403, "
                 r"0.995\], got \[0.5403, 0.5403, 0.995, 0.995\]$", id="interleaved-angles"),
    pytest.param((half_tables, tl.rotate_half, tl.apply_rope),
                 r"cos has shape \(3, 2\), one column per frequency; write each angle twice",
                 id="angles-once"),
    pytest.param((lambda *a: tl.rope_cos_sin(*a)[::-1], tl.rotate_half, tl.apply_rope),
                 r"^rope_cos_sin\(4, 3, theta=100\): cos\[0\] \(position 0\) must be \[1.0, 1.0, "
                 r"1.0, 1.0\], got \[0.0, 0.0, 0.0, 0.0\]$", id="cos-and-sin-swapped"),
    pytest.param((tl.rope_cos_sin, lambda x: -tl.rotate_half(x), tl.apply_rope),
                 r"expected \[-3, -4, 1, 2\], got \[3.0, 4.0, -1.0, -2.0\]$",
                 id="rotate-half-sign"),
    pytest.param((tl.rope_cos_sin, tl.rotate_half, rope_without_heads_axis),
                 r"apply_rope\(q of shape \(2, 4, 7, 16\), cos, sin\) raised RuntimeError: .* give "
                 r"cos and sin a heads axis, cos\[:, None\]", id="no-heads-axis"),
])
def test_rope_rejects(rope, message):
    with pytest.raises(AssertionError, match=message):
        checks.rope(*rope)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda x, w1, w2, w3: (F.silu(x @ w3.T) * (x @ w1.T)) @ w2.T,
                 r"compared with tinylm.llama.FeedForward: .* \(gate and values are swapped: the "
                 r"gate is silu\(x @ w1.T\), the values x @ w3.T\)$", id="gate-and-values-swapped"),
    pytest.param(lambda x, w1, w2, w3: (torch.relu(x @ w1.T) * (x @ w3.T)) @ w2.T,
                 r"^swiglu\(torch.tensor\(\[1., -1.\]\), I, I, I\): expected \[0.7311, 0.2689\], "
                 r"got \[1.0, 0.0\]$", id="relu"),
    pytest.param(lambda x, w1, w2, w3: (F.silu(x @ w1) * (x @ w3)) @ w2,
                 r"raised RuntimeError: .*weights are \(out_features, in_features\), so the first "
                 r"projection is x @ w1.T$", id="untransposed-weights"),
])
def test_swiglu_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.swiglu(wrong)


def wrong_rope(x, cos, sin):
    return x * cos[:, None] - tl.rotate_half(x) * sin[:, None]


@pytest.mark.parametrize("parts, message", [
    pytest.param((lambda x, n: x.repeat(1, n, 1, 1), causal_mask, attention),
                 r"expected the heads \(1, 1, 2, 2\), got \(1.0, 2.0, 1.0, 2.0\) \(each head must "
                 r"be repeated in place: a a b b, not a b a b\)$", id="repeat_kv-tiled"),
    pytest.param((tl.repeat_kv, lambda seq, past=0: torch.ones(seq, seq).tril().bool(), attention),
                 r"^causal_mask\(2, past=3\): expected shape \(2, 5\), got \(2, 2\)$",
                 id="mask-without-past"),
    pytest.param((tl.repeat_kv, lambda seq, past=0: causal_mask(seq, past).T.contiguous(),
                  attention),
                 r"^causal_mask\(3, past=0\): query 0 stands at position 0 and must not see the "
                 "key at position 1", id="mask-upside-down"),
    pytest.param((tl.repeat_kv, causal_mask,
                  lambda *a, **k: attention(*a, mask=lambda t, p: torch.ones(t, p + t).bool())),
                 r"token 0 sees token 1: the causal mask is missing", id="no-mask"),
    pytest.param((tl.repeat_kv, causal_mask, lambda *a: attention(*a, merge_heads=False)),
                 r"compared with tinylm.llama.Attention: .* \(merge the heads back with "
                 r".transpose\(1, 2\) before .reshape\(batch, seq, dim\)\)$",
                 id="heads-not-merged"),
])
def test_attention_rejects(parts, message):
    with pytest.raises(AssertionError, match=message):
        checks.attention(*parts, AttentionWeights, tl.apply_rope)


def test_attention_notes_a_wrong_exercise_2():
    with pytest.raises(AssertionError, match=r"\(note: apply_rope of Exercise 2 does not match "
                                             r"tinylm yet, and attention builds on it"):
        checks.attention(tl.repeat_kv, causal_mask,
                         lambda *a: attention(*a, rope=wrong_rope), AttentionWeights, wrong_rope)


class NewFirst(KVCache):
    def update(self, k, v):
        self.k = k if self.k is None else torch.cat((k, self.k), dim=2)
        self.v = v if self.v is None else torch.cat((v, self.v), dim=2)
        return self.k, self.v


class OnlyNew(KVCache):
    def update(self, k, v):
        super().update(k, v)
        return k, v


class WrongAxis(KVCache):
    def update(self, k, v):
        self.k = k if self.k is None else torch.cat((self.k, k), dim=1)
        self.v = v if self.v is None else torch.cat((self.v, v), dim=1)
        return self.k, self.v


def cache_per_call(x, layer, cos, sin, prefill):
    outputs, start = [], 0
    for end in [prefill, *range(prefill + 1, x.shape[1] + 1)]:
        rows = (cos[start:end].expand(len(x), -1, -1), sin[start:end].expand(len(x), -1, -1))
        outputs.append(attention(x[:, start:end], layer, *rows, KVCache()))
        start = end
    return torch.cat(outputs, dim=1)


def rows_from_zero(x, layer, cos, sin, prefill):
    cache, outputs, start = KVCache(), [], 0
    for end in [prefill, *range(prefill + 1, x.shape[1] + 1)]:
        n = end - start
        outputs.append(attention(x[:, start:end], layer, cos[:n].expand(len(x), -1, -1),
                                 sin[:n].expand(len(x), -1, -1), cache))
        start = end
    return torch.cat(outputs, dim=1)


def mask_without_past(x, layer, cos, sin, cache=None):
    return attention(x, layer, cos, sin, cache, mask=lambda t, past: causal_mask(t, 0))


@pytest.mark.parametrize("parts, message", [
    pytest.param((NewFirst, cached_attention, attention),
                 r"the keys returned must be the stored ones followed by the new ones \(the new "
                 r"ones come after the old ones\)$", id="new-keys-first"),
    pytest.param((OnlyNew, cached_attention, attention),
                 r"returned only this call's keys, shape \(2, 2, 1, 4\); return all the keys so "
                 r"far, shape \(2, 2, 4, 4\)$", id="only-the-new-keys"),
    pytest.param((WrongAxis, cached_attention, attention),
                 r"raised RuntimeError: .*append the new ones along the sequence axis, "
                 r"torch.cat\(\(self.k, k\), dim=2\)$", id="cat-along-heads"),
    pytest.param((KVCache, cache_per_call, attention),
                 r"the calls to attention got different KVCache objects", id="a-cache-per-call"),
    pytest.param((KVCache, rows_from_zero, attention),
                 r"the call for position 4 must get row 4 of the tables, .*its first row is row 0",
                 id="rope-rows-from-zero"),
    pytest.param((KVCache, cached_attention, mask_without_past),
                 r"in chunks of 3, 4 and 2 tokens \(MHA layer\): the call for positions 3 to 6, "
                 r"with 3 tokens in the cache, raised RuntimeError: .*causal_mask\(seq, past\)$",
                 id="mask-without-past"),
])
def test_kv_cache_rejects(parts, message):
    with pytest.raises(AssertionError, match=message):
        checks.kv_cache(*parts, AttentionWeights)


def test_kv_cache_notes_a_wrong_exercise_4():
    def unscaled(x, layer, cos, sin, cache=None):  # forgets 1 / sqrt(head_dim)
        return attention(x * math.sqrt(layer.head_dim), layer, cos, sin, cache)

    with pytest.raises(AssertionError, match=r"\(note: attention of Exercise 4 does not match "
                                             "tinylm yet, and this exercise builds on it"):
        checks.kv_cache(NewFirst, cached_attention, unscaled, AttentionWeights)
