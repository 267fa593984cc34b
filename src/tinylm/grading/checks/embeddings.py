"""Checks of lab 2, word embeddings (labs/02-embeddings-lab.ipynb).

The references are `tinylm.embeddings` and `tinylm.word2vec_kernels`; the outside library is
PyTorch (`torch.nn.Embedding` and its autograd). Real text is the Lee corpus
(`tinylm.data.lee_sentences`), real analogy questions Mikolov's (`data.analogy_questions_path`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tinylm import data
from tinylm.embeddings import (
    Word2Vec,
    WordVectors,
    cooccurrence_matrix,
    noise_table,
    ppmi_svd_vectors,
)
from tinylm.embeddings import one_hot as reference_one_hot
from tinylm.embeddings import ppmi as reference_ppmi
from tinylm.grading.checks.common import (
    call,
    check_array,
    compare_arrays,
    expect_error,
    fail,
    numpy_rng,
)
from tinylm.word2vec_kernels import sgns_pair_update_reference

# -- Exercise 1: one_hot, embed, embed_grad ------------------------------------------------------


def embedding_layer(one_hot, embed, embed_grad) -> None:
    """Exercise 1: `one_hot(ids, vocab_size)`, `embed(ids, W)` and
    `embed_grad(ids, upstream, vocab_size)`, against tinylm and torch.nn.Embedding."""
    import torch

    # 1. The worked example, by hand
    W = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    what = "one_hot([0, 2, 2], 3)"
    got = call(one_hot, [0, 2, 2], 3, call=what)
    check_array(got, what, (3, 3), np.float32)
    expected = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    assert np.array_equal(got, expected), (
        f"{what}: expected {expected.tolist()}, got {got.tolist()}")
    what = "embed([0, 2, 2], W)"
    got = call(embed, [0, 2, 2], W, call=what)
    check_array(got, what, (3, 2), np.float32)
    assert np.array_equal(got, W[[0, 2, 2]]), (
        f"{what}: expected {W[[0, 2, 2]].tolist()}, got {got.tolist()}")
    what = "embed_grad([0, 2, 2], ones((3, 2)), 3)"
    got = call(embed_grad, [0, 2, 2], np.ones((3, 2), dtype=np.float32), 3, call=what)
    check_array(got, "embed_grad([0, 2, 2], ones, 3)", (3, 2), np.float32)
    assert np.array_equal(got, [[1, 1], [0, 0], [2, 2]]), (
        f"{what}: expected [[1, 1], [0, 0], [2, 2]] (word 2 is looked up twice, so its row gets "
        f"both gradients), got {got.tolist()}")
    for bad in ([0, 3], [-1, 1]):
        expect_error(ValueError, one_hot, bad, 3, call=f"one_hot({bad}, 3)",
                     why="ids must lie in [0, 3)")

    # 2. one_hot on random ids of several shapes, against tinylm.embeddings.one_hot
    rng = numpy_rng(0)
    for shape, V in [((), 5), ((7,), 4), ((3, 5), 11), ((2, 3, 4), 2)]:
        ids = rng.integers(0, V, size=shape)
        what = f"one_hot(ids of shape {shape}, {V})"
        got, expected = call(one_hot, ids, V, call=what), reference_one_hot(ids, V)
        check_array(got, what, expected.shape, np.float32)
        compare_arrays(got, expected, what, rtol=0, atol=0)

    # 3. embed against torch.nn.Embedding, and against one-hot times W
    V, d = 20, 8
    W = rng.normal(size=(V, d)).astype(np.float32)
    W_before = W.copy()
    layer = torch.nn.Embedding(V, d)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W))
    for shape in [(6,), (4, 6), (2, 3, 5)]:
        ids = rng.integers(0, V, size=shape)
        ids[..., 0] = ids[..., -1]  # at least one repeated id
        what = f"embed(ids of shape {shape}, W of shape {W.shape})"
        got = call(embed, ids, W, call=what)
        expected = layer(torch.from_numpy(ids)).detach().numpy()
        check_array(got, what, expected.shape, np.float32)
        compare_arrays(got, expected, f"{what}, compared with torch.nn.Embedding",
                       rtol=1e-6, atol=1e-7)
        via_one_hot = reference_one_hot(ids, V) @ W
        compare_arrays(got, via_one_hot, f"{what}, compared with one_hot(ids, V) @ W",
                       rtol=1e-5, atol=1e-6)
    assert np.array_equal(W, W_before), "embed(ids, W) changed W: a lookup must leave W as it was"

    # 4. embed_grad against PyTorch's autograd through nn.Embedding
    for shape in [(6,), (4, 6), (3, 40)]:
        ids = rng.integers(0, V, size=shape)
        ids[..., 0] = ids[..., -1]
        upstream = rng.normal(size=shape + (d,)).astype(np.float32)
        layer.weight.grad = None
        out = layer(torch.from_numpy(ids))
        (out * torch.from_numpy(upstream)).sum().backward()
        expected = layer.weight.grad.numpy()
        what = f"embed_grad(ids of shape {shape}, upstream, {V})"
        got = call(embed_grad, ids, upstream, V, call=what)
        check_array(got, what, (V, d), np.float32)
        unseen = sorted(set(range(V)) - set(ids.ravel().tolist()))
        if unseen and np.abs(got[unseen]).max() > 0:
            fail(f"{what}: rows of words not looked up (e.g. word {unseen[0]}) must be 0, got "
                 f"{got[unseen[0]].tolist()}")
        compare_arrays(got, expected, f"{what}, compared with torch autograd", rtol=1e-5,
                       atol=1e-5, hint="is a repeated id getting all of its gradients?")


# -- Exercise 2: ppmi ----------------------------------------------------------------------------


def _checked_ppmi(ppmi, counts, alpha, what):
    before = np.array(counts, copy=True)
    got = call(ppmi, counts, alpha, call=what)
    assert isinstance(got, np.ndarray), (
        f"{what}: expected a NumPy array, got {type(got).__name__}; did you forget `return`?")
    assert got.shape == np.shape(counts), (
        f"{what}: expected shape {np.shape(counts)} (the shape of counts), got {got.shape}")
    assert got.dtype == np.float64, f"{what}: expected dtype float64, got {got.dtype}"
    assert np.array_equal(np.asarray(counts), before), f"{what} changed its input counts"
    bad = np.argwhere(~np.isfinite(got))
    if bad.size:
        fail(f"{what}: expected finite values (0 where the count is 0), got {got[tuple(bad[0])]} "
             f"at index {tuple(int(i) for i in bad[0])}")
    return got


def ppmi(ppmi) -> None:
    """Exercise 2: `ppmi(counts, alpha)`, against tinylm.embeddings.ppmi."""
    def compare(got, expected, what):
        compare_arrays(got, expected, what, rtol=1e-9, atol=1e-12, what="entries")

    # 1. The worked example, by hand
    hand = np.array([[2, 0], [1, 1]])
    for alpha, expected in [(1.0, [[np.log(4 / 3), 0], [0, np.log(2)]]),
                            (0.75, [[0.3637, 0], [0, 0.4946]])]:
        what = f"ppmi([[2, 0], [1, 1]], alpha={alpha})"
        got = _checked_ppmi(ppmi, hand, alpha, what)
        assert np.allclose(got, expected, atol=1e-4), (
            f"{what}: expected {np.round(expected, 4).tolist()}, got {np.round(got, 4).tolist()}")

    # 2. Random count matrices with many zeros, a zero row and a zero column
    rng = numpy_rng(0)
    for trial, (shape, alpha) in enumerate([((5, 5), 1.0), ((8, 6), 0.75), ((12, 20), 0.5),
                                            ((30, 30), 0.75), ((7, 3), 0.9)]):
        counts = rng.poisson(1.0, size=shape) * rng.integers(0, 2, size=shape)
        counts[0, 0] += 1  # never all zero
        if trial >= 2:
            counts[trial % shape[0], :] = 0  # a word never counted
            counts[:, (trial + 1) % shape[1]] = 0  # a context never counted
        what = f"ppmi(random {shape[0]}x{shape[1]} counts, alpha={alpha})"
        with np.errstate(divide="ignore", invalid="ignore"):  # log 0 in the cells it sets to 0
            expected = reference_ppmi(counts, alpha)
        compare(_checked_ppmi(ppmi, counts, alpha, what), expected, what)
        floats = counts.astype(np.float32)  # counts may come as floats too
        compare(_checked_ppmi(ppmi, floats, alpha, what + " as float32"), expected,
                what + " as float32")

    # 3. Real co-occurrence counts: the 300 most frequent words of the Lee corpus
    X, _ = cooccurrence_matrix(data.lee_sentences(), window=2)
    dense = X[:300, :300].toarray()
    for alpha in (1.0, 0.75):
        what = f"ppmi(Lee co-occurrence counts of 300 words, alpha={alpha})"
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = reference_ppmi(dense, alpha)
        compare(_checked_ppmi(ppmi, dense, alpha, what), expected, what)


# -- Exercise 3: sgns_step -----------------------------------------------------------------------


def _run_step(sgns_step, syn0, syn1neg, center, context, negatives, lr, what, must_change=True):
    """Run sgns_step on copies; return the updated copies."""
    a0, a1 = syn0.copy(), syn1neg.copy()
    result = call(sgns_step, a0, a1, center, context, list(negatives), lr, call=what)
    for name, got in (("syn0", a0), ("syn1neg", a1)):
        assert got.dtype == np.float32, f"{what}: {name} must stay float32, got {got.dtype}"
    if must_change and np.array_equal(a0, syn0) and np.array_equal(a1, syn1neg):
        returned = "" if result is None else f", and it returned a {type(result).__name__}"
        fail(f"{what}: expected syn0 and syn1neg to be updated in place, but neither changed"
             f"{returned}; write syn1neg[t] += ..., not syn1neg = ..., and no copies")
    return a0, a1


def _compare_step(sgns_step, syn0, syn1neg, center, context, negatives, lr, what):
    exp0, exp1 = syn0.copy(), syn1neg.copy()
    sgns_pair_update_reference(exp0, exp1, center, context, np.array(negatives, dtype=np.int32),
                               lr)
    moved = not (np.array_equal(exp0, syn0) and np.array_equal(exp1, syn1neg))
    got0, got1 = _run_step(sgns_step, syn0, syn1neg, center, context, negatives, lr, what, moved)
    for name, got, expected in (("syn0", got0, exp0), ("syn1neg", got1, exp1)):
        rows = np.flatnonzero(~np.isclose(got, expected, rtol=1e-5, atol=1e-6).all(axis=1))
        if rows.size:
            r = int(rows[0])
            fail(f"{what}: {name}[{r}] expected {np.round(expected[r], 6).tolist()}, got "
                 f"{np.round(got[r], 6).tolist()}")


def sgns_loss(syn0, syn1neg, center, context, negatives) -> float:
    """The skip-gram negative-sampling loss of one (center, context, negatives) example."""
    h = syn0[center].astype(np.float64)
    log_sigmoid = lambda x: -np.logaddexp(0.0, -x)
    total = -log_sigmoid(h @ syn1neg[context])
    return total - sum(log_sigmoid(-(h @ syn1neg[n])) for n in negatives if n != context)


def sgns_step(sgns_step) -> None:
    """Exercise 3: `sgns_step(syn0, syn1neg, center, context, negatives, lr)`, in place, against
    tinylm's `sgns_pair_update_reference`."""
    # 1. The worked example, by hand
    syn0 = np.zeros((3, 2), dtype=np.float32)
    syn0[0] = [1, 0]
    syn1neg = np.zeros((3, 2), dtype=np.float32)
    for negatives in ([2], [1, 2]):
        what = (f"sgns_step(syn0, zero syn1neg, center=0, context=1, negatives={negatives}, "
                "lr=0.5)")
        if len(negatives) == 2:
            what += " (a negative equal to the context is skipped)"
        got0, got1 = _run_step(sgns_step, syn0, syn1neg, 0, 1, negatives, 0.5, what)
        expected1 = np.array([[0, 0], [0.25, 0], [-0.25, 0]])
        assert np.allclose(got1, expected1), (
            f"{what}: expected syn1neg {expected1.tolist()}, got {got1.tolist()}")
        assert np.allclose(got0, syn0), (
            f"{what}: expected syn0 unchanged {syn0.tolist()} (grad_h uses syn1neg before its "
            f"update, which is zero here), got {got0.tolist()}")

    # 2. Saturated scores, |x| >= 6: no step for that target, the others still move
    for u, x in (([3, 0], 6.0), ([-3, 0], -6.0), ([4, 0], 8.0)):
        syn0 = np.array([[2, 0], [0, 0], [0, 0]], dtype=np.float32)
        syn1neg = np.array([[0, 0], u, [0.1, 0]], dtype=np.float32)
        what = (f"sgns_step with score x = {x} for the context (syn0[0] = [2, 0], "
                f"syn1neg[1] = {u})")
        _, got1 = _run_step(sgns_step, syn0, syn1neg, 0, 1, [2], 0.5, what)
        assert np.array_equal(got1[1], syn1neg[1]), (
            f"{what}: |x| >= 6 means no step for the context, so syn1neg[1] should stay {u}, "
            f"got {got1[1].tolist()}")
        _compare_step(sgns_step, syn0, syn1neg, 0, 1, [2], 0.5, what)
        what = f"sgns_step with score x = {x} for a negative"
        _compare_step(sgns_step, syn0, syn1neg[[0, 2, 1]], 0, 1, [2], 0.5, what)

    # 3. Random examples against tinylm's reference: repeated negatives, a negative equal to the
    #    context or to the centre, the centre as its own context
    rng = numpy_rng(0)
    tested = 0
    for trial in range(60):
        V, d = int(rng.integers(3, 30)), int(rng.integers(1, 24))
        scale = (0.1, 0.5, 1.5)[trial % 3]
        syn0 = rng.normal(scale=scale, size=(V, d)).astype(np.float32)
        syn1neg = rng.normal(scale=scale, size=(V, d)).astype(np.float32)
        center, context = (int(i) for i in rng.integers(0, V, size=2))
        if trial % 10 == 0:
            context = center
        negatives = [int(n) for n in rng.integers(0, V, size=int(rng.integers(1, 8)))]
        if trial % 4 == 0:
            negatives[0] = context
        if trial % 5 == 0:
            negatives.append(negatives[-1])
        lr = float(rng.uniform(0.005, 0.5))
        scores = syn1neg.astype(np.float64) @ syn0[center].astype(np.float64)
        if np.any(np.abs(np.abs(scores) - 6.0) < 1e-3):
            continue  # too close to the cut at 6 for float32 rounding to decide
        tested += 1
        what = (f"sgns_step(random {V}x{d} matrices, center={center}, context={context}, "
                f"negatives={negatives}, lr={lr:.3f}) (random example {trial})")
        _compare_step(sgns_step, syn0, syn1neg, center, context, negatives, lr, what)
    assert tested >= 50, f"internal check: only {tested} random examples tested"

    # 4. A small step lowers the loss
    for _ in range(10):
        V, d = 12, 8
        syn0 = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
        syn1neg = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
        negatives = [int(n) for n in rng.integers(2, V, size=5)]
        before = sgns_loss(syn0, syn1neg, 0, 1, negatives)
        stepped = _run_step(sgns_step, syn0, syn1neg, 0, 1, negatives, 0.05, "sgns_step")
        after = sgns_loss(*stepped, 0, 1, negatives)
        assert after < before, (
            f"sgns_step(random matrices, center=0, context=1, negatives={negatives}, lr=0.05): "
            f"expected the loss to decrease, got {before:.6f} before and {after:.6f} after "
            "(is a sign wrong?)")


