"""tinylm.fast_decoder_kernels, piece by piece, against the torch functions they stand for.

Small shapes with odd sizes (a batch of 5 exercises the blocks of four rows and the row left
over), so that the suite also runs with ``NUMBA_DISABLE_JIT=1`` (``make kernels-nojit``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinylm.fast_decoder import FastDecoder
from tinylm.fast_decoder_kernels import attend, decode_step, project, rms_normalize, rotate
from tinylm.llama import Llama, LlamaConfig, apply_rope, rope_cos_sin

pytestmark = pytest.mark.usefixtures("one_thread")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("rows", [1, 3, 4, 5, 8])
def test_project_is_a_matrix_product(rows):
    x, w = rand(rows, 37, seed=1), rand(23, 37, seed=2)
    out = np.empty((rows, 23), np.float32)
    project(x, w, out, False)
    np.testing.assert_allclose(out, x @ w.T, rtol=1e-5, atol=1e-5)
    start = rand(rows, 23, seed=3)
    out = start.copy()
    project(x, w, out, True)  # accumulate: a residual connection
    np.testing.assert_allclose(out, start + x @ w.T, rtol=1e-5, atol=1e-5)


def test_rms_normalize_equals_torch_rms_norm():
    x = rand(5, 48, seed=4) * 3
    out = np.empty_like(x)
    rms_normalize(x, 1e-5, out)
    expected = F.rms_norm(torch.from_numpy(x), (48,), eps=1e-5).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_rotate_equals_apply_rope():
    head_dim, position = 16, 11
    cos, sin = rope_cos_sin(head_dim, 32)
    x = rand(head_dim, seed=5)
    expected = apply_rope(torch.from_numpy(x)[None, None, None], cos[position][None, None],
                          sin[position][None, None])[0, 0, 0].numpy()
    rotated = x.copy()
    rotate(rotated, cos[position].numpy(), sin[position].numpy())
    np.testing.assert_allclose(rotated, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("padded", [False, True])
def test_attend_equals_scaled_dot_product_attention(padded):
    slots, total, head_dim = 12, 9, 8
    q, k, v = rand(head_dim, seed=6), rand(slots, head_dim, seed=7), rand(slots, head_dim, seed=8)
    valid = np.ones(slots, np.bool_)
    if padded:
        valid[[0, 1, 4]] = False
    out = np.empty(head_dim, np.float32)
    attend(q, k, v, valid if padded else np.empty(0, np.bool_), total,
           np.empty(slots, np.float32), out)
    mask = torch.from_numpy(valid[:total])[None]
    expected = F.scaled_dot_product_attention(
        torch.from_numpy(q)[None, None], torch.from_numpy(k[:total])[None],
        torch.from_numpy(v[:total])[None], attn_mask=mask)[0, 0].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    if padded:  # a masked slot's value must not matter
        v2 = v.copy()
        v2[[0, 1, 4]] = 1e6
        attend(q, k, v2, valid, total, np.empty(slots, np.float32), out)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows", [1, 5])
def test_decode_step_equals_the_readable_models_step(rows):
    config = LlamaConfig(vocab_size=29, dim=16, n_layers=2, n_heads=4, n_kv_heads=2,
                         ffn_hidden=24, max_seq_len=16)
    model = Llama(config, seed=0).eval()
    with torch.no_grad():  # weights large enough that logits spread over several units
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.mul_(25)
    ids = torch.randint(0, 29, (rows, 6), generator=torch.Generator().manual_seed(9))
    decoder = FastDecoder(model, compiled=False)  # its fused weights, as numpy arrays
    w = {name: t.numpy() for name, t in decoder.weights._asdict().items()}
    with torch.no_grad():
        cache = model.new_cache(rows)
        model(ids[:, :5], cache=cache)
        keys, values = (tuple(t.clone().numpy() for t in ts) for ts in (cache.k, cache.v))
        expected = model(ids[:, 5:], cache=cache)[:, 0].numpy()
    assert np.abs(expected).max() > 3
    logits = decode_step(ids[:, 5].numpy(), np.full(rows, 5), np.zeros((0, 0), np.bool_), 5,
                         model.tok_embeddings.weight.detach().numpy(), w["wqkv"], w["wo"],
                         w["w13"], w["w2"], w["output"], model.rope_cos.numpy(),
                         model.rope_sin.numpy(), keys, values, 4, 2, 1e-5)
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5)
    for layer in range(2):  # the new keys and values went to slot 5, as the model wrote them
        np.testing.assert_allclose(keys[layer][:, :, :6], cache.k[layer][:, :, :6].numpy(),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(values[layer][:, :, :6], cache.v[layer][:, :, :6].numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert math.isfinite(float(logits.sum()))
