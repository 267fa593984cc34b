"""The course model zoo: small LLaMA models trained on the course corpus, loaded offline.

Every model has a spec in ``SPECS``: its ``LlamaConfig`` and how to train it (steps, batch size,
sequence length, learning-rate schedule, seed). ``train(name)`` (or ``tinylm zoo train NAME``)
runs that recipe from a fixed seed and writes two files next to ``tokenizer.json``:

- ``NAME.safetensors``: the weights (a tied embedding/output matrix is stored once);
- ``NAME.json``: the manifest: config, data, the command that made it, steps, final training
  loss, validation loss and perplexity, the sha256 of the weights, library versions.

``load(name)`` returns ``(model, tokenizer)`` in eval mode, with no network access, after checking
the weights' sha256 against the manifest. All models share the course tokenizer
(``tinylm.tokenizer``, 4,096 tokens), so ``draft`` can propose tokens that ``base`` verifies
(speculative decoding, chapter 6). Beside the models, ``tinylm zoo train medusa-base`` trains
Medusa heads on the frozen ``base`` (``tinylm.zoo.medusa_heads``; chapter 7).

The data: the training split of ``tinylm.synthetic.course_corpus`` (seed 0), each document
encoded as ``<s> tokens </s>``, shuffled with the model's seed, concatenated and cut into
windows of ``seq_len + 1`` tokens (input and next-token targets overlap by one). Documents run
across window boundaries, as in LLaMA's pre-training; ``</s>`` marks where one ends. The
validation loss is the mean next-token negative log-likelihood (nats per token) over the
validation split, packed the same way without shuffling; its exponential is the perplexity.

Training: AdamW (betas 0.9, 0.95, weight decay 0.1 on matrices only), linear warm-up then
cosine decay to a tenth of the peak learning rate, gradients clipped to norm 1. The pieces of
the loop (loss, batches, parameter groups, schedule, clipping, step, evaluation) live in
``tinylm.training``; ``_train`` puts them together. The optimizer is ``torch.optim.AdamW``,
which ``tinylm.training.AdamW`` equals.

    model, tok = load("base")
    ids = torch.tensor([tok.encode("Once upon a time").ids])
    logits = model(ids)                                    # (1, seq, 4096)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shlex
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from tinylm.llama import Llama, LlamaConfig
from tinylm.tokenizer import BOS_ID, EOS_ID, VOCAB_SIZE, load_tokenizer, zoo_path
from tinylm.training import (
    evaluate,
    param_groups,
    set_learning_rate,
    shuffled_batches,
    train_step,
    warmup_cosine,
)

ZOO_ENV = "TINYLM_ZOO"  # a directory to read and write checkpoints instead of the package's
STORE_DTYPE = torch.float16  # checkpoints are stored in half precision, loaded as float32
CHECK_SEQUENCES = 4  # validation windows whose loss the manifest records for a quick re-check
EVAL_EVERY = 25  # training records the loss on the CHECK_SEQUENCES windows every this many steps
ADAM_BETAS = (0.9, 0.95)  # AdamW's moving-average rates (LLaMA's), for every model of the zoo
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class ModelSpec:
    """A model of the zoo: its sizes and the recipe that trains it."""

    name: str
    description: str
    config: LlamaConfig
    steps: int
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    corpus_seed: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


SPECS: dict[str, ModelSpec] = {
    "draft": ModelSpec(
        name="draft",
        description="the smallest model: a fast drafter for speculative decoding (chapter 6)",
        config=LlamaConfig(vocab_size=VOCAB_SIZE, dim=96, n_layers=2, n_heads=4, n_kv_heads=2,
                           ffn_hidden=256, max_seq_len=256, tie_embeddings=True),
        steps=600, batch_size=32, seq_len=128, lr=3e-3, warmup_steps=40),
    "base": ModelSpec(
        name="base",
        description="the course's main model: target for speculative decoding, backbone for "
                    "Medusa heads and the RL chapters",
        config=LlamaConfig(vocab_size=VOCAB_SIZE, dim=256, n_layers=6, n_heads=8, n_kv_heads=4,
                           ffn_hidden=688, max_seq_len=256, tie_embeddings=True),
        steps=1400, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=40),
    "deep": ModelSpec(
        name="deep",
        description="base's width at twice its depth: a target that costs more per call, so "
                    "the draft is relatively cheaper (speculative decoding, chapter 6)",
        config=LlamaConfig(vocab_size=VOCAB_SIZE, dim=256, n_layers=12, n_heads=8, n_kv_heads=4,
                           ffn_hidden=688, max_seq_len=256, tie_embeddings=True),
        steps=800, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=40),
}


def names() -> list[str]:
    """Names of the zoo's models, smallest first."""
    return sorted(SPECS, key=lambda n: SPECS[n].config.num_parameters())


