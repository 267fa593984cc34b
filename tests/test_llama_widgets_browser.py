"""Chapter 3's widgets in headless Chromium, on the built page, without a kernel.

The KV-cache calculator: the sliders and the precision menu are moved as a reader would, and
every byte count in the table is compared with one computed here from LLaMA 2's published
configurations (Touvron et al. 2023, Table 1 and the released config.json files), written out
below rather than taken from tinylm, in the widget's own format (one decimal in GiB, whole MiB
below 1 GiB; JavaScript's toFixed rounds halves up).

The attention viewer: the layer slider, a click on a head's thumbnail and hovering the large
canvas, at a laptop's width and at a phone's (where the canvas is drawn smaller, to fit). The
weights the page must show are decoded here from the widget state stored in the page (bytes,
255 = 1.0); the canvas's pixels, the thumbnails and the hover read-out are checked against them.

Build the book first (`make book`); BOOK_HTML points the tests at another build.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from _chromium import require_built, serve

from tinylm.widgets import KVCacheCalculator

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
PAGE = HTML / "book" / "03-llama.html"

GiB, MiB = 2**30, 2**20

# LLaMA 2, as published: layers, query heads, key/value heads, model width; and the parameter
# counts of the released checkpoints (embeddings and output layer untied).
PUBLISHED = {
    "LLaMA 2 7B": dict(layers=32, heads=32, kv_heads=32, dim=4096, params=6_738_415_616),
    "LLaMA 2 13B": dict(layers=40, heads=40, kv_heads=40, dim=5120, params=13_015_864_320),
    "LLaMA 2 70B": dict(layers=80, heads=64, kv_heads=8, dim=8192, params=68_976_648_192),
}


def kv_bytes(name: str, seq: int, batch: int, width: int, mha: bool = False) -> int:
    """2 (keys and values) x layers x kv heads x head dim x seq x batch x bytes per value."""
    c = PUBLISHED[name]
    kv_heads = c["heads"] if mha else c["kv_heads"]
    return 2 * c["layers"] * kv_heads * (c["dim"] // c["heads"]) * seq * batch * width


def fmt(n: int) -> str:
    """How the widget writes a byte count: 'x.y GiB' from 1 GiB up, else 'z MiB' (half up)."""
    if n >= GiB:
        tenths = (20 * n + GiB) // (2 * GiB)
        return f"{tenths // 10}.{tenths % 10} GiB"
    return f"{(2 * n + MiB) // (2 * MiB)} MiB"


def parse(text: str) -> float:
    """'1.3 GiB' -> bytes (as shown, so rounded)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d)?) (GiB|MiB)\s*", text)
    assert m, f"not a byte count in the widget's format: {text!r}"
    return float(m.group(1)) * (GiB if m.group(2) == "GiB" else MiB)


# ---- the page, served locally and loaded once --------------------------------------------

@dataclass
class Session:
    tab: object
    kv: object  # .tinylm-kv-calculator locator
    att: object  # .tinylm-attention locator
    tokens: list[str]
    weights: np.ndarray  # uint8 (layers, heads, T, T), as stored in the page
    errors: list[str] = field(default_factory=list)  # page errors and console errors


def attention_state(html: str) -> dict:
    """The AttentionViewer's `data` from the widget state embedded in the built page."""
    found = []
    for m in re.finditer(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)'
                         r"</script>", html, re.S):
        for model in json.loads(m.group(1))["state"].values():
            data = model["state"].get("data")
            if isinstance(data, dict) and "weights" in data:
                found.append(data)
    assert len(found) == 1, f"expected one attention viewer in {PAGE}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def session(browser) -> Iterator[Session]:
    require_built(PAGE, "built chapter 3")
    data = attention_state(PAGE.read_text(encoding="utf-8"))
    T, L, H = len(data["tokens"]), data["n_layers"], data["n_heads"]
    weights = np.frombuffer(base64.b64decode(data["weights"]), dtype=np.uint8)
    weights = weights.reshape(L, H, T, T)

    with serve(HTML) as base:
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        seen = Session(tab=tab, kv=tab.locator(".tinylm-widget.tinylm-kv-calculator"),
                       att=tab.locator(".tinylm-widget.tinylm-attention"),
                       tokens=data["tokens"], weights=weights)
        try:
            tab.goto(f"{base}/book/03-llama.html", wait_until="load")
            seen.kv.locator(".tkv-table tbody tr").first.wait_for(timeout=30_000)
            seen.att.locator(".tav-canvas").wait_for(timeout=30_000)
            # from here on, any error is the widgets' (the theme logs one of its own while loading)
            tab.on("pageerror", lambda err: seen.errors.append(f"pageerror: {err}"))
            tab.on("console", lambda msg: seen.errors.append(f"console: {msg.text}")
                   if msg.type == "error" else None)
            yield seen
        finally:
            tab.close()


