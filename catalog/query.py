"""Query API: papers, stats, full-text and meaning search, relations and provenance, each as a pandas DataFrame.

Queries are plain SQL with :name parameters, run through the standard library's sqlite3 for SQLite files, on
the psycopg connection of a SQLAlchemy engine for PostgreSQL, and through SQLAlchemy for anything else. So the
`medzoo` catalog commands import neither SQLAlchemy, SQLModel, pandas nor torch on the SQLite path, and no query
pays for SQL compilation (bench/loading.py, bench/catalog_scale.py). The `*_rows` functions return plain `Rows`;
the public functions turn them into DataFrames, exactly as before.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections import defaultdict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from catalog.db import default_path, mapped_errors
from catalog.errors import CatalogError
from catalog.records import KINDS, normalise_doi
from catalog.sql import (BUILD_COLUMN, CHUNK, FILTERS, LINK_TABLE, PLURAL, STATS_BY, VOCAB_TABLE, Conn, assume_build,
                         build_key, cached, chunks, forget_build, has_table, in_list, live_stats_sql as _live_stats_sql,
                         same_build)
from catalog.vocab import Term, Vocabulary

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

PAPER_COLUMNS = ["key", "title", "authors", "year", "venue", "doi", "pmid", "kind", "organs", "modalities", "tasks",
                 "architectures", "datasets", "losses", "metrics", "effects", "code_url", "origin"]
_PAPER_BASE = ("id", "key", "title", "year", "venue", "doi", "pmid", "kind", "code_url", "origin")  # origin: curated | user
STATS_KIND = "primary"  # what stats() counts unless told otherwise: the primary studies
# the helpers of catalog/sql.py under their former names here (bench/catalog_scale.py uses some)
_Conn, _in, _chunks, _build_key, _has_table, _cached = Conn, in_list, chunks, build_key, has_table, cached


@lru_cache(maxsize=8)
def _engine(url: str) -> "Engine":
    from catalog.db import engine_for

    return engine_for(url)


def _meta(path: Path) -> dict[str, str]:
    """The default database's build facts (source_hash, inputs); none when it is missing or unreadable."""
    import sqlite3

    if not path.exists():
        return {}
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            return dict(con.execute("SELECT name, value FROM meta WHERE name IN ('source_hash', 'inputs')").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return {}


def _stale(path: Path) -> bool:
    """True when the default database is missing or was built from other files than the current ones (its curated
    files, the user's own records and the measured results it was last built from: catalog/sources.py)."""
    from catalog.sources import recorded_inputs, source_hash

    meta = _meta(path)
    return meta.get("source_hash") != source_hash(**recorded_inputs(meta.get("inputs")))


def _rebuild_default(path: Path) -> None:
    from catalog.builder import build
    from catalog.sources import recorded_inputs

    inputs = recorded_inputs(_meta(path).get("inputs"))
    print(f"building the catalog database at {path} ...", file=sys.stderr)
    build(**inputs)
    _engine.cache_clear()


def connect(db: str | None = None) -> "Engine":
    """Engine for the catalog; the default SQLite file is built on first use and rebuilt when the sources change."""
    from catalog.db import resolve_url, sqlite_path

    url = resolve_url(db)
    path = sqlite_path(url)
    if db is None and path == default_path().resolve():
        if _stale(path):
            _rebuild_default(path)
    elif path is not None and not path.exists():
        raise CatalogError(f"no catalog database at {path}: run `medzoo catalog build --db {path}` first")
    return _engine(url)


def _sqlite_file(db: str | os.PathLike | None) -> Path | None:
    """The SQLite file `db` names when that is plain (a path, or sqlite:///path without options); else None."""
    value = str(db) if db else os.environ.get("MEDZOO_DB") or str(default_path())
    if "://" not in value:
        return Path(value).expanduser().resolve()
    if value.startswith("sqlite:///") and not any(ch in value for ch in "?%#"):
        name = value[len("sqlite:///"):]
        if name and name != ":memory:":
            return Path(name).resolve()
    return None


_local = threading.local()


def _sqlite_conn(path: Path) -> tuple[Any, str]:
    """A read-only sqlite3 connection to `path`, kept per thread and reopened when the file is replaced (rebuilt)."""
    import sqlite3

    st = path.stat()
    key = (st.st_ino, st.st_dev, st.st_mtime_ns, st.st_size)
    cache = _local.__dict__.setdefault("conns", {})
    hit = cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    if hit is not None:
        hit[1].close()
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=True)
    ident = f"sqlite:{path}:{key}"
    cache[path] = (key, con, ident)
    return con, ident


