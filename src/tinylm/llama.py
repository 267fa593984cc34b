"""LLaMA 2: the decoder-only transformer the rest of the course builds on.

Reading order, top to bottom, follows one token's trip through the model:

1. ``LlamaConfig``: every size in one place, checked up front (heads must divide the width,
   key/value heads must divide the query heads, ...).
2. ``RMSNorm``: scale each vector to unit root-mean-square, then by a learned gain. No mean, no
   bias: cheaper than LayerNorm and just as good.
3. Rotary position embeddings (RoPE): ``rope_cos_sin`` precomputes an angle per position and
   per pair of channels; ``apply_rope`` rotates queries and keys by them, so the dot product of a
   query at position m and a key at position n depends only on m - n. Channels are paired as
   (i, i + head_dim/2), the "rotate half" convention of Hugging Face ``transformers``.
4. ``Attention`` with grouped-query heads: ``n_heads`` query heads share ``n_kv_heads`` key/value
   heads (``n_kv_heads == n_heads`` is multi-head attention, ``1`` is multi-query attention,
   anything in between is GQA, as in LLaMA 2 70B). Fewer key/value heads mean a smaller KV cache.
5. ``FeedForward``: SwiGLU, ``w2(silu(w1 x) * w3 x)``.
6. ``Block``: pre-norm residual block, ``x + attn(norm(x))`` then ``x + ffn(norm(x))``.
7. ``Llama``: token embedding, the blocks, a final norm and the output head (tied to the
   embedding or not). ``hidden_states`` stops before the output head (Medusa's heads read
   it); ``tree_mask`` and ``position_ids`` decode a tree of candidates in one call.
8. ``KVCache``: keys and values of the tokens seen so far, so that decoding one more token costs
   one token's worth of work instead of re-reading the whole prefix. ``reorder`` picks and
   copies rows, which beam search needs when beams change places; ``crop`` forgets the last
   tokens, which speculative decoding needs when the target rejects drafted ones.

``Llama.from_hf`` copies the weights of a ``transformers.LlamaForCausalLM``; the tests check that
both give the same logits (fp32, within 1e-4), with and without the cache. Parameter names follow
Meta's reference code (``wq``, ``w1``, ``attention_norm``, ...); ``HF_NAMES`` maps them to the
names ``transformers`` uses.

    model = Llama(LlamaConfig(vocab_size=256, dim=64, n_layers=2, n_heads=4, n_kv_heads=2))
    logits = model(input_ids)                              # (batch, seq, vocab)
    cache = model.new_cache(batch_size=input_ids.shape[0])
    logits = model(input_ids[:, :5], cache=cache)          # prefill: 5 tokens enter the cache
    logits = model(input_ids[:, 5:6], cache=cache)         # one step: the cache holds 6
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class LlamaConfig:
    """Sizes of a LLaMA model. The defaults are a toy that trains in seconds on a CPU.

    vocab_size:   number of token ids
    dim:          width of the residual stream (``hidden_size`` in transformers)
    n_layers:     number of blocks
    n_heads:      query heads; ``head_dim = dim // n_heads``
    n_kv_heads:   key/value heads (None means n_heads): n_heads -> MHA, 1 -> MQA, else GQA
    ffn_hidden:   width inside the SwiGLU feed-forward (``intermediate_size``)
    max_seq_len:  longest sequence (prompt + generated) the model accepts
    rope_theta:   RoPE base; larger means slower-turning angles (LLaMA 2: 1e4, LLaMA 3: 5e5)
    norm_eps:     epsilon of RMSNorm
    tie_embeddings: share one matrix between the token embedding and the output head
    """

    vocab_size: int = 256
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_hidden: int = 172
    max_seq_len: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_hidden",
                     "max_seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.dim % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide dim={self.dim} (each head gets "
                             f"dim // n_heads channels); try n_heads in "
                             f"{[h for h in range(1, self.dim + 1) if self.dim % h == 0][:8]}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_kv_heads={self.n_kv_heads} must divide n_heads={self.n_heads} "
                             "(each key/value head serves a group of n_heads // n_kv_heads "
                             "query heads)")
        if self.head_dim % 2:
            raise ValueError(f"head_dim = dim // n_heads = {self.head_dim} must be even: RoPE "
                             "rotates channels in pairs")
        if not self.rope_theta > 0:
            raise ValueError(f"rope_theta must be > 0, got {self.rope_theta!r}")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be > 0, got {self.norm_eps!r}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_size(self) -> int:  # the transformers name of ``dim``
        return self.dim

    @property
    def intermediate_size(self) -> int:  # the transformers name of ``ffn_hidden``
        return self.ffn_hidden

    def kv_cache_bytes(self, batch_size: int = 1, seq_len: int | None = None,
                       bytes_per_value: int = 2) -> int:
        """Memory of a full KV cache: 2 (k and v) x layers x batch x kv_heads x seq x head_dim.

        ``bytes_per_value`` is 2 for fp16/bf16 (how large models are served), 4 for fp32.
        """
        seq_len = self.max_seq_len if seq_len is None else seq_len
        return (2 * self.n_layers * batch_size * self.n_kv_heads * seq_len * self.head_dim
                * bytes_per_value)

    def num_parameters(self) -> int:
        """Parameters of the model this config describes, without building it: embeddings;
        per layer the attention (q and o: dim x dim; k and v: dim x kv_heads*head_dim), the
        SwiGLU (3 x dim x ffn) and two RMSNorms; the final norm; the output head unless tied."""
        d, kv = self.dim, self.n_kv_heads * self.head_dim
        per_layer = 2 * d * d + 2 * d * kv + 3 * d * self.ffn_hidden + 2 * d
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.n_layers * per_layer + d + head

    @classmethod
    def from_hf(cls, hf_config) -> LlamaConfig:
        """The same sizes as a ``transformers.LlamaConfig``; refuses features we do not build."""
        head_dim = getattr(hf_config, "head_dim", None)
        if head_dim is not None and head_dim != hf_config.hidden_size // \
                hf_config.num_attention_heads:
            raise ValueError(f"head_dim={head_dim} differs from hidden_size // "
                             f"num_attention_heads; only the standard head size is supported")
        for flag in ("attention_bias", "mlp_bias"):
            if getattr(hf_config, flag, False):
                raise ValueError(f"{flag}=True is not supported (LLaMA has no biases)")
        if getattr(hf_config, "hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act must be 'silu' (SwiGLU), got {hf_config.hidden_act!r}")
        rope = getattr(hf_config, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"rope_type {rope['rope_type']!r} is not supported, only plain RoPE")
        theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0))
        return cls(vocab_size=hf_config.vocab_size, dim=hf_config.hidden_size,
                   n_layers=hf_config.num_hidden_layers, n_heads=hf_config.num_attention_heads,
                   n_kv_heads=hf_config.num_key_value_heads or hf_config.num_attention_heads,
                   ffn_hidden=hf_config.intermediate_size,
                   max_seq_len=hf_config.max_position_embeddings, rope_theta=float(theta),
                   norm_eps=hf_config.rms_norm_eps,
                   tie_embeddings=bool(hf_config.tie_word_embeddings))

    def to_hf(self):
        """The equivalent ``transformers.LlamaConfig``."""
        import transformers

        return transformers.LlamaConfig(
            vocab_size=self.vocab_size, hidden_size=self.dim, intermediate_size=self.ffn_hidden,
            num_hidden_layers=self.n_layers, num_attention_heads=self.n_heads,
            num_key_value_heads=self.n_kv_heads, max_position_embeddings=self.max_seq_len,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            rms_norm_eps=self.norm_eps, tie_word_embeddings=self.tie_embeddings,
            hidden_act="silu", attention_bias=False, mlp_bias=False)

    def to_dict(self) -> dict:
        return asdict(self)


# The published LLaMA 2 sizes (Touvron et al. 2023, table 1 and the released configs): for the
# KV-cache calculator and back-of-the-envelope parameter counts; never instantiate these.
LLAMA2 = {
    "7B": LlamaConfig(vocab_size=32000, dim=4096, n_layers=32, n_heads=32, n_kv_heads=32,
                      ffn_hidden=11008, max_seq_len=4096, tie_embeddings=False),
    "13B": LlamaConfig(vocab_size=32000, dim=5120, n_layers=40, n_heads=40, n_kv_heads=40,
                       ffn_hidden=13824, max_seq_len=4096, tie_embeddings=False),
    "70B": LlamaConfig(vocab_size=32000, dim=8192, n_layers=80, n_heads=64, n_kv_heads=8,
                       ffn_hidden=28672, max_seq_len=4096, tie_embeddings=False),
}


# ---------------------------------------------------------------------------------------------
# RMSNorm
# ---------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last dimension (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., dim). Normalise in fp32 even for half-precision inputs, as transformers does.
        x32 = x.float()
        rms_inv = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)  # (..., 1)
        return self.weight * (x32 * rms_inv).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Rotary position embeddings
# ---------------------------------------------------------------------------------------------


def rope_cos_sin(head_dim: int, max_seq_len: int, theta: float = 10000.0):
    """Cosines and sines of the RoPE angles, both (max_seq_len, head_dim).

    Channel pair i (channels i and i + head_dim/2) turns at frequency ``theta ** (-2i/head_dim)``
    radians per position: the first pairs spin fast (fine positions), the last ones slowly
    (coarse positions). Each frequency is written twice, once for each half.
    """
    if head_dim % 2:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    positions = torch.arange(max_seq_len, dtype=torch.float)  # (max_seq_len,)
    angles = positions[:, None] * inv_freq[None, :]  # (max_seq_len, head_dim/2)
    angles = torch.cat((angles, angles), dim=-1)  # (max_seq_len, head_dim)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a 90 degree turn per pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every channel pair of ``x`` (batch, heads, seq, head_dim) by its angle.

    cos, sin: (batch, seq, head_dim), already looked up at each token's position.
    Per pair this is the 2-D rotation [[cos, -sin], [sin, cos]] applied to (x_i, x_{i+d/2}).
    """
    cos, sin = cos[:, None], sin[:, None]  # (batch, 1, seq, head_dim): the same for every head
    return x * cos + rotate_half(x) * sin


