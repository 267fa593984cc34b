"""Word embeddings: from one-hot vectors to word2vec.

A word is first just an index ``i`` into a vocabulary of ``V`` words, or its *one-hot* vector
``e_i`` (V zeros with a single 1). An *embedding layer* stores a matrix ``W`` of shape (V, d) and
maps word ``i`` to row ``W[i]``, which is exactly ``e_i @ W``: a lookup is a matrix product with
a one-hot vector, and so is its gradient (``one_hot_vs_embedding`` shows it with torch).

Where do good rows come from? Two classic answers live here.

1. Count, then compress (the "distributional hypothesis": a word is known by the company it
   keeps). ``cooccurrence_matrix`` counts how often two words appear within a few positions of
   each other; ``ppmi`` turns counts into positive pointwise mutual information (how much more
   often than chance); ``svd_embeddings`` keeps the top ``d`` singular directions.
2. Predict (word2vec, Mikolov et al. 2013). ``Word2Vec`` learns the rows by SGD so that a word's
   vector predicts the words around it (skip-gram) or is predicted by them (CBOW), with negative
   sampling instead of a softmax over the whole vocabulary. It follows gensim's implementation
   closely enough to be compared with it number for number: the same vocabulary, subsampling
   thresholds, noise table, initial vectors and update rule (the kernels are in
   ``tinylm.word2vec_kernels``).

``WordVectors`` holds the result of either and answers questions: nearest neighbours, analogies
("man is to king as woman is to ?"), and the two standard evaluations, correlation with human
similarity judgements (WordSim353, SimLex-999) and analogy accuracy (Mikolov's questions-words).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np
import scipy.sparse as sp

from tinylm.word2vec_kernels import chunk_seed, merge_copy, noise_guide, train_chunk

# ---------------------------------------------------------------------------------------------
# One-hot vectors and the embedding layer
# ---------------------------------------------------------------------------------------------


def one_hot(ids, vocab_size: int) -> np.ndarray:
    """One-hot rows: ``one_hot([2, 0], 3) -> [[0, 0, 1], [1, 0, 0]]`` (float32).

    ids: any shape of ints in [0, vocab_size); returns ids.shape + (vocab_size,)
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got values from {ids.min()} "
                         f"to {ids.max()}")
    out = np.zeros(ids.shape + (vocab_size,), dtype=np.float32)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


def one_hot_vs_embedding(ids, weight, seed: int = 0) -> dict[str, np.ndarray]:
    """Look ``ids`` up two ways and backpropagate the same random loss through both:

    - ``one_hot(ids) @ W``, a plain matrix product;
    - ``torch.nn.Embedding`` whose weight is ``W``.

    Returns the two outputs (ids.shape + (d,)) and the two gradients of the loss with respect to
    ``W`` (V, d): equal, because the gradient of ``e_i @ W`` with respect to ``W`` is ``e_i``
    times the upstream gradient, which adds it to row ``i`` (once per occurrence of ``i``).
    """
    import torch

    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 2:
        raise ValueError(f"weight must be a (vocab_size, dim) matrix, got shape {weight.shape}")
    ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    upstream = torch.randn(*ids_t.shape, weight.shape[1], generator=gen)  # d(loss)/d(output)

    w1 = torch.tensor(weight, requires_grad=True)
    out1 = torch.from_numpy(one_hot(ids_t.numpy(), weight.shape[0])) @ w1
    (out1 * upstream).sum().backward()

    layer = torch.nn.Embedding(weight.shape[0], weight.shape[1])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
    out2 = layer(ids_t)
    (out2 * upstream).sum().backward()
    return {"one_hot_output": out1.detach().numpy(), "embedding_output": out2.detach().numpy(),
            "one_hot_grad": w1.grad.numpy(), "embedding_grad": layer.weight.grad.numpy()}


# ---------------------------------------------------------------------------------------------
# Vocabulary (shared by the count-based methods and word2vec)
# ---------------------------------------------------------------------------------------------


def _check_sentences(sentences) -> list:
    """Accept an iterable of token lists; reject the usual mistakes with a clear message."""
    if sentences is None:
        raise TypeError("sentences is None: pass a list of sentences (lists of str tokens)")
    if isinstance(sentences, (str, bytes)):
        raise TypeError("expected a list of sentences (lists of tokens), got a str; "
                        f"did you mean [{str(sentences).split()[:5]!r}...]?")
    out = []
    for i, sent in enumerate(sentences):
        if isinstance(sent, str):
            raise TypeError(f"sentence {i} is a str; a sentence must be a list of tokens, "
                            f"e.g. {sent.split()[:5]!r} (a list of str is one sentence: "
                            "wrap it in a list)")
        out.append(sent if isinstance(sent, list) else list(sent))
    if not out:
        raise ValueError("no sentences given: need at least one sentence")
    return out


