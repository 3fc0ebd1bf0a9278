"""Where the catalog database lives and how to open it: SQLite by default, any SQLAlchemy URL by choice."""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from catalog.errors import CatalogDatabaseError

if TYPE_CHECKING:  # SQLAlchemy is imported on use: the SQLite query path of the CLI never needs it
    from sqlalchemy.engine import Connection, Engine


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


def masked(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: mask anything between ':' and '@'
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's exception behind an SQLAlchemy one (or the exception itself when it is the driver's)."""
    orig = getattr(exc, "orig", None) or exc
    mod = type(orig).__module__
    return orig if mod.startswith(("psycopg", "sqlite3", "psycopg2", "pg8000")) else None


def database_error(url: str, exc: BaseException) -> CatalogDatabaseError | None:
    """A one-line CatalogDatabaseError for a failure to connect to or read the catalog database; None when `exc` is
    not such a failure (a bug, which keeps its traceback)."""
    drv = _driver_error(exc)
    if drv is None:
        return None
    name = type(drv).__name__
    state = getattr(drv, "sqlstate", None) or getattr(drv, "pgcode", None) or ""
    text = str(drv).strip()
    first = text.splitlines()[0] if text else name
    shown = masked(url)
    build = f"then run `medzoo catalog build --db {shown}`"
    low = text.lower()
    if state in ("28P01", "28000") or "password authentication failed" in low or "no password supplied" in low \
            or "authentication failed" in low or re.search(r'role "[^"]+" does not exist', text):
        user = re.search(r'(?:user|role) "([^"]+)"', text)
        who = f" for user {user.group(1)!r}" if user else ""
        return CatalogDatabaseError(shown, f"authentication refused{who}",
                                    "check the user name and password in --db / MEDZOO_DB")
    if state == "3D000" or re.search(r'database "[^"]+" does not exist', text):
        db = re.search(r'database "([^"]+)"', text)
        name_ = db.group(1) if db else "it"
        return CatalogDatabaseError(shown, f"database {name_!r} does not exist on the server",
                                    f"create it (createdb {name_}), {build}")
    if state == "42P01" or "no such table" in low or re.search(r'relation "[^"]+" does not exist', text):
        return CatalogDatabaseError(shown, "holds no catalog (its tables are missing)", f"build it first: {build[5:]}")
    if "refused" in low or "could not connect" in low or "connection failed" in low or "timeout" in low \
            or "timed out" in low or "no route" in low or "name or service not known" in low \
            or "could not translate host" in low or "server closed the connection" in low:
        return CatalogDatabaseError(shown, "cannot connect to the server (it is down, or not listening at that host "
                                           "and port)", "start PostgreSQL or fix the host and port in --db / MEDZOO_DB")
    if "file is not a database" in low or "unable to open database" in low:
        return CatalogDatabaseError(shown, "is not a readable SQLite catalog file", f"remove it, {build}")
    if type(drv).__module__.startswith("psycopg") and name == "OperationalError":  # the server's own refusals
        return CatalogDatabaseError(shown, first.rstrip("."), "check --db / MEDZOO_DB and the server")
    return None  # anything else (an SQL error of the catalog's own queries, say) is a bug: keep its traceback


@contextmanager
def mapped_errors(url: str) -> Iterator[None]:
    """Turn a connection or missing-catalog failure inside the block into a one-line CatalogDatabaseError."""
    try:
        yield
    except CatalogDatabaseError:
        raise
    except Exception as e:  # noqa: BLE001 - only database failures are mapped; anything else propagates unchanged
        mapped = database_error(url, e)
        if mapped is None:
            raise
        raise mapped from None


@contextmanager
def connection(engine: "Engine", begin: bool = False) -> Iterator["Connection"]:
    """engine.connect() (or begin()) whose connection and read failures are one-line CatalogDatabaseErrors."""
    url = engine.url.render_as_string(hide_password=False)
    with mapped_errors(url):
        with (engine.begin() if begin else engine.connect()) as conn:
            yield conn
