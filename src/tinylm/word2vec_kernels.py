"""Training word2vec with negative sampling: Numba kernels beside the plain NumPy they must equal.

Two matrices are learned. ``syn0`` (V, d) holds the *input* vectors (the word vectors we keep),
``syn1neg`` (V, d) the *output* vectors. For an input vector ``h`` and a target word ``t`` the
model says "t really occurs here" with probability ``sigmoid(h . syn1neg[t])``. One update with
negative sampling pushes that probability to 1 for the observed target and to 0 for ``k`` noise
words drawn from the unigram^0.75 distribution, by one step of SGD on

    loss = -log sigmoid(h . u_t) - sum_n log sigmoid(-h . u_n)

The gradient of ``-log sigmoid(x)`` (label 1) or ``-log sigmoid(-x)`` (label 0) with respect to
``x`` is ``-(label - sigmoid(x))``, so with ``g = (label - sigmoid(h . u)) * alpha`` the step is
``u += g h`` for each target and ``h += sum g u`` (the sum over the targets is kept in ``work``,
computed with each ``u`` before it moves). That is gensim's ``word2vec_inner.pyx`` line by line:

- skip-gram: ``h`` is the vector of one word of the window (``syn0[input_word]``), the target the
  window's centre word; gensim's loop calls it once per (centre, neighbour) pair.
- CBOW: ``h`` is the mean (or sum, ``cbow_mean=0``) of the window's input vectors, the target the
  centre word; the accumulated ``work`` is added to *every* window word's input vector.

Like gensim, a target whose score ``x = h . u`` lies outside (-MAX_EXP, MAX_EXP) = (-6, 6) is
skipped: no step at all for it (right when the prediction is already right, sigmoid ~ label; a
missed step, rare after the first updates, when it is badly wrong). Inside, gensim reads the
sigmoid from a 1000-entry table (x rounded down to a multiple of 0.012, an error of up to
0.003); we compute it exactly.

Randomness inside a kernel comes from gensim's 48-bit linear congruential generator (the one of
Java's ``Random``): ``next = (next * 25214903917 + 11) mod 2**48``, and a draw is ``next >> 16``.
Each chunk of sentences starts from its own seed (``chunk_seed`` below), so the result of a
chunk does not depend on which thread runs it. The generator decides, in this order:
which words subsampling drops, the reduced window ``b = draw % window`` of each position, and the
negative samples (a draw below ``cum_table[-1]``, looked up by binary search in ``cum_table``;
``noise_guide`` narrows the search first, the one liberty we take for speed: same answers, one or
two steps instead of fourteen, and the search was half the running time).

With several workers, each trains its own copy of the two matrices and, after every chunk, adds
what the chunk changed to the shared matrices and takes theirs in return (``merge_copy``): the
cores never write the same memory while they train (see ``tinylm.embeddings.Word2Vec``).

Fast versions (Numba)          Plain references (NumPy, same results up to float32 rounding)
``sgns_pair_update``           ``sgns_pair_update_reference``
``cbow_update``                ``cbow_update_reference``
``train_chunk``                (``train_chunk_reference`` for tiny inputs: the same loops in Python)
``merge_copy``                 ``merge_copy_reference`` (the same results exactly)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MAX_EXP = 6.0
LCG_MULTIPLIER = 25214903917
LCG_INCREMENT = 11
LCG_MASK = (1 << 48) - 1


def chunk_seed(seed: int, epoch: int, chunk: int) -> int:
    """A 48-bit generator state for one chunk of one epoch (splitmix64 of the three numbers)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + chunk * 0x94D049BB133111EB + 1)
    x &= (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (x ^ (x >> 31)) & LCG_MASK


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath=True)
def _sigmoid_step(x, label, alpha, compute_loss):
    """The scaled gradient g = (label - sigmoid(x)) * alpha and the loss of one target, for a
    score x inside (-MAX_EXP, MAX_EXP)."""
    f = 1.0 / (1.0 + math.exp(-x))
    loss = 0.0
    if compute_loss:
        loss = -np.log(f) if label > 0 else -np.log(1.0 - f)
    return np.float32((label - f) * alpha), loss