def count_words(sentences) -> Counter:
    """How often each token occurs, in order of first appearance; tokens must be str."""
    sentences = _check_sentences(sentences)
    counts = Counter(chain.from_iterable(sentences))
    if not counts:
        raise ValueError(f"no words: the {len(sentences)} sentences given are all empty")
    bad = next((t for t in counts if not isinstance(t, str)), None)
    if bad is not None:
        i = next(i for i, sent in enumerate(sentences) if bad in sent)
        raise TypeError(f"sentence {i}: tokens must be str, got {type(bad).__name__} {bad!r}")
    return counts


def build_vocab(counts: Counter, min_count: int = 1) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first, and their counts.

    Ties are broken as gensim's ``sort_by_descending_frequency`` does: among words of equal
    count, the one that first appeared *later* comes first.
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1, got {min_count!r}")
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    if not kept:
        raise ValueError(f"min_count={min_count} leaves no vocabulary: the most frequent word "
                         f"occurs only {max(counts.values())} times; lower min_count")
    order = sorted(range(len(kept)), key=lambda i: (-kept[i][1], -i))
    words = [kept[i][0] for i in order]
    return words, np.array([kept[i][1] for i in order], dtype=np.int64)


def _encode(sentences: list, key_to_index: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids of the known words of every sentence, laid end to end; unknown words are dropped
    (which, as in gensim, brings their neighbours closer).

    returns: ids (n,) int32, starts (n_sentences + 1,) int64 offsets into ids, and the raw
    length (with unknown words) of each sentence (n_sentences,) int64
    """
    raw = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    lookup = key_to_index.get
    flat = np.fromiter((lookup(w, -1) for w in chain.from_iterable(sentences)), dtype=np.int64,
                       count=int(raw.sum()))
    known = flat >= 0
    sentence_of = np.repeat(np.arange(len(sentences)), raw)
    kept_per_sentence = np.bincount(sentence_of[known], minlength=len(sentences))
    starts = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum(kept_per_sentence, out=starts[1:])
    return flat[known].astype(np.int32), starts, raw


# ---------------------------------------------------------------------------------------------
# Count-based embeddings: co-occurrence, PPMI, truncated SVD
# ---------------------------------------------------------------------------------------------


def cooccurrence_matrix(sentences, vocab: Sequence[str] | None = None, min_count: int = 1,
                        window: int = 2) -> tuple[sp.csr_matrix, list[str]]:
    """Count the pairs of words at most ``window`` positions apart in the same sentence.

    The window is symmetric, so the matrix is: ``X[i, j]`` counts the times word ``j`` appears
    within ``window`` positions (before or after) of word ``i``. Words outside the vocabulary
    (``vocab``, or every word seen ``min_count`` times, most frequent first) are not counted
    but still take up their position, so distances are distances in the original sentence.

    returns: X, a scipy.sparse CSR matrix (V, V) of float64 counts (most entries are zero, and a
    dense V x V matrix of 10^5 words would need 80 GB), and the vocabulary (V words).
    """
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    counts = count_words(sentences)
    if vocab is None:
        vocab, _ = build_vocab(counts, min_count)
    vocab = list(vocab)
    key_to_index = {w: i for i, w in enumerate(vocab)}
    if len(key_to_index) != len(vocab):
        raise ValueError("vocab has repeated words")
    sentences = _check_sentences(sentences)
    lookup = key_to_index.get
    ids = np.fromiter((lookup(w, -1) for w in chain.from_iterable(sentences)), dtype=np.int64)
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    sentence_of = np.repeat(np.arange(len(sentences)), lengths)
    rows, cols = [], []
    for offset in range(1, window + 1):  # pairs (p, p + offset) inside one sentence
        a, b = ids[:-offset], ids[offset:]
        ok = (sentence_of[:-offset] == sentence_of[offset:]) & (a >= 0) & (b >= 0)
        rows += [a[ok], b[ok]]  # both directions: the window is symmetric
        cols += [b[ok], a[ok]]
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(vocab), len(vocab)))
    return X.tocsr(), vocab  # tocsr adds up repeated (row, col) pairs


def ppmi(counts, alpha: float = 0.75):
    """Positive pointwise mutual information of a word-by-context count matrix.

        PMI(w, c) = log P(w, c) / (P(w) P_alpha(c)),   PPMI = max(PMI, 0)

    with P(w, c) = n(w, c) / N, P(w) = n(w, .) / N and the *smoothed* context distribution
    P_alpha(c) = n(., c)^alpha / sum_c' n(., c')^alpha. ``alpha = 1`` is plain PMI; ``alpha =
    0.75`` (Levy, Goldberg and Dagan, 2015) raises the probability of rare contexts, which
    tames PMI's bias towards them. Cells with a zero count get 0 (their PMI is -inf).

    counts: (V, C) dense array or scipy.sparse matrix; returns the same kind, float64
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    sparse = sp.issparse(counts)
    X = sp.coo_matrix(counts, dtype=np.float64) if sparse else np.asarray(counts, np.float64)
    if X.ndim != 2:
        raise ValueError(f"counts must be a 2-D matrix, got shape {X.shape}")
    values = X.data if sparse else X
    if values.size and values.min() < 0:
        raise ValueError("counts must be non-negative")
    total = X.sum()
    if total <= 0:
        raise ValueError("counts are all zero")
    p_word = np.asarray(X.sum(axis=1)).ravel() / total  # (V,)
    context = np.asarray(X.sum(axis=0)).ravel() ** alpha
    p_context = context / context.sum()  # (C,)
    if sparse:
        pmi = np.log(X.data / total / (p_word[X.row] * p_context[X.col]))
        out = sp.coo_matrix((np.maximum(pmi, 0.0), (X.row, X.col)), shape=X.shape).tocsr()
        out.eliminate_zeros()
        return out
    with np.errstate(divide="ignore", invalid="ignore"):  # log 0 = -inf; zero rows give nan
        pmi = np.log(X / total) - np.log(p_word)[:, None] - np.log(p_context)[None, :]
    return np.where(X > 0, np.maximum(pmi, 0.0), 0.0)


