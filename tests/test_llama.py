"""tinylm.llama against transformers' LlamaForCausalLM: same weights, same logits (fp32, 1e-4).

Every comparison builds a tiny transformers model from a random config, scales its weights up
(the default N(0, 0.02) makes logits so small that any two models agree to 1e-4), copies it with
``Llama.from_hf`` and compares: the full forward, cached decoding step by step (against our own
full forward and against transformers' cached decoding), left-padded batches and the attention
weights.
"""

import functools
import inspect
import itertools

import pytest
import torch
import transformers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import DynamicCache, LlamaForCausalLM
from transformers.models.llama import modeling_llama as hf_llama

from tinylm.llama import (
    HF_NAMES,
    LLAMA2,
    KVCache,
    Llama,
    LlamaConfig,
    RMSNorm,
    apply_rope,
    causal_mask,
    hf_name,
    position_ids_from_mask,
    rope_cos_sin,
)

ATOL = 1e-4
VOCAB, DIM, LAYERS, HEADS, FFN, MAX_LEN = 61, 32, 2, 4, 40, 32

# (n_kv_heads, tie, rope_theta, seed): MHA, GQA and MQA, tied and untied, two thetas, two seeds
GRID = [(kv, tie, theta, seed)
        for (kv, tie), theta, seed in itertools.product(
            [(4, False), (4, True), (2, False), (2, True), (1, False), (1, True)],
            [10000.0, 500000.0], [0, 1])]
GRID_IDS = [f"kv{kv}-{'tied' if tie else 'untied'}-theta{theta:g}-seed{seed}"
            for kv, tie, theta, seed in GRID]

# transformers 5 renames the forward argument past_key_values to cache
_CACHE_ARG = ("cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters
              else "past_key_values")


@functools.cache
def pair(n_kv_heads: int, tie: bool, rope_theta: float, seed: int, attn: str = "sdpa"):
    """A transformers model with large random weights and our copy of it."""
    torch.manual_seed(seed)
    hf_config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=DIM, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=n_kv_heads,
        max_position_embeddings=MAX_LEN, rope_theta=rope_theta, rms_norm_eps=1e-5,
        tie_word_embeddings=tie, attn_implementation=attn)
    hf = LlamaForCausalLM(hf_config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:  # about unit-variance activations: logits of order 1 to 10
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
    return hf, Llama.from_hf(hf).eval()


def random_ids(batch, seq, seed=0):
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def hf_forward(hf, ids, cache=None, **kwargs):
    kwargs = dict(kwargs, use_cache=cache is not None)
    if cache is not None:
        kwargs[_CACHE_ARG] = cache
    return hf(ids, **kwargs)


def assert_close(ours, theirs, what):
    diff = (ours - theirs).abs().max().item()
    assert diff <= ATOL, f"{what}: max abs difference {diff:.3g} > {ATOL} (scale " \
                         f"{theirs.abs().max().item():.3g})"


# ---------------------------------------------------------------------------------------------
# Configuration errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(dim=30, n_heads=4), "n_heads=4 must divide dim=30"),
    (dict(dim=32, n_heads=4, n_kv_heads=3), "n_kv_heads=3 must divide n_heads=4"),
    (dict(dim=12, n_heads=4), "must be even"),
    (dict(vocab_size=0), "vocab_size must be a positive int"),
    (dict(n_layers=2.0), "n_layers must be a positive int"),
    (dict(max_seq_len=True), "max_seq_len must be a positive int"),
    (dict(rope_theta=0.0), "rope_theta must be > 0"),
    (dict(norm_eps=-1e-5), "norm_eps must be > 0"),
])
def test_impossible_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LlamaConfig(**kwargs)


def test_config_defaults_and_aliases():
    c = LlamaConfig(dim=48, n_heads=6, ffn_hidden=100)
    assert c.n_kv_heads == 6 and c.head_dim == 8
    assert (c.hidden_size, c.intermediate_size) == (48, 100)
    assert LlamaConfig(**c.to_dict()) == c