@njit(cache=True, nogil=True, fastmath=True)
def sgns_pair_update(syn0, syn1neg, input_word, target_word, negatives, alpha, work,
                     compute_loss=False):
    """One skip-gram step: ``syn0[input_word]`` predicts ``target_word`` against ``negatives``.

    syn0, syn1neg: (V, d) float32, updated in place
    negatives:     (k,) int32 noise words; one equal to ``target_word`` is skipped (as in gensim)
    work:          (d,) float32 scratch memory
    returns:       the loss of the step (0.0 unless ``compute_loss``)
    """
    d = syn0.shape[1]
    for a in range(d):
        work[a] = 0.0
    loss = 0.0
    for n in range(negatives.shape[0] + 1):
        if n == 0:
            t, label = target_word, 1.0
        else:
            t, label = negatives[n - 1], 0.0
            if t == target_word:
                continue
        x = np.float32(0.0)
        for a in range(d):
            x += syn0[input_word, a] * syn1neg[t, a]
        if x <= -MAX_EXP or x >= MAX_EXP:
            continue
        g, step_loss = _sigmoid_step(x, label, alpha, compute_loss)
        loss += step_loss
        for a in range(d):  # one pass reads u_t once (two passes took 15% longer)
            u = syn1neg[t, a]
            work[a] += g * u
            syn1neg[t, a] = u + g * syn0[input_word, a]
    for a in range(d):
        syn0[input_word, a] += work[a]
    return loss


@njit(cache=True, nogil=True, fastmath=True)
def cbow_update(syn0, syn1neg, context, target_word, negatives, alpha, cbow_mean, neu1, work,
                compute_loss=False):
    """One CBOW step: the window ``context`` (its input vectors averaged, or summed when
    ``cbow_mean`` is 0) predicts ``target_word`` against ``negatives``.

    context:    (c,) int32 ids of the window's words, the centre excluded; c = 0 does nothing
    neu1, work: (d,) float32 scratch memory
    returns:    the loss of the step (0.0 unless ``compute_loss``)

    The negative-sampling loop below repeats ``sgns_pair_update``'s on purpose: moved into one
    shared @njit function taking the hidden vector as an argument, training ran about 20%
    slower (skip-gram 566k vs 698k words/s, CBOW 1.94M vs 2.45M, same vectors).
    """
    d = syn0.shape[1]
    c = context.shape[0]
    if c == 0:
        return 0.0
    for a in range(d):
        neu1[a] = 0.0
        work[a] = 0.0
    for m in range(c):
        w = context[m]
        for a in range(d):
            neu1[a] += syn0[w, a]
    inv_count = np.float32(1.0 / c)
    if cbow_mean:
        for a in range(d):
            neu1[a] *= inv_count
    loss = 0.0
    for n in range(negatives.shape[0] + 1):
        if n == 0:
            t, label = target_word, 1.0
        else:
            t, label = negatives[n - 1], 0.0
            if t == target_word:
                continue
        x = np.float32(0.0)
        for a in range(d):
            x += neu1[a] * syn1neg[t, a]
        if x <= -MAX_EXP or x >= MAX_EXP:
            continue
        g, step_loss = _sigmoid_step(x, label, alpha, compute_loss)
        loss += step_loss
        for a in range(d):
            u = syn1neg[t, a]
            work[a] += g * u
            syn1neg[t, a] = u + g * neu1[a]
    if not cbow_mean:  # a sum of c vectors: share the error among them
        for a in range(d):
            work[a] *= inv_count
    for m in range(c):
        w = context[m]
        for a in range(d):
            syn0[w, a] += work[a]
    return loss


def noise_guide(cum_table, bits: int = 16) -> tuple[np.ndarray, int]:
    """A guide to ``cum_table`` that makes its binary search short: for every bucket k of
    draws (those with ``r >> shift == k``), ``guide[k]`` is the answer for the bucket's smallest
    draw, so the answer for any draw of the bucket lies in [guide[k], guide[k + 1]]. With 2**16
    buckets and a vocabulary of 10**4 words, that range is one or two words wide instead of the
    whole table: about 14 steps of unpredictable branches saved per noise word, same answers.

    returns: guide (2**bits + 1,) int64 and shift
    """
    top = int(cum_table[-1])
    shift = max(0, top.bit_length() - bits)
    bucket_starts = np.arange((top >> shift) + 2, dtype=np.int64) << shift
    return np.searchsorted(cum_table, bucket_starts, side="left").astype(np.int64), shift


