"""The checks of lab 2 (tinylm.grading.checks.embeddings) pass a right answer and fail wrong ones
with a message that names the problem. Right answers are built on the package
(`tinylm.embeddings`, `tinylm.word2vec_kernels`)."""

from __future__ import annotations

import numpy as np
import pytest

from tinylm.embeddings import WordVectors, noise_table
from tinylm.embeddings import one_hot as package_one_hot
from tinylm.embeddings import ppmi as package_ppmi
from tinylm.grading.checks import embeddings as checks
from tinylm.word2vec_kernels import sgns_pair_update_reference

# -- right answers, from the package -------------------------------------------------------------


def one_hot(ids, vocab_size):
    return package_one_hot(ids, vocab_size)


def embed(ids, W):
    """A one-hot vector times W selects a row: e_i W = W[i]."""
    return package_one_hot(np.asarray(ids), len(W)) @ np.asarray(W)


def embed_grad(ids, upstream, vocab_size):
    """dL/dW = E^T dL/dY, with E the one-hot rows of the ids."""
    upstream = np.asarray(upstream)
    rows = package_one_hot(np.asarray(ids), vocab_size).reshape(-1, vocab_size)
    return (rows.T @ upstream.reshape(-1, upstream.shape[-1])).astype(upstream.dtype)


def sgns_step(syn0, syn1neg, center, context, negatives, lr):
    sgns_pair_update_reference(syn0, syn1neg, center, context,
                               np.array(negatives, dtype=np.int32), lr)


def noise_distribution(counts, power=0.75):
    table = noise_table(counts, power)
    return np.diff(table, prepend=0) / table[-1]


def analogy_answer(words, vectors, a, b, c):
    return WordVectors(words, vectors).analogy(a, b, c)


def analogy_accuracy(words, vectors, questions):
    return float(checks.reference_accuracy(words, vectors, questions)[0])


def test_right_answers_pass():
    checks.embedding_layer(one_hot, embed, embed_grad)
    checks.ppmi(package_ppmi)
    checks.sgns_step(sgns_step)
    checks.noise_distribution(noise_distribution)
    checks.analogies(analogy_answer, analogy_accuracy)


# -- wrong answers -------------------------------------------------------------------------------


def eye_rows(ids, vocab_size):  # no range check: -1 is read as the last word
    return np.eye(vocab_size, dtype=np.float32)[np.asarray(ids) % vocab_size]


def lost_repeats(ids, upstream, vocab_size):  # G[ids] += upstream drops repeated ids
    upstream, ids = np.asarray(upstream), np.asarray(ids)
    grad = np.zeros((vocab_size, upstream.shape[-1]), dtype=upstream.dtype)
    grad[ids.reshape(-1)] += upstream.reshape(-1, upstream.shape[-1])
    return grad


@pytest.mark.parametrize("layer, message", [
    pytest.param((eye_rows, embed, embed_grad),
                 r"^one_hot\(\[0, 3\], 3\): expected a ValueError \(ids must lie in \[0, 3\)\), "
                 "got none$", id="one_hot-without-range-check"),
    pytest.param((lambda ids, v: one_hot(ids, v).astype(np.float64), embed, embed_grad),
                 r"^one_hot\(\[0, 2, 2\], 3\): expected dtype float32, got float64$",
                 id="one_hot-float64"),
    pytest.param((one_hot, lambda ids, W: W[np.asarray(ids)].T, embed_grad),
                 r"^embed\(\[0, 2, 2\], W\): expected shape \(3, 2\), got \(2, 3\)$",
                 id="embed-transposed"),
    pytest.param((one_hot, embed, lost_repeats),
                 r"^embed_grad\(\[0, 2, 2\], ones\(\(3, 2\)\), 3\): expected \[\[1, 1\], \[0, 0\], "
                 r"\[2, 2\]\] \(word 2 is looked up twice", id="embed_grad-loses-repeats"),
])
def test_embedding_layer_rejects(layer, message):
    with pytest.raises(AssertionError, match=message):
        checks.embedding_layer(*layer)


def naive_ppmi(counts, alpha=0.75):  # nan for a word never counted
    n = np.asarray(counts, dtype=np.float64)
    context = n.sum(axis=0) ** alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(n / n.sum() / (n.sum(axis=1, keepdims=True) / n.sum()
                                    * (context / context.sum())))
    return np.maximum(pmi, 0.0)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda counts, alpha=0.75: package_ppmi(counts, 1.0),
                 r"^ppmi\(\[\[2, 0\], \[1, 1\]\], alpha=0.75\): expected \[\[0.3637, 0.0\], "
                 r"\[0.0, 0.4946\]\], got \[\[0.2877", id="alpha-ignored"),
    pytest.param(naive_ppmi, r"^ppmi\(random 12x20 counts, alpha=0.5\): expected finite values "
                             r"\(0 where the count is 0\), got nan", id="nan-for-zero-rows"),
    pytest.param(lambda counts, alpha=0.75: package_ppmi(counts, alpha).astype(np.float32),
                 r"expected dtype float64, got float32", id="float32"),
])
def test_ppmi_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.ppmi(wrong)


