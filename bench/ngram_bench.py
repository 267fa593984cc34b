"""Benchmark: n-gram counting and scoring, tinylm vs plain Python ``Counter`` vs NLTK ``nltk.lm``.

Run from the repository root:

    .venv/bin/python bench/ngram_bench.py             # full run, writes bench/results/ngram.*
    .venv/bin/python bench/ngram_bench.py --quick     # ~50k tokens, a smoke test, writes nothing
    .venv/bin/python bench/ngram_bench.py --profile   # also print a cProfile of our fit + score

What is measured and how is the docstring of ``run`` below (it is printed above the table, and
the book's benchmark appendix shows it); ``benchlib`` does the rest.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import time
from collections import Counter

import numpy as np
from benchlib import Rows, benchmark, main, positive_int
from tqdm import tqdm

from tinylm import data
from tinylm.ngram import BOS, EOS, UNK, NGramLM

SMOOTHINGS = ("mle", "add_k", "kneser_ney")
IMPLS = ("tinylm", "Counter", "NLTK")
GOAL = 50  # ours at least 50x NLTK's fit+score tokens/s


# ---------------------------------------------------------------------------------------------
# The plain Python baseline: Counters of tuples and dict lookups
# ---------------------------------------------------------------------------------------------


class CounterLM:
    """The natural pure-Python n-gram model: one Counter of tuples per n-gram length.

    Same padding, vocabulary and formulas as NGramLM (Kneser-Ney interpolated down to 1/|V|),
    so the perplexities must agree.
    """

    def __init__(self, order, smoothing, k=1.0, discount=0.75):
        self.order, self.smoothing, self.k, self.discount = order, smoothing, k, discount

    def fit(self, sentences):
        n = self.order
        vocab = {UNK, BOS, EOS}
        counts = [Counter() for _ in range(n)]  # counts[m]: the (m+1)-grams
        pad = [BOS] * (n - 1)
        for sent in sentences:
            vocab.update(sent)
            padded = pad + sent + [EOS]
            for i in range(n - 1, len(padded)):
                for m in range(n):
                    counts[m][tuple(padded[i - m : i + 1])] += 1
        self.vocab = vocab
        # a(c, w) per level: raw counts, or for Kneser-Ney below the top the continuation count
        # N1+(. c w) = how many distinct tokens come before (c, w)
        self.a = list(counts)
        if self.smoothing == "kneser_ney":
            for m in range(n - 1):
                self.a[m] = Counter(gram[1:] for gram in counts[m + 1])
        self.totals, self.types = [], []
        for level in self.a:
            totals, types = Counter(), Counter()
            for gram, c in level.items():
                totals[gram[:-1]] += c
                types[gram[:-1]] += 1
            self.totals.append(totals)
            self.types.append(types)
        return self

    def prob(self, word, context):
        V = len(self.vocab)
        top = self.order - 1
        if self.smoothing == "add_k":
            c = self.a[top].get(context + (word,), 0)
            return (c + self.k) / (self.totals[top].get(context, 0) + self.k * V)
        if self.smoothing == "mle":
            total = self.totals[top].get(context, 0)
            return self.a[top].get(context + (word,), 0) / total if total else 0.0
        d, p = self.discount, 1.0 / V
        for m in range(self.order):
            ctx = context[len(context) - m :] if m else ()
            total = self.totals[m].get(ctx, 0)
            if total:
                c = self.a[m].get(ctx + (word,), 0)
                p = (max(c - d, 0.0) + d * self.types[m][ctx] * p) / total
        return p

    def perplexity(self, sentences):
        n, vocab = self.order, self.vocab
        logp, count = 0.0, 0
        for sent in sentences:
            padded = [BOS] * (n - 1) + [w if w in vocab else UNK for w in sent] + [EOS]
            for i in range(n - 1, len(padded)):
                p = self.prob(padded[i], tuple(padded[i - n + 1 : i]))
                logp += math.log(p) if p > 0 else -math.inf
                count += 1
        return math.exp(-logp / count)


# ---------------------------------------------------------------------------------------------
# NLTK, fed the same n-grams (as in tests/test_ngram_nltk.py)
# ---------------------------------------------------------------------------------------------


def nltk_training_ngrams(sentences, order):
    from nltk.util import ngrams

    out = []
    for sent in sentences:
        padded = [BOS] * (order - 1) + list(sent) + [EOS]
        for k in range(1, order + 1):
            out += [g for g in ngrams(padded, k) if g[-1] != BOS]
    return out


def nltk_test_ngrams(sentences, order):
    from nltk.util import ngrams

    return [g for s in sentences for g in ngrams([BOS] * (order - 1) + list(s) + [EOS], order)]


def nltk_fit(smoothing, sentences, order, k, discount):
    from nltk.lm import MLE, KneserNeyInterpolated, Lidstone, Vocabulary

    vocab = Vocabulary([t for s in sentences for t in s] + [BOS, EOS], unk_label=UNK)
    if smoothing == "mle":
        model = MLE(order, vocabulary=vocab)
    elif smoothing == "add_k":
        model = Lidstone(k, order, vocabulary=vocab)
    else:
        model = KneserNeyInterpolated(order, discount=discount, vocabulary=vocab)
    model.fit([nltk_training_ngrams(sentences, order)])
    return model


def nltk_score_sampled(model, test_ngrams, budget, seed=0):
    """Score a random sample of test n-grams for about ``budget`` seconds: (seconds per token,
    number scored, perplexity of the sample)."""
    order = np.random.default_rng(seed).permutation(len(test_ngrams))
    logp, n = 0.0, 0
    bar = tqdm(total=len(order), desc="  NLTK kneser_ney score (sampled)", unit="tok",
               leave=False, mininterval=1.0)
    start = time.perf_counter()
    for i in order:
        *ctx, w = test_ngrams[i]
        logp += model.logscore(w, ctx)
        n += 1
        bar.update()
        if time.perf_counter() - start >= budget:
            break
    seconds = time.perf_counter() - start
    bar.close()
    return seconds / n, n, 2.0 ** (-logp / n)


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def best_of(repeats, fn):
    """(smallest wall time over ``repeats`` calls, result of the last call)."""
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def n_tokens(sentences):
    """Predicted tokens: every word and one </s> per sentence."""
    return sum(len(s) + 1 for s in sentences)


def head(sentences, max_tokens):
    out, n = [], 0
    for s in sentences:
        if n >= max_tokens:
            break
        out.append(s)
        n += len(s) + 1
    return out


def warm_up(order, k, discount):
    tiny = [["a", "b", "c"], ["b", "c", "a", "b"]]
    for sm in SMOOTHINGS:
        NGramLM(order, sm, k=k, discount=discount).fit(tiny).perplexity([["a", "b", "d"]])


# ---------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------


def add_options(parser):
    parser.add_argument("--order", type=positive_int, default=3)
    parser.add_argument("--k", type=float, default=0.01, help="add_k / Lidstone k")
    parser.add_argument("--discount", type=float, default=0.75, help="Kneser-Ney discount")
    parser.add_argument("--kn-budget", type=float, default=20.0,
                        help="seconds of NLTK Kneser-Ney scoring to extrapolate from")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of our Kneser-Ney fit + score")


STAR = ("score_s", "score_tok_s", "total_tok_s", "perplexity")  # the cells NLTK KN extrapolates


@benchmark(
    "ngram", title="n-gram models: tinylm vs plain Python Counter vs NLTK", chapter=1,
    packages=("numpy", "numba", "nltk"), options=add_options, repeats=5,
    columns=[("smoothing", "smoothing", "text"), ("impl", "implementation", "text"),
             ("fit_s", "fit s", "seconds"), ("score_s", "score s", "seconds"),
             ("fit_tok_s", "fit tok/s", "rate"), ("score_tok_s", "score tok/s", "rate"),
             ("total_tok_s", "fit+score tok/s", "rate"), ("perplexity", "perplexity", "float"),
             ("repeats", "repeats", "int")],
    tables={"speed-up": (
        f"Speed-up of tinylm, as a ratio of tokens/s (goal: at least {GOAL}x NLTK on fit+score):",
        [("smoothing", "smoothing", "text"),
         ("vs_NLTK_total", "vs NLTK fit+score", "ratio"), ("vs_NLTK_fit", "vs NLTK fit", "ratio"),
         ("vs_NLTK_score", "vs NLTK score", "ratio"),
         ("vs_Counter_total", "vs Counter fit+score", "ratio"),
         ("vs_Counter_fit", "vs Counter fit", "ratio"),
         ("vs_Counter_score", "vs Counter score", "ratio"), ("goal_met", "goal met", "yesno")])},
)
def run(args):
    """For each smoothing (`mle`, `add_k`, `kneser_ney`), three implementations fit a model of
    order `--order` (3 by default) on the training sentences of `tinylm.data.wiki_sentences`
    and score the test sentences, on the same padded sentences and the same n-grams: *tinylm*
    (`tinylm.ngram.NGramLM`; its Numba kernels are compiled beforehand, untimed), *Counter* (the
    plain Python way: one `collections.Counter` of tuples per n-gram length, context totals in
    dicts, the same formulas) and *NLTK* (`nltk.lm.MLE`, `Lidstone`, `KneserNeyInterpolated`).

    fit = sentences to a ready model (vocabulary, padding, all 1..n-gram counts, context totals;
    continuation counts for Kneser-Ney); score = perplexity of the test sentences. A token is a
    word or the `</s>` ending a sentence; fit+score tokens/s = (train tokens + test tokens) /
    (fit s + score s). Times come from `time.perf_counter`, the best of the repeats shown (the
    Counter baseline gets half as many); NLTK runs once. The perplexity column doubles as a
    check: the three agree wherever they compute the same quantity.
    """
    train = data.wiki_sentences("train")
    test = data.wiki_sentences("test")
    if args.quick:
        train, test = head(train, 50_000), head(test, 5_000)
    n_train, n_test = n_tokens(train), n_tokens(test)
    print(f"Wikipedia sample (tinylm.data.wiki_sentences), order {args.order}: "
          f"{n_train:,} train tokens in {len(train):,} sentences, "
          f"{n_test:,} test tokens in {len(test):,} sentences "
          "(tokens = words + one </s> per sentence)")
    if not args.quick and n_train < 500_000:
        raise SystemExit(f"the training split has only {n_train:,} tokens; need >= 500,000")

    warm_up(args.order, args.k, args.discount)
    reps_ours, reps_counter = args.repeats, max(1, args.repeats // 2)
    kn_budget = 3.0 if args.quick else args.kn_budget
    test_ngrams = nltk_test_ngrams(test, args.order)
    assert len(test_ngrams) == n_test

    kw = {"k": args.k, "discount": args.discount}
    rows = []
    steps = [(sm, impl) for sm in SMOOTHINGS for impl in IMPLS]
    bar = tqdm(steps, desc="benchmark", unit="step")
    for sm, impl in bar:
        bar.set_postfix_str(f"{impl} {sm}")
        row = {"smoothing": sm, "impl": impl, "repeats": 1, "score_tokens": n_test,
               "score_extrapolated": False}
        if impl == "tinylm":
            fit_s, lm = best_of(reps_ours, lambda sm=sm: NGramLM(args.order, sm, **kw).fit(train))
            score_s, ppl = best_of(reps_ours, lambda lm=lm: lm.perplexity(test))
            assert lm.n_train_tokens == n_train
            row.update(repeats=reps_ours)
        elif impl == "Counter":
            fit_s, lm = best_of(reps_counter,
                                lambda sm=sm: CounterLM(args.order, sm, **kw).fit(train))
            score_s, ppl = best_of(reps_counter, lambda lm=lm: lm.perplexity(test))
            row.update(repeats=reps_counter)
        else:
            fit_s, lm = best_of(1, lambda sm=sm: nltk_fit(sm, train, args.order, **kw))
            if sm == "kneser_ney":
                per_token, n_scored, ppl = nltk_score_sampled(lm, test_ngrams, kn_budget)
                score_s = per_token * n_test
                row.update(score_tokens=n_scored, score_extrapolated=True)
            else:
                score_s, ppl = best_of(1, lambda lm=lm: lm.perplexity(test_ngrams))
        del lm
        row.update(fit_s=fit_s, score_s=score_s, perplexity=ppl,
                   fit_tok_s=n_train / fit_s, score_tok_s=n_test / score_s,
                   total_tok_s=(n_train + n_test) / (fit_s + score_s))
        rows.append(row)
    bar.close()
    if args.profile:
        print(profile_ours(train, test, args))

    facts = {"order": args.order, "k": args.k, "discount": args.discount,
             "train_tokens": n_train, "train_sentences": len(train), "test_tokens": n_test,
             "test_sentences": len(test), "nltk_kn_budget_s": kn_budget, "goal_vs_nltk": GOAL}
    return summarize(rows, facts)


def summarize(rows, facts):
    """The speed-up table and the notes, from the measured rows and the facts of the run."""
    by = {(r["smoothing"], r["impl"]): r for r in rows}
    ratios = []
    for sm in SMOOTHINGS:
        ours, nltk = by[sm, "tinylm"], by[sm, "NLTK"]
        entry = {"smoothing": sm}
        for other in ("NLTK", "Counter"):
            for part in ("total", "fit", "score"):
                entry[f"vs_{other}_{part}"] = ours[f"{part}_tok_s"] / by[sm, other][f"{part}_tok_s"]
        entry["goal_met"] = bool(entry["vs_NLTK_total"] >= facts["goal_vs_nltk"])
        if nltk["score_extrapolated"]:
            entry["_marks"] = {"vs_NLTK_total": "*", "vs_NLTK_score": "*"}
        ratios.append(entry)
    for row in rows:
        if row["score_extrapolated"]:
            row["_marks"] = dict.fromkeys(STAR, "*")

    f = facts
    notes = [f"Data: `tinylm.data.wiki_sentences`, order {f['order']}: {f['train_tokens']:,} "
             f"train tokens ({f['train_sentences']:,} sentences), {f['test_tokens']:,} test "
             f"tokens ({f['test_sentences']:,} sentences). add_k uses k = {f['k']}, Kneser-Ney "
             f"discount {f['discount']}."]
    sampled = [row for row in rows if row["score_extrapolated"]]
    if sampled:
        notes.append(
            "\\* NLTK's KneserNeyInterpolated rescans its count tables on every `score` call: it "
            f"was timed on a random sample of {sampled[0]['score_tokens']:,} of the "
            f"{f['test_tokens']:,} test tokens (a {f['nltk_kn_budget_s']:g} s budget) and its "
            "score time for the whole test set extrapolated from that sample; its perplexity is "
            "that of the sample. Stock NLTK Kneser-Ney gives a word never seen in training "
            "probability zero (hence inf); ours interpolates down to 1/|V| (see "
            "tests/test_ngram_nltk.py).")
    met = sum(q["goal_met"] for q in ratios)
    notes.append(f"Goal (tinylm at least {f['goal_vs_nltk']}x NLTK's fit+score tokens/s): met for "
                 f"{met} of {len(ratios)} smoothings.")
    return Rows(rows, notes=notes, facts=facts, tables={"speed-up": ratios})


def profile_ours(train, test, args):
    """cProfile of one Kneser-Ney fit + perplexity of ours: where does the time go?"""
    prof = cProfile.Profile()
    prof.enable()
    NGramLM(args.order, "kneser_ney", discount=args.discount).fit(train).perplexity(test)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    return "cProfile of tinylm kneser_ney fit + perplexity (sorted by own time):\n" + buf.getvalue()


if __name__ == "__main__":
    main(run)
