"""FastDecoder: the function ``tinylm.llama.Llama`` computes, in fewer operations per step.

One decoding step at batch 1 multiplies a single vector by every weight matrix of the model: two
floating-point operations per weight read, so its time is bounded by how fast the weights come
from memory (``tinylm.roofline`` measures that floor). Around its 43 matrix products the
readable model makes 76 module calls and about 250 other tensor operations (500 with the views),
each costing a microsecond or two of Python and dispatch: at the course's sizes that overhead
takes as long as the products themselves. ``FastDecoder`` keeps the arithmetic and removes the
overhead, in two steps.

In torch (any device), half the operations:

1. Fused projections: ``wq``, ``wk`` and ``wv`` are stacked into one matrix and ``w1`` (the gate)
   and ``w3`` into another, so a block runs four matrix products instead of seven.
2. RMSNorm gains folded into the matrix that reads the normalised vector,
   ``W (g * x_hat) = (W diag g) x_hat``: a norm is one ``F.rms_norm`` without a weight.
3. Residual additions fused into the product: ``torch.addmm(x, h, W.T)`` is ``x + h @ W.T``.
4. RoPE on the queries and keys at once, with ``torch.roll`` and a sine table whose first half is
   negated (``rotate_half(x) * sin == x.roll(head_dim / 2) * signed_sin``), instead of chunk,
   neg and cat for each.
5. A one-token step without padding needs no mask (its token sees every cached slot), and
   grouped-query attention needs no copies: the ``n_rep`` query heads that share a key/value
   head are viewed as ``n_rep`` queries of that head, (batch, kv_heads, n_rep, head_dim).
6. Plain tensors and functions: no ``nn.Module`` calls, no hooks, checks on shapes only.

On the CPU, none: a one-token step is a single call of the Numba kernel
``tinylm.fast_decoder_kernels.decode_step`` on the same fused weights, and what is left is the
arithmetic and the reading of the weights. Prompts (several tokens at once, a few large
products) always run in torch.

It reads and writes the model's own ``KVCache``, in the model's layout, so ``generate()``'s beam
search reorders it as before. It is for inference: the fused matrices are copies made once, no
gradient flows back to the model, and ``fast_decoder(model)`` builds a new one when a weight
changes. The tests hold both ways equal to the readable model (logits within 1e-5, identical
greedy and beam-search tokens) on the zoo's models and random configurations.

    decoder = FastDecoder(model)                    # fuses and copies the weights once
    cache = decoder.new_cache(batch_size=1)
    logits = decoder(prompt_ids, cache=cache)       # (batch, prompt, vocab): the prefill
    logits = decoder(next_ids, cache=cache)         # (batch, 1, vocab): one step
    decoder = fast_decoder(model)                   # the same, built once per weights version
    FastDecoder(model, compiled=False)              # torch only, as on a GPU
"""

from __future__ import annotations

import weakref
from itertools import chain
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinylm.fast_decoder_kernels import decode_step
from tinylm.llama import (
    Attention,
    Block,
    FeedForward,
    KVCache,
    Llama,
    RMSNorm,
    causal_mask,
    position_ids_from_mask,
)


class FusedWeights(NamedTuple):
    """Every block's matrices stacked by layer, in ``nn.Linear``'s (out, in) layout, with the
    RMSNorm gains folded in: multiplying column j by gain j is normalising, then scaling."""

    wqkv: torch.Tensor  # (layers, (n_heads + 2 kv_heads) head_dim, dim): wq over wk over wv
    wo: torch.Tensor  # (layers, dim, n_heads head_dim)
    w13: torch.Tensor  # (layers, 2 ffn_hidden, dim): w1 (the gate) over w3
    w2: torch.Tensor  # (layers, dim, ffn_hidden)
    output: torch.Tensor  # (vocab, dim), the final norm's gain folded in