def svd_embeddings(matrix, dim: int, power: float = 0.5, seed: int = 0) -> np.ndarray:
    """Rows of ``U_d S_d^power`` from the truncated SVD ``M ~ U_d S_d V_d^T`` (top ``dim``).

    ``power = 1`` gives the best rank-``dim`` approximation's row coordinates; ``power = 0.5``
    (the default, after Levy et al.) weighs the directions less unequally and usually gives
    better word similarities; ``power = 0`` keeps only the directions. Singular vectors are
    defined up to sign, so each column is flipped to make its largest-magnitude entry positive:
    the result is deterministic. Columns come in order of falling singular value.

    A sparse matrix uses ``scipy.sparse.linalg.svds`` (ARPACK, started from a seeded vector)
    when ``dim`` is well below its size; otherwise a dense ``numpy.linalg.svd``.

    returns: (V, dim) float32
    """
    from scipy.sparse.linalg import svds

    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    n = min(matrix.shape)
    if dim > n:
        raise ValueError(f"dim={dim} exceeds the matrix's smaller side {n} (shape {matrix.shape})")
    if sp.issparse(matrix) and dim < n - 1:
        v0 = np.random.default_rng(seed).uniform(-1, 1, n)
        u, s, _ = svds(matrix.astype(np.float64), k=dim, v0=v0)
        order = np.argsort(-s)
        u, s = u[:, order], s[order]
    else:
        dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, np.float64)
        u, s, _ = np.linalg.svd(dense, full_matrices=False)
        u, s = u[:, :dim], s[:dim]
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(dim)])
    signs[signs == 0] = 1.0
    return (u * signs * s**power).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Word vectors and their evaluation
# ---------------------------------------------------------------------------------------------


