"""Checks of lab 1, n-gram language models (labs/01-ngrams-lab.ipynb).

The references are `tinylm.ngram.NGramLM` and the plain counters of `tinylm.ngram_kernels`; the
outside library is NLTK (`nltk.lm`). Real text is the Lee corpus (`tinylm.data.lee_sentences`):
sentences 0-299 train, 300-349 are held out, as in the lab.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tinylm import data
from tinylm.grading.checks.common import (
    builds_on,
    call,
    check_number,
    expect_error,
    fail,
    is_number,
    numpy_rng,
    passes,
)
from tinylm.ngram import NGramLM
from tinylm.ngram_kernels import continuation_counts_reference, count_ngrams_reference

BOS, EOS, UNK = "<s>", "</s>", "<unk>"

# The worked example of Exercise 1: the counts of TOY = [["a", "b"], ["a", "c"]], by hand
TOY_COUNTS = {
    1: Counter({("a",): 2, ("</s>",): 2, ("b",): 1, ("c",): 1}),
    2: Counter({("<s>", "a"): 2, ("a", "b"): 1, ("b", "</s>"): 1, ("a", "c"): 1,
                ("c", "</s>"): 1}),
    3: Counter({("<s>", "<s>", "a"): 2, ("<s>", "a", "b"): 1, ("a", "b", "</s>"): 1,
                ("<s>", "a", "c"): 1, ("a", "c", "</s>"): 1}),
}
COUNTING_NOTE = ("count_ngrams of Exercise 1 does not give its worked example yet, and your code "
                 "may build on it: make Exercise 1 pass first")


def _toy() -> list[list[str]]:
    return [["a", "b"], ["a", "c"]]


def _lee() -> tuple[list[list[str]], list[list[str]]]:
    lee = data.lee_sentences()
    return lee[:300], lee[300:350]


def counting_works(count_ngrams) -> bool:
    """Does count_ngrams give the worked example of Exercise 1? (Later exercises build on it.)"""
    def toy_counts():
        counts = [count_ngrams(_toy(), n) for n in (1, 2, 3)]
        return all(isinstance(c, Counter) for c in counts) and counts == [
            TOY_COUNTS[1], TOY_COUNTS[2], TOY_COUNTS[3]]

    return passes(toy_counts)


# -- Exercise 1: count_ngrams --------------------------------------------------------------------


def _check_counter(got, call_text: str, n: int) -> None:
    assert isinstance(got, Counter), (
        f"{call_text}: expected a collections.Counter, got {type(got).__name__}; "
        "did you forget `return`, or return a dict or list?")
    for gram in got:
        assert isinstance(gram, tuple) and len(gram) == n, (
            f"{call_text}: keys must be tuples of {n} tokens such as {('a',) * n}, got the key "
            f"{gram!r}")


def _first_difference(expected: Counter, got: Counter) -> str:
    diff = [g for g in {**expected, **got} if expected.get(g, 0) != got.get(g, 0)]
    g = sorted(diff)[0]
    return (f"{len(diff)} n-gram(s) with a wrong count, for example {g}: "
            f"expected {expected.get(g, 0)}, got {got.get(g, 0)}")


def reference_counts(sentences: list[list[str]], n: int) -> Counter:
    """The n-gram counts by tinylm's reference counter (which counts integer ids)."""
    ids, tokens, targets = {}, [], []
    for sentence in sentences:
        padded = [BOS] * (n - 1) + sentence + [EOS]
        start = len(tokens) + n - 1  # the first predicted position
        tokens += [ids.setdefault(t, len(ids)) for t in padded]
        targets += range(start, len(tokens))
    words = list(ids)
    counts = count_ngrams_reference(np.array(tokens), np.array(targets), n)
    return Counter({tuple(words[i] for i in gram): c for gram, c in counts.items()})