# ---- KV-cache calculator -----------------------------------------------------------------

def kv_table(s: Session) -> dict[str, dict]:
    rows = {}
    for row in s.kv.locator("tbody tr").all():
        cells = row.locator("td").all_text_contents()
        rows[cells[0].strip()] = {
            "shape": cells[1].strip(), "weights": cells[2].strip(),
            "mha": row.locator(".tkv-mha").text_content(),
            "built": row.locator(".tkv-built").text_content(),
            "mha_bar": row.locator(".tkv-bar-mha").evaluate("e => parseFloat(e.style.width)"),
            "built_bar": row.locator(".tkv-bar-built").evaluate(
                "e => parseFloat(e.style.width)")}
    return rows


def set_kv(s: Session, seq: int, batch: int, width: int) -> None:
    s.kv.locator(".tkv-seq").fill(str(seq.bit_length() - 1))  # the sliders hold log2
    s.kv.locator(".tkv-batch").fill(str(batch.bit_length() - 1))
    s.kv.locator(".tkv-bytes").select_option(str(width))


def assert_kv_table(s: Session, seq: int, batch: int, width: int) -> None:
    assert s.kv.locator(".tkv-seq-value").inner_text() == f"{seq:,}"
    assert s.kv.locator(".tkv-batch-value").inner_text() == str(batch)
    rows = kv_table(s)
    assert list(rows) == list(PUBLISHED)
    biggest = max(kv_bytes(n, seq, batch, width, mha=True) for n in PUBLISHED)
    for name, c in PUBLISHED.items():
        row, mha, built = rows[name], kv_bytes(name, seq, batch, width, True), \
            kv_bytes(name, seq, batch, width)
        kind = "GQA" if c["kv_heads"] < c["heads"] else "MHA"
        assert row["shape"] == f"{c['layers']} x {c['kv_heads']} x {c['dim'] // c['heads']} " \
                               f"({kind})", (name, row)
        assert row["weights"] == fmt(c["params"] * width), (name, row)
        assert row["mha"] == fmt(mha), (name, seq, batch, width, row)
        assert row["built"] == fmt(built), (name, seq, batch, width, row)
        assert row["mha_bar"] == pytest.approx(100 * mha / biggest, abs=0.051), (name, row)
        assert row["built_bar"] == pytest.approx(100 * built / biggest, abs=0.051), (name, row)


def test_kv_calculator_starts_at_4096_tokens_in_fp16(session):
    assert session.kv.locator(".tkv-bytes").input_value() == "2"
    assert_kv_table(session, 4096, 1, 2)
    rows = kv_table(session)
    # the chapter's numbers: 70B at 4,096 tokens is 10 GiB with MHA and 1.25 GiB with GQA
    assert rows["LLaMA 2 70B"]["mha"] == "10.0 GiB"
    assert rows["LLaMA 2 70B"]["built"] == "1.3 GiB"  # 1.25 shown with one decimal
    assert rows["LLaMA 2 7B"]["mha"] == rows["LLaMA 2 7B"]["built"] == "2.0 GiB"


@pytest.mark.parametrize(("seq", "batch", "width"), [
    (128, 1, 1),  # the smallest: every cache in MiB
    (2048, 8, 2),
    (16384, 4, 1),
    (32768, 64, 4),  # the largest
    (512, 2, 4),
])
def test_kv_calculator_follows_its_inputs(session, seq, batch, width):
    set_kv(session, 4096, 1, 2)
    kv = session.kv  # one control at a time: each must update the table by itself
    kv.locator(".tkv-seq").fill(str(seq.bit_length() - 1))
    assert_kv_table(session, seq, 1, 2)
    kv.locator(".tkv-batch").fill(str(batch.bit_length() - 1))
    assert_kv_table(session, seq, batch, 2)
    kv.locator(".tkv-bytes").select_option(str(width))
    assert_kv_table(session, seq, batch, width)