@contextmanager
def _session(db: str | None) -> Iterator[Conn]:
    """A connection to the catalog: sqlite3 for SQLite files, SQLAlchemy for other URLs. Rebuilds a stale default.
    A database that cannot be reached or holds no catalog raises a one-line CatalogDatabaseError."""
    path = _sqlite_file(db)
    if path is not None:
        if db is None and path == default_path().resolve():
            if _stale(path):
                _rebuild_default(path)
        elif not path.exists():
            raise CatalogError(f"no catalog database at {path}: run `medzoo catalog build --db {path}` first")
        with mapped_errors(str(path)):
            raw, ident = _sqlite_conn(path)
            yield Conn(raw, "sqlite", ident)
        return
    engine = connect(db)
    url = engine.url.render_as_string(hide_password=False)
    with mapped_errors(url):
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            from catalog.sql import forget_pg_connection, pg_connection

            raw = pg_connection(url)  # kept per thread, autocommit: one round trip per statement
            if raw is not None:
                try:
                    yield Conn(raw, "postgresql", engine.url.render_as_string(hide_password=True))
                except BaseException:
                    if raw.closed or raw.broken:
                        forget_pg_connection(url, raw)
                    raise
                return
        with engine.connect() as conn:
            yield Conn(conn, engine.dialect.name, engine.url.render_as_string(hide_password=True))


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise CatalogError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


class Rows:
    """Query results as plain Python rows (what the CLI prints without importing pandas); `to_frame()` for pandas."""

    def __init__(self, columns: list[str], records: list[dict[str, Any]], kind: str = "plain") -> None:
        self.columns = columns
        self.records = records
        self.kind = kind  # "papers": text columns are '' when missing and year is a nullable integer

    def __len__(self) -> int:
        return len(self.records)

    def plain(self) -> list[dict[str, Any]]:
        """Records as printed: for paper rows, missing text is '' (as in the DataFrame)."""
        if self.kind != "papers":
            return self.records
        keep = ("year", "score", "similarity")
        return [{c: ("" if v is None and c not in keep else v) for c, v in r.items()} for r in self.records]

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        if self.kind == "papers":
            if not self.records:
                return pd.DataFrame(columns=self.columns)
            # column by column (a DataFrame of dicts, then fillna, costs ~10 ms a call): missing text is '', so rows
            # print and compare plainly; a column with no text at all stays object dtype, as fillna on it leaves it
            data: dict[str, Any] = {}
            for c in self.columns:
                if c not in self.records[0]:
                    continue
                vals = [r.get(c) for r in self.records]
                if c == "year":
                    data[c] = pd.array(vals, dtype="Int64")
                elif c in ("score", "similarity"):
                    data[c] = vals
                elif all(v is None for v in vals):
                    data[c] = pd.Series([""] * len(vals), dtype=object)
                else:
                    data[c] = ["" if v is None else v for v in vals]
            return pd.DataFrame(data)
        if not self.records:
            return pd.DataFrame(columns=self.columns)
        return pd.DataFrame(self.records, columns=self.columns)


def _load_vocabulary(conn: _Conn, name: str) -> Vocabulary:
    if name not in VOCAB_TABLE:
        raise CatalogError(f"unknown vocabulary {name!r}; choose from {', '.join(VOCAB_TABLE)}")
    rows = conn.all(f"SELECT slug, name, synonyms FROM {VOCAB_TABLE[name]}")
    return Vocabulary(name, {slug: Term(slug, nm, json.loads(syn)) for slug, nm, syn in rows})


def _vocabulary(conn: _Conn, name: str) -> Vocabulary:
    """The vocabulary for resolving filter terms, read once per database build (only ever read, never changed)."""
    if name not in VOCAB_TABLE:
        raise CatalogError(f"unknown vocabulary {name!r}; choose from {', '.join(VOCAB_TABLE)}")
    return _cached(conn, f"vocab:{name}", lambda: _load_vocabulary(conn, name))