@njit(cache=True, nogil=True)
def _draw_negatives(negatives, cum_table, guide, shift, state):
    """Fill ``negatives`` with noise words: a draw r below cum_table[-1] picks the first index
    i with cum_table[i] >= r (bisect_left, as gensim), searching only between the guide's
    bounds. Returns the new generator state."""
    top = cum_table[cum_table.shape[0] - 1]
    for n in range(negatives.shape[0]):
        r = (state >> 16) % top
        state = (state * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK
        bucket = r >> shift
        lo, hi = guide[bucket], guide[bucket + 1]
        while hi > lo:
            mid = (lo + hi) >> 1
            if cum_table[mid] >= r:
                hi = mid
            else:
                lo = mid + 1
        negatives[n] = lo
    return state


@njit(cache=True, nogil=True, fastmath=True)
def train_chunk(syn0, syn1neg, ids, starts, sample_int, cum_table, guide, shift, sg, window,
                negative, cbow_mean, alpha, seed, subsample, compute_loss):
    """Train on a chunk of sentences, updating syn0 and syn1neg in place. Several threads may
    run this at once on different chunks (it releases the GIL), each on its own copies of the
    matrices (``merge_copy``).

    ids:        (n,) int32 vocabulary ids of the chunk's words, unknown words already removed
    starts:     (n_sentences + 1,) int64 offsets: sentence s is ids[starts[s]:starts[s+1]]
    sample_int: (V,) int64 keep thresholds: a word stays if sample_int[w] >= a 32-bit draw
    cum_table:  (V,) int64 cumulative noise table (unigram^0.75)
    guide, shift: ``noise_guide(cum_table)``, which shortens the search in cum_table
    seed:       the 48-bit generator state to start from (``chunk_seed``)
    returns:    (words trained after subsampling, summed loss or 0.0)
    """
    d = syn0.shape[1]
    work = np.empty(d, dtype=np.float32)
    neu1 = np.empty(d, dtype=np.float32)
    negatives = np.empty(negative, dtype=np.int32)
    context = np.empty(2 * window, dtype=np.int32)
    longest = 0
    for s in range(starts.shape[0] - 1):
        longest = max(longest, starts[s + 1] - starts[s])
    sentence = np.empty(longest, dtype=np.int32)
    state = seed & LCG_MASK
    trained = 0
    loss = 0.0
    for s in range(starts.shape[0] - 1):
        # 1. subsampling: frequent words are dropped at random *before* windows are formed,
        #    which widens the effective window (as in gensim and the original word2vec)
        length = 0
        for p in range(starts[s], starts[s + 1]):
            w = ids[p]
            if subsample:
                r = state >> 16
                state = (state * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK
                if sample_int[w] < r:
                    continue
            sentence[length] = w
            length += 1
        trained += length
        # 2. every position, with a window shrunk by a random b in [0, window)
        for i in range(length):
            b = (state >> 16) % window
            state = (state * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK
            lo = max(i - window + b, 0)
            hi = min(i + window + 1 - b, length)
            if sg:
                for j in range(lo, hi):
                    if j == i:
                        continue
                    state = _draw_negatives(negatives, cum_table, guide, shift, state)
                    loss += sgns_pair_update(syn0, syn1neg, sentence[j], sentence[i], negatives,
                                             alpha, work, compute_loss)
            else:
                c = 0
                for j in range(lo, hi):
                    if j != i:
                        context[c] = sentence[j]
                        c += 1
                state = _draw_negatives(negatives, cum_table, guide, shift, state)
                loss += cbow_update(syn0, syn1neg, context[:c], sentence[i], negatives, alpha,
                                    cbow_mean, neu1, work, compute_loss)
    return trained, loss


@njit(cache=True, nogil=True)
def merge_copy(shared, copy, start):
    """Hand one worker's changes to the shared matrix and take the other workers' in return:
    ``shared += copy - start``, then ``copy`` and ``start`` both become the new ``shared``.

    shared: (V, d) float32, the matrix every worker merges into (one at a time: hold a lock)
    copy:   (V, d) float32, the worker's own copy, trained since its last merge
    start:  (V, d) float32, what ``copy`` held at its last merge

    One pass instead of NumPy's four, and no fastmath: the sum is the reference's to the bit.
    """
    V, d = shared.shape
    for i in range(V):
        for a in range(d):
            x = shared[i, a] + (copy[i, a] - start[i, a])
            shared[i, a] = x
            copy[i, a] = x
            start[i, a] = x


# ---------------------------------------------------------------------------------------------
# Plain references: whole-vector NumPy, the way the maths reads
# ---------------------------------------------------------------------------------------------


def _sigmoid_reference(x: np.float32) -> np.float32:
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def sgns_pair_update_reference(syn0, syn1neg, input_word, target_word, negatives, alpha):
    """One skip-gram negative-sampling step, updating syn0 and syn1neg in place."""
    h = syn0[input_word]  # (d,) a view: the input vector
    grad_h = np.zeros_like(h)
    targets = [(target_word, 1.0)] + [(int(n), 0.0) for n in negatives if n != target_word]
    for t, label in targets:
        x = h @ syn1neg[t]
        if abs(x) >= MAX_EXP:  # saturated: no step
            continue
        g = np.float32((label - _sigmoid_reference(x)) * alpha)
        grad_h += g * syn1neg[t]  # with u_t before its own step
        syn1neg[t] += g * h
    syn0[input_word] += grad_h


def cbow_update_reference(syn0, syn1neg, context, target_word, negatives, alpha, cbow_mean=1):
    """One CBOW negative-sampling step, updating syn0 and syn1neg in place."""
    context = np.asarray(context)
    if len(context) == 0:
        return
    h = syn0[context].sum(axis=0)  # (d,) a copy
    if cbow_mean:
        h /= len(context)
    grad_h = np.zeros_like(h)
    targets = [(target_word, 1.0)] + [(int(n), 0.0) for n in negatives if n != target_word]
    for t, label in targets:
        x = h @ syn1neg[t]
        if abs(x) >= MAX_EXP:
            continue
        g = np.float32((label - _sigmoid_reference(x)) * alpha)
        grad_h += g * syn1neg[t]
        syn1neg[t] += g * h
    if not cbow_mean:
        grad_h /= len(context)
    for w in context:  # one by one: a word twice in the window gets the step twice
        syn0[w] += grad_h


def train_chunk_reference(syn0, syn1neg, ids, starts, sample_int, cum_table, sg, window,
                          negative, cbow_mean, alpha, seed, subsample):
    """``train_chunk`` in plain Python: the same draws in the same order, the reference updates.
    Returns the number of words trained after subsampling."""
    state = seed & LCG_MASK

    def draw():  # the next 32-bit draw of gensim's generator
        nonlocal state
        r = state >> 16
        state = (state * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK
        return r

    def noise_words():
        top = int(cum_table[-1])
        return [int(np.searchsorted(cum_table, draw() % top, side="left"))
                for _ in range(negative)]

    trained = 0
    for s in range(len(starts) - 1):
        sentence = [int(w) for w in ids[starts[s]:starts[s + 1]]
                    if not (subsample and sample_int[w] < draw())]
        trained += len(sentence)
        for i, centre in enumerate(sentence):
            b = draw() % window
            lo, hi = max(i - window + b, 0), min(i + window + 1 - b, len(sentence))
            neighbours = [sentence[j] for j in range(lo, hi) if j != i]
            if sg:
                for w in neighbours:
                    sgns_pair_update_reference(syn0, syn1neg, w, centre, noise_words(), alpha)
            else:
                cbow_update_reference(syn0, syn1neg, neighbours, centre, noise_words(), alpha,
                                      cbow_mean)
    return trained


def merge_copy_reference(shared, copy, start):
    """``merge_copy`` in NumPy: the worker's change (copy - start) added to the shared matrix."""
    shared += copy - start
    copy[...] = shared
    start[...] = shared
