"""Errors the catalog raises: each names the input and what is wrong with it."""
from __future__ import annotations


class CatalogError(ValueError):
    """Base of every catalog validation error."""


class RecordError(CatalogError):
    """A source record is malformed: names the file, the record and the field."""

    def __init__(self, file: str, record: str, field: str, message: str) -> None:
        self.file, self.record, self.field = file, record, field
        super().__init__(f"{file}: record {record!r}, field {field!r}: {message}")


class UnknownTermError(CatalogError):
    """A vocabulary term that does not resolve: lists the allowed terms and close matches."""

    def __init__(self, vocab: str, term: str, allowed: list[str], close: list[str]) -> None:
        self.vocab, self.term, self.allowed, self.close = vocab, term, allowed, close
        hint = f" Close matches: {', '.join(close)}." if close else ""
        super().__init__(f"unknown {vocab} term {term!r}.{hint} Allowed: {', '.join(allowed)}.")


class CatalogDatabaseError(CatalogError):
    """The catalog database cannot be used: server down, authentication refused, database or catalog tables missing.

    One line naming the URL (password masked) and what to do; the CLI prints it and exits with status 2."""

    def __init__(self, url: str, reason: str, todo: str) -> None:
        self.url, self.reason, self.todo = url, reason, todo
        super().__init__(f"catalog database {url}: {reason}; {todo}")
