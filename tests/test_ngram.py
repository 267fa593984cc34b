"""NGramLM: small cases worked by hand, invariants on random corpora, and clear errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.ngram import NGramFeatures, NGramLM, byte_ngrams, char_ngrams, ngrams

TOY = [["a", "b"], ["a", "c"]]  # vocabulary: <unk> <s> </s> a b c -> |V| = 6


# -- sliding windows ------------------------------------------------------------------------

def test_windows_by_hand():
    assert ngrams(["the", "cat", "sat"], 2) == [("the", "cat"), ("cat", "sat")]
    assert ngrams("ab", 3) == []
    assert char_ngrams("hello", 3) == ["hel", "ell", "llo"]
    # one CJK character is three UTF-8 bytes: two byte-bigrams inside it
    assert byte_ngrams("中", 2) == [b"\xe4\xb8", b"\xb8\xad"]
    assert byte_ngrams(b"abc", 1) == [b"a", b"b", b"c"]
    with pytest.raises(ValueError, match="n must be >= 1"):
        ngrams("abc", 0)


# -- the three estimators on a corpus small enough to count by hand -------------------------

def test_mle_by_hand():
    lm = NGramLM(2, "mle").fit(TOY)
    assert lm.prob("a", []) == pytest.approx(2 / 6)  # unigrams: a a b c </s> </s>
    assert lm.prob("b", ["a"]) == pytest.approx(1 / 2)
    assert lm.prob("a", ["<s>"]) == pytest.approx(1.0)
    assert lm.prob("b", ["b"]) == 0.0
    assert lm.logprob("b", ["b"]) == -math.inf
    assert lm.prob("a", ["never-seen"]) == 0.0  # MLE has nothing to say about unseen contexts


def test_add_k_by_hand():
    lm = NGramLM(2, "add_k", k=0.5).fit(TOY)
    assert lm.prob("b", ["a"]) == pytest.approx((1 + 0.5) / (2 + 0.5 * 6))
    assert lm.prob("zebra", ["a"]) == pytest.approx(0.5 / (2 + 0.5 * 6))  # read as <unk>
    assert lm.prob("b", ["unseen"]) == pytest.approx(1 / 6)  # nothing known: uniform


def test_kneser_ney_by_hand():
    # Continuation counts N1+(. w): a<-{<s>}, b<-{a}, c<-{a}, </s><-{b, c}: total 5, 4 types.
    # Unigram level, d = 0.5: P(w) = (max(N1+(.w) - d, 0) + d * 4 / |V|) / 5
    lm = NGramLM(2, "kneser_ney", discount=0.5).fit(TOY)
    p_b = (0.5 + 0.5 * 4 / 6) / 5
    p_eos = (1.5 + 0.5 * 4 / 6) / 5
    p_unk = (0.5 * 4 / 6) / 5
    assert lm.prob("b", []) == pytest.approx(p_b)
    assert lm.prob("</s>", []) == pytest.approx(p_eos)
    assert lm.prob("zebra", []) == pytest.approx(p_unk)
    # Bigram level, context "a": count 2, two types -> P(w|a) = (max(c-d,0) + d*2*P(w)) / 2
    assert lm.prob("b", ["a"]) == pytest.approx((0.5 + 0.5 * 2 * p_b) / 2)
    assert lm.prob("</s>", ["a"]) == pytest.approx((0.5 * 2 * p_eos) / 2)
    # an unseen context passes the unigram estimate through
    assert lm.prob("b", ["zebra"]) == pytest.approx(p_b)


def test_only_last_order_minus_one_tokens_of_context_matter():
    lm = NGramLM(2, "add_k").fit(TOY)
    assert lm.prob("b", ["x", "y", "a"]) == lm.prob("b", ["a"])


# -- invariants on random corpora -----------------------------------------------------------

words = st.sampled_from(list("abcde"))
corpora = st.lists(st.lists(words, min_size=0, max_size=8), min_size=1, max_size=12)
contexts = st.lists(st.sampled_from(list("abcdez") + ["<s>"]), max_size=4)


@settings(max_examples=60, deadline=None)
@given(corpus=corpora, order=st.integers(1, 4), context=contexts,
       smoothing=st.sampled_from(["add_k", "kneser_ney"]),
       k=st.floats(0.01, 3), d=st.floats(0.05, 1.0))
def test_smoothed_distributions_sum_to_one_for_every_context(corpus, order, context, smoothing,
                                                             k, d):
    lm = NGramLM(order, smoothing, k=k, discount=d).fit(corpus)
    p = lm.distribution(context)
    assert p.shape == (len(lm.vocab),)
    assert np.all(p > 0), "smoothing must leave no token with probability zero"
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert lm.prob("never-seen-word", context) > 0


@settings(max_examples=40, deadline=None)
@given(corpus=corpora, order=st.integers(1, 4), context=contexts)
def test_mle_sums_to_one_on_seen_contexts_and_zero_elsewhere(corpus, order, context):
    lm = NGramLM(order, "mle").fit(corpus)
    total = lm.distribution(context).sum()
    assert total == pytest.approx(1.0) or total == 0.0


@settings(max_examples=30, deadline=None)
@given(corpus=corpora, order=st.integers(1, 4),
       smoothing=st.sampled_from(["add_k", "kneser_ney"]))
def test_perplexity_is_the_chain_rule_of_single_probabilities(corpus, order, smoothing):
    lm = NGramLM(order, smoothing).fit(corpus)
    test = [["a", "b", "zebra"], ["e"]]
    logps = []
    for sent in test:
        padded = ["<s>"] * (order - 1) + sent + ["</s>"]
        for i in range(order - 1, len(padded)):
            logps.append(lm.logprob(padded[i], padded[i - order + 1 : i] if order > 1 else []))
    assert lm.perplexity(test) == pytest.approx(math.exp(-sum(logps) / len(logps)))
    assert lm.sentence_logprob(test[0]) == pytest.approx(sum(logps[: len(test[0]) + 1]))
    assert lm.sentence_logprobs(test) == pytest.approx(
        [sum(logps[: len(test[0]) + 1]), sum(logps[len(test[0]) + 1 :])])


def test_more_context_lowers_perplexity_on_training_text():
    corpus = [list("the cat sat on the mat".replace(" ", ""))] * 3
    ppl = [NGramLM(n, "kneser_ney").fit(corpus).perplexity(corpus) for n in (1, 2, 3)]
    assert ppl[0] > ppl[1] > ppl[2]


def test_generate_is_reproducible_and_never_emits_markers():
    lm = NGramLM(3, "kneser_ney").fit(TOY * 5)
    a = lm.generate(30, seed=7)
    assert a == lm.generate(30, seed=7)
    assert len(a) <= 30 and "<s>" not in a and "</s>" not in a
    samples = {tuple(lm.generate(5, seed=s)) for s in range(30)}
    assert len(samples) > 1, "different seeds should give different samples"
    assert NGramLM(2, "mle").fit(TOY).generate(5, context=["a"], seed=0) in (["b"], ["c"])


# -- clear errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(order=0), "order must be"),
    (dict(smoothing="katz"), "smoothing must be one of"),
    (dict(smoothing="add_k", k=0), "add_k needs k > 0"),
    (dict(smoothing="kneser_ney", discount=1.5), "0 < discount <= 1"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NGramLM(**kwargs)


def test_bad_input():
    with pytest.raises(TypeError, match="a sentence must be a list of tokens"):
        NGramLM(2).fit(["the cat sat"])
    with pytest.raises(TypeError, match="tokens must be str"):
        NGramLM(2).fit([["the", 3]])
    with pytest.raises(ValueError, match="no sentences"):
        NGramLM(2).fit([])
    with pytest.raises(ValueError, match="reserved marker"):
        NGramLM(2).fit([["<s>", "a"]])
    with pytest.raises(RuntimeError, match="not fitted"):
        NGramLM(2).prob("a", [])
    with pytest.raises(TypeError, match="context must be a sequence of tokens"):
        NGramLM(2).fit(TOY).prob("b", "a")


def test_to_arpa_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="Kneser-Ney models only"):
        NGramLM(2, "add_k").fit(TOY).to_arpa(tmp_path / "m.arpa")
    with pytest.raises(ValueError, match="separates words by whitespace"):
        NGramLM(2).fit([["a b", "c"]]).to_arpa(tmp_path / "m.arpa")
    assert not (tmp_path / "m.arpa").exists()


# -- the gram list as a feature space -------------------------------------------------------

def test_ngram_features_threshold_and_counts():
    texts = ["abab", "abba", "cdcd"]
    feats = NGramFeatures(n=2, level="char", min_count=2).fit(texts)
    # bigram counts: ab 3, ba 2, bb 1, cd 2, dc 1 -> kept (>= 2): ab, ba, cd
    assert sorted(feats.grams) == ["ab", "ba", "cd"]
    X = feats.transform(["abab"])
    assert X[0, feats.grams.index("ab")] == 2 and X[0, feats.grams.index("cd")] == 0
    words = NGramFeatures(n=1, level="word", min_count=1).fit(["to be or not to be"])
    assert words.grams[:2] == [("to",), ("be",)]
    with pytest.raises(ValueError, match="min_count=9"):
        NGramFeatures(n=2, min_count=9).fit(texts)


def test_context_counts_are_the_raw_counts():
    lm = NGramLM(2, "mle").fit(TOY)
    counts = lm.context_counts(["a"])
    assert counts[lm.index["b"]] == 1 and counts[lm.index["c"]] == 1 and counts.sum() == 2
    assert lm.context_counts([])[lm.index["</s>"]] == 2