def _as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _descendants(conn: _Conn, slugs: list[str]) -> list[str]:
    """Architecture slugs plus every variant below them (stylegan -> stylegan2 -> stylegan2-ada)."""
    parent = _cached(conn, "architecture-parents", lambda: dict(conn.all("SELECT slug, family FROM architecture")))
    out = set(slugs)
    changed = True
    while changed:
        new = {s for s, p in parent.items() if p in out and s not in out}
        out |= new
        changed = bool(new)
    return sorted(out)


def _year_clause(year: int | tuple[int | None, int | None]) -> tuple[str, dict[str, Any]]:
    if isinstance(year, int):
        return "year = :year", {"year": year}
    if isinstance(year, (tuple, list)) and len(year) == 2:
        lo, hi = year
        return "year >= :year_lo AND year <= :year_hi", {"year_lo": lo if lo is not None else 0,
                                                         "year_hi": hi if hi is not None else 9999}
    raise CatalogError(f"year must be a year or a (from, to) pair, got {year!r}")


class _StaleBuild(Exception):
    """The statement's build is not the one the caches assumed (sql.assume_build): the catalog was rebuilt."""


@lru_cache(maxsize=8)
def _pg_rows_sql(base: tuple[str, ...]) -> str:
    """One statement for PostgreSQL: the build's facts (sql.BUILD_COLUMN, always one row even for no ids) and, per id in
    order, the paper's columns and its authors (by position), verified tags (by term) and effects (by id) as arrays."""
    lists = ["ARRAY(SELECT a.name FROM paperauthor a WHERE a.paper_id = p.id ORDER BY a.position, a.name)"]
    lists += [f"ARRAY(SELECT t.term FROM {LINK_TABLE[v]} t WHERE t.paper_id = p.id AND t.status = 'verified' ORDER BY t.term)"
              for v in FILTERS]
    lists.append("ARRAY(SELECT e.text FROM papereffect e WHERE e.paper_id = p.id ORDER BY e.id, e.text)")
    return (f"SELECT m.built, {', '.join(f'p.{c}' for c in base)}, {', '.join(lists)} "
            f"FROM (SELECT {BUILD_COLUMN} AS built) m LEFT JOIN (unnest(CAST(:ids AS int4[])) WITH ORDINALITY AS u(id, ord) "
            "JOIN paper p ON p.id = u.id) ON true ORDER BY u.ord")


def _paper_rows_pg(conn: _Conn, ids: list[int], extra: dict[int, dict] | None, columns: list[str], check_build: bool) -> Rows:
    base = tuple(_PAPER_BASE)
    rows = conn.all(_pg_rows_sql(base), {"ids": [int(i) for i in ids]}, prepare=True)
    if check_build and not same_build(conn, rows[0][0] if rows else None):
        raise _StaleBuild
    nb = len(base)
    out = []
    for r in rows:
        if r[1] is None:  # the build row alone: no ids
            continue
        b = dict(zip(base, r[1 : 1 + nb]))
        authors, *tags, effects = r[1 + nb :]
        row = {c: b.get(c) for c in PAPER_COLUMNS if c in b}
        row["authors"] = "; ".join(authors)
        for v, terms in zip(FILTERS, tags):
            row[PLURAL[v]] = ", ".join(terms)
        row["effects"] = " | ".join(effects)
        row.update((extra or {}).get(b["id"], {}))
        out.append({c: row[c] for c in columns if c in row})
    return Rows(columns, out, "papers")


