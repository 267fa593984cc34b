"""The model zoo: the training command works, checkpoints are verified, committed ones reproduce."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from tinylm import zoo
from tinylm.cli import main as cli_main
from tinylm.llama import Llama
from tinylm.tokenizer import EOS_ID, VOCAB_SIZE

SMALLEST = zoo.names()[0]
TRAINED = [n for n in zoo.names() if all(p.exists() for p in zoo.paths(n))]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The smallest model retrained for 30 steps of 8 windows from 300 documents, on one
    thread, into a temporary zoo."""
    out = tmp_path_factory.mktemp("zoo")
    threads = torch.get_num_threads()
    manifest = zoo.train(SMALLEST, steps=30, out_dir=out, progress=False, max_documents=300,
                         validation_documents=20, threads=1, batch_size=8)
    assert torch.get_num_threads() == threads
    return out, manifest


def test_specs_share_the_tokenizer_and_the_draft_is_much_smaller():
    sizes = {n: zoo.SPECS[n].config.num_parameters() for n in zoo.SPECS}
    assert {"base", "draft"} <= set(sizes)
    assert sizes["draft"] * 5 < sizes["base"]
    assert 2_000_000 < sizes["base"] < 20_000_000
    for name, s in zoo.SPECS.items():
        assert s.config.vocab_size == VOCAB_SIZE
        assert s.config.num_parameters() == Llama(s.config).num_parameters(), name


def test_lr_schedule_warms_up_then_decays():
    s = zoo.SPECS[SMALLEST]
    lrs = [zoo.lr_at(i, s, 400) for i in range(400)]
    peak = lrs.index(max(lrs))
    assert lrs[0] < lrs[peak] == pytest.approx(s.lr)
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:], strict=False))
    assert lrs[-1] == pytest.approx(s.lr * s.min_lr_ratio, rel=0.05)


def test_packed_windows_overlap_by_one_token():
    stream, n_docs = zoo.token_stream("validation", max_documents=5)
    assert n_docs == 5 and int((stream == EOS_ID).sum()) == 5 and stream[-1] == EOS_ID
    w = zoo.windows(stream, 16)
    assert w.shape[1] == 17 and torch.equal(w[0, 16], w[1, 0])
    assert torch.equal(w.flatten()[:17], stream[:17])


def test_training_lowers_the_loss(quick):
    _, m = quick
    h = m["history"]
    assert len(h) == m["steps"] == 30
    first, last = sum(h[:5]) / 5, sum(h[-5:]) / 5
    assert first > math.log(VOCAB_SIZE) - 1.0  # starts near chance
    assert last < first - 0.5, (first, last)


def test_manifest_records_the_run(quick):
    out, m = quick
    for key in ("config", "data", "command", "steps", "train_loss", "validation_loss",
                "validation_perplexity", "sha256", "versions", "parameters", "check"):
        assert key in m, key
    assert m["command"].startswith(f"tinylm zoo train {SMALLEST} --threads 1 --steps 30 "
                                   "--batch-size 8")
    assert m["training"]["batch_size"] == 8
    assert m["validation_perplexity"] == pytest.approx(math.exp(m["validation_loss"]), rel=1e-3)
    assert m["data"]["train_documents"] == 300
    weights, _ = zoo.paths(SMALLEST, out)
    assert zoo.sha256(weights) == m["sha256"] and weights.stat().st_size == m["bytes"]
    assert zoo.read_manifest(SMALLEST, out) == m


def test_load_gives_finite_logits_and_rejects_a_tampered_file(quick, tmp_path):
    out, _ = quick
    model, tok = zoo.load(SMALLEST, out)
    assert not model.training
    ids = torch.tensor([tok.encode("Once upon a time").ids])
    assert torch.isfinite(model(ids)).all()
    assert isinstance(zoo.sample(model, tok, "Once upon a time", max_new_tokens=5), str)

    for suffix in (".safetensors", ".json"):
        shutil.copy(out / f"{SMALLEST}{suffix}", tmp_path / f"{SMALLEST}{suffix}")
    weights = tmp_path / f"{SMALLEST}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"tinylm zoo train {SMALLEST}"):
        zoo.load(SMALLEST, tmp_path)
    assert zoo.verify(tmp_path, [SMALLEST])[SMALLEST] != "ok"
    weights.unlink()
    with pytest.raises(FileNotFoundError, match=f"tinylm zoo train {SMALLEST}"):
        zoo.load(SMALLEST, tmp_path)


