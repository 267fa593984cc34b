"""NGramLM against NLTK's nltk.lm on the same n-grams of the same real text.

Both libraries are fed the same padded sentences: ``order - 1`` markers <s> in front, one </s>
at the end, and the n-grams that *predict* a token (those ending on a word or </s>, never on
a <s> marker). NLTK's own padding adds ``order - 1`` </s> at the end too; we give it ours.

Deliberate difference, Kneser-Ney only: NLTK ends its recursion with the continuation unigram
N1+(. w) / N1+(. .), which gives every word never seen in training probability zero. We
interpolate one level further, with the uniform distribution, as Chen and Goodman (1998, eq. 26)
do: P(w) = (max(N1+(. w) - d, 0) + d * N1+(. .types) / |V|) / N1+(. .). The Kneser-Ney test
gives NLTK exactly that base case (a three-line subclass below) and everything else, the
discounting, continuation counts and interpolation weights, comes from NLTK unchanged.
"""

import functools
import math

import numpy as np
import pytest
from nltk.lm import MLE, KneserNeyInterpolated, Lidstone, Vocabulary
from nltk.lm.smoothing import KneserNey
from nltk.util import ngrams

from tinylm import data
from tinylm.ngram import NGramLM


@pytest.fixture(scope="module")
def corpus():
    sents = data.lee_sentences()
    return sents[:400], sents[400:460]  # train, test (NLTK's Kneser-Ney is slow: keep it small)


def nltk_training_ngrams(sentences, order):
    out = []
    for sent in sentences:
        padded = ["<s>"] * (order - 1) + list(sent) + ["</s>"]
        for k in range(1, order + 1):
            out += [g for g in ngrams(padded, k) if g[-1] != "<s>"]
    return out


def fit_nltk(cls, sentences, order, *args, **kwargs):
    """An nltk.lm model of class ``cls`` fitted on our n-grams, with our vocabulary."""
    tokens = [t for s in sentences for t in s] + ["<s>", "</s>"]
    vocab = Vocabulary(tokens, unk_label="<unk>")
    model = cls(*args, order=order, vocabulary=vocab, **kwargs)
    model.fit([nltk_training_ngrams(sentences, order)])
    return model


def queries(train, test, order, n=150, seed=0):
    """(word, context) pairs: real test positions, unknown words and unseen contexts."""
    rng = np.random.default_rng(seed)
    out = []
    for sent in test[:20]:
        padded = ["<s>"] * (order - 1) + sent + ["</s>"]
        out += [(padded[i], tuple(padded[i - order + 1 : i]))
                for i in range(order - 1, len(padded))]
    vocab = sorted({t for s in train for t in s})
    for _ in range(30):  # known word after a random, mostly unseen context
        w, *ctx = rng.choice(vocab, size=order)
        out.append((str(w), tuple(str(c) for c in ctx[: order - 1])))
    out += [("qwertyuiop", ("of", "the")[-(order - 1):]), ("the", ("zzqq",) * (order - 1))]
    idx = rng.choice(len(out), size=min(n, len(out)), replace=False)
    return [out[i] for i in idx]


def test_same_vocabulary(corpus):
    train, _ = corpus
    ours = NGramLM(2, "mle").fit(train)
    theirs = fit_nltk(MLE, train, 2)
    assert len(ours.vocab) == len(theirs.vocab)
    assert set(ours.vocab) == {theirs.vocab.lookup(w) for w in ours.vocab}


@pytest.mark.parametrize("order", [2, 3])
def test_mle_matches_nltk(corpus, order):
    train, test = corpus
    ours = NGramLM(order, "mle").fit(train)
    theirs = fit_nltk(MLE, train, order)
    for word, ctx in queries(train, test, order):
        assert ours.prob(word, ctx) == pytest.approx(theirs.score(word, ctx), rel=1e-12), ctx


@pytest.mark.parametrize("order, k", [(2, 1.0), (3, 0.1), (4, 0.01)])
def test_add_k_matches_nltk_lidstone(corpus, order, k):
    train, test = corpus
    ours = NGramLM(order, "add_k", k=k).fit(train)
    theirs = fit_nltk(Lidstone, train, order, k)
    for word, ctx in queries(train, test, order):
        assert ours.prob(word, ctx) == pytest.approx(theirs.score(word, ctx), rel=1e-12), ctx
    # perplexity: NLTK works in base 2, we in base e; perplexity does not depend on the base
    test_ngrams = [g for s in test for g in ngrams(["<s>"] * (order - 1) + s + ["</s>"], order)]
    assert ours.perplexity(test) == pytest.approx(theirs.perplexity(test_ngrams), rel=1e-9)


class KneserNeyUniformBase(KneserNey):
    """NLTK's Kneser-Ney smoothing with the lowest level interpolated with 1/|V| (see top)."""

    @functools.cached_property
    def _types(self):  # N1+(. .types): how many words follow anything at all
        return len({w for _ctx, after in self.counts[2].items() for w, c in after.items() if c})

    @functools.cache  # noqa: B019 - one estimator per test; NLTK rescans all bigrams per call
    def unigram_score(self, word):
        cont, total = self._continuation_counts(word)
        d = self.discount
        return (max(cont - d, 0) + d * self._types / len(self.vocab)) / total


class NltkKneserNey(KneserNeyInterpolated):
    """NLTK's interpolated Kneser-Ney model, using the estimator above."""

    def __init__(self, order, discount=0.1, **kwargs):
        super().__init__(order, discount=discount, **kwargs)
        self.estimator = KneserNeyUniformBase(self.vocab, self.counts, order, discount=discount)


@pytest.mark.parametrize("order, discount", [(2, 0.75), (3, 0.75), (3, 0.1)])
def test_kneser_ney_matches_nltk(corpus, order, discount):
    train, test = corpus
    ours = NGramLM(order, "kneser_ney", discount=discount).fit(train)
    theirs = fit_nltk(NltkKneserNey, train, order, discount=discount)
    for word, ctx in queries(train, test, order):
        assert ours.prob(word, ctx) == pytest.approx(theirs.score(word, ctx), rel=1e-10), ctx


def test_kneser_ney_differs_from_plain_nltk_only_by_the_uniform_base(corpus):
    """Without the base-case change, NLTK gives an unknown word zero; ours does not."""
    train, _ = corpus
    train = train[:100]
    ours = NGramLM(2, "kneser_ney", discount=0.75).fit(train)
    plain = fit_nltk(KneserNeyInterpolated, train, 2, discount=0.75)
    assert plain.score("qwertyuiop", ("the",)) == 0.0
    assert ours.prob("qwertyuiop", ("the",)) > 0.0
    # for a frequent word the two differ by the small uniform share only
    assert ours.prob("the", ("of",)) == pytest.approx(plain.score("the", ("of",)), rel=0.05)
    assert math.isfinite(ours.perplexity(corpus[1]))
