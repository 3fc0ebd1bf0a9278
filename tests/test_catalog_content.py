"""The real curated catalog: valid, sourced, large enough, and linked to the reproductions."""
import importlib
import pkgutil

import pytest

import reproductions
from catalog.coverage import coverage
from catalog.query import papers, stats
from catalog.records import load_corpus


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()  # fails on an unsourced field, a duplicate or unparsable DOI, or an unknown term


def test_every_filled_field_is_sourced(corpus):
    for p in corpus.papers:
        sources = p.field_sources()
        for f in ("title", "doi", "venue", "authors", "year"):
            value = getattr(p, "authors" if f == "authors" else "year") if f in ("authors", "year") else p.text[f]
            if value:
                assert sources.get(f), f"{p.key}: {f} has no source"
        assert all(s.checked.year >= 2025 for s in p.sources), p.key


def test_catalog_size_and_doi_share(real_db):
    rep = coverage(db=real_db)
    primary = papers(kind="primary", db=real_db)
    assert len(primary) >= 120
    assert rep.with_doi / rep.papers >= 0.90
    assert (stats("organ", db=real_db).papers > 0).sum() >= 10
    assert (rep.fields.sourced == rep.fields.filled).all()


def test_review_facts(corpus):
    review = next(p for p in corpus.papers if p.doi == "10.1016/j.compbiomed.2022.105382")
    assert review.kind == "review" and review.text["pmid"] == "35276550"
    assert review.attributes["papers_reviewed"] == "105" and review.attributes["years_covered"] == "2018-2021"
    assert sum(1 for k, _ in review.relations if k == "similar") == 9


def test_reproduced_papers_are_in_the_catalog(corpus):
    dois = {p.doi for p in corpus.papers}
    families = [m.name for m in pkgutil.iter_modules(reproductions.__path__) if m.ispkg and m.name != "common"
                and m.name != "evaluate"]
    assert len(families) >= 8
    for fam in families:
        module = importlib.import_module(f"reproductions.{fam}")
        assert module.PAPERS, fam
        assert set(module.PAPERS) <= dois, f"{fam}: {set(module.PAPERS) - dois} not in catalog/data/papers"


def test_coverage_families(real_db):
    rep = coverage({"cyclegan"}, db=real_db)
    fam = rep.families.set_index("measure").papers
    assert 0 < fam["family has a trained zoo model"] <= fam["family has a reproduction module"] <= fam["papers with an architecture tag"]
    assert len(rep.missing_doi) == rep.papers - rep.with_doi
