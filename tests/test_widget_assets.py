"""The widgets' JavaScript and CSS live in files beside their Python modules; the loader
(tinylm.widgets._assets) inlines common.js into each widget's module, because the static book
evaluates `_esm` from a string where `import ... from "./common.js"` has nothing to load.

The assembled modules are imported in node from data: URLs, which, like the book's blob: URLs,
resolve no relative import: each must load and export a default object with `render`.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tinylm.widgets
from tinylm.widgets._assets import common_exports, css, esm, inline_common, read

PACKAGE = Path(tinylm.widgets.__file__).parent



def _widget_classes() -> dict:
    """module name -> widget class, for every widget of the package (each name.js but common's),
    so a new widget is covered as soon as its files exist."""
    import importlib

    import anywidget

    found = {}
    for script in sorted(PACKAGE.glob("*.js")):
        if script.stem == "common":
            continue
        module = importlib.import_module(f"tinylm.widgets.{script.stem}")
        classes = [c for c in vars(module).values() if isinstance(c, type)
                   and issubclass(c, anywidget.AnyWidget) and c.__module__ == module.__name__]
        assert len(classes) == 1, f"{script.stem}.py should define one widget, found {classes}"
        found[script.stem] = classes[0]
    return found


WIDGETS = _widget_classes()  # module name -> widget class


def test_every_widget_is_exported():
    assert len(WIDGETS) >= 7
    for cls in WIDGETS.values():
        assert getattr(tinylm.widgets, cls.__name__) is cls, f"{cls.__name__} not exported"


# What JavaScript or CSS written into a Python string would show.
NOT_PYTHON = [
    r"export\s+default", r"\bfunction\s+\w+\s*\(", r"addEventListener", r"\bdocument\.",
    r"querySelector", r"innerHTML", r"getContext\(", r"\{\s*font\s*:", r"\bfont-family\s*:",
    r"\.tinylm-[\w-]+[^\n{]*\{\s*[\w-]+\s*:", r"\bvar\(--tinylm",
]


def node() -> str:
    found = shutil.which("node")
    if not found:
        pytest.fail("node not found: install Node.js (it also installs the book's scripts)")
    return found


def import_in_node(modules: dict[str, str], tmp_path: Path, expression: str) -> dict:
    """Import each module (name -> source) from a data: URL in node; evaluate ``expression``
    (JavaScript, with the module as `m`) for each. Returns name -> its value (JSON)."""
    (tmp_path / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    script = tmp_path / "check.mjs"
    script.write_text(
        'import { readFileSync } from "node:fs";\n'
        'const modules = JSON.parse(readFileSync(process.argv[2], "utf8"));\n'
        "const out = {};\n"
        "for (const [name, src] of Object.entries(modules)) {\n"
        '  const url = "data:text/javascript;base64," + Buffer.from(src).toString("base64");\n'
        "  try {\n"
        "    const m = await import(url);\n"
        f"    out[name] = {expression};\n"
        "  } catch (error) {\n"
        "    out[name] = { error: String(error) };\n"
        "  }\n"
        "}\n"
        "console.log(JSON.stringify(out));\n", encoding="utf-8")
    done = subprocess.run([node(), str(script), str(tmp_path / "modules.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---- where the code lives -------------------------------------------------------------------

def test_the_package_replaces_the_old_module():
    assert not (PACKAGE.parent / "widgets.py").exists()
    assert PACKAGE.name == "widgets" and (PACKAGE / "__init__.py").is_file()
    for name in tinylm.widgets.__all__:
        assert hasattr(tinylm.widgets, name), name


@pytest.mark.parametrize("name", sorted(WIDGETS))
def test_every_widget_has_its_three_files(name):
    for ext in ("py", "js", "css"):
        assert (PACKAGE / f"{name}.{ext}").is_file(), f"{name}.{ext}"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_javascript_or_css_in_python(path):
    text = path.read_text(encoding="utf-8")
    for pattern in NOT_PYTHON:
        match = re.search(pattern, text)
        assert not match, f"{path.name} holds JavaScript or CSS: {match.group(0)!r}"


@pytest.mark.parametrize("name", sorted(WIDGETS))
def test_widget_modules_import_the_shared_helpers(name):
    source = read(f"{name}.js")
    assert re.search(r'^import \{[^}]*\} from "\./common\.js";$', source, re.M), \
        f"{name}.js does not import from ./common.js"
    assert "export default { render };" in source
    assert "tinylm-widget" in source  # the root element every widget draws into


# ---- what the loader builds ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(WIDGETS))
def test_esm_and_css_are_assembled(name):
    widget = WIDGETS[name]
    assert widget._esm == esm(name)
    assert 'from "./common.js"' not in widget._esm
    assert not re.search(r"^\s*import\b", widget._esm, re.M)
    assert re.search(r"^const \{ [\w$, ]+ \} = \(\(\) => \{", widget._esm, re.M)
    assert widget._css == css(name)
    assert widget._css.startswith(read("common.css"))
    assert widget._css.endswith(read(f"{name}.css"))


def test_common_exports_are_found():
    exported = common_exports()
    for name in ("esc", "pct", "fmtProb", "fmtBytes", "fmtScore", "bytesOf", "cssVar",
                 "alphaScale", "redrawOn", "html", "svg", "tooltip"):
        assert name in exported
    assert len(set(exported)) == len(exported)


def test_an_unknown_import_is_a_clear_error():
    source = 'import { esc, nope } from "./common.js";\nexport default { render() {} };\n'
    with pytest.raises(ValueError, match=r"demo\.js imports 'nope' from \./common\.js, which "
                                         r"does not export it \(it exports: esc, "):
        inline_common(source, "demo")


@pytest.mark.parametrize("line", [
    'import confetti from "https://esm.sh/canvas-confetti";',
    'import { esc } from "./other.js";',
    'import * as common from "./common.js";',
])
def test_only_named_imports_of_common_can_be_inlined(line):
    with pytest.raises(ValueError, match="can be inlined"):
        inline_common(f"{line}\nexport default {{ render() {{}} }};\n", "demo")


def test_common_must_export_plain_declarations():
    with pytest.raises(ValueError, match="cannot inline"):
        common_exports("export function a() {}\nexport { a as b };\n")
    assert common_exports("export function a() {}\nexport const B = 1;\n") == ["a", "B"]


def test_aliases_and_multi_line_imports():
    out = inline_common('import {\n  esc as escape,\n  pct,\n} from "./common.js";\n', "demo")
    assert out.startswith("const { esc: escape, pct } = (() => {")


# ---- the assembled modules run ---------------------------------------------------------------

def test_every_widget_module_loads_in_node(tmp_path):
    got = import_in_node({name: esm(name) for name in WIDGETS}, tmp_path,
                         "typeof m.default?.render")
    assert got == {name: "function" for name in WIDGETS}


def test_a_widget_may_reuse_a_name_it_does_not_import(tmp_path):
    source = ('import { esc } from "./common.js";\n'
              "function html(x) { return `<${x}>`; }  // common.js has an html too\n"
              "export default { render() {}, value: esc(html(\"b\")) };\n")
    got = import_in_node({"demo": inline_common(source, "demo")}, tmp_path, "m.default.value")
    assert got == {"demo": "&lt;b&gt;"}


def test_the_shared_helpers_compute_what_the_widgets_show(tmp_path):
    b64 = base64.b64encode(bytes([0, 127, 255])).decode("ascii")
    source = ('import { alphaScale, bytesOf, esc, fmtBytes, fmtProb, fmtScore, pct } '
              'from "./common.js";\n'
              "export default { render() {}, value: {\n"
              '  esc: esc(`<unk> & "x"`), pct: pct(0.4567),\n'
              '  prob: [fmtProb(0.5), fmtProb(4.2e-5)],\n'
              "  bytes: [fmtBytes(1.25 * 2 ** 30), fmtBytes(20 * 2 ** 20)],\n"
              "  score: [fmtScore(null), fmtScore(-1.25), fmtScore(0.5)],\n"
              '  colors: [alphaScale("#4c78a8")(0.5), alphaScale("#48c")(1),\n'
              '           alphaScale("rgb(76, 120, 168)")(0), alphaScale("")(0.25)],\n'
              f'  decoded: Array.from(bytesOf("{b64}")),\n'
              "} };\n")
    got = import_in_node({"demo": inline_common(source, "demo")}, tmp_path, "m.default.value")
    assert got["demo"] == {
        "esc": "&lt;unk&gt; &amp; &quot;x&quot;", "pct": "45.7%", "prob": ["0.500", "4.2e-5"],
        "bytes": ["1.3 GiB", "20 MiB"], "score": ["\u2212\u221e", "\u22121.250", "0.500"],
        "colors": ["rgba(76,120,168,0.5)", "rgba(68,136,204,1)", "rgba(76,120,168,0)",
                   "rgba(0,0,0,0.25)"],
        "decoded": [0, 127, 255]}