# ---------------------------------------------------------------------------------------------
# Attention with grouped-query heads
# ---------------------------------------------------------------------------------------------


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, kv_heads, seq, head_dim) -> (batch, kv_heads * n_rep, seq, head_dim).

    Key/value head j serves query heads j * n_rep ... (j + 1) * n_rep - 1.
    """
    if n_rep == 1:
        return x
    b, h, t, d = x.shape
    return x[:, :, None].expand(b, h, n_rep, t, d).reshape(b, h * n_rep, t, d)


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim)) with disallowed pairs removed: the explicit version.

    q: (batch, heads, seq, head_dim); k: (batch, heads, total, head_dim);
    mask: bool, broadcastable to (batch, heads, seq, total), True where a query may look.
    Returns (batch, heads, seq, total); each row sums to 1.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (batch, heads, seq, total)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype)


class Attention(nn.Module):
    """Causal self-attention with ``n_heads`` query heads and ``n_kv_heads`` key/value heads."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = config.n_heads, config.n_kv_heads
        self.head_dim = config.head_dim
        self.wq = nn.Linear(config.dim, config.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * self.head_dim, config.dim, bias=False)

    def forward(self, x, cos, sin, mask, cache: KVCache | None = None, layer: int = 0,
                return_attention: bool = False):
        """x: (batch, seq, dim) -> (batch, seq, dim), and the attention weights if asked for.

        mask: bool (batch or 1, 1, seq, total), total = tokens in the cache + seq.
        """
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        # q: (batch, heads, seq, head_dim); k, v: (batch, kv_heads, seq, head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (batch, kv_heads, total, head_dim)
        if return_attention:  # the explicit computation, keeping the weights to look at
            n_rep = self.n_heads // self.n_kv_heads
            k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (batch, heads, total, head_dim)
            weights = attention_weights(q, k, mask)  # (batch, heads, seq, total)
            out = weights @ v
        else:  # the same result from PyTorch's fused kernel; enable_gqa shares each key/value
            # head with its n_rep query heads in place, without the copies repeat_kv makes
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        out = out.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)  # (batch, seq, dim)
        return self.wo(out), weights


