"""tinylm.embeddings: one-hot and embedding layers, PPMI-SVD, WordVectors and its evaluations
(held against gensim's KeyedVectors on the same vectors), and Word2Vec's tables and set-up
(held against gensim's Word2Vec on the same corpus)."""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from gensim.models import KeyedVectors
from gensim.models import Word2Vec as GensimWord2Vec
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm import data, embeddings
from tinylm.embeddings import (
    CHUNK_WORDS,
    Word2Vec,
    WordNotInVocabulary,
    WordVectors,
    build_vocab,
    cooccurrence_matrix,
    count_words,
    keep_thresholds,
    noise_table,
    one_hot,
    one_hot_vs_embedding,
    ppmi,
    ppmi_svd_vectors,
    svd_embeddings,
)
from tinylm.word2vec_kernels import chunk_seed

# ---------------------------------------------------------------------------------------------
# One-hot vectors and the embedding layer
# ---------------------------------------------------------------------------------------------


def test_one_hot_small_case():
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot(np.array([[1, 2]]), 4).shape == (1, 2, 4)
    assert one_hot([1], 2).dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(ids=st.lists(st.integers(0, 9), max_size=20))
def test_one_hot_rows_pick_matrix_rows(ids):
    W = np.arange(30, dtype=np.float32).reshape(10, 3)
    oh = one_hot(np.array(ids, dtype=np.int64), 10)
    assert np.all(oh.sum(axis=-1) == 1)
    np.testing.assert_array_equal(oh @ W, W[ids].reshape(-1, 3))


@pytest.mark.parametrize("ids, V, err", [([3], 3, ValueError), ([-1], 3, ValueError),
                                         ([0.5], 3, TypeError), ([0], 0, ValueError)])
def test_one_hot_rejects_bad_input(ids, V, err):
    with pytest.raises(err):
        one_hot(ids, V)


def test_embedding_layer_is_one_hot_times_matrix_outputs_and_gradients():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 4)).astype(np.float32)
    ids = np.array([[1, 3, 1], [6, 0, 1]])  # word 1 three times: its gradient row adds up
    out = one_hot_vs_embedding(ids, W, seed=3)
    assert out["embedding_output"].shape == (2, 3, 4)
    np.testing.assert_allclose(out["one_hot_output"], out["embedding_output"], atol=1e-6)
    np.testing.assert_allclose(out["one_hot_output"], W[ids], atol=1e-6)
    np.testing.assert_allclose(out["one_hot_grad"], out["embedding_grad"], atol=1e-5)
    assert np.all(out["embedding_grad"][[2, 4, 5]] == 0), "unused words get no gradient"
    assert np.any(out["embedding_grad"][1] != 0)


# ---------------------------------------------------------------------------------------------
# Co-occurrence, PPMI, SVD
# ---------------------------------------------------------------------------------------------


def test_cooccurrence_by_hand():
    sentences = [["a", "b", "c", "a"], ["b", "x", "a"]]
    X, vocab = cooccurrence_matrix(sentences, vocab=["a", "b", "c"], window=1)
    assert vocab == ["a", "b", "c"]
    assert sp.issparse(X)
    # window 1 pairs: (a,b) (b,c) (c,a) in sentence 1; "x" is not counted but keeps its place,
    # so b and a in sentence 2 are 2 apart: not neighbours
    expected = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(X.toarray(), expected)
    X2, _ = cooccurrence_matrix(sentences, vocab=["a", "b", "c"], window=2)
    # window 2 adds (a,c) (b,a) in sentence 1 and (b,a) in sentence 2
    np.testing.assert_array_equal(X2.toarray(), [[0, 3, 2], [3, 0, 1], [2, 1, 0]])


@settings(max_examples=30, deadline=None)
@given(sents=st.lists(st.lists(st.sampled_from("abcde"), max_size=8), min_size=1),
       window=st.integers(1, 4))
def test_cooccurrence_is_symmetric_and_counts_every_pair(sents, window):
    if not any(sents):
        return
    X, vocab = cooccurrence_matrix(sents, window=window)
    dense = X.toarray()
    np.testing.assert_array_equal(dense, dense.T)
    n_pairs = sum(max(0, len(s) - k) for s in sents for k in range(1, window + 1))
    assert dense.sum() == 2 * n_pairs


