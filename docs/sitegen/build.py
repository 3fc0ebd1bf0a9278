"""Collect every generated page and picture and write them into the mkdocs-gen-files virtual docs folder."""
from __future__ import annotations

import mkdocs_gen_files

from sitegen import architecture, home, model_pages, papers, reference, reports, results, stats, study, terms
from sitegen.data import load_catalog
from sitegen.md import Pages
from sitegen.models import load_models


def collect() -> Pages:
    """Every generated file, by path relative to the docs folder."""
    cat = load_catalog()
    models = load_models()
    measured = results.current(cat.evaluations)
    return (home.pages(cat, models) | papers.pages(cat) | terms.pages(cat, models)
            | model_pages.pages(cat, models, measured) | reports.pages(cat, models, measured)
            | stats.pages() | study.pages() | reference.pages() | architecture.pages())


def generate() -> None:
    """Write the generated files for the build that runs this script."""
    for path, content in collect().items():
        if isinstance(content, bytes):
            with mkdocs_gen_files.open(path, "wb") as f:
                f.write(content)
        else:
            with mkdocs_gen_files.open(path, "w", encoding="utf-8") as f:
                f.write(content)