# ---------------------------------------------------------------------------------------------
# Feed-forward (SwiGLU) and the pre-norm block
# ---------------------------------------------------------------------------------------------


class FeedForward(nn.Module):
    """SwiGLU (Shazeer 2020): ``w2(silu(w1 x) * w3 x)``; w1 is the gate, w3 the value."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.w1 = nn.Linear(config.dim, config.ffn_hidden, bias=False)
        self.w3 = nn.Linear(config.dim, config.ffn_hidden, bias=False)
        self.w2 = nn.Linear(config.ffn_hidden, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, seq, dim) -> (batch, seq, ffn_hidden) -> (batch, seq, dim)
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm decoder block: normalise, transform, add back to the residual stream."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(self, x, cos, sin, mask, cache=None, layer=0, return_attention=False):
        # x: (batch, seq, dim)
        h, weights = self.attention(self.attention_norm(x), cos, sin, mask, cache, layer,
                                    return_attention)
        x = x + h
        x = x + self.feed_forward(self.ffn_norm(x))
        return x, weights


# ---------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated.

    ``k[layer]`` and ``v[layer]`` are (batch, n_kv_heads, max_len, head_dim); the first
    ``length`` slots along the sequence axis are filled. Keys are stored after RoPE, so a cached
    key never needs to be rotated again.
    """

    def __init__(self, config: LlamaConfig, batch_size: int = 1, max_len: int | None = None,
                 dtype: torch.dtype = torch.float32, device=None):
        max_len = config.max_seq_len if max_len is None else max_len
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(max_len, int) or not 1 <= max_len <= config.max_seq_len:
            raise ValueError(f"max_len must be an int in [1, {config.max_seq_len}] "
                             f"(config.max_seq_len), got {max_len!r}")
        shape = (batch_size, config.n_kv_heads, max_len, config.head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layers)]
        self.batch_size, self.max_len = batch_size, max_len
        self.length = 0  # tokens stored so far

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write this step's k, v (batch, kv_heads, seq, head_dim) after the stored ones; return
        all keys and values so far, (batch, kv_heads, length + seq, head_dim).

        ``length`` itself moves on only in ``advance``, once every layer has written its step.
        """
        start, end = self.length, self.length + k.shape[2]
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def crop(self, length: int) -> None:
        """Keep only the first ``length`` tokens: speculative decoding rolls the cache back to
        the accepted prefix after the target rejects a draft token. Nothing is erased or
        copied: attention reads only the first ``length`` slots, and the next ``update`` writes
        over the rest."""
        if isinstance(length, bool) or not isinstance(length, int) or \
                not 0 <= length <= self.length:
            raise ValueError(f"crop length must be an int in [0, {self.length}] (the tokens "
                             f"cached), got {length!r}")
        self.length = length

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the rows ``rows`` (new_batch,) of every layer, in that order.

        ``[0, 0, 1, 1]`` gives each row two copies (one prompt, two beams); beam search calls
        this after every step with, for each new beam, the row of the hypothesis it extends.
        """
        self.k = [k.index_select(0, rows) for k in self.k]
        self.v = [v.index_select(0, rows) for v in self.v]
        self.batch_size = len(rows)

    @property
    def nbytes(self) -> int:
        """Memory held by the preallocated tensors."""
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    def __repr__(self):
        b, h, t, d = self.k[0].shape
        return (f"KVCache(layers={len(self.k)}, batch={b}, kv_heads={h}, max_len={t}, "
                f"head_dim={d}, length={self.length})")