def count_ngrams(count_ngrams) -> None:
    """Exercise 1: `count_ngrams(sentences, n)`, the Counter of the padded sentences' n-grams."""
    # 1. The worked example, by hand
    toy = _toy()
    for n, expected in TOY_COUNTS.items():
        what = f"count_ngrams(TOY, {n})"
        got = call(count_ngrams, toy, n, call=what)
        _check_counter(got, what, n)
        assert got == expected, f"{what}: expected {dict(expected)}, got {dict(got)}"
    what = "count_ngrams([[]], 2)"
    got = call(count_ngrams, [[]], 2, call=what)
    _check_counter(got, what, 2)
    assert got == Counter({("<s>", "</s>"): 1}), (
        f"{what} (one empty sentence): expected {{('<s>', '</s>'): 1}}, got {dict(got)}")
    expect_error(ValueError, count_ngrams, toy, 0, call="count_ngrams(TOY, 0)",
                 why="n must be >= 1")

    # 2. Real text, against tinylm's reference counter (tokens as integer ids)
    lee, _ = _lee()
    rng = numpy_rng(0)
    for n in (1, 2, 3, 4):
        sample = [lee[i] for i in sorted(rng.choice(len(lee), size=100, replace=False))]
        what = f"count_ngrams(100 Lee sentences, {n})"
        got, expected = call(count_ngrams, sample, n, call=what), reference_counts(sample, n)
        _check_counter(got, what, n)
        assert sum(got.values()) == sum(expected.values()), (
            f"{what}: expected {sum(expected.values())} n-grams in total (one per word and one "
            f"per </s>), got {sum(got.values())}")
        assert got == expected, f"{what}: {_first_difference(expected, got)}"

    # 3. The MLE read from your counts equals NGramLM's
    lm = NGramLM(order=2, smoothing="mle").fit(lee)
    got = call(count_ngrams, lee, 2, call="count_ngrams(train, 2)")
    totals = Counter()
    for (u, _w), c in got.items():
        totals[u] += c
    for (u, w) in sorted(got)[::40]:
        mine, theirs = got[(u, w)] / totals[u], lm.prob(w, [u])
        assert abs(mine - theirs) < 1e-12, (
            f"MLE P({w!r} | {u!r}) from your bigram counts: expected {theirs:.6f} (NGramLM), "
            f"got {mine:.6f}")


# -- Exercise 2: AddK ----------------------------------------------------------------------------


def _check_prob(got, call_text: str) -> None:
    check_number(got, call_text)
    assert 0 < got <= 1, f"{call_text}: a smoothed probability is in (0, 1], got {got!r}"


def _vocab_of(model, call_text: str):
    vocab = getattr(model, "vocab", None)
    assert vocab is not None, (
        f"{call_text} has no attribute `vocab`: set self.vocab in __init__")
    return vocab