def test_ppmi_by_hand():
    counts = np.array([[2.0, 0.0], [1.0, 1.0]])  # N = 4
    # P(w) = (1/2, 1/2); P(c) = (3/4, 1/4) without smoothing
    # PMI(0,0) = log(0.5 / (0.5 * 0.75)) = log(4/3); PMI(1,0) = log(0.25/(0.5*0.75)) < 0 -> 0
    # PMI(1,1) = log(0.25 / (0.5 * 0.25)) = log 2; cell (0,1) has no count -> 0
    expected = np.array([[math.log(4 / 3), 0.0], [0.0, math.log(2)]])
    np.testing.assert_allclose(ppmi(counts, alpha=1.0), expected)
    np.testing.assert_allclose(ppmi(sp.csr_matrix(counts), alpha=1.0).toarray(), expected)
    # smoothed contexts: P_a(c) = (3^a, 1) / (3^a + 1)
    a = 0.75
    pc = np.array([3**a, 1.0]) / (3**a + 1)
    expected_a = np.maximum(np.log(np.array([[0.5, 0.0], [0.25, 0.25]]) + 1e-300)
                            - np.log(0.5) - np.log(pc)[None, :], 0)
    expected_a[0, 1] = 0.0
    np.testing.assert_allclose(ppmi(counts, alpha=a), expected_a)
    np.testing.assert_allclose(ppmi(sp.csr_matrix(counts), alpha=a).toarray(), expected_a)


def test_ppmi_3x3_sparse_equals_dense_and_is_non_negative():
    counts = np.array([[0, 3, 1], [3, 0, 2], [1, 2, 5]], dtype=float)
    dense = ppmi(counts)
    np.testing.assert_allclose(ppmi(sp.csr_matrix(counts)).toarray(), dense)
    assert dense.min() >= 0 and dense[0, 0] == 0


def test_ppmi_rejects_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        ppmi(np.ones((2, 2)), alpha=0)
    with pytest.raises(ValueError, match="non-negative"):
        ppmi(-np.ones((2, 2)))
    with pytest.raises(ValueError, match="zero"):
        ppmi(np.zeros((2, 2)))


@pytest.mark.parametrize("sparse", [False, True])
def test_svd_embeddings_factor_a_low_rank_symmetric_matrix(sparse):
    rng = np.random.default_rng(1)
    B = rng.standard_normal((30, 3))
    M = B @ B.T  # symmetric PSD of rank 3: M = U S U^T exactly
    E = svd_embeddings(sp.csr_matrix(M) if sparse else M, 3, power=0.5)
    assert E.shape == (30, 3) and E.dtype == np.float32
    np.testing.assert_allclose(E @ E.T, M, atol=1e-4 * np.abs(M).max())
    gram = E.T.astype(np.float64) @ E  # orthogonal columns, falling singular values
    off = gram - np.diag(np.diag(gram))
    assert np.abs(off).max() < 1e-4 * gram.max()
    assert np.all(np.diff(np.diag(gram)) < 0)
    # sign convention: the largest-magnitude entry of each column is positive
    assert np.all(E[np.argmax(np.abs(E), axis=0), np.arange(3)] > 0)


def test_svd_embeddings_power_1_rows_are_the_best_rank_k_coordinates():
    rng = np.random.default_rng(2)
    M = rng.standard_normal((20, 12))
    u, s, vt = np.linalg.svd(M, full_matrices=False)
    E = svd_embeddings(M, 4, power=1.0)
    best = u[:, :4] * s[:4]  # (20, 4) coordinates of the best rank-4 approximation
    for j in range(4):  # equal up to the sign of each column
        sign = np.sign(E[:, j] @ best[:, j])
        np.testing.assert_allclose(E[:, j], sign * best[:, j], atol=1e-5)
    with pytest.raises(ValueError, match="dim"):
        svd_embeddings(M, 13)


def test_ppmi_svd_vectors_give_words_with_shared_contexts_similar_vectors():
    sents = [["the", "cat", "purrs"], ["the", "kitten", "purrs"],
             ["a", "dog", "barks"], ["a", "puppy", "barks"]] * 10
    wv = ppmi_svd_vectors(sents, dim=4, window=1, min_count=1)
    assert wv.similarity("cat", "kitten") > wv.similarity("cat", "puppy") + 0.5


