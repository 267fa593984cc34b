"""The embedding projector's Python side: the 3-D PCA, the int8 vectors the page searches, and
the errors. (tests/test_projector_browser.py checks what the JavaScript does with them.)"""

import base64
import json

import numpy as np
import pytest

from tinylm.widgets import EmbeddingProjector, pca_3d, quantize_rows


def clustered(n_clusters=40, size=11, dim=100, spread=0.4, seed=0):
    """Well-separated clusters of `size` vectors: each vector's 10 nearest neighbours are
    exactly its cluster-mates."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    x = np.repeat(centres, size, axis=0) + spread * rng.normal(size=(n_clusters * size, dim))
    words = [f"c{i // size}_{i % size}" for i in range(len(x))]
    return words, x


def embedded_vectors(data: dict) -> np.ndarray:
    """The int8 matrix as the page decodes it."""
    q = np.frombuffer(base64.b64decode(data["vectors"]), dtype=np.int8)
    return q.reshape(len(data["words"]), data["dim"])


def float_neighbours(x: np.ndarray, i: int, k: int) -> list[int]:
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    scores = u @ u[i]
    scores[i] = -np.inf
    return list(np.argsort(-scores, kind="stable")[:k])


def test_pca_matches_the_eigenvectors_of_the_covariance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 20)) * np.linspace(3, 0.5, 20)  # distinct variances
    w = EmbeddingProjector([f"w{i}" for i in range(300)], x, n_points=250)
    unit = x[:250] / np.linalg.norm(x[:250], axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    cov = centred.T @ centred / (len(unit) - 1)
    values, vecs = np.linalg.eigh(cov)  # ascending
    top = vecs[:, ::-1][:, :3]
    expected = centred @ top  # (250, 3), up to the sign of each column
    signs = np.sign(np.sum(expected * w.coords, axis=0))
    np.testing.assert_allclose(w.coords, expected * signs, atol=1e-10)
    np.testing.assert_allclose(w.explained_variance_ratio, values[::-1][:3] / values.sum())
    # the embedded coordinates are the same, rounded
    xyz = np.array(w.data["xyz"]).reshape(250, 3)
    np.testing.assert_allclose(xyz, w.coords, atol=5e-5)
    assert w.data["explained_variance"] == pytest.approx(w.explained_variance_ratio, abs=1e-5)


def test_pca_signs_are_fixed():
    x = np.random.default_rng(2).normal(size=(50, 8))
    coords, _ = pca_3d(x)
    flipped, _ = pca_3d(-x)  # same components, opposite directions: same picture
    np.testing.assert_allclose(coords, flipped, atol=1e-12)
    biggest = np.abs(coords).argmax(axis=0)
    assert (coords[biggest, range(3)] > 0).all()


def test_quantised_vectors_keep_the_nearest_neighbours():
    words, x = clustered()
    w = EmbeddingProjector(words, x, n_points=len(words), n_neighbours=10)
    q = embedded_vectors(w.data)
    np.testing.assert_array_equal(q, quantize_rows(x / np.linalg.norm(x, axis=1)[:, None]))
    assert np.abs(q).max(axis=1).min() == 127  # every row uses the whole int8 range
    for i in range(0, len(words), 7):
        exact = float_neighbours(x, i, 10)
        approx = float_neighbours(q.astype(float), i, 10)
        assert set(approx) == set(exact) == {j for j in range(i - i % 11, i - i % 11 + 11)} - {i}
        # the order only changes between near ties
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        cos = u @ u[i]
        for a, b in zip(approx, approx[1:], strict=False):
            assert cos[a] > cos[b] - 0.005
        # and what the widget reports is the quantised cosine, close to the exact one
        for word, score in w.nearest(words[i]):
            assert score == pytest.approx(cos[words.index(word)], abs=0.003)
        assert [words.index(word) for word, _ in w.nearest(words[i])] == approx


def test_analogy_is_gensims_most_similar():
    """b - a + c on unit vectors, a, b and c left out: KeyedVectors.most_similar, up to the
    int8 rounding (which may swap near ties)."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 30))
    x[3] = x[0] - x[1] + x[2] + 0.05 * rng.normal(size=30)  # "w0 - w1 + w2 = w3"
    words = [f"w{i}" for i in range(120)]
    kv = KeyedVectors(30)
    kv.add_vectors(words, x)
    for a, b, c in [("w1", "w0", "w2"), ("w10", "w11", "w12"), ("w50", "w7", "w99")]:
        expected = kv.most_similar(positive=[b, c], negative=[a], topn=10)
        got = EmbeddingProjector(words, x).analogy(a, b, c, k=5)
        assert got[0][0] == expected[0][0]
        exact = dict(expected)
        for word, score in got:
            assert word in exact and score == pytest.approx(exact[word], abs=0.003)
        assert {w for w, s in expected if s > expected[5][1] + 0.01} <= {w for w, _ in got}
    assert EmbeddingProjector(words, x).analogy("w1", "w0", "w2")[0][0] == "w3"


