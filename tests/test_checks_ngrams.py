"""The checks of lab 1 (tinylm.grading.checks.ngrams) pass a right answer and fail wrong ones
with a message that names the problem.

Right answers are built on the package (`tinylm.ngram`); where tinylm has no function of the
lab's signature (perplexity, sample_sentence) they come from the lab's solution notebook.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tinylm.grading.checks import ngrams as checks
from tinylm.grading.markers import parse_graded
from tinylm.ngram import NGramLM, ngrams
from tinylm.ngram_kernels import continuation_counts_reference

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "01-ngrams-lab.ipynb"
BOS, EOS, UNK = "<s>", "</s>", "<unk>"


@functools.cache
def solution() -> dict:
    """The namespace of the solution notebook's set-up and exercise cells."""
    namespace: dict = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.cell_type == "code" and not parse_graded(cell.source) and cell.id != "explore":
            exec(compile(cell.source, f"{SOLUTION.name}:{cell.id}", "exec"), namespace)
    return namespace


# -- right answers, from the package -------------------------------------------------------------


def count_ngrams(sentences, n):
    return Counter(g for s in sentences for g in ngrams([BOS] * (n - 1) + list(s) + [EOS], n))


class AddK:
    def __init__(self, sentences, order, k=1.0):
        self.lm = NGramLM(order, "add_k", k=k).fit(sentences)
        self.vocab = set(self.lm.vocab)

    def prob(self, word, context=()):
        return self.lm.prob(word, context)


def continuation_counts(bigram_counts):
    return Counter({g[0]: c for g, c in continuation_counts_reference(bigram_counts).items()})


class KneserNeyBigram:
    def __init__(self, sentences, discount=0.75):
        self.lm = NGramLM(2, "kneser_ney", discount=discount).fit(sentences)
        self.vocab = set(self.lm.vocab)

    def unigram_prob(self, word):
        return self.lm.prob(word, ())

    def prob(self, word, context):
        return self.lm.prob(word, context)


def test_right_answers_pass():
    checks.count_ngrams(count_ngrams)
    checks.add_k(AddK, count_ngrams)
    checks.kneser_ney(continuation_counts, KneserNeyBigram, count_ngrams)
    checks.perplexity(solution()["perplexity"])
    checks.sample_sentence(solution()["sample_sentence"])


# -- wrong answers -------------------------------------------------------------------------------


def one_start_marker(sentences, n):
    return Counter(g for s in sentences for g in ngrams([BOS] + list(s) + [EOS], n))


def across_sentences(sentences, n):  # pads the corpus once: windows cross sentence boundaries
    flat = [BOS] * (n - 1) + [t for s in sentences for t in [*s, EOS]]
    return Counter(ngrams(flat, n))


def skips_long_sentences(sentences, n):
    return count_ngrams([s for s in sentences if len(s) < 30], n)


@pytest.mark.parametrize("wrong, message", [
    (one_start_marker, r"^count_ngrams\(TOY, 1\): expected \{\('a',\): 2, .*got \{\('<s>',\)"),
    (across_sentences, r"^count_ngrams\(TOY, 2\): expected"),
    (lambda s, n: dict(count_ngrams(s, n)), r"expected a collections.Counter, got dict"),
    (lambda s, n: Counter({" ".join(g): c for g, c in count_ngrams(s, n).items()}) if n > 1
     else count_ngrams(s, n), r"keys must be tuples of 2 tokens .* got the key '<s> a'"),
    (lambda s, n: count_ngrams(s, max(n, 1)),
     r"^count_ngrams\(TOY, 0\): expected a ValueError \(n must be >= 1\), got none$"),
    (skips_long_sentences, r"^count_ngrams\(100 Lee sentences, 1\): expected \d+ n-grams in "
                           r"total .*got \d+"),
], ids=["one-start-marker", "across-sentences", "a-dict", "string-keys", "no-ValueError",
    "skips-long-sentences"])
def test_count_ngrams_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.count_ngrams(wrong)


class AddKWithoutUnk(AddK):
    def __init__(self, sentences, order, k=1.0):
        super().__init__(sentences, order, k)
        self.vocab = self.vocab - {UNK}


class HandAddK(AddK):
    """Add-k written out by hand, for the wrong versions below to change one thing."""

    def __init__(self, sentences, order, k=1.0):
        super().__init__(sentences, order, k)
        self.k, self.counts, self.totals = k, count_ngrams(sentences, order), Counter()
        for gram, c in self.counts.items():
            self.totals[gram[:-1]] += c
        self.size_of_v = len(self.vocab)

    def prob(self, word, context=()):
        word = word if word in self.vocab else UNK
        context = tuple(t if t in self.vocab else UNK for t in context)
        return ((self.counts[(*context, word)] + self.k)
                / (self.totals[context] + self.k * self.size_of_v))


class AddKOnTopOnly(HandAddK):  # adds k to the count but not k |V| to the total
    def prob(self, word, context=()):
        return (self.counts[(*context, word)] + self.k) / max(self.totals[tuple(context)], 1)


class AddKWithoutStart(HandAddK):  # |V| without <s>, which is never predicted
    def __init__(self, sentences, order, k=1.0):
        super().__init__(sentences, order, k)
        self.size_of_v -= 1


