"""The next-token explorer embeds numbers the browser turns into bars: they must be the model's."""

import json

import numpy as np
import pytest

from tinylm import data
from tinylm.ngram import NGramLM
from tinylm.widgets import NextTokenExplorer


@pytest.fixture(scope="module")
def corpus():
    return data.lee_sentences()[:300]


@pytest.fixture(scope="module")
def state(corpus):
    return NextTokenExplorer(corpus, order=3, k=0.5, discount=0.75, top=5, max_contexts=20).data


def test_explorer_numbers_are_the_models(corpus, state):
    d = state
    kn = NGramLM(3, "kneser_ney", discount=0.75).fit(corpus)
    addk = NGramLM(3, "add_k", k=0.5).fit(corpus)
    assert d["vocab_size"] == len(kn.vocab)
    checked = 0
    for key, entry in d["contexts"].items():
        ctx = key.split()
        words = [d["words"][i] for i in entry["w"]]
        for word, count, p_kn in zip(words, entry["c"], entry["kn"], strict=True):
            assert p_kn == pytest.approx(kn.prob(word, ctx), rel=5e-3)
            if len(ctx) == 2:  # the browser's add-k formula, from the embedded counts
                p = (count + 0.5) / (entry["total"] + 0.5 * d["vocab_size"])
                assert p == pytest.approx(addk.prob(word, ctx))
                checked += 1
        assert entry["unk"] == pytest.approx(kn.prob("<unk>", ctx), rel=5e-3)
    assert checked > 50
    # every shorter context Kneser-Ney backs off to is embedded too, down to the empty one
    assert "" in d["contexts"]
    assert all(" ".join(k.split()[1:]) in d["contexts"] for k in d["contexts"] if k)


def test_each_panel_can_rank_its_own_top_words(corpus, state):
    """MLE and add-k rank by count, Kneser-Ney by its probability: an entry holds the leaders
    of both rankings, so every panel of the page can be sorted by its own numbers."""
    d, top = state, state["top"]
    kn = NGramLM(3, "kneser_ney", discount=0.75).fit(corpus)
    mle = NGramLM(3, "mle").fit(corpus)
    hidden = {kn.index["<s>"], kn.index["<unk>"]}
    differ = 0
    for key, entry in d["contexts"].items():
        ctx = key.split()
        kept = {d["words"][i] for i in entry["w"]}
        p_kn, counts = kn.distribution(ctx), mle.context_counts(ctx)
        ids = [i for i in range(len(kn.vocab)) if i not in hidden]
        best_kn = sorted(ids, key=lambda i: -p_kn[i])[:top]
        best_count = sorted((i for i in ids if counts[i] > 0), key=lambda i: -counts[i])[:top]
        # ties at the cut may pick either word: compare the probabilities/counts kept
        assert sorted((p_kn[kn.index[w]] for w in kept), reverse=True)[:top] == pytest.approx(
            [p_kn[i] for i in best_kn])
        assert sorted((counts[mle.index[w]] for w in kept), reverse=True)[:len(best_count)] \
            == [counts[i] for i in best_count]
        assert entry["c"] == sorted(entry["c"], reverse=True)  # most counted first
        differ += [d["words"][i] for i in entry["w"]][:top] != [kn.vocab[i] for i in best_kn]
    assert differ > 0  # the two rankings do differ somewhere: one order for all panels is wrong


def test_state_is_small(state):
    """The state is written into the page: each word spelled once, probabilities to 3 digits."""
    assert len(state["words"]) == len(set(state["words"]))
    probs = [p for e in state["contexts"].values() for p in [*e["kn"], e["unk"]]]
    assert all(float(f"{p:.3g}") == p for p in probs)
    assert all(len(e["w"]) <= 2 * state["top"] for e in state["contexts"].values())
    per_context = len(json.dumps(state["contexts"], separators=(",", ":"))) / len(
        state["contexts"])
    assert per_context < 60 * 2 * state["top"]


def test_explorer_opens_on_the_most_frequent_context_by_default(state):
    assert state["initial"] == next(iter(state["contexts"]))
    assert len(state["initial"].split()) == 2


def test_explorer_rejects_a_unigram_model(corpus):
    with pytest.raises(ValueError, match="order >= 2"):
        NextTokenExplorer(corpus, order=1)


def test_top_words_exclude_markers(corpus):
    d = NextTokenExplorer(corpus, order=2, max_contexts=10).data
    words = {d["words"][i] for e in d["contexts"].values() for i in e["w"]}
    assert "<s>" not in words and "<unk>" not in words
    assert np.isfinite([p for e in d["contexts"].values() for p in e["kn"]]).all()
