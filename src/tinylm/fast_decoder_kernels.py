"""One cached decoding step of a Llama as a single compiled call (Numba), for FastDecoder on CPU.

With PyTorch, a step is about 130 small operations after the fusions of ``tinylm.fast_decoder``,
and each costs a microsecond or two of dispatch before any arithmetic: at the course's sizes
that is a third of the step. Here the whole step, every layer, is one call into machine code:
what remains is the arithmetic and, above all, reading the weights, so the step runs close to
the memory floor of ``tinylm.roofline``.

The kernels follow the readable model line by line, on float32 arrays:

- ``project``: ``out = x @ w.T`` (or ``out += x @ w.T`` for a residual), ``w`` (out, in) as
  ``nn.Linear`` stores it. Four rows of a batch share each weight loaded; the sums may be
  reassociated (``fastmath``), so the compiler keeps partial sums in SIMD lanes.
- ``rms_normalize``: ``x / sqrt(mean(x**2) + eps)``; the gain is folded into the weights.
- ``rotate``: RoPE, channel pairs (i, i + head_dim/2) turned by the position's angle.
- ``attend``: one query head against its key/value head's cached slots, masked slots skipped,
  a softmax with the maximum subtracted first, as ``F.scaled_dot_product_attention`` does.
- ``decode_step``: one token per row through every layer, keys and values written into the
  cache at slot ``length``; returns the logits (rows, vocab).

The weights come stacked per layer (``FusedBlock``'s matrices in nn.Linear's (out, in) layout),
the cache as tuples of per-layer arrays (``KVCache.k``, ``KVCache.v`` viewed as numpy).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

REASSOCIATE = {"reassoc", "nsz"}  # sums in any order: partial sums in SIMD lanes


@njit(cache=True, fastmath=REASSOCIATE)
def project(x, w, out, accumulate):
    """out (rows, n_out) = x (rows, n_in) @ w.T, or += with ``accumulate``; w (n_out, n_in)."""
    rows, n_in = x.shape
    blocked = rows - rows % 4
    for j in range(w.shape[0]):
        for r in range(0, blocked, 4):  # four rows at a time: each w[j, i] loaded once for all
            a0 = a1 = a2 = a3 = np.float32(0.0)
            for i in range(n_in):
                wji = w[j, i]
                a0 += x[r, i] * wji
                a1 += x[r + 1, i] * wji
                a2 += x[r + 2, i] * wji
                a3 += x[r + 3, i] * wji
            if accumulate:
                out[r, j] += a0
                out[r + 1, j] += a1
                out[r + 2, j] += a2
                out[r + 3, j] += a3
            else:
                out[r, j] = a0
                out[r + 1, j] = a1
                out[r + 2, j] = a2
                out[r + 3, j] = a3
        for r in range(blocked, rows):
            acc = np.float32(0.0)
            for i in range(n_in):
                acc += x[r, i] * w[j, i]
            out[r, j] = out[r, j] + acc if accumulate else acc


@njit(cache=True, fastmath=REASSOCIATE)
def rms_normalize(x, eps, out):
    """out = x / sqrt(mean(x**2) + eps), row by row; x, out (rows, dim)."""
    rows, dim = x.shape
    for r in range(rows):
        mean_square = np.float32(0.0)
        for i in range(dim):
            mean_square += x[r, i] * x[r, i]
        scale = np.float32(1.0) / np.sqrt(mean_square / np.float32(dim) + np.float32(eps))
        for i in range(dim):
            out[r, i] = x[r, i] * scale


@njit(cache=True)
def rotate(x, cos, sin):
    """RoPE on one head in place: x (head_dim,), cos and sin (head_dim,) at its position.
    x * cos + rotate_half(x) * sin, with rotate_half(x) = (-x2, x1)."""
    half = x.shape[0] // 2
    for i in range(half):
        a, b = x[i], x[half + i]
        x[i] = a * cos[i] + -b * sin[i]
        x[half + i] = b * cos[half + i] + a * sin[half + i]


@njit(cache=True, fastmath=REASSOCIATE)
def attend(q, k, v, valid, total, scores, out):
    """softmax(q . k_s / sqrt(head_dim)) over the slots s < total that are ``valid``, times v.

    q (head_dim,); k, v (slots, head_dim), one key/value head of one row; valid (slots,) bool
    or empty (every slot valid); scores (slots,) scratch; out (head_dim,) receives the result.
    """
    head_dim = q.shape[0]
    scale = np.float32(1.0 / math.sqrt(head_dim))
    top = -np.inf
    for s in range(total):
        if valid.shape[0] and not valid[s]:
            continue
        dot = np.float32(0.0)
        for i in range(head_dim):
            dot += q[i] * k[s, i]
        scores[s] = dot * scale
        top = max(top, scores[s])
    norm = np.float32(0.0)
    for s in range(total):
        if valid.shape[0] and not valid[s]:
            scores[s] = 0.0
            continue
        scores[s] = np.exp(scores[s] - top)
        norm += scores[s]
    out[:] = 0.0
    for s in range(total):
        weight = scores[s] / norm
        for i in range(head_dim):
            out[i] += weight * v[s, i]


@njit(cache=True)
def decode_step(ids, positions, valid, length, embedding, wqkv, wo, w13, w2, output, cos, sin,
                k_cache, v_cache, n_heads, n_kv_heads, eps):
    """One new token per row through the whole model; returns logits (rows, vocab).

    ids (rows,) int64; positions (rows,) each token's RoPE position; valid (rows, length + 1)
    bool, False for padding slots, or empty (0, 0) when nothing is padded; length: tokens in
    the cache before this one. Weights: embedding (vocab, dim); wqkv (layers, (heads +
    2 kv_heads) head_dim, dim), wo (layers, dim, heads head_dim), w13 (layers, 2 ffn, dim),
    w2 (layers, dim, ffn), output (vocab, dim), RMSNorm gains folded in; cos, sin
    (max_seq_len, head_dim). k_cache, v_cache: per layer (rows, kv_heads, max_len, head_dim).
    """
    rows = ids.shape[0]
    n_layers, qkv_width, dim = wqkv.shape
    head_dim, ffn = cos.shape[1], w2.shape[2]
    n_rep, total = n_heads // n_kv_heads, length + 1
    k_start, v_start = n_heads * head_dim, (n_heads + n_kv_heads) * head_dim  # in qkv's columns
    x = np.empty((rows, dim), np.float32)  # the residual stream
    for r in range(rows):
        x[r] = embedding[ids[r]]
    h = np.empty((rows, dim), np.float32)
    qkv = np.empty((rows, qkv_width), np.float32)
    attention = np.empty((rows, n_heads * head_dim), np.float32)
    gate_up = np.empty((rows, 2 * ffn), np.float32)
    hidden = np.empty((rows, ffn), np.float32)
    scores = np.empty(total, np.float32)
    every_slot = np.empty(0, np.bool_)  # what attend takes as "no slot is padding"
    for layer in range(n_layers):
        keys, values = k_cache[layer], v_cache[layer]
        rms_normalize(x, eps, h)
        project(h, wqkv[layer], qkv, False)
        for r in range(rows):
            p = positions[r]
            for head in range(n_heads + n_kv_heads):  # the query heads, then the key heads
                rotate(qkv[r, head * head_dim:(head + 1) * head_dim], cos[p], sin[p])
            for g in range(n_kv_heads):
                keys[r, g, length] = qkv[r, k_start + g * head_dim:k_start + (g + 1) * head_dim]
                values[r, g, length] = qkv[r, v_start + g * head_dim:v_start + (g + 1) * head_dim]
            row_valid = every_slot if valid.shape[0] == 0 else valid[r]
            for head in range(n_heads):
                g = head // n_rep  # the key/value head this query head shares
                start, end = head * head_dim, (head + 1) * head_dim
                attend(qkv[r, start:end], keys[r, g], values[r, g], row_valid, total, scores,
                       attention[r, start:end])
        project(attention, wo[layer], x, True)  # x += attention @ wo.T
        rms_normalize(x, eps, h)
        project(h, w13[layer], gate_up, False)
        for r in range(rows):
            for i in range(ffn):  # SwiGLU: silu(gate) * up
                gate = gate_up[r, i]
                hidden[r, i] = gate / (np.float32(1.0) + np.exp(-gate)) * gate_up[r, ffn + i]
        project(hidden, w2[layer], x, True)  # x += hidden @ w2.T
    rms_normalize(x, eps, h)
    logits = np.empty((rows, output.shape[0]), np.float32)
    project(h, output, logits, False)
    return logits
