"""Query API: papers, stats, full-text and meaning search, relations and provenance, each as a pandas DataFrame."""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select, text
from sqlalchemy.engine import Engine

from catalog import schema
from catalog.db import default_path, engine_for, resolve_url, sqlite_path
from catalog.errors import CatalogError
from catalog.records import normalise_doi
from catalog.vocab import Term, Vocabulary

FILTERS = ("organ", "modality", "task", "architecture", "loss", "metric", "dataset")
STATS_BY = (*FILTERS, "year", "kind", "venue")
PAPER_COLUMNS = ["key", "title", "authors", "year", "venue", "doi", "pmid", "kind", "organs", "modalities", "tasks",
                 "architectures", "datasets", "losses", "metrics", "effects", "code_url"]
PLURAL = {"organ": "organs", "modality": "modalities", "task": "tasks", "architecture": "architectures",
          "loss": "losses", "metric": "metrics", "dataset": "datasets"}


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return engine_for(url)


def connect(db: str | None = None) -> Engine:
    """Engine for the catalog; the default SQLite file is built on first use and rebuilt when the sources change."""
    url = resolve_url(db)
    path = sqlite_path(url)
    if db is None and path == default_path().resolve():
        from catalog.builder import source_hash

        stale = not path.exists()
        if not stale:
            with _engine(url).connect() as conn:
                row = conn.execute(text("SELECT value FROM meta WHERE name = 'source_hash'")).first()
            stale = row is None or row[0] != source_hash()
        if stale:
            from catalog.builder import build

            print(f"building the catalog database at {path} ...", file=sys.stderr)
            build()
            _engine.cache_clear()
    elif path is not None and not path.exists():
        raise CatalogError(f"no catalog database at {path}: run `medzoo catalog build --db {path}` first")
    return _engine(url)


def vocabulary(name: str, db: str | None = None) -> Vocabulary:
    """A vocabulary as stored in the database (synonyms included), for resolving user input."""
    if name not in schema.VOCAB_TABLES:
        raise CatalogError(f"unknown vocabulary {name!r}; choose from {', '.join(schema.VOCAB_TABLES)}")
    table = schema.VOCAB_TABLES[name].__table__
    with connect(db).connect() as conn:
        rows = conn.execute(select(table.c.slug, table.c.name, table.c.synonyms)).all()
    return Vocabulary(name, {r.slug: Term(r.slug, r.name, json.loads(r.synonyms)) for r in rows})


def _as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _descendants(conn, slugs: list[str]) -> list[str]:  # noqa: ANN001
    """Architecture slugs plus every variant below them (stylegan -> stylegan2 -> stylegan2-ada)."""
    arch = schema.Architecture.__table__
    parent = dict(conn.execute(select(arch.c.slug, arch.c.family)).all())
    out = set(slugs)
    changed = True
    while changed:
        new = {s for s, p in parent.items() if p in out and s not in out}
        out |= new
        changed = bool(new)
    return sorted(out)


def _year_clause(year: int | tuple[int | None, int | None]):  # noqa: ANN202
    p = schema.Paper.__table__
    if isinstance(year, int):
        return p.c.year == year
    if isinstance(year, (tuple, list)) and len(year) == 2:
        lo, hi = year
        return and_(p.c.year >= (lo if lo is not None else 0), p.c.year <= (hi if hi is not None else 9999))
    raise CatalogError(f"year must be a year or a (from, to) pair, got {year!r}")


def _frame(conn, ids: Sequence[int], extra: dict[int, dict] | None = None) -> pd.DataFrame:  # noqa: ANN001
    """Paper rows with their authors and tags aggregated, in the order of `ids`."""
    p = schema.Paper.__table__
    if not ids:
        return pd.DataFrame(columns=PAPER_COLUMNS + list(next(iter((extra or {}).values()), {}).keys()))
    ids = list(ids)
    base = {r.id: dict(r._mapping) for r in conn.execute(select(*[c for c in p.c if c.name != "embedding"]).where(p.c.id.in_(ids)))}
    lists: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    a = schema.PaperAuthor.__table__
    for r in conn.execute(select(a.c.paper_id, a.c.name).where(a.c.paper_id.in_(ids)).order_by(a.c.paper_id, a.c.position)):
        lists["authors"][r.paper_id].append(r.name)
    for vocab, link in schema.LINK_TABLES.items():
        t = link.__table__
        q = select(t.c.paper_id, t.c.term).where(t.c.paper_id.in_(ids), t.c.status == "verified").order_by(t.c.term)
        for r in conn.execute(q):
            lists[PLURAL[vocab]][r.paper_id].append(r.term)
    e = schema.PaperEffect.__table__
    for r in conn.execute(select(e.c.paper_id, e.c.text).where(e.c.paper_id.in_(ids)).order_by(e.c.id)):
        lists["effects"][r.paper_id].append(r.text)
    out = []
    for i in ids:
        row = {c: base[i].get(c) for c in PAPER_COLUMNS if c in base[i]}
        row["authors"] = "; ".join(lists["authors"][i])
        for col in ("organs", "modalities", "tasks", "architectures", "datasets", "losses", "metrics"):
            row[col] = ", ".join(lists[col][i])
        row["effects"] = " | ".join(lists["effects"][i])
        row.update((extra or {}).get(i, {}))
        out.append(row)
    df = pd.DataFrame(out)
    text_cols = [c for c in df.columns if c not in ("year", "score", "similarity")]
    df[text_cols] = df[text_cols].fillna("")  # missing text is '', so rows print and compare plainly
    df["year"] = df["year"].astype("Int64")
    return df[[c for c in PAPER_COLUMNS + list(next(iter((extra or {}).values()), {}).keys()) if c in df.columns]]


