"""tinylm.roofline: the cost of a decoding step, counted from the config, against independent
counts on the model itself; the floor arithmetic; and the two measurements.

- FLOPs: torch's own ``FlopCounterMode`` on a cached step of the readable model, with
  ``return_attention=True`` so that attention runs as explicit matrix products it can count.
- Weight, activation and KV-cache bytes: every matrix product of a step recorded below the
  autograd layer (``TorchDispatchMode``), the model's parameters, and the cache's own tensors.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from tinylm import zoo
from tinylm.llama import Llama, LlamaConfig
from tinylm.roofline import (
    Roofline,
    StepCost,
    decode_step_cost,
    measure_bandwidth,
    measure_matmul_gflops,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# (n_heads, n_kv_heads, tie): MHA, GQA and MQA, tied and untied
CONFIGS = [(4, 4, True), (4, 2, False), (8, 2, True), (4, 1, False)]


def small_model(n_heads, n_kv_heads, tie) -> Llama:
    config = LlamaConfig(vocab_size=101, dim=8 * n_heads, n_layers=3, n_heads=n_heads,
                         n_kv_heads=n_kv_heads, ffn_hidden=56, max_seq_len=64,
                         tie_embeddings=tie)
    return Llama(config, seed=0).eval()


def cached_step(model, batch, context, **kwargs):
    """A cache holding context - 1 tokens, and a function running the step that adds one more."""
    ids = torch.randint(0, model.config.vocab_size, (batch, context),
                        generator=torch.Generator().manual_seed(0))
    cache = model.new_cache(batch)
    if context > 1:
        with torch.no_grad():
            model(ids[:, :-1], cache=cache)

    def step():
        with torch.no_grad():
            return model(ids[:, -1:], cache=cache, **kwargs)

    return cache, step


class MatrixProducts(TorchDispatchMode):
    """Records (activation operand, weight operand, output) of every mm/addmm that runs."""

    def __init__(self):
        super().__init__()
        self.products = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        if packet is torch.ops.aten.mm:
            self.products.append((args[0], args[1], out))
        elif packet is torch.ops.aten.addmm:
            self.products.append((args[1], args[2], out))
        return out


@pytest.mark.parametrize("heads,kv_heads,tie", CONFIGS)
@pytest.mark.parametrize("batch,context", [(1, 1), (1, 20), (4, 33)])
def test_flops_equal_torch_flop_counter(heads, kv_heads, tie, batch, context):
    model = small_model(heads, kv_heads, tie)
    _, step = cached_step(model, batch, context, return_attention=True)
    with FlopCounterMode(display=False) as counter:
        step()
    assert decode_step_cost(model.config, batch, context).flops == counter.get_total_flops()


@pytest.mark.parametrize("heads,kv_heads,tie", CONFIGS)
@pytest.mark.parametrize("batch,context", [(1, 9), (4, 17)])
def test_bytes_equal_what_the_step_touches(heads, kv_heads, tie, batch, context):
    model = small_model(heads, kv_heads, tie)
    cache, step = cached_step(model, batch, context)
    with MatrixProducts() as recorder:
        step()
    cost = decode_step_cost(model.config, batch, context)
    size = 4  # float32
    # activations: what every matrix product reads besides its weight, and writes
    assert cost.activation_bytes == sum(a.numel() * size + out.numel() * size
                                        for a, _, out in recorder.products)
    # weights: every parameter the step reads once (an untied embedding table only for the rows
    # looked up), the looked-up rows counted too
    params = sum(p.numel() for p in model.parameters())
    table = model.config.vocab_size * model.config.dim
    read = params - (0 if model.config.tie_embeddings else table) + batch * model.config.dim
    assert cost.weight_bytes == read * size
    # the matrix products alone read every projection weight once
    projection_bytes = sum(w.numel() * size for _, w, _ in recorder.products)
    norms = sum(p.numel() for name, p in model.named_parameters() if "norm" in name)
    assert cost.weight_bytes == projection_bytes + (norms + batch * model.config.dim) * size
    # the KV cache: the filled part of every layer's keys and values after the step
    assert cost.kv_bytes == sum(t[:, :, :cache.length].numel() * size
                                for t in cache.k + cache.v)


def test_the_zoo_base_model_reads_its_whole_weight_file_per_step():
    model, _ = zoo.load("base")
    cost = decode_step_cost(model.config, 1, 128)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert weights <= cost.weight_bytes <= weights + 4 * model.config.dim
    assert 0.4 < cost.intensity < 0.6  # 2 FLOPs per 4-byte weight, a little less with the cache


def test_intensity_grows_with_the_batch_and_cost_with_the_context():
    config = small_model(4, 2, True).config
    assert decode_step_cost(config, 4, 10).intensity > 3 * decode_step_cost(config, 1, 10).intensity
    short, long = decode_step_cost(config, 1, 5), decode_step_cost(config, 1, 50)
    assert long.kv_bytes == 10 * short.kv_bytes
    assert long.weight_bytes == short.weight_bytes
    assert decode_step_cost(config, 1, 10, bytes_per_value=2).weight_bytes * 2 == \
        decode_step_cost(config, 1, 10).weight_bytes


def test_cost_rejects_impossible_steps():
    config = small_model(4, 2, True).config
    with pytest.raises(ValueError):
        decode_step_cost(config, 0, 5)
    with pytest.raises(ValueError):
        decode_step_cost(config, 1, config.max_seq_len + 1)


# ---------------------------------------------------------------------------------------------
# The floor, on made-up roofs where the answer is known by hand
# ---------------------------------------------------------------------------------------------


def test_floor_is_the_slower_of_arithmetic_and_memory():
    roof = Roofline(gflops=100.0, bandwidth=20.0)  # ridge at 5 FLOPs per byte
    assert roof.ridge == 5.0
    memory_bound = StepCost(flops=2_000_000, weight_bytes=4_000_000, kv_bytes=0,
                            activation_bytes=0)  # 0.5 FLOP per byte
    assert roof.seconds(memory_bound) == pytest.approx(4e6 / 20e9)  # 200 us of reading
    assert roof.bound(memory_bound) == "memory"
    compute_bound = StepCost(flops=8_000_000_000, weight_bytes=100_000_000, kv_bytes=0,
                             activation_bytes=0)  # 80 FLOPs per byte
    assert roof.seconds(compute_bound) == pytest.approx(8e9 / 100e9)  # 80 ms of arithmetic
    assert roof.bound(compute_bound) == "compute"
    assert roof.attainable_gflops(0.5) == pytest.approx(10.0)
    assert roof.attainable_gflops(80) == 100.0


# ---------------------------------------------------------------------------------------------
# The measurements: plausible numbers, and the difference between cached and uncached reads
# ---------------------------------------------------------------------------------------------


def test_measurements_are_plausible():
    gflops = measure_matmul_gflops(n=256, repeats=3)
    small = measure_bandwidth(nbytes=256 * 2**10, repeats=20)  # 256 KiB: stays in the cache
    large = measure_bandwidth(nbytes=128 * 2**20, repeats=3)  # 128 MiB: main memory
    for value in (gflops, small, large):
        assert math.isfinite(value) and value > 0.1
    assert gflops < 10_000 and large < 2_000  # no CPU core does 10 TFLOP/s or reads 2 TB/s
    assert small > large  # a cached matrix is read faster than one streamed from memory


def test_roofline_measure_returns_both_roofs():
    roof = Roofline.measure(nbytes=16 * 2**20, n=256, repeats=2)
    assert roof.gflops > 0 and roof.bandwidth > 0
    assert roof.ridge == pytest.approx(roof.gflops / roof.bandwidth)