class WordNotInVocabulary(KeyError):
    """A KeyError that says which word is missing and how big the vocabulary is."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class WordVectors:
    """A vocabulary and one vector per word, like gensim's ``KeyedVectors``.

    index_to_key: list of the V words; key_to_index: dict word -> row; vectors: (V, d) float32.
    Similarities are cosines; words in queries are looked up exactly (case-sensitive), while the
    two ``evaluate_*`` methods compare case-insensitively, as gensim does.
    """

    def __init__(self, index_to_key: Sequence[str], vectors, counts=None):
        self.index_to_key = list(index_to_key)
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.index_to_key):
            raise ValueError(f"vectors must have shape ({len(self.index_to_key)}, d), one row "
                             f"per word, got {vectors.shape}")
        if len(self.key_to_index) != len(self.index_to_key):
            raise ValueError("index_to_key has repeated words")
        self.vectors = vectors if vectors.dtype == np.float32 else vectors.astype(np.float32)
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, {self.vector_size} dimensions)"

    def __len__(self) -> int:
        return len(self.index_to_key)

    @property
    def vector_size(self) -> int:
        return self.vectors.shape[1]

    def __contains__(self, word) -> bool:
        return word in self.key_to_index

    def get_index(self, word: str) -> int:
        try:
            return self.key_to_index[word]
        except KeyError:
            raise WordNotInVocabulary(
                f"word {word!r} not in vocabulary ({len(self)} words"
                + (f", e.g. {self.index_to_key[:3]})" if len(self) else ")")) from None
        except TypeError:
            raise TypeError(f"words are str, got {type(word).__name__} {word!r}") from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.get_index(word)]

    def unit_vectors(self) -> np.ndarray:
        """Every vector divided by its length (a zero vector stays zero): (V, d) float32."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return self.vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)

    def similarity(self, a: str, b: str) -> float:
        """Cosine of the angle between the vectors of two words, in [-1, 1]."""
        u, v = self[a], self[b]
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    def most_similar(self, positive=None, negative=None, topn: int = 10,
                     restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """The ``topn`` words whose vectors have the highest cosine with the query, best first,
        as (word, cosine) pairs; the query words themselves are left out.

        The query is gensim's: the mean of the *unit* vectors of the ``positive`` words minus
        those of the ``negative`` words (divided by their number), made unit length.
        ``positive`` may be one word. ``restrict_vocab`` searches only the first that many words.
        """
        if positive is None:
            positive = []
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [] if negative is None else ([negative] if isinstance(negative, str)
                                                else list(negative))
        if not positive and not negative:
            raise ValueError("most_similar needs at least one positive or negative word")
        if topn < 1:
            return []
        unit = self.unit_vectors()
        ids = [self.get_index(w) for w in positive + negative]
        weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
        query = _unit(weights @ unit[ids] / len(ids))
        return self._nearest(unit[:restrict_vocab], query, topn, set(ids))

    def _nearest(self, unit, query, topn, exclude):
        scores = unit @ query  # (V,) cosines
        k = min(topn + len(exclude), len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.index_to_key[i], float(scores[i])) for i in best if i not in exclude][:topn]

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]] | str:
        """The answer to "a is to b as c is to ?": the words nearest to b - a + c (3CosAdd, as
        ``most_similar(positive=[b, c], negative=[a])``). With ``topn=1`` returns the word."""
        result = self.most_similar(positive=[b, c], negative=[a], topn=topn)
        return result[0][0] if topn == 1 else result

    def _case_folded_vocab(self, restrict_vocab, case_insensitive) -> dict[str, int]:
        """gensim's ``ok_vocab``: the first ``restrict_vocab`` words (upper-cased when
        case-insensitive; of several spellings the first, most frequent, one wins)."""
        keys = self.index_to_key[:restrict_vocab]
        fold = str.upper if case_insensitive else (lambda w: w)
        return {fold(w): self.key_to_index[w] for w in reversed(keys)}

    def evaluate_word_pairs(self, pairs, delimiter: str = "\t", restrict_vocab: int = 300000,
                            case_insensitive: bool = True, dummy4unknown: bool = False):
        """Correlation between the model's cosines and human similarity scores, like gensim's.

        pairs: a path to a file of "word1<delimiter>word2<delimiter>score" lines (lines starting
        with ``#`` are comments; malformed lines are skipped), or an iterable of (w1, w2, score).
        Pairs with a word outside the first ``restrict_vocab`` words are skipped (or scored 0
        with ``dummy4unknown``).

        returns: (pearson, spearman, oov_ratio): scipy's results (statistic, p-value) of
        ``pearsonr`` and ``spearmanr``, and the percentage of pairs with unknown words.
        """
        from scipy import stats

        if isinstance(pairs, (str, os.PathLike)):
            with open(pairs, encoding="utf8") as f:
                rows = []
                for line in f:
                    if not line or line.startswith("#"):
                        continue
                    try:
                        a, b, score = line.split(delimiter)
                        rows.append((a, b, float(score)))
                    except (ValueError, TypeError):
                        continue
        else:
            rows = [(a, b, float(s)) for a, b, s in pairs]
        ok_vocab = self._case_folded_vocab(restrict_vocab, case_insensitive)
        fold = str.upper if case_insensitive else (lambda w: w)
        unit = self.unit_vectors()
        gold, model, oov = [], [], 0
        for a, b, score in rows:
            a, b = fold(a), fold(b)
            if a not in ok_vocab or b not in ok_vocab:
                oov += 1
                if dummy4unknown:
                    gold.append(score)
                    model.append(0.0)
                continue
            gold.append(score)
            model.append(float(unit[ok_vocab[a]] @ unit[ok_vocab[b]]))
        if not gold:
            raise ValueError(f"no usable word pairs in {pairs!r}: the file is empty or "
                             f"malformed, or every pair has a word outside the vocabulary")
        pearson = stats.pearsonr(gold, model)
        spearman = stats.spearmanr(gold, model)
        oov_ratio = 100.0 * oov / (len(gold) if dummy4unknown else len(gold) + oov)
        return pearson, spearman, oov_ratio

    def evaluate_word_analogies(self, analogies, restrict_vocab: int = 300000,
                                case_insensitive: bool = True, dummy4unknown: bool = False):
        """Accuracy on "a b c d" analogy questions (d = b - a + c?), like gensim's.

        analogies: a path to a file in the format of word2vec's ``questions-words.txt``: lines
        ": section name" start a section, other lines hold four words. A question with a word
        outside the first ``restrict_vocab`` words is skipped (or counted wrong with
        ``dummy4unknown``). The answer is the best of the 3CosAdd candidates that is none of
        a, b, c.

        returns: (accuracy, sections): the overall accuracy, and one dict per section
        ({"section": name, "correct": [(a, b, c, d), ...], "incorrect": [...]}), the last one
        being "Total accuracy".
        """
        ok_vocab = self._case_folded_vocab(restrict_vocab, case_insensitive)
        fold = str.upper if case_insensitive else (lambda w: w)
        sections, questions = [], []  # questions: (section, a, b, c, d) of known words
        with open(analogies, encoding="utf8") as f:
            for line_no, line in enumerate(f):
                if line.startswith(": "):
                    sections.append({"section": line.lstrip(": ").strip(), "correct": [],
                                     "incorrect": []})
                    continue
                if not sections:
                    raise ValueError(f"missing section header (': name') before line "
                                     f"{line_no} of {analogies}")
                words = [fold(w) for w in line.split()]
                if len(words) != 4:
                    continue
                if all(w in ok_vocab for w in words):
                    questions.append((sections[-1], *words))
                elif dummy4unknown:
                    sections[-1]["incorrect"].append(tuple(words))
        unit = self.unit_vectors()
        searched = unit[:restrict_vocab]
        for start in range(0, len(questions), 512):  # a batch of queries at a time
            batch = questions[start:start + 512]
            abc = np.array([[ok_vocab[w] for w in q[1:4]] for q in batch]).reshape(-1, 3)
            queries = (unit[abc[:, 1]] + unit[abc[:, 2]] - unit[abc[:, 0]]) / 3.0
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            scores = queries @ searched.T  # (batch, restrict_vocab)
            k = min(5 + 3, scores.shape[1])
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for (section, a, b, c, d), row, cand, inputs in zip(batch, scores, top, abc,
                                                                 strict=True):
                cand = cand[np.argsort(-row[cand], kind="stable")]
                cand = [i for i in cand if i not in set(inputs.tolist())][:5]
                predicted = None
                for i in cand:  # as gensim: the first candidate that is none of a, b, c
                    predicted = fold(self.index_to_key[i])
                    if predicted in ok_vocab and predicted not in (a, b, c):
                        break
                section["correct" if predicted == d else "incorrect"].append((a, b, c, d))
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        sections.append(total)
        n = len(total["correct"]) + len(total["incorrect"])
        return (len(total["correct"]) / n if n else 0.0), sections

    def save_word2vec_format(self, path, binary: bool = False) -> None:
        """Write the format of the original C word2vec tool, which gensim's
        ``KeyedVectors.load_word2vec_format`` reads: a header line "V d", then one line per word,
        "word v1 v2 ... vd" (text, 9 significant digits: float32 survives exactly), or "word "
        followed by d little-endian float32 (binary)."""
        bad = next((w for w in self.index_to_key if not w or any(ch.isspace() for ch in w)), None)
        if bad is not None:
            raise ValueError(f"word {bad!r} is empty or holds whitespace: the word2vec format "
                             "separates fields with spaces")
        with open(path, "wb") as f:
            f.write(f"{len(self)} {self.vector_size}\n".encode())
            for word, vec in zip(self.index_to_key, self.vectors, strict=True):
                if binary:
                    f.write(word.encode() + b" " + vec.astype("<f4").tobytes())
                else:
                    f.write((word + " " + " ".join(f"{v:.9g}" for v in vec.tolist())
                             + "\n").encode())


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def ppmi_svd_vectors(sentences, dim: int = 100, window: int = 2, min_count: int = 5,
                     alpha: float = 0.75, power: float = 0.5, seed: int = 0) -> WordVectors:
    """Count-based word vectors in one call: co-occurrences, PPMI, truncated SVD."""
    counts, vocab = cooccurrence_matrix(sentences, min_count=min_count, window=window)
    return WordVectors(vocab, svd_embeddings(ppmi(counts, alpha), dim, power, seed))