# ---------------------------------------------------------------------------------------------
# WordVectors on hand-built vectors
# ---------------------------------------------------------------------------------------------


def hand_vectors():
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [-1, 0, 0]], np.float32)
    return WordVectors(words, vectors)


def test_similarity_is_the_cosine():
    wv = hand_vectors()
    assert wv.similarity("man", "woman") == pytest.approx(1 / math.sqrt(2))
    assert wv.similarity("man", "apple") == pytest.approx(-1.0)
    assert wv.similarity("king", "king") == pytest.approx(1.0)


def test_most_similar_excludes_the_query_and_sorts():
    wv = hand_vectors()
    result = wv.most_similar("man", topn=10)
    assert [w for w, _ in result] == ["woman", "king", "queen", "apple"][:len(result)]
    assert result[0][1] == pytest.approx(1 / math.sqrt(2))
    assert result[-1] == ("apple", pytest.approx(-1.0))
    assert len(wv.most_similar("man", topn=2)) == 2


def test_analogy_3cosadd():
    wv = hand_vectors()
    assert wv.analogy("man", "king", "woman") == "queen"  # king - man + woman
    assert wv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    assert [w for w, _ in wv.analogy("man", "king", "woman", topn=2)][0] == "queen"


def test_most_similar_equals_gensim():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    ours, theirs = WordVectors(words, vectors), gensim_kv(words, vectors)
    for pos, neg in [(["w1"], None), (["w1", "w7"], ["w3"]), (["w2"], ["w5", "w9"])]:
        a = ours.most_similar(positive=pos, negative=neg, topn=5)
        b = theirs.most_similar(positive=pos, negative=neg, topn=5)
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-5)


def test_unknown_word_raises_a_helpful_key_error():
    wv = hand_vectors()
    with pytest.raises(KeyError, match="word 'xyz' not in vocabulary"):
        wv.similarity("man", "xyz")
    with pytest.raises(WordNotInVocabulary):
        wv.most_similar("xyz")
    with pytest.raises(ValueError, match="shape"):
        WordVectors(["a", "b"], np.zeros((3, 2)))


# ---------------------------------------------------------------------------------------------
# Saving and evaluating, against gensim's KeyedVectors on the same vectors
# ---------------------------------------------------------------------------------------------


def gensim_kv(words, vectors):
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(list(words), np.asarray(vectors, np.float32))
    return kv


@pytest.mark.parametrize("binary", [False, True])
def test_save_word2vec_format_loads_in_gensim(tmp_path, binary):
    rng = np.random.default_rng(0)
    words = ["the", "café", "naïve", "x1", "Über"]
    vectors = (rng.standard_normal((5, 7)) * 10.0 ** rng.integers(-6, 3, (5, 7)))
    wv = WordVectors(words, vectors.astype(np.float32))
    path = tmp_path / "vectors.txt"
    wv.save_word2vec_format(path, binary=binary)
    if not binary:
        assert path.read_text(encoding="utf8").splitlines()[0] == "5 7"
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, wv.vectors)  # float32 survives exactly