def spec(name: str) -> ModelSpec:
    if name not in SPECS:
        raise KeyError(f"no model {name!r} in the zoo; the models are {sorted(SPECS)}")
    return SPECS[name]


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def zoo_dir(directory: str | Path | None = None) -> Path:
    """Where checkpoints live: ``directory``, else ``$TINYLM_ZOO``, else the package's zoo."""
    if directory is not None:
        return Path(directory)
    if os.environ.get(ZOO_ENV):
        return Path(os.environ[ZOO_ENV])
    return zoo_path("tokenizer.json").parent


def paths(name: str, directory: str | Path | None = None) -> tuple[Path, Path]:
    """(weights, manifest) paths of model ``name``."""
    d = zoo_dir(directory)
    return d / f"{name}.safetensors", d / f"{name}.json"


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(name: str, directory: str | Path | None = None) -> dict:
    _, manifest_path = paths(name, directory)
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} is missing: run `tinylm zoo train {name}`")
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def load(name: str, directory: str | Path | None = None,
         manifest: dict | None = None) -> tuple[Llama, object]:
    """Model ``name`` (eval mode, fp32) and the course tokenizer, offline.

    Raises ``FileNotFoundError`` if the checkpoint is missing and ``ValueError`` if the weights'
    sha256 differs from the manifest's (a damaged or replaced file).
    """
    from safetensors.torch import load_file

    weights_path, manifest_path = paths(name, directory)
    manifest = read_manifest(name, directory) if manifest is None else manifest
    if not weights_path.exists():
        raise FileNotFoundError(f"{weights_path} is missing: run `tinylm zoo train {name}`")
    digest = sha256(weights_path)
    if digest != manifest["sha256"]:
        raise ValueError(f"{weights_path} has sha256 {digest}, but {manifest_path} records "
                         f"{manifest['sha256']}: the file is damaged or was replaced; "
                         f"run `tinylm zoo train {name}` to rebuild it")
    config = LlamaConfig(**manifest["config"])
    model = Llama(config)
    state = {k: v.float() for k, v in load_file(str(weights_path)).items()}
    if config.tie_embeddings:
        state["output.weight"] = state["tok_embeddings.weight"]
    model.load_state_dict(state)
    return model.eval(), load_tokenizer()


def verify(directory: str | Path | None = None, only: list[str] | None = None) -> dict[str, str]:
    """Check every model's weights against its manifest: {name: "ok" | what is wrong}."""
    out = {}
    for name in only or names():
        try:
            load(name, directory)
            out[name] = "ok"
        except (FileNotFoundError, ValueError) as e:
            out[name] = str(e)
    return out


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def token_stream(split: str, seed: int | None = None, corpus_seed: int = 0,
                 max_documents: int | None = None) -> tuple[torch.Tensor, int]:
    """The ``split`` of the course corpus as one long int64 tensor ``<s> doc </s> <s> doc </s>
    ...`` and the number of documents in it. ``seed`` shuffles the documents (None keeps
    their order); ``max_documents`` keeps only the first ones (after shuffling)."""
    import numpy as np

    from tinylm.synthetic import course_corpus

    docs = course_corpus(split, seed=corpus_seed)
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(docs))
        docs = [docs[i] for i in order]
    if max_documents is not None:
        docs = docs[:max_documents]
    tok = load_tokenizer()
    ids = []
    for enc in tok.encode_batch(docs):  # each starts with <s>
        ids.extend(enc.ids)
        ids.append(EOS_ID)
    return torch.tensor(ids, dtype=torch.long), len(docs)