def _paper_rows(conn: _Conn, ids: Sequence[int], extra: dict[int, dict] | None = None, check_build: bool = False) -> Rows:
    """Paper rows with their authors and tags aggregated, in the order of `ids`. On PostgreSQL (psycopg) one prepared
    statement; check_build: that statement also checks the build the caches assumed (raises _StaleBuild)."""
    extra_cols = list(next(iter((extra or {}).values()), {}).keys())
    columns = PAPER_COLUMNS + extra_cols
    ids = list(dict.fromkeys(ids))
    if conn.dialect == "postgresql" and conn.dbapi is not None and len(ids) <= CHUNK:
        return _paper_rows_pg(conn, ids, extra, columns, check_build)
    if not ids:
        return Rows(columns, [], "papers")
    base: dict[int, dict[str, Any]] = {}
    lists: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for chunk in _chunks(ids):
        marks, params = _in("i", chunk)
        names, rows = conn.columns(f"SELECT {', '.join(_PAPER_BASE)} FROM paper WHERE id IN ({marks})", params)
        base.update((r[0], dict(zip(names, r))) for r in rows)
        # authors (by position), verified tags (by term) and effects (by id) in one round trip
        parts = [f"SELECT 'authors' AS what, paper_id, name AS value, position AS ord FROM paperauthor WHERE paper_id IN ({marks})"]
        parts += [f"SELECT '{PLURAL[v]}', paper_id, term, 0 FROM {LINK_TABLE[v]} WHERE paper_id IN ({marks}) "
                  "AND status = 'verified'" for v in FILTERS]
        parts.append(f"SELECT 'effects', paper_id, text, id FROM papereffect WHERE paper_id IN ({marks})")
        for what, pid, value, _ in conn.all(f"SELECT what, paper_id, value, ord FROM ({' UNION ALL '.join(parts)}) AS lists "
                                            "ORDER BY what, ord, value", params):
            lists[what][pid].append(value)
    out = []
    for i in ids:
        row = {c: base[i].get(c) for c in PAPER_COLUMNS if c in base[i]}
        row["authors"] = "; ".join(lists["authors"][i])
        for col in ("organs", "modalities", "tasks", "architectures", "datasets", "losses", "metrics"):
            row[col] = ", ".join(lists[col][i])
        row["effects"] = " | ".join(lists["effects"][i])
        row.update((extra or {}).get(i, {}))
        out.append({c: row[c] for c in columns if c in row})
    return Rows(columns, out, "papers")


def papers_rows(organ=None, modality=None, task=None, architecture=None, loss=None, metric=None, dataset=None,  # noqa: ANN001
                year: int | tuple[int | None, int | None] | None = None, kind: str | None = None,
                include_proposed: bool = False, limit: int | None = None, db: str | None = None) -> Rows:
    """`papers` as plain rows."""
    given = {k: v for k, v in dict(organ=organ, modality=modality, task=task, architecture=architecture, loss=loss,
                                   metric=metric, dataset=dataset).items() if v is not None}
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise CatalogError(f"limit must be a non-negative integer, got {limit!r}")
    for attempt in range(2):  # PostgreSQL: a second time only when the catalog was rebuilt under a cached build
        with _session(db) as conn:
            check = attempt == 0 and assume_build(conn)  # caches of the last build seen; its statement checks it
            try:
                return _papers_select(conn, given, year, kind, include_proposed, limit, check)
            except _StaleBuild:
                continue
            except CatalogError:  # e.g. a term only a newer build knows: ask the database which build it is, then retry
                if not check:
                    raise
                forget_build(conn)
    raise CatalogError("the catalog was rebuilt twice while it was read; try again")


