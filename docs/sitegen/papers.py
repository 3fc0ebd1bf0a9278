"""A page per paper (metadata, tags, effects, relations, reproducing models, provenance) and the papers index."""
from __future__ import annotations

import zoo
from sitegen import paths
from sitegen.data import VOCABS, Catalog, Paper
from sitegen.links import tag_links
from sitegen.md import UNKNOWN, Pages, bullets, esc, ext, head, link, or_unknown, table

LINKS = {"doi": "https://doi.org/{}", "pmid": "https://pubmed.ncbi.nlm.nih.gov/{}/",
         "arxiv": "https://arxiv.org/abs/{}"}


def _venue(p: Paper) -> str:
    t = p.text
    if not t["venue"]:
        return UNKNOWN
    issue = f"({t['issue']})" if t["issue"] else ""
    parts = [t["venue"], f"{t['volume'] or ''}{issue}".strip(), t["pages"] or ""]
    return esc(", ".join(x for x in parts if x))


def _facts(p: Paper) -> str:
    rows = [("Authors", esc(", ".join(p.authors)) if p.authors else UNKNOWN), ("Year", or_unknown(p.year)),
            ("Venue", _venue(p)), ("Kind", esc(p.kind))]
    rows += [(name, ext(p.text[f], LINKS[f].format(p.text[f])) if p.text[f] else UNKNOWN)
             for f, name in (("doi", "DOI"), ("pmid", "PMID"), ("arxiv", "arXiv"))]
    rows += [(name, ext(p.text[f], p.text[f])) for f, name in (("url", "Landing page"), ("code_url", "Code"))
             if p.text[f]]
    rows.append(("Catalog key", f"`{p.key}`"))
    return table(["Field", "Value"], rows)


def _tags(p: Paper, cat: Catalog, src: str) -> str:
    rows = [(paths.SECTIONS[v][1], tag_links(cat, v, p.tags.get(v, []), src)) for v in VOCABS]
    return table(["Facet", "Terms"], rows)


def _relations(p: Paper, cat: Catalog, src: str) -> str:
    if not p.relations:
        return "No related papers recorded.\n"
    pairs = sorted(((r.kind, cat.papers[r.key]) for r in p.relations), key=lambda x: (x[0], -(x[1].year or 0)))
    rows = [(k, link(o.title, src, paths.paper(o.key)), or_unknown(o.year)) for k, o in pairs]
    return table(["Relation", "Paper", "Year"], rows)


def _models(p: Paper, src: str) -> str:
    df = zoo.models_for(p.doi) if p.doi else None
    if df is None or df.empty:
        return "No zoo model reproduces this paper yet.\n"
    return table(["Model", "Family", "Dataset", "Task"],
                 [(link(r.model_id, src, paths.model(r.model_id)), esc(r.family), esc(r.dataset), esc(r.task))
                  for r in df.itertuples()])


def render(p: Paper, cat: Catalog) -> str:
    """Markdown of one paper's page."""
    src = paths.paper(p.key)
    abstract = esc(p.text["abstract"]) if p.text["abstract"] else "*No abstract recorded.*"
    attributes = table(["Attribute", "Value"], [(esc(k), esc(v)) for k, v in p.attributes.items()])
    provenance = table(["Field", "Source", "Checked"], [(f"`{f}`", ext(s, s), c) for f, s, c in p.provenance])
    return "\n".join([
        head(p.title, src, paths.PAPERS, "All papers"), _facts(p), "## Abstract\n", abstract + "\n",
        "## Tags\n", _tags(p, cat, src), "## Effects\n", bullets(map(esc, p.effects), "None recorded."),
        "## Attributes\n\n" + attributes if p.attributes else "",
        "## Related papers\n", _relations(p, cat, src), "## Models in the zoo\n", _models(p, src),
        "## Provenance\n", "Every field above and the source it was checked against.\n", provenance,
    ])


def _names(cat: Catalog, vocab: str, p: Paper) -> str:
    return esc(", ".join(cat.terms[vocab][s].name for s in p.tags.get(vocab, []))) or UNKNOWN


def index(cat: Catalog) -> str:
    """Markdown of the list of every paper, newest first."""
    src = paths.PAPERS
    rows = [(or_unknown(p.year), link(p.title, src, paths.paper(p.key)), esc(p.kind),
             _names(cat, "organ", p), _names(cat, "modality", p))
            for p in cat.papers.values()]
    return f"# Papers\n\nAll {len(rows)} papers of the catalog, newest first.\n\n" + table(
        ["Year", "Title", "Kind", "Organs", "Modalities"], rows)


def pages(cat: Catalog) -> Pages:
    """Every paper page and the papers index."""
    return {paths.PAPERS: index(cat)} | {paths.paper(k): render(p, cat) for k, p in cat.papers.items()}
