"""The attention-tree viewer in headless Chromium, rendered without a kernel as the static book
does.

The page is put together as the book's pages are (the widget state with its `_esm`, a view
script, the book's offline scripts; see test_beam_tree_browser.py), from the real runs of
test_medusa_tree_widget.py: the zoo's base model and Medusa heads on a small tree (the
chapter's kind) and on the paper's 63-node tree. A reader steps through the generation; at
every step the lit nodes must be the step's kept path (``out.steps``), the text the tokens
generated so far, the current bar that step's. Hovering a node must light the row of the mask
for what it attends to, worked out here from the choice paths (a node sees the nodes whose
paths prefix its own), and its ancestors; a tap pins it on a phone. The page must raise no
error, fetch nothing from elsewhere, keep its text readable in dark mode and fit 390 and 1280
px screens, the mask's rows level with the tree's when they sit side by side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _chromium import Problems, open_widget_page
from test_medusa_tree_widget import node_order, run, small_run, tokenizer

from tinylm.widgets import MedusaTreeViewer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("one_thread")]


@dataclass
class Session:
    tab: object
    problems: Problems
    small: object  # the widgets' roots on the page
    big: object


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    widgets = {"small": MedusaTreeViewer(tokenizer(), small_run(), title="a small tree"),
               "big": MedusaTreeViewer(tokenizer(), run())}
    with open_widget_page(browser, tmp_path_factory.mktemp("medusa"), "medusa", widgets,
                          viewport={"width": 1280, "height": 1000}) as (tab, problems):
        roots = {name: tab.locator(f"#{name} .tinylm-widget.tinylm-medusa-tree")
                 for name in widgets}
        for root in roots.values():
            root.locator(".tmt-step-bar").first.wait_for(timeout=30_000)
        yield Session(tab=tab, problems=problems, **roots)


def go(widget, k: int) -> None:
    widget.locator(".tmt-slider").evaluate(
        "(el, k) => { el.value = k; el.dispatchEvent(new Event('input', {bubbles: true})); }", k)


def shown(widget) -> dict:
    """What the page shows now: the step, the tree's nodes, the text, the bars."""
    return widget.evaluate("""root => {
      const nodes = [...root.querySelectorAll(".tmt-tree .tmt-node")];
      const numbers = (sel) => [...root.querySelectorAll(sel)].map(e => Number(e.dataset.node));
      return {
        step: Number(root.dataset.step),
        label: root.querySelector(".tmt-step-label").textContent,
        order: nodes.map(e => Number(e.dataset.node)),
        tokens: nodes.map(e => Number(e.dataset.token)),
        kept: numbers(".tmt-tree .tmt-node.tmt-kept"),
        refused: numbers(".tmt-tree .tmt-node.tmt-refused"),
        cut: numbers(".tmt-tree .tmt-node.tmt-cut"),
        ghost: root.querySelector(".tmt-tree .tmt-ghost")?.textContent ?? null,
        verdict: root.querySelector(".tmt-verdict").textContent,
        groups: [...root.querySelectorAll(".tmt-step-text")].map(e => e.textContent),
        now: [...root.querySelectorAll(".tmt-step-text.tmt-now")].map(e => Number(e.dataset.step)),
        prompt: root.querySelector(".tmt-prompt").textContent,
        bars: [...root.querySelectorAll(".tmt-step-bar")].map(e => Number(e.dataset.accept)),
        barNow: [...root.querySelectorAll(".tmt-step-bar.tmt-now")].map(
          e => Number(e.dataset.step)),
        prevDisabled: root.querySelector(".tmt-prev").disabled,
        nextDisabled: root.querySelector(".tmt-next").disabled,
      };
    }""")


def lit(widget) -> dict:
    """What is lit now: the tree's node and its ancestors, the mask's row, its cells, the
    column labels."""
    return widget.evaluate("""root => {
      const nums = (sel, key) => [...root.querySelectorAll(sel)].map(e => Number(e.dataset[key]));
      return {
        node: nums(".tmt-tree .tmt-node.tmt-lit", "node"),
        ancestors: nums(".tmt-tree .tmt-node.tmt-ancestor", "node"),
        row: nums(".tmt-mask .tmt-row.tmt-lit", "node"),
        cells: nums(".tmt-mask .tmt-row.tmt-lit .tmt-cell.tmt-on", "col"),
        columns: [...root.querySelectorAll(".tmt-col-label")].flatMap(
          (e, j) => e.classList.contains("tmt-lit") ? [j] : []),
        info: root.querySelector(".tmt-info").textContent,
      };
    }""")