def test_70b_gqa_saves_a_factor_of_8(session):
    set_kv(session, 128, 1, 1)  # small enough that every count is shown exactly (in MiB)
    rows = kv_table(session)
    for name, factor in (("LLaMA 2 7B", 1), ("LLaMA 2 13B", 1), ("LLaMA 2 70B", 8)):
        assert parse(rows[name]["mha"]) == factor * parse(rows[name]["built"]), rows[name]
        assert rows[name]["mha_bar"] == pytest.approx(factor * rows[name]["built_bar"], abs=0.1)
    assert rows["LLaMA 2 70B"]["mha"] == "160 MiB" and rows["LLaMA 2 70B"]["built"] == "20 MiB"
    assert rows["LLaMA 2 70B"]["mha_bar"] == pytest.approx(100.0)
    note = session.kv.locator(".tkv-note").inner_text()
    assert "among 8 query heads" in note and "8x smaller" in note, note
    set_kv(session, 32768, 64, 4)
    rows = kv_table(session)
    ratio = parse(rows["LLaMA 2 70B"]["mha"]) / parse(rows["LLaMA 2 70B"]["built"])
    assert ratio == pytest.approx(8, rel=1e-3), rows["LLaMA 2 70B"]


def test_kv_sliders_move_with_the_keyboard_and_stop_at_their_ends(session):
    set_kv(session, 4096, 1, 2)
    seq, batch = session.kv.locator(".tkv-seq"), session.kv.locator(".tkv-batch")
    seq.focus()
    session.tab.keyboard.press("ArrowRight")
    assert_kv_table(session, 8192, 1, 2)
    session.tab.keyboard.press("End")
    session.tab.keyboard.press("ArrowRight")  # already at the end
    assert_kv_table(session, 32768, 1, 2)
    batch.focus()
    session.tab.keyboard.press("ArrowRight")
    session.tab.keyboard.press("ArrowRight")
    assert_kv_table(session, 32768, 4, 2)
    seq.focus()
    session.tab.keyboard.press("Home")
    session.tab.keyboard.press("ArrowLeft")  # already at the start
    assert_kv_table(session, 128, 4, 2)
    set_kv(session, 4096, 1, 2)


