"""Every widget follows the page's light or dark mode, in headless Chromium.

The book (pydata-sphinx-theme) says which with `data-theme` on <html>, JupyterLab with
`data-jp-theme-light` on <body>; common.css gives `.tinylm-widget` dark colours for both. One
page shows seven widgets, built from small states here and drawn by the book's offline
scripts (as in test_beam_tree_browser.py: no `make book` needed, only `npm ci`). The tests
switch the theme and read the computed colours back, and the pixels of the attention viewer's
canvas, which reads its colours from the theme when it draws and redraws on a switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from _chromium import Problems, open_widget_page
from test_beam_tree_widget import decode, fake_trace
from test_medusa_tree_widget import fake_output

from tinylm.widgets import (
    AttentionViewer,
    BeamTreeViewer,
    BPEMergesViewer,
    EmbeddingProjector,
    KVCacheCalculator,
    MedusaTreeViewer,
    NextTokenExplorer,
)

pytestmark = pytest.mark.browser

ROOTS = {  # element id on the page -> the class of the widget's root element
    "explorer": "tinylm-ngram-explorer",
    "projector": "tinylm-projector",
    "kv": "tinylm-kv-calculator",
    "attention": "tinylm-attention",
    "beam": "tinylm-beam-tree",
    "bpe": "tinylm-bpe-merges",
    "medusa": "tinylm-medusa-tree",
}
LIGHT = {"background": "rgb(255, 255, 255)", "color": "rgb(34, 34, 34)",
         "accent": "#4c78a8"}
DARK = {"background": "rgb(27, 30, 36)", "color": "rgb(227, 230, 234)", "accent": "#6fa0d8"}

SENTENCES = [s.split() for s in ("the cat sat on the mat", "the dog sat on the log",
                                 "a cat saw the dog", "the mat was red")]
T = 6  # tokens shown by the attention viewer


def attention_weights(layers: int = 2, heads: int = 2, seed: int = 0) -> np.ndarray:
    """Causal attention: softmax of random scores over the earlier tokens; token 0 attends
    only to itself (weight 1)."""
    scores = np.random.default_rng(seed).normal(size=(layers, heads, T, T))
    scores[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] = -np.inf
    w = np.exp(scores - scores.max(-1, keepdims=True))
    return w / w.sum(-1, keepdims=True)


@dataclass
class Session:
    tab: object
    problems: Problems


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    rng = np.random.default_rng(1)
    widgets = {
        "explorer": NextTokenExplorer(SENTENCES, order=2, initial="the"),
        "projector": EmbeddingProjector([f"w{i}" for i in range(40)], rng.normal(size=(40, 8))),
        "kv": KVCacheCalculator(),
        "attention": AttentionViewer([f"t{i}" for i in range(T)], attention_weights()),
        "beam": BeamTreeViewer(fake_trace(), decode, prompt="Once"),
        "bpe": BPEMergesViewer(text="the lowest", max_merges=300),
        "medusa": MedusaTreeViewer(None, fake_output()),
    }
    with open_widget_page(browser, tmp_path_factory.mktemp("theme"), "themes", widgets,
                          viewport={"width": 900, "height": 800}) as (tab, problems):
        for name, cls in ROOTS.items():
            tab.locator(f"#{name} .tinylm-widget.{cls}").wait_for(timeout=30_000)
        tab.locator("#attention .tav-thumb").first.wait_for(timeout=30_000)
        yield Session(tab=tab, problems=problems)


def set_theme(s: Session, html: str | None = None, jupyterlab_light: str | None = None) -> None:
    """data-theme on <html> and data-jp-theme-light on <body> (None: no attribute)."""
    s.tab.evaluate("""([html, light]) => {
        const set = (el, key, value) => value === null ? delete el.dataset[key]
                                                       : el.dataset[key] = value;
        set(document.documentElement, "theme", html);
        set(document.body, "jpThemeLight", light);
    }""", [html, jupyterlab_light])


def colours(s: Session) -> dict[str, dict[str, str]]:
    """The computed background and text colour of every widget's root, and its accent."""
    return s.tab.evaluate("""(roots) => Object.fromEntries(Object.entries(roots).map(
        ([name, cls]) => {
          const el = document.querySelector(`#${name} .tinylm-widget.${cls}`);
          const style = getComputedStyle(el);
          return [name, { background: style.backgroundColor, color: style.color,
                          accent: style.getPropertyValue("--tinylm-accent").trim() }];
        }))""", ROOTS)


# RGBA at the centre of the attention canvas's cell (query 0, key 0), whose weight is 1.
FIRST_CELL = """(T) => {
    const c = document.querySelector("#attention .tav-canvas");
    const cell = Math.max(6, Math.min(18, Math.floor(420 / T))), pad = 70;
    const x = pad + Math.floor(cell / 2), y = pad + Math.floor(cell / 2);
    return Array.from(c.getContext("2d").getImageData(x, y, 1, 1).data); }"""


def first_cell(s: Session) -> list[int]:
    return s.tab.evaluate(FIRST_CELL, T)


def hex_rgba(colour: str) -> list[int]:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)] + [255]


@pytest.mark.parametrize(("html", "jupyterlab_light", "expected"), [
    (None, None, LIGHT),
    ("light", None, LIGHT),
    ("dark", None, DARK),  # the book in dark mode
    (None, "false", DARK),  # a dark JupyterLab theme
    (None, "true", LIGHT),
])
def test_widgets_follow_the_theme(session, html, jupyterlab_light, expected):
    set_theme(session, html, jupyterlab_light)
    try:
        assert colours(session) == {name: expected for name in ROOTS}
    finally:
        set_theme(session)


def test_the_beam_tree_and_bars_change_colour(session):
    node = session.tab.locator("#beam .tbt-node.tbt-kept rect").first
    bar = session.tab.locator("#kv .tkv-bar-built").first
    before = [node.evaluate("e => getComputedStyle(e).fill"),
              bar.evaluate("e => getComputedStyle(e).backgroundColor")]
    set_theme(session, "dark")
    after = [node.evaluate("e => getComputedStyle(e).fill"),
             bar.evaluate("e => getComputedStyle(e).backgroundColor")]
    set_theme(session)
    assert before == ["rgb(232, 240, 250)", "rgb(76, 120, 168)"]
    assert after[0] != before[0] and after[1] != before[1], after


def test_a_canvas_is_redrawn_in_the_new_theme(session):
    assert first_cell(session) == hex_rgba(LIGHT["accent"])
    info = session.tab.locator("#attention .tav-info").inner_text()
    set_theme(session, "dark")
    session.tab.wait_for_function(
        "([T, want]) => (" + FIRST_CELL + ")(T).every((v, i) => v === want[i])",
        arg=[T, hex_rgba(DARK["accent"])], timeout=5_000)
    # the thumbnails too, and the selected head and the read-out stay as they were
    thumb = session.tab.locator('#attention .tav-thumb[data-head="0"]').evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 1, 1).data)")
    assert thumb == hex_rgba(DARK["accent"])
    assert session.tab.locator("#attention .tav-selected").get_attribute("data-head") == "0"
    assert session.tab.locator("#attention .tav-info").inner_text() == info
    set_theme(session)
    session.tab.wait_for_timeout(50)
    assert first_cell(session) == hex_rgba(LIGHT["accent"])


def test_no_errors(session):
    session.tab.wait_for_timeout(200)
    assert session.problems.page_errors == []
