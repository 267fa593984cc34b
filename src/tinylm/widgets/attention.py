"""The attention viewer: where each head of each layer looks.

Give it the tokens of one sequence and the attention weights a model computed for them (one
(heads, T, T) array per layer, each row summing to one): it shows a thumbnail per head of the
chosen layer, the chosen head enlarged with the tokens along its sides, and the weight of the
(query, key) cell under the pointer. All of it is drawn in the browser (attention.js) from the
weights, which are embedded as one byte each (255 = 1.0) to keep the page small.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from tinylm.widgets._assets import css, esm


class AttentionViewer(anywidget.AnyWidget):
    """Every head of every layer: which earlier tokens each token attends to.

    tokens: the T tokens (as text); attentions: (layers, heads, T, T) weights, rows summing to
    one, e.g. the list ``Llama(..., return_attention=True)`` returns for one sequence. Weights
    are stored as bytes (255 = 1.0) to keep the page small: 6 layers x 8 heads x 40 x 40 tokens
    is about 100 kB.
    """

    _esm = esm("attention")
    _css = css("attention")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, tokens: Sequence[str], attentions):
        weights = np.stack([np.asarray(a, dtype=np.float64) for a in attentions]) \
            if isinstance(attentions, (list, tuple)) else np.asarray(attentions, np.float64)
        if weights.ndim == 5 and weights.shape[1] == 1:  # per-layer (1, heads, T, T): one sequence
            weights = weights[:, 0]
        T = len(tokens)
        if weights.ndim != 4 or weights.shape[2:] != (T, T):
            raise ValueError(f"attentions must have shape (layers, heads, {T}, {T}) for {T} "
                             f"tokens, got {weights.shape}")
        if not np.isfinite(weights).all() or weights.min() < 0 or weights.max() > 1 + 1e-6:
            raise ValueError("attention weights must be finite and in [0, 1]")
        quantised = np.round(np.clip(weights, 0, 1) * 255).astype(np.uint8)
        super().__init__(data={
            "tokens": [str(t) for t in tokens], "n_layers": int(weights.shape[0]),
            "n_heads": int(weights.shape[1]),
            "weights": base64.b64encode(quantised.tobytes()).decode("ascii")})
