"""Chapter 4's diagram: one step of beam search, worked out by hand and drawn.

The example is the chapter's: a bigram table, prompt "c", two beams ("a" and "b") after the
first step, length penalty 1. The bookkeeping must agree with the package's own `beam_step`,
and the drawing must show every candidate with its numbers and its fate.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from tinylm.book.diagrams import decoding  # noqa: E402
from tinylm.generation import beam_step  # noqa: E402

TOKENS = ["</s>", "a", "b", "c"]
TABLE = {"a": {"</s>": 0.6, "a": 0.1, "b": 0.25, "c": 0.05},
         "b": {"</s>": 0.1, "a": 0.8, "b": 0.05, "c": 0.05}}
BEAMS = [("a", math.log(0.5)), ("b", math.log(0.25))]


def step():
    return decoding.beam_step_candidates(BEAMS, [TABLE["a"], TABLE["b"]], generated_len=2)


def test_the_worked_step_by_hand():
    cands = step()
    assert [c.text for c in cands[:4]] == ["a </s>", "b a", "a b", "a a"]
    assert [c.status for c in cands] == ["finished", "kept", "kept", "pruned"] + ["unseen"] * 4
    assert [c.rank for c in cands] == list(range(1, 9))
    assert [round(c.score, 3) for c in cands[:4]] == [-1.204, -1.609, -2.079, -2.996]
    assert round(cands[0].final_score, 3) == -0.602  # -1.204 / 2
    assert [c.next_beam for c in cands[1:3]] == [0, 1]
    assert all(c.final_score is None for c in cands[1:])
    # every candidate's score is its beam's score plus the log of its probability
    for c in cands:
        text, score = BEAMS[c.beam]
        assert c.score == pytest.approx(score + math.log(TABLE[text][c.token]))


def test_the_shortlist_is_the_packages():
    beam_scores = torch.tensor([s for _, s in BEAMS])
    log_probs = torch.tensor([[TABLE[b][t] for t in TOKENS] for b, _ in BEAMS]).log()
    scores, parents, tokens = beam_step(beam_scores, log_probs, num_beams=2)
    shortlist = [c for c in step() if c.status != "unseen"]
    assert len(shortlist) == scores.shape[1] == 4
    for c, score, parent, token in zip(shortlist, scores[0], parents[0], tokens[0], strict=True):
        assert (c.beam, c.token) == (parent.item(), TOKENS[token.item()])
        assert c.score == pytest.approx(score.item(), abs=1e-6)


def test_an_ending_candidate_below_the_first_b_is_pruned_and_the_penalty_applies():
    beams = [("x", -0.1), ("y", -0.2)]
    probs = [{"x": 0.7, "</s>": 0.3}, {"y": 0.6, "</s>": 0.4}]
    cands = decoding.beam_step_candidates(beams, probs, generated_len=4, length_penalty=2.0)
    assert [(c.text, c.status) for c in cands] == [
        ("x x", "kept"), ("y y", "kept"), ("y </s>", "pruned"), ("x </s>", "pruned")]
    beams = [("x", -0.1), ("y", -3.0)]
    cands = decoding.beam_step_candidates(beams, probs, generated_len=4, length_penalty=2.0)
    assert [c.status for c in cands] == ["kept", "finished", "kept", "pruned"]
    assert cands[1].final_score == pytest.approx((-0.1 + math.log(0.3)) / 16)


def test_the_drawing_shows_beams_candidates_and_fates():
    fig, ax = plt.subplots()
    decoding.beam_search_step(BEAMS, [TABLE["a"], TABLE["b"]], generated_len=2, ax=ax)
    texts = [t.get_text() for t in ax.texts]
    # the beams with their scores
    assert {"beams", "a", "b", "s = \u22120.693", "s = \u22121.386"} <= set(texts)
    # all eight extensions, ranked, each with the sum a reader can check
    for i, name in enumerate(["a </s>", "b a", "a b", "a a", "b </s>", "a c", "b b", "b c"], 1):
        assert f"{i}. {name}" in texts
    assert "\u22120.693 + ln 0.6 = \u22121.204" in texts
    assert "\u22121.386 + ln 0.8 = \u22121.609" in texts
    # their fates: one finished (with its length-penalised score), two kept, one pruned
    assert texts.count("finished") == 1
    assert texts.count("kept") == 2 and "as beam 0" in texts and "as beam 1" in texts
    assert texts.count("pruned") == 1 and "never\nlooked at" in texts
    assert "finished hypotheses" in texts and "a </s>: \u22121.204 / 2 = \u22120.602" in texts
    assert "\u2191 the shortlist: the best 2B = 4" in texts
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 2 + 8 + 1  # beams, candidates, finished hypotheses
    assert sum(b.get_linestyle() == "--" for b in boxes) == 4  # the four never looked at
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 8 + 2  # one per extension, and the path to the finished hypotheses
    assert not ax.axison and fig.patch.get_alpha() == 0
    plt.close(fig)
