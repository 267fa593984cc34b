"""The beam-tree viewer in headless Chromium, rendered without a kernel as the static book does.

No chapter shows the widget yet, so the page is put together the way the book's pages are
(`_chromium.write_widget_page`, shared by the widget browser tests): the widget state
(`ipywidgets.embed.embed_data`, with the `_esm` module, which must not be dropped as a
default) in a `widget-state+json` script, a `widget-view+json` script per view, and the book's
offline scripts (require.js, widgets-config.js, the html-manager's embed-amd.js, anywidget's
bundle), linked from the same sources `tinylm.book.offline` copies into the book.
No `make book` is needed, only `npm ci`.

Two widgets share the page: the hand-built trace of test_beam_tree_widget.py (two beams, three
steps) and a large synthetic one (20 steps x 16 candidates) that has to scroll.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _chromium import Problems, open_widget_page
from test_beam_tree_widget import EOS, Candidate, Hypothesis, Trace, decode, fake_trace

from tinylm.widgets import BeamTreeViewer

pytestmark = pytest.mark.browser


def big_trace(n_steps: int = 20, num_beams: int = 8, seed: int = 0) -> Trace:
    """A random but consistent trace: 2 x num_beams candidates a step, ranked by score; the
    first num_beams that do not end the sequence are kept, end-of-sequence ones finish."""
    rng = random.Random(seed)
    steps, finished, beams = [], [], [((), 0.0)]  # (generated tokens, score) per kept beam
    for s in range(n_steps):
        cands = []
        for parent, (tokens, score) in enumerate(beams):
            for _ in range(2 * num_beams // len(beams) + (s == 0)):
                token = EOS if rng.random() < 0.08 and s > 1 else rng.randrange(10, 4000)
                lp = -round(rng.expovariate(1.5), 4)
                cands.append((score + lp, parent, token, lp, tokens))
        cands = sorted(cands, key=lambda c: -c[0])[:2 * num_beams]
        step, kept = [], []
        for score, parent, token, lp, tokens in cands:
            if token == EOS:
                final = round(score / (len(tokens) + 1), 4)
                finished.append(Hypothesis(list(tokens) + [EOS], score, final, s, len(step)))
                step.append(Candidate(s, parent, token, lp, score, "finished", None, final))
            elif len(kept) < num_beams:
                step.append(Candidate(s, parent, token, lp, score, "kept", len(kept)))
                kept.append((tokens + (token,), score))
            else:
                step.append(Candidate(s, parent, token, lp, score, "pruned"))
        steps.append(step)
        beams = kept
    finished.sort(key=lambda h: -h.final_score)
    for h in finished[:2]:
        h.returned = True
    return Trace(prompt_length=3, num_beams=num_beams, length_penalty=1.0, steps=steps,
                 finished=finished)


def big_decode(i: int) -> str:
    return "</s>" if i == EOS else f"<b>{i}" if i % 7 == 0 else f" w{i}"


@dataclass
class Session:
    tab: object
    problems: Problems
    small: object  # the .tinylm-beam-tree locators
    big: object


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    widgets = {"small": BeamTreeViewer(fake_trace(), decode, prompt="Once", title="two beams"),
               "big": BeamTreeViewer(big_trace(), big_decode, prompt="It was a")}
    with open_widget_page(browser, tmp_path_factory.mktemp("beam-tree"), "beam tree", widgets,
                          viewport={"width": 900, "height": 800}) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       small=tab.locator("#small .tinylm-widget.tinylm-beam-tree"),
                       big=tab.locator("#big .tinylm-widget.tinylm-beam-tree"))
        for widget in (seen.small, seen.big):
            widget.locator(".tbt-svg").wait_for(timeout=30_000)
        yield seen


def node(widget, step: int, token_id: int, parent_token: int | None = None):
    """The locator of the candidate drawn for (step, token), found through the embedded state."""
    nodes = BeamTreeViewer(fake_trace(), decode, prompt="Once").data["nodes"]
    ids = [n["id"] for n in nodes if n["step"] == step and n["token_id"] == token_id
           and (parent_token is None or nodes[n["parent"]]["token_id"] == parent_token)]
    assert len(ids) == 1
    return widget.locator(f'.tbt-svg .tbt-node[data-id="{ids[0]}"]')


def info(widget) -> dict[str, str]:
    fields = widget.locator(".tbt-info [data-field]")
    return dict(zip(fields.evaluate_all("els => els.map(e => e.dataset.field)"),
                    fields.all_inner_texts(), strict=True))


def test_one_drawn_node_per_candidate_by_status(session):
    trace = fake_trace()
    svg = session.small.locator(".tbt-svg")
    for status in ("kept", "pruned", "finished"):
        expected = sum(c.status == status for step in trace.steps for c in step)
        assert svg.locator(f'.tbt-node[data-status="{status}"]').count() == expected, status
    assert svg.locator(".tbt-edge").count() == 12  # one edge into every candidate
    assert svg.locator(".tbt-step").all_text_contents() == ["step 0", "step 1", "step 2"]
    assert svg.locator(".tbt-finished .tbt-flag").count() == 3
    legend = session.small.locator(".tbt-legend").inner_text()
    for word in ("kept", "pruned", "finished", "returned"):
        assert word in legend


def test_the_returned_hypothesis_is_highlighted(session):
    svg = session.small.locator(".tbt-svg")
    assert svg.locator(".tbt-node.tbt-path").count() == 3
    assert svg.locator(".tbt-edge.tbt-path").count() == 3
    returned = svg.locator(".tbt-node.tbt-returned")
    assert returned.count() == 1
    assert returned.get_attribute("data-id") == node(session.small, 2, EOS, 3) \
        .get_attribute("data-id")
    hyps = session.small.locator(".tbt-hyp")
    assert hyps.count() == 3
    assert session.small.locator(".tbt-hyp-returned .tbt-hyp-text").all_inner_texts() == \
        [" the dog</s>"]


def test_hovering_a_node_shows_its_details(session):
    w = session.small
    node(w, 1, EOS).hover()
    assert info(w) == {
        "token": "</s>", "token_id": "0", "text": '"</s>"', "logprob": "\u22120.050",
        "score": "\u22121.250", "final": "\u22120.625", "rank": "2 of 4", "step": "1",
        "beam": "\u2014", "sequence": " cat</s>"}
    assert "finished" in w.locator(".tbt-head").inner_text()
    # the hovered candidate's ancestry is traced back to the prompt
    assert w.locator(".tbt-svg .tbt-node.tbt-trace").count() == 2
    node(w, 0, 3).hover()  # a pruned candidate has no final score
    got = info(w)
    assert (got["token"], got["text"], got["score"], got["final"], got["rank"]) == \
        ("\u2423dog", '" dog"', "\u22121.600", "\u2014", "3 of 4")


def test_a_click_pins_the_details(session):
    w = session.small
    pinned = node(w, 2, 4)  # " the cat sat"
    pinned.click()
    assert "tbt-pinned" in pinned.get_attribute("class")
    node(w, 0, 6).hover()
    assert info(w)["token_id"] == "6"
    w.locator(".tbt-summary").hover()  # leaving the tree brings back the pinned one
    assert info(w)["sequence"] == " the cat sat"
    pinned.click()  # a second click releases it
    assert w.locator(".tbt-pinned").count() == 0


def test_a_big_tree_scrolls_and_stays_readable(session):
    w, trace = session.big, big_trace()
    svg = w.locator(".tbt-svg")
    total = sum(len(step) for step in trace.steps)
    assert total == 320
    assert svg.locator(".tbt-node[data-status]").count() == total
    for status in ("kept", "pruned", "finished"):
        expected = sum(c.status == status for step in trace.steps for c in step)
        assert svg.locator(f'.tbt-node[data-status="{status}"]').count() == expected
    assert svg.locator(".tbt-node.tbt-returned").count() == 2
    scroll = w.locator(".tbt-scroll")
    size = scroll.evaluate("e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]")
    assert size[0] > size[1] + 1000 and size[2] > size[3], size
    box = w.bounding_box()
    assert box["width"] <= 900 and box["height"] < 1100, box
    # a candidate of the last step, scrolled into view and hovered
    last = svg.locator(".tbt-node[data-status]").last
    last.hover()
    assert scroll.evaluate("e => e.scrollLeft") > 0
    got = info(w)
    assert got["step"] == "19" and got["token_id"] == str(trace.steps[-1][-1].token_id)
    # token text is shown as text, never parsed as HTML
    tagged = next(c for step in trace.steps for c in step if c.token_id % 7 == 0)
    w.evaluate("(root, t) => root.querySelector(`.tbt-node[aria-label*='${t}']`)"
               ".dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))",
               f"<b>{tagged.token_id}")
    assert info(w)["text"] == json.dumps(f"<b>{tagged.token_id}")
    assert w.locator(".tbt-info b").count() == 0


def test_no_errors_and_no_request_leaves_the_machine(session):
    session.tab.wait_for_timeout(300)
    assert session.problems.page_errors == []
    assert session.problems.console_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
