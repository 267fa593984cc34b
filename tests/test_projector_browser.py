"""The embedding projector in headless Chromium, rendered without a kernel as the book renders it.

A tiny notebook showing the widget on planted vectors (clusters of related words, and an
analogy man : king :: woman : queen built into the vectors) is executed with nbclient, which
stores the widget state in the notebook as `jupyter-book build` does. A static page then loads
that state with the book's own offline scripts (require.js, the html-manager's embed-amd.js and
anywidget's bundle, from the built book's _static/tinylm-assets/) and the tests type, hover,
drag and scroll in it. Every neighbour list and analogy the page computes in JavaScript is
compared with the same look-up done in Python (`EmbeddingProjector.nearest` / `.analogy`).

A look-up must answer at first sight: the word and all its neighbours end up on the canvas,
labelled, the word drawn on top; the error message goes when the next look-up succeeds; the
view zooms without a wheel (buttons, a pinch) and the widget fits a 390 px phone, where a second
page opens the widget on a look-up (``search=``).

Build the book first (`make book`) for the assets; BOOK_HTML points at another build.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from _chromium import Problems, open_page, require_built, widget_page
from nbclient import NotebookClient

from tinylm.widgets import EmbeddingProjector

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
ASSETS = HTML / "_static" / "tinylm-assets"

CLUSTERS = {
    "fruit": ["apple", "pear", "plum", "peach", "cherry", "grape", "lemon", "mango"],
    "colour": ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"],
    "animal": ["dog", "cat", "horse", "cow", "sheep", "goat", "pig", "mouse"],
    "tool": ["hammer", "saw", "drill", "wrench", "chisel", "file", "plane", "pliers"],
}


def planted_embeddings(dim: int = 50, n_words: int = 200, seed: int = 0):
    """Random vectors with planted structure: four clusters of eight words, and
    queen = king - man + woman (up to noise). Everything else is isotropic noise."""
    rng = np.random.default_rng(seed)
    words, vectors = [], []
    for members in CLUSTERS.values():
        centre = rng.normal(size=dim)
        for w in members:
            words.append(w)
            vectors.append(centre + 0.35 * rng.normal(size=dim))
    base, gender, royal = rng.normal(size=dim), rng.normal(size=dim), rng.normal(size=dim)
    for w, v in {"man": base, "woman": base + gender, "king": base + royal,
                 "queen": base + royal + gender}.items():
        words.append(w)
        vectors.append(v + 0.1 * rng.normal(size=dim))
    while len(words) < n_words:
        words.append(f"w{len(words):03d}")
        vectors.append(rng.normal(size=dim))
    order = rng.permutation(n_words)  # planted words are not all at the front
    return [words[i] for i in order], np.array(vectors)[order]


NOTEBOOK_CODE = """\
import json
import numpy as np
from tinylm.widgets import EmbeddingProjector

words = json.load(open("words.json"))
vectors = np.load("vectors.npy")
EmbeddingProjector(words, vectors, n_neighbours=10, title="Planted vectors",
                   highlight=["apple", "king"])
"""

def write_page(folder: Path, code: str = NOTEBOOK_CODE, body_style: str | None = None
               ) -> EmbeddingProjector:
    """Execute the notebook `code` in `folder`, write index.html there; return the same widget
    built in this process (its `nearest` / `analogy` are the Python side of the comparison).
    ``body_style`` replaces the page's body style (its width, say)."""
    words, vectors = planted_embeddings()
    (folder / "words.json").write_text(json.dumps(words), encoding="utf-8")
    np.save(folder / "vectors.npy", vectors)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    outputs = nb.cells[0].outputs
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    view = next(o.data["application/vnd.jupyter.widget-view+json"] for o in outputs
                if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]
    page = widget_page("projector", state, {"projector": view})
    if body_style is not None:
        page = page.replace('<body style="max-width: 820px; margin: 16px auto;">',
                            f'<body style="{body_style}">')
    (folder / "index.html").write_text(page, encoding="utf-8")
    (folder / "_static").mkdir()
    (folder / "_static" / "tinylm-assets").symlink_to(ASSETS, target_is_directory=True)
    return EmbeddingProjector(words, vectors, n_neighbours=10)


