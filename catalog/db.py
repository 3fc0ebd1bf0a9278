"""Where the catalog database lives and how to open it: SQLite by default, any SQLAlchemy URL by choice."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy is imported on use: the SQLite query path of the CLI never needs it
    from sqlalchemy.engine import Engine


def default_path() -> Path:
    """The default SQLite file: $XDG_CACHE_HOME/medzoo/catalog.db (~/.cache when unset)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medzoo" / "catalog.db"


def resolve_url(db: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL from --db, else $MEDZOO_DB, else the default SQLite file; a plain path means SQLite."""
    from sqlalchemy.engine import make_url

    value = str(db) if db else os.environ.get("MEDZOO_DB") or str(default_path())
    if "://" not in value:
        value = f"sqlite:///{Path(value).expanduser().resolve()}"
    try:
        url = make_url(value)
    except Exception as e:  # noqa: BLE001 - sqlalchemy raises ArgumentError with an unhelpful text
        raise ValueError(f"--db / MEDZOO_DB {value!r} is not a database URL or path: {e}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def engine_for(url: str) -> "Engine":
    """An engine; SQLite connections enforce foreign keys."""
    from sqlalchemy import event
    from sqlmodel import create_engine

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
