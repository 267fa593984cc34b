"""The KV-cache calculator embeds LLaMA 2's published sizes; check them against transformers."""

import pytest
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

from tinylm.llama import LLAMA2
from tinylm.widgets import KVCacheCalculator


@pytest.mark.parametrize("name", ["7B", "13B", "70B"])
def test_parameter_count_equals_transformers(name):
    config = LLAMA2[name]
    hf = HFLlamaConfig(vocab_size=config.vocab_size, hidden_size=config.dim,
                       intermediate_size=config.ffn_hidden, num_hidden_layers=config.n_layers,
                       num_attention_heads=config.n_heads, num_key_value_heads=config.n_kv_heads,
                       tie_word_embeddings=config.tie_embeddings)
    with torch.device("meta"):  # shapes only: no memory for 70 billion numbers
        model = LlamaForCausalLM(hf)
    assert config.num_parameters() == sum(p.numel() for p in model.parameters())


def test_published_sizes():
    # Touvron et al. (2023), LLaMA 2 paper, Table 1: 7B, 13B, 70B; 70B uses GQA
    billions = {name: c.num_parameters() / 1e9 for name, c in LLAMA2.items()}
    assert 6.5 < billions["7B"] < 7.0 and 12.8 < billions["13B"] < 13.3
    assert 68.5 < billions["70B"] < 70.0
    assert LLAMA2["70B"].n_kv_heads == 8 and LLAMA2["7B"].n_kv_heads == LLAMA2["7B"].n_heads


def test_embedded_numbers_give_the_config_cache_size():
    data = KVCacheCalculator(seq_len=4096, batch_size=1).data
    for m, config in zip(data["models"], LLAMA2.values(), strict=True):
        # the page's formula, per kv head: 2 x layers x head_dim x seq x batch x bytes
        page = 2 * m["n_layers"] * m["head_dim"] * 4096 * 1 * 2 * m["n_kv_heads"]
        assert page == config.kv_cache_bytes(batch_size=1, seq_len=4096, bytes_per_value=2)
    # 70B with GQA: 80 layers x 8 kv heads x 128 x 4096 tokens x 2 (k, v) x 2 bytes = 1.25 GiB
    assert data["models"][2]["n_kv_heads"] * 2 * 80 * 128 * 4096 * 2 == 1.25 * 2**30


def test_bad_arguments():
    with pytest.raises(ValueError, match="power of two"):
        KVCacheCalculator(seq_len=1000)
    with pytest.raises(ValueError, match="batch_size"):
        KVCacheCalculator(batch_size=128)


def test_config_count_equals_the_built_model():
    from tinylm.llama import Llama, LlamaConfig

    for tie in (True, False):
        config = LlamaConfig(vocab_size=64, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                             ffn_hidden=48, max_seq_len=16, tie_embeddings=tie)
        assert config.num_parameters() == Llama(config, seed=0).num_parameters()
