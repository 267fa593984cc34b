"""The BPE merge viewer in headless Chromium, rendered without a kernel as the static book does.

The page is put together here as the book's pages are (the widget state with its `_esm`, a view
script per widget, the book's offline scripts; see test_beam_tree_browser.py). A reader types
texts (ASCII, accents, Chinese, emoji, whitespace) and moves the slider; at every position
tried, the chips (label and id) and the merge named above them must be what
`tinylm.widgets.bpe_merges.expected_steps` computes with tinylm.bpe, and the last step must be
the course tokenizer's encoding. A second widget embeds only the first 200 merges and opens on
step 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _chromium import Problems, open_widget_page

from tinylm.tokenizer import load_tokenizer
from tinylm.widgets import BPEMergesViewer
from tinylm.widgets.bpe_merges import DEFAULT_TEXT, expected_steps

pytestmark = pytest.mark.browser

TEXTS = {
    "ascii": "the lowest newest widest, unbelievable",
    "accents": "Café naïve façade, déjà vu à Zürich",
    "chinese": "我们的猫喜欢吃鱼。",
    "emoji": "emoji 🙂👍🏽 and 🇫🇷!",
    "mixed": "Tokenizers: 12 cats,  猫 🙂\ttab\nnew line",
}
SHORT_TEXT = "Tokenizers learn the lowest words"


@dataclass
class Session:
    tab: object
    problems: Problems
    full: object  # the .tinylm-bpe-merges locators
    short: object


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    widgets = {"full": BPEMergesViewer(title="the course tokenizer"),
               "short": BPEMergesViewer(text=SHORT_TEXT, max_merges=200, step=2)}
    with open_widget_page(browser, tmp_path_factory.mktemp("bpe-merges"), "bpe merges", widgets,
                          viewport={"width": 900, "height": 900}) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       full=tab.locator("#full .tinylm-widget.tinylm-bpe-merges"),
                       short=tab.locator("#short .tinylm-widget.tinylm-bpe-merges"))
        for widget in (seen.full, seen.short):
            widget.locator(".tbm-chip").first.wait_for(timeout=30_000)
        yield seen


def chips(widget) -> list[tuple[str, int]]:
    """(label, id) of every chip, in order."""
    return [(label, int(i)) for label, i in widget.locator(".tbm-chip").evaluate_all(
        "els => els.map(e => [e.querySelector('.tbm-label').textContent, e.dataset.id])")]


def move_slider(widget, k: int) -> None:
    """Set the slider to k as dragging it would (an input event)."""
    widget.locator(".tbm-step").evaluate(
        "(el, k) => { el.value = k; el.dispatchEvent(new Event('input', {bubbles: true})); }", k)


def n_steps(widget) -> int:
    return int(widget.locator(".tbm-step").get_attribute("max"))


def assert_step(widget, expected: list[dict], k: int, text: str) -> None:
    assert widget.locator(".tbm-step").input_value() == str(k)
    assert chips(widget) == expected[k]["tokens"], f"{text!r}, step {k}"
    merge = expected[k]["merge"]
    line = widget.locator(".tbm-merge")
    assert line.get_attribute("data-rank") == ("" if merge is None else str(merge["rank"]))
    if merge is not None:
        assert f"(id {merge['made']})" in line.inner_text()
        assert widget.locator(".tbm-chip.tbm-new").count() >= 1
        assert all(int(i) == merge["made"] for i in widget.locator(".tbm-chip.tbm-new")
                   .evaluate_all("els => els.map(e => e.dataset.id)"))
    assert widget.locator(".tbm-step-value").inner_text() == f"step {k} of {len(expected) - 1}"


def test_the_page_opens_on_the_tokenizers_output(session):
    expected = expected_steps(DEFAULT_TEXT)
    assert session.full.locator(".tbm-text").input_value() == DEFAULT_TEXT
    assert n_steps(session.full) == len(expected) - 1
    assert_step(session.full, expected, len(expected) - 1, DEFAULT_TEXT)
    ids = load_tokenizer().encode(DEFAULT_TEXT, add_special_tokens=False).ids
    assert [i for _, i in chips(session.full)] == ids
    assert session.full.locator(".tbm-title").inner_text() == "the course tokenizer"
    assert session.full.locator(".tbm-step-item").count() == len(expected) - 1


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_typed_text_matches_tinylm_at_every_slider_position_tried(session, name):
    text, widget = TEXTS[name], session.full
    box = widget.locator(".tbm-text")
    if name == "ascii":  # typed key by key, as a reader would
        box.fill("")
        box.press_sequentially(text)
    else:
        box.fill(text)
    expected = expected_steps(text)
    last = len(expected) - 1
    assert n_steps(widget) == last
    assert_step(widget, expected, last, text)  # a new text shows its tokens
    assert [i for _, i in chips(widget)] == \
        load_tokenizer().encode(text, add_special_tokens=False).ids
    for k in sorted({0, 1, 2, last // 3, last // 2, last - 1, last} & set(range(last + 1))):
        move_slider(widget, k)
        assert_step(widget, expected, k, text)
    summary = widget.locator(".tbm-summary").inner_text()
    assert f"{len(text.encode())} bytes" in summary and f"{last} merges" in summary


def test_buttons_and_the_list_of_merges_move_the_slider(session):
    widget, text = session.full, TEXTS["ascii"]
    widget.locator(".tbm-text").fill(text)
    expected = expected_steps(text)
    move_slider(widget, 0)
    assert widget.locator(".tbm-prev").is_disabled()
    widget.locator(".tbm-next").click()
    assert_step(widget, expected, 1, text)
    widget.locator(".tbm-next").click()
    widget.locator(".tbm-prev").click()
    assert_step(widget, expected, 1, text)
    widget.locator(".tbm-step-item").nth(4).click()  # the fifth merge applied
    assert_step(widget, expected, 5, text)
    assert widget.locator(".tbm-step-item.tbm-current").get_attribute("data-step") == "5"
    assert widget.locator(".tbm-step-item.tbm-done").count() == 4
    move_slider(widget, len(expected) - 1)
    assert widget.locator(".tbm-next").is_disabled()


def test_play_runs_through_the_merges(session):
    widget, text = session.full, "lowest"
    widget.locator(".tbm-text").fill(text)
    expected = expected_steps(text)
    widget.locator(".tbm-play").click()  # at the last step, play starts again from the bytes
    assert widget.locator(".tbm-play").inner_text() == "pause"
    session.tab.wait_for_timeout(900 * len(expected))
    assert widget.locator(".tbm-play").inner_text() == "play"
    assert_step(widget, expected, len(expected) - 1, text)


def test_a_widget_with_the_first_merges_only(session):
    widget = session.short
    expected = expected_steps(SHORT_TEXT, max_merges=200)
    assert n_steps(widget) == len(expected) - 1
    assert_step(widget, expected, 2, SHORT_TEXT)  # it opens where it was told to
    assert "first 200 merges" in widget.locator(".tbm-summary").inner_text()
    move_slider(widget, len(expected) - 1)
    assert_step(widget, expected, len(expected) - 1, SHORT_TEXT)
    # fewer merges, more tokens than the whole tokenizer makes
    assert len(expected[-1]["tokens"]) > len(expected_steps(SHORT_TEXT)[-1]["tokens"])


def test_no_errors_and_nothing_fetched_from_elsewhere(session):
    assert session.problems.page_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
