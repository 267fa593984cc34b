"""Training Medusa-1 heads on a frozen zoo model (tinylm.zoo.medusa_heads)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tinylm import zoo
from tinylm.cli import main as cli_main
from tinylm.llama import Llama, LlamaConfig
from tinylm.medusa import MedusaHeads
from tinylm.tokenizer import VOCAB_SIZE
from tinylm.zoo import medusa_heads

TINY = LlamaConfig(vocab_size=VOCAB_SIZE, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                   ffn_hidden=64, max_seq_len=256, tie_embeddings=True)
QUICK = {"steps": 5, "batch_size": 4, "max_documents": 40, "validation_windows": 6,
         "threads": 1, "progress": False}


def tiny_model() -> Llama:
    return Llama(TINY, seed=3).eval()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """Five steps of heads on a tiny frozen model, into a temporary zoo; the model's weights
    from before."""
    out = tmp_path_factory.mktemp("zoo")
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    manifest = medusa_heads.train("medusa-base", out_dir=out, model=model, **QUICK)
    return out, model, before, manifest


# ---------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------


def test_head_k_targets_the_token_k_plus_two_ahead():
    window = torch.tensor([[10, 11, 12, 13, 14, 15]])  # seq = 5 inputs, 10 .. 14
    assert medusa_heads.head_targets(window, 0).tolist() == [[12, 13, 14, 15]]
    assert medusa_heads.head_targets(window, 2).tolist() == [[14, 15]]


def test_loss_is_zero_when_each_head_names_its_token_and_weighted_by_point_eight_per_head():
    vocab, seq, heads = 8, 5, 3
    window = torch.arange(seq + 1)[None]  # tokens 0 .. 5: the token at position j is j
    right = torch.zeros(heads, 1, seq, vocab)
    for k in range(heads):
        for i in range(seq):
            if i + k + 2 <= seq:
                right[k, 0, i, i + k + 2] = 100.0  # head k at position i: token i + k + 2
            else:
                right[k, 0, i, 0] = 100.0  # no target there: must not count
    total, per_head = medusa_heads.medusa_loss(right, window)
    assert per_head == pytest.approx([0.0] * heads, abs=1e-6) and float(total) < 1e-5

    # head 1 names head 0's token (one place too early): it pays 100 nats, weighted by 0.8
    early = right.clone()
    early[1] = 0.0
    for i in range(seq - 2):
        early[1, 0, i, i + 2] = 100.0
    total, per_head = medusa_heads.medusa_loss(early, window)
    assert per_head[1] == pytest.approx(100.0, rel=1e-4)
    assert float(total) == pytest.approx(0.8 * 100.0, rel=1e-4)

    # no idea at all: log(vocab) per head, weights 1, 0.8, 0.64
    total, per_head = medusa_heads.medusa_loss(torch.zeros(heads, 1, seq, vocab), window)
    assert per_head == pytest.approx([math.log(vocab)] * heads)
    assert float(total) == pytest.approx(math.log(vocab) * (1 + 0.8 + 0.64))


def test_loss_refuses_windows_that_do_not_fit_the_logits():
    with pytest.raises(ValueError, match="windows"):
        medusa_heads.medusa_loss(torch.zeros(2, 1, 5, 8), torch.zeros(1, 5, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# Heads that share the output head
# ---------------------------------------------------------------------------------------------


def test_shared_heads_hold_only_residual_blocks_and_project_with_the_models_output():
    model = tiny_model()
    heads = MedusaHeads.from_model(model, num_heads=3, seed=1, share_output_head=True)
    dim = TINY.dim
    assert sum(p.numel() for p in heads.parameters()) == 3 * (dim * dim + dim)
    hidden = torch.randn(2, 4, dim)
    for k, head in enumerate(heads.heads):
        block = head[0]
        expected = model.output(hidden + F.silu(block.linear.bias))  # W starts at zero
        torch.testing.assert_close(heads(hidden)[k], expected)
    bare = MedusaHeads(dim, VOCAB_SIZE, 3, share_output_head=True)
    with pytest.raises(RuntimeError, match="attach_output"):
        bare(hidden)
    with pytest.raises(ValueError, match="shape"):
        bare.attach_output(torch.nn.Linear(dim + 1, VOCAB_SIZE, bias=False))


# ---------------------------------------------------------------------------------------------
# A short run
# ---------------------------------------------------------------------------------------------


def test_training_leaves_the_backbone_unchanged(quick):
    _, model, before, _ = quick
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, weights in before.items():
        assert torch.equal(after[name], weights), name
    assert all(p.grad is None for p in model.parameters())


def test_a_short_run_is_reproducible_from_its_seed(quick, tmp_path):
    _, _, _, first = quick
    again = medusa_heads.train("medusa-base", out_dir=tmp_path, model=tiny_model(), **QUICK)
    assert again["history"] == first["history"] and len(first["history"]) == 5
    assert again["head_history"] == first["head_history"]
    assert again["sha256"] == first["sha256"]


def test_manifest_records_the_run(quick):
    out, _, _, m = quick
    for key in ("base", "heads", "parameters", "training", "data", "command", "steps",
                "history", "head_history", "lr_history", "eval_history", "validation",
                "sha256", "bytes", "dtype", "versions", "seconds_per_step"):
        assert key in m, key
    assert m["command"].startswith("tinylm zoo train medusa-base --threads 1 --steps 5 "
                                   "--batch-size 4")
    heads = m["heads"]["num_heads"]
    assert len(m["validation"]["head_top1"]) == len(m["validation"]["head_losses"]) == heads
    assert all(0 <= x <= 1 for x in m["validation"]["head_top1"])
    assert all(len(row) == heads for row in m["head_history"])
    assert m["parameters"] == heads * (TINY.dim**2 + TINY.dim)  # residual blocks only
    path = out / "medusa-base.safetensors"
    assert zoo.sha256(path) == m["sha256"] and path.stat().st_size == m["bytes"]
    assert m["dtype"] == "float16" and m["bytes"] < 2 * m["parameters"] + 4096  # 2 bytes each


def test_from_zoo_loads_what_training_wrote(quick):
    out, model, _, m = quick
    heads = MedusaHeads.from_zoo("base", directory=out, model=model)
    assert heads.share_output_head and heads.num_heads == m["heads"]["num_heads"]
    windows = zoo.windows(zoo.token_stream("validation", max_documents=20)[0], 128)
    windows = windows[:QUICK["validation_windows"]]
    scores = medusa_heads.evaluate_heads(model, heads, windows)
    assert [round(x, 4) for x in scores["head_top1"]] == m["validation"]["head_top1"]
    assert [round(x, 4) for x in scores["head_losses"]] == m["validation"]["head_losses"]


def test_from_zoo_rejects_a_file_that_does_not_match_its_manifest(quick, tmp_path):
    out, model, _, _ = quick
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"medusa-base{suffix}").write_bytes((out / f"medusa-base{suffix}").read_bytes())
    MedusaHeads.from_zoo("base", directory=tmp_path, model=model).save(
        tmp_path / "medusa-base.safetensors")  # float32 now: not the recorded file
    with pytest.raises(ValueError, match="sha256"):
        MedusaHeads.from_zoo("base", directory=tmp_path, model=model)


def test_cli_trains_heads_by_name(quick, monkeypatch, capsys):
    _, _, _, m = quick
    calls = []

    def fake_train(name, **kwargs):
        calls.append((name, kwargs))
        return m

    monkeypatch.setattr(medusa_heads, "train", fake_train)
    assert cli_main(["zoo", "train", "medusa-base", "--steps", "7", "--threads", "1"]) == 0
    assert calls[0][0] == "medusa-base" and calls[0][1]["steps"] == 7
    assert "held-out top-1" in capsys.readouterr().out
    assert "medusa-base" not in zoo.names()  # the models' table lists Llamas only


# ---------------------------------------------------------------------------------------------
# The committed heads
# ---------------------------------------------------------------------------------------------

COMMITTED = (zoo.zoo_dir() / "medusa-base.safetensors").exists()


@pytest.mark.skipif(not COMMITTED, reason="medusa-base is not trained")
def test_committed_heads_beat_untrained_ones_and_are_small():
    model, _ = zoo.load("base")
    m = zoo.read_manifest("medusa-base")
    assert m["bytes"] < 2_000_000 and m["base_sha256"] == zoo.read_manifest("base")["sha256"]
    trained = MedusaHeads.from_zoo("base", model=model)
    untrained = MedusaHeads.from_model(model, trained.num_heads, seed=0, share_output_head=True)
    # every 40th window: the split runs kind by kind (wiki first), this samples all of them
    windows = zoo.windows(zoo.token_stream("validation")[0], 128)[::40]
    good = medusa_heads.evaluate_heads(model, trained, windows)
    bad = medusa_heads.evaluate_heads(model, untrained, windows)
    for k in range(trained.num_heads):
        assert good["head_top1"][k] > bad["head_top1"][k] + 0.1, k
    assert good["head_top1"][0] > good["head_top1"][-1]  # farther ahead is harder
    assert m["history"][-1] < m["history"][0] / 2


# ---------------------------------------------------------------------------------------------
# Medusa-2: the backbone trained with the heads
# ---------------------------------------------------------------------------------------------


def test_medusa2_loss_is_the_models_loss_plus_the_weighted_heads_loss():
    model = tiny_model()
    heads = MedusaHeads.from_model(model, num_heads=2, seed=0)
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, VOCAB_SIZE, (2, 9), generator=gen)
    total, own, per_head = medusa_heads.medusa2_loss(model, heads, batch, heads_weight=0.3)
    logits = model(batch[:, :-1])  # (2, 8, vocab): the model's forward, not its hidden states
    by_hand_own = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), batch[:, 1:].reshape(-1))
    head_logits = heads(model.hidden_states(batch[:, :-1]))
    by_hand_heads = sum(0.8**k * F.cross_entropy(head_logits[k, :, :8 - k - 1].reshape(
        -1, VOCAB_SIZE), batch[:, k + 2:].reshape(-1)) for k in range(2))
    assert own == pytest.approx(by_hand_own.item(), rel=1e-5)
    assert total.item() == pytest.approx(by_hand_own.item() + 0.3 * by_hand_heads.item(),
                                         rel=1e-5)
    assert [round(x, 4) for x in per_head] == pytest.approx(
        [F.cross_entropy(head_logits[k, :, :8 - k - 1].reshape(-1, VOCAB_SIZE),
                         batch[:, k + 2:].reshape(-1)).item() for k in range(2)], rel=1e-3)
    alone, own_alone, _ = medusa_heads.medusa2_loss(model, heads, batch, heads_weight=1.0,
                                                    own_weight=0.0)
    assert own_alone == pytest.approx(own, rel=1e-6)  # still reported
    assert alone.item() == pytest.approx(by_hand_heads.item(), rel=1e-5)
    total.backward()  # both the backbone and the heads get gradients
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert all(p.grad is not None for p in heads.parameters())


@pytest.mark.parametrize("own_weight, heads_weight", [(1.0, 0.2), (0.0, 1.0)])
def test_medusa2_trains_backbone_and_heads_reproducibly(own_weight, heads_weight):
    def run():
        model = tiny_model()
        heads = MedusaHeads.from_model(model, num_heads=2, seed=0)
        before = [p.clone() for p in model.parameters()], [p.clone() for p in heads.parameters()]
        history = medusa_heads.train_medusa2(model, heads, steps=3, batch_size=2, seq_len=16,
                                             heads_weight=heads_weight,
                                             own_weight=own_weight, max_documents=40,
                                             progress=False)
        return model, heads, before, history

    model, heads, (model_before, heads_before), history = run()
    assert len(history["own_loss"]) == 3 and len(history["head_losses"]) == 3
    assert all(len(x) == 2 for x in history["head_losses"])
    assert any(not torch.equal(a, b) for a, b in zip(model_before, model.parameters(),
                                                      strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(heads_before, heads.parameters(),
                                                      strict=True))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    again = run()
    assert again[3] == history
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again[0].parameters(),
                                                 strict=True))