def step_with(syn0, syn1neg, center, context, negatives, lr, skip_context=True, sign=1.0,
              fresh_output=False):
    h = syn0[center].copy()
    grad_h = np.zeros_like(h)
    targets = [(context, 1.0)] + [(n, 0.0) for n in negatives if n != context or not skip_context]
    for t, label in targets:
        x = float(h @ syn1neg[t])
        if abs(x) >= 6.0:
            continue
        g = sign * lr * (label - 1.0 / (1.0 + np.exp(-x)))
        if not fresh_output:
            grad_h += g * syn1neg[t]
        syn1neg[t] += g * h
        if fresh_output:  # uses the output vector after its own update
            grad_h += g * syn1neg[t]
    syn0[center] += grad_h


def returns_new_arrays(syn0, syn1neg, center, context, negatives, lr):
    syn0, syn1neg = syn0.copy(), syn1neg.copy()
    sgns_step(syn0, syn1neg, center, context, negatives, lr)
    return syn0, syn1neg


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda *a: step_with(*a, skip_context=False),
                 r"^sgns_step\(.*negatives=\[1, 2\].*\(a negative equal to the context is "
                 r"skipped\): expected syn1neg", id="context-as-negative"),
    pytest.param(lambda *a: step_with(*a, sign=-1.0),
                 r"negatives=\[2\], lr=0.5\): expected syn1neg \[\[0.0, 0.0\], \[0.25, 0.0\], "
                 r"\[-0.25, 0.0\]\], got \[\[0.0, 0.0\], \[-0.25, 0.0\]",
                 id="wrong-sign"),
    pytest.param(lambda *a: step_with(*a, fresh_output=True),
                 r"expected syn0 unchanged .*\(grad_h uses syn1neg before its update",
                 id="updated-output-vector"),
    pytest.param(returns_new_arrays, r"expected syn0 and syn1neg to be updated in place, but "
                                     "neither changed, and it returned a tuple",
                 id="not-in-place"),
])
def test_sgns_step_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.sgns_step(wrong)


@pytest.mark.parametrize("wrong, message", [
    pytest.param(lambda counts, power=0.75: noise_distribution(counts, 1.0),
                 r"^noise_distribution\(\[1000, 100, 10, 1\], power=0.75\): expected \[0.823, "
                 r".*got \[0.9001", id="power-ignored"),
    pytest.param(lambda counts, power=0.75: np.asarray(counts, dtype=np.float64) ** power,
                 r"probabilities must sum to 1, got 216.07", id="not-normalised"),
    pytest.param(lambda counts, power=0.75: noise_distribution(counts, power)[::-1].copy()
                 if len(counts) > 4 else noise_distribution(counts, power),
                 r"^noise_distribution\(random counts of 5 words, power=0.75\): \d wrong "
                 r"probabilities, for example at index \(0,\)", id="wrong-order"),
])
def test_noise_distribution_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.noise_distribution(wrong)


def keeps_question_words(words, vectors, a, b, c):
    v = np.asarray(vectors, dtype=np.float64)
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    index = {w: i for i, w in enumerate(words)}
    return words[int(np.argmax(unit @ (unit[index[b]] - unit[index[a]] + unit[index[c]])))]


def counts_unknown_as_wrong(words, vectors, questions):
    known = set(words)
    right = sum(all(w in known for w in q) and analogy_answer(words, vectors, *q[:3]) == q[3]
                for q in questions)
    return right / len(questions) if questions else 0.0


@pytest.mark.parametrize("pair, message", [
    pytest.param((keeps_question_words, analogy_accuracy),
                 r"^analogy_answer\(toy words, toy vectors, 'man', 'king', 'woman'\): expected "
                 r"'queen', got 'woman' \(a, b and c must be left out of the candidates\)$",
                 id="question-words-not-left-out"),
    pytest.param((analogy_answer, counts_unknown_as_wrong),
                 r"expected 0.5 \(one right of two asked; the third has unknown words and is "
                 r"skipped\), got 0.333", id="unknown-words-not-skipped"),
])
def test_analogies_rejects(pair, message):
    with pytest.raises(AssertionError, match=message):
        checks.analogies(*pair)
