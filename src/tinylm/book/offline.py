"""Sphinx extension: the book serves every script it needs from its own `_static/` folder.

Out of the box a Jupyter Book page loads MathJax, require.js and the Jupyter widget manager from
public CDNs. Offline (or behind a strict firewall) that leaves raw LaTeX on the page and no
widgets. This extension vendors those scripts into the built HTML instead:

    _static/tinylm-assets/
        plotly.min.js             from the installed plotly wheel (always matches plotly.py)
        plotly-basic.min.js       plotly.js's official partial bundles, from node_modules: a page
        plotly-cartesian.min.js   loads the smallest that draws its figures (plotly_mime.py)
        anywidget/index.js        the AMD bundle that ships with the anywidget wheel
        require.js                from node_modules/requirejs
        html-manager/dist/        embed-amd.js + icon fonts, from @jupyter-widgets/html-manager
        mathjax/                  the parts of MathJax 3 that tex-mml-chtml.js loads
        widgets-config.js         tells require.js where the widget modules live (written here)
        book.css                  the book's own layout rules (tinylm/book/book.css), every page

`node_modules/` comes from `npm ci` run beside package.json (`make book` does it). Its location
can be changed with the `tinylm_node_modules` config value (relative to the book's root).

The folder is deliberately not the source `_static/`: Jupyter Book links every .js/.css found
there into every page, and the theme already owns `_static/vendor/`.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

ASSETS = "tinylm-assets"  # folder under the built book's _static/
BOOK_CSS = Path(__file__).with_name("book.css")  # the book's own layout rules, on every page

HTML_MANAGER = "@jupyter-widgets/html-manager/dist"
HTML_MANAGER_FILES = ("embed-amd.js",)  # plus every font file next to it
FONT_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}

# tex-mml-chtml.js is one combined file, but it fetches TeX extensions, fonts and the context
# menu's parts at run time, relative to its own location. The speech engine (`sre/`, ~4 MB) is
# left out: it is only loaded if a reader turns on semantic enrichment in the MathJax menu.
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors")

# Runs after require.js and before embed-amd.js (the order of `nb_ipywidgets_js` below).
WIDGETS_CONFIG_JS = """\
// Written by tinylm.book.offline: load widget modules from this site, not from a CDN.
(function () {
  // Sphinx puts the relative path to the site root on <html data-content_root="...">.
  var root = document.documentElement.dataset.content_root || "";
  var assets = root + "_static/tinylm-assets/";
  window.requirejs.config({
    paths: {
      // The anywidget front end, which evaluates each widget's _esm module.
      anywidget: assets + "anywidget/index",
      // Gives embed-amd's webpack public path a real location, so its icon fonts resolve.
      "@jupyter-widgets/html-manager": assets + "html-manager"
    }
  });
  // @jupyter-widgets/controls still calls the MathJax 2 API (MathJax.Hub.Queue) whenever
  // window.MathJax exists, but the book loads MathJax 3: translate that call. This listener is
  // registered before embed-amd's own "load" listener, so the shim is ready when widgets render.
  window.addEventListener("load", function () {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub) {
      return;
    }
    MJ.Hub = {
      Queue: function (job) {
        var element = job && job[2];  // ["Typeset", MathJax.Hub, element]
        if (!element || !MJ.typesetPromise) {
          return;
        }
        var ready = MJ.startup ? MJ.startup.promise : Promise.resolve();
        ready.then(function () { return MJ.typesetPromise([element]); });
      }
    };
  });
})();
"""


# ---- where the sources are ---------------------------------------------------------------

def _node_modules(app: Sphinx) -> Path:
    """The node_modules folder made by `npm ci`, checked to hold everything we copy."""
    root = Path(app.confdir or app.srcdir)
    folder = Path(app.config.tinylm_node_modules or "node_modules")
    if not folder.is_absolute():
        folder = root / folder
    needed = [
        folder / HTML_MANAGER / "embed-amd.js",
        folder / "requirejs" / "require.js",
        folder / "mathjax" / "es5" / "tex-mml-chtml.js",
    ]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise ExtensionError(
            "The book serves its own JavaScript from node_modules/, but these files are "
            f"missing: {', '.join(missing)}. Run `npm ci` in {root} (or `make book`), or point "
            "`tinylm_node_modules` in _config.yml at an installed node_modules folder."
        )
    return folder


def _anywidget_bundle() -> Path:
    """anywidget's AMD bundle, installed by its wheel under share/jupyter/nbextensions/."""
    candidates = [Path(sys.prefix) / "share" / "jupyter" / "nbextensions"]
    try:
        from jupyter_core.paths import jupyter_path

        candidates += [Path(p) for p in jupyter_path("nbextensions")]
    except ImportError:  # jupyter_core comes with ipykernel; the sys.prefix guess still works
        pass
    for folder in candidates:
        bundle = folder / "anywidget" / "index.js"
        if bundle.is_file():
            return bundle
    raise ExtensionError(
        "anywidget's AMD bundle (nbextensions/anywidget/index.js) was not found in "
        f"{', '.join(map(str, candidates))}. Reinstall the Python environment with "
        "`make setup` (it installs anywidget into .venv)."
    )