# -- Exercise 4: noise_distribution --------------------------------------------------------------


def _table_probabilities(table: np.ndarray) -> np.ndarray:
    """The probabilities held by a cumulative noise table."""
    return np.diff(table, prepend=0) / table[-1]


def _checked_noise(noise_distribution, counts, power, what):
    before = np.array(counts, copy=True)
    got = call(noise_distribution, counts, power, call=what)
    assert isinstance(got, np.ndarray), (
        f"{what}: expected a NumPy array, got {type(got).__name__}; did you forget `return`?")
    assert got.shape == (len(counts),), (
        f"{what}: expected shape ({len(counts)},), one probability per word, got {got.shape}")
    assert got.dtype == np.float64, f"{what}: expected dtype float64, got {got.dtype}"
    assert np.array_equal(np.asarray(counts), before), f"{what} changed its input counts"
    assert abs(got.sum() - 1) < 1e-9, f"{what}: probabilities must sum to 1, got {got.sum()}"
    return got


def noise_distribution(noise_distribution) -> None:
    """Exercise 4: `noise_distribution(counts, power)`, against tinylm's noise table."""
    def compare(got, expected, what):
        compare_arrays(got, expected, what, rtol=0, atol=2e-9, what="probabilities", digits=9)

    # 1. The worked example, by hand, and the two extremes
    counts = [1000, 100, 10, 1]
    for power, expected in [(0.75, [0.8230, 0.1464, 0.0260, 0.0046]),
                            (1.0, [0.9001, 0.0900, 0.0090, 0.0009]), (0.0, [0.25] * 4)]:
        what = f"noise_distribution({counts}, power={power})"
        got = _checked_noise(noise_distribution, counts, power, what)
        assert np.allclose(got, expected, atol=1e-4), (
            f"{what}: expected {expected}, got {np.round(got, 4).tolist()}")

    # 2. Random counts, against tinylm's noise table
    rng = numpy_rng(0)
    for V, power in [(5, 0.75), (50, 0.75), (1000, 0.5), (300, 1.0), (20, -0.5)]:
        counts = rng.zipf(1.5, size=V)
        what = f"noise_distribution(random counts of {V} words, power={power})"
        compare(_checked_noise(noise_distribution, counts, power, what),
                _table_probabilities(noise_table(counts, power)), what)

    # 3. The table a Word2Vec model on the Lee corpus draws its negatives from
    model = Word2Vec(min_count=2, progress=False).build_vocab(data.lee_sentences())
    what = f"noise_distribution(the counts of the {len(model.wv)} words of a Word2Vec model)"
    compare(_checked_noise(noise_distribution, model.wv.counts, 0.75, what),
            _table_probabilities(model.cum_table), what)


