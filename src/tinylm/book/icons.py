"""Sphinx extension: serve only the icons the pages use instead of all of Font Awesome.

The book's theme (pydata-sphinx-theme) draws its header and sidebar icons (menu, search, theme
switch, download, ...) with `_static/scripts/fontawesome.js`, Font Awesome's script holding
every one of its icons: 1.5 MB, 0.54 MB gzip-compressed, on every page, for about fifteen icons.
At the end of the build this extension collects the `fa-NAME` classes the built pages and the
theme's scripts use, takes those icons' SVG paths from the theme's own fontawesome.js (so they
are the same icons), and writes a small script in its place (`icons.js` with the icons filled
in, about 10 kB) that turns each `<i class="fa-solid fa-NAME">` into an inline `<svg>`, as Font
Awesome's script does. An icon class it cannot find is a Sphinx warning (an error under -W).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FONTAWESOME = Path("_static") / "scripts" / "fontawesome.js"
TEMPLATE = Path(__file__).with_name("icons.js")
# Classes that are Font Awesome's styles and sizes, not icon names.
NOT_ICONS = {"solid", "regular", "brands", "lg", "xs", "sm", "xl", "2xl", "fw", "spin",
             "pulse", "border", "inverse", "stack", "li", "ul", "layers"}
_ICON_CLASS = re.compile(r"\bfa-([a-z0-9]+(?:-[a-z0-9]+)*)")


def used_icons(outdir: Path) -> set[str]:
    """Icon names of the `fa-NAME` classes in the built pages and the theme's own scripts."""
    names = set()
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        for classes in re.findall(r'class="([^"]*)"', text):
            names.update(_ICON_CLASS.findall(classes))
    for script in (outdir / "_static" / "scripts").glob("*.js"):  # icons the theme adds later
        if script.name != FONTAWESOME.name:
            names.update(_ICON_CLASS.findall(script.read_text(encoding="utf-8", errors="replace")))
    return names - NOT_ICONS


def solid_icons(fontawesome_js: str) -> dict[str, list]:
    """name -> [width, height, path] for every icon of Font Awesome's solid pack in its script."""
    end = fontawesome_js.find('d("fas",p)')  # the solid pack registers itself as "fas"
    start = fontawesome_js.rfind("var p={", 0, end)
    pack = fontawesome_js[start:end] if 0 <= start < end else ""
    icons = {}
    entry = re.compile(r'(?:"([a-z0-9-]+)"|([a-z][a-z0-9]*)):\[(\d+),(\d+),\[[^\]]*\],'
                       r'"[0-9a-f]+","([^"]+)"\]')
    for quoted, bare, width, height, path in entry.findall(pack):
        icons[quoted or bare] = [int(width), int(height), path]
    return icons


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    target = outdir / FONTAWESOME
    if not target.is_file():
        return  # another theme: nothing to slim
    original = target.read_text(encoding="utf-8", errors="replace")
    if "__tinylm_icons__" in original:
        return  # already ours (an incremental build that did not copy the theme's file)
    available = solid_icons(original)
    wanted = used_icons(outdir)
    missing = sorted(name for name in wanted if name not in available)
    if missing:
        logger.warning(f"tinylm.book.icons: icons {missing} are not in Font Awesome's solid "
                       "pack of the theme's fontawesome.js; they will not be drawn")
    icons = {name: available[name] for name in sorted(wanted) if name in available}
    script = TEMPLATE.read_text(encoding="utf-8").replace("__ICONS__", json.dumps(icons))
    target.write_text("// __tinylm_icons__\n" + script, encoding="utf-8")
    logger.info(f"tinylm.book.icons: {len(icons)} icons instead of Font Awesome's script")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