@torch.no_grad()
def fuse_weights(model: Llama) -> FusedWeights:
    """The model's seven projections per block as four matrices (copies). ``nn.Linear``
    stores (out, in), so stacking along dim 0 stacks outputs."""
    wqkv, wo, w13, w2 = [], [], [], []
    for block in model.layers:
        attn, ffn = block.attention, block.feed_forward
        wqkv.append(torch.cat([attn.wq.weight, attn.wk.weight, attn.wv.weight])
                    * block.attention_norm.weight)
        wo.append(attn.wo.weight)
        w13.append(torch.cat([ffn.w1.weight, ffn.w3.weight]) * block.ffn_norm.weight)
        w2.append(ffn.w2.weight)
    return FusedWeights(torch.stack(wqkv), torch.stack(wo), torch.stack(w13), torch.stack(w2),
                        model.output.weight * model.norm.weight)


class FusedBlock(NamedTuple):
    """One block's fused matrices as (in, out) views, for ``torch.mm(x, W)``."""

    wqkv: torch.Tensor  # (dim, (n_heads + 2 kv_heads) head_dim)
    wo: torch.Tensor  # (n_heads head_dim, dim)
    w13: torch.Tensor  # (dim, 2 ffn_hidden)
    w2: torch.Tensor  # (ffn_hidden, dim)


def signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """(positions, head_dim) -> the same with the first half negated: rotate_half(x) * sin is
    cat(-x2, x1) * sin = cat(x2, x1) * cat(-sin1, sin2), and cat(x2, x1) is x rolled by half."""
    half = sin.shape[-1] // 2
    return torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)


NO_PADDING = np.zeros((0, 0), dtype=np.bool_)  # the compiled step's "every cached slot is real"


