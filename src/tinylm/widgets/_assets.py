"""The JavaScript and CSS of the widgets, read from the files beside this module.

Each widget's ``name.js`` is an ES module that imports the helpers it shares with the others::

    import { esc, html } from "./common.js";

anywidget evaluates a widget's ``_esm`` text from a blob: URL, where that relative import has no
file to point at. So `esm` puts the code of common.js in place of the import line, inside a
function that returns what common.js exports::

    const { esc, html } = (() => {
      ...                       // the code of common.js, without its `export` keywords
      return { esc, html, ... };
    })();

The function keeps common.js's names out of the widget's scope: a widget may define a helper
with the name of one it does not import. `css` is common.css followed by the widget's CSS.
"""

from __future__ import annotations

import re
from importlib.resources import files

COMMON = "common"

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*["\']\./common\.js["\'];?[ \t]*$',
                     re.MULTILINE)
_ANY_IMPORT = re.compile(r"^\s*import\b[\s\S]*?[\"'];?", re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?function\b|const\b|let\b|class\b)",
                     re.MULTILINE)
_EXPORTED = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+"
                       r"([A-Za-z_$][\w$]*)", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_HEADER = re.compile(r"\A(?:[ \t]*//[^\n]*\n|[ \t]*\n)*")  # the comment that opens a file


def read(filename: str) -> str:
    """The text of a file of this package (``projector.js``, ``common.css``, ...)."""
    return files(__package__).joinpath(filename).read_text(encoding="utf-8")


def common_exports(source: str | None = None) -> list[str]:
    """The names common.js exports, in order. Only ``export function NAME`` and ``export const
    NAME`` (or ``let``, ``class``) can be inlined: anything else that exports is an error."""
    source = read(f"{COMMON}.js") if source is None else source
    names = _EXPORTED.findall(source)
    for line in source.splitlines():
        if line.startswith("export") and not _EXPORTED.match(line):
            raise ValueError(f"common.js: cannot inline {line.strip()!r}: export each helper "
                             "as `export function name` or `export const name`")
    return names


def inline_common(source: str, name: str = "widget", common: str | None = None) -> str:
    """``source`` with its ``import {...} from "./common.js";`` replaced by common.js's code.

    Raises ValueError if ``source`` imports a name common.js does not export, or imports
    anything from elsewhere (only common.js can be inlined)."""
    common = read(f"{COMMON}.js") if common is None else common
    exported = common_exports(common)
    body = _EXPORT.sub("", _HEADER.sub("", common)).strip()

    def replace(match: re.Match) -> str:
        bindings = []
        for item in (part.strip() for part in match.group(1).split(",")):
            if not item:
                continue
            imported, _, local = (w.strip() for w in item.partition(" as "))
            if not _NAME.fullmatch(imported) or (local and not _NAME.fullmatch(local)):
                raise ValueError(f"{name}.js: cannot read the import {item!r} from ./common.js")
            if imported not in exported:
                raise ValueError(f"{name}.js imports {imported!r} from ./common.js, which does "
                                 f"not export it (it exports: {', '.join(exported)})")
            bindings.append(f"{imported}: {local}" if local and local != imported else imported)
        return (f"const {{ {', '.join(bindings)} }} = (() => {{  // ./common.js, inlined\n"
                f"{body}\n"
                f"return {{ {', '.join(exported)} }};\n"
                "})();")

    out, count = _IMPORT.subn(replace, source)
    if count > 1:
        raise ValueError(f"{name}.js imports from ./common.js {count} times: use one import")
    left = _ANY_IMPORT.search(out)
    if left:
        raise ValueError(f"{name}.js: only `import {{...}} from \"./common.js\";` can be inlined "
                         f"for the static book, not {left.group(0).strip()!r}")
    return out


def esm(name: str) -> str:
    """The ``_esm`` of widget ``name``: ``name.js``, with common.js inlined."""
    return inline_common(read(f"{name}.js"), name) + f"\n//# sourceURL=tinylm/widgets/{name}.js\n"


def css(name: str) -> str:
    """The ``_css`` of widget ``name``: common.css, then ``name.css``."""
    return read(f"{COMMON}.css") + "\n" + read(f"{name}.css")