def papers(organ=None, modality=None, task=None, architecture=None, loss=None, metric=None, dataset=None,  # noqa: ANN001
           year: int | tuple[int | None, int | None] | None = None, kind: str | None = None,
           include_proposed: bool = False, db: str | None = None) -> pd.DataFrame:
    """Papers matching every given filter (a filter given a list matches any of its terms); synonyms resolve.

    e.g. papers(organ="chest", modality="CT", loss="wasserstein", year=(2019, 2021)).
    """
    p = schema.Paper.__table__
    engine = connect(db)
    given = {k: v for k, v in dict(organ=organ, modality=modality, task=task, architecture=architecture, loss=loss,
                                   metric=metric, dataset=dataset).items() if v is not None}
    clauses = []
    with engine.connect() as conn:
        for vocab, value in given.items():
            voc = vocabulary(vocab, db)
            slugs = [voc.resolve(v) for v in _as_list(value)]
            if vocab == "architecture":
                slugs = _descendants(conn, slugs)
            t = schema.LINK_TABLES[vocab].__table__
            sub = select(t.c.paper_id).where(t.c.term.in_(slugs))
            if not include_proposed:
                sub = sub.where(t.c.status == "verified")
            clauses.append(p.c.id.in_(sub))
        if year is not None:
            clauses.append(_year_clause(year))
        if kind is not None:
            if kind not in ("review", "primary", "related"):
                raise CatalogError(f"kind must be review, primary or related, got {kind!r}")
            clauses.append(p.c.kind == kind)
        ids = [r[0] for r in conn.execute(select(p.c.id).where(*clauses).order_by(p.c.year.desc(), p.c.title))]
        return _frame(conn, ids)


def stats(by: str = "organ", db: str | None = None) -> pd.DataFrame:
    """Number of papers per organ, modality, task, architecture, loss, metric, dataset, year, kind or venue."""
    if by not in STATS_BY:
        raise CatalogError(f"stats by {by!r} is not available; choose from {', '.join(STATS_BY)}")
    p = schema.Paper.__table__
    with connect(db).connect() as conn:
        if by in FILTERS:
            t = schema.LINK_TABLES[by].__table__
            v = schema.VOCAB_TABLES[by].__table__
            q = (select(v.c.slug.label(by), v.c.name, func.count(func.distinct(t.c.paper_id)).label("papers"))
                 .join(t, and_(t.c.term == v.c.slug, t.c.status == "verified"))
                 .group_by(v.c.slug, v.c.name).order_by(text("papers DESC"), v.c.slug))
        else:
            col = getattr(p.c, by)
            q = (select(col.label(by), func.count().label("papers")).where(col.is_not(None))
                 .group_by(col).order_by(text("papers DESC"), col))
        df = pd.DataFrame(conn.execute(q).all())
    if df.empty:
        return pd.DataFrame(columns=[by, "papers"])
    df.columns = [by, "name", "papers"] if by in FILTERS else [by, "papers"]
    return df.reset_index(drop=True)


_WORD = re.compile(r"\w+", re.UNICODE)


def _fts_terms(query: str) -> list[str]:
    """Words of the user's text; every FTS or SQL operator is dropped, so input is only ever text."""
    if not isinstance(query, str):
        raise CatalogError(f"search text must be a string, got {type(query).__name__}")
    if len(query) > 2000:
        raise CatalogError(f"search text is {len(query)} characters long; the limit is 2000")
    return [w.lower() for w in _WORD.findall(query)][:32]


