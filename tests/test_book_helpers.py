"""The book's helpers: display, the plotly bundle choice, icon extraction, the diagram kit."""

from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tinylm.book import display, icons, links, plotly_mime  # noqa: E402
from tinylm.book.diagrams import kit  # noqa: E402


def test_table_html_escapes_scrolls_and_aligns_numbers():
    out = display.table_html(["name", "value"], [["<b>", 1.5], ["x", 2]], caption="a & b")
    assert "<td>&lt;b&gt;</td>" in out and "<b>" not in out
    assert "overflow-x:auto" in out
    assert "<caption>a &amp; b</caption>" in out
    assert out.count('style="text-align:right"') == 3  # the numeric column: header + 2 rows
    assert 'style="text-align:right"' not in display.table_html(["a", "b"], [[1, 2]],
                                                                numeric=False)


def test_show_displays_the_source(monkeypatch):
    shown = []
    monkeypatch.setattr(display, "display", shown.append)
    display.show(display.table)
    assert "def table(" in shown[0].data


@pytest.mark.parametrize("types, bundle", [
    ({"scatter"}, "plotly-basic.min.js"), ({"bar", "scatter"}, "plotly-basic.min.js"),
    (set(), "plotly-basic.min.js"), ({"heatmap", "bar"}, "plotly-cartesian.min.js"),
    ({"scatter3d"}, "plotly.min.js"), ({"heatmap", "sankey"}, "plotly.min.js")])
def test_smallest_plotly_bundle(types, bundle):
    assert plotly_mime.bundle_for(types) == bundle


def test_plotly_alt_text_from_metadata_else_title():
    class Data:
        cell_metadata = {"mystnb": {"image": {"alt": "bars of p"}}}

    assert plotly_mime._alt_text(Data(), {"title": {"text": "x"}}) == "bars of p"
    Data.cell_metadata = {}
    assert plotly_mime._alt_text(Data(), {"title": {"text": "Top <b>20</b><br><sup>n</sup>"}}) \
        == "Top 20 n"


def test_repository_link_only_with_a_url():
    assert links.repository_markdown("https://example.org/r") == \
        "[https://example.org/r](https://example.org/r)"
    assert "http" not in links.repository_markdown("")


FAKE_FONTAWESOME = (
    'var p={monero:[496,512,[],"f3d0","M0 0h1"]};d("fab",p);'
    'var p={"trash-can":[448,512,[],"f2ed","M9 9h2"],bars:[1,2,[],"f0c9","M1 1h1"]};d("far",p);'
    'var p={0:[320,512,[],"30","M0 0"],bars:[448,512,["navicon"],"f0c9","M0 96C0 78z"],'
    '"magnifying-glass":[512,512,[128269,"search"],"f002","M416 208z"]};x();d("fas",p)')


def test_solid_icons_come_from_the_solid_pack_only():
    found = icons.solid_icons(FAKE_FONTAWESOME)
    assert found["bars"] == [448, 512, "M0 96C0 78z"]  # not the regular pack's bars
    assert found["magnifying-glass"] == [512, 512, "M416 208z"]
    assert "monero" not in found and "trash-can" not in found


def test_used_icons_reads_pages_and_theme_scripts(tmp_path):
    (tmp_path / "_static" / "scripts").mkdir(parents=True)
    (tmp_path / "index.html").write_text('<i class="fa-solid fa-bars fa-lg"></i>'
                                         '<span class="fas fa-download"></span>')
    (tmp_path / "_static" / "scripts" / "theme.js").write_text('x.classList.add("fa-xmark")')
    (tmp_path / "_static" / "scripts" / "fontawesome.js").write_text('"fa-unused"')
    assert icons.used_icons(tmp_path) == {"bars", "download", "xmark"}


def test_icon_script_is_filled_in_and_valid_javascript(tmp_path):
    js = icons.TEMPLATE.read_text().replace("__ICONS__", json.dumps({"bars": [1, 2, "M0"]}))
    assert "__ICONS__" not in js and re.search(r'"bars": \[1, 2, "M0"\]', js)
    import shutil
    import subprocess

    node = shutil.which("node")
    if node:  # node is what runs ESLint: present wherever make lint runs
        path = tmp_path / "icons.js"
        path.write_text(js)
        subprocess.run([node, "--check", str(path)], check=True)


def test_diagram_kit_draws_boxes_arrows_and_labels():
    fig, ax = kit.canvas(6, 2)
    kit.box(ax, 0.2, 0.2, 1, 1, "the", color=kit.ORANGE)
    kit.arrow(ax, (1.3, 0.7), (2.2, 0.7))
    kit.brace(ax, 0.2, 3, 1.6, "window")
    assert ax.get_xlim() == (0, 6) and not ax.axison
    assert len(ax.patches) == 3 and [t.get_text() for t in ax.texts] == ["the", "window"]
    plt.close(fig)
    fig2, ax2 = plt.subplots()
    fig3, ax3 = kit.canvas(3, 1, ax=ax2)
    assert fig3 is fig2 and ax3 is ax2
    plt.close(fig2)