# ---------------------------------------------------------------------------------------------
# word2vec
# ---------------------------------------------------------------------------------------------

CHUNK_WORDS = 10_000  # words per chunk of training work (gensim's batch_words)
NOISE_DOMAIN = 2**31 - 1  # the last value of the cumulative noise table


def noise_table(counts, ns_exponent: float = 0.75, domain: int = NOISE_DOMAIN) -> np.ndarray:
    """gensim's ``cum_table``: word i is drawn as noise with probability count_i^e / sum_j
    count_j^e. The table holds the running sums scaled to ``domain``; drawing a uniform integer
    r < domain and finding the first entry >= r by binary search picks word i with probability
    (table[i] - table[i-1]) / domain.

    counts: (V,) ints; returns (V,) int64, ending in ``domain``
    """
    powered = np.asarray(counts, dtype=np.float64) ** float(ns_exponent)
    cumulative = np.cumsum(powered)  # sequential sums, exactly gensim's loop
    return np.round(cumulative / cumulative[-1] * domain).astype(np.int64)


def keep_thresholds(counts, sample: float) -> np.ndarray:
    """gensim's ``sample_int``: a word of count c is kept with probability

        p(c) = min(1, (sqrt(c / t) + 1) * t / c),   t = sample * (total count)

    (for ``sample >= 1``, t = int(sample * (3 + sqrt 5) / 2); ``sample = 0`` keeps all). Frequent
    words like "the" are dropped most of the time, which speeds training and lets the window
    reach further. The probability is stored as p * (2**32 - 1), compared with a 32-bit draw.

    counts: (V,) ints; returns (V,) int64 in [0, 2**32)
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if not sample:
        threshold = total
    elif sample < 1.0:
        threshold = sample * total
    else:
        threshold = int(sample * (3 + np.sqrt(5)) / 2)
    c = counts.astype(np.float64)
    p = np.minimum((np.sqrt(c / threshold) + 1) * (threshold / c), 1.0)
    return (p * (2**32 - 1)).astype(np.uint32).astype(np.int64)


class Word2Vec:
    """word2vec with negative sampling, skip-gram (``sg=1``) or CBOW (``sg=0``), like gensim's.

    The arguments carry gensim's names and meanings. Given ``sentences`` (a list of lists of
    str tokens), the constructor builds the vocabulary and trains at once; otherwise call
    ``build_vocab(sentences)`` then ``train(sentences)``. The learned vectors are in ``wv`` (a
    ``WordVectors``), the output vectors in ``syn1neg``.

    What happens, as in gensim:

    - vocabulary: words seen at least ``min_count`` times, most frequent first;
    - initial vectors: uniform in [-1, 1) / vector_size from ``numpy.random.default_rng(seed)``
      (gensim 4's ``prep_vectors``; the same seed gives gensim's very numbers), ``syn1neg`` zeros;
    - per epoch, the corpus is cut into chunks of about 10,000 words, each trained by the Numba
      kernel ``train_chunk`` (subsampling with ``keep_thresholds``, a window shrunk at random,
      ``negative`` noise words per target from ``noise_table``), at a learning rate that falls
      linearly from ``alpha`` to ``min_alpha`` with the share of all epochs' words already
      handed out. (gensim, given a list, measures that share in sentences rather than words.)
    - ``workers > 1`` trains several chunks at once in threads, each on its own copy of the
      matrices, which it merges into the shared ones after every chunk (``_on_private_copies``):
      faster, and no longer reproducible to the last digit, as the merges come in whatever
      order the threads finish (the words trained, decided by the chunks' seeds alone, stay the
      same). ``workers=1`` with a fixed ``seed`` always gives the same vectors.

    ``compute_loss=True`` sums the negative-sampling loss of every step into ``epoch_losses``
    (one number per epoch); after ``train``, ``words_per_second`` reports the speed.
    """

    def __init__(self, sentences=None, vector_size: int = 100, window: int = 5,
                 min_count: int = 5, sg: int = 1, negative: int = 5, sample: float = 1e-3,
                 alpha: float = 0.025, min_alpha: float = 0.0001, epochs: int = 5,
                 workers: int = 1, seed: int = 1, cbow_mean: int = 1, ns_exponent: float = 0.75,
                 progress: bool = True, compute_loss: bool = False):
        for name, value, low in [("vector_size", vector_size, 1), ("window", window, 1),
                                 ("min_count", min_count, 1), ("negative", negative, 1),
                                 ("epochs", epochs, 1), ("workers", workers, 1)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if sg not in (0, 1):
            raise ValueError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {sg!r}")
        if cbow_mean not in (0, 1):
            raise ValueError(f"cbow_mean must be 1 (mean) or 0 (sum), got {cbow_mean!r}")
        if not sample >= 0:
            raise ValueError(f"sample must be >= 0 (0 turns subsampling off), got {sample!r}")
        if not 0 < alpha or not 0 <= min_alpha <= alpha:
            raise ValueError(f"need 0 <= min_alpha <= alpha and alpha > 0, got alpha={alpha!r}, "
                             f"min_alpha={min_alpha!r}")
        if not math.isfinite(ns_exponent):
            raise ValueError(f"ns_exponent must be a finite number, got {ns_exponent!r}")
        self.vector_size, self.window = int(vector_size), int(window)
        self.min_count = int(min_count)
        self.sg, self.negative, self.sample = sg, int(negative), float(sample)
        self.alpha, self.min_alpha, self.epochs = float(alpha), float(min_alpha), int(epochs)
        self.workers, self.seed, self.cbow_mean = int(workers), int(seed), cbow_mean
        self.ns_exponent, self.progress, self.compute_loss = ns_exponent, progress, compute_loss
        self.wv: WordVectors | None = None
        self.epoch_losses: list[float] = []
        if sentences is not None:
            sentences = _check_sentences(sentences)
            self.build_vocab(sentences)
            self.train(sentences)

    def __repr__(self) -> str:
        vocab = f"vocab={len(self.wv)}" if self.wv is not None else "no vocabulary"
        return (f"Word2Vec({vocab}, vector_size={self.vector_size}, window={self.window}, "
                f"sg={self.sg}, negative={self.negative})")

    def build_vocab(self, sentences) -> Word2Vec:
        """Count the words, keep the frequent ones, make the noise and subsampling tables, and
        initialise the weights. Returns self."""
        counts = count_words(sentences)
        words, word_counts = build_vocab(counts, self.min_count)
        # (V, d) input vectors, exactly gensim's prep_vectors for the same seed
        vectors = np.random.default_rng(self.seed).random((len(words), self.vector_size),
                                                           dtype=np.float32)
        vectors *= 2.0
        vectors -= 1.0
        vectors /= self.vector_size
        self.wv = WordVectors(words, vectors, word_counts)
        self.syn1neg = np.zeros((len(words), self.vector_size), dtype=np.float32)  # (V, d)
        self.cum_table = noise_table(word_counts, self.ns_exponent)
        self._guide, self._shift = noise_guide(self.cum_table)
        self.sample_int = keep_thresholds(word_counts, self.sample)
        self.corpus_total_words = int(sum(counts.values()))
        return self

    def train(self, sentences, epochs: int | None = None) -> Word2Vec:
        """Train on ``sentences`` for ``epochs`` passes (default: the constructor's). Returns
        self; ``train_seconds`` and ``words_per_second`` (raw words read per second, gensim's
        measure) describe the run."""
        if self.wv is None:
            raise RuntimeError("no vocabulary yet: call build_vocab(sentences) before train()")
        epochs = self.epochs if epochs is None else epochs
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
        sentences = _check_sentences(sentences)
        ids, starts, raw = _encode(sentences, self.wv.key_to_index)
        total_raw = int(raw.sum())
        if total_raw == 0:
            raise ValueError("no words: every sentence is empty")
        jobs = _jobs(raw, epochs, self.alpha, self.min_alpha)
        losses = np.zeros(epochs)

        def run(job, syn0, syn1neg):
            epoch, n, s0, s1, lr = job
            offsets = starts[s0:s1 + 1] - starts[s0]
            trained, loss = train_chunk(
                syn0, syn1neg, ids[starts[s0]:starts[s1]], offsets, self.sample_int,
                self.cum_table, self._guide, self._shift, self.sg, self.window, self.negative,
                self.cbow_mean, lr,
                chunk_seed(self.seed, epoch, n), self.sample > 0, self.compute_loss)
            return epoch, trained, loss

        shared = [self.wv.vectors, self.syn1neg]
        bar = _progress_bar(len(jobs), epochs, self.progress)
        start = time.perf_counter()
        self.effective_words = 0
        if self.workers == 1:
            results = (run(job, *shared) for job in jobs)
        else:
            pool = ThreadPoolExecutor(self.workers)
            # in order, computed self.workers at a time, each worker on its own copies
            results = pool.map(_on_private_copies(run, shared), jobs)
        try:
            for epoch, trained, loss in results:
                self.effective_words += trained
                losses[epoch] += loss
                if bar is not None:
                    bar.update(1)
        finally:
            if self.workers > 1:
                pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        self.train_seconds = time.perf_counter() - start
        self.words_per_second = epochs * total_raw / max(self.train_seconds, 1e-9)
        if self.compute_loss:
            self.epoch_losses += losses.tolist()
        return self


def _jobs(raw_lengths: np.ndarray, epochs: int, alpha: float,
          min_alpha: float) -> list[tuple[int, int, int, int, float]]:
    """The work of a training run: every chunk of every epoch, in order, with its learning rate,
    which falls linearly from ``alpha`` to ``min_alpha`` with the share of all epochs' raw words
    handed out before the chunk.

    returns: (epoch, chunk number, first sentence, end sentence, learning rate) per chunk
    """
    total = int(raw_lengths.sum())
    chunks = _chunks(raw_lengths, CHUNK_WORDS)  # (first sentence, end sentence, words before)
    jobs = []
    for epoch in range(epochs):
        for n, (s0, s1, words_before) in enumerate(chunks):
            progress = (epoch + words_before / total) / epochs
            lr = max(min_alpha, alpha - (alpha - min_alpha) * progress)
            jobs.append((epoch, n, s0, s1, lr))
    return jobs


def _on_private_copies(train_job, shared: list[np.ndarray]):
    """``train_job(job, *matrices)`` made to run in worker threads, each on its own copies of
    the ``shared`` matrices: after every job, a worker adds what the job changed to the shared
    matrices and continues from them, which by then also hold the jobs the other workers merged
    meanwhile (``merge_copy``, one worker at a time). So a worker sees another's job at most
    one job (10,000 words) late.

    Why not let the threads update the shared matrices directly, lock-free ("Hogwild", as
    gensim does)? The output vectors of the frequent words are written by nearly every step, so
    two cores writing the same matrices pass those cache lines back and forth all the time: on
    2 cores, that made 2 workers train *slower* than 1. With private copies the cores write
    nothing in common while they train. The price: 2 copies of each matrix per worker, and a
    pass over the matrices per job. Merging less often would save passes but costs quality: with
    merges every third job or so, the WordSim353 correlation fell by some 10% and the analogy
    accuracy by more.
    """
    lock = threading.Lock()
    mine = threading.local()  # .copies: this thread's copies; .starts: them at the last merge

    def run(job):
        if not hasattr(mine, "copies"):
            with lock:
                mine.copies = [m.copy() for m in shared]
                mine.starts = [m.copy() for m in shared]
        result = train_job(job, *mine.copies)
        with lock:
            for matrix, copy, start in zip(shared, mine.copies, mine.starts, strict=True):
                merge_copy(matrix, copy, start)
        return result

    return run


def _chunks(raw_lengths: np.ndarray, chunk_words: int) -> list[tuple[int, int, int]]:
    """Cut the corpus into runs of whole sentences of at most ``chunk_words`` raw words (a
    longer sentence gets a chunk of its own), as gensim's job producer does.

    returns: (first sentence, end sentence, raw words in the chunks before) per chunk
    """
    chunks, first, size, before = [], 0, 0, 0
    for s, n in enumerate(raw_lengths.tolist()):
        if size + n > chunk_words and s > first:
            chunks.append((first, s, before))
            before += size
            first, size = s, 0
        size += n
    chunks.append((first, len(raw_lengths), before))
    return chunks


def _progress_bar(total: int, epochs: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"word2vec, {epochs} epochs", unit="chunk", leave=False)
