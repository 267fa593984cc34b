"""Benchmark: byte-pair encoding, tinylm vs Hugging Face ``tokenizers`` (training, encoding) and
``tiktoken`` (encoding).

Run from the repository root:

    .venv/bin/python bench/bpe_bench.py          # full run, writes bench/results/bpe.*
    .venv/bin/python bench/bpe_bench.py --quick  # every 40th document, 1,024 tokens; writes nothing

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import json
import time

from benchlib import Rows, benchmark, main, positive_int
from tokenizers import Tokenizer

from tinylm import bpe
from tinylm.bpe_kernels import learn_merges_fast
from tinylm.synthetic import course_corpus
from tinylm.tokenizer import SPECIAL_TOKENS, train_tokenizer

N_SPECIAL = len(SPECIAL_TOKENS)


def ordinal(every: int) -> str:
    """ "every 10th", or "every" for 1."""
    if every == 1:
        return "every"
    suffixes = {1: "st", 2: "nd", 3: "rd"}
    suffix = "th" if every % 100 in (11, 12, 13) else suffixes.get(every % 10, "th")
    return f"every {every}{suffix}"


def best_of(repeats, fn):
    """(smallest wall time over ``repeats`` calls, result of the last call)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# ---------------------------------------------------------------------------------------------
# Training: the same documents and vocabulary size for every implementation
# ---------------------------------------------------------------------------------------------


def train_ours(docs, vocab_size, learn, repeats):
    """(pre-tokenise s, merges s, tokenizer): ``count_pieces`` then ``learn``, timed apart,
    each the best of ``repeats``."""
    pre_tokenizer = bpe.course_pre_tokenizer()
    pre_s, pieces = best_of(repeats, lambda: bpe.count_pieces(docs, pre_tokenizer))
    merges_s, merges = best_of(repeats, lambda: learn(pieces, vocab_size - N_SPECIAL))
    return pre_s, merges_s, bpe.BPETokenizer(merges, SPECIAL_TOKENS, pre_tokenizer)


def their_merges(tokenizer) -> list[tuple[bytes, bytes]]:
    """The merges of a ``tokenizers`` BPE model as pairs of byte strings."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    return [(bpe.symbols_to_bytes(a), bpe.symbols_to_bytes(b)) for a, b in merges]


def training_rows(data, docs, vocab_size, repeats, textbook):
    """The rows of one training set: ours (fast), the textbook loop (once, if asked) and
    tokenizers' BpeTrainer; and our fast tokenizer and theirs, for the encoding table."""
    ours_pre, ours_merges, ours = train_ours(docs, vocab_size, learn_merges_fast, repeats)
    their_s, theirs = best_of(repeats, lambda: train_tokenizer(docs, vocab_size))
    reference = their_merges(theirs)
    rows = [{"data": data, "impl": "tinylm (Numba)", "pre_tokenize_s": ours_pre,
             "merges_s": ours_merges, "total_s": ours_pre + ours_merges, "repeats": repeats,
             "merges": len(ours.merges),
             "same_merges": [(ours.vocab[a], ours.vocab[b]) for a, b in ours.merges] == reference}]
    if textbook:
        pre, merges_s, slow = train_ours(docs, vocab_size, bpe.learn_merges, 1)
        rows.append({"data": data, "impl": "tinylm textbook (plain Python)",
                     "pre_tokenize_s": pre, "merges_s": merges_s, "total_s": pre + merges_s,
                     "repeats": 1, "merges": len(slow.merges),
                     "same_merges": slow.merges == ours.merges and rows[0]["same_merges"]})
    rows.append({"data": data, "impl": "tokenizers BpeTrainer", "total_s": their_s,
                 "repeats": repeats, "merges": len(reference), "same_merges": True})
    for row in rows:
        row["vs_tinylm"] = row["total_s"] / rows[0]["total_s"]
    return rows, ours, theirs


# ---------------------------------------------------------------------------------------------
# Encoding: the same held-out text, the same tokens
# ---------------------------------------------------------------------------------------------


