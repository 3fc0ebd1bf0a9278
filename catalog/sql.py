"""The lowest query layer: table names, plain-SQL helpers and the read connection every reader shares.

Imported by the query API (catalog/query.py) and by the structures a build adds (catalog/indexes.py, tagbits.py,
ann.py, fulltext.py); it imports nothing of the catalog itself, so those modules never import the query layer:

    errors, vocab, sourcerank, db, jsonl, datasets   (no catalog imports, or only each other)
    sql, records, schema, sources, embed             (this file: SQL helpers; validated records; tables)
    ann, tagbits, fulltext, indexes                  (what a build stores for large catalogs)
    builder                                          (validate -> write -> swap)
    query                                            (the read API; rebuilds a stale default database via builder)
    families, coverage, export, importers, cli       (built on the query API)

tests/test_catalog_layers.py checks that no module imports one above it (lazy imports included).
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any, Iterator, Sequence

FILTERS = ("organ", "modality", "task", "architecture", "loss", "metric", "dataset")
STATS_BY = (*FILTERS, "year", "kind", "venue")
PLURAL = {"organ": "organs", "modality": "modalities", "task": "tasks", "architecture": "architectures",
          "loss": "losses", "metric": "metrics", "dataset": "datasets"}
# table names of catalog/schema.py (SQLModel names tables after their class, lower case)
VOCAB_TABLE = {v: v for v in FILTERS}
LINK_TABLE = {v: f"paper{v}" for v in FILTERS}
STAT_TABLE = "paperstat"
CHUNK = 5000  # ids per IN (...) list: far below SQLite's limit on bound parameters
PG_TSVECTOR = "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(abstract, ''))"

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """:name parameters as psycopg's %(name)s (a literal % doubled); the catalog's SQL has no ':' of its own."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class Conn:
    """A read connection: `all(sql, params)` runs plain SQL with :name parameters on sqlite3, on psycopg directly
    (PostgreSQL: no SQLAlchemy compilation or row processing per query), or through SQLAlchemy (anything else)."""

    def __init__(self, raw: Any, dialect: str, ident: str = "") -> None:
        self.raw = raw
        self.dialect = dialect
        self.ident = ident  # which database (and which build of a SQLite file), for caches
        self.dbapi = None
        self.native = dialect == "sqlite" and type(raw).__module__ == "sqlite3"  # else SQLite through SQLAlchemy
        if dialect == "postgresql" and type(raw).__module__.startswith("psycopg"):
            self.dbapi = raw  # a connection of pg_connection(): autocommit, no SQLAlchemy in between
        elif dialect == "postgresql" and type(raw).__module__.startswith("sqlalchemy"):
            driver = getattr(getattr(raw.connection, "dbapi_connection", None), "__module__", "")
            if driver.startswith("psycopg"):
                self.dbapi = raw.connection.dbapi_connection

    def _cursor(self, sql: str, params: dict[str, Any] | None, binary: bool = False, prepare: bool | None = None) -> Any:
        if self.native:
            return self.raw.execute(sql, params or {})
        cur = self.dbapi.cursor(binary=binary)  # binary: bytea arrives as raw bytes, not hex text
        cur.execute(pyformat(sql), params or {}, prepare=prepare)
        return cur

    def all(self, sql: str, params: dict[str, Any] | None = None, binary: bool = False,
            prepare: bool | None = None) -> list[tuple]:
        """Every row; on psycopg `binary` asks for binary results and `prepare=True` prepares the statement at once
        (by default psycopg prepares a statement on its fifth run)."""
        if self.native or self.dbapi is not None:
            return self._cursor(sql, params, binary, prepare).fetchall()
        from sqlalchemy import text

        return [tuple(r) for r in self.raw.execute(text(sql), params or {}).fetchall()]

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        if self.native or self.dbapi is not None:
            cur = self._cursor(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()
        from sqlalchemy import text

        res = self.raw.execute(text(sql), params or {})
        return list(res.keys()), [tuple(r) for r in res.fetchall()]


_PG = threading.local()


def pg_connection(url: str) -> Any | None:
    """A psycopg connection to the PostgreSQL catalog at SQLAlchemy URL `url`, kept per thread (and process) and in
    autocommit, so a read is one round trip per statement (no BEGIN, no ROLLBACK on return to a pool). None when
    the URL's options are not libpq's (then the caller goes through SQLAlchemy)."""
    import os

    import psycopg
    from sqlalchemy.engine import make_url

    conns = _PG.__dict__.setdefault("conns", {})
    key = (os.getpid(), url)
    con = conns.get(key)
    if con is not None and not (con.closed or con.broken):
        return con
    u = make_url(url)
    kw = {k: v for k, v in {"host": u.host, "port": u.port, "user": u.username, "password": u.password,
                            "dbname": u.database}.items() if v is not None}
    kw.update({k: (v if isinstance(v, str) else v[-1]) for k, v in u.query.items()})
    try:
        psycopg.conninfo.make_conninfo(**kw)
    except psycopg.ProgrammingError:
        return None
    con = psycopg.connect(**kw, autocommit=True)
    conns[key] = con
    return con


def forget_pg_connection(url: str, con: Any) -> None:
    """Drop a broken connection (a server restart, say), so the next read connects afresh."""
    import os

    conns = _PG.__dict__.get("conns", {})
    if conns.get((os.getpid(), url)) is con:
        del conns[(os.getpid(), url)]
    try:
        con.close()
    except Exception:  # noqa: BLE001 - it is broken already
        pass


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """':name0, :name1, ...' and its parameters, for an IN (...) list."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params), params


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def build_key(conn: Conn) -> tuple:
    """Identifies one build of one database: a SQLite file's identity and stat, or the URL plus the build's meta facts."""
    key = conn.__dict__.get("_build_key")
    if key is None:
        if conn.dialect == "sqlite":
            key = (conn.ident,)
        else:
            key = (conn.ident, *sorted(conn.all(BUILD_SQL)))
            _LAST_BUILD[conn.ident] = key
        conn.__dict__["_build_key"] = key
    return key


BUILD_SQL = "SELECT name, value FROM meta WHERE name IN ('built_at', 'source_hash')"
BUILD_COLUMN = ("(SELECT string_agg(name || '=' || value, ';' ORDER BY name) FROM meta "
                "WHERE name IN ('built_at', 'source_hash'))")  # the same facts as one value, inside another statement
_LAST_BUILD: dict[str, tuple] = {}


def assume_build(conn: Conn) -> bool:
    """Use the build last seen at this server and database without asking (no round trip); the caller must check the
    build its statement returns (BUILD_COLUMN) with `same_build` and start again when it differs. False when none
    was seen yet (then build_key asks)."""
    if conn.dialect == "sqlite" or conn.__dict__.get("_build_key") is not None:
        return False
    key = _LAST_BUILD.get(conn.ident)
    if key is None:
        return False
    conn.__dict__["_build_key"] = key
    return True


def same_build(conn: Conn, built: str | None) -> bool:
    """Whether BUILD_COLUMN's value `built` is the build the connection's caches assumed; if not, forget that build."""
    key = build_key(conn)
    if ";".join(f"{n}={v}" for n, v in key[1:]) == (built or ""):
        return True
    forget_build(conn)
    return False


def forget_build(conn: Conn) -> None:
    """Stop assuming a build for this database: the next build_key asks."""
    _LAST_BUILD.pop(conn.ident, None)
    conn.__dict__.pop("_build_key", None)


_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def cached(conn: Conn, what: str, load: Any) -> Any:
    """Per-build cache of small read-only tables (a build replaces the database, and the key with it)."""
    key = (*build_key(conn), what)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    value = load()
    with _LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = value
    return value


def has_table(conn: Conn, name: str) -> bool:
    if conn.dialect == "sqlite":
        return bool(conn.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n", {"n": name}))
    if conn.dialect == "postgresql":
        return bool(conn.all("SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = :n AND schemaname = ANY(current_schemas(false))",
                             {"n": name}))
    return False


def live_stats_sql(by: str, kind: str | None = None) -> str:
    """The counting query of stats(by, kind); with a kind it takes the parameter :kind. The build stores its result
    in `paperstat` (catalog/indexes.py). Raises KeyError for an unknown `by` (the query layer says what is allowed)."""
    if by in FILTERS:
        only = " JOIN paper p ON p.id = t.paper_id AND p.kind = :kind" if kind else ""
        return (f"SELECT v.slug, v.name, count(DISTINCT t.paper_id) AS papers FROM {VOCAB_TABLE[by]} v "
                f"JOIN {LINK_TABLE[by]} t ON t.term = v.slug AND t.status = 'verified'{only} "
                "GROUP BY v.slug, v.name ORDER BY papers DESC, v.slug")
    if by in STATS_BY:
        only = " AND kind = :kind" if kind and by != "kind" else ""
        return f"SELECT {by}, count(*) AS papers FROM paper WHERE {by} IS NOT NULL{only} GROUP BY {by} ORDER BY papers DESC, {by}"
    raise KeyError(by)