def expected_step(out, k: int) -> dict:
    """What step k should show, from the trace: the kept nodes, the text so far by step, and
    the refused ones (greedy: every guess right after the last kept node, none of them the
    base model's prediction there; the last step of these runs may have one cut instead)."""
    step = out.steps[k]
    depths = out.buffers.position_ids.tolist()
    paths = node_order(out.buffers.choices)
    end = step.path[-1]
    after = [i for i, p in enumerate(paths)
             if len(p) == depths[end] + 1 and p[:-1] == paths[end]]
    said = step.predicted[end]
    return {"kept": sorted(step.path), "tokens": step.tree_tokens,
            "refused": sorted(i for i in after if step.tree_tokens[i] != said),
            "agreed": sorted(i for i in after if step.tree_tokens[i] == said),
            "said": said,
            "groups": [tokenizer().decode([s.tree_tokens[n] for n in s.path]).replace(
                "\n", "\u21b5") for s in out.steps[:k + 1]]}


def assert_shows_step(widget, out, k: int) -> None:
    page, want = shown(widget), expected_step(out, k)
    assert page["step"] == k and page["label"] == f"step {k + 1} / {len(out.steps)}"
    assert page["order"] == list(range(out.buffers.num_nodes))
    assert page["tokens"] == want["tokens"]
    assert sorted(page["kept"]) == want["kept"]
    assert sorted(page["refused"]) == want["refused"]
    if k < len(out.steps) - 1:
        assert page["cut"] == [] and want["agreed"] == []
    else:
        assert sorted(page["cut"]) == want["agreed"]
    said = tokenizer().decode([want["said"]]).replace("\n", "\u21b5")
    if want["refused"]:
        assert f"predicts \u201c{said}\u201d" in page["verdict"]
        assert page["ghost"] is not None and said.replace(" ", "\u2423") in page["ghost"]
    assert page["groups"] == want["groups"] and page["now"] == [k]
    assert page["bars"] == out.accept_lengths and page["barNow"] == [k]
    assert page["prevDisabled"] == (k == 0)
    assert page["nextDisabled"] == (k == len(out.steps) - 1)


def test_opens_on_the_first_step(session):
    out = small_run()
    assert session.small.locator(".tmt-title").inner_text() == "a small tree"
    assert_shows_step(session.small, out, 0)
    assert shown(session.small)["prompt"] == tokenizer().decode(
        out.sequences[0, :out.sequences.shape[1] - sum(len(s.path) for s in out.steps)].tolist())
    assert_shows_step(session.big, run(), 0)


def test_stepping_changes_the_lit_path(session):
    w, out = session.small, small_run()
    go(w, 0)
    seen = set()
    for k in range(1, len(out.steps)):
        w.locator(".tmt-next").click()
        assert_shows_step(w, out, k)
        seen.add(tuple(shown(w)["kept"]))
    assert len(seen) > 2  # the lit path moves from step to step
    w.locator(".tmt-prev").click()
    assert_shows_step(w, out, len(out.steps) - 2)
    go(w, 5)
    assert_shows_step(w, out, 5)
    w.locator(".tmt-step-bar[data-step='2'] .tmt-hit").click()  # a bar picks its step
    assert_shows_step(w, out, 2)
    w.locator(".tmt-step-text[data-step='1']").click()  # and so does its text
    assert_shows_step(w, out, 1)
    big = run()
    go(session.big, len(big.steps) - 1)
    assert_shows_step(session.big, big, len(big.steps) - 1)
    go(session.big, 0)