def _papers_select(conn: Conn, given: dict[str, Any], year: Any, kind: str | None, include_proposed: bool,
                   limit: int | None, check: bool) -> Rows:
    clauses: list[str] = []
    tagged: list[str] = []
    params: dict[str, Any] = {}
    resolved: dict[str, list[str]] = {}
    for n, (vocab, value) in enumerate(given.items()):
        voc = _vocabulary(conn, vocab)
        slugs = [voc.resolve(v) for v in _as_list(value)]
        if vocab == "architecture":
            slugs = _descendants(conn, slugs)
        slugs = resolved[vocab] = list(dict.fromkeys(slugs))
        marks, p = _in(f"t{n}_", slugs)
        params |= p
        status = "" if include_proposed else " AND status = 'verified'"
        distinct = "DISTINCT " if len(slugs) > 1 else ""  # (paper_id, term) is the key: one term, one row per paper
        tagged.append(f"(SELECT {distinct}paper_id FROM {LINK_TABLE[vocab]} WHERE term IN ({marks}){status})")
    if year is not None:
        c, p = _year_clause(year)
        clauses.append(c)
        params |= p
    if kind is not None:
        _kind(kind)
        clauses.append("kind = :kind")
        params["kind"] = kind
    from catalog import tagbits

    if tagbits.ENABLED:  # large catalogs: bitmaps stored by the build (catalog/tagbits.py), same ids, same order
        ids = tagbits.select(conn, resolved, include_proposed, year, kind, limit)
        if ids is not None:
            return _paper_rows(conn, ids, check_build=check)
    # tag filters as joins of their paper ids: the planner starts from the rarest term and probes the covering
    # (term, status, paper_id) indexes of the others (bench/catalog_scale.py: ~3x faster than id IN (...) AND ...)
    src = "paper"
    if tagged:
        src = " JOIN ".join(f"{t} t{i}" + (f" ON t{i}.paper_id = t0.paper_id" if i else "") for i, t in enumerate(tagged))
        src += " JOIN paper ON paper.id = t0.paper_id"
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    sql = f"SELECT paper.id FROM {src}{where} ORDER BY paper.year DESC, paper.title, paper.id{lim}"
    ids = [r[0] for r in conn.all(sql, params)]
    return _paper_rows(conn, ids, check_build=check)


def papers(organ=None, modality=None, task=None, architecture=None, loss=None, metric=None, dataset=None,  # noqa: ANN001
           year: int | tuple[int | None, int | None] | None = None, kind: str | None = None,
           include_proposed: bool = False, db: str | None = None, limit: int | None = None) -> "pd.DataFrame":
    """Papers matching every given filter (a filter given a list matches any of its terms); synonyms resolve.

    Newest first; `limit` keeps the first N. e.g. papers(organ="chest", modality="CT", loss="wasserstein", year=(2019, 2021)).
    """
    return papers_rows(organ=organ, modality=modality, task=task, architecture=architecture, loss=loss, metric=metric,
                       dataset=dataset, year=year, kind=kind, include_proposed=include_proposed, limit=limit,
                       db=db).to_frame()


def live_stats_sql(by: str, kind: str | None = None) -> str:
    """The counting query of stats(by, kind) (parameter :kind when a kind is given); the build stores its result in
    `paperstat` (catalog/indexes.py)."""
    try:
        return _live_stats_sql(by, kind)
    except KeyError:
        raise CatalogError(f"stats by {by!r} is not available; choose from {', '.join(STATS_BY)}") from None


def stats_rows(by: str = "organ", db: str | None = None, kind: str | None = STATS_KIND) -> Rows:
    """`stats` as plain rows."""
    if by not in STATS_BY:
        raise CatalogError(f"stats by {by!r} is not available; choose from {', '.join(STATS_BY)}")
    kind = None if by == "kind" else _kind(kind)
    cols = [by, "name", "papers"] if by in FILTERS else [by, "papers"]
    with _session(db) as conn:
        stored = cached(conn, "paperstat-kinds", lambda: _stored_kinds(conn))
        if (kind or "") in stored:  # counts stored by the build (catalog/indexes.py): no scan of the link tables
            rows = conn.all("SELECT value, name, papers FROM paperstat WHERE by_name = :by AND kind = :kind "
                            "ORDER BY position", {"by": by, "kind": kind or ""})
            rows = [r if by in FILTERS else (int(r[0]) if by == "year" else r[0], r[2]) for r in rows]
        else:
            rows = conn.all(live_stats_sql(by, kind), {"kind": kind} if kind else None)
    if not rows:
        return Rows([by, "papers"], [])
    return Rows(cols, [dict(zip(cols, r)) for r in rows])


def _stored_kinds(conn: Conn) -> set[str]:
    """The kinds `paperstat` holds counts for ('' = every kind); none for a database without it (or built before
    counts were stored per kind)."""
    if not has_table(conn, "paperstat"):
        return set()
    if conn.dialect == "sqlite":
        cols = {r[1] for r in conn.all("PRAGMA table_info(paperstat)")}
    else:
        cols = {r[0] for r in conn.all("SELECT column_name FROM information_schema.columns WHERE table_name = 'paperstat' "
                                       "AND table_schema = ANY(current_schemas(false))")}
    if "kind" not in cols:
        return set()
    return {r[0] for r in conn.all("SELECT DISTINCT kind FROM paperstat")}


