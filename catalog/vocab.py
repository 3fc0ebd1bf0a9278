"""Controlled vocabularies: each term is a slug with a display name and synonyms that resolve to it."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path


from catalog.errors import CatalogError, UnknownTermError

VOCABULARIES = ("organ", "modality", "task", "architecture", "loss", "metric")
DATA_DIR = Path(__file__).resolve().parent / "data"


def normalise_term(text: str) -> str:
    """Lower-case, collapse separators: 'Chest X-Ray' and 'chest_x ray' compare equal."""
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower())


@dataclass
class Term:
    """One vocabulary entry."""

    slug: str
    name: str
    synonyms: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class Vocabulary:
    """The terms of one vocabulary and a synonym index over them."""

    name: str
    terms: dict[str, Term]

    def __post_init__(self) -> None:
        self._index: dict[str, str] = {}
        for t in self.terms.values():
            for alias in [t.slug, t.name, *t.synonyms]:
                key = normalise_term(alias)
                other = self._index.get(key)
                if other and other != t.slug:
                    raise CatalogError(f"{self.name} vocabulary: {alias!r} names both {other!r} and {t.slug!r}")
                self._index[key] = t.slug

    def resolve(self, text: str) -> str:
        """The slug for a term or any of its synonyms; UnknownTermError listing close matches otherwise."""
        slug = self._index.get(normalise_term(text))
        if slug is None:
            close = difflib.get_close_matches(normalise_term(text), list(self._index), n=5, cutoff=0.6)
            close_slugs = list(dict.fromkeys(self._index[c] for c in close))
            raise UnknownTermError(self.name, str(text), sorted(self.terms), close_slugs)
        return slug


def load_vocabulary(name: str, data_dir: Path = DATA_DIR) -> Vocabulary:
    """Read vocab/<name>.yaml."""
    import yaml  # on use: queries never read YAML

    path = data_dir / "vocab" / f"{name}.yaml"
    rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    terms: dict[str, Term] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("slug") or not row.get("name"):
            raise CatalogError(f"{path}: entry {i + 1} needs a slug and a name, got {row!r}")
        slug = str(row["slug"])
        if not re.fullmatch(r"[a-z0-9][a-z0-9\-]*", slug):
            raise CatalogError(f"{path}: slug {slug!r} must be lower-case letters, digits and '-'")
        if slug in terms:
            raise CatalogError(f"{path}: slug {slug!r} appears twice")
        extra = {k: v for k, v in row.items() if k not in ("slug", "name", "synonyms")}
        terms[slug] = Term(slug, str(row["name"]), [str(s) for s in row.get("synonyms") or []], extra)
    return Vocabulary(name, terms)


def load_vocabularies(data_dir: Path = DATA_DIR) -> dict[str, Vocabulary]:
    """All controlled vocabularies, by name."""
    return {name: load_vocabulary(name, data_dir) for name in VOCABULARIES}
