"""Benchmark: sentence scoring, tinylm's Kneser-Ney model vs KenLM reading its ARPA file.

Run from the repository root:

    .venv/bin/python bench/kenlm_bench.py             # full run, writes bench/results/kenlm.*
    .venv/bin/python bench/kenlm_bench.py --quick     # ~50k train tokens, a smoke test

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import kenlm
import numpy as np
from benchlib import Rows, benchmark, main
from ngram_bench import head, n_tokens

from tinylm import data
from tinylm.ngram import NGramLM

ORDERS = (2, 3, 4)
GOAL = 1.0  # ours at least as many sentences/s as KenLM's Model.score
AGREE = 1e-4  # log10 per sentence, KenLM's word scores summed in double


def add_options(parser):
    parser.add_argument("--discount", type=float, default=0.75, help="Kneser-Ney discount")


def time_alternating(repeats, fns):
    """Best wall time of each function over ``repeats`` rounds, the functions taking turns."""
    best = [math.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def kenlm_log10(model, texts):
    """KenLM's log10 P(sentence), its word scores summed in double (``score`` adds in float32)."""
    return np.array([sum(p for p, _, _ in model.full_scores(text)) for text in texts])


@benchmark(
    "kenlm", title="Sentence scoring: tinylm's n-gram model vs KenLM on the same ARPA model",
    chapter=1, packages=("numpy", "numba", "kenlm"), options=add_options, repeats=5,
    columns=[("order", "order", "int"), ("impl", "implementation", "text"),
             ("score_s", "score s", "seconds"), ("sent_s", "sentences/s", "rate"),
             ("tok_s", "tokens/s", "rate"), ("ratio", "ours / KenLM", "ratio"),
             ("goal_met", "goal met", "yesno")],
)
def run(args):
    """For orders 2, 3 and 4, a Kneser-Ney `tinylm.ngram.NGramLM` is fitted on the training
    sentences of `tinylm.data.wiki_sentences` and written with `NGramLM.to_arpa`; KenLM's
    Python module (`kenlm.Model`, its default probing hash tables) loads that file. Both then
    score every test sentence: *tinylm* with one call, `NGramLM.sentence_logprobs(sentences)`
    (the whole batch at once: a dict look-up per word for its id, then a Numba kernel walking
    the backoff form as KenLM does, one hash table per order, built on the first call: the
    warm-up); *KenLM* with `Model.score(text)` on each sentence in a Python loop
    (from one `<s>`, `</s>` included). Each gets its input ready beforehand: lists of tokens for
    ours, space-joined strings for KenLM. Fitting, writing and loading are not timed. A third
    row, *tinylm, ids given*, times our walk alone on the sentences already turned into ids
    (`NGramLM.encode`, untimed; then `sentence_logprobs_of_ids`): what the Numba kernel costs
    without the Python dict look-up of every word.

    A token is a word or the `</s>` ending a sentence. Times come from `time.perf_counter`, the
    best of the repeats, the two taking turns. The log10 sentence scores must agree within
    1e-4 (KenLM's `full_scores` summed in double), or the run fails.
    """
    train = data.wiki_sentences("train")
    test = data.wiki_sentences("test")
    if args.quick:
        train, test = head(train, 50_000), head(test, 5_000)
    n_test = n_tokens(test)
    texts = [" ".join(sent) for sent in test]
    print(f"Wikipedia sample (tinylm.data.wiki_sentences): {n_tokens(train):,} train tokens, "
          f"{n_test:,} test tokens in {len(test):,} sentences")

    rows, worst, facts = [], 0.0, {"test_sentences": len(test), "test_tokens": n_test}
    with tempfile.TemporaryDirectory() as tmp:
        for order in ORDERS:
            lm = NGramLM(order, "kneser_ney", discount=args.discount).fit(train)
            path = Path(tmp) / f"order{order}.arpa"
            t0 = time.perf_counter()
            lm.to_arpa(path)
            facts[f"to_arpa_s_order{order}"] = time.perf_counter() - t0
            model = kenlm.Model(str(path))
            lm.sentence_logprobs(test[:10])  # untimed warm-up of both
            model.score(texts[0])
            worst = max(worst, float(np.max(np.abs(
                lm.sentence_logprobs(test) / math.log(10) - kenlm_log10(model, texts)))))
            words, lengths = lm.encode(test)
            ours_s, kenlm_s, ids_s = time_alternating(args.repeats, [
                lambda lm=lm: lm.sentence_logprobs(test),
                lambda model=model: [model.score(text) for text in texts],
                lambda lm=lm, w=words, n=lengths: lm.sentence_logprobs_of_ids(w, n)])
            for impl, seconds in (("tinylm", ours_s), ("KenLM", kenlm_s),
                                  ("tinylm, ids given", ids_s)):
                ratio = kenlm_s / seconds if impl != "KenLM" else None
                rows.append({"order": order, "impl": impl, "score_s": seconds,
                             "sent_s": len(test) / seconds, "tok_s": n_test / seconds,
                             "ratio": ratio,
                             "goal_met": ratio >= GOAL if impl == "tinylm" else None})
            del model
    met = sum(bool(r["goal_met"]) for r in rows if r["impl"] == "tinylm")
    given = [r["ratio"] for r in rows if r["impl"] == "tinylm, ids given"]
    facts.update(max_abs_log10_diff=worst, goal=GOAL)
    notes = [f"Goal (ours at least {GOAL:.1f}x KenLM's sentences/s) met for {met} of "
             f"{len(ORDERS)} orders.",
             f"The walk alone, on ids given (`sentence_logprobs_of_ids` of `encode`'s output): "
             f"{min(given):.2f}-{max(given):.2f}x KenLM's whole call; the rest of our time is "
             "the dict look-up of each word's id.",
             f"Largest difference of a log10 sentence score, ours vs KenLM: {worst:.1e}."]
    failed = (f"the scores differ by {worst:.1e} > {AGREE:.0e} (log10)" if worst > AGREE
              else None)
    return Rows(rows, notes=notes, facts=facts, failed=failed)


if __name__ == "__main__":
    main(run)