def encoders(ours, theirs):
    """name -> (function of the documents giving each one's tokens as byte strings, calls).

    Each call starts cold: our cache is emptied and tokenizers' (inside its model) is new."""
    enc = ours.to_tiktoken()
    as_bytes = ours.vocab.__getitem__
    their_json = theirs.to_str()

    def tinylm_encode(docs):
        ours.cache.clear()
        return [list(map(as_bytes, ours.encode(d))) for d in docs]

    def tokenizers_encode(docs):
        fresh = Tokenizer.from_str(their_json)
        return [fresh.encode(d, add_special_tokens=False).tokens for d in docs]

    def tokenizers_batch(docs):
        fresh = Tokenizer.from_str(their_json)
        return [e.tokens for e in fresh.encode_batch(docs, add_special_tokens=False)]

    def tiktoken_encode(docs):
        return [enc.encode_ordinary(d) for d in docs]

    def tiktoken_batch(docs):
        return enc.encode_ordinary_batch(docs)

    return {
        "tinylm": (tinylm_encode, "`encode`, one document at a time"),
        "tokenizers": (tokenizers_encode, "`encode`, one document at a time"),
        "tokenizers, batch": (tokenizers_batch, "`encode_batch` (Rust threads)"),
        "tiktoken": (tiktoken_encode, "`encode_ordinary`, one document at a time"),
        "tiktoken, batch": (tiktoken_batch, "`encode_ordinary_batch` (threads)"),
    }


def as_token_bytes(name, out, ours):
    """Every encoder's output as lists of byte strings: tokenizers gives symbol strings,
    tiktoken our ids."""
    if name.startswith("tokenizers"):
        return [[bpe.symbols_to_bytes(t) for t in doc] for doc in out]
    if name.startswith("tiktoken"):
        return [[ours.vocab[i] for i in doc] for doc in out]
    return out


def encoding_rows(ours, theirs, docs, repeats):
    rows, expected = [], None
    for name, (fn, calls) in encoders(ours, theirs).items():
        fn(docs[:5])  # warm-up, not timed
        seconds, out = best_of(repeats, lambda fn=fn: fn(docs))
        tokens = as_token_bytes(name, out, ours)
        expected = expected or tokens
        n = sum(map(len, tokens))
        rows.append({"impl": name, "calls": calls, "tokens": n, "seconds": seconds,
                     "tok_s": n / seconds, "repeats": repeats, "same_tokens": tokens == expected})
    for row in rows:
        row["vs_tinylm"] = row["seconds"] / rows[0]["seconds"]
    return rows


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--vocab-size", type=positive_int, default=4096,
                        help="tokens in all, 4 special ones included (default 4096, the "
                             "course tokenizer's)")
    parser.add_argument("--every", type=positive_int, default=10,
                        help="train on every N-th document of the training split (default 10)")


