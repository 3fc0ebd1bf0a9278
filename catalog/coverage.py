"""Coverage report of the catalog: the depth goals and how far the primary studies meet them, counts per kind and
vocabulary, how full and how sourced each field is, what is missing, and which papers link to trained models.

`GOALS` is the one place the depth goals of the catalog are written (issue 15); the report, `medzoo catalog coverage`,
the docs' coverage page and the content tests all read them from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from catalog.families import HIGH_RES, ZooModel, links_for, registry_models, reproduction_of
from catalog.query import _session, stats
from catalog.records import KINDS

if TYPE_CHECKING:
    import pandas as pd

FIELDS = ["title", "authors", "year", "venue", "volume", "pages", "doi", "pmid", "abstract", "code_url", "organs",
          "modalities", "tasks", "architectures", "datasets", "losses", "metrics", "effects"]
TAG_VOCAB = {"organs": "organ", "modalities": "modality", "tasks": "task", "architectures": "architecture",
             "datasets": "dataset", "losses": "loss", "metrics": "metric"}
YEARS = (2017, 2026)  # the growth goal counts primary studies published in these years (inclusive)
AUGMENTATION_TASK = "augmentation"  # the task term marking a paper that adds synthetic images to training data


@dataclass(frozen=True)
class Goal:
    """One depth goal: `figure` (a share in % of `of`, or a count) must reach `target`."""

    name: str
    target: float
    unit: str  # "%" or "papers"
    of: str  # what the share is of


GOALS: dict[str, Goal] = {
    "organ": Goal("primary papers with an organ", 95.0, "%", "primary papers"),
    "modality": Goal("primary papers with a modality", 95.0, "%", "primary papers"),
    "architecture": Goal("primary papers with an architecture", 95.0, "%", "primary papers"),
    "dataset": Goal("primary papers with a dataset", 75.0, "%", "primary papers"),
    "metric": Goal("primary papers with a metric", 85.0, "%", "primary papers"),
    "loss": Goal("primary papers with a loss", 60.0, "%", "primary papers"),
    "effects": Goal("augmentation papers with structured effect rows", 40.0, "%", "augmentation papers"),
    "growth": Goal(f"primary papers {YEARS[0]}-{YEARS[1]} with organ, modality, architecture and year", 300, "papers",
                   "primary papers"),
    "doi": Goal("primary papers with a DOI", 90.0, "%", "primary papers"),
}


@dataclass
class Coverage:
    """The report's parts, each a DataFrame, plus headline numbers (over the primary studies)."""

    papers: int  # primary papers
    with_doi: int  # primary papers with a DOI
    goals: "pd.DataFrame"  # goal, figure, target, unit, met, detail
    kinds: "pd.DataFrame"  # kind, papers: every kind
    fields: "pd.DataFrame"  # field, filled, sourced, secondary_only, filled_pct, sourced_pct (primary papers)
    counts: dict[str, "pd.DataFrame"]  # by -> stats frame (primary papers)
    missing_doi: "pd.DataFrame"  # primary papers without a DOI
    families: "pd.DataFrame"  # measure, papers, share_pct: architecture tag, reproduction module, trained model (>= 128 px)
    secondary_only: "pd.DataFrame"  # kind, facts: (paper, field) facts whose every source is secondary

    def summary(self) -> str:
        """A few lines for the terminal: headline counts, then every goal with its figure and whether it is met."""
        fam = self.families.set_index("measure")["papers"]
        kinds = ", ".join(f"{r.papers} {r.kind}" for r in self.kinds.itertuples())
        head = (f"{self.papers} primary papers ({kinds}); {self.with_doi} primary papers with a DOI "
                f"({100 * self.with_doi / max(self.papers, 1):.1f}%); {len(self.counts['organ'])} organs; "
                f"{fam.get('family has a reproduction module', 0)} primary papers whose architecture family has a "
                f"reproduction module, {fam.get('family has a trained zoo model', 0)} with a trained zoo model")
        return head + "\n" + goals_text(self.goals)