def test_save_rejects_words_with_spaces(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        WordVectors(["a b"], np.zeros((1, 2))).save_word2vec_format(tmp_path / "v.txt")


def benchmark_words():
    """Every word of the three benchmark files, lower-cased, in order of first appearance."""
    words = {}
    for path in (data.wordsim353_path(), data.simlex999_path()):
        for line in path.read_text(encoding="utf8").splitlines():
            if not line.startswith("#"):
                for w in line.split("\t")[:2]:
                    words.setdefault(w.lower(), None)
    for line in data.analogy_questions_path().read_text(encoding="utf8").splitlines():
        if not line.startswith(":"):
            for w in line.split():
                words.setdefault(w.lower(), None)
    return list(words)


@pytest.fixture(scope="module")
def structured_vectors():
    """Vectors where many analogies hold: in each section, the second word of every pair is the
    first plus the section's offset plus noise. Two upper-case duplicates test case folding."""
    rng = np.random.default_rng(0)
    words = benchmark_words()
    words = words[:2] + ["TIGER", "Love"] + words[2:]  # shadow "tiger" and "love" when folded
    index = {w: i for i, w in enumerate(words)}
    d = 24
    vectors = rng.standard_normal((len(words), d))
    offset = None
    for line in data.analogy_questions_path().read_text(encoding="utf8").splitlines():
        if line.startswith(":"):
            offset = rng.standard_normal(d) * 1.5
            continue
        a, b, c, e = (w.lower() for w in line.split())
        for x, y in ((a, b), (c, e)):
            vectors[index[y]] = vectors[index[x]] + offset + 0.6 * rng.standard_normal(d)
    keep = rng.random(len(words)) > 0.15  # drop some words: some questions become unknown
    keep[[index["tiger"], index["TIGER"], index["love"], index["Love"]]] = True
    words = [w for w, k in zip(words, keep, strict=True) if k]
    return words, vectors[keep].astype(np.float32)


@pytest.mark.parametrize("path_of", [data.wordsim353_path, data.simlex999_path])
@pytest.mark.parametrize("restrict_vocab", [300000, 400])
@pytest.mark.parametrize("dummy4unknown", [False, True])
def test_evaluate_word_pairs_equals_gensim(structured_vectors, path_of, restrict_vocab,
                                           dummy4unknown):
    words, vectors = structured_vectors
    kw = {"restrict_vocab": restrict_vocab, "dummy4unknown": dummy4unknown}
    ours = WordVectors(words, vectors).evaluate_word_pairs(path_of(), **kw)
    theirs = gensim_kv(words, vectors).evaluate_word_pairs(str(path_of()), **kw)
    assert ours[0][0] == pytest.approx(theirs[0][0], abs=1e-5)  # Pearson
    assert ours[1][0] == pytest.approx(theirs[1][0], abs=1e-5)  # Spearman
    assert ours[2] == pytest.approx(theirs[2])  # percentage of pairs with unknown words
    assert 0 < ours[2] < 100


def test_evaluate_word_pairs_accepts_tuples():
    wv = hand_vectors()
    pearson, spearman, oov = wv.evaluate_word_pairs(
        [("man", "woman", 8.0), ("man", "apple", 1.0), ("king", "queen", 9.0), ("a", "b", 3)])
    assert spearman[0] == pytest.approx(1.0) and oov == pytest.approx(25.0)


@pytest.mark.parametrize("restrict_vocab", [300000, 1500])
def test_evaluate_word_analogies_equals_gensim(structured_vectors, restrict_vocab):
    words, vectors = structured_vectors
    path = data.analogy_questions_path()
    score, sections = WordVectors(words, vectors).evaluate_word_analogies(
        path, restrict_vocab=restrict_vocab)
    g_score, g_sections = gensim_kv(words, vectors).evaluate_word_analogies(
        str(path), restrict_vocab=restrict_vocab)
    assert 0.05 < g_score < 0.95, "the test vectors should make some analogies right"
    assert score == pytest.approx(g_score)
    assert [s["section"] for s in sections] == [s["section"] for s in g_sections]
    for ours, theirs in zip(sections, g_sections, strict=True):
        assert sorted(ours["correct"]) == sorted(theirs["correct"]), ours["section"]
        assert sorted(ours["incorrect"]) == sorted(theirs["incorrect"]), ours["section"]


# ---------------------------------------------------------------------------------------------
# Word2Vec: vocabulary, tables and initial weights equal gensim's
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lee():
    return data.lee_sentences()


@pytest.fixture(scope="module")
def gensim_lee(lee):
    model = GensimWord2Vec(vector_size=20, min_count=3, sample=1e-3, seed=5, hs=0, negative=5)
    model.build_vocab(lee)
    return model


def test_vocabulary_tables_and_initial_vectors_equal_gensim(lee, gensim_lee):
    ours = Word2Vec(vector_size=20, min_count=3, sample=1e-3, seed=5, progress=False)
    ours.build_vocab(lee)
    g = gensim_lee
    assert ours.wv.index_to_key == g.wv.index_to_key  # same words, same order (ties too)
    np.testing.assert_array_equal(ours.wv.counts, g.wv.expandos["count"])
    np.testing.assert_array_equal(ours.cum_table, g.cum_table)
    np.testing.assert_array_equal(ours.sample_int, g.wv.expandos["sample_int"])
    np.testing.assert_array_equal(ours.wv.vectors, g.wv.vectors)
    np.testing.assert_array_equal(ours.syn1neg, g.syn1neg)


@pytest.mark.parametrize("ns_exponent", [0.75, 0.0, 1.0, -0.5])
def test_noise_table_equals_gensim_cum_table(gensim_lee, ns_exponent):
    counts = gensim_lee.wv.expandos["count"]
    gensim_lee.ns_exponent = ns_exponent
    gensim_lee.make_cum_table()
    table = noise_table(counts, ns_exponent)
    np.testing.assert_array_equal(table, gensim_lee.cum_table)
    # and it encodes counts^e normalised
    p = np.diff(np.concatenate([[0], table])) / table[-1]
    expected = counts ** ns_exponent / np.sum(counts.astype(float) ** ns_exponent)
    np.testing.assert_allclose(p, expected, atol=2e-9)
    gensim_lee.ns_exponent = 0.75
    gensim_lee.make_cum_table()


@pytest.mark.parametrize("sample", [1e-3, 1e-5, 0.0, 5.0])
def test_keep_thresholds_equal_gensim_sample_int(lee, sample):
    g = GensimWord2Vec(vector_size=4, min_count=2, sample=sample)
    g.build_vocab(lee)
    ours = keep_thresholds(g.wv.expandos["count"], sample)
    np.testing.assert_array_equal(ours, g.wv.expandos["sample_int"])


def test_vocabulary_order_breaks_ties_like_gensim():
    counts = count_words([["a", "b", "c", "d", "b", "c"]])
    words, c = build_vocab(counts)
    assert words == ["c", "b", "d", "a"] and c.tolist() == [2, 2, 1, 1]


def test_same_seed_same_vectors_other_seed_other_vectors(lee):
    kw = {"vector_size": 16, "min_count": 3, "epochs": 1, "workers": 1, "progress": False}
    a = Word2Vec(lee, seed=3, **kw).wv.vectors
    b = Word2Vec(lee, seed=3, **kw).wv.vectors
    c = Word2Vec(lee, seed=4, **kw).wv.vectors
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("sg", [1, 0])
def test_two_workers_train_the_same_words_and_learn(lee, sg):
    kw = {"vector_size": 16, "min_count": 3, "epochs": 2, "sg": sg, "progress": False,
          "compute_loss": True}
    one = Word2Vec(lee, workers=1, **kw)
    two = Word2Vec(lee, workers=2, **kw)
    assert np.all(np.isfinite(two.wv.vectors))
    # what subsampling keeps depends on the chunks' seeds alone, not on the thread or timing
    assert two.effective_words == one.effective_words
    # the merges' order varies, so the loss does, but it falls and stays near one worker's
    first, last = two.epoch_losses
    assert last < first, two.epoch_losses
    assert last < 1.2 * one.epoch_losses[-1], (two.epoch_losses, one.epoch_losses)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 3 * CHUNK_WORDS // 2), min_size=1, max_size=40)
       .filter(lambda x: sum(x) > 0), epochs=st.integers(1, 3))
