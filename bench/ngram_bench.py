"""Benchmark: n-gram counting and scoring, tinylm vs plain Python ``Counter`` vs NLTK ``nltk.lm``.

Run from the repository root:

    .venv/bin/python bench/ngram_bench.py             # full run, writes bench/results/ngram.*
    .venv/bin/python bench/ngram_bench.py --quick     # ~50k tokens, a smoke test, writes nothing
    .venv/bin/python bench/ngram_bench.py --profile   # also print a cProfile of our fit + score

What is timed, for each smoothing (mle, add_k, kneser_ney) and each implementation, on the same
sentences and the same n-grams (``order - 1`` markers <s> in front, one </s> at the end):

- fit:   from the list of tokenised training sentences to a model ready to score (vocabulary,
         padding, counting every 1..order-gram, context totals, continuation counts for KN);
- score: the perplexity of the test sentences (every word and </s> is a scored token).

Tokens are predicted positions: the words plus one </s> per sentence. Then

    fit tokens/s        = train tokens / fit seconds
    score tokens/s      = test tokens / score seconds
    fit+score tokens/s  = (train tokens + test tokens) / (fit seconds + score seconds)

Our Numba kernels are compiled on a tiny corpus first; that warm-up is not timed. Each time is
the best of several repeats where a repeat is cheap (ours, Counter) and a single run for NLTK.
NLTK's KneserNeyInterpolated rescans its n-gram tables on every ``score`` call, so its scoring is
timed on as many test tokens as fit in a time budget and the tokens/s extrapolated; the output
says so.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import time
from collections import Counter

import numpy as np
from benchlib import command_line, fmt_rate, load_average, machine_info, write_results
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








def run(args):
    t_start = time.perf_counter()
    load_at_start = load_average()
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
    reps_ours, reps_counter = (3, 1) if args.quick else (5, 2)
    kn_budget = 3.0 if args.quick else args.kn_budget
    test_ngrams = nltk_test_ngrams(test, args.order)
    assert len(test_ngrams) == n_test

    kw = {"k": args.k, "discount": args.discount}
    rows = []
    steps = [(sm, impl) for sm in SMOOTHINGS for impl in IMPLS]
    bar = tqdm(steps, desc="benchmark", unit="step")
    for sm, impl in bar:
        bar.set_postfix_str(f"{impl} {sm}")
        row = {"smoothing": sm, "impl": impl, "fit_repeats": 1, "score_repeats": 1,
               "score_tokens": n_test, "score_extrapolated": False}
        if impl == "tinylm":
            fit_s, lm = best_of(reps_ours, lambda sm=sm: NGramLM(args.order, sm, **kw).fit(train))
            score_s, ppl = best_of(reps_ours, lambda lm=lm: lm.perplexity(test))
            assert lm.n_train_tokens == n_train
            row.update(fit_repeats=reps_ours, score_repeats=reps_ours)
        elif impl == "Counter":
            fit_s, lm = best_of(reps_counter,
                                lambda sm=sm: CounterLM(args.order, sm, **kw).fit(train))
            score_s, ppl = best_of(reps_counter, lambda lm=lm: lm.perplexity(test))
            row.update(fit_repeats=reps_counter, score_repeats=reps_counter)
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

    by = {(r["smoothing"], r["impl"]): r for r in rows}
    ratios = []
    for sm in SMOOTHINGS:
        ours = by[sm, "tinylm"]
        entry = {"smoothing": sm}
        for other in ("NLTK", "Counter"):
            for part in ("total", "fit", "score"):
                entry[f"vs_{other}_{part}"] = ours[f"{part}_tok_s"] / by[sm, other][f"{part}_tok_s"]
        ratios.append(entry)

    result = {
        "command": command_line(), "quick": args.quick, "order": args.order, "k": args.k,
        "discount": args.discount, "train_tokens": n_train, "train_sentences": len(train),
        "test_tokens": n_test, "test_sentences": len(test), "nltk_kn_budget_s": kn_budget,
        "goal_vs_nltk": GOAL, "machine": machine_info("numpy", "numba", "nltk"), "rows": rows,
        "ratios": ratios,
        "wall_s": time.perf_counter() - t_start, "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": load_average(),
    }
    text = markdown(result)
    print()
    print(text)
    if args.profile:
        print(profile_ours(train, test, args))
    if not args.quick:
        write_results("ngram", result, text)
    return result



def fmt_s(x):
    return f"{x:.3g}"


def markdown(r):
    m = r["machine"]
    out = [
        f"# N-gram benchmark: tinylm vs plain Python Counter vs NLTK (order {r['order']})",
        "",
        f"Command: `{r['command']}`" + (" (quick smoke test)" if r["quick"] else ""),
        "",
        f"Data: `tinylm.data.wiki_sentences`: {r['train_tokens']:,} train tokens "
        f"({r['train_sentences']:,} sentences), {r['test_tokens']:,} test tokens "
        f"({r['test_sentences']:,} sentences); a token is a word or the </s> ending a sentence. "
        f"add_k uses k = {r['k']}, Kneser-Ney discount {r['discount']}.",
        "",
        f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, {m['platform']}; Python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}, nltk {m['nltk']}. 1-minute load average "
        f"{r['load_average_1min_at_start']} at the start, "
        f"{r['load_average_1min_at_end']} at the end "
        f"(above {m['cpu_count']} means other processes shared the CPUs and times are noisy).",
        "",
        "fit = sentences to a ready model (vocabulary, padding, all 1..n-gram counts, context "
        "totals; continuation counts for Kneser-Ney); score = perplexity of the test sentences. "
        "fit+score tokens/s = (train tokens + test tokens) / (fit s + score s). Times are the "
        "best of the repeats shown (fit/score); NLTK runs once.",
        "",
        "| smoothing | implementation | fit s | score s | fit tok/s | score tok/s "
        "| fit+score tok/s | perplexity | repeats |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in r["rows"]:
        star = "*" if row["score_extrapolated"] else ""
        ppl = row["perplexity"]
        ppl_s = "inf" if math.isinf(ppl) else f"{ppl:.2f}"
        out.append(
            f"| {row['smoothing']} | {row['impl']} | {fmt_s(row['fit_s'])} "
            f"| {fmt_s(row['score_s'])}{star} | {fmt_rate(row['fit_tok_s'])} "
            f"| {fmt_rate(row['score_tok_s'])}{star} | {fmt_rate(row['total_tok_s'])}{star} "
            f"| {ppl_s}{star} | {row['fit_repeats']}/{row['score_repeats']} |")
    kn = [row for row in r["rows"] if row["score_extrapolated"]]
    if kn:
        row = kn[0]
        out += ["", f"\\* NLTK's KneserNeyInterpolated rescans its count tables on every "
                f"`score` call: it was timed on a random sample of {row['score_tokens']:,} of the "
                f"{r['test_tokens']:,} test tokens (a {r['nltk_kn_budget_s']:g} s budget) and its "
                "score time for the whole test set extrapolated from that sample; its perplexity "
                "is that of the sample. Stock NLTK Kneser-Ney gives a word never seen in training "
                "probability zero (hence inf); ours interpolates down to 1/|V| (see "
                "tests/test_ngram_nltk.py)."]
    out += ["", f"Speed-up of tinylm, as a ratio of tokens/s (goal: >= {r['goal_vs_nltk']}x "
            "NLTK on fit+score):", "",
            "| smoothing | vs NLTK fit+score | vs NLTK fit | vs NLTK score "
            "| vs Counter fit+score | vs Counter fit | vs Counter score | goal |",
            "|---|--:|--:|--:|--:|--:|--:|---|"]
    for q in r["ratios"]:
        ok = "met" if q["vs_NLTK_total"] >= r["goal_vs_nltk"] else "NOT met"
        out.append(
            f"| {q['smoothing']} | {q['vs_NLTK_total']:.1f}x | {q['vs_NLTK_fit']:.1f}x "
            f"| {q['vs_NLTK_score']:.1f}x | {q['vs_Counter_total']:.1f}x "
            f"| {q['vs_Counter_fit']:.1f}x | {q['vs_Counter_score']:.1f}x | {ok} |")
    out += ["", f"Total wall time of the run: {r['wall_s']:.0f} s.", ""]
    return "\n".join(out)


def profile_ours(train, test, args):
    """cProfile of one Kneser-Ney fit + perplexity of ours: where does the time go?"""
    prof = cProfile.Profile()
    prof.enable()
    NGramLM(args.order, "kneser_ney", discount=args.discount).fit(train).perplexity(test)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    return "cProfile of tinylm kneser_ney fit + perplexity (sorted by own time):\n" + buf.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="~50k train tokens, a smoke test; writes no results")
    parser.add_argument("--k", type=float, default=0.01, help="add_k / Lidstone k")
    parser.add_argument("--discount", type=float, default=0.75, help="Kneser-Ney discount")
    parser.add_argument("--kn-budget", type=float, default=20.0,
                        help="seconds of NLTK Kneser-Ney scoring to extrapolate from")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of our Kneser-Ney fit + score")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