def goals_text(goals: "pd.DataFrame") -> str:
    """The goals as aligned plain-text lines: figure, goal, met or not met."""
    width = max(len(g) for g in goals.goal)
    lines = ["depth goals (issue 15):"]
    for r in goals.itertuples():
        target = f">= {r.target:g}{r.unit if r.unit == '%' else ''}" if r.target == r.target else "(reported)"
        status = "" if r.met is None else ("met" if r.met else "NOT MET")
        lines.append(f"  {r.goal:<{width}}  {r.figure:>7g}{r.unit if r.unit == '%' else '':1}  goal {target:<9} "
                     f"{status:<8} {r.detail}")
    return "\n".join(lines)


def _pct(n: int, of: int) -> float:
    return round(100 * n / of, 1) if of else 0.0


def coverage(trained_families: set[str] | None = None, db: str | None = None,
             models: list[ZooModel] | None = None) -> Coverage:
    """Build the report. `models` are the zoo's registered models (default: read from the registry file as data);
    `trained_families` (reproduction modules with a trained model) defaults to their families."""
    import pandas as pd

    models = registry_models() if models is None else models
    trained = set(trained_families) if trained_families is not None else {m.family for m in models}
    high = {m.family for m in models if m.resolution >= HIGH_RES and m.family in trained}
    with _session(db) as conn:
        kinds = dict(conn.all("SELECT kind, count(*) FROM paper GROUP BY kind"))
        prim = {r[0]: r[1:] for r in conn.all("SELECT id, key, title, year, venue, doi FROM paper WHERE kind = 'primary'")}
        tags: dict[str, dict[int, set[str]]] = {}
        for f, vocab in TAG_VOCAB.items():
            tags[f] = {}
            for pid, term in conn.all(f"SELECT paper_id, term FROM paper{vocab} WHERE status = 'verified'"):
                if pid in prim:
                    tags[f].setdefault(pid, set()).add(term)
        text_cols = ("title", "year", "venue", "volume", "pages", "doi", "pmid", "abstract", "code_url")
        filled_text = {c: {r[0] for r in conn.all(f"SELECT id FROM paper WHERE kind = 'primary' AND {c} IS NOT NULL"
                                                   + ("" if c == "year" else f" AND {c} <> ''"))} for c in text_cols}
        authors = {r[0] for r in conn.all("SELECT DISTINCT paper_id FROM paperauthor")} & set(prim)
        effect_rows = conn.all("SELECT paper_id, metric, measure FROM papereffect")
        keys = {v[0]: k for k, v in prim.items()}
        prov = conn.all("SELECT p.kind, v.entity_key, v.field, max(CASE WHEN v.secondary_only THEN 1 ELSE 0 END), "
                        "max(CASE WHEN v.tier = 'derived' THEN 1 ELSE 0 END) FROM provenance v "
                        "JOIN paper p ON p.key = v.entity_key WHERE v.entity = 'paper' GROUP BY p.kind, v.entity_key, v.field")
        tree = {r[0]: (r[1], r[2]) for r in conn.all("SELECT slug, family, reproduction FROM architecture")}
    n = len(prim)
    # fields: filled, sourced (by a page, or derived by rule), resting only on secondary sources
    sourced: dict[str, set[int]] = {}
    secondary: dict[str, set[int]] = {}
    for kind, key, field, only_secondary, _derived in prov:
        if kind != "primary" or key not in keys:
            continue
        sourced.setdefault(field, set()).add(keys[key])
        if only_secondary:
            secondary.setdefault(field, set()).add(keys[key])
    filled = {c: filled_text[c] for c in text_cols} | {"authors": authors}
    filled["effects"] = {pid for pid, _m, _s in effect_rows if pid in prim}
    filled |= {f: set(tags[f]) for f in TAG_VOCAB}
    fields = pd.DataFrame([{"field": f, "filled": len(filled[f]), "sourced": len(filled[f] & sourced.get(f, set())),
                            "secondary_only": len(filled[f] & secondary.get(f, set()))} for f in FIELDS])
    fields["filled_pct"] = (100 * fields.filled / max(n, 1)).round(1)
    fields["sourced_pct"] = (100 * fields.sourced / fields.filled.where(fields.filled > 0, 1)).round(1)
    # facts resting only on secondary sources, per kind
    facts: dict[str, int] = {}
    for kind, _key, _field, only_secondary, _derived in prov:
        facts[kind] = facts.get(kind, 0) + int(bool(only_secondary))
    secondary_df = pd.DataFrame([{"kind": k, "facts": facts.get(k, 0)} for k in KINDS if k in kinds],
                                columns=["kind", "facts"])
    # links to reproductions and trained models
    repro = reproduction_of(tree)
    arch = tags["architectures"]
    with_module = {pid for pid, terms in arch.items() if links_for(terms, repro, [])}
    with_model = {pid for pid, terms in arch.items() if any(repro.get(t) in trained for t in terms)}
    with_high = {pid for pid, terms in arch.items() if any(repro.get(t) in high for t in terms)}
    families = pd.DataFrame([
        {"measure": "papers with an architecture tag", "papers": len(arch)},
        {"measure": "family has a reproduction module", "papers": len(with_module)},
        {"measure": "family has a trained zoo model", "papers": len(with_model)},
        {"measure": f"family has a trained zoo model at >= {HIGH_RES} px", "papers": len(with_high)},
    ])
    families["share_pct"] = (100 * families.papers / max(n, 1)).round(1)
    # goals
    goals = []
    for vocab, f in (("organ", "organs"), ("modality", "modalities"), ("architecture", "architectures"),
                     ("dataset", "datasets"), ("metric", "metrics"), ("loss", "losses")):
        goals.append((vocab, len(tags[f]), n))
    augmentation = {pid for pid, terms in tags["tasks"].items() if AUGMENTATION_TASK in terms}
    augmentation |= filled["effects"]
    structured = {pid for pid, m, s in effect_rows if pid in prim and (m or s)}
    goals.append(("effects", len(structured & augmentation), len(augmentation)))
    complete = {pid for pid, (_k, _t, year, _v, _d) in prim.items()
                if year is not None and YEARS[0] <= year <= YEARS[1]
                and all(pid in tags[f] for f in ("organs", "modalities", "architectures"))}
    goals.append(("growth", len(complete), n))
    with_doi = len(filled["doi"])
    goals.append(("doi", with_doi, n))
    rows = []
    for name, count, of in goals:
        g = GOALS[name]
        figure = float(count) if g.unit == "papers" else _pct(count, of)
        rows.append({"goal": g.name, "figure": figure, "target": float(g.target), "unit": g.unit,
                     "met": bool(figure >= g.target), "detail": f"{count} of {of} {g.of}"})
    rows.append({"goal": "facts resting only on secondary sources (primary papers)", "figure": float(facts.get("primary", 0)),
                 "target": float("nan"), "unit": "facts", "met": None,
                 "detail": f"{sum(facts.values())} over all kinds; publisher, PubMed/PMC, arXiv, DBLP and the paper's "
                           "own repository are primary"})
    goals_df = pd.DataFrame(rows, columns=["goal", "figure", "target", "unit", "met", "detail"])
    goals_df.index = [*(name for name, _c, _o in goals), "secondary_only"]
    missing = pd.DataFrame(sorted(((v[0], v[1], v[2], v[3]) for pid, v in prim.items() if pid not in filled["doi"]),
                                  key=lambda r: r[0]), columns=["key", "title", "year", "venue"])
    missing["year"] = missing["year"].astype("Int64")
    kinds_df = pd.DataFrame([{"kind": k, "papers": kinds.get(k, 0)} for k in KINDS], columns=["kind", "papers"])
    counts = {by: stats(by, db=db) for by in ("organ", "modality", "year", "dataset", "loss", "metric", "architecture", "task")}
    return Coverage(n, with_doi, goals_df, kinds_df, fields, counts, missing, families, secondary_df)


def goal_met(rep: Coverage, name: str) -> bool:
    """Whether goal `name` (a key of GOALS) is met in the report."""
    return bool(rep.goals.loc[name, "met"])