def addk_queries(train, test, order: int, seed: int) -> list[tuple[str, tuple]]:
    """(word, context) pairs: held-out positions, random pairs, unknown words and contexts."""
    rng = numpy_rng(seed)
    pairs = []
    for sentence in test[:15]:
        padded = [BOS] * (order - 1) + sentence + [EOS]
        pairs += [(padded[i], tuple(padded[i - order + 1 : i]))
                  for i in range(order - 1, len(padded))]
    words = sorted({w for s in train for w in s})
    for _ in range(40):
        w, *ctx = rng.choice(words, size=order)
        pairs.append((str(w), tuple(str(c) for c in ctx)))
    pairs += [("qwertyuiop", ("the",) * (order - 1)), ("the", ("qwertyuiop",) * (order - 1)),
              ("</s>", (".",) * (order - 1)), ("<unk>", ("<s>",) * (order - 1))]
    picked = rng.choice(len(pairs), size=min(200, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(picked)]


def nltk_lidstone(train, k: float):
    """NLTK's Lidstone bigram model, fitted on the same n-grams and vocabulary as NGramLM."""
    from nltk.lm import Lidstone, Vocabulary
    from nltk.util import ngrams as nltk_ngrams

    order = 2
    fit_ngrams = [g for s in train for n in (1, 2)
                  for g in nltk_ngrams([BOS] * (order - 1) + s + [EOS], n) if g[-1] != BOS]
    vocab = Vocabulary([w for s in train for w in s] + [BOS, EOS], unk_label=UNK)
    lm = Lidstone(k, order, vocabulary=vocab)
    lm.fit([fit_ngrams])
    return lm


def add_k(AddK, count_ngrams=None) -> None:
    """Exercise 2: the class `AddK(sentences, order, k)`, with `vocab` and `prob(word, context)`.

    `count_ngrams` (Exercise 1) only serves the note a failure gets when Exercise 1 is wrong.
    """
    earlier_ok = count_ngrams is None or counting_works(count_ngrams)
    with builds_on(earlier_ok, COUNTING_NOTE):
        # 1. The worked example, by hand
        what = "AddK(TOY, order=2, k=1.0)"
        toy = call(AddK, _toy(), order=2, k=1.0, call=what)
        toy_vocab = {"a", "b", "c", "<s>", "</s>", "<unk>"}
        vocab = _vocab_of(toy, what)
        is_set = isinstance(vocab, (set, frozenset))
        shown = f"the set {sorted(vocab, key=repr)}" if is_set else f"{vocab!r}"
        assert is_set and vocab == toy_vocab, (
            f"AddK(TOY, 2).vocab: expected the set {sorted(toy_vocab)}, got {shown}")
        for word, context, expected in [("b", ("a",), 0.25), ("a", ("<s>",), 0.375),
                                        ("zebra", ("a",), 0.125), ("a", ("zebra",), 1 / 6)]:
            what = f"AddK(TOY, order=2, k=1).prob({word!r}, {context})"
            got = call(toy.prob, word, context, call=what)
            _check_prob(got, what)
            assert math.isclose(got, expected, rel_tol=1e-12), (
                f"{what}: expected {expected:.6f}, got {got:.6f}")

        # 2. Real text, against NGramLM(order, "add_k", k) on random (word, context) pairs
        train, test = _lee()
        for order, k in [(1, 0.5), (2, 1.0), (2, 0.1), (3, 0.01)]:
            what = f"AddK(train, order={order}, k={k})"
            mine = call(AddK, train, order=order, k=k, call=what)
            lm = NGramLM(order, "add_k", k=k).fit(train)
            assert len(_vocab_of(mine, what)) == len(lm.vocab), (
                f"AddK(train, {order}).vocab: expected {len(lm.vocab)} tokens (the words, <s>, "
                f"</s>, <unk>), got {len(mine.vocab)}")
            for word, context in addk_queries(train, test, order, seed=order):
                what = f"AddK(train, order={order}, k={k}).prob({word!r}, {context})"
                got, expected = call(mine.prob, word, context, call=what), lm.prob(word, context)
                _check_prob(got, what)
                assert math.isclose(got, expected, rel_tol=1e-9), (
                    f"{what}: expected {expected:.8f} (NGramLM), got {got:.8f}")

        # 3. The same numbers as NLTK's Lidstone model, fitted on the same n-grams
        order, k = 2, 0.1
        nltk_lm = nltk_lidstone(train, k)
        mine = call(AddK, train, order=order, k=k, call=f"AddK(train, order={order}, k={k})")
        for word, context in addk_queries(train, test, order, seed=7)[:100]:
            what = f"AddK(train, order=2, k=0.1).prob({word!r}, {context})"
            got, expected = call(mine.prob, word, context, call=what), nltk_lm.score(word, context)
            assert math.isclose(got, expected, rel_tol=1e-9), (
                f"{what}: expected {expected:.8f} (nltk.lm.Lidstone), got {got:.8f}")


# -- Exercise 3: continuation_counts and KneserNeyBigram -----------------------------------------


def _bigrams_of(sentences) -> Counter:
    from nltk.util import ngrams as nltk_ngrams

    return Counter(g for s in sentences for g in nltk_ngrams([BOS] + s + [EOS], 2))


def kneser_ney(continuation_counts, KneserNeyBigram, count_ngrams=None) -> None:
    """Exercise 3: `continuation_counts(bigram_counts)` and the class
    `KneserNeyBigram(sentences, discount)`, with `unigram_prob(word)` and `prob(word, context)`.

    `count_ngrams` (Exercise 1) only serves the note a failure gets when Exercise 1 is wrong.
    """
    earlier_ok = count_ngrams is None or counting_works(count_ngrams)
    with builds_on(earlier_ok, COUNTING_NOTE):
        _check_kneser_ney(continuation_counts, KneserNeyBigram)


def _check_kneser_ney(continuation_counts, KneserNeyBigram) -> None:
    # Part A: continuation counts, by hand and against tinylm's reference
    toy = _toy()
    train, test = _lee()
    for name, bigrams in [("TOY", _bigrams_of(toy)), ("the Lee bigrams", _bigrams_of(train))]:
        what = f"continuation_counts({name})"
        got = call(continuation_counts, bigrams, call=what)
        assert isinstance(got, Counter), (
            f"{what}: expected a collections.Counter, got {type(got).__name__}")
        reference = continuation_counts_reference(bigrams)  # keys are 1-tuples (w,)
        expected = Counter({gram[0]: c for gram, c in reference.items()})
        bad_keys = [w for w in got if not isinstance(w, str)]
        assert not bad_keys, f"{what}: keys must be words (str), got the key {bad_keys[0]!r}"
        wrong = sorted(w for w in {**expected, **got} if expected.get(w, 0) != got.get(w, 0))
        assert not wrong, (
            f"{what}: {len(wrong)} word(s) with a wrong count, for example N1+(. {wrong[0]!r}): "
            f"expected {expected.get(wrong[0], 0)}, got {got.get(wrong[0], 0)}")

    # Part B: the worked example, by hand
    kn = call(KneserNeyBigram, toy, discount=0.5, call="KneserNeyBigram(TOY, discount=0.5)")
    for shown, method, args, expected in [
        ('unigram_prob("a")', "unigram_prob", ("a",), 1 / 6),
        ('unigram_prob("</s>")', "unigram_prob", ("</s>",), 11 / 30),
        ('unigram_prob("<unk>")', "unigram_prob", ("<unk>",), 1 / 15),
        ('prob("b", ("a",))', "prob", ("b", ("a",)), 1 / 3),
        ('prob("a", ("<s>",))', "prob", ("a", ("<s>",)), 19 / 24),
        ('prob("</s>", ("zebra",))', "prob", ("</s>", ("zebra",)), 11 / 30),
    ]:
        what = f"KneserNeyBigram(TOY, discount=0.5).{shown}"
        got = call(getattr(kn, method), *args, call=what)
        check_number(got, what)
        assert math.isclose(got, expected, rel_tol=1e-12), (
            f"{what}: expected {expected:.6f}, got {got:.6f}")

    # Part B: real text, against NGramLM(2, "kneser_ney", discount) on random pairs
    rng = numpy_rng(0)
    words = sorted({w for s in train for w in s})
    pairs = [(s[i], (s[i - 1],)) for s in ([BOS] + t + [EOS] for t in test[:15])
             for i in range(1, len(s))]
    pairs += [(str(w), (str(u),)) for w, u in rng.choice(words, size=(60, 2))]
    pairs += [("qwertyuiop", ("the",)), ("the", ("qwertyuiop",)), ("the", ("</s>",)),
              ("<s>", ("the",)), ("<unk>", ("<s>",))]
    for discount in (0.75, 0.1, 1.0):
        mine = call(KneserNeyBigram, train, discount=discount,
                    call=f"KneserNeyBigram(train, discount={discount})")
        lm = NGramLM(2, "kneser_ney", discount=discount).fit(train)
        some_words = ["the", ".", "</s>", "<s>", "<unk>", "qwertyuiop", *rng.choice(words, 40)]
        for word in map(str, some_words):
            what = f"KneserNeyBigram(train, discount={discount}).unigram_prob({word!r})"
            got, expected = call(mine.unigram_prob, word, call=what), lm.prob(word, ())
            check_number(got, what)
            assert math.isclose(got, expected, rel_tol=1e-9), (
                f"{what}: expected {expected:.8f} (NGramLM), got {got:.8f}")
        for word, context in pairs:
            what = f"KneserNeyBigram(train, discount={discount}).prob({word!r}, {context})"
            got, expected = call(mine.prob, word, context, call=what), lm.prob(word, context)
            check_number(got, what)
            assert math.isclose(got, expected, rel_tol=1e-9), (
                f"{what}: expected {expected:.8f} (NGramLM), got {got:.8f}")

    # Part B: a distribution over the whole vocabulary, for a seen and an unseen context
    mine = call(KneserNeyBigram, train, discount=0.75,
                call="KneserNeyBigram(train, discount=0.75)")
    for context in [("the",), ("qwertyuiop",)]:
        what = f"KneserNeyBigram(train).prob(w, {context})"
        total = math.fsum(call(mine.prob, w, context, call=what) for w in lm.vocab)
        assert abs(total - 1) < 1e-9, (
            f"sum of KneserNeyBigram(train).prob(w, {context}) over the {len(lm.vocab)} words of "
            f"the vocabulary: expected 1, got {total:.10f}")


# -- Exercise 4: perplexity ----------------------------------------------------------------------


def perplexity(perplexity) -> None:
    """Exercise 4: `perplexity(prob_fn, sentences, order)`, by the chain rule."""
    def checked(prob_fn, sentences, order, what):
        got = call(perplexity, prob_fn, sentences, order, call=what)
        assert is_number(got), f"{what}: expected a float, got {type(got).__name__} {got!r}"
        return got

    # 1. By hand: a constant model, and the (word, context) calls the chain rule makes
    got = checked(lambda word, context: 0.1, [["a", "b"], ["c"]], 2, "perplexity(0.1, ...)")
    assert math.isclose(got, 10.0, rel_tol=1e-12), (
        f"perplexity of a model that always says 0.1: expected 10.0, got {got}")
    for order, expected in [
        (2, [("a", ("<s>",)), ("b", ("a",)), ("</s>", ("b",))]),
        (3, [("a", ("<s>", "<s>")), ("b", ("<s>", "a")), ("</s>", ("a", "b"))]),
        (1, [("a", ()), ("b", ()), ("</s>", ())]),
    ]:
        calls = []

        def recording_prob(word, context, calls=calls):
            calls.append((word, tuple(context)))
            return 0.5

        checked(recording_prob, [["a", "b"]], order,
                f"perplexity(prob_fn, [['a', 'b']], {order})")
        assert calls == expected, (
            f"perplexity(prob_fn, [['a', 'b']], order={order}) should call prob_fn(word, "
            f"context) for {expected}, but called it for {calls}")
    expect_error(ValueError, perplexity, lambda word, context: 0.5, [], 2,
                 call="perplexity(prob_fn, [], 2)", why="no sentences")

    # 2. Real text, against NGramLM.perplexity
    train, test = _lee()
    for order, smoothing, options in [(2, "add_k", {"k": 0.1}), (3, "add_k", {"k": 0.01}),
                                      (2, "kneser_ney", {"discount": 0.75})]:
        lm = NGramLM(order, smoothing, **options).fit(train)
        what = f"perplexity(NGramLM({order}, {smoothing!r}).prob, held_out, {order})"
        got, expected = checked(lm.prob, test, order, what), lm.perplexity(test)
        assert math.isclose(got, expected, rel_tol=1e-9), (
            f"{what}: expected {expected:.6f} (NGramLM.perplexity), got {got:.6f}")
    mle = NGramLM(2, "mle").fit(train)
    got = checked(mle.prob, test, 2, "perplexity(NGramLM(2, 'mle').prob, held_out, 2)")
    assert got == math.inf, (
        f"perplexity of an MLE bigram model on held-out text (it meets unseen bigrams): "
        f"expected inf, got {got}")

    # 3. The same number as NLTK's Lidstone model (NLTK works in base 2: the perplexity is the
    #    same)
    from nltk.util import ngrams as nltk_ngrams

    nltk_lm = nltk_lidstone(train, 0.1)
    expected = nltk_lm.perplexity([g for s in test for g in nltk_ngrams([BOS] + s + [EOS], 2)])
    got = checked(lambda w, c: nltk_lm.score(w, c), test, 2,
                  "perplexity(nltk Lidstone.score, held_out, 2)")
    assert math.isclose(got, expected, rel_tol=1e-9), (
        f"perplexity(nltk Lidstone(k=0.1).score, held_out, 2): expected {expected:.6f} "
        f"(nltk's perplexity), got {got:.6f}")


# -- Exercise 5: sample_sentence -----------------------------------------------------------------


def sample_sentence(sample_sentence) -> None:
    """Exercise 5: `sample_sentence(next_distribution, vocab, order, seed, max_tokens)`, the
    same tokens as `NGramLM.generate`, seed for seed."""
    def checked(next_distribution, vocab, order, seed, max_tokens, what):
        got = call(sample_sentence, next_distribution, vocab, order, seed,
                   max_tokens=max_tokens, call=what)
        assert isinstance(got, list) and all(isinstance(t, str) for t in got), (
            f"{what}: expected a list of str, got {type(got).__name__} {got!r}")
        return got

    # 1. By hand
    toy_vocab = ["<s>", "</s>", "a"]
    for dist, max_tokens, expected in [([0.0, 0.0, 1.0], 3, ["a", "a", "a"]),
                                       ([0.5, 0.5, 0.0], 5, []), ([0.0, 0.0, 1.0], 0, [])]:
        what = (f"sample_sentence(always {dist}, {toy_vocab}, 2, seed=0, "
                f"max_tokens={max_tokens})")
        got = checked(lambda context, dist=dist: np.array(dist), toy_vocab, 2, 0, max_tokens,
                      what)
        assert got == expected, f"{what}: expected {expected}, got {got}"

    contexts = []
    checked(lambda context: contexts.append(tuple(context)) or np.array([0.0, 0.0, 1.0]),
            toy_vocab, 3, 0, 3, "sample_sentence(..., order=3)")
    expected = [("<s>", "<s>"), ("<s>", "a"), ("a", "a")]
    assert contexts == expected, (
        f"sample_sentence(..., order=3, max_tokens=3) should ask next_distribution for the "
        f"contexts {expected}, but asked for {contexts}")

    # 2. Real text: the same tokens as NGramLM.generate, seed for seed
    train, _ = _lee()
    for order, smoothing in [(2, "kneser_ney"), (3, "add_k"), (2, "mle")]:
        lm = NGramLM(order, smoothing, k=0.01).fit(train)
        for seed in range(4):
            what = (f"sample_sentence(NGramLM({order}, {smoothing!r}).distribution, lm.vocab, "
                    f"{order}, seed={seed})")
            got = checked(lm.distribution, lm.vocab, order, seed, 20, what)
            expected = lm.generate(20, seed=seed)
            at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                      min(len(expected), len(got)))
            if got != expected:
                fail(f"{what}: expected {expected}, got {got} (they first differ at position "
                     f"{at})")
