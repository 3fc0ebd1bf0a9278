"""The query API: every filter, synonyms, stats, full-text and meaning search, relations and provenance."""
import pandas as pd
import pytest

from catalog import papers, provenance, related, search, similar, stats
from catalog.errors import CatalogError, UnknownTermError


def keys(df: pd.DataFrame) -> set[str]:
    return set(df["key"])


@pytest.mark.parametrize("filters,expected", [
    ({}, {"fixture-a", "fixture-b", "fixture-c", "fixture-d"}),
    ({"organ": "liver"}, {"fixture-a"}),
    ({"organ": "chest"}, {"fixture-b"}),
    ({"organ": ["brain", "liver"]}, {"fixture-a", "fixture-c"}),
    ({"modality": "MR"}, {"fixture-c"}),
    ({"task": "unconditional synthesis"}, {"fixture-b", "fixture-c"}),
    ({"architecture": "cyclegan"}, {"fixture-a"}),
    ({"architecture": "stylegan"}, {"fixture-c"}),  # variants below a family match it
    ({"architecture": "wgan"}, {"fixture-b"}),
    ({"loss": "wasserstein"}, {"fixture-b"}),
    ({"metric": "FID"}, {"fixture-a", "fixture-b", "fixture-c"}),
    ({"metric": "fid", "loss": "adversarial-bce"}, {"fixture-a", "fixture-c"}),
    ({"dataset": "fixture-set"}, {"fixture-a"}),
    ({"year": 2020}, {"fixture-b"}),
    ({"year": (2019, 2020)}, {"fixture-a", "fixture-b"}),
    ({"year": (2021, None)}, {"fixture-c", "fixture-d"}),
    ({"kind": "review"}, {"fixture-d"}),
    ({"organ": "liver", "modality": "mri"}, set()),
])
def test_filters(fixture_db, filters, expected):
    assert keys(papers(db=fixture_db, **filters)) == expected


def test_paper_row_contents(fixture_db):
    row = papers(organ="liver", db=fixture_db).iloc[0]
    assert row.authors == "Ada Fixture; Bob Fixture"
    assert row.losses == "adversarial-bce, cycle-consistency"
    assert row.effects == "accuracy 80% -> 85%" and row.year == 2019 and row.doi == "10.9999/fixture.a"


def test_unknown_filter_term(fixture_db):
    with pytest.raises(UnknownTermError, match="Close matches: liver"):
        papers(organ="livr", db=fixture_db)
    with pytest.raises(CatalogError, match="year"):
        papers(year="2019", db=fixture_db)


@pytest.mark.parametrize("by", ["organ", "modality", "task", "architecture", "loss", "metric", "dataset", "year", "kind", "venue"])
def test_stats(fixture_db, by):
    df = stats(by, db=fixture_db)
    assert list(df.columns)[0] == by and df["papers"].is_monotonic_decreasing and (df["papers"] > 0).all()


def test_stats_counts(fixture_db):
    assert dict(zip(*stats("metric", db=fixture_db)[["metric", "papers"]].T.values)) == {"fid": 3, "kid": 1, "accuracy": 1}
    # stats count the primary studies unless told otherwise: fixture-d (a review of 2022) counts only with kind=None
    assert dict(zip(*stats("year", db=fixture_db)[["year", "papers"]].T.values)) == {2019: 1, 2020: 1, 2021: 1}
    assert dict(zip(*stats("year", db=fixture_db, kind=None)[["year", "papers"]].T.values)) == {
        2019: 1, 2020: 1, 2021: 1, 2022: 1}
    assert dict(zip(*stats("kind", db=fixture_db)[["kind", "papers"]].T.values)) == {"primary": 3, "review": 1}
    assert stats("year", db=fixture_db, kind="review").to_dict("records") == [{"year": 2022, "papers": 1}]
    with pytest.raises(CatalogError, match="kind must be one of"):
        stats("year", db=fixture_db, kind="blog")
    with pytest.raises(CatalogError, match="choose from"):
        stats("colour", db=fixture_db)


def test_fulltext_ranked_and_prefix(fixture_db):
    assert search("cyclegan liver", db=fixture_db).iloc[0].key == "fixture-a"
    assert keys(search("radiograph", db=fixture_db)) == {"fixture-b"}
    assert "fixture-c" in keys(search("styleg", db=fixture_db))  # prefix
    assert search("nothing-matches-this-zzz", db=fixture_db).empty