def stats(by: str = "organ", db: str | None = None, kind: str | None = STATS_KIND) -> "pd.DataFrame":
    """Number of papers per organ, modality, task, architecture, loss, metric, dataset, year, kind or venue.

    Counts the primary studies (kind='primary'); kind=None counts every paper, another kind only that kind.
    by='kind' always counts every kind."""
    return stats_rows(by, db, kind).to_frame().reset_index(drop=True)


_WORD = re.compile(r"\w+", re.UNICODE)


def _fts_terms(query: str) -> list[str]:
    """Words of the user's text; every FTS or SQL operator is dropped, so input is only ever text."""
    if not isinstance(query, str):
        raise CatalogError(f"search text must be a string, got {type(query).__name__}")
    if len(query) > 2000:
        raise CatalogError(f"search text is {len(query)} characters long; the limit is 2000")
    return [w.lower() for w in _WORD.findall(query)][:32]


def search_rows(query: str, limit: int = 20, db: str | None = None) -> Rows:
    """`search` as plain rows."""
    words = _fts_terms(query)
    if not words:
        return Rows(PAPER_COLUMNS + ["score"], [], "papers")
    from catalog import fulltext
    from catalog.fulltext import BM25_WEIGHTS

    top = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    with _session(db) as conn:
        if conn.dialect == "sqlite":
            # large catalogs: impact-ordered lists (catalog/fulltext.py), the same ranking without scoring every match
            hit = fulltext.search(conn, words, limit) if top else None
            if hit is not None:
                rows = list(zip(hit[0], hit[1]))
            else:
                match = " OR ".join(f'"{w}"*' for w in words)  # each word quoted: a phrase prefix, never an operator
                weights = ", ".join(str(w) for w in BM25_WEIGHTS)
                rows = conn.all(f"SELECT rowid, -bm25(paper_fts, {weights}) AS score FROM paper_fts "
                                "WHERE paper_fts MATCH :m ORDER BY score DESC, rowid LIMIT :k", {"m": match, "k": limit})
        elif conn.dialect == "postgresql":
            clean = [c for c in (re.sub(r"[^0-9a-z_]", "", w) for w in words) if c]
            tsq = " | ".join(f"{c}:*" for c in clean)
            if not tsq:
                return Rows(PAPER_COLUMNS + ["score"], [], "papers")
            hit = fulltext.search(conn, clean, limit) if top else None
            if hit is not None:
                rows = list(zip(hit[0], hit[1]))
            else:
                # the stored column (catalog/builder.py) holds exactly PG_TSVECTOR; older databases index the expression
                vec = "fts" if _cached(conn, "pg-fts-column", lambda: bool(conn.all(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = 'paper' AND column_name = 'fts' "
                    "AND table_schema = ANY(current_schemas(false))"))) else _pg_tsvector()
                rows = conn.all(f"SELECT id, ts_rank({vec}, to_tsquery('english', :q)) AS score FROM paper "
                                f"WHERE {vec} @@ to_tsquery('english', :q) ORDER BY score DESC, id LIMIT :k",
                                {"q": tsq, "k": limit})
        else:
            raise CatalogError(f"full-text search is not available on {conn.dialect}")
        return _paper_rows(conn, [r[0] for r in rows], {r[0]: {"score": round(float(r[1]), 4)} for r in rows})


def _pg_tsvector() -> str:
    from catalog.sql import PG_TSVECTOR

    return PG_TSVECTOR


def search(query: str, limit: int = 20, db: str | None = None) -> "pd.DataFrame":
    """Full-text search over titles and abstracts, best first; every word also matches as a prefix ('cycle*')."""
    return search_rows(query, limit, db).to_frame()


def _by_doi(d: str) -> tuple[str, dict[str, Any]]:
    """WHERE clause finding a paper by a normalised DOI: its DOI, or the arXiv DOI of its arXiv id (a preprint's DOI
    names its published version too)."""
    if d.startswith("10.48550/arxiv."):
        return "(doi = :d OR lower(arxiv) = :a)", {"d": d, "a": d.removeprefix("10.48550/arxiv.")}
    return "doi = :d", {"d": d}


