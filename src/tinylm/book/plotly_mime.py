"""myst-nb renderer: draw plotly figures on the book's pages with a vendored plotly.js.

A notebook cell that ends with a `plotly.graph_objects.Figure` stores plotly's own mime type,
`application/vnd.plotly.v1+json`, which JupyterLab renders natively but myst-nb does not know.
This renderer turns that output into

    <div class="plotly-graph-div tinylm-plotly" id="...">         (where the figure is drawn)
    <script type="application/json">{data, layout, config}</script>
    <script>Plotly.newPlot(...)</script>

and asks for `_static/tinylm-assets/plotly.min.js` (copied there by `tinylm.book.offline`) on
that page only. Notebooks therefore keep plotly's default output; nothing comes from a CDN.

It is registered through the `myst_nb.mime_renderers` entry point in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from docutils import nodes

from tinylm.book.offline import ASSETS

PLOTLY_MIME = "application/vnd.plotly.v1+json"
HTML_BUILDERS = ("html", "dirhtml", "singlehtml")


def _figure(data: Any) -> dict:
    """The figure dict of a MimeData (JSON mime types are stored parsed, but be lenient)."""
    content = data.content
    if isinstance(content, (bytes, str)):
        content = json.loads(content)
    if not isinstance(content, dict):
        raise TypeError(f"expected a plotly figure dict, got {type(content).__name__}")
    return content


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

        renderer.add_js_file("tinylm_plotly", f"{ASSETS}/plotly.min.js", {"priority": 100})
        html = f"""\
<div id="{div_id}" class="plotly-graph-div tinylm-plotly" style="height:{height}px"></div>
<script type="application/json" id="{div_id}-figure">{payload}</script>
<script>
(function () {{
  var figure = JSON.parse(document.getElementById("{div_id}-figure").textContent);
  // newPlot takes the whole figure: data, layout, config and animation frames.
  function draw() {{ Plotly.newPlot("{div_id}", figure); }}
  if (window.Plotly) {{ draw(); }} else {{ window.addEventListener("load", draw); }}
}})();
</script>
"""
        return [nodes.raw(text=html, format="html", classes=["output", "text_html"])]