def test_jobs_cover_every_sentence_once_per_epoch(lengths, epochs):
    raw = np.array(lengths, dtype=np.int64)
    jobs = embeddings._jobs(raw, epochs, alpha=0.025, min_alpha=0.0001)
    before = np.concatenate([[0], np.cumsum(raw)])  # raw words before each sentence
    for epoch in range(epochs):
        mine = [j for j in jobs if j[0] == epoch]
        assert [j[1] for j in mine] == list(range(len(mine)))  # chunk numbers in order
        assert mine[0][2] == 0 and mine[-1][3] == len(raw)
        for (_, _, _, end, _), (_, _, start, _, _) in pairwise(mine):
            assert end == start  # no sentence skipped, none twice
        for _, _, s0, s1, lr in mine:
            assert s1 > s0
            assert before[s1] - before[s0] <= CHUNK_WORDS or s1 == s0 + 1
            share = (epoch + before[s0] / before[-1]) / epochs  # of all the words handed out
            assert lr == pytest.approx(0.025 - (0.025 - 0.0001) * share)
    rates = [j[4] for j in jobs]
    assert rates[0] == 0.025 and all(a >= b for a, b in pairwise(rates))


def test_private_copies_keep_every_job_exactly_once():
    shared = np.zeros((11, 4), np.float32)

    def job(n, matrix):  # every job adds 1 to its own row and 1 to the row all jobs share
        matrix[n % 10] += 1.0
        matrix[10] += 1.0
        return threading.get_ident()

    with ThreadPoolExecutor(2) as pool:
        threads = set(pool.map(embeddings._on_private_copies(job, [shared]), range(200)))
    assert threading.get_ident() not in threads
    np.testing.assert_array_equal(shared[:10], 20.0)
    np.testing.assert_array_equal(shared[10], 200.0)  # no update lost to another thread


