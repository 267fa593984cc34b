"""Chapter 4's beam-search trees in headless Chromium, on the built page, without a kernel.

The chapter draws three trees with `tinylm.widgets.BeamTreeViewer`, told apart by their titles:
the worked example (two beams over a bigram table; its numbers are worked out by hand in the
chapter, and again below from the table's probabilities), and two searches of the zoo's base
model, whose numbers are read from the widget state stored in the page. Every candidate must be
drawn, the returned hypotheses highlighted, and hovering a candidate must show its numbers.

Build the book first (`make book`); BOOK_HTML points the tests at another build.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _chromium import require_built, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
PAGE = HTML / "book" / "04-generation.html"

TOY = "the worked example: 2 beams over a bigram table"
JSON_PROMPT = "4 beams on the JSON prompt, length_penalty 1"
STORY = "3 beams on a story"
RETURNED = {TOY: 2, JSON_PROMPT: 2, STORY: 3}  # num_return_sequences of each search


def num(x: float) -> str:
    """A number as the widget writes it: three decimals and a real minus sign."""
    return f"{x:.3f}".replace("-", "\u2212")


def tree_states(html: str) -> dict[str, dict]:
    """The BeamTreeViewer states stored in the page, by title."""
    found = {}
    for m in re.finditer(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)'
                         r"</script>", html, re.S):
        for model in json.loads(m.group(1))["state"].values():
            data = model["state"].get("data")
            if isinstance(data, dict) and "nodes" in data and "hypotheses" in data:
                found[data["title"]] = data
    assert set(found) == set(RETURNED), f"beam trees in {PAGE}: {sorted(found)}"
    return found


@dataclass
class Session:
    tab: object
    trees: dict[str, object]  # title -> the .tinylm-beam-tree locator
    states: dict[str, dict]
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def session(browser) -> Iterator[Session]:
    require_built(PAGE, "built chapter 4")
    states = tree_states(PAGE.read_text(encoding="utf-8"))
    with serve(HTML) as base:
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        trees = {title: tab.locator(".tinylm-widget.tinylm-beam-tree").filter(
            has=tab.locator(".tbt-title", has_text=title)) for title in states}
        seen = Session(tab=tab, trees=trees, states=states)
        try:
            tab.goto(f"{base}/book/04-generation.html", wait_until="load")
            for tree in trees.values():
                tree.locator(".tbt-svg").wait_for(timeout=30_000)
            # from here on, any error is the widgets' (the theme logs one of its own while loading)
            tab.on("pageerror", lambda err: seen.errors.append(f"pageerror: {err}"))
            tab.on("console", lambda msg: seen.errors.append(f"console: {msg.text}")
                   if msg.type == "error" else None)
            yield seen
        finally:
            tab.close()


def node(tree, node_id: int):
    return tree.locator(f'.tbt-svg .tbt-node[data-id="{node_id}"]')


def info(tree) -> dict[str, str]:
    fields = tree.locator(".tbt-info [data-field]")
    return dict(zip(fields.evaluate_all("els => els.map(e => e.dataset.field)"),
                    fields.all_inner_texts(), strict=True))


def at(state: dict, step: int, rank: int) -> dict:
    (match,) = [n for n in state["nodes"] if n["step"] == step and n["rank"] == rank]
    return match


@pytest.mark.parametrize("title", list(RETURNED))
def test_every_candidate_is_drawn_and_the_returned_ones_marked(session, title):
    tree, state = session.trees[title], session.states[title]
    assert tree.count() == 1
    svg = tree.locator(".tbt-svg")
    for status in ("kept", "pruned", "finished"):
        expected = sum(n["status"] == status for n in state["nodes"])
        assert svg.locator(f'.tbt-node[data-status="{status}"]').count() == expected, status
    assert svg.locator(".tbt-edge").count() == len(state["nodes"])
    assert svg.locator(".tbt-step").count() == state["n_steps"]
    assert svg.locator(".tbt-node.tbt-returned").count() == RETURNED[title]
    returned = [h["text"] for h in state["hypotheses"] if h["returned"]]
    assert tree.locator(".tbt-hyp-returned .tbt-hyp-text").all_inner_texts() == returned


def test_the_worked_example_shows_the_numbers_computed_by_hand(session):
    """Prompt "c"; P(. | c) = (</s> .2, a .5, b .25, c .05), P(. | a) = (.6, .1, .25, .05),
    P(. | b) = (.1, .8, .05, .05); two beams, length penalty 1."""
    tree, state = session.trees[TOY], session.states[TOY]
    eos, a = 0, 1
    ln = math.log
    cases = [  # (step, rank, token, log-prob, beam score, final score or None, status, text)
        (0, 3, eos, ln(0.2), ln(0.2), None, "pruned", "</s>"),
        (1, 1, eos, ln(0.6), ln(0.5) + ln(0.6), (ln(0.5) + ln(0.6)) / 2, "finished", " a</s>"),
        (1, 2, a, ln(0.8), ln(0.25) + ln(0.8), None, "kept", " b a"),
        (2, 1, eos, ln(0.6), ln(0.25) + ln(0.8) + ln(0.6), (ln(0.25) + ln(0.8) + ln(0.6)) / 3,
         "finished", " b a</s>"),
    ]
    for step, rank, token, logprob, score, final, status, text in cases:
        node(tree, at(state, step, rank)["id"]).hover()
        got = info(tree)
        assert (got["step"], got["rank"], got["token_id"], got["logprob"], got["score"],
                got["sequence"]) == (str(step), f"{rank} of 4", str(token), num(logprob),
                                     num(score), text)
        assert got["final"] == ("\u2014" if final is None else num(final))
        assert status in tree.locator(".tbt-head").inner_text()
    assert tree.locator(".tbt-hyp .tbt-hyp-score").all_inner_texts() == [
        num((ln(0.5) + ln(0.6)) / 2), num((ln(0.25) + ln(0.8) + ln(0.6)) / 3)]


@pytest.mark.parametrize("title", [JSON_PROMPT, STORY])
def test_hovering_a_returned_hypothesis_reads_its_scores(session, title):
    tree, state = session.trees[title], session.states[title]
    for h in [h for h in state["hypotheses"] if h["returned"]]:
        n = state["nodes"][h["node"]]
        node(tree, n["id"]).hover()
        got = info(tree)
        assert (got["step"], got["token_id"], got["score"], got["final"]) == (
            str(n["step"]), str(n["token_id"]), num(n["score"]), num(h["final"]))
        assert got["sequence"] == h["text"]
        # the whole path back to the prompt is traced
        assert tree.locator(".tbt-svg .tbt-node.tbt-trace").count() == n["step"] + 1


def test_a_click_pins_a_candidate(session):
    tree, state = session.trees[JSON_PROMPT], session.states[JSON_PROMPT]
    first, last = state["nodes"][0], state["nodes"][-1]
    node(tree, first["id"]).click()
    node(tree, last["id"]).hover()
    assert info(tree)["step"] == str(last["step"])
    tree.locator(".tbt-summary").hover()  # leaving the tree brings the pinned one back
    assert info(tree)["step"] == str(first["step"])
    node(tree, first["id"]).click()
    assert tree.locator(".tbt-pinned").count() == 0


def test_no_javascript_errors_while_interacting(session):
    session.tab.wait_for_timeout(200)
    assert session.errors == []
