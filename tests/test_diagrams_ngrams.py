"""Chapter 1's diagrams draw what they say: the tokens, the context, the predicted word."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from _diagrams import boxes, label_of, texts  # noqa: E402

from tinylm.book.diagrams import kit, ngrams  # noqa: E402

SENTENCE = ["<s>", "<s>", "the", "cat", "sat", "on", "the", "mat", "</s>"]


def test_sliding_window_marks_context_and_next_word(ax):
    ngrams.sliding_window(SENTENCE, n=3, target=7, ax=ax)
    labels = texts(ax).splitlines()
    for tok in SENTENCE:  # every token of the sentence is drawn, padding included
        assert labels.count(tok) >= SENTENCE.count(tok)
    context = [label_of(ax, p) for p in boxes(ax, kit.BLUE)]
    target = [label_of(ax, p) for p in boxes(ax, kit.ORANGE)]
    assert context == ["on", "the"] and target == ["mat"]
    assert len(boxes(ax, kit.GREY)) == len(SENTENCE) - 3
    assert "window of n = 3" in labels and "context" in labels and "next" in labels
    assert "P(mat | on the) = c(on the mat) / c(on the)" in labels


def test_sliding_window_of_other_sizes(ax):
    ngrams.sliding_window(SENTENCE, n=2, target=3, ax=ax)
    assert [label_of(ax, p) for p in boxes(ax, kit.BLUE)] == ["the"]
    assert [label_of(ax, p) for p in boxes(ax, kit.ORANGE)] == ["cat"]
    assert "P(cat | the) = c(the cat) / c(the)" in texts(ax)


def test_sliding_window_must_fit(ax):
    with pytest.raises(ValueError, match="does not fit"):
        ngrams.sliding_window(SENTENCE, n=4, target=2, ax=ax)


def test_kneser_ney_ladder_has_one_rung_per_context_length(ax):
    ngrams.kneser_ney_ladder(["on", "the"], "mat", ax=ax)
    rungs = [label_of(ax, p) for p in boxes(ax, kit.BLUE)]
    assert rungs == ["P(mat | on the)", "P(mat | the)", "P(mat)"]
    assert [label_of(ax, p) for p in boxes(ax, kit.GREY)] == ["1 / |V|"]
    labels = texts(ax).splitlines()
    # raw counts at the top, continuation counts below, and a weight on every step down
    assert "c: count of “on the mat”" in labels
    assert "c: # words before “the mat”" in labels
    assert "c: # words before “mat”" in labels
    assert [t for t in labels if t.startswith("+ λ")] == ["+ λ(on the) ×", "+ λ(the) ×", "+ λ ×"]


def test_diagrams_draw_on_a_transparent_figure_of_their_own(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    # nothing returned: the drawing is the cell's only output in a notebook
    assert ngrams.sliding_window(SENTENCE, n=3, target=7) is None
    assert ngrams.kneser_ney_ladder(["the"], "mat") is None
    assert len(shown) == 2
    assert all(fig.patch.get_alpha() == 0 for fig in shown)
    # narrow enough that a phone shrinks them little: their text stays readable
    assert all(fig.get_figwidth() <= 5.5 for fig in shown)
    plt.close("all")