def windows(stream: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Cut a token stream into (n, seq_len + 1) non-overlapping windows (the tail is dropped)."""
    n = (len(stream) - 1) // seq_len
    if n < 1:
        raise ValueError(f"{len(stream)} tokens do not fill one window of {seq_len + 1}")
    idx = torch.arange(n)[:, None] * seq_len + torch.arange(seq_len + 1)[None, :]
    return stream[idx]


def validation_by_kind(model: Llama, seq_len: int, corpus_seed: int = 0) -> dict[str, dict]:
    """Validation loss and perplexity per kind of text (wiki, lee, stories, json, arithmetic),
    each kind packed on its own: the synthetic kinds are far easier than real prose."""
    from tinylm.synthetic import course_documents

    tok = load_tokenizer()
    out = {}
    for kind, docs in course_documents("validation", seed=corpus_seed).items():
        ids = []
        for enc in tok.encode_batch(docs):
            ids.extend(enc.ids)
            ids.append(EOS_ID)
        data = windows(torch.tensor(ids, dtype=torch.long), seq_len)
        loss = evaluate(model, data)
        out[kind] = {"tokens": int(data[:, 1:].numel()), "loss": round(loss, 4),
                     "perplexity": round(math.exp(loss), 2)}
    return out


def warmup_for(spec_: ModelSpec, steps: int) -> int:
    """Warm-up steps of a run of ``steps``: the spec's, but at most a tenth of the run (and at
    least one), so a short run still spends most of its steps decaying."""
    return min(spec_.warmup_steps, max(1, steps // 10))


def lr_at(step: int, spec_: ModelSpec, steps: int) -> float:
    """Linear warm-up to ``spec.lr``, then cosine decay to ``spec.lr * min_lr_ratio``
    (``tinylm.training.warmup_cosine`` with the zoo's warm-up rule, ``warmup_for``)."""
    return warmup_cosine(step, steps, spec_.lr, warmup_for(spec_, steps), spec_.min_lr_ratio)


def _round_lr(lr: float) -> float:
    return float(f"{lr:.6g}")  # six significant digits: learning rates span decades


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _command(name: str, steps: int | None, out_dir, max_documents, threads, batch_size,
             eval_every=None) -> str:
    parts = ["tinylm", "zoo", "train", name]
    for flag, value in (("--threads", threads), ("--steps", steps), ("--batch-size", batch_size),
                        ("--out", out_dir), ("--max-documents", max_documents),
                        ("--eval-every", eval_every)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def run_record(started: float, weights_path: Path, **versions: str) -> dict:
    """The manifest's record of how a run went and what it wrote, the same for every trainer:
    wall time since ``started`` (``time.time()``), threads, stored dtype, the checkpoint's
    sha256 and size, and the versions of torch, safetensors, Python and ``versions``."""
    import safetensors

    return {"wall_seconds": round(time.time() - started, 1),
            "threads": torch.get_num_threads(),
            "dtype": str(STORE_DTYPE).removeprefix("torch."),
            "sha256": sha256(weights_path),
            "bytes": weights_path.stat().st_size,
            "versions": {"torch": torch.__version__, **versions,
                         "safetensors": safetensors.__version__,
                         "python": platform.python_version()}}


def prepare_run(sp, name: str, steps, out_dir, max_documents, threads, batch_size, eval_every):
    """What a training run of spec ``sp`` needs before it starts, the same for every trainer
    of the zoo: (spec with the batch size override, steps, eval_every, the command line that
    reproduces the run). Checks the numbers first."""
    if batch_size is not None:
        sp = replace(sp, batch_size=int(batch_size))
    steps_run = sp.steps if steps is None else int(steps)
    if steps_run < 2:
        raise ValueError(f"steps must be >= 2 (a warm-up step and at least one of decay), "
                         f"got {steps_run}")
    if eval_every is not None and int(eval_every) < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    command = _command(name, None if steps_run == sp.steps else steps_run, out_dir,
                       max_documents, threads, batch_size, eval_every)
    return sp, steps_run, EVAL_EVERY if eval_every is None else int(eval_every), command


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` torch CPU threads (None: as they are), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(name: str, steps: int | None = None, out_dir: str | Path | None = None,
          progress: bool = True, max_documents: int | None = None,
          validation_documents: int | None = None, threads: int | None = None,
          batch_size: int | None = None, eval_every: int | None = None) -> dict:
    """Train model ``name`` from its seed; write ``NAME.safetensors`` and ``NAME.json`` to
    ``out_dir`` (default: the zoo) and return the manifest.

    ``steps`` and ``batch_size`` override the spec's (the schedule stretches to fit);
    ``max_documents`` and ``validation_documents`` train and validate on the first documents
    only (for quick checks); ``threads`` sets torch's CPU threads (one thread is faster when
    other work shares the cores; results can differ in the last bits between thread counts).
    The weights are stored in float16 (half the size) and the validation loss is measured
    on the stored weights. The manifest also holds ``history``, the training loss of every
    step, ``lr_history``, its learning rate, and ``eval_history``, [step, loss] pairs: the
    loss on the first ``CHECK_SEQUENCES`` validation windows before training and after every
    ``eval_every`` steps (default ``EVAL_EVERY``) and the last one. Evaluating does not change
    the training: the weights come out bit for bit the same.
    """
    sp, steps, eval_every, command = prepare_run(spec(name), name, steps, out_dir,
                                                 max_documents, threads, batch_size, eval_every)
    with torch_threads(threads):
        return _train(sp, steps, out_dir, progress, max_documents, validation_documents,
                      command, eval_every)


def _train(sp: ModelSpec, steps: int, out_dir, progress: bool, max_documents,
           validation_documents, command: str, eval_every: int = EVAL_EVERY) -> dict:
    import transformers
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    name = sp.name
    started = time.time()

    stream, n_docs = token_stream("train", seed=sp.seed, corpus_seed=sp.corpus_seed,
                                  max_documents=max_documents)
    data = windows(stream, sp.seq_len)  # (n, seq_len + 1)
    val_stream, n_val_docs = token_stream("validation", corpus_seed=sp.corpus_seed,
                                          max_documents=validation_documents)
    val_data = windows(val_stream, sp.seq_len)
    check_data = val_data[:CHECK_SEQUENCES]  # cheap enough to evaluate during training

    torch.manual_seed(sp.seed)
    model = Llama(sp.config, seed=sp.seed).train()
    optimizer = torch.optim.AdamW(param_groups(model, sp.weight_decay), lr=sp.lr,
                                  betas=ADAM_BETAS, eps=ADAM_EPS)
    batches = shuffled_batches(data, sp.batch_size, seed=sp.seed)
    history, lr_history = [], []
    eval_history = [[0, round(evaluate(model, check_data), 4)]]
    bar = tqdm(range(steps), desc=f"train {name}", disable=not progress, unit="step")
    train_start = time.time()
    for step in bar:
        lr = lr_at(step, sp, steps)
        set_learning_rate(optimizer, lr)
        loss = train_step(model, optimizer, next(batches), max_grad_norm=sp.grad_clip)
        history.append(round(loss, 4))
        lr_history.append(_round_lr(lr))
        done = step + 1  # optimizer steps taken
        if done % eval_every == 0 or done == steps:
            eval_history.append([done, round(evaluate(model, check_data), 4)])
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}")
    train_seconds = time.time() - train_start
    tokens_seen = steps * sp.batch_size * sp.seq_len

    out = zoo_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights_path, manifest_path = paths(name, out)
    state = {k: v.detach().to(STORE_DTYPE).contiguous() for k, v in model.state_dict().items()}
    if sp.config.tie_embeddings:
        state.pop("output.weight")  # the same matrix as tok_embeddings.weight
    # one metadata key: safetensors writes several in arbitrary order, changing the sha256
    save_file(state, str(weights_path), metadata={"format": "pt"})
    model, _ = load(name, out, manifest={"config": sp.config.to_dict(),
                                         "sha256": sha256(weights_path)})
    val_loss = evaluate(model, val_data)
    check_loss = evaluate(model, check_data)
    by_kind = (validation_by_kind(model, sp.seq_len, sp.corpus_seed)
               if validation_documents is None else None)
    tail = history[-min(50, len(history)):]
    manifest = {
        "name": name,
        "description": sp.description,
        "config": sp.config.to_dict(),
        "parameters": model.num_parameters(),
        "training": {k: v for k, v in sp.to_dict().items()
                     if k not in ("name", "description", "config", "extra")} | {"steps": steps},
        "data": {
            "corpus": f"tinylm.synthetic.course_corpus(split='train', seed={sp.corpus_seed})",
            "tokenizer": "tinylm/zoo/tokenizer.json",
            "format": "<s> document </s>, documents shuffled with the model's seed, "
                      f"packed into windows of {sp.seq_len + 1} tokens",
            "train_documents": n_docs,
            "train_tokens": len(stream),
            "train_windows": len(data),
            "tokens_seen": tokens_seen,
            "epochs": round(tokens_seen / (len(data) * sp.seq_len), 3),
            "validation": f"tinylm.synthetic.course_corpus(split='validation', "
                          f"seed={sp.corpus_seed}), in order",
            "validation_documents": n_val_docs,
            "validation_tokens": int(val_data[:, 1:].numel()),
        },
        "command": command,
        "steps": steps,
        "train_loss": round(sum(tail) / len(tail), 4),
        "train_loss_last_steps": len(tail),
        "validation_loss": round(val_loss, 4),
        "validation_perplexity": round(math.exp(val_loss), 2),
        "validation_by_kind": by_kind,
        "check": {"validation_windows": CHECK_SEQUENCES, "loss": round(check_loss, 5)},
        "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(tokens_seen / train_seconds, 1),
        **run_record(started, weights_path, transformers=transformers.__version__),
        "history": history,
        "lr_history": lr_history,
        "eval_every": eval_every,
        "eval_history": eval_history,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


# ---------------------------------------------------------------------------------------------
# Sampling (a plain loop; chapter 4 builds the real generate())
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def sample(model: Llama, tokenizer, prompt: str = "", max_new_tokens: int = 60,
           temperature: float = 0.8, seed: int = 0) -> str:
    """Continue ``prompt``: greedy if ``temperature == 0``, else sampling at ``temperature``.
    Stops at ``</s>``. Returns the prompt and its continuation, as text."""
    ids = tokenizer.encode(prompt).ids if prompt else [BOS_ID]
    max_new_tokens = min(max_new_tokens, model.config.max_seq_len - len(ids))
    gen = torch.Generator().manual_seed(seed)
    cache = model.new_cache(max_len=len(ids) + max_new_tokens)
    logits = model(torch.tensor([ids]), cache=cache)[0, -1]
    out = list(ids)
    for _ in range(max_new_tokens):
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        if nxt == EOS_ID:
            break
        out.append(nxt)
        if len(out) == len(ids) + max_new_tokens:
            break
        logits = model(torch.tensor([[nxt]]), cache=cache)[0, -1]
    return tokenizer.decode(out)


def table(directory: str | Path | None = None) -> list[dict]:
    """One row per model: name, parameters, validation perplexity, file size (None if untrained)."""
    rows = []
    for name in names():
        weights_path, manifest_path = paths(name, directory)
        row = {"name": name, "parameters": SPECS[name].config.num_parameters(),
               "validation_perplexity": None, "steps": None, "bytes": None}
        if manifest_path.exists():
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
            row.update(validation_perplexity=m["validation_perplexity"], steps=m["steps"])
        if weights_path.exists():
            row["bytes"] = weights_path.stat().st_size
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``tinylm zoo ...``: train, list, verify."""
    import argparse

    parser = argparse.ArgumentParser(prog="tinylm zoo")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="zoo_command", required=True)
    from tinylm.zoo.medusa_heads import HEADS_SPECS

    t = sub.add_parser("train", help="train a model of the zoo (or Medusa heads) from its seed")
    t.add_argument("name", choices=sorted(SPECS) + sorted(HEADS_SPECS))
    t.add_argument("--steps", type=int, default=None, help="override the spec's steps")
    t.add_argument("--out", default=None, help="directory for the checkpoint (default: the zoo)")
    t.add_argument("--batch-size", type=int, default=None, help="override the spec's batch")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--max-documents", type=int, default=None,
                   help="train on the first N (shuffled) documents only")
    t.add_argument("--eval-every", type=int, default=None,
                   help=f"held-out loss every N steps (default {EVAL_EVERY})")
    sub.add_parser("list", help="the models: parameters, validation perplexity, size")
    sub.add_parser("verify", help="check every checkpoint's sha256 against its manifest")


def run(args) -> int:
    if args.zoo_command == "train" and args.name not in SPECS:  # Medusa heads
        from tinylm.zoo import medusa_heads

        m = medusa_heads.train(args.name, steps=args.steps, out_dir=args.out,
                               max_documents=args.max_documents, threads=args.threads,
                               batch_size=args.batch_size, eval_every=args.eval_every)
        print(medusa_heads.report(m))
        return 0
    if args.zoo_command == "train":
        m = train(args.name, steps=args.steps, out_dir=args.out,
                  max_documents=args.max_documents, threads=args.threads,
                  batch_size=args.batch_size, eval_every=args.eval_every)
        print(f"{m['name']}: {m['parameters']:,} parameters, {m['steps']} steps, "
              f"train loss {m['train_loss']:.3f}, validation loss {m['validation_loss']:.3f} "
              f"(perplexity {m['validation_perplexity']:.1f}), "
              f"{m['tokens_per_second']:.0f} tokens/s; wrote {paths(m['name'], args.out)[0]}")
        return 0
    if args.zoo_command == "list":
        print(f"{'name':<8} {'parameters':>11} {'steps':>6} {'val ppl':>8} {'size':>9}")
        for r in table():
            ppl = "-" if r["validation_perplexity"] is None else f"{r['validation_perplexity']:.1f}"
            size = "untrained" if r["bytes"] is None else f"{r['bytes'] / 1e6:.2f} MB"
            steps = "-" if r["steps"] is None else str(r["steps"])
            print(f"{r['name']:<8} {r['parameters']:>11,} {steps:>6} {ppl:>8} {size:>9}")
        return 0
    if args.zoo_command == "verify":
        results = verify()
        for name, status in results.items():
            print(f"{name}: {status}")
        return 0 if all(s == "ok" for s in results.values()) else 1
    raise ValueError(f"unknown zoo command {args.zoo_command}")
