"""The catalog as the site shows it, read once from the database that catalog.query.connect() opens."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import MetaData, Table, inspect, select
from sqlalchemy.engine import Connection

from catalog import schema
from catalog.query import connect

VOCABS = ("organ", "modality", "dataset", "architecture", "loss", "metric", "task")
TEXT = ("title", "venue", "volume", "issue", "pages", "doi", "pmid", "arxiv", "url", "abstract", "code_url")


@dataclass
class Term:
    """A vocabulary term or dataset, with its extra columns and the keys of the papers tagged with it."""

    vocab: str
    slug: str
    name: str
    synonyms: list[str]
    extra: dict[str, object]
    papers: list[str] = field(default_factory=list)


@dataclass
class Relation:
    """An edge to another paper, read from this paper's side ('cites', 'cited by' or 'similar')."""

    kind: str
    key: str


@dataclass
class Paper:
    """A paper with its verified tags, effects, attributes, relations and field sources."""

    key: str
    kind: str
    year: int | None
    text: dict[str, str | None]
    authors: list[str] = field(default_factory=list)
    tags: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    effects: list[str] = field(default_factory=list)  # each effect row in one line
    effect_rows: list[dict] = field(default_factory=list)  # the structured effect rows (catalog.schema.PaperEffect)
    attributes: dict[str, str] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    provenance: list[tuple[str, str, str]] = field(default_factory=list)  # (field, source, checked)
    tiers: dict[tuple[str, str], str] = field(default_factory=dict)  # (field, source) -> primary | secondary | derived
    secondary_only: set[str] = field(default_factory=set)  # fields whose every source is secondary
    derived: set[str] = field(default_factory=set)  # fields derived by rule (e.g. the arXiv DOI)
    origin: str = "curated"  # curated, or user: a record the user imported into their own layer (not verified)

    @property
    def title(self) -> str:
        return self.text["title"] or self.key

    @property
    def doi(self) -> str:
        return self.text["doi"] or ""


@dataclass
class Catalog:
    """Papers (newest first), terms per vocabulary, dataset provenance, evaluation rows and build facts."""

    papers: dict[str, Paper]
    terms: dict[str, dict[str, Term]]
    dataset_sources: dict[str, list[tuple[str, str, str]]]
    evaluations: pd.DataFrame
    meta: dict[str, str]


def _terms(conn: Connection) -> dict[str, dict[str, Term]]:
    out: dict[str, dict[str, Term]] = {}
    for vocab in VOCABS:
        t = schema.VOCAB_TABLES[vocab].__table__
        rows = conn.execute(select(t).order_by(t.c.name)).mappings().all()
        out[vocab] = {r["slug"]: Term(vocab, r["slug"], r["name"], json.loads(r["synonyms"]),
                                      {k: v for k, v in r.items() if k not in ("slug", "name", "synonyms")})
                      for r in rows}
    return out


def _papers(conn: Connection) -> tuple[dict[int, Paper], dict[str, list[tuple[str, str, str]]]]:
    p = schema.Paper.__table__
    rows = conn.execute(select(*[c for c in p.c if c.name != "embedding"]).order_by(p.c.year.desc(), p.c.title))
    papers = {r.id: Paper(r.key, r.kind, r.year, {k: getattr(r, k) for k in TEXT}, origin=getattr(r, "origin", None)
                          or "curated") for r in rows}
    a = schema.PaperAuthor.__table__
    for r in conn.execute(select(a.c.paper_id, a.c.name).order_by(a.c.paper_id, a.c.position)):
        papers[r.paper_id].authors.append(r.name)
    for vocab in VOCABS:
        t = schema.LINK_TABLES[vocab].__table__
        for r in conn.execute(select(t.c.paper_id, t.c.term).where(t.c.status == "verified").order_by(t.c.term)):
            papers[r.paper_id].tags[vocab].append(r.term)
    e = schema.PaperEffect.__table__
    for r in conn.execute(select(e).order_by(e.c.id)).mappings():
        papers[r["paper_id"]].effects.append(r["text"])
        if r["metric"] or r["measure"]:
            papers[r["paper_id"]].effect_rows.append(dict(r))
    at = schema.PaperAttribute.__table__
    for r in conn.execute(select(at.c.paper_id, at.c.name, at.c.value).order_by(at.c.name)):
        papers[r.paper_id].attributes[r.name] = r.value
    rel = schema.PaperRelation.__table__
    for r in conn.execute(select(rel)):
        back = "similar" if r.kind == "similar" else "cited by"
        papers[r.source_id].relations.append(Relation(r.kind, papers[r.target_id].key))
        papers[r.target_id].relations.append(Relation(back, papers[r.source_id].key))
    by_key = {pp.key: pp for pp in papers.values()}
    datasets: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    pv = schema.Provenance.__table__
    for r in conn.execute(select(pv).order_by(pv.c.field, pv.c.source)):
        row = (r.field, r.source, str(r.checked))
        if r.entity == "paper" and r.entity_key in by_key:
            paper = by_key[r.entity_key]
            paper.provenance.append(row)
            paper.tiers[(r.field, r.source)] = r.tier
            if r.secondary_only:
                paper.secondary_only.add(r.field)
            if r.tier == "derived":
                paper.derived.add(r.field)
        elif r.entity == "dataset":
            datasets[r.entity_key].append(row)
    return papers, datasets


def _evaluations(conn: Connection) -> pd.DataFrame:
    """Rows of the `evaluation` table when the database has one (measured results), else an empty frame."""
    if "evaluation" not in inspect(conn).get_table_names():
        return pd.DataFrame()
    table = Table("evaluation", MetaData(), autoload_with=conn)
    return pd.DataFrame(conn.execute(select(table)).mappings().all())


def load_catalog(db: str | None = None) -> Catalog:
    """Read every paper, term, relation, source and evaluation row in a handful of queries."""
    with connect(db).connect() as conn:
        terms = _terms(conn)
        papers, datasets = _papers(conn)
        evaluations = _evaluations(conn)
        meta = dict(conn.execute(select(schema.Meta.__table__)).all())
    ordered = {p.key: p for p in papers.values()}
    for p in ordered.values():
        for vocab, slugs in p.tags.items():
            for slug in slugs:
                terms[vocab][slug].papers.append(p.key)
    return Catalog(ordered, terms, dict(datasets), evaluations, meta)
