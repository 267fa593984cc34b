"""tinylm.fast_decoder against the readable model: the same logits, tokens and beams.

FastDecoder computes Llama's function from fused and folded weights, in torch or, for one-token
steps on the CPU, in one compiled Numba call. Both add their floats in another order, so logits
may differ in the last bits, never by more than 1e-5 (the readable model's own logits move by
about that much between batch sizes). Greedy tokens and beam-search results must be identical.
Checked on the zoo's trained models and on random configurations (MHA, GQA, MQA, tied and
untied, norm gains away from 1, weights large enough that logits spread over several units), at
several batch sizes, with and without left padding, both ways.
"""

from __future__ import annotations

import collections
import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tinylm import zoo
from tinylm.fast_decoder import FastDecoder, fast_decoder, why_not_fast
from tinylm.generation import GenerationConfig, generate
from tinylm.llama import Llama, LlamaConfig

pytestmark = pytest.mark.usefixtures("one_thread")

ATOL = 1e-5
ZOO_MODELS = [name for name in ("base", "draft", "deep") if zoo.paths(name)[0].exists()]

# (n_heads, n_kv_heads, tie, rope_theta): MHA, GQA and MQA, tied and untied, two RoPE bases
CONFIGS = [(4, 4, True, 10000.0), (4, 2, False, 10000.0), (8, 2, True, 500000.0),
           (4, 1, False, 10000.0), (2, 1, True, 10000.0)]


def random_model(n_heads, n_kv_heads, tie, rope_theta, seed=0) -> Llama:
    """A small Llama with weights ~ N(0, 1/fan_in) and norm gains ~ 1 +- 0.3: logits of a few
    units, as a trained model's, where N(0, 0.02) would make every logit nearly 0."""
    config = LlamaConfig(vocab_size=97, dim=16 * n_heads, n_layers=3, n_heads=n_heads,
                         n_kv_heads=n_kv_heads, ffn_hidden=72, max_seq_len=64,
                         rope_theta=rope_theta, tie_embeddings=tie)
    model = Llama(config, seed=seed).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
    return model


def left_padding(batch, prompt):
    """(batch, prompt) 0/1: row r starts with r padding slots (row 0 has none)."""
    mask = torch.ones(batch, prompt, dtype=torch.long)
    for r in range(batch):
        mask[r, :r] = 0
    return mask


@torch.no_grad()
def decode_both(model, batch, compiled, prompt_len=9, steps=12, padded=False, seed=0):
    """Prefill and greedy steps through the model and its FastDecoder, each with its own cache,
    both fed the model's tokens. Returns the largest logit difference over real positions, the
    model's tokens and the decoder's own argmax tokens."""
    decoder = FastDecoder(model, compiled=compiled)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt_len), generator=gen)
    mask = left_padding(batch, prompt_len) if padded else None
    ours, fast = model.new_cache(batch), decoder.new_cache(batch)
    a = model(ids, attention_mask=mask, cache=ours)
    b = decoder(ids, attention_mask=mask, cache=fast)
    real = torch.ones_like(ids, dtype=torch.bool) if mask is None else mask.bool()
    worst = (a - b).abs()[real].max().item()
    tokens, fast_tokens = [], []
    for _ in range(steps):
        nxt = a[:, -1:].argmax(-1)
        tokens.append(nxt)
        fast_tokens.append(b[:, -1:].argmax(-1))
        if mask is not None:
            mask = torch.cat([mask, torch.ones(batch, 1, dtype=torch.long)], dim=1)
        a = model(nxt, attention_mask=mask, cache=ours)
        b = decoder(nxt, attention_mask=mask, cache=fast)
        worst = max(worst, (a - b).abs().max().item())
    return worst, torch.cat(tokens, 1), torch.cat(fast_tokens, 1)


# ---------------------------------------------------------------------------------------------
# Logits
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("name", ZOO_MODELS)
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_zoo_model_logits_match_the_readable_model(name, batch, padded, compiled):
    model, _ = zoo.load(name)
    worst, tokens, fast_tokens = decode_both(model.eval(), batch, compiled, padded=padded)
    assert worst <= ATOL, f"{name}: logits differ by {worst:.2e}"
    assert torch.equal(tokens, fast_tokens)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("heads,kv_heads,tie,theta", CONFIGS)
@pytest.mark.parametrize("batch", [1, 3, 4, 6])
@pytest.mark.parametrize("padded", [False, True])
def test_random_config_logits_match_the_readable_model(heads, kv_heads, tie, theta, batch,
                                                        padded, compiled):
    model = random_model(heads, kv_heads, tie, theta)
    worst, tokens, fast_tokens = decode_both(model, batch, compiled, padded=padded)
    assert worst <= ATOL, f"logits differ by {worst:.2e}"
    assert torch.equal(tokens, fast_tokens)


def test_random_logits_are_not_trivially_small():
    """The comparisons above mean something only if logits spread over several units."""
    model = random_model(4, 2, False, 10000.0)
    with torch.no_grad():
        logits = model(torch.arange(20)[None] % model.config.vocab_size)
    assert logits.std() > 1.0