# -- Exercise 5: analogy_answer and analogy_accuracy ---------------------------------------------


def clear_questions(words, vectors, questions, margin=1e-4):
    """The questions whose best and second-best 3CosAdd candidates differ by at least margin,
    so that rounding cannot change the answer."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = v / np.where(norms > 0, norms, 1.0)
    index = {w: i for i, w in enumerate(words)}
    kept = []
    for q in questions:
        if not all(w in index for w in q):
            kept.append(q)  # skipped anyway
            continue
        ia, ib, ic = (index[w] for w in q[:3])
        scores = unit @ (unit[ib] - unit[ia] + unit[ic])
        scores[[ia, ib, ic]] = -np.inf
        top2 = np.sort(scores)[-2:]
        if top2[1] - top2[0] >= margin:
            kept.append(q)
    return kept


def reference_accuracy(words, vectors, questions) -> tuple[float, int]:
    """gensim's evaluation as tinylm implements it, on the questions written to a file: the
    accuracy and the number of questions asked."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "questions.txt"
        path.write_text(": lab\n" + "".join(" ".join(q) + "\n" for q in questions))
        accuracy, sections = WordVectors(words, vectors).evaluate_word_analogies(path)
    return accuracy, len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])


def analogies(analogy_answer, analogy_accuracy) -> None:
    """Exercise 5: `analogy_answer(words, vectors, a, b, c)` (3CosAdd) and
    `analogy_accuracy(words, vectors, questions)`, against tinylm's WordVectors (gensim's
    evaluate_word_analogies)."""
    def checked_answer(words, vectors, a, b, c, what):
        got = call(analogy_answer, words, vectors, a, b, c, call=what)
        assert isinstance(got, str), (
            f"{what}: expected a str (a word), got {type(got).__name__} {got!r}")
        assert got in words, f"{what}: expected a word of the vocabulary, got {got!r}"
        return got

    def checked_accuracy(words, vectors, questions, what):
        got = call(analogy_accuracy, words, vectors, questions, call=what)
        assert isinstance(got, (float, np.floating)), (
            f"{what}: expected a float (an accuracy), got {type(got).__name__} {got!r}")
        assert 0.0 <= got <= 1.0, f"{what}: an accuracy lies in [0, 1], got {got}"
        return got

    # 1. The worked example, by hand
    toy_words = ["man", "woman", "king", "queen", "crown"]
    toy_vectors = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 3], [0, 0, 1]],
                           dtype=np.float32)
    what = "analogy_answer(toy words, toy vectors, 'man', 'king', 'woman')"
    got = checked_answer(toy_words, toy_vectors, "man", "king", "woman", what)
    assert got == "queen", (
        f"{what}: expected 'queen', got {got!r}"
        + (" (a, b and c must be left out of the candidates)" if got == "woman" else ""))
    toy_questions = [("man", "king", "woman", "queen"), ("man", "king", "woman", "crown"),
                     ("man", "king", "boy", "prince")]
    what = f"analogy_accuracy(toy words, toy vectors, {toy_questions})"
    got = checked_accuracy(toy_words, toy_vectors, toy_questions, what)
    assert abs(got - 0.5) < 1e-12, (
        f"{what}: expected 0.5 (one right of two asked; the third has unknown words and is "
        f"skipped), got {got}")
    what = "analogy_accuracy(toy words, toy vectors, [('man', 'king', 'boy', 'prince')])"
    got = checked_accuracy(toy_words, toy_vectors, [("man", "king", "boy", "prince")], what)
    assert got == 0.0, f"{what}: expected 0.0 (every question skipped), got {got}"

    # 2. Planted analogies in random vectors: half the questions have the 3CosAdd answer as d
    rng = numpy_rng(0)
    for trial in range(3):
        V, d = 60, 12
        words = [f"w{i}" for i in range(V)]
        vectors = rng.normal(size=(V, d)).astype(np.float32)
        vectors[5] = 0.0  # a zero vector stays zero
        questions = []
        for _ in range(60):
            a, b, c = (str(w) for w in rng.choice(words, size=3, replace=False))
            right = WordVectors(words, vectors).analogy(a, b, c)
            d_word = right if rng.random() < 0.5 else str(rng.choice(words))
            questions.append((a, b, c, d_word))
        questions += [("w1", "w2", "w3", "unknown"), ("nope", "w2", "w3", "w4")]
        questions = clear_questions(words, vectors, questions)
        for a, b, c, _ in questions[:20]:
            if "nope" in (a, b, c):
                continue
            what = f"analogy_answer(random vectors {trial}, {a!r}, {b!r}, {c!r})"
            expected = WordVectors(words, vectors).analogy(a, b, c)
            got = checked_answer(words, vectors, a, b, c, what)
            assert got == expected, (
                f"{what}: expected {expected!r} (WordVectors.analogy), got {got!r}")
        what = f"analogy_accuracy(random vectors {trial}, {len(questions)} questions)"
        expected, asked = reference_accuracy(words, vectors, questions)
        got = checked_accuracy(words, vectors, questions, what)
        assert abs(got - expected) < 1e-12, (
            f"{what}: expected {expected:.6f} ({round(expected * asked)} right of {asked} asked;"
            f" questions with an unknown word are skipped), got {got:.6f}")

    # 3. Real vectors: PPMI-SVD on the Lee corpus, on Mikolov's questions (most have unknown
    #    words)
    wv = ppmi_svd_vectors(data.lee_sentences(), dim=50, window=2, min_count=3)
    with open(data.analogy_questions_path(), encoding="utf8") as f:
        all_questions = [tuple(line.lower().split()) for line in f if not line.startswith(":")]
    questions = clear_questions(wv.index_to_key, wv.vectors, all_questions)
    what = f"analogy_accuracy(Lee PPMI-SVD vectors, {len(questions)} of Mikolov's questions)"
    expected, asked = reference_accuracy(wv.index_to_key, wv.vectors, questions)
    got = checked_accuracy(wv.index_to_key, wv.vectors, questions, what)
    assert abs(got - expected) < 1e-12, (
        f"{what}: expected {expected:.6f} ({round(expected * asked)} right of the {asked} "
        f"questions whose four words are known; gensim's evaluate_word_analogies), got "
        f"{got:.6f}")
    frequent = wv.index_to_key[:300]
    triples = [tuple(str(w) for w in rng.choice(frequent, size=3, replace=False))
               for _ in range(40)]
    for a, b, c in [q[:3] for q in clear_questions(wv.index_to_key, wv.vectors,
                                                     [t + (t[0],) for t in triples])]:
        what = f"analogy_answer(Lee PPMI-SVD vectors, {a!r}, {b!r}, {c!r})"
        expected = wv.analogy(a, b, c)
        got = checked_answer(wv.index_to_key, wv.vectors, a, b, c, what)
        assert got == expected, f"{what}: expected {expected!r} (WordVectors.analogy), got {got!r}"
