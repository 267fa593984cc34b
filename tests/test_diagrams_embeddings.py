"""Chapter 2's diagrams draw what they say: the row a one-hot vector picks, the window of a
centre word and its positive pairs, the k noise words, and the two word2vec architectures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _diagrams import boxes, labels, texts  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from tinylm.book.diagrams import embeddings, kit  # noqa: E402

WORDS = ["tea", "coffee", "milk", "cup", "of", "a"]
SENTENCE = ["we", "drank", "a", "cup", "of", "tea", "with", "milk"]


def test_one_hot_lookup_copies_the_picked_row(ax):
    w = np.round(np.random.default_rng(3).normal(size=(6, 3)), 1)
    embeddings.one_hot_lookup(WORDS, w, picked=1, ax=ax)
    orange = labels(ax, kit.ORANGE)
    # the 1 of the one-hot vector, the row of W it picks, and that row copied out: nothing else
    expected_row = [f"{v:.1f}" for v in w[1]]
    assert orange == ["1", *expected_row, *expected_row]
    grey = labels(ax, kit.GREY)
    assert grey.count("0") == 5 and "1" not in grey
    assert len(grey) == 5 + 5 * 3  # the zeros, and the five rows they silence
    for word in WORDS:  # every row is named
        assert word in [t.get_text() for t in ax.texts]
    assert "coffee" in texts(ax).split("row “")[1]


def test_one_hot_lookup_checks_its_input(ax):
    with pytest.raises(ValueError, match="one row per word"):
        embeddings.one_hot_lookup(WORDS, np.zeros((5, 3)), 0, ax=ax)
    with pytest.raises(ValueError, match="not a row"):
        embeddings.one_hot_lookup(WORDS, np.zeros((6, 3)), 6, ax=ax)


def test_skipgram_window_marks_centre_context_and_negatives(ax):
    negatives = [("the", 0.041), ("was", 0.0061), ("paris", 0.00034)]
    embeddings.skipgram_window(SENTENCE, centre=3, window=2, negatives=negatives, ax=ax)
    assert labels(ax, kit.ORANGE) == ["cup"]
    # the window: the two words each side of "cup" (sentence row), then the positive pairs
    green = labels(ax, kit.GREEN)
    assert green == ["drank", "a", "of", "tea",
                     "cup, drank", "cup, a", "cup, of", "cup, tea"]
    assert labels(ax, kit.GREY) == ["we", "with", "milk"]  # outside the window
    # one arrow from the centre word to each context word
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
              and to_hex(p.get_edgecolor()) == kit.GREEN]
    assert len(arrows) == 4
    # k = 3 negatives, each a pair with the centre word and its noise probability
    assert len(boxes(ax, kit.RED)) == 3
    text = texts(ax)
    for word, p in negatives:
        assert f"cup, {word}" in text and f"{100 * p:.2g}%" in text
    assert "k = 3" in text and "0.75" in text


def test_skipgram_window_is_cut_at_the_sentence_edge(ax):
    embeddings.skipgram_window(SENTENCE, centre=0, window=3, negatives=[("the", 0.04)], ax=ax)
    assert labels(ax, kit.GREEN)[:3] == ["drank", "a", "cup"]
    assert len(boxes(ax, kit.GREEN)) == 6  # 3 context words and 3 pairs


def test_skipgram_window_checks_its_input(ax):
    with pytest.raises(ValueError, match="not a position"):
        embeddings.skipgram_window(SENTENCE, 8, 2, [("the", 0.04)], ax=ax)
    with pytest.raises(ValueError, match="window"):
        embeddings.skipgram_window(SENTENCE, 3, 0, [("the", 0.04)], ax=ax)
    with pytest.raises(ValueError, match="negative"):
        embeddings.skipgram_window(SENTENCE, 3, 2, [], ax=ax)


def test_cbow_vs_skipgram_draws_both_directions(ax):
    embeddings.cbow_vs_skipgram(["drank", "a", "of", "tea"], "cup", ax=ax)
    assert labels(ax, kit.GREEN) == ["drank", "a", "of", "tea"] * 2
    assert labels(ax, kit.ORANGE) == ["cup", "cup"]
    assert labels(ax, kit.BLUE) == ["mean"]  # only CBOW averages
    text = texts(ax)
    assert "skip-gram" in text and "CBOW" in text
    green = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
             and to_hex(p.get_edgecolor()) == kit.GREEN]
    blue = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
            and to_hex(p.get_edgecolor()) == kit.BLUE]
    assert len(green) == 4 and len(blue) == 4  # skip-gram: 4 predictions; CBOW: 4 inputs


def test_diagrams_show_their_own_figure(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    embeddings.cbow_vs_skipgram(["a", "b"], "c")
    assert len(shown) == 1 and shown[0].patch.get_alpha() == 0  # transparent background
    plt.close("all")