@pytest.mark.parametrize("hostile", ['"', "'; DROP TABLE paper; --", "100%", "a AND OR NOT b", "NEAR(liver ct)",
                                     "title:liver", "liver*", "^x", "\x00", "🙂 ünïcode", "((", "-", "x" * 1999])
def test_search_text_is_only_text(fixture_db, hostile):
    search(hostile, db=fixture_db)
    assert len(papers(db=fixture_db)) == 4  # nothing was executed


def test_search_rejects_huge_text(fixture_db):
    with pytest.raises(CatalogError, match="limit"):
        search("x" * 5000, db=fixture_db)


def test_similar_by_doi_and_text(fixture_db):
    df = similar("10.9999/fixture.a", k=2, db=fixture_db)
    assert len(df) == 2 and "fixture-a" not in keys(df) and df["similarity"].is_monotonic_decreasing
    assert similar("brain magnetic resonance images from few examples", k=1, db=fixture_db).iloc[0].key == "fixture-c"
    with pytest.raises(CatalogError, match="no paper with DOI"):
        similar("10.9999/missing", db=fixture_db)


def test_related_both_directions(fixture_db):
    df = related("10.9999/fixture.b", db=fixture_db)
    assert set(zip(df.relation, df.doi)) == {("similar", "10.9999/fixture.a"), ("cited by", "10.9999/fixture.c")}
    df = related("https://doi.org/10.9999/FIXTURE.C", db=fixture_db)
    assert list(df.relation) == ["cites"]


def test_provenance(fixture_db):
    df = provenance("10.9999/fixture.a", db=fixture_db)
    assert {"title", "authors", "organs", "effects"} <= set(df.field)
    assert set(df.source) == {"https://example.org/test-fixture"}
    # example.org is no publisher, PubMed, arXiv, DBLP or own repository: every fact rests on a secondary source
    assert set(df.tier) == {"secondary"} and df.secondary_only.all() and set(df.source_class) == {"web"}


def test_effects_query(fixture_data, tmp_path):
    from catalog import effects

    from .test_catalog_records import EFFECT, edit

    edit(fixture_data, "fixture-a", effects=[EFFECT, {**EFFECT, "task": "segmentation", "metric": "dice", "without": 0.7,
                                                      "with": 0.74, "unit": ""}, "a free-text effect"])
    import yaml

    b = yaml.safe_load((fixture_data / "papers" / "fixture-b.yaml").read_text())
    b["sources"][0]["fields"].append("effects")
    edit(fixture_data, "fixture-b", effects=[{**EFFECT, "metric": "auc", "without": 0.8, "with": 0.79, "unit": ""}],
         sources=b["sources"])
    from catalog.builder import build

    db = str(tmp_path / "e.db")
    build(db, fixture_data)
    df = effects(db=db)
    assert list(df.key) == ["fixture-b", "fixture-a", "fixture-a"]  # newest paper first, rows in record order
    assert df.gain.round(3).tolist() == [-0.01, 5.5, 0.04] and list(df.metric) == ["auc", "accuracy", "dice"]
    assert list(effects(organ="chest", db=db).key) == ["fixture-b"]  # paper filters resolve synonyms
    assert list(effects(metric="DSC", db=db).task) == ["segmentation"]
    assert list(effects(task="classification", modality="CT", db=db).metric) == ["accuracy"]
    assert len(effects(structured=False, db=db)) == 4 and effects(organ="brain", db=db).empty
    row = papers(organ="liver", db=db).iloc[0]
    assert row.effects.startswith("classification, accuracy 80% -> 85.5% (+5.5%)")


def test_real_catalog_review_and_related(real_db):
    review = papers(kind="review", db=real_db)
    row = review[review.doi == "10.1016/j.compbiomed.2022.105382"].iloc[0]
    assert row.pmid == "35276550" and row.year == 2022
    rel = related("10.1016/j.compbiomed.2022.105382", db=real_db)
    assert (rel.relation == "similar").sum() == 9 and (rel.relation == "cited by").sum() == 10