def test_keeps_the_first_words_and_reports_sizes():
    words, x = clustered(n_clusters=200, size=10, dim=100)  # 2000 words
    w = EmbeddingProjector(words, x)  # n_points=1500 by default
    d = w.data
    assert d["words"] == words[:1500] and d["total"] == 2000 and d["dim"] == 100
    assert len(d["xyz"]) == 3 * 1500
    assert d["n_neighbours"] == 10
    size = len(json.dumps(d))
    assert size < 300_000, size  # the docstring says about 0.25 MB for 1500 x 100
    assert EmbeddingProjector(words[:5], x[:5], n_neighbours=10).data["n_neighbours"] == 4


def test_highlight_and_title():
    words, x = clustered(n_clusters=3, size=4, dim=10)
    w = EmbeddingProjector(words, x, title="T <b>", highlight="c1_2")
    assert w.data["highlight"] == [words.index("c1_2")] and w.data["title"] == "T <b>"
    w = EmbeddingProjector(words, x, highlight=["c0_0", "c2_3"])
    assert w.data["highlight"] == [0, 11]
    with pytest.raises(ValueError, match="'c2_3' is not among the first 5 words"):
        EmbeddingProjector(words, x, n_points=5, highlight=["c2_3"])


def test_search_opens_on_a_look_up():
    words, x = clustered(n_clusters=3, size=4, dim=10)
    assert EmbeddingProjector(words, x).data["search"] == ""
    assert EmbeddingProjector(words, x, search=" C1_2 ").data["search"] == "c1_2"
    with pytest.raises(ValueError, match="search word 'zebra' is not among the first 12"):
        EmbeddingProjector(words, x, search="zebra")


def test_lookup_of_unknown_words():
    words, x = clustered(n_clusters=2, size=5, dim=10)
    w = EmbeddingProjector(words, x)
    assert w.nearest(" C0_1 ")[0][0].startswith("c0_")  # the page trims and lower-cases too
    with pytest.raises(KeyError, match="not among the 10 words"):
        w.nearest("zebra")


@pytest.mark.parametrize("make, message", [
    (lambda x: (["a", "b"], x), "3 words but 2 vectors|2 words but 4 vectors"),
    (lambda x: (list("abcd"), x[:, :2]), r"dimension >= 3, got 2"),
    (lambda x: (list("abcd"), x[:, 0]), "2-D array"),
    (lambda x: (list("abcd"), np.where(np.eye(4, 5, 1) > 0, np.nan, x)), "NaN"),
    (lambda x: (list("abcd"), np.where(np.eye(4, 5, -3) > 0, np.inf, x)), "infinite"),
    (lambda x: (list("abcd"), x * (np.arange(4) != 2)[:, None]), "vector of 'c' is zero"),
    (lambda x: (list("ab"), x[:2]), "at least 3 words"),
])
def test_errors(make, message):
    x = np.random.default_rng(0).normal(size=(4, 5))
    words, vectors = make(x)
    with pytest.raises(ValueError, match=message):
        EmbeddingProjector(words, vectors)


def test_error_for_bad_counts():
    x = np.random.default_rng(0).normal(size=(10, 5))
    with pytest.raises(ValueError, match="n_points must be >= 3, got 2"):
        EmbeddingProjector(list("abcdefghij"), x, n_points=2)
    with pytest.raises(ValueError, match="n_neighbours must be >= 1, got 0"):
        EmbeddingProjector(list("abcdefghij"), x, n_neighbours=0)
