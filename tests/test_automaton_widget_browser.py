"""The automaton explorer in headless Chromium, rendered without a kernel as the static book does.

The page is put together as the book's pages are (the widget state with its `_esm`, a view
script, the book's offline scripts; see test_beam_tree_browser.py). A reader picks each
automaton and moves along its path; at every step tried, the state, the number of allowed
tokens, the sample of them and the tokens of the text so far must be what
`tinylm.widgets.automaton.expected_steps` computes with tinylm.structured.Index. For the small
automata the page computes the masks itself from the byte DFA: a click on an allowed token
extends the path, and the new step must again be the index's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _chromium import Problems, open_widget_page
from test_automaton_widget import SMALL

from tinylm.structured import Index, Vocabulary, regex_from_schema
from tinylm.structured.automaton import CharDFA
from tinylm.synthetic import json_record_schema, json_records
from tinylm.tokenizer import load_tokenizer
from tinylm.widgets import AutomatonExplorer
from tinylm.widgets.automaton import expected_steps

pytestmark = pytest.mark.browser


@dataclass
class Session:
    tab: object
    problems: Problems
    widget: object
    specs: list
    indexes: list
    paths: list


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    tokenizer = load_tokenizer()
    vocab = Vocabulary.from_tokenizer(tokenizer)
    event = {"name": "event", "regex": regex_from_schema(json_record_schema("event")),
             "path": json_records(1, seed=5, kind="event")[0]}
    specs = SMALL + [event]
    indexes = [Index(s["regex"], vocab) for s in specs]
    explorer = AutomatonExplorer([{**s, "index": i} for s, i in zip(specs, indexes, strict=True)],
                                 title="automata")
    paths = [a["path"] for a in explorer.data["automata"]]
    with open_widget_page(browser, tmp_path_factory.mktemp("automaton"), "automaton",
                          {"explorer": explorer}, viewport={"width": 900, "height": 1000}
                          ) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       widget=tab.locator("#explorer .tinylm-widget.tinylm-automaton"),
                       specs=specs, indexes=indexes, paths=paths)
        seen.widget.locator(".tam-count").wait_for(timeout=30_000)
        yield seen


def pick(session, k: int) -> None:
    session.widget.locator(".tam-pick").nth(k).click()


def move_slider(widget, k: int) -> None:
    widget.locator(".tam-step").evaluate(
        "(el, k) => { el.value = k; el.dispatchEvent(new Event('input', {bubbles: true})); }", k)


def ids(widget, selector: str) -> list[int]:
    return [int(i) for i in widget.locator(selector).evaluate_all(
        "els => els.map(e => e.dataset.id)")]


def assert_step(session, k: int, automaton: int, path: list[int], step: dict) -> None:
    w = session.widget
    assert w.locator(".tam-step").input_value() == str(k)
    assert w.locator(".tam-step-value").inner_text() == f"step {k} of {len(path)}"
    where = f"automaton {automaton}, step {k}"
    state = w.locator(".tam-state")
    assert int(state.get_attribute("data-state")) == step["state"], where
    assert state.get_attribute("data-final") == ("true" if step["final"] else "false"), where
    assert int(w.locator(".tam-count").get_attribute("data-allowed")) == step["allowed"], where
    assert f"{step['allowed']:,} of 4,096" in w.locator(".tam-count").inner_text()
    assert ids(w, ".tam-sample") == step["samples"], where
    assert ids(w, ".tam-text .tam-token:not(.tam-upcoming)") == path[:k], where
    upcoming = ids(w, ".tam-upcoming")
    assert upcoming == ([] if step["next"] is None else [step["next"]]), where
    if step["next"] in step["samples"]:
        assert ids(w, ".tam-sample.tam-next-token") == [step["next"]]
    spec = session.specs[automaton]
    n_char = w.locator(".tam-node").count()
    if n_char:  # the graph's current state: the character state, if the byte state is one
        current = w.locator(".tam-node.tam-current")
        if 1 <= step["state"] <= n_char:
            assert current.get_attribute("data-state") == str(step["state"] - 1), where
        else:
            assert current.count() == 0 and "inside a character" in state.inner_text()
    assert w.locator(".tam-regex").inner_text() == spec["regex"]


@pytest.mark.parametrize("automaton", range(len(SMALL)))
def test_every_step_of_a_small_automaton_is_the_indexs(session, automaton):
    pick(session, automaton)
    path, index = session.paths[automaton], session.indexes[automaton]
    steps = expected_steps(index, path)
    assert session.widget.locator(".tam-pick[aria-pressed=true]").inner_text() == \
        session.specs[automaton]["name"]
    char_dfa = CharDFA.from_regex(session.specs[automaton]["regex"])
    assert session.widget.locator(".tam-node").count() == char_dfa.n_states
    assert session.widget.locator(".tam-node.tam-final").evaluate_all(
        "els => els.map(e => Number(e.dataset.state))") == sorted(char_dfa.finals)
    for k in range(len(path) + 1):
        move_slider(session.widget, k)
        assert_step(session, k, automaton, path, steps[k])


def test_clicking_an_allowed_token_extends_the_path(session):
    w = session.widget
    pick(session, 0)  # the integer regex
    index, path = session.indexes[0], session.paths[0]
    move_slider(w, 1)  # after "-"
    chips = ids(w, "button.tam-sample")
    assert chips and all(index.next_state(expected_steps(index, path)[1]["state"], t)
                         is not None for t in chips)
    chosen = chips[-1]
    w.locator(f'button.tam-sample[data-id="{chosen}"]').click()
    new_path = path[:1] + [chosen]
    assert_step(session, 2, 0, new_path, expected_steps(index, new_path)[2])
    assert not w.locator(".tam-reset").is_disabled()
    # go on from there with whatever is allowed, twice, and step back
    for _ in range(2):
        chosen = ids(w, "button.tam-sample")[0]
        w.locator(f'button.tam-sample[data-id="{chosen}"]').click()
        new_path.append(chosen)
        assert_step(session, len(new_path), 0, new_path,
                    expected_steps(index, new_path)[len(new_path)])
    w.locator(".tam-prev").click()
    assert_step(session, len(new_path) - 1, 0, new_path,
                expected_steps(index, new_path)[len(new_path) - 1])
    w.locator(".tam-reset").click()
    assert w.locator(".tam-step").get_attribute("max") == str(len(path))
    assert w.locator(".tam-reset").is_disabled()
    # EOS is listed when the text is complete, but it is not a button
    move_slider(w, len(path))
    assert w.locator(".tam-sample.tam-eos").count() == 1
    assert w.locator("button.tam-sample.tam-eos").count() == 0


def test_hovering_an_allowed_token_lights_up_the_state_it_leads_to(session):
    w = session.widget
    pick(session, 1)  # (cat|dog|bird)s?
    move_slider(w, 0)
    index = session.indexes[1]
    chip = w.locator("button.tam-sample").first
    token = int(chip.get_attribute("data-id"))
    target = index.next_state(index.initial_state, token)
    chip.hover()
    lit = w.locator(".tam-node.tam-target")
    if 1 <= target <= w.locator(".tam-node").count():
        assert lit.get_attribute("data-state") == str(target - 1)
    w.locator(".tam-regex").hover()
    assert w.locator(".tam-node.tam-target").count() == 0


def test_the_recorded_path_of_a_schema(session):
    w = session.widget
    last = len(session.specs) - 1
    pick(session, last)
    path, index = session.paths[last], session.indexes[last]
    steps = expected_steps(index, path)
    assert w.locator(".tam-node").count() == 0 and w.locator(".tam-graph").is_hidden()
    assert "too many to draw" in w.locator(".tam-summary").inner_text()
    assert w.locator("button.tam-sample").count() == 0  # nothing to click: no DFA embedded
    bars = w.locator(".tam-bar")
    assert bars.count() == len(path) + 1
    for k in sorted({0, 1, 2, 5, 9, 17, len(path) // 2, len(path) - 1, len(path)}):
        move_slider(w, k)
        assert_step(session, k, last, path, steps[k])
        assert w.locator(".tam-bar.tam-bar-current").get_attribute("data-step") == str(k)
    bars.nth(7).click()
    assert_step(session, 7, last, path, steps[7])
    w.locator(".tam-next").click()
    assert_step(session, 8, last, path, steps[8])


def test_the_mask_map_names_the_token_under_the_pointer(session):
    w = session.widget
    pick(session, 0)
    move_slider(w, 0)
    box = w.locator(".tam-map").bounding_box()
    # token 20 ("1") sits in row 0, column 20: allowed at the start of an integer
    session.tab.mouse.move(box["x"] + 20 * 4 + 2, box["y"] + 2)
    tip = w.locator(".tinylm-tooltip")
    assert tip.is_visible() and tip.inner_text() == "20 1: allowed"
    session.tab.mouse.move(box["x"] + 4 * 4 + 2, box["y"] + 4 + 2)  # row 1, column 4: id 68, "a"
    assert tip.inner_text() == "68 a: masked"


def test_no_errors_and_nothing_fetched_from_elsewhere(session):
    assert session.problems.page_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