def test_real_catalog_synonym_filters_agree(real_db):
    lung = papers(organ="lung", db=real_db)
    assert len(lung) > 0 and keys(lung) == keys(papers(organ="chest", db=real_db))
    assert all("lung" in o for o in lung.organs)
    assert keys(papers(modality="MR", db=real_db)) == keys(papers(modality="mri", db=real_db))


# ---- full text on large catalogs: impact-ordered lists (catalog/fulltext.py), forced on the real catalog here


@pytest.fixture(scope="module")
def real_lists_db(real_db, tmp_path_factory):
    """The real catalog with the full-text lists a >= 50,000-paper build stores (min_papers=0)."""
    import shutil

    from catalog import fulltext
    from catalog.db import engine_for

    db = tmp_path_factory.mktemp("lists") / "catalog.db"
    shutil.copy(real_db, db)
    engine = engine_for(f"sqlite:///{db}")
    with engine.begin() as conn:
        assert fulltext.build(conn, min_papers=0)["terms"] > 100
    engine.dispose()
    return str(db)


def search_queries(db: str) -> list[str]:
    """Typical queries, words of the titles, their prefixes, repeated words and random combinations (deterministic)."""
    import random
    import re
    import sqlite3

    con = sqlite3.connect(db)
    words = sorted({w.lower() for (t,) in con.execute("SELECT title FROM paper") for w in re.findall(r"\w+", t or "")})
    con.close()
    rnd = random.Random(0)
    out = ["cyclegan ct", "brain mri synthesis", "chest x-ray pneumonia", "liver lesion classification", "retinal fundus",
           "data augmentation", "segmentation", "covid", "styleg", "gan", "x", "a", "ct ct", "seg segmentation", "the of and"]
    out += words[::7] + [w[: rnd.randint(1, len(w))] for w in rnd.sample(words, 40)]
    return out + [" ".join(rnd.sample(words, rnd.randint(2, 5))) for _ in range(120)]


def test_search_lists_rank_exactly_as_fts5_bm25(real_lists_db):
    """Same papers, same order, the same bm25 scores to the last bit as the exhaustive FTS5 query, for ~300 queries;
    and search() itself returns the same frame with and without the lists."""
    from catalog import fulltext, query

    served = 0
    for q in search_queries(real_lists_db):
        words = query._fts_terms(q)
        with query._session(real_lists_db) as conn:
            hit = fulltext.search(conn, words, 20)
            match = " OR ".join(f'"{w}"*' for w in words)
            truth = conn.all("SELECT rowid, -bm25(paper_fts, 10.0, 1.0) AS s FROM paper_fts WHERE paper_fts MATCH :m "
                             "ORDER BY s DESC, rowid LIMIT 20", {"m": match})
        assert hit is not None, q
        served += 1
        assert list(zip(hit[0], hit[1])) == [tuple(r) for r in truth], q
    assert served > 250
    for q in ["cyclegan ct", "brain mri synthesis", "x-ray", "styleg"]:
        fast = search(q, db=real_lists_db)
        fulltext.ENABLED = False
        try:
            slow = search(q, db=real_lists_db)
        finally:
            fulltext.ENABLED = True
        pd.testing.assert_frame_equal(fast, slow)


def test_search_lists_fall_back_for_words_fts5_splits(real_lists_db):
    from catalog import fulltext, query

    with query._session(real_lists_db) as conn:
        assert fulltext.search(conn, ["data_augmentation"], 20) is None  # FTS5 makes a two-token phrase of it
    df = search("data_augmentation", db=real_lists_db)  # so the exhaustive query answers
    assert len(df) > 0 and df.score.is_monotonic_decreasing


@pytest.mark.parametrize("hostile", ['"', "'; DROP TABLE paper; --", "100%", "a AND OR NOT b", "NEAR(liver ct)",
                                     "title:liver", "liver*", "^x", "\x00", "🙂 ünïcode", "((", "-", "x" * 1999])
def test_search_lists_text_is_only_text(real_lists_db, hostile):
    from catalog import fulltext

    fast = search(hostile, db=real_lists_db)
    fulltext.ENABLED = False
    try:
        slow = search(hostile, db=real_lists_db)
    finally:
        fulltext.ENABLED = True
    pd.testing.assert_frame_equal(fast, slow)


def test_small_catalogs_have_no_lists(fixture_db):
    import sqlite3

    con = sqlite3.connect(fixture_db)
    assert not con.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'paperfts%'").fetchall()