def _paper_id(conn: _Conn, doi: str) -> int:
    try:
        d = normalise_doi(doi)
    except ValueError as e:
        raise CatalogError(str(e)) from None
    where, params = _by_doi(d)
    rows = conn.all(f"SELECT id FROM paper WHERE {where} ORDER BY id", params)
    if not rows:
        raise CatalogError(f"no paper with DOI {d} in the catalog")
    return rows[0][0]


def similar_rows(text_or_doi: str, k: int = 10, db: str | None = None) -> Rows:
    """`similar` as plain rows."""
    import numpy as np

    with _session(db) as conn:
        try:
            d = normalise_doi(text_or_doi)
            is_doi = True
        except ValueError:
            is_doi = False
        q = None
        if is_doi:  # the paper's id and vector in one query
            where, params = _by_doi(d)
            found = conn.all(f"SELECT id, embedding FROM paper WHERE {where} ORDER BY id", params)
            if not found:
                raise CatalogError(f"no paper with DOI {d} in the catalog")
            pid = found[0][0]
            q = None if found[0][1] is None else np.frombuffer(bytes(found[0][1]), dtype=np.float32)
        else:
            if not str(text_or_doi).strip():
                raise CatalogError("similar() needs a DOI or some text")
            pid = None
        from catalog import ann

        index = ann.load(conn)
        if not is_doi:
            from catalog.embed import embed

            q = embed([str(text_or_doi)[:5000]])[0]
        if index is not None and q is not None:
            ids, scores = ann.search(conn, index, q, k, exclude=pid)
        else:  # exact scan: every stored vector
            rows = conn.all("SELECT id, embedding FROM paper WHERE embedding IS NOT NULL")
            all_ids = np.array([r[0] for r in rows])
            mat = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype=np.float32).reshape(len(rows), -1)
            if is_doi:
                q = mat[np.where(all_ids == pid)[0][0]]
            sc = mat @ q
            order = [i for i in np.argsort(-sc) if all_ids[i] != pid][:k]
            ids, scores = [int(all_ids[i]) for i in order], [float(sc[i]) for i in order]
        return _paper_rows(conn, ids, {i: {"similarity": round(float(s), 4)} for i, s in zip(ids, scores)})


def similar(text_or_doi: str, k: int = 10, db: str | None = None) -> "pd.DataFrame":
    """Papers closest in meaning (cosine of MiniLM embeddings) to a catalog paper's DOI or to free text."""
    return similar_rows(text_or_doi, k, db).to_frame()


def related(doi: str, db: str | None = None) -> "pd.DataFrame":
    """The paper's neighbours in the citation/similarity graph: relation, direction, DOI, title, year."""
    import pandas as pd

    with _session(db) as conn:
        pid = _paper_id(conn, doi)
        out = []
        for other, me, direction in (("target_id", "source_id", "out"), ("source_id", "target_id", "in")):
            q = (f"SELECT r.kind, p.doi, p.title, p.year, p.kind AS paper_kind FROM paperrelation r "
                 f"JOIN paper p ON p.id = r.{other} WHERE r.{me} = :pid")
            for kind, pdoi, title, pyear, paper_kind in conn.all(q, {"pid": pid}):
                rel = kind if kind == "similar" else ("cites" if direction == "out" else "cited by")
                out.append({"relation": rel, "doi": pdoi, "title": title, "year": pyear, "kind": paper_kind})
    df = pd.DataFrame(out, columns=["relation", "doi", "title", "year", "kind"])
    return df.sort_values(["relation", "year"], ascending=[True, False], kind="stable").reset_index(drop=True)


PROVENANCE_COLUMNS = ["entity", "key", "field", "source", "checked", "source_class", "tier", "secondary_only"]


