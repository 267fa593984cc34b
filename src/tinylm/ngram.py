"""N-gram language models: sliding windows, counting, smoothing, perplexity, sampling.

An n-gram model makes the Markov assumption: the next token depends only on the previous
``order - 1`` tokens. By the chain rule a sentence w_1 .. w_T then has probability

    P(w_1 .. w_T) = prod_t P(w_t | w_{t-n+1} .. w_{t-1})

and every factor is estimated from counts. Three estimators live here:

- ``"mle"``:  c(context, w) / c(context, .)          (zero for anything unseen)
- ``"add_k"``: (c(context, w) + k) / (c(context, .) + k |V|)   (Lidstone; Laplace when k = 1)
- ``"kneser_ney"``: interpolated Kneser-Ney (Chen and Goodman, 1998), below.

Sentences are padded: ``order - 1`` start markers ``<s>`` before, one end marker ``</s>`` after,
so the first word has a full context and the model learns where sentences stop. Words never
seen in training are read as ``<unk>``. The vocabulary holds every training word, ``<s>``,
``</s>`` and ``<unk>``; every distribution below sums to one over it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain, repeat

import numpy as np

from tinylm.ngram_kernels import (
    EMPTY,
    SLOT,
    backoff_sentence_logprobs,
    check_key_range,
    context_totals,
    continuation_counts,
    count_ngrams,
    fill_table,
    table_bits,
)

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SMOOTHINGS = ("mle", "add_k", "kneser_ney")


# ---------------------------------------------------------------------------------------------
# Sliding windows over words, characters and bytes
# ---------------------------------------------------------------------------------------------


def ngrams(seq: Sequence, n: int) -> list[tuple]:
    """All windows of ``n`` consecutive items: ngrams("abcd", 2) -> [('a','b'), ('b','c'), ...]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def char_ngrams(text: str, n: int) -> list[str]:
    """Windows of ``n`` characters: char_ngrams("hello", 3) -> ['hel', 'ell', 'llo']."""
    if not isinstance(text, str):
        raise TypeError(f"char_ngrams expects a str, got {type(text).__name__}")
    return ["".join(g) for g in ngrams(text, n)]