def test_config_round_trip_through_transformers():
    c = LlamaConfig(vocab_size=50, dim=32, n_layers=3, n_heads=8, n_kv_heads=2, ffn_hidden=64,
                    max_seq_len=128, rope_theta=5e5, norm_eps=1e-6, tie_embeddings=False)
    assert LlamaConfig.from_hf(c.to_hf()) == c


@pytest.mark.parametrize("kwargs, message", [
    (dict(attention_bias=True), "attention_bias"),
    (dict(mlp_bias=True), "mlp_bias"),
    (dict(hidden_act="gelu"), "silu"),
    (dict(head_dim=16), "head_dim"),
    (dict(rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0}),
     "rope_type"),
])
def test_from_hf_refuses_unsupported_features(kwargs, message):
    hf_config = transformers.LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=4, **kwargs)
    with pytest.raises(ValueError, match=message):
        LlamaConfig.from_hf(hf_config)


def test_input_errors():
    model = Llama(LlamaConfig(vocab_size=VOCAB, max_seq_len=8), seed=0)
    with pytest.raises(ValueError, match="longer than max_seq_len=8"):
        model(random_ids(1, 9))
    cache = model.new_cache()
    model(random_ids(1, 6), cache=cache)
    with pytest.raises(ValueError, match=r"8 tokens \(6 cached \+ 3 new\)|do not fit"):
        model(random_ids(1, 3), cache=cache)
    assert cache.length == 6  # a refused call leaves the cache alone
    with pytest.raises(ValueError, match="batch_size=1"):
        model(random_ids(2, 1), cache=cache)
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        model(random_ids(1, 4)[0])
    with pytest.raises(TypeError, match="int64"):
        model(random_ids(1, 4).float())
    with pytest.raises(ValueError, match=r"must lie in \[0, 61\)"):
        model(torch.tensor([[0, VOCAB]]))
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, cached"):
        model(random_ids(1, 4), attention_mask=torch.ones(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="only 0"):
        model(random_ids(1, 2), attention_mask=torch.tensor([[2, 1]]))
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        model(random_ids(1, 2), cache=DynamicCache())
    with pytest.raises(TypeError, match="LlamaConfig"):
        Llama({"dim": 32})
    with pytest.raises(ValueError, match="max_len"):
        model.new_cache(max_len=9)


# ---------------------------------------------------------------------------------------------
# The pieces: RMSNorm and RoPE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-6, 1e-5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_matches_transformers(eps, dtype):
    gen = torch.Generator().manual_seed(0)
    ours, theirs = RMSNorm(24, eps), hf_llama.LlamaRMSNorm(24, eps)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(24, generator=gen))
        theirs.weight.copy_(ours.weight)
    x = (3 * torch.randn(2, 5, 24, generator=gen)).to(dtype)
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    assert torch.equal(ours(x), theirs(x))


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope_matches_transformers(theta):
    head_dim, seq = 16, 20
    hf_config = transformers.LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2,
                                         max_position_embeddings=seq, rope_theta=theta)
    rotary = hf_llama.LlamaRotaryEmbedding(hf_config)
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(2, 2, seq, head_dim, generator=gen)  # (batch, heads, seq, head_dim)
    k = torch.randn(2, 2, seq, head_dim, generator=gen)
    position_ids = torch.stack([torch.arange(seq), torch.arange(seq).flip(0)])  # (batch, seq)
    hf_cos, hf_sin = rotary(q, position_ids)
    hf_q, hf_k = hf_llama.apply_rotary_pos_emb(q, k, hf_cos, hf_sin)

    cos, sin = rope_cos_sin(head_dim, seq, theta)  # (seq, head_dim)
    torch.testing.assert_close(cos[position_ids], hf_cos, atol=1e-6, rtol=0)
    torch.testing.assert_close(sin[position_ids], hf_sin, atol=1e-6, rtol=0)
    torch.testing.assert_close(apply_rope(q, cos[position_ids], sin[position_ids]), hf_q,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(apply_rope(k, cos[position_ids], sin[position_ids]), hf_k,
                               atol=1e-5, rtol=0)


def test_rope_scores_depend_on_relative_position_only():
    cos, sin = rope_cos_sin(8, 40)
    gen = torch.Generator().manual_seed(2)
    q, k = torch.randn(1, 1, 1, 8, generator=gen), torch.randn(1, 1, 1, 8, generator=gen)

    def score(m, n):
        qm = apply_rope(q, cos[m].view(1, 1, 8), sin[m].view(1, 1, 8))
        kn = apply_rope(k, cos[n].view(1, 1, 8), sin[n].view(1, 1, 8))
        return (qm * kn).sum().item()

    assert score(7, 3) == pytest.approx(score(30, 26), abs=1e-5)
    assert score(0, 0) == pytest.approx((q * k).sum().item(), abs=1e-6)


# ---------------------------------------------------------------------------------------------
# The whole model against transformers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_kv_heads, tie, rope_theta, seed", GRID, ids=GRID_IDS)
def test_logits_match_transformers(n_kv_heads, tie, rope_theta, seed):
    hf, model = pair(n_kv_heads, tie, rope_theta, seed)
    ids = random_ids(3, 17, seed)
    with torch.no_grad():
        theirs = hf(ids).logits
        ours = model(ids)
    assert ours.shape == (3, 17, VOCAB)
    assert theirs.abs().max() > 1  # the comparison is not trivially small numbers
    assert_close(ours, theirs, "full forward")


@pytest.mark.parametrize("n_kv_heads, tie, rope_theta, seed", GRID, ids=GRID_IDS)
def test_cached_decoding_matches_full_forward_and_transformers(n_kv_heads, tie, rope_theta,
                                                               seed):
    hf, model = pair(n_kv_heads, tie, rope_theta, seed)
    ids = random_ids(2, 14, seed + 10)
    prefill = 5
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(batch_size=2)
        ours = [model(ids[:, :prefill], cache=cache)]
        hf_cache = DynamicCache(config=hf.config)
        theirs = [hf_forward(hf, ids[:, :prefill], hf_cache).logits]
        for i in range(prefill, ids.shape[1]):
            ours.append(model(ids[:, i:i + 1], cache=cache))
            theirs.append(hf_forward(hf, ids[:, i:i + 1], hf_cache).logits)
            assert cache.length == i + 1
    ours, theirs = torch.cat(ours, dim=1), torch.cat(theirs, dim=1)
    assert_close(ours, full, "cached decoding vs our full forward")
    assert_close(ours, theirs, "cached decoding vs transformers' cached decoding")
    # the cache holds the same (rotated) keys and values as transformers'
    hf_k, hf_v = hf_cache.layers[0].keys, hf_cache.layers[0].values
    assert_close(cache.k[0][:, :, :cache.length], hf_k, "cached keys")
    assert_close(cache.v[0][:, :, :cache.length], hf_v, "cached values")


@st.composite
def hf_configs(draw):
    """Random small transformers configs: any head count, any divisor of it as kv heads."""
    n_heads = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
    head_dim = draw(st.sampled_from([2, 4, 8, 16]))
    n_kv_heads = draw(st.sampled_from([d for d in range(1, n_heads + 1) if n_heads % d == 0]))
    return transformers.LlamaConfig(
        vocab_size=draw(st.integers(2, 80)), hidden_size=n_heads * head_dim,
        intermediate_size=draw(st.integers(1, 64)), num_hidden_layers=draw(st.integers(1, 3)),
        num_attention_heads=n_heads, num_key_value_heads=n_kv_heads, max_position_embeddings=16,
        rope_theta=draw(st.sampled_from([100.0, 10000.0, 500000.0, 1e6])),
        rms_norm_eps=draw(st.sampled_from([1e-6, 1e-5])),
        tie_word_embeddings=draw(st.booleans()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hf_config=hf_configs(), seed=st.integers(0, 2**16), seq=st.integers(1, 16))
def test_random_configs_match_transformers(hf_config, seed, seq):
    torch.manual_seed(seed)
    hf = LlamaForCausalLM(hf_config).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.3)
    model = Llama.from_hf(hf).eval()
    ids = torch.randint(0, hf_config.vocab_size, (2, seq))
    with torch.no_grad():
        theirs = hf(ids).logits
        assert_close(model(ids), theirs, "full forward")
        cache = model.new_cache(2)
        steps = [model(ids[:, i:i + 1], cache=cache) for i in range(seq)]
    assert_close(torch.cat(steps, dim=1), theirs, "token-by-token decoding")


def test_prefill_in_several_chunks():
    _, model = pair(2, False, 10000.0, 0)
    ids = random_ids(2, 20, 3)
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache(2)
        chunks = [model(ids[:, a:b], cache=cache) for a, b in [(0, 7), (7, 8), (8, 15), (15, 20)]]
    assert_close(torch.cat(chunks, dim=1), full, "chunked prefill")


def test_cache_reorder_copies_and_permutes_rows():
    """After reorder(rows), row i of the cache continues sequence rows[i] (what beam search
    does when beams change places): decoding on equals decoding those sequences from scratch."""
    _, model = pair(2, False, 10000.0, 0)
    ids = random_ids(3, 9, 4)
    rows = torch.tensor([2, 0, 0, 1])
    with torch.no_grad():
        cache = model.new_cache(3)
        model(ids[:, :6], cache=cache)
        cache.reorder(rows)
        assert cache.batch_size == 4 and cache.length == 6
        steps = model(ids[rows, 6:], cache=cache)
        full = model(ids[rows])
    assert_close(steps, full[:, 6:], "decoding after reorder")


def test_cache_crop_rolls_back_to_a_prefix():
    """After crop(n), the cache continues the first n tokens as if the rest had never been
    fed (what speculative decoding does after a rejected draft): decoding a different
    continuation equals a full forward over prefix + that continuation."""
    _, model = pair(2, False, 10000.0, 0)
    ids, other = random_ids(1, 12, 5), random_ids(1, 4, 6)
    with torch.no_grad():
        cache = model.new_cache(1)
        model(ids, cache=cache)  # 12 tokens, 5 of them to be rejected
        cache.crop(7)
        assert cache.length == 7
        steps = model(other, cache=cache)
        full = model(torch.cat([ids[:, :7], other], dim=1))
    assert_close(steps, full[:, 7:], "decoding after crop")
    assert cache.length == 11
    cache.crop(11)  # cropping to the current length changes nothing
    for bad in (12, -1, 3.0, True):
        with pytest.raises(ValueError, match=r"crop length must be an int in \[0, 11\]"):
            cache.crop(bad)


def left_padded_batch(lengths, total, seed=0):
    """Rows of the given lengths, left-padded with token 0 to ``total``; their mask; the rows."""
    rows = [random_ids(1, n, seed + i)[0] for i, n in enumerate(lengths)]
    ids = torch.zeros(len(rows), total, dtype=torch.long)
    mask = torch.zeros(len(rows), total, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, total - len(r):] = r
        mask[i, total - len(r):] = 1
    return ids, mask, rows


@pytest.mark.parametrize("n_kv_heads, tie", [(4, False), (2, True), (1, False)])
def test_left_padded_batch_equals_unpadded_rows(n_kv_heads, tie):
    hf, model = pair(n_kv_heads, tie, 10000.0, 0)
    lengths, total = [9, 4, 12, 1], 12
    ids, mask, rows = left_padded_batch(lengths, total)
    with torch.no_grad():
        padded = model(ids, attention_mask=mask)
        theirs = hf(ids, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits
        assert torch.isfinite(padded).all()
        for i, r in enumerate(rows):
            alone = model(r[None])[0]  # (len, vocab)
            assert_close(padded[i, total - len(r):], alone, f"padded row {i}")
            assert_close(theirs[i, total - len(r):], alone, f"transformers' padded row {i}")


def test_left_padded_batch_with_attention_weights():
    """The explicit softmax path: padding queries must not produce NaN that spreads."""
    _, model = pair(2, False, 10000.0, 0)
    ids, mask, rows = left_padded_batch([2, 6], 6, seed=3)
    with torch.no_grad():
        fast = model(ids, attention_mask=mask)
        logits, attentions = model(ids, attention_mask=mask, return_attention=True)
    assert torch.isfinite(logits).all() and all(torch.isfinite(a).all() for a in attentions)
    assert_close(logits[0, 4:], fast[0, 4:], "explicit vs fused attention, short row")
    assert_close(logits[1], fast[1], "explicit vs fused attention, full row")
    assert (attentions[0][0, :, 4:, :4] == 0).all()  # real tokens never look at padding


def test_left_padded_cached_decoding():
    """Prefill a padded batch, then decode each row's own continuation one token at a time."""
    hf, model = pair(2, False, 500000.0, 1)
    lengths, total, steps = [3, 7, 5], 7, 4
    ids, mask, rows = left_padded_batch(lengths, total, seed=5)
    more = random_ids(len(rows), steps, seed=9)  # the tokens each row decodes next
    with torch.no_grad():
        cache = model.new_cache(len(rows))
        hf_cache = DynamicCache(config=hf.config)
        model(ids, attention_mask=mask, cache=cache)
        hf_forward(hf, ids, hf_cache, attention_mask=mask,
                   position_ids=position_ids_from_mask(mask))
        ours, theirs = [], []
        for s in range(steps):
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=torch.long)], dim=1)
            step = more[:, s:s + 1]
            ours.append(model(step, attention_mask=mask, cache=cache))
            theirs.append(hf_forward(hf, step, hf_cache, attention_mask=mask,
                                     position_ids=position_ids_from_mask(mask)[:, -1:]).logits)
        ours, theirs = torch.cat(ours, dim=1), torch.cat(theirs, dim=1)
        for i, r in enumerate(rows):
            alone = model(torch.cat([r, more[i]])[None])[0, len(r):]  # (steps, vocab)
            assert_close(ours[i], alone, f"row {i} decoded in a padded batch")
    assert_close(ours, theirs, "padded cached decoding vs transformers")


