"""The acceptance-rate dashboard in headless Chromium, rendered without a kernel as the static
book does.

The page is put together as the book's pages are (the widget state with its `_esm`, a view
script, the book's offline scripts; see test_beam_tree_browser.py), from the real runs of
test_speculative_dashboard.py (the zoo's base model with its draft model and the n-gram
drafter, greedy and sampled, gamma 1, 2 and 4). A reader moves the gamma slider and switches
drafter and prompt; each time the tokens, their colours, the per-call bars and the per-position
rates on the page must be those of the run's trace (``out.steps``), and the points of the
gamma charts the runs' measurements. Hovering a token gives its p, q and call. The page must
raise no error, fetch nothing from elsewhere, follow the dark theme and fit a 390 px phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _chromium import Problems, open_widget_page
from test_speculative_dashboard import THEORY, real_runs

from tinylm.widgets import SpeculativeDashboard

pytestmark = pytest.mark.browser


@dataclass
class Session:
    tab: object
    problems: Problems
    widget: object
    tokenizer: object
    runs: list


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory) -> Iterator[Session]:
    tok, runs = real_runs()
    dashboard = SpeculativeDashboard(tok, runs, THEORY, title="speculative runs")
    with open_widget_page(browser, tmp_path_factory.mktemp("speculative"), "speculative",
                          {"dash": dashboard}, viewport={"width": 1280, "height": 1000}
                          ) as (tab, problems):
        seen = Session(tab=tab, problems=problems,
                       widget=tab.locator("#dash .tinylm-widget.tinylm-speculative"),
                       tokenizer=tok, runs=runs)
        seen.widget.locator(".tsd-call-bar").first.wait_for(timeout=30_000)
        yield seen


def find_run(session, drafter: str, prompt: str, gamma: int) -> dict:
    (run,) = [r for r in session.runs
              if (r["drafter"], r["prompt"], r["gamma"]) == (drafter, prompt, gamma)]
    return run


def move_slider(widget, k: int) -> None:
    widget.locator(".tsd-gamma").evaluate(
        "(el, k) => { el.value = k; el.dispatchEvent(new Event('input', {bubbles: true})); }", k)


def shown(widget) -> dict:
    """What the page shows now: its selection, the tokens, the bars."""
    return widget.evaluate("""root => ({
      drafter: root.dataset.drafter, prompt: root.dataset.prompt, gamma: Number(root.dataset.gamma),
      gammaText: root.querySelector(".tsd-gamma-value").textContent,
      pressed: [...root.querySelectorAll("button[aria-pressed=true]")].map(b => b.dataset.label),
      ids: [...root.querySelectorAll(".tsd-text .tsd-token")].map(t => Number(t.dataset.id)),
      kinds: [...root.querySelectorAll(".tsd-text .tsd-token")].map(t => t.dataset.kind).join(""),
      calls: [...root.querySelectorAll(".tsd-text .tsd-token")].map(t => Number(t.dataset.call)),
      texts: [...root.querySelectorAll(".tsd-text .tsd-token")].map(t => t.textContent),
      prompt_text: root.querySelector(".tsd-prompt-text").textContent,
      bars: [...root.querySelectorAll(".tsd-call-bar")].map(
        b => [Number(b.dataset.proposed), Number(b.dataset.accepted)]),
      positions: [...root.querySelectorAll(".tsd-pos-bar")].map(
        b => [Number(b.dataset.checked), Number(b.dataset.kept)]),
      summary: root.querySelector(".tsd-summary").textContent,
    })""")


def assert_shows(session, drafter: str, prompt: str, gamma: int) -> None:
    """The page shows the run (drafter, prompt, gamma), read from its trace."""
    run = find_run(session, drafter, prompt, gamma)
    out, page = run["output"], shown(session.widget)
    assert (page["drafter"], page["prompt"], page["gamma"]) == (drafter, prompt, gamma)
    assert page["gammaText"] == f"\u03b3 = {gamma}"
    assert sorted(page["pressed"]) == sorted([drafter, prompt])
    steps = out.steps
    assert page["bars"] == [[len(s.proposed), s.accepted] for s in steps]
    # the tokens: kept drafts, the rejected one, the target's token, call after call
    ids, kinds, calls = [], "", []
    for call, step in enumerate(steps):
        k = len(step.proposed)
        ids += step.proposed[:step.accepted]
        kinds += "a" * step.accepted
        if step.accepted < k and step.outcome != "eos":
            ids.append(step.proposed[step.accepted])
            kinds += "r"
        if step.token is not None:
            ids.append(step.token)
            kinds += "b" if k and step.accepted == k else "t"
        calls += [call] * (len(ids) - len(calls))
    assert page["ids"] == ids and page["kinds"] == kinds and page["calls"] == calls
    generated = out.sequences[0, out.prompt_length:].tolist()
    assert [i for i, k in zip(ids, kinds, strict=True) if k != "r"] == generated
    kept_text = "".join(t for t, k in zip(page["texts"], kinds, strict=True) if k != "r")
    assert kept_text == session.tokenizer.decode(generated)
    assert page["prompt_text"] == session.tokenizer.decode(
        out.sequences[0, :out.prompt_length].tolist())
    # acceptance by position: kept / checked at each position 1..gamma
    expected = []
    for i in range(gamma):
        kept = sum(s.accepted > i for s in steps)
        expected.append([kept + sum(s.outcome == "correction" and s.accepted == i
                                    for s in steps), kept])
    assert page["positions"] == expected
    proposed, accepted = sum(out.proposed), sum(out.accepted)
    assert f"{out.generated} tokens in {len(steps)} target calls" in page["summary"]
    assert f"{accepted} of {proposed} drafts kept" in page["summary"] or proposed == 0
    speedup = re.search(r"speed-up of ([0-9.]+)\u00d7", page["summary"])
    # the page rounds the state's 4-digit speed-up to 2 digits: within one rounding step
    assert speedup and abs(float(speedup[1]) - run["baseline_seconds"] / run["seconds"]) <= 0.0051


def test_opens_on_the_first_run(session):
    assert_shows(session, "zoo draft", "greedy", 1)
    w = session.widget
    assert w.locator(".tsd-title").inner_text() == "speculative runs"
    assert w.locator(".tsd-gamma").get_attribute("max") == "2"  # gammas 1, 2, 4


def test_the_slider_walks_the_gammas(session):
    w = session.widget
    w.locator(".tsd-drafter[data-label='zoo draft']").click()
    w.locator(".tsd-prompt[data-label='greedy']").click()
    before = shown(w)
    for k, gamma in enumerate((1, 2, 4)):
        move_slider(w, k)
        assert_shows(session, "zoo draft", "greedy", gamma)
    assert shown(w)["bars"] != before["bars"]  # gamma 4 drafts more per call than gamma 1


def test_switching_drafter_and_prompt(session):
    w = session.widget
    w.locator(".tsd-prompt[data-label='greedy']").click()
    move_slider(w, 2)
    w.locator(".tsd-drafter[data-label='n-gram']").click()
    assert_shows(session, "n-gram", "greedy", 4)  # gamma kept across drafters
    # the sampled prompt has runs of the zoo draft only, at gamma 2 and 4
    w.locator(".tsd-drafter[data-label='zoo draft']").click()
    move_slider(w, 0)
    w.locator(".tsd-prompt[data-label='sampled']").click()
    assert_shows(session, "zoo draft", "sampled", 2)  # gamma 1 not run: the nearest
    assert w.locator(".tsd-gamma").get_attribute("max") == "1"
    w.locator(".tsd-drafter[data-label='n-gram']").click()  # no sampled n-gram run
    assert_shows(session, "n-gram", "greedy", 2)


def test_the_gamma_charts_show_every_run_and_the_theory(session):
    w = session.widget
    w.locator(".tsd-prompt[data-label='greedy']").click()
    for chart, key in ((2, "tokens_per_call"), (3, "speedup")):
        points = w.locator(".tsd-chart").nth(chart).locator(".tsd-point").evaluate_all(
            "els => els.map(e => [e.dataset.drafter, Number(e.dataset.gamma), "
            "Number(e.dataset.value)])")
        greedy = [r for r in session.runs if r["prompt"] == "greedy"]
        assert len(points) == len(greedy)
        for drafter, gamma, value in points:
            run = find_run(session, drafter, "greedy", gamma)
            out = run["output"]
            measured = (out.generated / out.target_calls if key == "tokens_per_call"
                        else run["baseline_seconds"] / run["seconds"])
            assert value == pytest.approx(measured, abs=1e-4)
        # one predicted line per drafter with a theory
        assert w.locator(".tsd-chart").nth(chart).locator(".tsd-predicted-line").count() == 2
    # clicking a point shows that run
    w.locator(".tsd-chart").nth(2).locator(
        ".tsd-point[data-drafter='n-gram'][data-gamma='2']").click()
    assert_shows(session, "n-gram", "greedy", 2)
    predicted = w.locator(".tsd-predicted").inner_text()
    a, c = THEORY["n-gram"]["alpha"], THEORY["n-gram"]["c"]
    per_call = (1 - a ** 3) / (1 - a)
    assert f"{per_call:.2f} tokens per call, {per_call / (2 * c + 1):.2f}\u00d7" in predicted


def test_hovering_a_token_gives_p_q_and_its_call(session):
    w = session.widget
    w.locator(".tsd-drafter[data-label='zoo draft']").click()
    w.locator(".tsd-prompt[data-label='greedy']").click()
    move_slider(w, 2)
    out = find_run(session, "zoo draft", "greedy", 4)["output"]
    call = next(i for i, s in enumerate(out.steps) if 0 < s.accepted < len(s.proposed))
    step = out.steps[call]
    tip = w.locator(".tinylm-tooltip")
    rejected = w.locator(f".tsd-text .tsd-token[data-call='{call}'][data-kind='r']")
    rejected.hover()
    text = tip.inner_text()
    assert text.startswith("rejected draft")
    p, q = step.p[step.accepted], step.q[step.accepted]
    found = re.search(r"p (\S+), q (\S+) ", text)
    for written, value in zip(found.groups(), (p, q), strict=True):
        # three decimals, or two significant digits below 0.01
        assert float(written) == pytest.approx(value, abs=5e-4 if value >= 0.01 else 0.06 * value)
    assert text.endswith(f"call {call + 1}")
    lit = w.locator(".tsd-text .tsd-token.tsd-lit").evaluate_all(
        "els => els.map(e => Number(e.dataset.call))")
    assert lit and set(lit) == {call}
    assert w.locator(".tsd-call-bar.tsd-bar-lit").get_attribute("data-call") == str(call)
    w.locator(".tsd-title").hover()
    assert tip.is_hidden()
    assert w.locator(".tsd-token.tsd-lit").count() == 0


def test_the_dark_theme_changes_the_token_colours(session):
    w = session.widget

    def colours():
        return w.evaluate("""root => {
          const css = (sel, prop) => getComputedStyle(root.querySelector(sel))[prop];
          return {bg: getComputedStyle(root).backgroundColor,
                  a: css(".tsd-legend .tsd-a", "backgroundColor"),
                  r: css(".tsd-legend .tsd-r", "color"),
                  t: css(".tsd-legend .tsd-t", "backgroundColor"),
                  b: css(".tsd-legend .tsd-b", "backgroundColor")};
        }""")

    light = colours()
    session.tab.evaluate("document.documentElement.dataset.theme = 'dark'")
    try:
        dark = colours()
    finally:
        session.tab.evaluate("delete document.documentElement.dataset.theme")
    assert light["bg"] == "rgb(255, 255, 255)" and dark["bg"] == "rgb(27, 30, 36)"
    assert len({light["a"], light["r"], light["t"], light["b"]}) == 4  # four kinds, four looks
    for kind in "artb":
        assert light[kind] != dark[kind]


def test_fits_a_phone(session):
    tab = session.tab
    tab.set_viewport_size({"width": 390, "height": 844})
    try:
        w = session.widget
        w.locator(".tsd-drafter[data-label='zoo draft']").click()
        w.locator(".tsd-prompt[data-label='greedy']").click()
        move_slider(w, 2)
        tab.wait_for_timeout(200)  # the charts redraw at the new width
        sizes = w.evaluate("""root => {
          const box = root.getBoundingClientRect();
          const out = [...root.querySelectorAll("*")].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && (r.right > box.right + 0.5 || r.left < box.left - 0.5);
          }).map(e => e.className.baseVal ?? e.className);
          return {page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                  root: root.scrollWidth - root.clientWidth, width: box.width, out,
                  svgs: [...root.querySelectorAll(".tsd-svg")].map(
                    s => s.getBoundingClientRect().width)};
        }""")
        assert sizes["page"] == 0 and sizes["root"] == 0
        assert sizes["out"] == []
        assert sizes["width"] <= 390
        assert all(200 <= s <= 390 for s in sizes["svgs"])
        # a tooltip stays inside the widget too
        w.locator(".tsd-text .tsd-token[data-kind='r']").first.hover()
        tip = w.locator(".tinylm-tooltip").bounding_box()
        box = w.bounding_box()
        assert box["x"] <= tip["x"] and tip["x"] + tip["width"] <= box["x"] + box["width"]
    finally:
        tab.set_viewport_size({"width": 1280, "height": 1000})


def test_no_errors_and_nothing_fetched_from_elsewhere(session):
    assert session.problems.page_errors == []
    assert session.problems.console_errors == []
    assert session.problems.external_requests == []
    assert session.problems.failed_requests == []