def byte_ngrams(text: str | bytes, n: int) -> list[bytes]:
    """Windows of ``n`` bytes of the UTF-8 encoding: one Chinese character is 3 bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return [data[i : i + n] for i in range(len(data) - n + 1)]


# ---------------------------------------------------------------------------------------------
# The language model
# ---------------------------------------------------------------------------------------------


class NGramLM:
    """An n-gram language model over string tokens.

    >>> lm = NGramLM(order=2, smoothing="add_k", k=1.0).fit([["a", "b"], ["a", "c"]])
    >>> round(lm.prob("b", ["a"]), 4)   # (1 + 1) / (2 + 1 * 6): 6 = a, b, c, <s>, </s>, <unk>
    0.25
    """

    def __init__(self, order: int = 3, smoothing: str = "kneser_ney", k: float = 1.0,
                 discount: float = 0.75):
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
        if smoothing == "add_k" and not k > 0:
            raise ValueError(f"add_k needs k > 0 (k = 0 is smoothing='mle'), got k={k!r}")
        if smoothing == "kneser_ney" and not 0 < discount <= 1:
            raise ValueError(f"kneser_ney needs 0 < discount <= 1, got discount={discount!r}")
        self.order, self.smoothing, self.k, self.discount = order, smoothing, float(k), discount
        self.vocab: list[str] = []  # id -> token
        self._fitted = False

    def __repr__(self) -> str:
        fitted = f", vocab={len(self.vocab)}" if self._fitted else ", unfitted"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}{fitted})"

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, sentences: Iterable[Sequence[str]]) -> NGramLM:
        """Count every 1..order-gram of the padded sentences. Returns self."""
        sentences = _check_sentences(sentences)
        self._build_vocab(sentences)
        tokens, targets = self._encode(sentences)
        check_key_range(len(self.vocab), self.order)
        V = len(self.vocab)

        # counts[m]: (keys, counts) of the (m+1)-grams, i.e. the n-grams with a context of m
        counts = [count_ngrams(tokens, targets, m + 1, V) for m in range(self.order)]

        # What each level of the model counts. MLE and add-k use raw counts everywhere.
        # Kneser-Ney uses raw counts only at the top level; a lower level asks "in how many
        # different contexts did this n-gram appear?": the continuation count N1+(. ctx w).
        self._levels = []
        for m in range(self.order):
            keys, values = counts[m]
            if self.smoothing == "kneser_ney" and m < self.order - 1:
                keys, values = continuation_counts(counts[m + 1][0], m + 1, V)
            ctx_keys, totals, types = context_totals(keys, values, V)
            self._levels.append(_Level(keys, values, ctx_keys, totals, types))
        self.n_train_tokens = int(targets.shape[0])
        self._backoff = None  # the backoff tables, made by the first sentence_logprobs
        self._fitted = True
        return self

    def _build_vocab(self, sentences: list[list[str]]) -> None:
        """Vocabulary: the markers, then the training words, most frequent first (then a-z)."""
        freq = Counter(chain.from_iterable(sentences))
        _check_tokens(freq, sentences)  # a type check per distinct token, not per token
        words = sorted(freq)  # a-z, then (stable) by falling frequency
        words.sort(key=freq.__getitem__, reverse=True)
        self.vocab = [UNK, BOS, EOS, *words]
        self.index = {tok: i for i, tok in enumerate(self.vocab)}
        self.counts = freq

    def _ids(self, tokens: Iterable[str]) -> list[int]:
        return list(map(self.index.get, tokens, repeat(self.index[UNK])))  # unknown -> <unk>

    def _encode(self, sentences: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Lay the padded sentences end to end as ids; ``targets`` lists the predicted positions.

        Sentence i of length L_i becomes  <s> x (order-1), its L_i words, </s>: it takes
        L_i + order slots, and its predicted positions are its words and its </s>.
        """
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        words = np.asarray(self._ids(chain.from_iterable(sentences)), dtype=np.int64)
        starts = np.cumsum(lengths + self.order) - (lengths + self.order)  # first slot of each
        sentence_of_word = np.repeat(np.arange(len(sentences)), lengths)
        word_pos = np.arange(len(words)) - (np.cumsum(lengths) - lengths)[sentence_of_word]
        word_slots = starts[sentence_of_word] + self.order - 1 + word_pos
        eos_slots = starts + self.order - 1 + lengths

        tokens = np.full(int(lengths.sum()) + self.order * len(sentences), self.index[BOS],
                         dtype=np.int64)
        tokens[word_slots] = words
        tokens[eos_slots] = self.index[EOS]
        predicted = np.zeros(len(tokens), dtype=bool)
        predicted[word_slots] = predicted[eos_slots] = True
        return tokens, np.flatnonzero(predicted)

    # -- probabilities -----------------------------------------------------------------------

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | context). Only the last ``order - 1`` tokens of the context are used; a
        shorter context asks the lower-order model (``()`` is the unigram distribution)."""
        self._check_fitted()
        ctx = self._context_ids(context)
        return float(self._probs(np.array([self._ids([word])[0]]), ctx[None, :])[0])

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """Natural log of ``prob`` (``-inf`` where the MLE gives zero)."""
        p = self.prob(word, context)
        return math.log(p) if p > 0 else -math.inf

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """P(. | context) over ``self.vocab``: an array of ``len(vocab)`` probabilities."""
        self._check_fitted()
        ctx = self._context_ids(context)
        words = np.arange(len(self.vocab), dtype=np.int64)
        return self._probs(words, np.broadcast_to(ctx, (len(words), len(ctx))))

    def context_counts(self, context: Sequence[str] = ()) -> np.ndarray:
        """What the model counted after ``context``, for every vocabulary token: the raw counts
        c(context, w), except at Kneser-Ney's lower levels, which hold continuation counts."""
        self._check_fitted()
        ctx = self._context_ids(context)
        words = np.arange(len(self.vocab), dtype=np.int64)
        count, _, _ = self._lookup(len(ctx), words, np.broadcast_to(ctx, (len(words), len(ctx))))
        return count

    def sentence_logprob(self, sentence: Sequence[str]) -> float:
        """log P(sentence) by the chain rule, including the final ``</s>``."""
        return float(np.sum(self._target_logprobs(_check_sentences([sentence]))))

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """exp of the mean negative log-probability per predicted token (words and ``</s>``)."""
        logp = self._target_logprobs(_check_sentences(sentences))
        return float(np.exp(-np.mean(logp)))

    def sentence_logprobs(self, sentences: Iterable[Sequence[str]]) -> np.ndarray:
        """log P(sentence) for each sentence, scored all at once: an array of floats.

        A Kneser-Ney model scores in its backoff form, from one hash table per level (built
        on the first call; see ``tinylm.ngram_kernels``), as KenLM does; the other smoothings
        add up their interpolated probabilities.
        """
        self._check_fitted()
        sentences = _check_sentences(sentences)
        if self.smoothing == "kneser_ney":
            return self.sentence_logprobs_of_ids(*self.encode(sentences))
        sizes = np.fromiter(map(len, sentences), np.int64, len(sentences))
        logp = self._target_logprobs(sentences)  # words and </s> of every sentence, in order
        return np.add.reduceat(logp, np.cumsum(sizes + 1) - (sizes + 1))  # each has its </s>

    def encode(self, sentences: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The sentences as ids: every word's id, one sentence after another (``<unk>``'s for
        a word the model does not know), and each sentence's length. One dict look-up per
        word: in Python, most of the time scoring takes."""
        self._check_fitted()
        sentences = _check_sentences(sentences)
        lengths = np.fromiter(map(len, sentences), np.int64, len(sentences))
        unknown = self.index[UNK]  # no list in between: map straight into the array
        words = np.fromiter(map(self.index.get, chain.from_iterable(sentences),
                                repeat(unknown)), np.int64, int(lengths.sum()))
        return words, lengths

    def sentence_logprobs_of_ids(self, words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``sentence_logprobs`` of sentences given as ``encode`` returns them (Kneser-Ney)."""
        self._check_fitted()
        if self.smoothing != "kneser_ney":
            raise ValueError("scoring from ids walks the backoff form, which only Kneser-Ney "
                             f"models have; smoothing={self.smoothing!r}: use sentence_logprobs")
        words, lengths = np.asarray(words, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
        V = len(self.vocab)
        if lengths.ndim != 1 or words.ndim != 1 or lengths.sum() != len(words) or \
                (lengths < 0).any() or ((words < 0) | (words >= V)).any():
            raise ValueError("words must be ids in [0, vocabulary size) and lengths must add up "
                             "to their number, as encode(sentences) returns them")
        return backoff_sentence_logprobs(words, lengths, self.order, V, self.index[BOS],
                                         self.index[EOS], *self._backoff_tables(), -math.log(V))

    def _target_logprobs(self, sentences: list[list[str]]) -> np.ndarray:
        self._check_fitted()
        tokens, targets = self._encode(sentences)
        m = self.order - 1
        contexts = tokens[targets[:, None] + np.arange(-m, 0)]  # (n_targets, m)
        with np.errstate(divide="ignore"):
            return np.log(self._probs(tokens[targets], contexts))

    def _context_ids(self, context: Sequence[str]) -> np.ndarray:
        if isinstance(context, str):
            raise TypeError(f"context must be a sequence of tokens, got the str {context!r}; "
                            f"did you mean {context.split()!r}?")
        context = list(context)[-(self.order - 1):] if self.order > 1 else []
        return np.asarray(self._ids(context), dtype=np.int64)

    def _probs(self, words: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """Vectorised P(words[i] | contexts[i]).

        words: (n,) ids; contexts: (n, m) ids with 0 <= m <= order - 1, newest token last
        """
        m = contexts.shape[1]
        V = len(self.vocab)
        if self.smoothing == "kneser_ney":
            return self._kneser_ney(words, contexts)
        count, total, _ = self._lookup(m, words, contexts)
        if self.smoothing == "add_k":
            return (count + self.k) / (total + self.k * V)
        with np.errstate(invalid="ignore", divide="ignore"):  # MLE: unseen context -> 0
            return np.where(total > 0, count / np.maximum(total, 1), 0.0)

    def _kneser_ney(self, words: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """Interpolated Kneser-Ney, from the shortest context up to the full one:

            P(w | c) = max(a(c, w) - d, 0) / T(c)  +  d * N(c) / T(c) * P(w | c minus its oldest)

        a(c, w) is the count of (c, w) at the top level and its continuation count below it;
        T(c) = sum_w a(c, w); N(c) = #{w : a(c, w) > 0} is how many times we discounted, so the
        second term hands exactly the discounted mass to the shorter context. Below the unigram
        level sits the uniform distribution 1 / |V|: that is what gives ``<unk>`` its share.
        A context never seen (T(c) = 0) passes the shorter context's estimate through unchanged.
        """
        d, V = self.discount, len(self.vocab)
        p = np.full(words.shape[0], 1.0 / V)
        for m in range(contexts.shape[1] + 1):  # m = length of the context at this level
            count, total, types = self._lookup(m, words, contexts[:, contexts.shape[1] - m :])
            seen = total > 0
            safe_total = np.maximum(total, 1)
            interpolated = (np.maximum(count - d, 0.0) + d * types * p) / safe_total
            p = np.where(seen, interpolated, p)
        return p

    def _lookup(self, m: int, words: np.ndarray, contexts: np.ndarray):
        """Level m's count a(c, w), total T(c) and types N(c) for each (context, word) row.

        contexts: (n, m) ids. Returns three float arrays of shape (n,).
        """
        level, V = self._levels[m], len(self.vocab)
        ctx_keys = np.zeros(words.shape[0], dtype=np.int64)
        for j in range(m):
            ctx_keys = ctx_keys * V + contexts[:, j]
        count = _find(level.keys, ctx_keys * V + words, level.values)[0]
        total, types = _find(level.ctx_keys, ctx_keys, level.totals, level.types)
        return count, total, types

    def _backoff_tables(self) -> tuple:
        """The model in backoff form for ``backoff_sentence_logprobs``: per level, log P(w | c)
        for each n-gram (c, w) the level counted and log b(c, w), its weight as a context one
        level up (b(c) = d N(c) / T(c): what a word never counted after c gets of the shorter
        context's probability; 0 where (c, w) is no context). Made once, on the first call."""
        if self._backoff is not None:
            return self._backoff
        V, d = len(self.vocab), self.discount

        def as_context(keys: np.ndarray, m: int) -> np.ndarray:
            """log b of n-gram ``keys`` as contexts of level m (0 where not one)."""
            logb = np.zeros(len(keys))
            if m < self.order:
                level = self._levels[m]
                total, types = _find(level.ctx_keys, keys, level.totals, level.types)
                seen = total > 0
                logb[seen] = np.log(d * types[seen] / total[seen])
            return logb

        levels = []
        for m, level in enumerate(self._levels):  # m: context length
            grams = _unpack(level.keys, m + 1, V)  # (n, m + 1) oldest first
            with np.errstate(divide="ignore"):
                logp = np.log(self._probs(grams[:, -1], grams[:, :-1]))
            levels.append((level.keys, logp, as_context(level.keys, m + 1)))
        unigram_logp, unigram_logb = np.full(V, np.nan), np.zeros(V)
        unigram_logp[levels[0][0]], unigram_logb[levels[0][0]] = levels[0][1], levels[0][2]

        bits = np.array([0] + [table_bits(len(keys)) for keys, _, _ in levels[1:]], np.int64)
        sizes = np.where(np.arange(len(bits)) > 0, 1 << bits, 0)
        starts = (np.cumsum(sizes) - sizes).astype(np.int64)
        slots = np.full(SLOT * max(int(sizes.sum()), 1), EMPTY, dtype=np.int64)
        for m in range(1, self.order):
            fill_table(slots, starts[m], bits[m], *levels[m])

        bos = self.index[BOS]
        start_logb = np.zeros(self.order)  # the contexts of a sentence's first word: <s> x j
        for j in range(1, self.order):
            start_logb[j] = as_context(np.array([sum(bos * V**i for i in range(j))]), j)[0]
        empty_logb = float(as_context(np.array([0]), 0)[0])
        self._backoff = (unigram_logp, unigram_logb, slots, starts, bits, start_logb,
                         empty_logb)
        return self._backoff

    # -- the ARPA backoff format (KenLM, SRILM) ---------------------------------------------

    def to_arpa(self, path) -> None:
        """Write the Kneser-Ney model as an ARPA file, the text format of KenLM and SRILM.

        An ARPA file lists, for every n-gram (c, w) the model has seen, log10 P(w | c), and
        for every context c a log10 *backoff weight* b(c). A reader computes

            P(w | c) = the listed P(w | c)             if (c, w) is listed,
                       b(c) * P(w | c minus its oldest)  otherwise (b = 1 for an unlisted c).

        Interpolated Kneser-Ney has this form: for a word never counted after c the first
        term of the interpolation is zero, so P(w | c) = d N(c) / T(c) * P(w | shorter c).
        The listed probabilities are the model's own (interpolation included), and b(c) is
        read off the model with a word that is never predicted, hence never listed: ``<s>``.

        KenLM starts a sentence with one ``<s>`` where we put ``order - 1``. An n-gram that
        starts a sentence is written with one ``<s>`` and the probability of our full padded
        context; the shorter padded contexts (``<s> w`` inside ``<s> <s> w``) only ever serve
        those, so they are left out. The n-grams written are then exactly the distinct n-grams
        of the training sentences with one ``<s>`` in front and ``</s>`` at the end.
        """
        self._check_fitted()
        if self.smoothing != "kneser_ney":
            raise ValueError(f"to_arpa writes Kneser-Ney models only: smoothing={self.smoothing!r} "
                             "has no backoff form (its unseen n-grams do not share one weight "
                             "per context)")
        spaced = [t for t in self.vocab if not t or any(ch.isspace() for ch in t)]
        if spaced:
            raise ValueError(f"ARPA separates words by whitespace: cannot write {spaced[0]!r}")
        words = np.array(self.vocab, dtype=object)
        sections = [self._arpa_section(n) for n in range(1, self.order + 1)]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\\data\\\n")
            f.writelines(f"ngram {n}={len(grams)}\n" for n, (grams, _, _) in enumerate(sections, 1))
            for n, (grams, logp, logb) in enumerate(sections, 1):
                f.write(f"\n\\{n}-grams:\n")
                fields = [np.char.mod("%.7f", logp), [" ".join(row) for row in words[grams]]]
                if logb is not None:  # the highest order has no backoff weights
                    fields.append(np.char.mod("%.7f", logb))
                f.writelines("\t".join(line) + "\n" for line in zip(*fields, strict=True))
            f.write("\n\\end\\\n")

    def _arpa_section(self, n: int):
        """The n-grams of the ARPA file in KenLM's form (one leading <s> at most).

        returns: ids (N, n), log10 P(last | the rest) (N,), log10 backoff (N,) or None
        """
        V, bos, top = len(self.vocab), self.index[BOS], self.order - 1
        if n == 1:  # every word: the unigram level ends in the uniform 1 / |V|
            grams = np.arange(V, dtype=np.int64)[:, None]
        else:  # the n-grams seen inside sentences, then those that start a sentence
            inside = _unpack(self._levels[n - 1].keys, n, V)
            inside = inside[(inside != bos).all(axis=1)]
            full = _unpack(self._levels[top].keys, self.order, V)  # (<s> x k, words)
            starts = full[(full == bos).sum(axis=1) == self.order - n + 1][:, self.order - n:]
            grams = np.concatenate([inside, starts])
        logp = np.log10(self._kenlm_probs(grams[:, -1], grams[:, :-1]))
        if n == self.order:
            return grams, logp, None
        never = np.full(len(grams), bos)  # P(<s> | c) / P(<s> | shorter c) = b(c)
        backoff = self._kenlm_probs(never, grams) / self._kenlm_probs(never, grams[:, 1:])
        return grams, logp, np.log10(backoff) + 0.0  # + 0.0: no "-0.0000000"

    def _kenlm_probs(self, words: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """P(words[i] | contexts[i]) for contexts in KenLM's form: a leading <s> stands for
        our ``order - 1`` markers. contexts: (N, m) ids with m <= order - 1."""
        bos, m = self.index[BOS], contexts.shape[1]
        starts = contexts[:, 0] == bos if m else np.zeros(len(words), dtype=bool)
        p = np.empty(len(words))
        p[~starts] = self._probs(words[~starts], contexts[~starts])
        padding = np.full((int(starts.sum()), self.order - 1 - m), bos, dtype=np.int64)
        p[starts] = self._probs(words[starts], np.hstack([padding, contexts[starts]]))
        return p

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("this NGramLM is not fitted yet: call .fit(sentences) first")

    # -- sampling ----------------------------------------------------------------------------

    def generate(self, max_tokens: int = 20, context: Sequence[str] = (),
                 seed: int | np.random.Generator | None = None) -> list[str]:
        """Sample up to ``max_tokens`` tokens after ``context``, stopping at ``</s>``.

        The context is read as the start of a sentence (it is padded with ``<s>``). ``<s>`` is
        never sampled; ``</s>`` ends the sample and is not returned.
        """
        self._check_fitted()
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        rng = np.random.default_rng(seed)
        history = [BOS] * (self.order - 1) + list(context)
        out: list[str] = []
        for _ in range(max_tokens):
            p = self.distribution(history)
            p[self.index[BOS]] = 0.0
            if p.sum() <= 0:  # the MLE can meet a context it never saw
                break
            token = self.vocab[rng.choice(len(p), p=p / p.sum())]
            if token == EOS:
                break
            out.append(token)
            history.append(token)
        return out


class _Level:
    """One level of the model: n-grams with a context of m tokens, as sorted key tables."""

    def __init__(self, keys, values, ctx_keys, totals, types):
        self.keys, self.values = keys, values  # (n,) n-gram keys -> a(c, w)
        self.ctx_keys, self.totals, self.types = ctx_keys, totals, types  # (m,) -> T(c), N(c)


def _find(keys: np.ndarray, queries: np.ndarray, *tables: np.ndarray) -> list[np.ndarray]:
    """For each table, table[keys == q] for each query (0 where q is absent), as floats.

    A binary search in the sorted ``keys``; the queries are searched in sorted order, which
    lets NumPy start each search where the previous one ended.
    """
    if len(keys) == 0:
        return [np.zeros(queries.shape[0]) for _ in tables]
    order = np.argsort(queries)
    idx = np.empty_like(order)
    idx[order] = np.searchsorted(keys, queries[order])
    idx = np.minimum(idx, len(keys) - 1)
    hit = keys[idx] == queries
    return [np.where(hit, table[idx], 0).astype(np.float64) for table in tables]


def _unpack(keys: np.ndarray, n: int, base: int) -> np.ndarray:
    """n-gram keys (N,) -> their ids (N, n), oldest first (the inverse of the key packing)."""
    powers = base ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return keys[:, None] // powers % base


def _check_sentences(sentences) -> list[list[str]]:
    """Accept an iterable of token lists; reject the usual mistakes with a clear message."""
    if isinstance(sentences, str):
        raise TypeError("expected a list of sentences (lists of tokens), got a str")
    out = []
    for i, sent in enumerate(sentences):
        if isinstance(sent, str):
            raise TypeError(f"sentence {i} is a str; a sentence must be a list of tokens, "
                            f"e.g. {sent.split()[:5]!r}")
        out.append(sent if isinstance(sent, list) else list(sent))  # no copy: saves GC time
    if not out:
        raise ValueError("no sentences given: need at least one sentence")
    return out


def _check_tokens(distinct_tokens, sentences) -> None:
    """Tokens must be str and must not be the markers the model adds itself."""
    bad = [t for t in distinct_tokens if not isinstance(t, str) or t in (BOS, EOS)]
    if not bad:
        return
    i = next(i for i, sent in enumerate(sentences) if bad[0] in sent)
    if isinstance(bad[0], str):
        raise ValueError(f"sentence {i} contains the reserved marker {bad[0]!r}; "
                         "NGramLM adds the sentence markers itself")
    raise TypeError(f"sentence {i}: tokens must be str, got {type(bad[0]).__name__} {bad[0]!r}")


# ---------------------------------------------------------------------------------------------
# N-gram features: the "gram list" as a feature space
# ---------------------------------------------------------------------------------------------


class NGramFeatures:
    """Count vectors over the frequent n-grams of a collection of texts.

    ``fit`` slides a window of ``n`` characters, bytes or words over every text, keeps the
    grams seen at least ``min_count`` times (the thresholded "gram list"), and each kept gram
    becomes one dimension. ``transform`` maps each text to its vector of gram counts.
    """

    LEVELS = ("char", "byte", "word")

    def __init__(self, n: int = 3, level: str = "char", min_count: int = 2,
                 max_features: int | None = None):
        if level not in self.LEVELS:
            raise ValueError(f"level must be one of {self.LEVELS}, got {level!r}")
        if n < 1 or min_count < 1:
            raise ValueError(f"need n >= 1 and min_count >= 1, got n={n}, min_count={min_count}")
        self.n, self.level, self.min_count, self.max_features = n, level, min_count, max_features
        self.grams: list = []

    def _grams(self, text: str) -> list:
        if self.level == "char":
            return char_ngrams(text, self.n)
        if self.level == "byte":
            return byte_ngrams(text, self.n)
        return ngrams(text.split(), self.n)

    def fit(self, texts: Iterable[str]) -> NGramFeatures:
        freq = Counter(g for text in texts for g in self._grams(text))
        kept = [g for g, c in freq.most_common(self.max_features) if c >= self.min_count]
        if not kept:
            raise ValueError(f"no {self.n}-gram occurs at least min_count={self.min_count} times")
        self.grams = kept
        self.index = {g: i for i, g in enumerate(kept)}
        return self

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        """(n_texts, n_features) array of gram counts."""
        if not self.grams:
            raise RuntimeError("NGramFeatures is not fitted yet: call .fit(texts) first")
        texts = list(texts)
        X = np.zeros((len(texts), len(self.grams)))
        for row, text in enumerate(texts):
            for g in self._grams(text):
                j = self.index.get(g)
                if j is not None:
                    X[row, j] += 1
        return X

    def fit_transform(self, texts: Iterable[str]) -> np.ndarray:
        texts = list(texts)
        return self.fit(texts).transform(texts)
