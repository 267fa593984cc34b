"""Benchmark: word2vec training speed and vector quality, tinylm vs gensim.

Run from the repository root:

    .venv/bin/python bench/word2vec_bench.py             # full run, writes bench/results/word2vec.*
    .venv/bin/python bench/word2vec_bench.py --quick     # ~60k words, 1 repeat, writes nothing
    .venv/bin/python bench/word2vec_bench.py --repeats 5 --epochs 5

Both implementations train with negative sampling on the same corpus
(``tinylm.data.embedding_corpus``: the Wikipedia training split followed by the Lee corpus) with
the same hyper-parameters (vector_size 100, window 5, min_count 5, negative 5, sample 1e-3,
alpha 0.025 down to min_alpha 1e-4, 5 epochs, no hierarchical softmax), in three
configurations: skip-gram with 1 and 2 workers, CBOW with 1 worker.

What is timed: ``train()`` alone, with ``time.perf_counter`` around the call. The vocabulary is
built beforehand (``build_vocab``, not timed) for both; the time includes each library's own
work on the list of sentences inside ``train()`` (our mapping of words to ids, gensim's job
producer). Then

    words/s           = epochs * raw words / train seconds
    effective words/s = words actually trained (in the vocabulary, kept by subsampling),
                        summed over the epochs / train seconds

Raw words/s is what ``tinylm.embeddings.Word2Vec.words_per_second`` reports; gensim's log lines
give effective words/s. The two measures have the same ratio ours/gensim when both keep the same
share of the words.

Our Numba kernels are compiled on a tiny corpus first; that warm-up is not timed. Each
configuration is trained ``--repeats`` times per implementation, alternating ours and gensim's,
repeat ``i`` with seed ``i + 1`` for both; the speed is the best repeat and the quality the mean
over the repeats. Quality is measured by the same code for both (``tinylm.embeddings.WordVectors``
with gensim's vectors wrapped in it): Spearman correlation with WordSim353 and SimLex-999, and
accuracy on Mikolov's analogy questions.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
from benchlib import command_line, fmt_rate, load_average, machine_info, write_results
from tqdm import tqdm

from tinylm import data
from tinylm.embeddings import Word2Vec, WordVectors

IMPLS = ("tinylm", "gensim")
CONFIGS = (  # (name, sg, workers)
    ("skip-gram, 1 worker", 1, 1),
    ("skip-gram, 2 workers", 1, 2),
    ("CBOW, 1 worker", 0, 1),
)
PARAMS = {"vector_size": 100, "window": 5, "min_count": 5, "negative": 5, "sample": 1e-3,
          "alpha": 0.025, "min_alpha": 0.0001}
GOAL = 1.0  # ours at least as many words/s as gensim, at equal quality
# "Equal quality", as in tests/test_word2vec_gensim.py: the mean Spearman correlations reach 90 %
# of gensim's and the analogy accuracy (only ~70 right answers on this corpus) 80 %; precisely,
# ours >= gensim's - (1 - margin) * |gensim's|, which still means something when a score is near
# zero or negative (on the --quick subset).
QUALITY_MARGIN = {"wordsim353": 0.9, "simlex999": 0.9, "analogies": 0.8}


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------


def train_ours(corpus, sg, workers, epochs, seed):
    """(train seconds by perf_counter around train(), model, effective words)."""
    model = Word2Vec(sg=sg, workers=workers, epochs=epochs, seed=seed, progress=False, **PARAMS)
    model.build_vocab(corpus)
    t0 = time.perf_counter()
    model.train(corpus, epochs=epochs)
    seconds = time.perf_counter() - t0
    return seconds, model, model.effective_words, model.train_seconds


def train_gensim(corpus, sg, workers, epochs, seed):
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(sg=sg, workers=workers, epochs=epochs, seed=seed, hs=0, **PARAMS)
    model.build_vocab(corpus)
    t0 = time.perf_counter()
    effective, _raw = model.train(corpus, total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - t0
    return seconds, model, effective, model.total_train_time


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
# Machine and command (as in ngram_bench.py)
# ---------------------------------------------------------------------------------------------








# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run(args):
    t_start = time.perf_counter()
    load_at_start = load_average()
    logging.getLogger("gensim").setLevel(logging.WARNING)
    corpus = data.embedding_corpus()
    if args.quick:
        corpus = head(corpus, 60_000)
    repeats = 1 if args.quick else args.repeats
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
        seconds, model, effective, internal = trainers[impl](corpus, sg, workers, args.epochs,
                                                             seed=rep + 1)
        entry = {"seed": rep + 1, "train_s": seconds, "internal_train_s": internal,
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
                "repeats": len(reps), "train_s": best["train_s"],
                "internal_train_s": best["internal_train_s"],
                "words_per_s": total_raw / best["train_s"],
                "effective_words": best["effective_words"],
                "effective_words_per_s": best["effective_words"] / best["train_s"],
                "train_s_all": [e["train_s"] for e in reps],
                **{k: float(np.mean([e[k] for e in reps])) for k in QUALITY_MARGIN},
                "quality_per_repeat": [{k: e[k] for k in ("seed", *QUALITY_MARGIN)}
                                       for e in reps],
            })

    by = {(r["config"], r["impl"]): r for r in rows}
    ratios = []
    for name, _sg, _workers in CONFIGS:
        ours, theirs = by[name, "tinylm"], by[name, "gensim"]
        entry = {"config": name,
                 "words_per_s": ours["words_per_s"] / theirs["words_per_s"],
                 "effective_words_per_s":
                     ours["effective_words_per_s"] / theirs["effective_words_per_s"]}
        for k in QUALITY_MARGIN:
            entry[k] = ours[k] / theirs[k] if theirs[k] > 0 else math.nan
        entry["equal_quality"] = all(ours[k] >= theirs[k] - (1 - m) * abs(theirs[k])
                                     for k, m in QUALITY_MARGIN.items())
        entry["goal_met"] = bool(entry["words_per_s"] >= GOAL and entry["equal_quality"])
        ratios.append(entry)

    result = {
        "command": command_line(), "quick": args.quick, "epochs": args.epochs,
        "repeats": repeats, "params": {**PARAMS, "hs": 0}, "raw_words": raw_words,
        "sentences": len(corpus), "goal_ratio": GOAL, "quality_margin": QUALITY_MARGIN,
        "machine": machine_info("numpy", "numba", "gensim"), "rows": rows, "ratios": ratios,
        "wall_s": time.perf_counter() - t_start, "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": load_average(),
    }
    text = markdown(result)
    print()
    print(text)
    if not args.quick:
        write_results("word2vec", result, text)
    return result



def fmt_ratio(x):
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def markdown(r):
    m, p = r["machine"], r["params"]
    margin = r["quality_margin"]
    out = [
        "# word2vec benchmark: tinylm vs gensim (training speed and vector quality)",
        "",
        f"Command: `{r['command']}`" + (" (quick smoke test)" if r["quick"] else ""),
        "",
        f"Data: `tinylm.data.embedding_corpus` (Wikipedia training split + Lee corpus): "
        f"{r['raw_words']:,} words in {r['sentences']:,} sentences. Hyper-parameters, the same "
        f"for both: vector_size {p['vector_size']}, window {p['window']}, min_count "
        f"{p['min_count']}, negative {p['negative']}, sample {p['sample']:g}, alpha {p['alpha']} "
        f"down to min_alpha {p['min_alpha']}, hs {p['hs']}, {r['epochs']} epochs.",
        "",
        f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}; Python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}, gensim {m['gensim']}. 1-minute load average "
        f"{r['load_average_1min_at_start']} at the start, "
        f"{r['load_average_1min_at_end']} at the end "
        f"(above {m['cpu_count']} means other processes shared the CPUs and times are noisy).",
        "",
        "train s = wall time of `train()` alone (`time.perf_counter` around the call; the "
        "vocabulary is built before, untimed, for both; our Numba kernels are compiled "
        "beforehand). words/s = epochs x raw words / train s (what "
        "`tinylm.embeddings.Word2Vec.words_per_second` reports); effective words/s = words "
        "actually trained (in the vocabulary and kept by subsampling) / train s (what gensim "
        f"logs). Speed is the best of {r['repeats']} repeat{'s' if r['repeats'] > 1 else ''}, "
        "ours and gensim's alternating, repeat i with seed i for both; quality is the mean over "
        "the repeats, every model scored by the same code (`tinylm.embeddings.WordVectors`, "
        "gensim's vectors wrapped in it): Spearman correlation with WordSim353 and SimLex-999, "
        "accuracy on the analogy questions whose words are all known.",
        "",
        "| configuration | implementation | train s | words/s | effective words/s "
        "| WordSim353 | SimLex-999 | analogies | repeats |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in r["rows"]:
        out.append(
            f"| {row['config']} | {row['impl']} | {row['train_s']:.3g} "
            f"| {fmt_rate(row['words_per_s'])} | {fmt_rate(row['effective_words_per_s'])} "
            f"| {row['wordsim353']:.3f} | {row['simlex999']:.3f} "
            f"| {100 * row['analogies']:.2f} % | {row['repeats']} |")
    out += ["", f"Ratios ours / gensim (goal: words/s ratio >= {r['goal_ratio']:g} at equal "
            f"quality; equal quality means mean WordSim353 and SimLex-999 Spearman >= "
            f"{margin['wordsim353']:g} x gensim's and analogy accuracy >= "
            f"{margin['analogies']:g} x gensim's, the margins of tests/test_word2vec_gensim.py; a "
            "quality ratio is n/a where gensim's score is not positive):",
            "",
            "| configuration | words/s | effective words/s | WordSim353 | SimLex-999 "
            "| analogies | equal quality | goal |",
            "|---|--:|--:|--:|--:|--:|---|---|"]
    for q in r["ratios"]:
        out.append(
            f"| {q['config']} | {q['words_per_s']:.2f}x | {q['effective_words_per_s']:.2f}x "
            + "".join(f"| {fmt_ratio(q[k])} " for k in QUALITY_MARGIN)
            + f"| {'yes' if q['equal_quality'] else 'no'} "
            f"| {'met' if q['goal_met'] else 'NOT met'} |")
    out += ["", f"Total wall time of the run: {r['wall_s']:.0f} s.", ""]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="~60k words, 1 repeat, a smoke test; writes no results")
    parser.add_argument("--repeats", type=int, default=3,
                        help="trainings per configuration and implementation (default 3)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be >= 1")
    run(args)


if __name__ == "__main__":
    main()