def test_cli_lists_and_verifies(quick, monkeypatch, capsys):
    out, _ = quick
    monkeypatch.setenv(zoo.ZOO_ENV, str(out))
    assert cli_main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    assert SMALLEST in listing and "untrained" in listing  # only the smallest is in this zoo
    assert cli_main(["zoo", "verify"]) == 1


@pytest.mark.parametrize("name", TRAINED)
def test_committed_checkpoints_reproduce_their_validation_loss(name):
    model, tok = zoo.load(name)
    m = zoo.read_manifest(name)
    assert model.num_parameters() == m["parameters"]
    stream, _ = zoo.token_stream("validation", corpus_seed=m["training"]["corpus_seed"])
    windows = zoo.windows(stream, m["training"]["seq_len"])[: m["check"]["validation_windows"]]
    assert zoo.evaluate(model, windows) == pytest.approx(m["check"]["loss"], abs=2e-3)
    assert m["validation_loss"] < math.log(VOCAB_SIZE) - 2  # far better than chance


def test_training_is_deterministic_from_the_seed(quick, tmp_path):
    _, m = quick
    again = zoo.train(SMALLEST, steps=30, out_dir=tmp_path, progress=False, max_documents=300,
                      validation_documents=20, threads=1, batch_size=8)
    assert again["history"] == m["history"]
    assert again["sha256"] == m["sha256"]


@pytest.mark.parametrize("steps", [None, 30, 60, 5])
def test_lr_at_equals_torch_schedulers_with_the_zoo_warmup_rule(steps):
    """``lr_at`` is LinearLR for the warm-up, then CosineAnnealingLR, joined by SequentialLR."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    for name, s in zoo.SPECS.items():
        total = s.steps if steps is None else steps
        warmup = min(s.warmup_steps, max(1, total // 10))
        assert zoo.warmup_for(s, total) == warmup
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=s.lr)
        scheduler = SequentialLR(optimizer, [
            LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup - 1),
            CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=s.lr * s.min_lr_ratio),
        ], milestones=[warmup])
        for step in range(total):
            assert zoo.lr_at(step, s, total) == pytest.approx(
                optimizer.param_groups[0]["lr"], rel=1e-12, abs=0), (name, step)
            optimizer.step()
            scheduler.step()


def test_manifest_records_the_learning_rate_and_a_falling_held_out_loss(quick):
    _, m = quick
    s = zoo.SPECS[SMALLEST]
    assert m["lr_history"] == pytest.approx([zoo.lr_at(i, s, 30) for i in range(30)], rel=1e-5)
    every = m["eval_every"]
    assert every == zoo.EVAL_EVERY
    steps = [step for step, _ in m["eval_history"]]
    assert steps == sorted({0, *range(every, 30, every), 30})
    losses = [loss for _, loss in m["eval_history"]]
    assert losses[0] > math.log(VOCAB_SIZE) - 0.5  # untrained: near chance
    assert all(later < losses[0] for later in losses[1:])
    assert losses[-1] < losses[0] - 1.0, losses
    assert losses[-1] == pytest.approx(m["check"]["loss"], abs=1e-2)  # fp32 vs stored fp16


def test_evaluating_during_training_does_not_change_it(quick, tmp_path):
    _, m = quick
    often = zoo.train(SMALLEST, steps=30, out_dir=tmp_path, progress=False, max_documents=300,
                      validation_documents=20, threads=1, batch_size=8, eval_every=1)
    assert often["history"] == m["history"]
    assert often["sha256"] == m["sha256"]
    assert [step for step, _ in often["eval_history"]] == list(range(31))
    assert often["command"].endswith("--eval-every 1")


def test_train_refuses_too_few_steps_and_a_bad_eval_interval(tmp_path):
    with pytest.raises(ValueError, match="steps must be >= 2"):
        zoo.train(SMALLEST, steps=1, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="eval_every must be >= 1"):
        zoo.train(SMALLEST, steps=10, out_dir=tmp_path, progress=False, eval_every=0)
    assert not list(tmp_path.iterdir())
