"""The embedding projector: word vectors in 3-D, nearest neighbours and analogies.

The plot shows the first three principal components of the (unit) word vectors: a shadow of
the d-dimensional space, good for seeing clusters, poor for reading distances. So the neighbour
list and the analogy box do not use it: they compare the full vectors by cosine similarity, in
the browser (projector.js), over an int8 copy embedded in the page.

Below the widget come the pieces of its state: `pca_3d` (the plot's coordinates),
`quantize_rows` (the int8 copy) and `_unit_rows` (that copy as the page sees it).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from tinylm.widgets._assets import css, esm


class EmbeddingProjector(anywidget.AnyWidget):
    """Word vectors in 3-D (PCA), with nearest neighbours and analogies computed in the browser.

    ``words[i]`` names ``vectors[i]``; the first ``n_points`` words are kept (pass them most
    frequent first). Their vectors are scaled to unit length and projected onto their first
    three principal components (centred, then an SVD) for the plot, and
    ``explained_variance_ratio`` says how much of the variance those three axes keep.

    The neighbour list and the analogy box do *not* use the plot: they compare the full
    ``d``-dimensional vectors by cosine similarity, in JavaScript, over an int8 copy embedded
    in the page (each row scaled so that its largest entry is +-127; cosine ignores that
    scale). `nearest` and `analogy` compute the same lists here in Python from the same
    int8 copy. The analogy ranks words by cosine with ``b - a + c`` and leaves out ``a``,
    ``b`` and ``c``, as gensim's ``most_similar(positive=[b, c], negative=[a])`` does.

    ``search`` opens the widget on a look-up of that word (its nearest neighbours listed and
    drawn), so that the page shows an answer before the reader types anything. Every look-up
    moves the view: it centres the word and zooms as far in as the word and all its
    neighbours still fit on the canvas, labelled.

    Size: for 1500 words and d = 100 the embedded data is about 0.25 MB of JSON (the int8
    vectors, base64 encoded, are 0.2 MB of it); it grows as ``n_points * d * 4 / 3`` bytes.
    """

    _esm = esm("projector")
    _css = css("projector")
    data = traitlets.Dict().tag(sync=True)

    def __init__(self, words: Sequence[str], vectors: np.ndarray, n_points: int = 1500,
                 n_neighbours: int = 10, title: str | None = None,
                 highlight: str | Sequence[str] | None = None, search: str | None = None):
        words = [str(w) for w in words]
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (words, dim), got shape "
                             f"{vectors.shape}")
        if vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors: "
                             "there must be one vector per word")
        if vectors.shape[1] < 3:
            raise ValueError(f"a 3-D projection needs vectors of dimension >= 3, got "
                             f"{vectors.shape[1]}")
        if n_points < 3:
            raise ValueError(f"n_points must be >= 3, got {n_points}")
        if n_neighbours < 1:
            raise ValueError(f"n_neighbours must be >= 1, got {n_neighbours}")
        n = min(n_points, len(words))
        if n < 3:
            raise ValueError(f"the projector needs at least 3 words, got {len(words)}")
        words, x = words[:n], vectors[:n]
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} of the vectors hold NaN or infinite values, e.g. "
                             f"the vector of {words[int(np.argmax(bad))]!r}")
        norms = np.linalg.norm(x, axis=1)
        if (norms == 0).any():
            raise ValueError(f"the vector of {words[int(np.argmin(norms))]!r} is zero: "
                             "it has no direction to compare")
        unit = x / norms[:, None]  # (n, d)
        index = {w: i for i, w in reversed(list(enumerate(words)))}
        if isinstance(highlight, str):
            highlight = [highlight]
        marked = []
        for w in highlight or []:
            if w not in index:
                raise ValueError(f"highlight word {w!r} is not among the first {n} words")
            marked.append(index[w])

        self.words = words
        self.coords, self.explained_variance_ratio = pca_3d(unit)  # (n, 3), (3,)
        self.quantized = quantize_rows(unit)  # (n, d) int8
        self._unit = _unit_rows(self.quantized)  # what the browser compares, (n, d)
        self._index = index
        if search:
            try:
                search = words[self._lookup(search)]
            except KeyError:
                raise ValueError(f"search word {search!r} is not among the first {n} "
                                 "words") from None
        super().__init__(data={
            "uid": f"{id(self):x}", "title": title or "", "total": len(vectors),
            "dim": int(x.shape[1]), "n_neighbours": int(min(n_neighbours, n - 1)),
            "words": words,
            "xyz": [round(float(v), 4) for v in self.coords.ravel()],
            "explained_variance": [round(float(v), 5) for v in self.explained_variance_ratio],
            "vectors": base64.b64encode(self.quantized.tobytes()).decode("ascii"),
            "highlight": marked,
            "search": search or "",
        })

    def nearest(self, word: str, k: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` (default ``n_neighbours``) words closest to ``word``: what the page lists."""
        i = self._lookup(word)
        return self._most_similar(self._unit[i], k or self.data["n_neighbours"], {i})

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": the ``k`` words closest to b - a + c, leaving out a, b, c."""
        ia, ib, ic = (self._lookup(w) for w in (a, b, c))
        target = self._unit[ib] - self._unit[ia] + self._unit[ic]
        return self._most_similar(target, k, {ia, ib, ic})

    def _lookup(self, word: str) -> int:
        for w in (word.strip(), word.strip().lower()):
            if w in self._index:
                return self._index[w]
        raise KeyError(f"{word!r} is not among the {len(self.words)} words shown")

    def _most_similar(self, target: np.ndarray, k: int, skip: set[int]):
        scores = self._unit @ target / (np.linalg.norm(target) or 1.0)  # (n,)
        ranked = [int(i) for i in np.lexsort((np.arange(len(scores)), -scores))
                  if int(i) not in skip]
        return [(self.words[i], float(scores[i])) for i in ranked[:k]]


# ---- the state: 3-D coordinates for the plot, int8 vectors for the look-ups -------------------

def pca_3d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``x`` (n, d) onto their first 3 principal components.

    Returns the coordinates (n, 3) and the fraction of the total variance each component
    explains (3,). Signs are fixed as scikit-learn fixes them: the largest coordinate (in
    absolute value) of each component is positive.
    """
    centred = x - x.mean(axis=0)  # (n, d)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)  # u: (n, r), s: (r,)
    coords = u[:, :3] * s[:3]  # (n, 3): the same as centred @ vt[:3].T
    biggest = np.argmax(np.abs(coords), axis=0)
    coords *= np.sign(coords[biggest, np.arange(3)])
    variance = s**2
    return coords, variance[:3] / variance.sum()


def quantize_rows(x: np.ndarray) -> np.ndarray:
    """int8 copy of ``x`` (n, d): each row scaled so that its largest entry becomes +-127."""
    peak = np.abs(x).max(axis=1, keepdims=True)
    return np.round(x / np.where(peak > 0, peak, 1.0) * 127).astype(np.int8)


def _unit_rows(q: np.ndarray) -> np.ndarray:
    """The int8 rows of `quantize_rows`, back as unit vectors (float64): what the page uses."""
    q = q.astype(np.float64)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return q / np.where(norms > 0, norms, 1.0)