def test_full_forward_without_a_cache_matches():
    model = random_model(4, 2, True, 10000.0)
    ids = torch.randint(0, 97, (3, 17), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (model(ids) - FastDecoder(model)(ids)).abs().max() <= ATOL


def test_cache_holds_what_the_model_would_store():
    """FastDecoder writes the model's KVCache in the model's layout: after a prefill by the
    decoder, the model itself decodes on from that cache to the same logits."""
    model = random_model(8, 2, False, 10000.0)
    ids = torch.randint(0, 97, (2, 11), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        cache = model.new_cache(2)
        FastDecoder(model)(ids[:, :10], cache=cache)
        mixed = model(ids[:, 10:], cache=cache)
        alone = model(ids)[:, 10:]
    assert (mixed - alone).abs().max() <= ATOL


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
def test_reordered_cache_is_followed(compiled):
    """Beam search replaces the cache's tensors (KVCache.reorder): the decoder must read the new
    ones, not views of the old, at every reorder."""
    model = random_model(4, 2, False, 10000.0)
    decoder = FastDecoder(model, compiled=compiled)
    ids = torch.randint(0, 97, (3, 6), generator=torch.Generator().manual_seed(12))
    ours, fast = model.new_cache(3), decoder.new_cache(3)
    with torch.no_grad():
        a, b = model(ids, cache=ours), decoder(ids, cache=fast)
        for rows in ([2, 0, 1], [1, 1, 0], [0, 2, 2], [2, 1, 0]):
            order = torch.tensor(rows)
            ours.reorder(order)
            fast.reorder(order)
            nxt = a[order, -1:].argmax(-1)
            a, b = model(nxt, cache=ours), decoder(nxt, cache=fast)
            assert (a - b).abs().max() <= ATOL


# ---------------------------------------------------------------------------------------------
# generate(): identical tokens and beams with and without the fast path
# ---------------------------------------------------------------------------------------------

PROMPTS = ("There once was a little frog named Jack. He lived",
           '{"kind": "product", "id": 51182, "name": "Classic Kettle", "price":',
           "A book has 181 pages. Nora reads 5 pages every day for 3 days. How many pages are")


def padded_prompts(tokenizer, texts):
    rows = [tokenizer.encode(t).ids for t in texts]
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


@pytest.mark.parametrize("settings", [dict(num_beams=1), dict(num_beams=4, early_stopping=True),
                                      dict(num_beams=4, num_return_sequences=2)],
                         ids=["greedy", "beam4", "beam4-two-returned"])
@pytest.mark.parametrize("batch", [1, 3])
def test_generate_is_unchanged_by_the_fast_path_on_the_zoo_model(settings, batch):
    model, tokenizer = zoo.load("base")
    ids, mask = padded_prompts(tokenizer, PROMPTS[:batch])
    config = GenerationConfig(max_new_tokens=40, eos_token_id=zoo.EOS_ID, **settings)
    slow = generate(model, ids, config, attention_mask=mask, fast=False)
    fast = generate(model, ids, config, attention_mask=mask)
    assert torch.equal(slow.sequences, fast.sequences)
    if settings["num_beams"] > 1:
        assert (slow.sequences_scores - fast.sequences_scores).abs().max() <= 1e-5


@pytest.mark.parametrize("heads,kv_heads,tie,theta", CONFIGS[:3])
@pytest.mark.parametrize("num_beams", [1, 4])
def test_generate_is_unchanged_by_the_fast_path_on_random_models(heads, kv_heads, tie, theta,
                                                                 num_beams):
    model = random_model(heads, kv_heads, tie, theta, seed=5)
    ids = torch.randint(1, 97, (4, 6), generator=torch.Generator().manual_seed(6))
    config = GenerationConfig(max_new_tokens=24, num_beams=num_beams, eos_token_id=None)
    slow = generate(model, ids, config, fast=False)
    fast = generate(model, ids, config)
    assert torch.equal(slow.sequences, fast.sequences)


def test_generate_uses_the_fast_path():
    """generate() runs the FastDecoder for a plain float32 Llama: Llama.forward is never called
    (counted by wrapping it on the class), unless fast=False."""
    model = random_model(4, 2, True, 10000.0)
    calls = collections.Counter()
    original = Llama.forward

    def counting_forward(self, *args, **kwargs):
        calls["forward"] += 1
        return original(self, *args, **kwargs)

    ids = torch.randint(1, 97, (1, 5), generator=torch.Generator().manual_seed(7))
    Llama.forward = counting_forward
    try:
        generate(model, ids, max_new_tokens=5)
        assert calls["forward"] == 0
        generate(model, ids, max_new_tokens=5, fast=False)
        assert calls["forward"] == 5  # the prefill and four steps
    finally:
        Llama.forward = original


# ---------------------------------------------------------------------------------------------
# Fewer operations per step: what the speed comes from
# ---------------------------------------------------------------------------------------------


class CountOps(TorchDispatchMode):
    """Counts the ATen operations (views included) that reach the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("batch", [1, 4])
def test_a_step_runs_half_the_operations_and_a_third_of_the_matrix_products(batch):
    """In torch, a block's seven projections are four matrix products, and a step dispatches
    less than half the operations; compiled, the step's arithmetic dispatches none."""
    model = random_model(8, 2, True, 10000.0)
    ids = torch.randint(0, 97, (batch, 6), generator=torch.Generator().manual_seed(8))
    counts = {}
    with torch.no_grad():
        for name, runner in (("readable", model), ("fast", FastDecoder(model, compiled=False)),
                             ("compiled", FastDecoder(model, compiled=True))):
            cache = runner.new_cache(batch)
            runner(ids[:, :4], cache=cache)
            runner(ids[:, 4:5], cache=cache)  # the first step makes the cache's numpy views
            with CountOps() as counter:
                runner(ids[:, 5:], cache=cache)
            counts[name] = counter.ops
    layers = model.config.n_layers
    products = {name: c["aten.mm"] + c["aten.addmm"] for name, c in counts.items()}
    assert products["readable"] == 7 * layers + 1
    assert products["fast"] == 4 * layers + 1
    assert sum(counts["fast"].values()) < 0.5 * sum(counts["readable"].values())
    assert products["compiled"] == 0
    assert sum(counts["compiled"].values()) <= 6  # the ids' column as numpy, the logits' view


# ---------------------------------------------------------------------------------------------
# When the fast path stands in, and when it must not
# ---------------------------------------------------------------------------------------------


def test_fast_decoder_is_built_once_and_rebuilt_when_a_weight_changes():
    model = random_model(4, 2, True, 10000.0)
    first = fast_decoder(model)
    assert fast_decoder(model) is first
    with torch.no_grad():
        model.layers[1].attention.wq.weight.mul_(2.0)  # in place, as an optimizer step
    second = fast_decoder(model)
    assert second is not first
    ids = torch.randint(0, 97, (1, 8), generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert (second(ids) - model(ids)).abs().max() <= ATOL
        assert (first(ids) - model(ids)).abs().max() > 1e-2  # its fused copy is out of date


def test_fast_decoder_follows_load_state_dict():
    model, other = random_model(4, 2, True, 10000.0), random_model(4, 2, True, 10000.0, seed=3)
    fast_decoder(model)
    model.load_state_dict(other.state_dict())
    ids = torch.randint(0, 97, (1, 8), generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        assert (fast_decoder(model)(ids) - other(ids)).abs().max() <= ATOL


class Wrapped(torch.nn.Module):
    """A stand-in for an adapter (LoRA, say) that changes what a projection computes."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return 2 * self.linear(x)


class SubLlama(Llama):
    pass


def modified_models():
    hooked = random_model(4, 2, True, 10000.0)
    hooked.layers[0].register_forward_hook(lambda module, args, out: (0 * out[0], out[1]))
    adapted = random_model(4, 2, True, 10000.0)
    adapted.layers[0].attention.wq = Wrapped(adapted.layers[0].attention.wq)
    double = random_model(4, 2, True, 10000.0).to(torch.float64)
    sub = SubLlama(random_model(4, 2, True, 10000.0).config, seed=0)
    return {"forward hook": hooked, "adapter": adapted, "float64": double, "subclass": sub}


@pytest.mark.parametrize("kind", ["forward hook", "adapter", "float64", "subclass"])
def test_models_the_fast_path_cannot_stand_in_for(kind):
    model = modified_models()[kind]
    assert why_not_fast(model)
    assert fast_decoder(model) is None
    with pytest.raises(TypeError, match="cannot stand in"):
        FastDecoder(model)
    ids = torch.randint(1, 97, (1, 5), generator=torch.Generator().manual_seed(11))
    with torch.no_grad():  # generate() falls back on the model itself: its own greedy tokens
        expected = []
        cache, seq = model.new_cache(1), ids
        logits = model(ids, cache=cache)
        for _ in range(6):
            expected.append(logits[:, -1].argmax(-1, keepdim=True))
            logits = model(expected[-1], cache=cache)
    out = generate(model, ids, max_new_tokens=6)
    assert torch.equal(out.sequences, torch.cat([seq, *expected], 1))


def test_plain_llama_is_supported():
    assert why_not_fast(random_model(4, 2, True, 10000.0)) is None
    assert why_not_fast(copy.deepcopy(random_model(4, 1, False, 10000.0))) is None


def test_shape_errors_are_clear():
    model = random_model(4, 2, True, 10000.0)
    decoder = FastDecoder(model)
    cache = decoder.new_cache(batch_size=2, max_len=8)
    with pytest.raises(ValueError, match="cannot take"):
        decoder(torch.zeros(3, 1, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="cannot take"):
        decoder(torch.zeros(2, 9, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="attention_mask"):
        decoder(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.long),
                cache=cache)
    with pytest.raises(ValueError, match="batch, seq"):
        decoder(torch.zeros(5, dtype=torch.long))