class FastDecoder:
    """``Llama``'s forward pass for decoding with a cache, from fused weights (module docstring).

    Called as the model is, ``decoder(input_ids, attention_mask=None, cache=None)`` -> logits
    (batch, seq, vocab); the arguments mean what they mean for ``Llama.forward``.
    compiled: run one-token steps as one Numba call (``fast_decoder_kernels.decode_step``);
        None (the default) does so on the CPU. Prompts (several tokens) always run in torch.
    """

    def __init__(self, model: Llama, compiled: bool | None = None):
        reason = why_not_fast(model)
        if reason:
            raise TypeError(f"FastDecoder cannot stand in for this model: {reason}")
        c = self.config = model.config
        self.n_heads, self.n_kv_heads, self.head_dim = c.n_heads, c.n_kv_heads, c.head_dim
        self.n_rep = c.n_heads // c.n_kv_heads
        self.qk_width = (c.n_heads + c.n_kv_heads) * c.head_dim  # queries and keys in wqkv's output
        self.weights = fuse_weights(model)
        w = self.weights
        self.blocks = [FusedBlock(w.wqkv[i].t(), w.wo[i].t(), w.w13[i].t(), w.w2[i].t())
                       for i in range(c.n_layers)]
        self.output = w.output.t()  # (dim, vocab)
        self.embedding = model.tok_embeddings.weight.detach()  # (vocab, dim), the model's own
        self.cos, self.sin = model.rope_cos, model.rope_sin  # (max_seq_len, head_dim)
        self.signed_sin = signed_sin(model.rope_sin)
        self.dtype, self.device = self.embedding.dtype, self.embedding.device
        self.compiled = self.device.type == "cpu" if compiled is None else compiled
        if self.compiled:  # numpy views of the same memory, for the Numba kernel
            self.arrays = {name: t.numpy() for name, t in w._asdict().items()}
            self.arrays.update(embedding=self.embedding.numpy(), cos=self.cos.numpy(),
                               sin=self.sin.numpy())
        self._cache_views = ((), None)  # (the cache's tensors, their numpy views)

    def new_cache(self, batch_size: int = 1, max_len: int | None = None) -> KVCache:
        """An empty ``KVCache`` with the model's sizes, dtype and device."""
        return KVCache(self.config, batch_size, max_len, dtype=self.dtype, device=self.device)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 cache: KVCache | None = None) -> torch.Tensor:
        b, t = self._check(input_ids, attention_mask, cache)
        if cache is None:  # a forward pass without a cache: prefill a throwaway one
            cache = self.new_cache(b, t)
        if t == 1 and self.compiled:
            return self._compiled_step(input_ids, attention_mask, cache)
        cos, sin, mask = self._rope_and_mask(b, t, cache.length, attention_mask)
        x = F.embedding(input_ids, self.embedding).view(b * t, -1)  # (batch * seq, dim)
        for layer, block in enumerate(self.blocks):
            x = self._block(x, block, b, t, cos, sin, mask, cache, layer)
        cache.advance(t)
        h = F.rms_norm(x, x.shape[-1:], eps=self.config.norm_eps)
        return torch.mm(h, self.output).view(b, t, -1)  # (batch, seq, vocab)

    def _compiled_step(self, input_ids, attention_mask, cache):
        """One token per row through ``decode_step``: logits (batch, 1, vocab)."""
        past = cache.length
        if attention_mask is None:
            positions, valid = np.full(len(input_ids), past, dtype=np.int64), NO_PADDING
        else:
            positions = np.ascontiguousarray(position_ids_from_mask(attention_mask)[:, -1])
            valid = np.ascontiguousarray(attention_mask.bool())  # (batch, past + 1)
        keys, values = self._numpy_views(cache)
        a = self.arrays
        ids = np.ascontiguousarray(input_ids[:, 0].long())  # (batch,), one array type for Numba
        logits = decode_step(
            ids, positions, valid, past, a["embedding"], a["wqkv"],
            a["wo"], a["w13"], a["w2"], a["output"], a["cos"], a["sin"], keys, values,
            self.n_heads, self.n_kv_heads, self.config.norm_eps)
        cache.advance(1)
        return torch.from_numpy(logits)[:, None]

    def _numpy_views(self, cache):
        """The cache's per-layer tensors as numpy arrays (tuples, for Numba). ``.numpy()`` costs
        microseconds a call, so the views are kept while the tensors stay the same objects
        (they change when beam search reorders the cache)."""
        tensors = tuple(cache.k + cache.v)
        held = self._cache_views[0]
        if len(held) != len(tensors) or any(a is not b for a, b in zip(held, tensors,
                                                                           strict=True)):
            n = len(cache.k)
            arrays = tuple(t.numpy() for t in tensors)
            self._cache_views = (tensors, (arrays[:n], arrays[n:]))  # holds the tensors too
        return self._cache_views[1]

    def _rope_and_mask(self, b, t, past, attention_mask):
        """RoPE tables (batch or 1, seq, 1, head_dim) at each token's position, and the
        attention mask (None where every query sees every key it is shown)."""
        if attention_mask is None:
            cos, sin = self.cos[past:past + t], self.signed_sin[past:past + t]  # (seq, head_dim)
            mask = None if t == 1 else causal_mask(t, past).to(self.device)
            return cos[None, :, None], sin[None, :, None], mask
        positions = position_ids_from_mask(attention_mask)[:, past:]  # (batch, seq)
        mask = causal_mask(t, past, attention_mask)  # (batch, 1, seq, total)
        return self.cos[positions][:, :, None], self.signed_sin[positions][:, :, None], mask

    def _block(self, x, block: FusedBlock, b, t, cos, sin, mask, cache, layer):
        """x (batch * seq, dim) -> the block's output, same shape; the cache receives k, v."""
        eps, nh, nkv, hd = self.config.norm_eps, self.n_heads, self.n_kv_heads, self.head_dim
        h = F.rms_norm(x, x.shape[-1:], eps=eps)
        qkv = torch.mm(h, block.wqkv)  # (batch * seq, (n_heads + 2 kv_heads) head_dim)
        qk = qkv[:, :self.qk_width].view(b, t, nh + nkv, hd)
        qk = torch.addcmul(qk * cos, qk.roll(hd // 2, dims=-1), sin)  # RoPE, every head at once
        k = qk[:, :, nh:].transpose(1, 2)  # (batch, kv_heads, seq, head_dim)
        v = qkv[:, self.qk_width:].view(b, t, nkv, hd).transpose(1, 2)
        k, v = cache.update(layer, k, v)  # (batch, kv_heads, total, head_dim)
        if t == 1:  # query heads sharing a key/value head are that head's n_rep queries
            q = qk[:, 0, :nh].view(b, nkv, self.n_rep, hd)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            q = qk[:, :, :nh].transpose(1, 2)  # (batch, heads, seq, head_dim)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
            out = out.transpose(1, 2)  # (batch, seq, heads, head_dim)
        x = torch.addmm(x, out.reshape(b * t, nh * hd), block.wo)  # x + attention
        h = F.rms_norm(x, x.shape[-1:], eps=eps)
        gate, up = torch.mm(h, block.w13).chunk(2, dim=-1)  # (batch * seq, ffn_hidden) each
        return torch.addmm(x, F.silu(gate) * up, block.w2)  # x + SwiGLU

    def _check(self, input_ids, attention_mask, cache):
        if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or \
                input_ids.shape[1] == 0:
            raise ValueError("input_ids must be a (batch, seq) tensor of token ids with seq >= 1")
        b, t = input_ids.shape
        past = 0 if cache is None else cache.length
        if attention_mask is not None and tuple(attention_mask.shape) != (b, past + t):
            raise ValueError(f"attention_mask must be (batch, cached + new tokens) = "
                             f"{(b, past + t)}, got {tuple(attention_mask.shape)}")
        if cache is not None and (cache.batch_size != b or past + t > cache.max_len):
            raise ValueError(f"the cache (batch {cache.batch_size}, {past} of {cache.max_len} "
                             f"slots used) cannot take input_ids of shape {(b, t)}")
        if past + t > self.config.max_seq_len:
            raise ValueError(f"sequence of {past + t} tokens is longer than max_seq_len="
                             f"{self.config.max_seq_len}")
        return b, t


# ---------------------------------------------------------------------------------------------
# When the fast path may stand in for the model, and one decoder per model
# ---------------------------------------------------------------------------------------------

# What a plain Llama is made of: anything else (a LoRA adapter, a subclass) computes something
# FastDecoder does not know about.
_PLAIN_MODULES = (Llama, nn.Embedding, nn.ModuleList, Block, RMSNorm, Attention, FeedForward,
                  nn.Linear)


def why_not_fast(model) -> str | None:
    """Why ``FastDecoder`` would not compute what ``model`` computes, or None if it would."""
    if type(model) is not Llama:
        return f"it is a {type(model).__name__}, not a tinylm Llama"
    if "forward" in vars(model):
        return "its forward was replaced"
    for name, module in model.named_modules():
        if type(module) not in _PLAIN_MODULES:
            return f"{name} is a {type(module).__name__}, not a part of a plain Llama"
        if module._forward_hooks or module._forward_pre_hooks:
            return f"{name or 'the model'} has forward hooks"
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return "global forward hooks are registered"
    dtype = model.tok_embeddings.weight.dtype
    if dtype != torch.float32:
        return f"its weights are {dtype}, and only float32 is held equal to the model"
    return None


_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (version, decoder)


def weights_version(model: nn.Module) -> tuple:
    """Changes whenever a weight does: replaced (another storage), moved, or changed in place
    (an optimizer step or ``load_state_dict`` bumps the tensor's version counter)."""
    return tuple((t.data_ptr(), t._version, t.dtype, t.device)
                 for t in chain(model.parameters(), model.buffers()))


def fast_decoder(model) -> FastDecoder | None:
    """``model``'s ``FastDecoder``, built on first use and again whenever its weights change;
    None when ``why_not_fast(model)`` gives a reason."""
    if why_not_fast(model):
        return None
    version = weights_version(model)
    entry = _DECODERS.get(model)
    if entry is None or entry[0] != version:
        entry = _DECODERS[model] = (version, FastDecoder(model))
    return entry[1]