def test_hovering_a_node_lights_its_row_of_the_mask(session):
    w, out = session.small, small_run()
    go(w, 0)
    paths = node_order(out.buffers.choices)
    for i, path in enumerate(paths):
        sees = [j for j, q in enumerate(paths) if path[:len(q)] == q]  # ancestors and itself
        w.locator(f".tmt-tree .tmt-node[data-node='{i}']").hover()
        now = lit(w)
        assert now["node"] == [i] and now["row"] == [i]
        assert now["cells"] == sees and now["columns"] == sees
        assert sorted(now["ancestors"]) == [j for j in sees if j != i]
        assert now["info"].startswith(f"node {i}")
        assert f"attends to {len(sees)} node" in now["info"]
        # hovering the mask's row lights the same
        w.locator(".tmt-title").hover()
        assert lit(w)["row"] == []
        w.locator(f".tmt-mask .tmt-row[data-node='{i}'] .tmt-row-token").hover()
        assert lit(w) == now


def test_a_click_pins_a_node(session):
    w = session.small
    w.locator(".tmt-tree .tmt-node[data-node='4']").click()
    w.locator(".tmt-title").hover()
    assert lit(w)["row"] == [4]
    w.locator(".tmt-tree .tmt-node[data-node='4']").click()  # again: released
    w.locator(".tmt-title").hover()
    assert lit(w)["row"] == []


def test_a_click_on_the_big_tree_brings_its_row_of_the_mask_into_sight(session):
    w, last = session.big, run().buffers.num_nodes - 1
    go(w, 0)
    in_sight = """([sel, host]) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      const h = document.querySelector(host).getBoundingClientRect();
      return r.top >= h.top - 0.5 && r.bottom <= h.bottom + 0.5;
    }"""
    row = f"#big .tmt-row[data-node='{last}'] .tmt-band"
    assert not session.tab.evaluate(in_sight, [row, "#big .tmt-mask-host"])  # scrolled away
    w.locator(f".tmt-tree .tmt-node[data-node='{last}']").click()
    assert lit(w)["row"] == [last]
    assert session.tab.evaluate(in_sight, [row, "#big .tmt-mask-host"])
    w.locator(f".tmt-tree .tmt-node[data-node='{last}']").click()  # released


def test_the_mask_rows_are_level_with_the_tree(session):
    w = session.small
    assert "tmt-side" in w.locator(".tmt-box").get_attribute("class")
    offsets = w.evaluate("""root => {
      const mid = (e) => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; };
      return [...root.querySelectorAll(".tmt-tree .tmt-node")].map((node, i) =>
        mid(node.querySelector("rect")) -
        mid(root.querySelector(`.tmt-row[data-node='${i}'] .tmt-band`)));
    }""")
    assert len(offsets) == small_run().buffers.num_nodes
    assert all(abs(d) <= 1 for d in offsets), offsets


def test_per_head_counts(session):
    for w, out in ((session.small, small_run()), (session.big, run())):
        rows = w.locator(".tmt-head").evaluate_all(
            "els => els.map(e => [Number(e.dataset.depth), Number(e.dataset.kept), "
            "Number(e.dataset.steps), e.textContent])")
        depths = out.buffers.position_ids.tolist()
        n = len(out.steps)
        assert rows[0][:3] == [0, n, n]  # the base model's token: every step
        for d, kept, steps, text in rows[1:]:
            counted = sum(any(depths[node] == d for node in s.path) for s in out.steps)
            assert (kept, steps) == (counted, n)
            assert text.endswith(f"{counted} / {n}")
        assert len(rows) == 1 + max(depths)


def layout(widget) -> dict:
    """What sticks out: elements outside the widget (except inside the boxes that scroll),
    the page's horizontal overflow, and which boxes scroll sideways."""
    return widget.evaluate("""root => {
      const box = root.getBoundingClientRect();
      const hosts = [...root.querySelectorAll(".tmt-tree-host, .tmt-mask-host")];
      const inHost = (e) => hosts.some(h => h !== e && h.contains(e));
      const out = [...root.querySelectorAll("*")].filter(e => {
        const r = e.getBoundingClientRect();
        return !inHost(e) && r.width > 0 &&
               (r.right > box.right + 0.5 || r.left < box.left - 0.5);
      }).map(e => e.className.baseVal ?? e.className);
      return {out, width: box.width,
              page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
              sideways: hosts.filter(h => h.scrollWidth > h.clientWidth + 1).map(h => h.className),
              side: root.querySelector(".tmt-box").classList.contains("tmt-side")};
    }""")