def _plotly_js() -> Path:
    """plotly.min.js from the plotly wheel: the same plotly.js that plotly.py was built for."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise ExtensionError(
            f"plotly.min.js not found at {path}: reinstall plotly (`make setup`)."
        )
    return path


def _plotly_version(path: Path) -> str:
    """The version in a plotly.js bundle's opening comment (`* plotly.js ... v4.1.1`)."""
    head = path.read_text(encoding="utf-8", errors="replace")[:300]
    match = re.search(r"plotly\.js[^\n]*?v(\d+\.\d+\.\d+)", head)
    return match.group(1) if match else "unknown"


def _plotly_bundles(node_modules: Path) -> list[tuple[Path, str]]:
    """The full plotly.js of the wheel and the partial bundles of npm, all the same version."""
    full = _plotly_js()
    plan = [(full, "plotly.min.js")]
    for name in ("basic", "cartesian"):
        path = node_modules / f"plotly.js-{name}-dist-min" / f"plotly-{name}.min.js"
        if not path.is_file():
            raise ExtensionError(f"{path} is missing: run `npm ci` (or `make book`).")
        if _plotly_version(path) != _plotly_version(full):
            raise ExtensionError(
                f"{path.name} is plotly.js {_plotly_version(path)} but the plotly wheel carries "
                f"{_plotly_version(full)}: pin plotly.js-{name}-dist-min to "
                f"{_plotly_version(full)} in package.json and run `npm install`.")
        plan.append((path, path.name))
    return plan


def _copy_plan(app: Sphinx) -> list[tuple[Path, str]]:
    """Every (source, destination under tinylm-assets/) pair; raises if a source is missing."""
    node_modules = _node_modules(app)
    plan = [
        *_plotly_bundles(node_modules),
        (_anywidget_bundle(), "anywidget/index.js"),
        (node_modules / "requirejs" / "require.js", "require.js"),
    ]
    for path in sorted((node_modules / HTML_MANAGER).iterdir()):
        if path.name in HTML_MANAGER_FILES or path.suffix in FONT_SUFFIXES:
            plan.append((path, f"html-manager/dist/{path.name}"))
    mathjax = node_modules / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        if (mathjax / part).exists():
            plan.append((mathjax / part, f"mathjax/{part}"))
    return plan


# ---- Sphinx events -------------------------------------------------------------------------

def _on_config_inited(app: Sphinx, config: Config) -> None:
    """Point Sphinx and myst-nb at the vendored copies instead of their CDN defaults."""
    # A relative mathjax_path is resolved against _static/.
    config.mathjax_path = f"{ASSETS}/mathjax/tex-mml-chtml.js"
    # myst-nb adds these, in this order, only to pages that carry widget state.
    config.nb_ipywidgets_js = {
        f"{ASSETS}/require.js": {},
        f"{ASSETS}/widgets-config.js": {},
        f"{ASSETS}/html-manager/dist/embed-amd.js": {},
    }


def _on_builder_inited(app: Sphinx) -> None:
    """Copy the vendored scripts into the output's _static/ before any page is written.

    Doing it first means a missing `npm ci` fails the build before notebooks spend minutes
    executing, and Sphinx can fingerprint the files (`?v=...`) when it links them from pages.
    Sphinx adds its own static files to the same folder later and never deletes ours.
    """
    if app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / ASSETS
    for source, relative in _copy_plan(app):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.map"))
        else:
            shutil.copy2(source, destination)
    (target / "widgets-config.js").write_text(WIDGETS_CONFIG_JS, encoding="utf-8")
    shutil.copy2(BOOK_CSS, target / BOOK_CSS.name)
    logger.info(f"tinylm.book.offline: vendored scripts copied to {target}")


def _on_html_page_context(app: Sphinx, pagename: str, templatename: str, context: dict,
                          doctree: object) -> None:
    """Drop exact duplicates from the page's scripts.

    sphinx-thebe (loaded by Jupyter Book even with launch buttons off) registers its inline
    `const THEBE_JS_URL = ...` script twice under Sphinx 7, and declaring a `const` twice is a
    SyntaxError on every page. Identical scripts never need to run twice, so keep the first.
    """
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        # Inline scripts have no file: Sphinx stores that as None or "" depending on the path
        # they were registered by, so compare on "".
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    app.add_config_value("tinylm_node_modules", "node_modules", "env", [str])
    app.add_css_file(f"{ASSETS}/{BOOK_CSS.name}")
    app.connect("config-inited", _on_config_inited, priority=100)
    app.connect("builder-inited", _on_builder_inited)
    app.connect("html-page-context", _on_html_page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