def provenance(key_or_doi: str, db: str | None = None) -> "pd.DataFrame":
    """Every field of a paper (by key or DOI) or dataset (by slug) with the source that confirms it and when.

    `source_class` and `tier` rank the source (catalog/sourcerank.py: publisher, PubMed/PMC, arXiv, DBLP and the
    paper's own repository are primary; aggregators and mirrors secondary); a field derived by rule has tier
    `derived` and source `rule:<rule>`. `secondary_only` marks a field whose every source is secondary."""
    import datetime as dt

    import pandas as pd

    with _session(db) as conn:
        key = key_or_doi
        try:
            where, params = _by_doi(normalise_doi(key_or_doi))
            rows = conn.all(f"SELECT key FROM paper WHERE {where} ORDER BY id", params)
            key = rows[0][0] if rows else key
        except ValueError:
            pass
        rows = conn.all("SELECT entity, entity_key, field, source, checked, source_class, tier, secondary_only "
                        "FROM provenance WHERE entity_key = :k ORDER BY field, source", {"k": key})
    if conn.dialect == "sqlite":  # SQLAlchemy's Date type reads SQLite's ISO text as datetime.date
        rows = [(*r[:4], dt.date.fromisoformat(r[4]) if isinstance(r[4], str) else r[4], r[5], r[6], bool(r[7]))
                for r in rows]
    df = pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)
    if df.empty:
        raise CatalogError(f"no paper or dataset {key_or_doi!r} in the catalog")
    return df


EFFECT_COLUMNS = ["key", "title", "year", "organs", "modalities", "architectures", "datasets", "task", "metric",
                  "measure", "without", "with", "gain", "unit", "real_data", "comparison", "source", "arm", "classifier",
                  "text"]


def effects(organ=None, modality=None, architecture=None, dataset=None,  # noqa: ANN001 - as papers()
            year: int | tuple[int | None, int | None] | None = None, kind: str | None = "primary",
            task: str | None = None, metric: str | None = None, structured: bool = True,
            db: str | None = None) -> "pd.DataFrame":
    """What papers gained by adding synthetic images: one row per reported comparison, newest paper first.

    Paper filters as in papers() (synonyms resolve, an architecture includes its variants); `task` (classification,
    segmentation, detection, ...) and `metric` filter the rows themselves. `without` and `with` are the values without
    and with synthetic data, `gain` their difference (or the change the paper reports), in `unit`. structured=False
    adds the free-text effects of the older form (their figures only in `text`). `arm` (classical, synthetic or
    classical+synthetic) and `classifier` are set where a paper reports several augmentations or downstream models.
    e.g. effects(organ="lung", modality="x-ray") or effects(metric="dice").
    """
    import pandas as pd

    found = papers_rows(organ=organ, modality=modality, architecture=architecture, dataset=dataset, year=year,
                        kind=_kind(kind), db=db)
    by_key = {r["key"]: r for r in found.plain()}
    out = []
    with _session(db) as conn:
        want_metric = _vocabulary(conn, "metric").resolve(metric) if metric is not None else None
        rows = conn.all("SELECT p.key, e.task, e.metric, e.measure, e.value_without, e.value_with, e.change, e.unit, "
                        "e.real_data, e.comparison, e.source, e.arm, e.classifier, e.text FROM papereffect e JOIN paper p ON p.id = e.paper_id "
                        "ORDER BY e.id")
    order = {k: i for i, k in enumerate(by_key)}
    for key, t, m, measure, without, with_, change, unit, real, comparison, source, arm, classifier, text in rows:
        if key not in by_key or (structured and not (m or measure)):
            continue
        if (task is not None and t != task) or (want_metric is not None and m != want_metric):
            continue
        p = by_key[key]
        gain = round(with_ - without, 10) if without is not None and with_ is not None else change
        out.append({"key": key, "title": p["title"], "year": p["year"], "organs": p["organs"],
                    "modalities": p["modalities"], "architectures": p["architectures"], "datasets": p["datasets"],
                    "task": t or "", "metric": m or "", "measure": measure or "", "without": without, "with": with_,
                    "gain": gain, "unit": unit or "", "real_data": real or "", "comparison": comparison or "",
                    "source": source or "", "arm": arm or "", "classifier": classifier or "", "text": text})
    out.sort(key=lambda r: order[r["key"]])  # papers() order: newest first
    df = pd.DataFrame(out, columns=EFFECT_COLUMNS)
    df["year"] = df["year"].astype("Int64")
    for c in ("without", "with", "gain"):
        df[c] = df[c].astype(float)
    return df
