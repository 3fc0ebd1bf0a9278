"""A page per paper (metadata, tags, effects, relations, reproductions and models, provenance) and the papers index.

Facts resting only on secondary sources (aggregators, mirrors: catalog/sourcerank.py) are marked so, and a DOI
derived from the arXiv id by rule says so instead of naming a page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import zoo
from catalog.families import links_for, registry_models, reproduction_of
from catalog.records import arxiv_doi
from sitegen import paths, repeats
from sitegen.data import VOCABS, Catalog, Paper
from sitegen.links import tag_links
from sitegen.md import UNKNOWN, Pages, bullets, esc, ext, head, link, or_unknown, table
from sitegen.model_pages import gallery
from sitegen.models import Model, load_models

if TYPE_CHECKING:
    import pandas as pd

LINKS = {"doi": "https://doi.org/{}", "pmid": "https://pubmed.ncbi.nlm.nih.gov/{}/",
         "arxiv": "https://arxiv.org/abs/{}"}
SECONDARY = "*(secondary sources only)*"
DERIVED = "*(derived from the arXiv id; no stored page prints it)*"
USER = "**your own record** (imported with `medzoo catalog import`; its tags are proposed, not verified by the curators)"
FIELD_OF = {"organ": "organs", "modality": "modalities", "dataset": "datasets", "architecture": "architectures",
            "loss": "losses", "metric": "metrics", "task": "tasks"}


def _mark(p: Paper, field: str) -> str:
    if field in p.derived:
        return " " + DERIVED
    return " " + SECONDARY if field in p.secondary_only else ""


def _venue(p: Paper) -> str:
    t = p.text
    if not t["venue"]:
        return UNKNOWN
    issue = f"({t['issue']})" if t["issue"] else ""
    parts = [t["venue"], f"{t['volume'] or ''}{issue}".strip(), t["pages"] or ""]
    return esc(", ".join(x for x in parts if x)) + _mark(p, "venue")


def _facts(p: Paper) -> str:
    rows = [("Authors", esc(", ".join(p.authors)) + _mark(p, "authors") if p.authors else UNKNOWN),
            ("Year", or_unknown(p.year) + (_mark(p, "year") if p.year else "")), ("Venue", _venue(p)),
            ("Kind", esc(p.kind))]
    rows += [(name, ext(p.text[f], LINKS[f].format(p.text[f])) + _mark(p, f) if p.text[f] else UNKNOWN)
             for f, name in (("doi", "DOI"), ("pmid", "PMID"), ("arxiv", "arXiv"))]
    rows += [(name, ext(p.text[f], p.text[f]) + _mark(p, f)) for f, name in (("url", "Landing page"), ("code_url", "Code"))
             if p.text[f]]
    rows.append(("Catalog key", f"`{p.key}`"))
    if p.origin == "user":
        rows.append(("Record", USER))
    return table(["Field", "Value"], rows)


def _tags(p: Paper, cat: Catalog, src: str) -> str:
    rows = [(paths.SECTIONS[v][1], tag_links(cat, v, p.tags.get(v, []), src)
             + (_mark(p, FIELD_OF[v]) if p.tags.get(v) else "")) for v in VOCABS]
    return table(["Facet", "Terms"], rows)


def _num(v: object, unit: str) -> str:
    if v is None or v != v:
        return ""
    return f"{float(v):g}{unit}"


def _effects(p: Paper, cat: Catalog) -> str:
    """Structured rows as a table of gains; free-text effects of the older form as bullets."""
    out = []
    if p.effect_rows:
        rows = []
        for r in p.effect_rows:
            unit = r["unit"] or ""
            metric = cat.terms["metric"][r["metric"]].name if r["metric"] in cat.terms["metric"] else (r["metric"] or "")
            name = esc(r["measure"] or metric) + (f" ({esc(metric)})" if r["measure"] and metric else "")
            gain = "" if r["change"] is None else f"{float(r['change']):+g}{unit}"
            rows.append((esc(r["task"] or ""), name, _num(r["value_without"], unit), _num(r["value_with"], unit), gain,
                         esc(r["real_data"] or ""), esc(r["comparison"] or "") + (f" ({esc(r['note'])})" if r["note"] else ""),
                         ext("source", r["source"]) if r["source"] else ""))
        out.append(table(["Task", "Measure", "Without synthetic data", "With synthetic data", "Gain", "Real data",
                          "The paper's comparison", "Source"], rows))
    texts = [t for t in p.effects if t not in {r["text"] for r in p.effect_rows}]
    if texts or not out:
        out.append(bullets(map(esc, texts), "None recorded."))
    return "\n".join(out)


def _relations(p: Paper, cat: Catalog, src: str) -> str:
    if not p.relations:
        return "No related papers recorded.\n"
    pairs = sorted(((r.kind, cat.papers[r.key]) for r in p.relations), key=lambda x: (x[0], -(x[1].year or 0)))
    rows = [(k, link(o.title, src, paths.paper(o.key)), or_unknown(o.year)) for k, o in pairs]
    return table(["Relation", "Paper", "Year"], rows)


def _families(p: Paper, cat: Catalog, src: str, repro: dict[str, str], models: list) -> str:  # noqa: ANN001
    """The reproduction module of each of the paper's architecture families and that family's zoo models."""
    links = links_for(p.tags.get("architecture", []), repro, models)
    if not links:
        tagged = p.tags.get("architecture", [])
        why = ("its architecture tags name no family that has one" if tagged else "it has no architecture tag")
        return f"No reproduction module links to this paper: {why} (the generic `gan` links to none).\n"
    rows = []
    for arch, module, ids in links:
        shown = " ".join(link(i, src, paths.model(i)) for i in ids) or "*none trained yet*"
        rows.append((tag_links(cat, "architecture", [arch], src), f"`reproductions/{module}`", shown))
    return table(["Architecture", "Reproduction", "Zoo models of that family"], rows)


def _models(p: Paper, src: str, cat: Catalog | None = None, cards: "Gallery | None" = None) -> str:
    """Models whose registry entry names this paper (by its DOI or the arXiv DOI of its arXiv id), as the gallery
    cards of the models page (a table when the cards' data is not at hand)."""
    dois = [d for d in {p.doi, arxiv_doi(p.text["arxiv"]) if p.text["arxiv"] else ""} if d]
    frames = [zoo.models_for(d) for d in sorted(dois)]
    rows = {r.model_id: r for df in frames for r in df.itertuples()}
    if not rows:
        return "No zoo model reproduces this paper yet.\n"
    if cards is not None and cat is not None and all(i in cards.models for i in rows):
        return gallery([cards.models[i] for i in sorted(rows)], cat, cards.measured, src)
    return table(["Model", "Family", "Dataset", "Task"],
                 [(link(r.model_id, src, paths.model(r.model_id)), esc(r.family), esc(r.dataset), esc(r.task))
                  for _, r in sorted(rows.items())])


@dataclass
class Gallery:
    """What the models' gallery cards show: every model by id, and the latest measured rows."""

    models: dict[str, Model]
    measured: "pd.DataFrame"

    @classmethod
    def load(cls, cat: Catalog) -> "Gallery":
        from sitegen import results

        return cls({m.id: m for m in load_models()}, results.current(cat.evaluations))


def _provenance(p: Paper) -> str:
    rows = []
    for f, s, c in p.provenance:
        tier = p.tiers.get((f, s), "")
        source = f"rule: {esc(s.removeprefix('rule:'))}" if tier == "derived" else ext(s, s)
        rows.append((f"`{f}`", source, esc(tier) + (" (only)" if f in p.secondary_only and tier == "secondary" else ""), c))
    return table(["Field", "Source", "Tier", "Checked"], rows)


def render(p: Paper, cat: Catalog, repro: dict[str, str] | None = None, models: list | None = None,  # noqa: ANN001
           cards: Gallery | None = None) -> str:
    """Markdown of one paper's page."""
    src = paths.paper(p.key)
    repro = repro if repro is not None else _repro(cat)
    models = models if models is not None else registry_models()
    abstract = esc(p.text["abstract"]) if p.text["abstract"] else "*No abstract recorded.*"
    attributes = table(["Attribute", "Value"], [(esc(k), esc(v)) for k, v in p.attributes.items()])
    note = ""
    if p.secondary_only:
        note = (f"Marked {SECONDARY}: {', '.join(f'`{f}`' for f in sorted(p.secondary_only))} rest only on "
                "aggregator or mirror pages; no publisher, PubMed/PMC, arXiv, DBLP or own-repository page confirms them.\n")
    return "\n".join([
        head(p.title, src, paths.PAPERS, "All papers"), _facts(p), note, "## Abstract\n", abstract + "\n",
        "## Tags\n", _tags(p, cat, src), "## Effects\n", "What the paper reports gaining by adding synthetic images.\n",
        _effects(p, cat), repeats.section(p.key), "## Attributes\n\n" + attributes if p.attributes else "",
        "## Related papers\n", _relations(p, cat, src),
        "## Reproductions and models\n", _families(p, cat, src, repro, models),
        "## Models in the zoo naming this paper\n", _models(p, src, cat, cards),
        "## Provenance\n", "Every field above and the source it was checked against; *primary* sources are the "
        "publisher, PubMed/PMC, arXiv, DBLP and the paper's own repository, *secondary* ones aggregators and mirrors, "
        "*derived* values follow from another field by rule.\n", _provenance(p),
    ])


def _names(cat: Catalog, vocab: str, p: Paper) -> str:
    return esc(", ".join(cat.terms[vocab][s].name for s in p.tags.get(vocab, []))) or UNKNOWN


def index(cat: Catalog) -> str:
    """Markdown of the list of every paper, newest first."""
    src = paths.PAPERS
    rows = [(or_unknown(p.year), link(p.title, src, paths.paper(p.key)), esc(p.kind) + (" (yours)" if p.origin == "user" else ""),
             _names(cat, "organ", p), _names(cat, "modality", p))
            for p in cat.papers.values()]
    primary = sum(p.kind == "primary" for p in cat.papers.values())
    return (f"# Papers\n\nAll {len(rows)} papers of the catalog, newest first: {primary} primary studies (medical "
            "images synthesised or translated with a generative model), and the method, dataset, related and review "
            "papers they build on.\n\n" + table(["Year", "Title", "Kind", "Organs", "Modalities"], rows))


def _repro(cat: Catalog) -> dict[str, str]:
    return reproduction_of({t.slug: (t.extra.get("family"), t.extra.get("reproduction"))
                            for t in cat.terms["architecture"].values()})


def pages(cat: Catalog) -> Pages:
    """Every paper page and the papers index."""
    repro, models, cards = _repro(cat), registry_models(), Gallery.load(cat)
    return {paths.PAPERS: index(cat)} | {paths.paper(k): render(p, cat, repro, models, cards) for k, p in cat.papers.items()}