def test_two_workers_train_every_chunk_of_every_epoch_once(lee, monkeypatch):
    calls = []  # (seed, thread, ids) of every chunk trained
    train_chunk = embeddings.train_chunk

    def recording(syn0, syn1neg, ids, *args):
        calls.append((args[-3], threading.get_ident(), ids.copy()))
        return train_chunk(syn0, syn1neg, ids, *args)

    monkeypatch.setattr(embeddings, "train_chunk", recording)
    model = Word2Vec(vector_size=8, min_count=3, epochs=3, workers=2, seed=9, progress=False)
    model.build_vocab(lee)
    model.train(lee)
    ids, _, raw = embeddings._encode(lee, model.wv.key_to_index)
    n_chunks = len(embeddings._chunks(raw, CHUNK_WORDS))
    which = {chunk_seed(9, e, n): (e, n) for e in range(3) for n in range(n_chunks)}
    trained = sorted((which[seed], ids_) for seed, _, ids_ in calls)
    assert [key for key, _ in trained] == sorted(which.values())  # each chunk exactly once
    for epoch in range(3):
        words = np.concatenate([ids_ for (e, _), ids_ in trained if e == epoch])
        np.testing.assert_array_equal(words, ids)  # every word of every sentence, in order
    assert threading.get_ident() not in {thread for _, thread, _ in calls}


def test_train_then_more_epochs_and_learning_rate_schedule(lee):
    model = Word2Vec(vector_size=8, min_count=3, epochs=2, progress=False)
    with pytest.raises(RuntimeError, match="build_vocab"):
        model.train(lee)
    model.build_vocab(lee)
    before = model.wv.vectors.copy()
    model.train(lee, epochs=1)
    assert not np.array_equal(before, model.wv.vectors)
    assert model.words_per_second > 0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sentences, err, match", [
    ("the cat sat", TypeError, "got a str"),
    (["the", "cat", "sat"], TypeError, "sentence 0 is a str"),
    ([], ValueError, "no sentences"),
    ([[], []], ValueError, "no words"),
    ([["a", 3]], TypeError, "tokens must be str"),
])
def test_word2vec_rejects_bad_corpora(sentences, err, match):
    with pytest.raises(err, match=match):
        Word2Vec(sentences, min_count=1, progress=False)


def test_min_count_that_leaves_nothing_names_the_highest_count():
    with pytest.raises(ValueError, match=r"min_count=5 .* only 2 times"):
        Word2Vec([["a", "b", "a"]], min_count=5, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, "window"), ({"negative": 0}, "negative"), ({"vector_size": 0}, "vector_size"),
    ({"sg": 2}, "sg"), ({"workers": 0}, "workers"), ({"min_count": 0}, "min_count"),
    ({"alpha": -1.0}, "alpha"), ({"sample": -1.0}, "sample"), ({"epochs": 0}, "epochs"),
    ({"cbow_mean": 3}, "cbow_mean"),
])
def test_word2vec_rejects_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Word2Vec([["a", "b"]], **{"min_count": 1, "progress": False, **kwargs})


def test_progress_bar_counts_every_chunk(capsys):
    sents = [["a", "b", "c"]] * 30
    model = Word2Vec(sents, vector_size=4, min_count=1, epochs=3, progress=True)
    assert "word2vec, 3 epochs" in capsys.readouterr().err
    assert repr(model).startswith("Word2Vec(vocab=3")


def test_ppmi_of_a_zero_row_is_zero_and_silent():
    import warnings

    from tinylm.embeddings import ppmi

    counts = np.array([[0, 0, 0], [0, 2, 1], [0, 1, 3]], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        out = ppmi(counts)
    assert np.all(out[0] == 0) and np.all(out[:, 0] == 0) and np.isfinite(out).all()
