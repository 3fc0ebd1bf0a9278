"""Coverage report of the catalog: counts per vocabulary, how full and how sourced each field is, what is missing."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select

from catalog import schema
from catalog.query import connect, stats

FIELDS = ["title", "authors", "year", "venue", "volume", "pages", "doi", "pmid", "abstract", "code_url", "organs",
          "modalities", "tasks", "architectures", "datasets", "losses", "metrics", "effects"]
TAG_VOCAB = {"organs": "organ", "modalities": "modality", "tasks": "task", "architectures": "architecture",
             "datasets": "dataset", "losses": "loss", "metrics": "metric"}


@dataclass
class Coverage:
    """The report's parts, each a DataFrame, plus headline numbers."""

    papers: int
    with_doi: int
    fields: pd.DataFrame  # field, filled, sourced, filled_pct, sourced_pct
    counts: dict[str, pd.DataFrame]  # by -> stats frame
    missing_doi: pd.DataFrame
    families: pd.DataFrame  # paper share whose architecture family has a reproduction module / a trained model

    def summary(self) -> str:
        """A few lines for the terminal."""
        fam = self.families.set_index("measure")["papers"]
        return (f"{self.papers} papers, {self.with_doi} with a DOI ({100 * self.with_doi / max(self.papers, 1):.1f}%); "
                f"{len(self.counts['organ'])} organs; {fam.get('family has a reproduction module', 0)} papers whose "
                f"architecture family has a reproduction module, {fam.get('family has a trained zoo model', 0)} with a "
                "trained zoo model")


def _reproduction_of(conn) -> dict[str, str]:  # noqa: ANN001
    """Architecture slug -> reproduction module, inherited from the nearest ancestor family that has one."""
    a = schema.Architecture.__table__
    rows = {r.slug: (r.family, r.reproduction) for r in conn.execute(select(a.c.slug, a.c.family, a.c.reproduction))}
    out = {}
    for slug in rows:
        s, seen = slug, set()
        while s and s not in seen:
            seen.add(s)
            family, repro = rows.get(s, (None, None))
            if repro:
                out[slug] = repro
                break
            s = family
    return out


def coverage(trained_families: set[str] | None = None, db: str | None = None) -> Coverage:
    """Build the report; `trained_families` are reproduction modules with a trained zoo model (from the zoo registry)."""
    p = schema.Paper.__table__
    engine = connect(db)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(p)).scalar_one()
        pv = schema.Provenance.__table__
        sourced = dict(conn.execute(select(pv.c.field, func.count(func.distinct(pv.c.entity_key)))
                                    .where(pv.c.entity == "paper").group_by(pv.c.field)).all())
        filled = {}
        for f in ("title", "year", "venue", "volume", "pages", "doi", "pmid", "abstract", "code_url"):
            col = getattr(p.c, f)
            filled[f] = conn.execute(select(func.count()).where(col.is_not(None), col != "" if f != "year" else col.is_not(None))).scalar_one()
        filled["authors"] = conn.execute(select(func.count(func.distinct(schema.PaperAuthor.paper_id)))).scalar_one()
        filled["effects"] = conn.execute(select(func.count(func.distinct(schema.PaperEffect.paper_id)))).scalar_one()
        for f, vocab in TAG_VOCAB.items():
            t = schema.LINK_TABLES[vocab].__table__
            filled[f] = conn.execute(select(func.count(func.distinct(t.c.paper_id))).where(t.c.status == "verified")).scalar_one()
        missing = pd.DataFrame(conn.execute(select(p.c.key, p.c.title, p.c.year, p.c.venue)
                                            .where((p.c.doi.is_(None)) | (p.c.doi == "")).order_by(p.c.key)).all(),
                               columns=["key", "title", "year", "venue"])
        repro = _reproduction_of(conn)
        t = schema.PaperArchitecture.__table__
        links = conn.execute(select(t.c.paper_id, t.c.term).where(t.c.status == "verified")).all()
    fields = pd.DataFrame([{"field": f, "filled": filled[f], "sourced": min(sourced.get(f, 0), filled[f])} for f in FIELDS])
    fields["filled_pct"] = (100 * fields.filled / max(n, 1)).round(1)
    fields["sourced_pct"] = (100 * fields.sourced / fields.filled.where(fields.filled > 0, 1)).round(1)
    with_module = {pid for pid, term in links if term in repro}
    with_model = {pid for pid, term in links if repro.get(term) in (trained_families or set())}
    families = pd.DataFrame([
        {"measure": "papers with an architecture tag", "papers": len({pid for pid, _ in links})},
        {"measure": "family has a reproduction module", "papers": len(with_module)},
        {"measure": "family has a trained zoo model", "papers": len(with_model)},
    ])
    families["share_pct"] = (100 * families.papers / max(n, 1)).round(1)
    counts = {by: stats(by, db=db) for by in ("organ", "modality", "year", "dataset", "loss", "metric", "architecture", "task")}
    return Coverage(n, n - len(missing), fields, counts, missing, families)