def test_kv_slider_ranges_are_what_the_python_side_accepts(session):
    for cls, arg in ((".tkv-seq", "seq_len"), (".tkv-batch", "batch_size")):
        low, high = session.kv.locator(cls).evaluate("e => [+e.min, +e.max]")
        for exponent in range(low, high + 1):  # every position of the slider can be a start
            data = KVCacheCalculator(**{arg: 2**exponent}).data
            assert data[arg] == 2**exponent
        for value in (2**low // 2, 2 ** (high + 1), 3 * 2**low):
            with pytest.raises(ValueError, match=arg):
                KVCacheCalculator(**{arg: value})


# ---- attention viewer --------------------------------------------------------------------

PAD = 70  # the viewer's margin for the token labels, in canvas pixels


def cell_size(T: int) -> int:
    """A cell's size in px when the page has room for it (at 1280 px it does)."""
    return max(6, min(18, 420 // T))


def shown_cell(s: Session) -> int:
    """The cell size the canvas is drawn with now: smaller when the page is narrow."""
    T = len(s.tokens)
    width = s.att.locator(".tav-canvas").evaluate("c => c.width")
    assert (width - PAD) % T == 0, width
    return (width - PAD) // T


def canvas_alphas(s: Session) -> np.ndarray:
    """The alpha channel at the centre of every cell of the large canvas, (T, T)."""
    T, cell = len(s.tokens), shown_cell(s)
    return np.array(s.att.locator(".tav-canvas").evaluate("""(c, [T, cell, pad]) => {
        const img = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        const out = [];
        for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
          const x = pad + k * cell + Math.floor(cell / 2);
          const y = pad + q * cell + Math.floor(cell / 2);
          out.push(img.data[(y * c.width + x) * 4 + 3]);
        }
        return out; }""", [T, cell, PAD])).reshape(T, T)


def thumb_alphas(s: Session, h: int) -> np.ndarray:
    T = len(s.tokens)
    return np.array(s.att.locator(f'.tav-thumb[data-head="{h}"]').evaluate("""(c, T) => {
        const s = c.width / T, img = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        const out = [];
        for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) {
          const x = k * s + Math.floor(s / 2), y = q * s + Math.floor(s / 2);
          out.push(img.data[(y * c.width + x) * 4 + 3]);
        }
        return out; }""", T)).reshape(T, T)


def assert_shows(s: Session, layer: int, head: int) -> None:
    L, H = s.weights.shape[:2]
    assert s.att.locator(".tav-layer-value").inner_text() == f"{layer} of {L - 1}"
    assert s.att.locator(".tav-info").inner_text().startswith(f"layer {layer}, head {head}:")
    thumbs = s.att.locator(".tav-thumb")
    assert thumbs.count() == H
    assert s.att.locator(".tav-thumb.tav-selected").get_attribute("data-head") == str(head)
    assert s.att.locator(".tav-thumb.tav-selected").count() == 1
    got = canvas_alphas(s)
    assert np.abs(got.astype(int) - s.weights[layer, head]).max() <= 1, (layer, head)
    for h in (0, H - 1, head):
        assert np.abs(thumb_alphas(s, h).astype(int) - s.weights[layer, h]).max() <= 1, h


def test_stored_weights_are_causal_attention(session):
    w = session.weights / 255
    T = w.shape[-1]
    assert session.weights.shape[:2] == (6, 8) and T == len(session.tokens) > 10
    assert np.allclose(np.triu(w, k=1), 0)
    assert np.abs(w.sum(-1) - 1).max() <= T * 0.5 / 255 + 1e-9


def test_attention_viewer_starts_at_layer_0_head_0(session):
    canvas = session.att.locator(".tav-canvas")
    T = len(session.tokens)
    size = canvas.evaluate("c => [c.width, c.height]")
    box = canvas.bounding_box()
    assert size == [PAD + T * cell_size(T)] * 2
    assert (box["width"], box["height"]) == (size[0], size[1]), "canvas must not be rescaled"
    assert_shows(session, 0, 0)


def test_layer_slider_and_head_click_redraw(session):
    att = session.att
    layer = att.locator(".tav-layer")
    layer.fill("0")
    before = canvas_alphas(session)
    # the check below can fail: these heads differ in the stored weights
    assert np.abs(session.weights[3, 0].astype(int) - session.weights[0, 0]).max() > 20
    layer.fill("3")
    assert_shows(session, 3, 0)
    assert np.abs(canvas_alphas(session).astype(int) - before).max() > 20

    att.locator('.tav-thumb[data-head="5"]').click()
    assert_shows(session, 3, 5)
    layer.fill("1")  # the chosen head stays chosen on another layer
    assert_shows(session, 1, 5)
    layer.focus()
    session.tab.keyboard.press("End")
    assert_shows(session, session.weights.shape[0] - 1, 5)
    att.locator('.tav-thumb[data-head="0"]').click()
    layer.fill("0")
    assert_shows(session, 0, 0)


def hover(s: Session, q: int, k: int) -> str:
    """Move the mouse over cell (query q, key k); the info line that results."""
    cell = shown_cell(s)
    box = s.att.locator(".tav-canvas").bounding_box()
    s.tab.mouse.move(box["x"] + PAD + k * cell + cell / 2, box["y"] + PAD + q * cell + cell / 2)
    return s.att.locator(".tav-info").text_content()


HOVER = re.compile(r"(.*) \(position (\d+)\) attends to (.*) \(position (\d+)\) "
                   r"with weight (\d+\.\d{3})", re.S)


def test_hovering_reads_query_key_and_weight(session):
    att, tokens = session.att, session.tokens
    T = len(tokens)
    att.locator(".tav-layer").fill("2")
    att.locator('.tav-thumb[data-head="3"]').click()
    assert_shows(session, 2, 3)
    # the whole canvas in the viewport: the mouse moves only there
    att.locator(".tav-canvas").evaluate("c => c.scrollIntoView({block: 'center'})")
    cells = [(0, 0), (T - 1, 0), (T - 1, T - 1), (T // 2, T // 2 - 1), (3, 7), (T - 1, 5)]
    shown = {}
    for q, k in cells + [(T - 1, k) for k in range(T)]:
        text = hover(session, q, k)
        m = HOVER.fullmatch(text)
        assert m, text
        assert (m.group(1), int(m.group(2)), m.group(3), int(m.group(4))) == \
            (tokens[q], q, tokens[k], k)
        shown[q, k] = weight = float(m.group(5))
        assert 0 <= weight <= 1
        assert weight == pytest.approx(session.weights[2, 3, q, k] / 255, abs=5e-4), (q, k)
        if k > q:
            assert weight == 0, "causal: no attention to later tokens"
    row_sum = sum(shown[T - 1, k] for k in range(T))
    assert row_sum == pytest.approx(1, abs=T * (0.5 / 255 + 5e-4)), "a row of weights sums to 1"
    # the first token can only attend to itself
    assert HOVER.fullmatch(hover(session, 0, 0)).group(5) == "1.000"
    # tokens are shown as text: '<s>' is not swallowed as a tag
    assert hover(session, 0, 0).startswith(f"{tokens[0]} (position 0)")
    assert att.locator(".tav-info b").first.text_content() == tokens[0]

    # over the labels, outside the grid: the read-out stays as it was
    last = hover(session, 1, 0)
    box = att.locator(".tav-canvas").bounding_box()
    session.tab.mouse.move(box["x"] + PAD / 2, box["y"] + PAD / 2)
    assert att.locator(".tav-info").text_content() == last
    # changing the layer replaces the read-out with the description of the new view
    att.locator(".tav-layer").fill("4")
    assert att.locator(".tav-info").inner_text().startswith("layer 4, head 3:")
    m = HOVER.fullmatch(hover(session, T - 1, 2))
    assert float(m.group(5)) == pytest.approx(session.weights[4, 3, T - 1, 2] / 255, abs=5e-4)


def test_attention_canvas_fits_a_phone(session):
    """At 390 px the enlarged head is drawn smaller, whole, without scrolling or rescaling;
    it reads the same weights, and grows back when the page is wide again."""
    tab, att, T = session.tab, session.att, len(session.tokens)
    canvas, main = att.locator(".tav-canvas"), att.locator(".tav-main")
    att.locator(".tav-layer").fill("2")
    att.locator('.tav-thumb[data-head="3"]').click()
    tab.mouse.move(0, 0)  # away from the canvas, which moves when the page narrows
    try:
        tab.set_viewport_size({"width": 390, "height": 900})
        tab.wait_for_function("([c, w]) => c.width < w", arg=[canvas.element_handle(),
                                                               PAD + T * cell_size(T)])
        cell = shown_cell(session)
        assert 6 <= cell < cell_size(T)
        fits = main.evaluate("m => [m.scrollWidth, m.clientWidth]")
        assert fits[0] <= fits[1], f"the canvas scrolls inside its box: {fits}"
        box, room = canvas.bounding_box(), main.bounding_box()
        assert box["x"] >= room["x"] and box["x"] + box["width"] <= room["x"] + room["width"]
        size = canvas.evaluate("c => [c.width, c.height]")
        assert (box["width"], box["height"]) == tuple(size), "canvas must not be rescaled"
        assert_shows(session, 2, 3)  # the pixels of every cell, at the smaller size
        canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
        for q, k in ((T - 1, 0), (T - 1, T - 1), (5, 2)):
            m = HOVER.fullmatch(hover(session, q, k))
            assert m and (int(m.group(2)), int(m.group(4))) == (q, k), m
            assert float(m.group(5)) == pytest.approx(session.weights[2, 3, q, k] / 255,
                                                      abs=5e-4)
    finally:
        tab.mouse.move(0, 0)
        tab.set_viewport_size({"width": 1280, "height": 1000})
    tab.wait_for_function("([c, w]) => c.width === w", arg=[canvas.element_handle(),
                                                            PAD + T * cell_size(T)])
    att.locator('.tav-thumb[data-head="3"]').click()  # the description again, not a read-out
    tab.mouse.move(0, 0)
    assert_shows(session, 2, 3)
    att.locator('.tav-thumb[data-head="0"]').click()
    att.locator(".tav-layer").fill("0")


def test_no_javascript_errors_while_interacting(session):
    session.tab.wait_for_timeout(200)
    assert session.errors == []
