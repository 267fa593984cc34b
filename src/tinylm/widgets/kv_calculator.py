"""The KV-cache calculator: how much memory LLaMA 2's key/value cache takes.

A cache holds keys and values (2) for every layer, key/value head, position and head dimension::

    bytes = 2 x layers x kv_heads x head_dim x seq x batch x bytes_per_number

The widget sets that side by side for LLaMA 2 7B, 13B and 70B, with one key/value head per
query head (multi-head attention, MHA) and as published (70B shares each key/value head among 8
query heads: grouped-query attention, GQA). The state is just the three configurations; the
browser (kv_calculator.js) does the arithmetic as the sliders move.
"""

from __future__ import annotations

import anywidget
import traitlets

from tinylm.widgets._assets import css, esm


class KVCacheCalculator(anywidget.AnyWidget):
    """How much memory the KV cache of LLaMA 2 7B, 13B and 70B takes, with one key/value head
    per query head (multi-head attention, MHA) and as published (70B uses grouped-query
    attention with 8 key/value heads). Context length, batch size and precision are sliders.

    A cache holds keys and values (2) for every layer, key/value head, position and head
    dimension: ``2 x layers x kv_heads x head_dim x seq x batch x bytes``. The model sizes come
    from ``tinylm.llama.LLAMA2``, the published configurations. ``seq_len`` and ``batch_size``
    are where the sliders start: powers of two, as the sliders move in steps of a factor 2.
    """

    _esm = esm("kv_calculator")
    _css = css("kv_calculator")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, seq_len: int = 4096, batch_size: int = 1):
        from tinylm.llama import LLAMA2

        for name, value, low, high in [("seq_len", seq_len, 128, 32768),
                                       ("batch_size", batch_size, 1, 64)]:
            if value < low or value > high or value & (value - 1):
                raise ValueError(f"{name} must be a power of two in [{low}, {high}], got {value}")
        models = [{"name": f"LLaMA 2 {name}", "n_layers": c.n_layers, "n_heads": c.n_heads,
                   "n_kv_heads": c.n_kv_heads, "head_dim": c.head_dim,
                   "n_params": c.num_parameters()} for name, c in LLAMA2.items()]
        super().__init__(data={"models": models, "seq_len": seq_len, "batch_size": batch_size})