@benchmark(
    "bpe", title="Byte-pair encoding: tinylm vs tokenizers and tiktoken", chapter=3,
    packages=("numba", "tokenizers", "tiktoken"), options=add_options, repeats=3,
    columns=[("data", "training text", "text"), ("impl", "implementation", "text"),
             ("pre_tokenize_s", "pre-tokenise s", "seconds"), ("merges_s", "merges s", "seconds"),
             ("total_s", "total s", "seconds"), ("vs_tinylm", "time / tinylm's", "ratio"),
             ("merges", "merges", "int"), ("same_merges", "same merges", "yesno")],
    tables={"encoding": (
        "Encoding the validation split of the course corpus with the tokenizers trained on the "
        "subset (tiktoken: an `Encoding` built from our merges):",
        [("impl", "implementation", "text"), ("calls", "calls", "text"),
         ("tokens", "tokens", "int"), ("seconds", "s", "seconds"), ("tok_s", "tokens/s", "rate"),
         ("vs_tinylm", "time / tinylm's", "ratio"),
         ("same_tokens", "same tokens", "yesno")])},
)
def run(args):
    """**Training.** Byte-level BPE with the course tokenizer's pre-tokenisation (digits one by
    one, then GPT-2's pattern) and `--vocab-size` tokens (4,096 by default, 4 of them special),
    `min_frequency=2`, on every `--every`-th document of the course corpus's training split
    (`tinylm.synthetic.course_corpus("train")[::10]` by default). *tinylm (Numba)*:
    `tinylm.bpe.count_pieces` (the pieces and their counts, from the `tokenizers`
    pre-tokenizer) then `tinylm.bpe_kernels.learn_merges_fast` (counts updated after each merge,
    merges by a Numba kernel, compiled beforehand and not timed); the two are timed apart.
    *tinylm textbook*: the same pieces, then `tinylm.bpe.learn_merges`, which counts every pair
    again after every merge (one run). *tokenizers*: `tinylm.tokenizer.train_tokenizer`, the
    `BpeTrainer` call that made the course tokenizer, pre-tokenisation included (its own Rust
    threads). A full run also trains ours and tokenizers on the whole training split, as the
    course tokenizer was. The merges must be identical, as byte strings, or the run fails.

    **Encoding.** The validation split of the course corpus, encoded without special tokens by
    the tokenizers trained on the subset: ours (`BPETokenizer.encode`, plain Python with a cache
    of pieces already seen), tokenizers', and a `tiktoken.Encoding` built from our merges
    (`BPETokenizer.to_tiktoken`). Every call starts with an empty cache. The tokens must be
    identical (as byte strings), or the run fails.

    Times are wall times from `time.perf_counter`, the best of `--repeats` (3) runs, after an
    untimed warm-up.
    """
    every = 40 if args.quick else args.every
    vocab_size = 1024 if args.quick else args.vocab_size
    train_docs = course_corpus("train")
    held_out = course_corpus("validation")
    if args.quick:
        held_out = held_out[::5]
    subset = train_docs[::every]
    learn_merges_fast({b"warm up": 2, b"up": 3}, 260)  # compile (or load) the kernel

    name = (f"{ordinal(every)} document ({len(subset):,} documents, "
            f"{sum(map(len, subset)) / 1e6:.2f} M chars)")
    print(f"training on {name}, {vocab_size} tokens")
    rows, ours, theirs = training_rows(name, subset, vocab_size, args.repeats, textbook=True)
    if not args.quick:
        whole = (f"whole training split ({len(train_docs):,} documents, "
                 f"{sum(map(len, train_docs)) / 1e6:.2f} M chars)")
        print(f"training on the {whole}")
        rows += training_rows(whole, train_docs, vocab_size, args.repeats, textbook=False)[0]
    print(f"encoding {len(held_out)} held-out documents")
    encoding = encoding_rows(ours, theirs, held_out, args.repeats)

    facts = {"vocab_size": vocab_size, "every": every, "train_documents": len(subset),
             "held_out_documents": len(held_out), "held_out_chars": sum(map(len, held_out))}
    return summarize(rows, encoding, facts)


def summarize(rows, encoding, facts):
    """The notes, and the failure if any output differs."""
    bad_merges = [f"{r['impl']} on {r['data']}" for r in rows if not r["same_merges"]]
    bad_tokens = [r["impl"] for r in encoding if not r["same_tokens"]]
    ours = rows[0]
    notes = [
        f"Training set: {facts['train_documents']:,} documents ({ordinal(facts['every'])} "
        f"document of the training split), {facts['vocab_size']:,} tokens; tinylm learned "
        f"{ours['merges']:,} merges in {ours['merges_s']:.2f} s after {ours['pre_tokenize_s']:.2f}"
        " s of pre-tokenisation.",
        f"Encoding: {facts['held_out_documents']:,} documents, "
        f"{facts['held_out_chars'] / 1e6:.2f} M characters, {encoding[0]['tokens']:,} tokens. "
        "The batch calls use several threads; every other row runs on one.",
        "Every implementation learned the same merges and cut the text into the same tokens."
        if not bad_merges + bad_tokens else
        "Outputs **differ**: " + "; ".join(bad_merges + bad_tokens) + ".",
    ]
    failed = None
    if bad_merges or bad_tokens:
        failed = "outputs differ: " + "; ".join(bad_merges + bad_tokens)
    return Rows(rows, notes=notes, facts=facts, tables={"encoding": encoding}, failed=failed)


if __name__ == "__main__":
    main(run)
