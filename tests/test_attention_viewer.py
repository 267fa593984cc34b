"""The attention viewer embeds the model's own attention weights, as bytes."""

import base64

import numpy as np
import pytest
import torch

from tinylm.llama import Llama, LlamaConfig
from tinylm.widgets import AttentionViewer


def test_viewer_holds_the_models_attention():
    config = LlamaConfig(vocab_size=50, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                         ffn_hidden=64, max_seq_len=32)
    model = Llama(config, seed=0).eval()
    ids = torch.tensor([[1, 5, 9, 12, 7, 3]])
    with torch.no_grad():
        _, attentions = model(ids, return_attention=True)
    tokens = [f"t{i}" for i in ids[0].tolist()]
    data = AttentionViewer(tokens, [a.numpy() for a in attentions]).data
    weights = np.frombuffer(base64.b64decode(data["weights"]), dtype=np.uint8)
    weights = weights.reshape(2, 4, 6, 6) / 255
    expected = torch.stack([a[0] for a in attentions]).numpy()
    assert np.abs(weights - expected).max() <= 0.5 / 255 + 1e-9
    assert np.allclose(np.triu(weights[0, 0], k=1), 0), "causal: nothing above the diagonal"
    assert (data["n_layers"], data["n_heads"], data["tokens"]) == (2, 4, tokens)


def test_viewer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        AttentionViewer(["a", "b"], np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        AttentionViewer(["a", "b"], np.full((1, 1, 2, 2), 2.0))
