"""Sphinx extension: the `{{ repository }}` substitution, a link to the course's repository.

Pages write "the source lives in {{ repository }}". When `_config.yml` sets `repository.url`
(Jupyter Book passes it on as the theme's `repository_url`), that becomes a link to it;
otherwise it reads "the repository you cloned".
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.config import Config


def repository_markdown(url: str | None) -> str:
    return f"[{url}]({url})" if url else "the repository you cloned"


def _on_config_inited(app: Sphinx, config: Config) -> None:
    url = (config.html_theme_options or {}).get("repository_url") or ""
    config.myst_substitutions = {**(config.myst_substitutions or {}),
                                 "repository": repository_markdown(url.strip())}


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _on_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