@dataclass
class Session:
    tab: object
    problems: Problems
    widget: object  # the .tinylm-projector locator
    python: EmbeddingProjector
    word: str = ""  # the word the page opens on, if any


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    require_built(ASSETS / "anywidget" / "index.js", "widget assets")
    folder = tmp_path_factory.mktemp("projector")
    python = write_page(folder)
    with open_page(browser, folder, viewport={"width": 900, "height": 800}) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       widget=tab.locator(".tinylm-widget.tinylm-projector"), python=python)
        seen.widget.locator(".tpj-canvas").wait_for(timeout=30_000)
        yield seen


def rows(locator) -> list[tuple[str, float]]:
    """('word', score) for each list item, whose text reads 'word 0.812'."""
    out = []
    for text in locator.all_inner_texts():
        word, score = text.split()
        out.append((word, float(score)))
    return out


def assert_same_ranking(got, expected):
    assert [w for w, _ in got] == [w for w, _ in expected], (got, expected)
    for (_, s), (_, e) in zip(got, expected, strict=True):
        assert s == pytest.approx(e, abs=6e-4)


def positions(s: Session) -> list[tuple[str, float, float]]:
    """Every drawn point as (word, x, y), in CSS pixels from the canvas's top-left corner."""
    return s.widget.evaluate("root => root.tpjPositions()")


def test_canvas_and_caption_are_drawn(session):
    canvas = session.widget.locator(".tpj-canvas")
    box = canvas.bounding_box()
    assert box["width"] > 250 and box["height"] > 250, box
    caption = session.widget.locator(".tpj-caption").inner_text()
    evr = session.python.explained_variance_ratio
    assert f"{100 * evr[0]:.1f}%" in caption, caption
    assert "200 most frequent of 200" in caption, caption
    assert len(positions(session)) == 200


def test_search_lists_the_planted_cluster_first(session):
    w = session.widget
    w.locator(".tpj-search").fill("apple")
    got = rows(w.locator(".tpj-neighbour"))
    assert len(got) == 10
    assert {word for word, _ in got[:7]} == set(CLUSTERS["fruit"]) - {"apple"}, got
    assert_same_ranking(got, session.python.nearest("apple"))
    assert w.locator(".tpj-message").inner_text() == ""
    # the view glides to the word: it ends up in the middle of the canvas
    session.tab.wait_for_function(
        "el => !el.dataset.moving", arg=w.element_handle(), timeout=5_000)
    box = w.locator(".tpj-canvas").bounding_box()
    x, y = next((x, y) for word, x, y in positions(session) if word == "apple")
    assert abs(x - box["width"] / 2) < 2 and abs(y - box["height"] / 2) < 2


def test_clicking_a_neighbour_looks_it_up(session):
    w = session.widget
    w.locator(".tpj-search").fill("dog")
    w.locator(".tpj-neighbour").first.click()
    first = rows(w.locator(".tpj-neighbour"))
    looked_up = w.locator(".tpj-search").input_value()
    assert looked_up in CLUSTERS["animal"] and looked_up != "dog"
    assert_same_ranking(first, session.python.nearest(looked_up))


def test_analogy_finds_the_planted_answer(session):
    w = session.widget
    for cls, word in ((".tpj-a", "man"), (".tpj-b", "king"), (".tpj-c", "woman")):
        w.locator(cls).fill(word)
    got = rows(w.locator(".tpj-analogy-result"))
    assert len(got) == 5 and got[0][0] == "queen", got
    assert not {"man", "king", "woman"} & {word for word, _ in got}
    assert_same_ranking(got, session.python.analogy("man", "king", "woman"))


def test_unknown_words_get_a_message(session):
    w = session.widget
    w.locator(".tpj-search").fill("zebra")
    message = w.locator(".tpj-message").inner_text()
    assert '"zebra" is not among the 200 words' in message, message
    assert w.locator(".tpj-neighbour").count() == 0
    w.locator(".tpj-search").fill("")
    w.locator(".tpj-b").fill("<b>kong")  # shown as text, not parsed as HTML
    message = w.locator(".tpj-message").inner_text()
    assert '"<b>kong" is not among' in message, message
    assert w.locator(".tpj-analogy-result").count() == 0
    w.locator(".tpj-b").fill("king")
    assert w.locator(".tpj-message").inner_text() == ""