@pytest.mark.parametrize("wrong, message", [
    (AddKWithoutUnk, r"^AddK\(TOY, 2\).vocab: expected the set \[.*'<unk>'.*\], got the set"),
    (AddKOnTopOnly, r"^AddK\(TOY, order=2, k=1\).prob\('b', \('a',\)\): expected 0.250000, got "
                    r"1.000000$"),
    (AddKWithoutStart, r"^AddK\(TOY, order=2, k=1\).prob\('b', \('a',\)\): expected 0.250000, "
                       r"got 0.285714$"),
], ids=["vocab-without-unk", "k-on-top-only", "wrong-size-of-V"])
def test_add_k_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.add_k(wrong, count_ngrams)


def test_the_hand_written_add_k_passes():  # so its wrong versions each differ in one thing
    checks.add_k(HandAddK, count_ngrams)


def test_add_k_notes_a_wrong_exercise_1():
    with pytest.raises(AssertionError, match=r"\(note: count_ngrams of Exercise 1 does not give "
                                             "its worked example yet"):
        checks.add_k(AddKOnTopOnly, one_start_marker)


def occurrences(bigram_counts):  # counts every occurrence, not distinct left neighbours
    out = Counter()
    for (_u, w), c in bigram_counts.items():
        out[w] += c
    return out


class KneserNeyWithoutUniform(KneserNeyBigram):  # P1 without the share of the uniform base
    def __init__(self, sentences, discount=0.75):
        super().__init__(sentences, discount)
        self.d = discount
        self.continuation = continuation_counts(count_ngrams(sentences, 2))

    def unigram_prob(self, word):
        total = sum(self.continuation.values())
        return max(self.continuation[word] - self.d, 0) / total


@pytest.mark.parametrize("wrong, message", [
    ((occurrences, KneserNeyBigram), r"^continuation_counts\(TOY\): 1 word\(s\) with a wrong "
                                     r"count, for example N1\+\(. 'a'\): expected 1, got 2$"),
    ((continuation_counts, KneserNeyWithoutUniform),
     r'^KneserNeyBigram\(TOY, discount=0.5\).unigram_prob\("a"\): expected 0.166667, got '
     r"0.100000$"),
], ids=["occurrences-not-neighbours", "no-uniform-share"])
def test_kneser_ney_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.kneser_ney(*wrong, count_ngrams)


def without_end_marker(prob_fn, sentences, order):
    padded = [[BOS] * (order - 1) + list(s) for s in sentences]
    logs = [math.log(prob_fn(p[i], tuple(p[i - order + 1:i])))
            for p in padded for i in range(order - 1, len(p))]
    return math.exp(-sum(logs) / len(logs))


def cross_entropy(prob_fn, sentences, order):  # forgets the exp
    return math.log(solution()["perplexity"](prob_fn, sentences, order))


def log_of_zero(prob_fn, sentences, order):  # math.log(0) raises ValueError for the MLE
    if not sentences:
        raise ValueError("no sentences")
    padded = [[BOS] * (order - 1) + list(s) + [EOS] for s in sentences]
    logs = [math.log(prob_fn(p[i], tuple(p[i - order + 1:i])))
            for p in padded for i in range(order - 1, len(p))]
    return math.exp(-sum(logs) / len(logs))


@pytest.mark.parametrize("wrong, message", [
    (without_end_marker, r"perplexity\(prob_fn, \[\['a', 'b'\]\], order=2\) should call "
                         r"prob_fn\(word, context\) for .*'</s>'.*but called it for"),
    (cross_entropy, r"^perplexity of a model that always says 0.1: expected 10.0, got 2.30"),
    (log_of_zero, r"^perplexity\(NGramLM\(2, 'mle'\).prob, held_out, 2\) raised ValueError: math "
                  r"domain error \(raised in log_of_zero, at line \d+"),
], ids=["no-end-marker", "no-exp", "log-of-zero"])
def test_perplexity_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.perplexity(wrong)


def keeps_start_marker(next_distribution, vocab, order, seed, max_tokens=20):
    rng = np.random.default_rng(seed)
    history, out = [BOS] * (order - 1), []
    for _ in range(max_tokens):
        p = np.array(next_distribution(tuple(history[-(order - 1):])), dtype=float)
        token = vocab[rng.choice(len(vocab), p=p / p.sum())]
        if token == EOS:
            break
        out.append(token)
        history.append(token)
    return out


def new_generator_every_step(next_distribution, vocab, order, seed, max_tokens=20):
    out = []
    for step in range(max_tokens):
        context = tuple([BOS] * (order - 1) + out)[-(order - 1):]
        token = solution()["sample_sentence"](lambda _, context=context: next_distribution(context),
                                              vocab, order, seed + step, max_tokens=1)
        if not token:
            break
        out += token
    return out


@pytest.mark.parametrize("wrong, message", [
    (keeps_start_marker, r"^sample_sentence\(NGramLM\(2, 'kneser_ney'\).distribution, lm.vocab, "
                         r"2, seed=\d\): expected .* \(they first differ at position \d+\)$"),
    (new_generator_every_step, r"^sample_sentence\(NGramLM\(2, 'kneser_ney'\).distribution, "
                               r"lm.vocab, 2, seed=0\): expected .* \(they first differ at "
                               r"position \d+\)$"),
], ids=["start-marker-kept", "new-generator-every-step"])
def test_sample_sentence_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.sample_sentence(wrong)
