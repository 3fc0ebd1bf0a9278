"""The one writer of model cards (README.md with Hugging Face YAML front matter) and of their `model-index`."""
from __future__ import annotations

import re
from typing import Any

# Hugging Face pipeline tag of each medzoo task (the Hub has no mask- or class-conditional generation tag)
PIPELINE_TAGS = {
    "unconditional-synthesis": "unconditional-image-generation",
    "conditional-synthesis": "unconditional-image-generation",
    "mask-conditional-synthesis": "image-to-image",
    "image-translation": "image-to-image",
    "super-resolution": "image-to-image",
    "feature-extraction": "image-feature-extraction",
}


def front_matter(config: dict[str, Any], tags: list[str], model_index: list[dict[str, Any]] | None = None) -> str:
    """The YAML header of a card: licence, library, pipeline tag, datasets, tags and (optional) model-index."""
    import yaml

    license_id = config.get("license") or "other"
    front: dict[str, Any] = {"license": license_id, "library_name": "medzoo", "pipeline_tag": PIPELINE_TAGS[config["task"]]}
    if license_id == "other":
        front["license_name"] = config.get("license_name", "unclear")
        front["license_link"] = config.get("license_link", "LICENSE")
    front["datasets"] = [d for d in str(config["dataset"]).split("+") if d]
    front["tags"] = list(dict.fromkeys(t for t in ["medzoo", "medical-imaging", *tags] if t))
    if model_index:
        front["model-index"] = model_index
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n"


def render(config: dict[str, Any], sections: list[tuple[str, list[str]]], tags: list[str],
           model_index: list[dict[str, Any]] | None = None) -> str:
    """A whole card: front matter, `# <model id>`, the summary, then each (heading, lines) section, and last the
    Citation section (BibTeX of the model and of the papers it reproduces) unless `sections` has one."""
    body = [f"# {config['model_id']}", "", f"{config['summary']}.", ""]
    if not any(heading == CITATION for heading, _ in sections):
        sections = [*sections, (CITATION, citation_lines(config))]
    for heading, lines in sections:
        body += [f"## {heading}", "", *lines, ""]
    return front_matter(config, tags, model_index) + "\n" + "\n".join(body)


CITATION = "Citation"
_TEX_SPECIAL = re.compile(r"([&%$#_{}])")


def _tex(text: str) -> str:
    """Text for a BibTeX field: LaTeX's special characters escaped, whitespace folded."""
    return _TEX_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def model_bibtex(config: dict[str, Any], hub_repo: str | None = None) -> str:
    """A BibTeX @misc entry for the model itself: its id and summary, the medzoo zoo, its Hub repository."""
    from zoo.registry import HUB_ORG

    model_id = config["model_id"]
    repo = hub_repo or f"{HUB_ORG}/{model_id}"
    summary = str(config.get("summary") or "").rstrip(".")
    fields = {
        "title": "{" + _tex(model_id) + "}" + (f": {_tex(summary)}" if summary else ""),
        "author": "{medzoo contributors}",
        "howpublished": f"\\url{{https://huggingface.co/{repo}}}",
        "note": _tex(f"medzoo model zoo, zoo.load(\"{model_id}\")" + (f"; weights licence {config['license']}"
                                                                      if config.get("license") else "")),
    }
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items())
    return f"@misc{{medzoo-{model_id},\n{body}\n}}\n"


def paper_bibtex(dois: list[str]) -> tuple[str, list[str]]:
    """(BibTeX of the catalog records of these DOIs, the DOIs that have no catalog record). The entries come from
    the records in catalog/data/papers (fields as stored), written by the catalog's one BibTeX writer."""
    import pandas as pd

    from catalog.export import to_bibtex
    from catalog.records import load_corpus, normalise_doi

    by_doi = load_corpus().by_doi()
    rows, missing = [], []
    for doi in dois:
        rec = by_doi.get(normalise_doi(doi))
        if rec is None:
            missing.append(doi)
            continue
        rows.append({"key": rec.key, "title": rec.text.get("title", ""), "authors": "; ".join(rec.authors),
                     "year": rec.year, "venue": rec.text.get("venue", ""), "doi": rec.doi, "pmid": rec.text.get("pmid", "")})
    return (to_bibtex(pd.DataFrame(rows)) if rows else ""), missing


def citation_lines(config: dict[str, Any], hub_repo: str | None = None) -> list[str]:
    """The Citation section: one BibTeX block with the model and the papers it reproduces (catalog records)."""
    papers, missing = paper_bibtex(list(config.get("papers") or []))
    lines = ["If you use this model, cite it and the papers it reproduces:", "", "```bibtex",
             *model_bibtex(config, hub_repo).rstrip("\n").splitlines()]
    if papers:
        lines += ["", *papers.rstrip("\n").splitlines()]
    lines.append("```")
    if missing:
        lines += ["", "Papers without a record in the medzoo catalog (no BibTeX written for them): "
                  + ", ".join(f"https://doi.org/{d}" for d in missing) + "."]
    return lines


def with_section(card: str, heading: str, lines: list[str], before: str | None = None) -> str:
    """The card with its `## heading` section written anew; a new one goes before `## before` (or at the end)."""
    section = "\n".join([f"## {heading}", "", *lines, ""])
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(card):
        return pattern.sub(lambda _: section + "\n", card, count=1).rstrip("\n") + "\n"
    if before and f"\n## {before}\n" in card:
        head, tail = card.split(f"\n## {before}\n", 1)
        return f"{head}\n{section}\n## {before}\n{tail}"
    return card.rstrip("\n") + "\n\n" + section


def with_citation(card: str, config: dict[str, Any], hub_repo: str | None = None) -> str:
    """The card with its Citation section written anew (appended when it has none)."""
    return with_section(card, CITATION, citation_lines(config, hub_repo))


def split_card(card: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body) of a card; ValueError when it has no front matter."""
    import yaml

    if not card.startswith("---\n") or "\n---\n" not in card[4:]:
        raise ValueError("model card has no YAML front matter")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head) or {}, body


def with_model_index(card: str, index: list[dict[str, Any]]) -> str:
    """The card with its front matter's `model-index` replaced by `index`."""
    import yaml

    front, body = split_card(card)
    front["model-index"] = index
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body
