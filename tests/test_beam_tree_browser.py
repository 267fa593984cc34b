"""The beam-tree viewer in headless Chromium, rendered without a kernel as the static book does.

No chapter shows the widget yet, so the page is put together here the way the book's pages
are: the widget state (`ipywidgets.embed.embed_data`, with the `_esm` module, which must not
be dropped as a default) in a `widget-state+json` script, a `widget-view+json` script per view,
and the book's offline scripts (require.js, widgets-config.js, the html-manager's embed-amd.js,
anywidget's bundle), linked from the same sources `tinylm.book.offline` copies into the book.
No `make book` is needed, only `npm ci`.

Two widgets share the page: the hand-built trace of test_beam_tree_widget.py (two beams, three
steps) and a large synthetic one (20 steps x 16 candidates) that has to scroll.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from _chromium import serve, widget_page
from ipywidgets.embed import embed_data
from test_beam_tree_widget import EOS, Candidate, Hypothesis, Trace, decode, fake_trace

from tinylm.book import offline
from tinylm.widgets import BeamTreeViewer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]

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


def link_assets(folder: Path) -> None:
    """_static/tinylm-assets/ as the book has it, linked from node_modules and the venv."""
    app = SimpleNamespace(confdir=str(REPO), srcdir=str(REPO),
                          config=SimpleNamespace(tinylm_node_modules="node_modules"))
    try:
        plan = offline._copy_plan(app)
    except Exception as error:  # a missing `npm ci` or anywidget bundle, with its message
        pytest.fail(f"the book's offline scripts are not installed: {error}")
    target = folder / "_static" / offline.ASSETS
    for source, relative in plan:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).symlink_to(source, target_is_directory=source.is_dir())
    (target / "widgets-config.js").write_text(offline.WIDGETS_CONFIG_JS, encoding="utf-8")


def write_page(folder: Path, widgets: dict[str, BeamTreeViewer]) -> None:
    data = embed_data(views=list(widgets.values()), drop_defaults=False)
    views = dict(zip(widgets, data["view_specs"], strict=True))
    (folder / "index.html").write_text(
        widget_page("beam tree", data["manager_state"], views), encoding="utf-8")
    link_assets(folder)


@dataclass
class Session:
    tab: object
    small: object  # the .tinylm-beam-tree locators
    big: object
    external_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    folder = tmp_path_factory.mktemp("beam-tree")
    write_page(folder, {
        "small": BeamTreeViewer(fake_trace(), decode, prompt="Once", title="two beams"),
        "big": BeamTreeViewer(big_trace(), big_decode, prompt="It was a"),
    })
    with serve(folder) as base:
        tab = browser.new_page(viewport={"width": 900, "height": 800})
        seen = Session(tab=tab, small=tab.locator("#small .tinylm-widget.tinylm-beam-tree"),
                       big=tab.locator("#big .tinylm-widget.tinylm-beam-tree"))
        tab.on("request", lambda req: None if req.url.startswith((base, "data:", "blob:"))
               else seen.external_requests.append(req.url))
        tab.on("response", lambda resp: seen.failed_requests.append(f"{resp.status} {resp.url}")
               if resp.status >= 400 else None)
        tab.on("requestfailed", lambda req: seen.failed_requests.append(f"failed {req.url}"))
        tab.on("pageerror", lambda err: seen.page_errors.append(str(err)))
        tab.on("console", lambda msg: seen.console_errors.append(f"{msg.text} {msg.location}")
               if msg.type == "error" else None)
        try:
            tab.goto(f"{base}/index.html", wait_until="load")
            for widget in (seen.small, seen.big):
                widget.locator(".tbt-svg").wait_for(timeout=30_000)
            yield seen
        finally:
            tab.close()


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
    assert session.page_errors == []
    assert session.console_errors == []
    assert session.external_requests == []
    assert session.failed_requests == []
