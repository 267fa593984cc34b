"""The roofline of a decoding step: the fastest this machine could run it, and what limits it.

A step of cached decoding (one new token for each of ``batch`` sequences) does arithmetic and
moves bytes. The roofline model (Williams, Waterman and Patterson 2009) says its time is at least
whichever of the two takes longer on this machine:

    seconds >= max(flops / peak FLOP/s, bytes / bandwidth)

Their ratio ``intensity = flops / bytes`` (FLOPs per byte moved) decides which: below the
machine's *ridge point*, peak / bandwidth, a step waits on memory; above it, on arithmetic.

1. ``decode_step_cost(config, batch_size, context)`` -> ``StepCost``: the FLOPs and bytes of one
   step, from the config alone.
   - FLOPs: 2 per weight and row in every matrix product (the seven projections of each block
     and the output head), plus attention: q.k and weights.v, 2 x head_dim FLOPs each per query
     head and attended token. Norms, RoPE, softmax and SiLU, a few FLOPs per activation, are not
     counted (well under 1% here).
   - Bytes: every weight read once, whatever the batch (its rows share the read); the embedding
     rows looked up; the KV cache read, this step's keys and values included; and the
     activations each matrix product reads and writes.
   At batch 1 that is 2 FLOPs per 4-byte weight, an intensity near 0.5: far below any CPU's
   ridge point. Rows of a batch reuse each weight, so the intensity grows with the batch.
2. ``measure_matmul_gflops`` and ``measure_bandwidth``: the machine's two roofs, measured: a
   large matrix product (each number loaded is used n times: arithmetic-bound), and reading a
   tensor much larger than the caches once (memory-bound).
3. ``Roofline``: the two measured numbers, the ridge point, and the floor they put under a step.

    roof = Roofline.measure()                         # about a second
    cost = decode_step_cost(model.config, batch_size=1, context=128)
    roof.seconds(cost)                                # the floor under one step
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from tinylm.llama import LlamaConfig

GB = 1e9  # bandwidths and rates are in decimal units: GB/s, GFLOP/s


# ---------------------------------------------------------------------------------------------
# What a step costs, from the config
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepCost:
    """FLOPs and bytes moved by one decoding step (all rows of the batch together)."""

    flops: int
    weight_bytes: int  # every weight once, and the embedding rows looked up
    kv_bytes: int  # the KV cache read, this step's keys and values included
    activation_bytes: int  # what the matrix products read and write besides their weights

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes


def projection_shapes(config: LlamaConfig) -> list[tuple[int, int]]:
    """(in, out) of every matrix product of one step: per block wq, wk, wv, wo, w1, w3, w2,
    then the output head."""
    d, q, kv, f = config.dim, config.n_heads * config.head_dim, \
        config.n_kv_heads * config.head_dim, config.ffn_hidden
    block = [(d, q), (d, kv), (d, kv), (q, d), (d, f), (d, f), (f, d)]
    return block * config.n_layers + [(d, config.vocab_size)]


def decode_step_cost(config: LlamaConfig, batch_size: int = 1, context: int = 1,
                     bytes_per_value: int = 4) -> StepCost:
    """The cost of one cached step: ``batch_size`` new tokens, each attending to ``context``
    tokens (the cached ones and itself). ``bytes_per_value``: 4 for float32, 2 for 16 bits."""
    if batch_size < 1 or not 1 <= context <= config.max_seq_len:
        raise ValueError(f"need batch_size >= 1 and 1 <= context <= {config.max_seq_len}, got "
                         f"{batch_size} and {context}")
    b, v = batch_size, bytes_per_value
    shapes = projection_shapes(config)
    projection_weights = sum(i * o for i, o in shapes)
    attention_flops = 4 * config.n_heads * config.head_dim * context * config.n_layers
    norm_gains = (2 * config.n_layers + 1) * config.dim
    return StepCost(
        flops=b * (2 * projection_weights + attention_flops),
        weight_bytes=v * (projection_weights + norm_gains + b * config.dim),
        kv_bytes=config.kv_cache_bytes(b, context, bytes_per_value=v),
        activation_bytes=v * b * sum(i + o for i, o in shapes))


# ---------------------------------------------------------------------------------------------
# The machine's roofs, measured
# ---------------------------------------------------------------------------------------------


def _best_seconds(fn, repeats: int, device) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, after one untimed warm-up call."""
    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def measure_matmul_gflops(n: int = 1024, repeats: int = 5, dtype=torch.float32,
                          device="cpu") -> float:
    """GFLOP/s of an (n, n) @ (n, n) product (2 n^3 FLOPs), the best of ``repeats``: every
    number loaded is used n times, so memory keeps up and the arithmetic units set the pace.
    Uses torch's current number of threads."""
    a = torch.rand(n, n, dtype=dtype, device=device)
    b = torch.rand(n, n, dtype=dtype, device=device)
    return 2 * n ** 3 / _best_seconds(lambda: a @ b, repeats, device) / GB


def measure_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5, dtype=torch.float32,
                      device="cpu") -> float:
    """GB/s at which a tensor of ``nbytes`` is read: the time of its sum, the best of
    ``repeats``. Each number is read once for one addition, so the sum waits on memory. The
    default, 256 MiB, is far larger than a CPU's caches: main memory's bandwidth. At the size of
    a model's weights, read again and again, it is what a decoding step sees if they stay in
    the caches between steps. (A matrix-vector product over the same bytes, which a step runs,
    reaches less than this on some CPUs: the sum is the better probe of the hardware.)"""
    data = torch.ones(max(1, nbytes // (torch.finfo(dtype).bits // 8)), dtype=dtype,
                      device=device)  # ones: nothing to draw at random
    seconds = _best_seconds(lambda: data.sum(), repeats, device)
    return data.numel() * data.element_size() / seconds / GB


@dataclass(frozen=True)
class Roofline:
    """A machine's two measured roofs: ``gflops`` (GFLOP/s) and ``bandwidth`` (GB/s)."""

    gflops: float
    bandwidth: float

    @classmethod
    def measure(cls, nbytes: int = 256 * 2**20, n: int = 1024, repeats: int = 5,
                device="cpu") -> Roofline:
        """Both roofs of this machine, now (``measure_matmul_gflops``, ``measure_bandwidth``)."""
        return cls(measure_matmul_gflops(n, repeats, device=device),
                   measure_bandwidth(nbytes, repeats, device=device))

    @property
    def ridge(self) -> float:
        """The intensity (FLOPs per byte) above which arithmetic, not memory, is the limit."""
        return self.gflops / self.bandwidth

    def attainable_gflops(self, intensity: float) -> float:
        """The roof at this intensity: min(peak, bandwidth x intensity)."""
        return min(self.gflops, self.bandwidth * intensity)

    def seconds(self, cost: StepCost) -> float:
        """The floor under a step: max(its FLOPs at the peak, its bytes at the bandwidth)."""
        return max(cost.flops / (self.gflops * GB), cost.bytes / (self.bandwidth * GB))

    def bound(self, cost: StepCost) -> str:
        """"memory" or "compute": which roof sets the floor for this step."""
        return "memory" if cost.intensity < self.ridge else "compute"
