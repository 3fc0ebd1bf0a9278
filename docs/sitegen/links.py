"""Links to vocabulary term pages, as chips or plain links."""
from __future__ import annotations

from sitegen import paths
from sitegen.data import Catalog
from sitegen.md import UNKNOWN, link, or_unknown


def tag_links(cat: Catalog, vocab: str, slugs: list[str], src: str) -> str:
    """Terms as chips linking to their pages, or 'unknown' when there are none."""
    chips = [link(cat.terms[vocab][s].name, src, paths.term(vocab, s)) + "{ .md-tag }" for s in slugs]
    return " ".join(chips) or UNKNOWN


def term_link(cat: Catalog, vocab: str, value: str, src: str) -> str:
    """A link, named as the term, to the term whose slug or name (or reproduction) is `value`; else the value."""
    for t in cat.terms[vocab].values():
        if value.lower() in (t.slug, t.name.lower()) or t.extra.get("reproduction") == value:
            return link(t.name, src, paths.term(vocab, t.slug))
    return or_unknown(value)