def test_attention_weights_match_transformers_eager():
    hf, model = pair(2, True, 10000.0, 0, attn="eager")
    ids = random_ids(2, 9, 4)
    with torch.no_grad():
        out = hf(ids, output_attentions=True)
        logits, attentions = model(ids, return_attention=True)
    assert_close(logits, out.logits, "logits of the explicit-attention path")
    assert len(attentions) == LAYERS
    for layer, (ours, theirs) in enumerate(zip(attentions, out.attentions, strict=True)):
        assert ours.shape == (2, HEADS, 9, 9)
        assert_close(ours, theirs, f"attention weights of layer {layer}")
        torch.testing.assert_close(ours.sum(-1), torch.ones(2, HEADS, 9))
        assert (ours.triu(diagonal=1) == 0).all()  # nothing attends to the future


def test_attention_weights_with_cache():
    _, model = pair(1, False, 10000.0, 0)
    ids = random_ids(1, 6, 2)
    with torch.no_grad():
        _, full = model(ids, return_attention=True)
        cache = model.new_cache()
        model(ids[:, :5], cache=cache)
        _, step = model(ids[:, 5:], cache=cache, return_attention=True)
    assert step[0].shape == (1, HEADS, 1, 6)
    assert_close(step[1][:, :, 0], full[1][:, :, 5], "last row of the attention weights")


