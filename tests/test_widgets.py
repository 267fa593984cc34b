"""The next-token explorer embeds numbers the browser turns into bars: they must be the model's."""

import numpy as np
import pytest

from tinylm import data
from tinylm.ngram import NGramLM
from tinylm.widgets import NextTokenExplorer


@pytest.fixture(scope="module")
def corpus():
    return data.lee_sentences()[:300]


def test_explorer_numbers_are_the_models(corpus):
    w = NextTokenExplorer(corpus, order=3, k=0.5, discount=0.75, max_contexts=20)
    d = w.data
    kn = NGramLM(3, "kneser_ney", discount=0.75).fit(corpus)
    addk = NGramLM(3, "add_k", k=0.5).fit(corpus)
    assert d["vocab_size"] == len(kn.vocab)
    checked = 0
    for key, entry in d["contexts"].items():
        ctx = key.split()
        for word, count, p_kn in zip(entry["words"], entry["counts"], entry["kn"], strict=True):
            assert p_kn == pytest.approx(kn.prob(word, ctx), rel=1e-3)
            if len(ctx) == 2:  # the browser's add-k formula, from the embedded counts
                p = (count + 0.5) / (entry["total"] + 0.5 * d["vocab_size"])
                assert p == pytest.approx(addk.prob(word, ctx))
                checked += 1
        assert entry["kn_unk"] == pytest.approx(kn.prob("<unk>", ctx), rel=1e-3)
        assert entry["kn"] == sorted(entry["kn"], reverse=True)
    assert checked > 50
    # every shorter context Kneser-Ney backs off to is embedded too, down to the empty one
    assert "" in d["contexts"]
    assert all(" ".join(k.split()[1:]) in d["contexts"] for k in d["contexts"] if k)


def test_explorer_rejects_a_unigram_model(corpus):
    with pytest.raises(ValueError, match="order >= 2"):
        NextTokenExplorer(corpus, order=1)


def test_top_words_exclude_markers(corpus):
    d = NextTokenExplorer(corpus, order=2, max_contexts=10).data
    words = {w for e in d["contexts"].values() for w in e["words"]}
    assert "<s>" not in words and "<unk>" not in words
    assert np.isfinite([p for e in d["contexts"].values() for p in e["kn"]]).all()
