"""Markdown helpers: escaping, relative links between generated pages, tables and placeholders."""
from __future__ import annotations

import html
import json
import posixpath
import re
from typing import Iterable

import pandas as pd

UNKNOWN = "*unknown*"
Pages = dict[str, str | bytes]
_SPECIAL = re.compile(r"([\\`*_\[\]{}|])")


def esc(text: object) -> str:
    """Text shown literally: HTML and Markdown characters escaped, newlines folded."""
    plain = " ".join(str(text).split())
    return _SPECIAL.sub(r"\\\1", html.escape(plain, quote=False))


def rel(src: str, dst: str) -> str:
    """Link from the page `src` to the file `dst`, both relative to the docs folder."""
    path, _, anchor = dst.partition("#")
    target = posixpath.relpath(path, posixpath.dirname(src) or ".")
    return f"{target}#{anchor}" if anchor else target


def link(text: object, src: str, dst: str) -> str:
    """A link from page `src` to generated page `dst`."""
    return f"[{esc(text)}]({rel(src, dst)})"


def ext(text: object, url: str) -> str:
    """An outbound link when `url` is http(s); otherwise the text as code (a local source path)."""
    if re.match(r"^https?://", url or ""):
        return f"[{esc(text)}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"
    return f"`{str(url).replace('`', '')}`"


def or_unknown(value: object) -> str:
    """The value escaped, or the 'unknown' placeholder when it is missing (None, NaN, NA or blank)."""
    if value is None or pd.isna(value) or str(value).strip() == "":
        return UNKNOWN
    return esc(int(value) if isinstance(value, float) and value.is_integer() else value)


def table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A Markdown table; cells are already Markdown."""
    head = list(headers)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 paper', '2 papers' (or the given plural)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def head(title: str, src: str, parent: str, parent_title: str) -> str:
    """Top of a page outside the navigation: its title as metadata, a link back to its list, the heading."""
    meta = f"---\ntitle: {json.dumps(title)}\n---\n\n"
    return meta + f"[&larr; {esc(parent_title)}]({rel(src, parent)}){{ .mz-back }}\n\n# {esc(title)}\n"


def bullets(items: Iterable[str], empty: str) -> str:
    """A bullet list, or the `empty` sentence when there is nothing to list."""
    items = list(items)
    return "\n".join(f"- {i}" for i in items) + "\n" if items else f"{empty}\n"