def test_to_hf_round_trip():
    model = Llama(LlamaConfig(vocab_size=VOCAB, dim=DIM, n_layers=2, n_heads=4, n_kv_heads=2,
                              ffn_hidden=FFN, max_seq_len=MAX_LEN, tie_embeddings=False), seed=3)
    hf = model.to_hf()
    assert set(model.hf_state_dict()) == set(hf.state_dict())
    ids = random_ids(2, 10, 1)
    with torch.no_grad():
        assert_close(model(ids), hf(ids).logits, "to_hf")
        assert_close(Llama.from_hf(hf)(ids), hf(ids).logits, "from_hf(to_hf)")


@pytest.mark.parametrize("tie", [False, True])
def test_tied_output_head(tie):
    hf, model = pair(2, tie, 10000.0, 0)
    assert (model.output.weight is model.tok_embeddings.weight) == tie
    assert model.num_parameters() == hf.num_parameters()


def test_parameter_names_map_to_transformers():
    assert hf_name("layers.1.attention.wq.weight") == "model.layers.1.self_attn.q_proj.weight"
    assert hf_name("layers.0.feed_forward.w3.weight") == "model.layers.0.mlp.up_proj.weight"
    assert hf_name("norm.weight") == "model.norm.weight"
    assert hf_name("output.weight") == "lm_head.weight"
    assert "w1" in HF_NAMES and HF_NAMES["w1"] == "gate_proj"


