"""MkDocs hook: a page or stylesheet that loads anything from another host is a warning, so a strict build fails."""
from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.offline_check")
REMOTE = r"""["']?\s*(?:https?:)?//"""
EMBEDS = re.compile(r"<(?!a[\s>])([a-z][a-z0-9]*)\b[^>]*?\s(?:src|href|srcset|data|poster)\s*=\s*" + REMOTE, re.I)
CSS_URLS = re.compile(r"(?:url\(|@import\s)\s*" + REMOTE, re.I)


def remote_loads(text: str) -> list[str]:
    """Snippets of tags or CSS rules that would fetch from another host (outbound <a href> links are fine)."""
    return [m.group(0)[:120] for m in EMBEDS.finditer(text)] + [m.group(0) for m in CSS_URLS.finditer(text)]


def on_post_page(output: str, page, config) -> str:  # noqa: ANN001 - mkdocs objects
    """Warn about every remote load in a built page."""
    for snippet in remote_loads(output):
        log.warning("%s loads a remote resource, the site must work offline: %s", page.file.src_uri, snippet)
    return output


def on_post_build(config) -> None:  # noqa: ANN001 - mkdocs config
    """Warn about remote loads in the built stylesheets."""
    for css in Path(config["site_dir"]).rglob("*.css"):
        for snippet in remote_loads(css.read_text(encoding="utf-8", errors="replace")):
            log.warning("%s loads a remote resource, the site must work offline: %s", css.name, snippet)
