"""Index pages per organ, modality, dataset, architecture, loss, metric and task, each listing its papers."""
from __future__ import annotations

import json

from sitegen import paths
from sitegen.data import VOCABS, Catalog, Term
from sitegen.links import tag_links
from sitegen.md import UNKNOWN, Pages, esc, ext, head, link, or_unknown, table
from sitegen.models import Model

SINGULAR = {"organ": "Organ", "modality": "Modality", "dataset": "Dataset", "architecture": "Architecture",
            "loss": "Loss", "metric": "Metric", "task": "Task"}


def _models_of(term: Term, models: list[Model]) -> list[Model]:
    """Zoo models trained by this architecture's reproduction, or on this dataset."""
    if term.vocab == "architecture" and term.extra.get("reproduction"):
        return [m for m in models if m.entry.family == term.extra["reproduction"]]
    if term.vocab == "dataset":
        return [m for m in models if m.entry.dataset.lower() in (term.slug, term.name.lower())]
    return []


def _dataset_facts(term: Term, cat: Catalog, src: str) -> str:
    x = term.extra
    classes = ", ".join(json.loads(x.get("classes") or "[]"))
    rows = [("Organ", tag_links(cat, "organ", [x["organ"]] if x.get("organ") else [], src)),
            ("Modality", tag_links(cat, "modality", [x["modality"]] if x.get("modality") else [], src)),
            ("Images", or_unknown(x.get("n_images"))), ("Classes", or_unknown(classes)),
            ("License", or_unknown(x.get("license"))), ("URL", ext(x["url"], x["url"]) if x.get("url") else UNKNOWN)]
    return table(["Field", "Value"], rows)


def _dataset_sources(term: Term, cat: Catalog) -> str:
    sources = cat.dataset_sources.get(term.slug, [])
    rows = [(f"`{f}`", ext(s, s), c) for f, s, c in sources]
    return "## Provenance\n\n" + table(["Field", "Source", "Checked"], rows) if rows else ""


def _architecture_facts(term: Term, cat: Catalog, src: str) -> str:
    terms = cat.terms["architecture"]
    parent = term.extra.get("family")
    variants = [t.slug for t in terms.values() if t.extra.get("family") == term.slug]
    repro = term.extra.get("reproduction")
    rows = [("Family", tag_links(cat, "architecture", [parent], src) if parent else "*none (a root family)*"),
            ("Variants", tag_links(cat, "architecture", variants, src) if variants else "*none*"),
            ("Reproduction", f"`reproductions/{repro}`" if repro else "*none in this repository*")]
    return table(["Field", "Value"], rows)


def _models_table(models: list[Model], src: str) -> str:
    rows = [(link(m.id, src, paths.model(m.id)), esc(m.entry.dataset), esc(m.entry.task)) for m in models]
    return "\n## Models in the zoo\n\n" + table(["Model", "Dataset", "Task"], rows) if rows else ""


def render(term: Term, cat: Catalog, models: list[Model]) -> str:
    """Markdown of one term's page: its facts and the papers tagged with it."""
    src = paths.term(term.vocab, term.slug)
    also = f"; also called {esc(', '.join(term.synonyms))}" if term.synonyms else ""
    lines = [head(term.name, src, paths.section(term.vocab), f"All {paths.SECTIONS[term.vocab][1].lower()}"),
             f"{SINGULAR[term.vocab]} `{term.slug}`{also}.\n"]
    if term.vocab == "dataset":
        lines.append(_dataset_facts(term, cat, src))
    elif term.vocab == "architecture":
        lines.append(_architecture_facts(term, cat, src))
    lines.append(_models_table(_models_of(term, models), src))
    papers = [cat.papers[k] for k in term.papers]
    lines.append(f"## Papers ({len(papers)})\n")
    rows = [(or_unknown(p.year), link(p.title, src, paths.paper(p.key)), esc(p.kind)) for p in papers]
    lines.append(table(["Year", "Title", "Kind"], rows) if papers else "No papers in the catalog yet.\n")
    if term.vocab == "dataset":
        lines.append(_dataset_sources(term, cat))
    return "\n".join(lines)


def section(vocab: str, cat: Catalog) -> str:
    """Markdown of a vocabulary's index: every term with its number of papers, most-studied first."""
    src = paths.section(vocab)
    terms = sorted(cat.terms[vocab].values(), key=lambda t: (-len(t.papers), t.name.lower()))
    used = sum(1 for t in terms if t.papers)
    rows = [(link(t.name, src, paths.term(vocab, t.slug)), f"`{t.slug}`", esc(", ".join(t.synonyms)), len(t.papers))
            for t in terms]
    title = paths.SECTIONS[vocab][1]
    return (f"# {title}\n\n{len(terms)} terms, {used} of them used by at least one paper.\n\n"
            + table(["Term", "Slug", "Synonyms", "Papers"], rows))


def pages(cat: Catalog, models: list[Model]) -> Pages:
    """Every vocabulary index and term page."""
    out: Pages = {}
    for vocab in VOCABS:
        out[paths.section(vocab)] = section(vocab, cat)
        out |= {paths.term(vocab, t.slug): render(t, cat, models) for t in cat.terms[vocab].values()}
    return out
