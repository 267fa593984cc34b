"""Benchmark: word2vec training speed and vector quality, tinylm vs gensim.

Run from the repository root:

    .venv/bin/python bench/word2vec_bench.py             # full run, writes bench/results/word2vec.*
    .venv/bin/python bench/word2vec_bench.py --quick     # ~60k words, 1 repeat, writes nothing
    .venv/bin/python bench/word2vec_bench.py --repeats 5 --epochs 5

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import os

# One BLAS thread. After a matrix product (the scoring of the vectors), OpenBLAS's idle threads
# keep spinning for a while, and would take a core from the next training's second worker.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # (before numpy loads, or it has no effect)

import logging
import math
import time

import numpy as np
from benchlib import Rows, benchmark, main, positive_int
from tqdm import tqdm

from tinylm import data
from tinylm.embeddings import Word2Vec, WordVectors

IMPLS = ("tinylm", "gensim")
CONFIGS = (  # (name, sg, workers)
    ("skip-gram, 1 worker", 1, 1),
    ("skip-gram, 2 workers", 1, 2),
    ("CBOW, 1 worker", 0, 1),
    ("CBOW, 2 workers", 0, 2),
)
PARAMS = {"vector_size": 100, "window": 5, "min_count": 5, "negative": 5, "sample": 1e-3,
          "alpha": 0.025, "min_alpha": 0.0001}
GOAL = {1: 1.0, 2: 2.0}  # by workers: ours at least this many times gensim's words/s, at
# equal quality (issue 16 asks 2.0x with 2 workers)
SCALING_GOAL = 1.8  # ours with 2 workers at least 1.8x our own words/s with 1
# "Equal quality", as in tests/test_word2vec_gensim.py: the mean Spearman correlations reach 90 %
# of gensim's and the analogy accuracy (only ~70 right answers on this corpus) 80 %; precisely,
# ours >= gensim's - (1 - margin) * |gensim's|, which still means something when a score is near
# zero or negative (on the --quick subset).
QUALITY_MARGIN = {"wordsim353": 0.9, "simlex999": 0.9, "analogies": 0.8}


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------


def timed(train):
    """(wall seconds of ``train()``, CPU seconds of every thread of the process meanwhile)."""
    cpu, t0 = time.process_time(), time.perf_counter()
    train()
    return time.perf_counter() - t0, time.process_time() - cpu


def train_ours(corpus, sg, workers, epochs, seed):
    """(train seconds, CPU seconds, model, effective words, the model's own train seconds)."""
    model = Word2Vec(sg=sg, workers=workers, epochs=epochs, seed=seed, progress=False, **PARAMS)
    model.build_vocab(corpus)
    seconds, cpu = timed(lambda: model.train(corpus, epochs=epochs))
    return seconds, cpu, model, model.effective_words, model.train_seconds


def train_gensim(corpus, sg, workers, epochs, seed):
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(sg=sg, workers=workers, epochs=epochs, seed=seed, hs=0, **PARAMS)
    model.build_vocab(corpus)
    counts = []
    seconds, cpu = timed(lambda: counts.extend(
        model.train(corpus, total_examples=model.corpus_count, epochs=epochs)))
    return seconds, cpu, model, counts[0], model.total_train_time


def vectors_of(impl, model):
    if impl == "tinylm":
        return model.wv
    return WordVectors(model.wv.index_to_key, model.wv.vectors)


def quality(wv: WordVectors) -> dict[str, float]:
    return {"wordsim353": float(wv.evaluate_word_pairs(data.wordsim353_path())[1][0]),
            "simlex999": float(wv.evaluate_word_pairs(data.simlex999_path())[1][0]),
            "analogies": float(wv.evaluate_word_analogies(data.analogy_questions_path())[0])}


def warm_up():
    """Compile our Numba kernels (skip-gram and CBOW, 1 and 2 workers) on a tiny corpus."""
    tiny = [["a", "b", "c", "d", "a", "b"], ["c", "d", "a", "b", "c"]] * 20
    for sg in (0, 1):
        for workers in (1, 2):
            Word2Vec(tiny, vector_size=8, window=2, min_count=1, sg=sg, workers=workers,
                     epochs=1, progress=False)


def head(sentences, max_words):
    out, n = [], 0
    for s in sentences:
        if n >= max_words:
            break
        out.append(s)
        n += len(s)
    return out


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--epochs", type=positive_int, default=5)


@benchmark(
    "word2vec", title="word2vec: tinylm vs gensim, training speed and vector quality", chapter=2,
    packages=("numpy", "numba", "gensim"), options=add_options, repeats=3,
    columns=[("config", "configuration", "text"), ("impl", "implementation", "text"),
             ("train_s", "train s", "seconds"), ("words_per_s", "words/s", "rate"),
             ("effective_words_per_s", "effective words/s", "rate"),
             ("cores_busy", "cores busy", "float"),
             ("wordsim353", "WordSim353", "float"), ("simlex999", "SimLex-999", "float"),
             ("analogies", "analogies", "percent"), ("repeats", "repeats", "int")],
    tables={"ratios": (
        f"Ratios ours / gensim (goal: words/s ratio >= {GOAL[1]:g} with 1 worker, >= "
        f"{GOAL[2]:g} with 2, at equal quality; equal quality "
        f"means mean WordSim353 and SimLex-999 Spearman >= {QUALITY_MARGIN['wordsim353']:g} x "
        f"gensim's and analogy accuracy >= {QUALITY_MARGIN['analogies']:g} x gensim's, the "
        "margins of tests/test_word2vec_gensim.py; a quality ratio is n/a where gensim's score "
        "is not positive):",
        [("config", "configuration", "text"), ("words_per_s", "words/s", "ratio"),
         ("goal", "goal", "ratio"),
         ("effective_words_per_s", "effective words/s", "ratio"),
         ("wordsim353", "WordSim353", "ratio"), ("simlex999", "SimLex-999", "ratio"),
         ("analogies", "analogies", "ratio"), ("equal_quality", "equal quality", "yesno"),
         ("goal_met", "goal met", "yesno")]),
        "scaling": (
        f"What a second worker gives, words/s with 2 workers / with 1 (goal for ours: >= "
        f"{SCALING_GOAL:g}; cores busy = CPU seconds of the process / train seconds, in the "
        "best 2-worker run: below 2, the machine did not give both workers a core all along):",
        [("model", "model", "text"), ("impl", "implementation", "text"),
         ("speedup", "2 workers / 1", "ratio"), ("cores_busy", "cores busy", "float"),
         ("goal_met", "goal met", "yesno")])},
)
def run(args):
    """Both implementations train word2vec with negative sampling on the same sentences of
    `tinylm.data.embedding_corpus` (the Wikipedia training split followed by the Lee corpus),
    with the same hyper-parameters, in four configurations: skip-gram and CBOW, each with 1 and
    2 workers. *tinylm* is `tinylm.embeddings.Word2Vec` (its Numba kernels are compiled
    beforehand, untimed), *gensim* is `gensim.models.Word2Vec`.

    train s = wall time of `train()` alone (`time.perf_counter` around the call; the vocabulary
    is built before, untimed, for both). words/s = epochs x raw words / train s (what
    `tinylm.embeddings.Word2Vec.words_per_second` reports); effective words/s = words actually
    trained (in the vocabulary and kept by subsampling) / train s (what gensim logs); cores
    busy = CPU time of the process (`time.process_time`, every thread) / train s. Speed is
    the best of the repeats, ours and gensim's alternating, repeat i with seed i for both;
    quality is the mean over the repeats, every model scored by the same code
    (`tinylm.embeddings.WordVectors`, gensim's vectors wrapped in it): Spearman correlation with
    WordSim353 and SimLex-999, accuracy on the analogy questions whose words are all known.
    """
    logging.getLogger("gensim").setLevel(logging.WARNING)
    corpus = data.embedding_corpus()
    if args.quick:
        corpus = head(corpus, 60_000)
    repeats = args.repeats
    raw_words = sum(map(len, corpus))
    print(f"Embedding corpus (tinylm.data.embedding_corpus): {raw_words:,} words in "
          f"{len(corpus):,} sentences; {args.epochs} epochs, best of {repeats} "
          f"repeat{'s' if repeats > 1 else ''}")
    if not args.quick and raw_words < 500_000:
        raise SystemExit(f"the corpus has only {raw_words:,} words; need >= 500,000")

    warm_up()
    trainers = {"tinylm": train_ours, "gensim": train_gensim}
    runs = {}  # (config, impl) -> list of per-repeat dicts
    steps = [(cfg, rep, impl) for cfg in CONFIGS for rep in range(repeats) for impl in IMPLS]
    bar = tqdm(steps, desc="benchmark", unit="train")
    for (name, sg, workers), rep, impl in bar:
        bar.set_postfix_str(f"{impl}, {name}, repeat {rep + 1}")
        seconds, cpu, model, effective, internal = trainers[impl](corpus, sg, workers,
                                                                  args.epochs, seed=rep + 1)
        entry = {"seed": rep + 1, "train_s": seconds, "cpu_s": cpu, "internal_train_s": internal,
                 "effective_words": int(effective), **quality(vectors_of(impl, model))}
        runs.setdefault((name, impl), []).append(entry)
        del model
    bar.close()

    total_raw = args.epochs * raw_words
    rows = []
    for name, sg, workers in CONFIGS:
        for impl in IMPLS:
            reps = runs[name, impl]
            best = min(reps, key=lambda e: e["train_s"])
            rows.append({
                "config": name, "sg": sg, "workers": workers, "impl": impl,
                "repeats": len(reps), "train_s": best["train_s"], "cpu_s": best["cpu_s"],
                "cores_busy": best["cpu_s"] / best["train_s"],
                "internal_train_s": best["internal_train_s"],
                "words_per_s": total_raw / best["train_s"],
                "effective_words": best["effective_words"],
                "effective_words_per_s": best["effective_words"] / best["train_s"],
                "train_s_all": [e["train_s"] for e in reps],
                "cpu_s_all": [e["cpu_s"] for e in reps],
                **{k: float(np.mean([e[k] for e in reps])) for k in QUALITY_MARGIN},
                "quality_per_repeat": [{k: e[k] for k in ("seed", *QUALITY_MARGIN)}
                                       for e in reps],
            })
    facts = {"epochs": args.epochs, "repeats": repeats, "params": {**PARAMS, "hs": 0},
             "raw_words": raw_words, "sentences": len(corpus), "goal_ratio": GOAL,
             "scaling_goal": SCALING_GOAL, "quality_margin": QUALITY_MARGIN}
    return summarize(rows, facts)


def summarize(rows, facts):
    """The ratio table and the notes, from the measured rows and the facts of the run."""
    by = {(r["config"], r["impl"]): r for r in rows}
    goals = {int(k): v for k, v in facts["goal_ratio"].items()}  # JSON keys are strings
    ratios = []
    for name, _sg, workers in CONFIGS:
        ours, theirs = by[name, "tinylm"], by[name, "gensim"]
        entry = {"config": name, "goal": goals[workers],
                 "words_per_s": ours["words_per_s"] / theirs["words_per_s"],
                 "effective_words_per_s":
                     ours["effective_words_per_s"] / theirs["effective_words_per_s"]}
        for k in QUALITY_MARGIN:
            entry[k] = ours[k] / theirs[k] if theirs[k] > 0 else math.nan
        entry["equal_quality"] = all(ours[k] >= theirs[k] - (1 - m) * abs(theirs[k])
                                     for k, m in facts["quality_margin"].items())
        entry["goal_met"] = bool(entry["words_per_s"] >= entry["goal"]
                                 and entry["equal_quality"])
        ratios.append(entry)
    scaling = []
    for model in ("skip-gram", "CBOW"):
        for impl in IMPLS:
            one, two = by[f"{model}, 1 worker", impl], by[f"{model}, 2 workers", impl]
            speedup = two["words_per_s"] / one["words_per_s"]
            scaling.append({"model": model, "impl": impl, "speedup": speedup,
                            "cores_busy": two["cores_busy"],
                            "goal_met": speedup >= facts["scaling_goal"]
                            if impl == "tinylm" else None})

    p = facts["params"]
    notes = [f"Data: `tinylm.data.embedding_corpus`, {facts['raw_words']:,} words in "
             f"{facts['sentences']:,} sentences. Hyper-parameters, the same for both: "
             f"vector_size {p['vector_size']}, window {p['window']}, min_count {p['min_count']}, "
             f"negative {p['negative']}, sample {p['sample']:g}, alpha {p['alpha']} down to "
             f"min_alpha {p['min_alpha']}, hs {p['hs']}, {facts['epochs']} epochs.",
             f"Goal met in {sum(q['goal_met'] for q in ratios)} of {len(ratios)} "
             "configurations; a second worker makes ours at least "
             f"{facts['scaling_goal']:g}x faster for "
             f"{sum(bool(q['goal_met']) for q in scaling)} of the 2 models."]
    return Rows(rows, notes=notes, facts=facts, tables={"ratios": ratios, "scaling": scaling})


if __name__ == "__main__":
    main(run)