def test_seeded_initialisation():
    config = LlamaConfig(vocab_size=VOCAB)
    a, b, c = Llama(config, seed=0), Llama(config, seed=0), Llama(config, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.tok_embeddings.weight, c.tok_embeddings.weight)


# ---------------------------------------------------------------------------------------------
# KV cache layout and memory
# ---------------------------------------------------------------------------------------------


def test_kv_cache_layout():
    config = LlamaConfig(vocab_size=VOCAB, dim=48, n_layers=3, n_heads=6, n_kv_heads=2,
                         max_seq_len=20)
    model = Llama(config, seed=0)
    cache = model.new_cache(batch_size=2)
    assert isinstance(cache, KVCache) and cache.length == 0
    assert len(cache.k) == len(cache.v) == 3
    assert cache.k[0].shape == (2, 2, 20, 8)  # (batch, kv_heads, max_seq_len, head_dim)
    assert cache.nbytes == config.kv_cache_bytes(batch_size=2, bytes_per_value=4)
    with torch.no_grad():
        model(random_ids(2, 5), cache=cache)
        assert cache.length == 5
        model(random_ids(2, 1), cache=cache)
    assert cache.length == 6
    assert cache.k[2][:, :, :6].abs().sum(-1).gt(0).all()  # filled slots
    assert (cache.k[2][:, :, 6:] == 0).all()  # the rest untouched
    assert "length=6" in repr(cache)
    short = model.new_cache(batch_size=1, max_len=4)
    assert short.k[0].shape == (1, 2, 4, 8)


def test_kv_cache_sizes_of_llama2():
    """Per token in fp16: 7B (MHA) keeps 512 KiB, 70B (GQA, 8 kv heads) only 320 KiB."""
    per_token = {k: c.kv_cache_bytes(seq_len=1) for k, c in LLAMA2.items()}
    assert per_token == {"7B": 512 * 1024, "13B": 800 * 1024, "70B": 320 * 1024}
    assert LLAMA2["70B"].kv_cache_bytes() == 4096 * 320 * 1024  # 1.25 GiB at 4K context


def test_masks_and_positions():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert position_ids_from_mask(mask).tolist() == [[1, 1, 0, 1], [0, 1, 2, 3]]
    m = causal_mask(2, 2, mask)  # queries in slots 2 and 3
    assert m.shape == (2, 1, 2, 4)
    assert m[0, 0].tolist() == [[False, False, True, False], [False, False, True, True]]
    assert causal_mask(3, 0).shape == (1, 1, 3, 3)
