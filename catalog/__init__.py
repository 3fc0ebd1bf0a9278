"""medzoo catalog: the literature on GAN-based medical image augmentation as a SQL database with a DataFrame API.

Never imports torch, so queries and the `medzoo` catalog commands start fast.
"""
from typing import Any

from catalog.errors import CatalogDatabaseError, CatalogError, RecordError, UnknownTermError
from catalog.export import export
from catalog.importers import import_file
from catalog.query import effects, papers, provenance, related, search, similar, stats

__all__ = ["build", "papers", "stats", "effects", "search", "similar", "related", "provenance", "export", "import_file",
           "CatalogError", "CatalogDatabaseError", "RecordError", "UnknownTermError"]


def __getattr__(name: str) -> Any:
    """`build` is imported on first use: the builder pulls in SQLModel, which queries never need."""
    if name == "build":
        from catalog.builder import build

        return build
    raise AttributeError(f"module 'catalog' has no attribute {name!r}")