def search(query: str, limit: int = 20, db: str | None = None) -> pd.DataFrame:
    """Full-text search over titles and abstracts, best first; every word also matches as a prefix ('cycle*')."""
    words = _fts_terms(query)
    if not words:
        return pd.DataFrame(columns=PAPER_COLUMNS + ["score"])
    engine = connect(db)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            match = " OR ".join(f'"{w}"*' for w in words)  # each word quoted: a phrase prefix, never an operator
            rows = conn.execute(text("SELECT rowid, -bm25(paper_fts, 10.0, 1.0) AS score FROM paper_fts "
                                     "WHERE paper_fts MATCH :m ORDER BY score DESC LIMIT :k"), {"m": match, "k": limit}).all()
        elif conn.dialect.name == "postgresql":
            from catalog.builder import PG_TSVECTOR

            tsq = " | ".join(f"{re.sub(r'[^0-9a-z_]', '', w)}:*" for w in words if re.sub(r"[^0-9a-z_]", "", w))
            if not tsq:
                return pd.DataFrame(columns=PAPER_COLUMNS + ["score"])
            rows = conn.execute(text(f"SELECT id, ts_rank({PG_TSVECTOR}, to_tsquery('english', :q)) AS score FROM paper "
                                     f"WHERE {PG_TSVECTOR} @@ to_tsquery('english', :q) ORDER BY score DESC, id LIMIT :k"),
                                {"q": tsq, "k": limit}).all()
        else:
            raise CatalogError(f"full-text search is not available on {conn.dialect.name}")
        return _frame(conn, [r[0] for r in rows], {r[0]: {"score": round(float(r[1]), 4)} for r in rows})


def _paper_id(conn, doi: str) -> int:  # noqa: ANN001
    p = schema.Paper.__table__
    try:
        d = normalise_doi(doi)
    except ValueError as e:
        raise CatalogError(str(e)) from None
    row = conn.execute(select(p.c.id).where(p.c.doi == d)).first()
    if row is None:
        raise CatalogError(f"no paper with DOI {d} in the catalog")
    return row[0]


def similar(text_or_doi: str, k: int = 10, db: str | None = None) -> pd.DataFrame:
    """Papers closest in meaning (cosine of MiniLM embeddings) to a catalog paper's DOI or to free text."""
    p = schema.Paper.__table__
    with connect(db).connect() as conn:
        rows = conn.execute(select(p.c.id, p.c.embedding).where(p.c.embedding.is_not(None))).all()
        ids = np.array([r[0] for r in rows])
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        try:
            normalise_doi(text_or_doi)
            is_doi = True
        except ValueError:
            is_doi = False
        if is_doi:
            pid = _paper_id(conn, text_or_doi)
            q = mat[np.where(ids == pid)[0][0]]
        else:
            if not str(text_or_doi).strip():
                raise CatalogError("similar() needs a DOI or some text")
            from catalog.embed import embed

            q, pid = embed([str(text_or_doi)[:5000]])[0], None
        scores = mat @ q
        order = [i for i in np.argsort(-scores) if ids[i] != pid][:k]
        return _frame(conn, [int(ids[i]) for i in order], {int(ids[i]): {"similarity": round(float(scores[i]), 4)} for i in order})


def related(doi: str, db: str | None = None) -> pd.DataFrame:
    """The paper's neighbours in the citation/similarity graph: relation, direction, DOI, title, year."""
    p, r = schema.Paper.__table__, schema.PaperRelation.__table__
    with connect(db).connect() as conn:
        pid = _paper_id(conn, doi)
        out = []
        for other_col, self_col, direction in ((r.c.target_id, r.c.source_id, "out"), (r.c.source_id, r.c.target_id, "in")):
            q = (select(r.c.kind, p.c.doi, p.c.title, p.c.year, p.c.kind.label("paper_kind"))
                 .join(p, p.c.id == other_col).where(self_col == pid))
            for row in conn.execute(q):
                rel = row.kind if row.kind == "similar" else ("cites" if direction == "out" else "cited by")
                out.append({"relation": rel, "doi": row.doi, "title": row.title, "year": row.year, "kind": row.paper_kind})
    df = pd.DataFrame(out, columns=["relation", "doi", "title", "year", "kind"])
    return df.sort_values(["relation", "year"], ascending=[True, False], kind="stable").reset_index(drop=True)


def provenance(key_or_doi: str, db: str | None = None) -> pd.DataFrame:
    """Every field of a paper (by key or DOI) or dataset (by slug) with the source that confirms it and when."""
    pv, p = schema.Provenance.__table__, schema.Paper.__table__
    with connect(db).connect() as conn:
        key = key_or_doi
        try:
            d = normalise_doi(key_or_doi)
            row = conn.execute(select(p.c.key).where(p.c.doi == d)).first()
            key = row[0] if row else key
        except ValueError:
            pass
        q = (select(pv.c.entity, pv.c.entity_key, pv.c.field, pv.c.source, pv.c.checked)
             .where(pv.c.entity_key == key).order_by(pv.c.field, pv.c.source))
        df = pd.DataFrame(conn.execute(q).all(), columns=["entity", "key", "field", "source", "checked"])
    if df.empty:
        raise CatalogError(f"no paper or dataset {key_or_doi!r} in the catalog")
    return df