def test_hovering_a_point_shows_its_word(session):
    w = session.widget
    canvas = w.locator(".tpj-canvas")
    w.locator(".tpj-reset").click()
    box = canvas.bounding_box()
    button = w.locator(".tpj-reset").bounding_box()  # above the canvas's top-right corner
    drawn = [(word, x, y) for word, x, y in positions(session)
             if 10 < x < box["width"] - 10 and 10 < y < box["height"] - 10
             and not (x > button["x"] - box["x"] - 10 and y < button["y"] + button["height"]
                      - box["y"] + 10)]

    def isolation(p):  # distance to the nearest other point
        return min(np.hypot(p[1] - q[1], p[2] - q[2]) for q in drawn if q is not p)

    word, x, y = max(drawn, key=isolation)
    session.tab.mouse.move(box["x"] + x, box["y"] + y)
    hover = w.locator(".tpj-hover")
    hover.wait_for(state="visible", timeout=5_000)
    assert hover.inner_text() == word
    session.tab.mouse.move(box["x"] + box["width"] + 50, box["y"] - 50)  # leave the canvas
    hover.wait_for(state="hidden", timeout=5_000)


def test_drag_rotates_and_wheel_zooms(session):
    w = session.widget
    box = w.locator(".tpj-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = {word: (x, y) for word, x, y in positions(session)}
    mouse = session.tab.mouse
    mouse.move(cx, cy)
    mouse.down()
    mouse.move(cx + 80, cy + 30, steps=5)
    mouse.up()
    after = {word: (x, y) for word, x, y in positions(session)}
    assert max(abs(after[k][0] - before[k][0]) for k in before) > 20

    def spread(points):
        return float(np.std([x for x, _ in points.values()]))

    mouse.move(cx, cy)
    mouse.wheel(0, -400)  # zoom in
    session.tab.wait_for_timeout(100)
    zoomed = {word: (x, y) for word, x, y in positions(session)}
    assert spread(zoomed) > 1.5 * spread(after)


# ---- a look-up answers at first sight ----------------------------------------------------------

def scattered_word(python: EmbeddingProjector) -> str:
    """The noise word whose 10 nearest neighbours (in 50-D) lie farthest from it in the 3-D
    plot: random vectors, so its neighbours are scattered all over the cloud."""
    at = {w: i for i, w in enumerate(python.words)}

    def spread(word):
        here = python.coords[at[word]]
        return max(np.linalg.norm(python.coords[at[w]] - here) for w, _ in python.nearest(word))

    return max((w for w in python.words if w.startswith("w")), key=spread)


def settle(s: Session) -> None:
    """Wait until the view has stopped gliding."""
    s.tab.wait_for_function("el => !el.dataset.moving", arg=s.widget.element_handle(),
                            timeout=5_000)


def assert_shown_on_top(s: Session, word: str, neighbours: list[str]) -> None:
    """`word` and its `neighbours` are drawn inside the canvas, each with a label inside the
    canvas; nothing is drawn over the word's point, and no label covers the word's label."""
    box = s.widget.locator(".tpj-canvas").bounding_box()
    at = {w: (x, y) for w, x, y in positions(s)}
    for w in [word, *neighbours]:
        x, y = at[w]
        assert 4 <= x <= box["width"] - 4 and 4 <= y <= box["height"] - 4, (
            f"{w!r} is drawn at ({x:.0f}, {y:.0f}), outside the {box['width']:.0f} x "
            f"{box['height']:.0f} canvas")
    labels = {label["word"]: label for label in s.widget.evaluate("root => root.tpjLabels()")}
    for w in [word, *neighbours]:
        assert w in labels, f"{w!r} has no label"
        lab = labels[w]
        assert (0 <= lab["x"] and lab["x"] + lab["w"] <= box["width"]
                and 0 <= lab["y"] and lab["y"] + lab["h"] <= box["height"]), lab
    assert labels[word]["role"] == "word"
    mine = labels[word]
    for w, other in labels.items():
        if w != word:
            dx = min(mine["x"] + mine["w"], other["x"] + other["w"]) - max(mine["x"], other["x"])
            dy = min(mine["y"] + mine["h"], other["y"] + other["h"]) - max(mine["y"], other["y"])
            assert dx <= 0 or dy <= 0, f"the label of {w!r} covers the label of {word!r}"
    # the pixel at the word's point has the colour of the searched word: it is on top
    x, y = at[word]
    same = s.widget.evaluate("""(root, [x, y]) => {
        const canvas = root.querySelector(".tpj-canvas"), ratio = canvas.width / canvas.clientWidth;
        const px = canvas.getContext("2d").getImageData(Math.round(x * ratio),
                                                        Math.round(y * ratio), 1, 1).data;
        const probe = document.createElement("canvas").getContext("2d");
        probe.fillStyle = getComputedStyle(root).getPropertyValue("--tinylm-focus").trim();
        probe.fillRect(0, 0, 1, 1);
        const want = probe.getImageData(0, 0, 1, 1).data;
        return [0, 1, 2].every((k) => Math.abs(px[k] - want[k]) <= 8);
    }""", [x, y])
    assert same, f"something is drawn over the point of {word!r}"


def test_search_shows_the_word_and_all_its_neighbours(session):
    w, mouse = session.widget, session.tab.mouse
    w.locator(".tpj-search").fill("")
    box = w.locator(".tpj-canvas").bounding_box()
    mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mouse.wheel(0, -900)  # the reader had zoomed in far before searching
    session.tab.wait_for_timeout(100)
    word = scattered_word(session.python)
    w.locator(".tpj-search").fill(word)
    settle(session)
    neighbours = [n for n, _ in rows(w.locator(".tpj-neighbour"))]
    assert neighbours == [n for n, _ in session.python.nearest(word)]
    assert_shown_on_top(session, word, neighbours)
    # the word is in the middle, and the view zoomed out to fit neighbours far from it
    x, y = next((x, y) for ww, x, y in positions(session) if ww == word)
    assert abs(x - box["width"] / 2) < 2 and abs(y - box["height"] / 2) < 2
    # and a planted cluster, tight in 50-D, is shown whole too
    w.locator(".tpj-search").fill("plum")
    settle(session)
    assert_shown_on_top(session, "plum", [n for n, _ in rows(w.locator(".tpj-neighbour"))])


def test_analogy_shows_its_words(session):
    w = session.widget
    w.locator(".tpj-search").fill("")
    w.locator(".tpj-zoom-in").click()
    for cls, word in ((".tpj-a", "man"), (".tpj-b", "king"), (".tpj-c", "woman")):
        w.locator(cls).fill(word)
    settle(session)
    box = w.locator(".tpj-canvas").bounding_box()
    at = {word: (x, y) for word, x, y in positions(session)}
    labels = {label["word"] for label in w.evaluate("root => root.tpjLabels()")}
    for word in ("man", "king", "woman", "queen"):
        x, y = at[word]
        assert 0 <= x <= box["width"] and 0 <= y <= box["height"], (word, x, y)
        assert word in labels


def message(s: Session) -> str:
    return s.widget.locator(".tpj-message").inner_text()


def test_a_successful_look_up_clears_the_message(session):
    w = session.widget
    for cls in (".tpj-search", ".tpj-a", ".tpj-b", ".tpj-c"):
        w.locator(cls).fill("")
    # search, then analogy
    w.locator(".tpj-search").fill("zebra")
    assert "zebra" in message(session)
    for cls, word in ((".tpj-a", "man"), (".tpj-b", "king"), (".tpj-c", "woman")):
        w.locator(cls).fill(word)
    assert rows(w.locator(".tpj-analogy-result"))[0][0] == "queen"
    assert message(session) == ""
    # analogy, then search
    w.locator(".tpj-b").fill("kong")
    assert '"kong" is not among' in message(session)
    w.locator(".tpj-search").fill("pear")
    assert len(rows(w.locator(".tpj-neighbour"))) == 10
    assert message(session) == ""
    # search, then search
    w.locator(".tpj-search").fill("pearl")
    assert '"pearl"' in message(session)
    w.locator(".tpj-search").fill("pear")
    assert message(session) == ""


def zoom(s: Session) -> float:
    return s.widget.evaluate("root => root.tpjZoom()")


def test_zoom_without_a_wheel(session):
    w = session.widget
    w.locator(".tpj-reset").click()
    assert zoom(session) == 1

    def spread():
        return float(np.std([x for _, x, _ in positions(session)]))

    before = spread()
    w.locator(".tpj-zoom-in").click(timeout=2_000)
    w.locator(".tpj-zoom-in").click()
    assert zoom(session) == pytest.approx(2.25)
    assert spread() == pytest.approx(2.25 * before, rel=0.02)
    w.locator(".tpj-zoom-out").click()
    assert zoom(session) == pytest.approx(1.5)
    # a pinch: two fingers on the canvas, moving apart from 40 px to 100 px
    w.evaluate("""root => {
        const canvas = root.querySelector(".tpj-canvas"), r = canvas.getBoundingClientRect();
        const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        const fire = (type, id, x) => canvas.dispatchEvent(new PointerEvent(type, {
            pointerId: id, pointerType: "touch", isPrimary: id === 1, clientX: x, clientY: cy,
            bubbles: true, cancelable: true}));
        fire("pointerdown", 1, cx - 20); fire("pointerdown", 2, cx + 20);
        fire("pointermove", 2, cx + 50); fire("pointermove", 2, cx + 80);
        fire("pointerup", 2, cx + 80); fire("pointerup", 1, cx - 20);
    }""")
    assert zoom(session) == pytest.approx(1.5 * 100 / 40)
    # the keyboard: + and - on the focused canvas
    w.locator(".tpj-canvas").focus()
    session.tab.keyboard.press("-")
    assert zoom(session) == pytest.approx(2.5)
    w.locator(".tpj-reset").click()


# ---- on a phone: the widget fits, and opens on a look-up -----------------------------------------

PHONE_CODE = NOTEBOOK_CODE.replace('highlight=["apple", "king"])', 'search="{word}")')


@pytest.fixture(scope="module")
def phone(browser, tmp_path_factory) -> Iterator[Session]:
    require_built(ASSETS / "anywidget" / "index.js", "widget assets")
    folder = tmp_path_factory.mktemp("projector-phone")
    word = scattered_word(EmbeddingProjector(*planted_embeddings(), n_neighbours=10))
    python = write_page(folder, PHONE_CODE.replace("{word}", word), body_style="margin: 16px;")
    with open_page(browser, folder, viewport={"width": 390, "height": 844},
                   device_scale_factor=2, has_touch=True) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       widget=tab.locator(".tinylm-widget.tinylm-projector"),
                       python=python, word=word)
        seen.widget.locator(".tpj-canvas").wait_for(timeout=30_000)
        yield seen


