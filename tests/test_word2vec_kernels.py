"""The word2vec Numba kernels equal their NumPy references (run also with NUMBA_DISABLE_JIT=1,
where the kernels run as ordinary Python), and training with them learns."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylm.embeddings import Word2Vec, noise_table
from tinylm.word2vec_kernels import (
    LCG_MASK,
    _draw_negatives,
    cbow_update,
    cbow_update_reference,
    chunk_seed,
    merge_copy,
    merge_copy_reference,
    noise_guide,
    sgns_pair_update,
    sgns_pair_update_reference,
    train_chunk,
    train_chunk_reference,
)


def random_weights(rng, V, d, scale):
    """Input and output matrices; a large ``scale`` makes some scores leave (-6, 6)."""
    syn0 = (rng.standard_normal((V, d)) * scale).astype(np.float32)
    syn1neg = (rng.standard_normal((V, d)) * scale).astype(np.float32)
    return syn0, syn1neg


def assert_close(got, want, what):
    err = np.abs(got - want).max()
    assert err <= 1e-5 * max(1.0, np.abs(want).max()), f"{what}: max abs difference {err}"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 40), k=st.integers(1, 8),
       scale=st.sampled_from([0.05, 0.5, 2.0]), alpha=st.floats(0.001, 0.5))
def test_sgns_pair_update_equals_reference(seed, d, k, scale, alpha):
    rng = np.random.default_rng(seed)
    V = 12
    syn0, syn1neg = random_weights(rng, V, d, scale)
    inp, target = rng.integers(0, V, 2)
    negatives = rng.integers(0, V, k).astype(np.int32)  # may repeat, may hit the target
    ref0, ref1 = syn0.copy(), syn1neg.copy()
    sgns_pair_update_reference(ref0, ref1, int(inp), int(target), negatives, alpha)
    sgns_pair_update(syn0, syn1neg, int(inp), int(target), negatives, alpha,
                     np.empty(d, np.float32), False)
    assert_close(syn0, ref0, "syn0")
    assert_close(syn1neg, ref1, "syn1neg")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 40), k=st.integers(1, 8),
       n_context=st.integers(0, 10), cbow_mean=st.sampled_from([0, 1]),
       scale=st.sampled_from([0.05, 0.5, 2.0]), alpha=st.floats(0.001, 0.5))
def test_cbow_update_equals_reference(seed, d, k, n_context, cbow_mean, scale, alpha):
    rng = np.random.default_rng(seed)
    V = 12
    syn0, syn1neg = random_weights(rng, V, d, scale)
    context = rng.integers(0, V, n_context).astype(np.int32)  # repeats allowed
    target = int(rng.integers(0, V))
    negatives = rng.integers(0, V, k).astype(np.int32)
    ref0, ref1 = syn0.copy(), syn1neg.copy()
    cbow_update_reference(ref0, ref1, context, target, negatives, alpha, cbow_mean)
    cbow_update(syn0, syn1neg, context, target, negatives, alpha, cbow_mean,
                np.empty(d, np.float32), np.empty(d, np.float32), False)
    assert_close(syn0, ref0, "syn0")
    assert_close(syn1neg, ref1, "syn1neg")


def test_saturated_scores_are_skipped_like_gensim():
    # score 8 >= MAX_EXP for the target: no step at all, even though the label is 1
    syn0 = np.array([[2.0, 2.0], [0.0, 0.0]], np.float32)
    syn1neg = np.array([[2.0, 2.0], [0.0, 0.0]], np.float32)
    a0, a1 = syn0.copy(), syn1neg.copy()
    sgns_pair_update(a0, a1, 0, 0, np.array([0], np.int32), 0.1, np.empty(2, np.float32))
    assert np.array_equal(a0, syn0) and np.array_equal(a1, syn1neg)


def test_one_step_by_hand():
    # h = (1, 0), u_target = (0.5, 0), no usable negative (it equals the target):
    # g = (1 - sigmoid(0.5)) * alpha; u += g h; h += g u_old
    syn0 = np.array([[1.0, 0.0]], np.float32)
    syn1neg = np.array([[0.5, 0.0]], np.float32)
    g = (1 - 1 / (1 + np.exp(-0.5))) * 0.1
    sgns_pair_update(syn0, syn1neg, 0, 0, np.array([0], np.int32), 0.1, np.empty(2, np.float32))
    np.testing.assert_allclose(syn1neg, [[0.5 + g, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(syn0, [[1.0 + g * 0.5, 0.0]], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), V=st.integers(1, 300), bits=st.integers(1, 16))
def test_guided_draws_equal_a_full_binary_search(seed, V, bits):
    rng = np.random.default_rng(seed)
    cum = noise_table(rng.integers(1, 1000, V))
    guide, shift = noise_guide(cum, bits)
    negatives = np.empty(50, np.int32)
    state = int(rng.integers(0, LCG_MASK))
    _draw_negatives(negatives, cum, guide, shift, state)
    expected = []
    for _ in range(50):  # gensim's generator, in Python's unbounded integers
        expected.append(int(np.searchsorted(cum, (state >> 16) % int(cum[-1]), side="left")))
        state = (state * 25214903917 + 11) & LCG_MASK
    assert negatives.tolist() == expected


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("subsample", [True, False])
def test_train_chunk_equals_reference(sg, subsample):
    rng = np.random.default_rng(7)
    V, d, window, negative = 15, 6, 3, 4
    syn0, syn1neg = random_weights(rng, V, d, 0.3)
    lengths = [5, 1, 0, 12, 30, 2]
    ids = rng.integers(0, V, sum(lengths)).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    counts = rng.integers(1, 50, V)
    cum = noise_table(counts)
    guide, shift = noise_guide(cum)
    sample_int = rng.integers(0, 2**32, V).astype(np.int64)
    seed = chunk_seed(3, 1, 2)
    ref0, ref1 = syn0.copy(), syn1neg.copy()
    n_ref = train_chunk_reference(ref0, ref1, ids, starts, sample_int, cum, sg, window, negative,
                                  1, 0.05, seed, subsample)
    n, _ = train_chunk(syn0, syn1neg, ids, starts, sample_int, cum, guide, shift, sg, window,
                       negative, 1, 0.05, seed, subsample, False)
    assert n == n_ref
    assert n < len(ids) if subsample else n == len(ids)
    assert_close(syn0, ref0, "syn0")
    assert_close(syn1neg, ref1, "syn1neg")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), V=st.integers(1, 20), d=st.integers(1, 40))
def test_merge_copy_equals_reference(seed, V, d):
    rng = np.random.default_rng(seed)
    shared, copy, start = (rng.standard_normal((V, d)).astype(np.float32) for _ in range(3))
    want = [m.copy() for m in (shared, copy, start)]
    merge_copy_reference(*want)
    merge_copy(shared, copy, start)
    for got, ref, name in zip((shared, copy, start), want, ("shared", "copy", "start"),
                              strict=True):
        np.testing.assert_array_equal(got, ref, err_msg=name)


def test_merge_copy_keeps_both_workers_changes():
    # two workers start from the shared zeros; A adds 1 to row 0, B adds 2 to rows 0 and 1
    shared = np.zeros((2, 3), np.float32)
    a_copy, a_start = shared.copy(), shared.copy()
    b_copy, b_start = shared.copy(), shared.copy()
    a_copy[0] += 1.0
    b_copy[:2] += 2.0
    merge_copy(shared, a_copy, a_start)
    merge_copy(shared, b_copy, b_start)
    np.testing.assert_array_equal(shared, [[3, 3, 3], [2, 2, 2]])
    np.testing.assert_array_equal(b_copy, shared)  # B continues with A's change too
    np.testing.assert_array_equal(b_start, shared)
    np.testing.assert_array_equal(a_copy, [[1, 1, 1], [0, 0, 0]])  # A sees B's at its next merge


def test_chunk_seeds_differ_and_fit_48_bits():
    seeds = {chunk_seed(s, e, c) for s in range(3) for e in range(3) for c in range(3)}
    assert len(seeds) == 27
    assert all(0 <= x <= LCG_MASK for x in seeds)


def topic_corpus(rng, n_sentences=150):
    """Sentences drawn from one of two disjoint word sets: words of a set co-occur."""
    topics = [[f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]]
    return [list(rng.choice(topics[rng.integers(2)], size=8)) for _ in range(n_sentences)]


@pytest.mark.parametrize("sg", [1, 0])
def test_training_learns_which_words_co_occur(sg):
    corpus = topic_corpus(np.random.default_rng(0))
    model = Word2Vec(corpus, vector_size=10, window=3, min_count=1, sg=sg, negative=3,
                     sample=0, alpha=0.05, epochs=8, seed=2, progress=False, compute_loss=True)
    unit = model.wv.unit_vectors()
    topic = np.array([w[0] == "a" for w in model.wv.index_to_key])
    cos = unit @ unit.T
    same = cos[topic[:, None] == topic[None, :]].mean()
    other = cos[topic[:, None] != topic[None, :]].mean()
    assert same > other + 0.5, f"within-topic cosine {same:.2f} vs across {other:.2f}"
    losses = model.epoch_losses
    assert len(losses) == 8 and losses[-1] < 0.9 * losses[0], f"loss did not fall: {losses}"
