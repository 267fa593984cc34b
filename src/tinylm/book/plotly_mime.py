"""myst-nb renderer: draw plotly figures on the book's pages with a vendored plotly.js.

A notebook cell that ends with a `plotly.graph_objects.Figure` stores plotly's own mime type,
`application/vnd.plotly.v1+json`, which JupyterLab renders natively but myst-nb does not know.
This renderer turns that output into

    <div class="plotly-graph-div tinylm-plotly" id="...">         (where the figure is drawn)
    <script type="application/json">{data, layout, config}</script>
    <script>Plotly.newPlot(...)</script>

and asks for one plotly.js bundle (copied under `_static/tinylm-assets/` by `tinylm.book.offline`)
on that page only, deferred: the smallest official bundle that has every trace type the page's
figures use (plotly-basic, 0.4 MB gzip-compressed, draws scatter, bar and pie; plotly-cartesian
adds heatmaps, histograms, box plots and more; the full plotly.min.js, 1.5 MB, draws the rest).
Notebooks therefore keep plotly's default output; nothing comes from a CDN.

It is registered through the `myst_nb.mime_renderers` entry point in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
from typing import Any

from docutils import nodes

from tinylm.book.offline import ASSETS

PLOTLY_MIME = "application/vnd.plotly.v1+json"
HTML_BUILDERS = ("html", "dirhtml", "singlehtml")

# plotly.js's official bundles, smallest first: (file under tinylm-assets/, the trace types it
# draws; None = all). The partial bundles come from npm (package.json), the full one from the
# plotly wheel; tinylm.book.offline checks that their versions agree.
BASIC = {"bar", "pie", "scatter"}
CARTESIAN = BASIC | {"box", "contour", "heatmap", "histogram", "histogram2d",
                     "histogram2dcontour", "image", "scatterternary", "violin"}
BUNDLES = [("plotly-basic.min.js", BASIC), ("plotly-cartesian.min.js", CARTESIAN),
           ("plotly.min.js", None)]
_JS_KEY = "tinylm_plotly"  # the page's one plotly.js script, as myst-nb registers it


def bundle_for(trace_types: set[str]) -> str:
    """The smallest bundle that draws every one of ``trace_types``."""
    for name, types in BUNDLES:
        if types is None or trace_types <= types:
            return name
    raise AssertionError("the last bundle draws everything")


def _page_bundle(renderer: Any, figure: dict) -> str:
    """The bundle this figure needs, or the one an earlier figure of the page asked for if that
    one is bigger: a page loads a single plotly.js."""
    needed = bundle_for({trace.get("type", "scatter") for trace in figure.get("data") or []})
    registered = (renderer.renderer.document.get("nb_js_files") or {}).get(_JS_KEY)
    if registered:
        earlier = registered[0].rsplit("/", 1)[-1]
        order = [name for name, _ in BUNDLES]
        needed = max(needed, earlier, key=order.index)
    return needed


def _figure(data: Any) -> dict:
    """The figure dict of a MimeData (JSON mime types are stored parsed, but be lenient)."""
    content = data.content
    if isinstance(content, (bytes, str)):
        content = json.loads(content)
    if not isinstance(content, dict):
        raise TypeError(f"expected a plotly figure dict, got {type(content).__name__}")
    return content


def _alt_text(data: Any, layout: dict) -> str:
    """What a screen reader says for the figure: the cell's ``mystnb.image.alt`` metadata (the
    alt text myst-nb gives images), else the figure's title without its markup."""
    alt = ((data.cell_metadata or {}).get("mystnb") or {}).get("image", {}).get("alt")
    if not alt:
        title = layout.get("title")
        alt = title.get("text", "") if isinstance(title, dict) else str(title or "")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", str(alt))).strip()


def _script_json(value: dict) -> str:
    """JSON that is safe inside <script>: no '<' can close the tag or open a comment."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


class PlotlyMimeRenderer:
    """A myst-nb `MimeRenderPlugin` for plotly figures."""

    # Lower numbers win: prefer the plotly mime type to the text/html fallback (priority 30)
    # that plotly also writes when its renderer is set to include one.
    mime_priority_overrides = [(builder, PLOTLY_MIME, 25) for builder in HTML_BUILDERS]

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[nodes.Element] | None:
        if inline or data.mime_type != PLOTLY_MIME:
            return None  # not ours: let myst-nb (or another plugin) render it

        figure = _figure(data)
        layout = dict(figure.get("layout") or {})
        payload = _script_json({
            "data": figure.get("data") or [],
            "layout": layout,
            "frames": figure.get("frames") or [],
            "config": {"responsive": True, "displaylogo": False},
        })
        # Unique on the page and stable across builds (so unchanged pages stay unchanged).
        digest = hashlib.sha1(payload.encode("utf-8")).hexdigest()[:10]
        div_id = f"tinylm-plotly-{data.cell_index}-{data.output_index}-{digest}"
        height = int(layout.get("height") or 450)

        bundle = _page_bundle(renderer, figure)
        renderer.add_js_file(_JS_KEY, f"{ASSETS}/{bundle}", {"priority": 100, "defer": "defer"})
        html = f"""\
<div id="{div_id}" class="plotly-graph-div tinylm-plotly" style="height:{height}px"
     role="img" aria-label="{html_lib.escape(_alt_text(data, layout))}"></div>
<script type="application/json" id="{div_id}-figure">{payload}</script>
<script>
(function () {{
  var figure = JSON.parse(document.getElementById("{div_id}-figure").textContent);
  // newPlot takes the whole figure: data, layout, config and animation frames. plotly.js is
  // deferred: it runs after the page is parsed, before the "load" event.
  function draw() {{ Plotly.newPlot("{div_id}", figure); }}
  if (window.Plotly) {{ draw(); }} else {{ window.addEventListener("load", draw); }}
}})();
</script>
"""
        return [nodes.raw(text=html, format="html", classes=["output", "text_html"])]