# ---------------------------------------------------------------------------------------------
# Positions and masks
# ---------------------------------------------------------------------------------------------


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions of a left-padded batch: (batch, total) 0/1 -> (batch, total) int.

    Each row's first real token gets position 0; padding slots get 1 (any value would do,
    they are never attended to), which is what ``transformers`` does in ``generate``.
    """
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


def causal_mask(seq: int, past: int, key_padding: torch.Tensor | None = None) -> torch.Tensor:
    """Which keys each query may attend to: bool (batch or 1, 1, seq, past + seq).

    Query i sits in slot past + i and sees every slot up to and including its own. With
    ``key_padding`` (batch, past + seq), True for real tokens, padding slots are hidden too;
    a padding query then still sees itself, so that its row of the softmax is not empty (its
    output is never used, but the softmax of an all-masked row is 0/0 = NaN, and NaN spreads).
    """
    device = None if key_padding is None else key_padding.device
    q_slot = torch.arange(past, past + seq, device=device)[:, None]  # (seq, 1)
    k_slot = torch.arange(past + seq, device=device)[None, :]  # (1, total)
    allowed = k_slot <= q_slot  # (seq, total)
    if key_padding is None:
        return allowed[None, None]
    allowed = (allowed & key_padding[:, None, :].bool()) | (k_slot == q_slot)  # (batch, seq, total)
    return allowed[:, None]


def tree_attention_mask(tree_mask: torch.Tensor, past: int) -> torch.Tensor:
    """bool (1, 1, seq, past + seq): every new token sees all ``past`` cached slots, and among
    the new ones those ``tree_mask`` (seq, seq) allows: for a tree of candidates, its
    ancestors and itself, not the other branches."""
    seen = torch.ones(tree_mask.shape[0], past, dtype=torch.bool, device=tree_mask.device)
    return torch.cat((seen, tree_mask), dim=1)[None, None]


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class Llama(nn.Module):
    """Token ids (batch, seq) -> next-token logits (batch, seq, vocab_size)."""

    def __init__(self, config: LlamaConfig, seed: int | None = None):
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        cos, sin = rope_cos_sin(config.head_dim, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)  # (max_seq_len, head_dim)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters(seed)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight  # one (vocab, dim) matrix, two uses

    def reset_parameters(self, seed: int | None = None) -> None:
        """Weights ~ N(0, 0.02) (as transformers initialises Llama), norm gains 1."""
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("norm.weight"):
                    p.fill_(1.0)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)

    def new_cache(self, batch_size: int = 1, max_len: int | None = None) -> KVCache:
        """An empty KV cache with this model's sizes, dtype and device."""
        w = self.tok_embeddings.weight
        return KVCache(self.config, batch_size, max_len, dtype=w.dtype, device=w.device)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: KVCache | None = None, return_attention: bool = False,
                tree_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None):
        """Logits for every position, (batch, seq, vocab_size).

        input_ids: (batch, seq) token ids; with a ``cache``, only the tokens not yet in it.
        attention_mask: (batch, cache.length + seq) of 0/1 for left-padded batches (1 marks real
            tokens): covers the cached tokens too, as in transformers. Positions are counted
            from each row's first real token.
        cache: a ``KVCache`` (``new_cache()``); it receives this call's keys and values.
        return_attention: also return the attention weights of every layer, a list of
            (batch, heads, seq, cache.length + seq) tensors (computed explicitly, slower).
        tree_mask: bool (seq, seq), for a tree of candidate tokens (Medusa, chapter 7): which of
            this call's tokens each one attends to, instead of the causal "every earlier one";
            every token still attends to all the cached ones. Not with ``attention_mask``.
        position_ids: (seq,) or (batch, seq), each token's position, instead of counting on
            from the cache (tree tokens at the same depth share a position).
        """
        out = self.hidden_states(input_ids, attention_mask, cache, return_attention, tree_mask,
                                 position_ids)
        if return_attention:
            hidden, attentions = out
            return self.output(hidden), attentions
        return self.output(out)  # (batch, seq, vocab_size)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      cache: KVCache | None = None, return_attention: bool = False,
                      tree_mask: torch.Tensor | None = None,
                      position_ids: torch.Tensor | None = None):
        """What the output head reads: the last block's output after the final norm,
        (batch, seq, dim); ``forward``'s arguments. Medusa's extra heads read it too."""
        b, t = self._check_inputs(input_ids, cache)
        past = 0 if cache is None else cache.length
        total = past + t
        if attention_mask is None:
            positions = torch.arange(past, total, device=input_ids.device).expand(b, t)
            mask = causal_mask(t, past)  # (1, 1, seq, total)
        else:
            if tree_mask is not None:
                raise ValueError("tree_mask and attention_mask cannot be combined (a tree of "
                                 "candidates is decoded for one unpadded sequence)")
            attention_mask = self._check_mask(attention_mask, b, total)
            positions = position_ids_from_mask(attention_mask)[:, past:]  # (batch, seq)
            mask = causal_mask(t, past, attention_mask)  # (batch, 1, seq, total)
        if tree_mask is not None:
            mask = tree_attention_mask(self._check_tree_mask(tree_mask, t), past)
        if position_ids is not None:
            positions = self._check_positions(position_ids, b, t).to(input_ids.device)
        mask = mask.to(input_ids.device)
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # (batch, seq, head_dim)

        x = self.tok_embeddings(input_ids)  # (batch, seq, dim)
        attentions = []
        for i, block in enumerate(self.layers):
            x, weights = block(x, cos, sin, mask, cache, i, return_attention)
            attentions.append(weights)
        if cache is not None:
            cache.advance(t)
        hidden = self.norm(x)  # (batch, seq, dim)
        return (hidden, attentions) if return_attention else hidden

    def _check_inputs(self, input_ids, cache):
        if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (
                torch.int64, torch.int32):
            raise TypeError("input_ids must be a torch tensor of int64/int32 token ids, got "
                            f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}")
        if input_ids.ndim != 2 or input_ids.shape[1] == 0:
            raise ValueError("input_ids must be (batch, seq) with seq >= 1, got shape "
                             f"{tuple(input_ids.shape)} (use ids[None] for a single sequence)")
        b, t = input_ids.shape
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size}), got values "
                             f"from {input_ids.min().item()} to {input_ids.max().item()}")
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache (model.new_cache()), got "
                            f"{type(cache).__name__}")
        past = 0 if cache is None else cache.length
        if cache is not None:
            if cache.batch_size != b:
                raise ValueError(f"the cache was made for batch_size={cache.batch_size}, but "
                                 f"input_ids has batch {b}")
            if past + t > cache.max_len:
                raise ValueError(f"the cache holds {past} tokens and has room for "
                                 f"{cache.max_len}; {t} more do not fit")
        if past + t > self.config.max_seq_len:
            raise ValueError(f"sequence of {past + t} tokens ({past} cached + {t} new) is longer "
                             f"than max_seq_len={self.config.max_seq_len}")
        return b, t

    @staticmethod
    def _check_tree_mask(tree_mask, t):
        if not isinstance(tree_mask, torch.Tensor) or tree_mask.dtype != torch.bool:
            raise TypeError("tree_mask must be a bool torch tensor (seq, seq), got "
                            f"{getattr(tree_mask, 'dtype', type(tree_mask).__name__)}")
        if tuple(tree_mask.shape) != (t, t):
            raise ValueError(f"tree_mask must be (seq, seq) = {(t, t)}, got "
                             f"{tuple(tree_mask.shape)}")
        if not tree_mask.diagonal().all():
            raise ValueError("tree_mask must let every token attend to itself (its diagonal "
                             "must be True)")
        return tree_mask

    def _check_positions(self, position_ids, b, t):
        if not isinstance(position_ids, torch.Tensor) or position_ids.dtype not in (
                torch.int64, torch.int32):
            raise TypeError("position_ids must be an int64/int32 torch tensor, got "
                            f"{getattr(position_ids, 'dtype', type(position_ids).__name__)}")
        if position_ids.ndim == 1:
            position_ids = position_ids[None]
        if position_ids.ndim != 2 or position_ids.shape[1] != t or \
                position_ids.shape[0] not in (1, b):
            raise ValueError(f"position_ids must be (seq,) or (batch, seq) with seq={t}, got "
                             f"shape {tuple(position_ids.shape)}")
        if position_ids.numel() and (position_ids.min() < 0 or
                                     position_ids.max() >= self.config.max_seq_len):
            raise ValueError(f"position_ids must lie in [0, {self.config.max_seq_len}) "
                             "(max_seq_len)")
        return position_ids.long().expand(b, t)

    @staticmethod
    def _check_mask(attention_mask, b, total):
        if not isinstance(attention_mask, torch.Tensor):
            raise TypeError(f"attention_mask must be a torch tensor, got "
                            f"{type(attention_mask).__name__}")
        if tuple(attention_mask.shape) != (b, total):
            raise ValueError(f"attention_mask must be (batch, cached + new tokens) = {(b, total)}, "
                             f"got {tuple(attention_mask.shape)}")
        if ((attention_mask != 0) & (attention_mask != 1)).any():
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (real token)")
        return attention_mask.long()

    def num_parameters(self) -> int:
        """Parameters, counting a tied embedding/output matrix once."""
        return sum(p.numel() for p in self.parameters())

    # -----------------------------------------------------------------------------------------
    # Converting to and from transformers
    # -----------------------------------------------------------------------------------------

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Our weights under transformers' names (``model.layers.0.self_attn.q_proj.weight``)."""
        sd = self.state_dict()
        if self.config.tie_embeddings:
            sd.pop("output.weight")
        return {hf_name(k): v for k, v in sd.items()}

    @classmethod
    def from_hf(cls, hf_model) -> Llama:
        """A ``Llama`` holding the same weights as a ``transformers.LlamaForCausalLM``."""
        config = LlamaConfig.from_hf(hf_model.config)
        model = cls(config)
        hf_sd = hf_model.state_dict()
        if config.tie_embeddings:  # one matrix: transformers may or may not list it twice
            hf_sd.setdefault("lm_head.weight", hf_sd.get("model.embed_tokens.weight"))
        missing = [hf_name(k) for k in model.state_dict() if hf_name(k) not in hf_sd]
        if missing:
            raise KeyError(f"the transformers model lacks {missing}")
        model.load_state_dict({k: hf_sd[hf_name(k)] for k in model.state_dict()})
        dtype = next(hf_model.parameters()).dtype
        return model.to(dtype)

    def to_hf(self):
        """A ``transformers.LlamaForCausalLM`` with the same weights."""
        import transformers

        hf = transformers.LlamaForCausalLM(self.config.to_hf())
        missing, unexpected = hf.load_state_dict(self.hf_state_dict(), strict=False)
        allowed_missing = {"lm_head.weight"} if self.config.tie_embeddings else set()
        if unexpected or set(missing) - allowed_missing:
            raise KeyError(f"weights did not match: missing {missing}, unexpected {unexpected}")
        return hf.to(self.tok_embeddings.weight.dtype).eval()


# Our parameter names -> transformers' names, piece by piece.
HF_NAMES = {
    "tok_embeddings": "model.embed_tokens",
    "layers": "model.layers",
    "attention_norm": "input_layernorm",
    "attention": "self_attn",
    "wq": "q_proj", "wk": "k_proj", "wv": "v_proj", "wo": "o_proj",
    "ffn_norm": "post_attention_layernorm",
    "feed_forward": "mlp",
    "w1": "gate_proj", "w3": "up_proj", "w2": "down_proj",
    "norm": "model.norm",  # the final norm (the blocks' norms have their own names)
    "output": "lm_head",
}


def hf_name(name: str) -> str:
    """``layers.0.attention.wq.weight`` -> ``model.layers.0.self_attn.q_proj.weight``."""
    parts = name.split(".")
    return ".".join(HF_NAMES.get(p, p) for p in parts)
