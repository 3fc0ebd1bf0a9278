"""The real curated catalog: valid, sourced, honestly kinded, deep enough, and linked to the reproductions."""
import importlib
import pkgutil
import re

import pytest

import reproductions
from catalog.coverage import GOALS, coverage
from catalog.families import GENERIC, ZooModel, links_for, registry_models, reproduction_of
from catalog.query import papers, provenance, stats
from catalog.records import ARXIV_DOI_PREFIX, DATA_DIR, PRIMARY_REQUIRED, TAG_FIELDS, load_corpus
from catalog.sourcerank import prints_arxiv_doi

# General generative-modelling papers (the primaries build on them) and data set papers: never counted as primary.
METHOD_PAPERS = {"goodfellow2014-gan", "radford2016-dcgan", "arjovsky2017-wgan", "gulrajani2017-wgan-gp", "isola2017-pix2pix",
                 "zhu2017-cyclegan", "odena2017-acgan", "karras2018-pggan", "karras2018-stylegan", "karras2020-stylegan2",
                 "karras2020-stylegan2-ada", "ho2020-ddpm", "song2021-ddim", "liu2021-fastgan", "zhao2020-diffaugment",
                 "shaham2019-singan"}
DATASET_PAPERS = {"yang2023-medmnist-v2"}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()  # fails on an unsourced field, a duplicate or unparsable DOI, or an unknown term


@pytest.fixture(scope="module")
def report(real_db):
    return coverage(db=real_db)


def test_every_filled_field_is_sourced(corpus):
    for p in corpus.papers:
        sources = p.field_sources()
        for f in ("title", "doi", "venue", "authors", "year"):
            value = getattr(p, "authors" if f == "authors" else "year") if f in ("authors", "year") else p.text[f]
            if value:
                assert sources.get(f) or f in p.derived, f"{p.key}: {f} has no source"
        assert all(s.checked.year >= 2025 for s in p.sources), p.key


def test_kinds(corpus):
    kinds = {p.key: p.kind for p in corpus.papers}
    assert {k: kinds.get(k) for k in METHOD_PAPERS} == {k: "method" for k in METHOD_PAPERS}
    assert {k: kinds.get(k) for k in DATASET_PAPERS} == {k: "dataset" for k in DATASET_PAPERS}
    review = next(p for p in corpus.papers if p.doi == "10.1016/j.compbiomed.2022.105382")
    assert review.kind == "review"
    assert {p.kind for p in corpus.papers} <= {"primary", "method", "dataset", "related", "review"}


def test_primary_papers_have_organ_modality_architecture(corpus):
    """The build refuses a primary paper without them, unless it declares that no checked source states one."""
    for p in corpus.papers:
        if p.kind == "primary":
            for f in PRIMARY_REQUIRED:
                assert p.tags[TAG_FIELDS[f]] or f in p.unstated, f"{p.key}: {f}"


def test_source_rules(corpus):
    """DOIs are lower case in the files; an arXiv DOI is derived by rule (never credited to a page) unless an arXiv
    abstract page, which prints it, is its source."""
    for p in corpus.papers:
        raw = re.search(r"^doi:\s*['\"]?([^'\"\s#]*)", (DATA_DIR / "papers" / f"{p.key}.yaml").read_text(encoding="utf-8"),
                        re.M)
        if raw and raw.group(1):
            assert raw.group(1) == raw.group(1).lower(), p.key
        credited = p.field_sources()
        for f in p.derived:
            assert f not in credited, f"{p.key}: derived {f} credited to {credited[f][0].url}"
        if p.doi.startswith(ARXIV_DOI_PREFIX):
            assert "doi" in p.derived or all(prints_arxiv_doi(s.url) for s in credited["doi"]), p.key


def test_derived_doi_provenance(real_db, corpus):
    p = next(p for p in corpus.papers if p.derived.get("doi") == "arxiv")
    prov = provenance(p.key, db=real_db)
    doi = prov[prov.field == "doi"]
    assert list(doi.tier) == ["derived"] and list(doi.source) == ["rule:arxiv"]
    assert set(prov.tier) <= {"primary", "secondary", "derived"}
    # a fact resting only on secondary sources is marked so
    only = prov[prov.secondary_only]
    assert (only.tier == "secondary").all()