def test_fits_a_phone(phone):
    overflow = phone.widget.evaluate("""root => {
        const right = root.getBoundingClientRect().right + 0.5, out = [];
        for (const el of root.querySelectorAll("*")) {
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > right) out.push(`${el.className || el.tagName}`);
        }
        return {out, scroll: root.scrollWidth - root.clientWidth,
                page: document.documentElement.scrollWidth - window.innerWidth};
    }""")
    assert overflow == {"out": [], "scroll": 0, "page": 0}, overflow
    canvas = phone.widget.locator(".tpj-canvas").bounding_box()
    assert canvas["width"] >= 300 and canvas["height"] >= 300, canvas
    for cls in (".tpj-zoom-in", ".tpj-zoom-out", ".tpj-reset"):  # big enough for a finger
        button = phone.widget.locator(cls).bounding_box()
        assert button["height"] >= 24 and button["width"] >= 24, (cls, button)
    assert phone.problems.page_errors == []


def test_opens_on_a_look_up_in_view(phone):
    """At first sight, without typing: the word, its neighbours listed and drawn, labelled."""
    assert phone.widget.locator(".tpj-search").input_value() == phone.word
    neighbours = [n for n, _ in rows(phone.widget.locator(".tpj-neighbour"))]
    assert neighbours == [n for n, _ in phone.python.nearest(phone.word)]
    assert_shown_on_top(phone, phone.word, neighbours)
    assert phone.widget.locator(".tpj-message").inner_text() == ""


def test_no_errors_and_no_request_leaves_the_machine(session):
    session.tab.wait_for_timeout(300)
    assert session.problems.page_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