@pytest.mark.parametrize("width", [390, 1280])
def test_fits_the_screen(session, width):
    tab = session.tab
    tab.set_viewport_size({"width": width, "height": 900})
    try:
        tab.wait_for_timeout(300)  # redrawn at the new width
        small, big = layout(session.small), layout(session.big)
        for seen in (small, big):
            assert seen["out"] == [] and seen["page"] == 0
            assert seen["width"] <= width
        assert small["sideways"] == []  # a small tree fits whole, tree and mask
        assert small["side"] == (width == 1280)  # side by side on a wide screen
        assert not big["side"]  # 64 rows: the mask goes below the tree and scrolls in its box
        # the text and the charts fit too
        assert session.small.evaluate("r => r.scrollWidth - r.clientWidth") == 0
    finally:
        tab.set_viewport_size({"width": 1280, "height": 1000})
        tab.wait_for_timeout(300)


def test_a_tap_lights_a_node_on_a_phone(browser, tmp_path):
    widgets = {"small": MedusaTreeViewer(tokenizer(), small_run(), step=1)}
    with open_widget_page(browser, tmp_path, "medusa phone", widgets, has_touch=True,
                          is_mobile=True, viewport={"width": 390, "height": 844}) as (tab, seen):
        w = tab.locator("#small .tinylm-medusa-tree")
        w.locator(".tmt-step-bar").first.wait_for(timeout=30_000)
        w.locator(".tmt-tree .tmt-node[data-node='5']").tap()
        now = lit(w)
        assert now["node"] == [5] and now["row"] == [5]
        w.locator(".tmt-summary").tap()
        assert lit(w)["row"] == [5]  # stays until tapped again
        assert_shows_step(w, small_run(), 1)
        assert seen.page_errors == [] and seen.console_errors == []


def luminance(css: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])  # "rgb(34, 34, 34)"

    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


PAIRS = """root => {
  const style = (sel) => getComputedStyle(root.querySelector(sel));
  const bg = getComputedStyle(root).backgroundColor;
  const plot = style(".tmt-box").backgroundColor;
  const node = (cls) => [style(`.tmt-node${cls} .tmt-token`).fill,
                         style(`.tmt-node${cls} rect`).fill];
  return {
    background: bg,
    pairs: {
      kept: node(".tmt-kept"), refused: node(".tmt-refused"),
      other: node(":not(.tmt-kept):not(.tmt-refused)"),
      probability: [style(".tmt-node .tmt-sub").fill, style(".tmt-node rect").fill],
      ghost: [style(".tmt-ghost text").fill, plot],
      row: [style(".tmt-row-token").fill, plot],
      summary: [style(".tmt-summary").color, bg],
      verdict: [style(".tmt-verdict").color, bg],
      text: [style(".tmt-text").color, plot],
      now: [style(".tmt-step-text.tmt-now").color, style(".tmt-step-text.tmt-now").backgroundColor],
      base: [style(".tmt-head-base .tmt-head-count").color, style(".tmt-heads").backgroundColor],
      head: [style(".tmt-head:not(.tmt-head-base) .tmt-head-count").color,
             style(".tmt-heads").backgroundColor],
      note: [style(".tmt-chart-note").color, bg],
      info: [style(".tmt-info").color, style(".tmt-info").backgroundColor],
    },
  };
}"""


def test_readable_in_light_and_dark(session):
    w = session.small
    go(w, 0)  # a step with refused guesses
    light = w.evaluate(PAIRS)
    session.tab.evaluate("document.documentElement.dataset.theme = 'dark'")
    try:
        dark = w.evaluate(PAIRS)
    finally:
        session.tab.evaluate("delete document.documentElement.dataset.theme")
    assert light["background"] == "rgb(255, 255, 255)"
    assert dark["background"] == "rgb(27, 30, 36)"
    for theme in (light, dark):
        for name, (fg, bg) in theme["pairs"].items():
            assert contrast(fg, bg) >= 4.5, (name, fg, bg)
    for name in ("kept", "refused", "ghost", "now"):
        assert light["pairs"][name] != dark["pairs"][name]


def test_no_errors_and_nothing_fetched_from_elsewhere(session):
    assert session.problems.page_errors == []
    assert session.problems.console_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