def test_stats_count_primary_papers(real_db):
    primary = papers(kind="primary", db=real_db)
    assert int(stats("kind", db=real_db).set_index("kind").papers["primary"]) == len(primary)
    by_year = stats("year", db=real_db)
    assert by_year.papers.sum() == primary.year.notna().sum()
    assert by_year.papers.sum() < stats("year", db=real_db, kind=None).papers.sum()


def test_catalog_size(report):
    assert report.papers >= 120 and (report.counts["organ"].papers > 0).sum() >= 10
    assert (report.fields.sourced == report.fields.filled).all()
    assert len(report.missing_doi) == report.papers - report.with_doi
    assert set(report.kinds.kind) == {"primary", "method", "dataset", "related", "review"}


NOT_YET_MET = {  # goals still unmet (strict: a goal that becomes met must leave this list) (issue 15; `medzoo catalog coverage` shows the figures)
    "dataset": "datasets are being filled from the papers' sources: below 75% of primary papers",
    "metric": "metrics are being filled from the papers' sources: below 85% of primary papers",
    "loss": "losses are rarely named on the stored pages: below 60% of primary papers",
}


@pytest.mark.parametrize("goal", [pytest.param(g, marks=pytest.mark.xfail(strict=True, reason=NOT_YET_MET[g]))
                                  if g in NOT_YET_MET else g for g in GOALS])
def test_depth_goal(report, goal):
    row = report.goals.loc[goal]
    assert row.met, f"{row.goal}: {row.figure:g} < {row.target:g} ({row.detail})"


def test_review_facts(corpus):
    review = next(p for p in corpus.papers if p.doi == "10.1016/j.compbiomed.2022.105382")
    assert review.kind == "review" and review.text["pmid"] == "35276550"
    assert review.attributes["papers_reviewed"] == "105" and review.attributes["years_covered"] == "2018-2021"
    assert sum(1 for k, _ in review.relations if k == "similar") == 9


def test_reproduced_papers_are_in_the_catalog(corpus):
    dois = set(corpus.by_doi())  # DOIs and the arXiv DOIs of arXiv ids
    families = [m.name for m in pkgutil.iter_modules(reproductions.__path__) if m.ispkg and m.name != "common"
                and m.name != "evaluate"]
    assert len(families) >= 8
    for fam in families:
        module = importlib.import_module(f"reproductions.{fam}")
        assert module.PAPERS, fam
        assert set(module.PAPERS) <= dois, f"{fam}: {set(module.PAPERS) - dois} not in catalog/data/papers"


def test_family_links(corpus):
    """A paper links to the reproduction of each of its architecture families and that family's models; the generic
    `gan` links to none."""
    tree = {t.slug: (t.extra.get("family"), t.extra.get("reproduction")) for t in corpus.vocabs["architecture"].terms.values()}
    repro = reproduction_of(tree)
    assert GENERIC not in repro and repro["dcgan"] == "dcgan" and repro["ddim"] == "ddpm"
    assert repro["stylegan2-ada"] == "pggan" and "cgan" not in repro  # variants inherit; a root without one has none
    models = [ZooModel("dcgan.x_28", "dcgan", 28), ZooModel("pggan.x_128", "pggan", 128)]
    assert links_for(["gan"], repro, models) == []
    assert links_for(["gan", "dcgan"], repro, models) == [("dcgan", "dcgan", ["dcgan.x_28"])]
    shipped = registry_models()
    assert shipped and all(m.resolution > 0 for m in shipped)  # zoo/models.json read as data, no zoo import


def test_coverage_families(real_db):
    rep = coverage({"cyclegan"}, db=real_db)
    fam = rep.families.set_index("measure").papers
    assert 0 < fam["family has a trained zoo model"] <= fam["family has a reproduction module"] <= fam["papers with an architecture tag"]
    assert fam["family has a trained zoo model at >= 128 px"] <= fam["family has a trained zoo model"]
    hi = coverage(db=real_db, models=[ZooModel("cyclegan.x_256", "cyclegan", 256)]).families.set_index("measure").papers
    assert hi["family has a trained zoo model at >= 128 px"] == fam["family has a trained zoo model"]
