"""The catalog on a real PostgreSQL server: build, filters, stats, full-text search, atomic rebuild."""
import pytest

from catalog import papers, related, search, similar, stats
from catalog.builder import build
from catalog.errors import CatalogError

from .test_catalog_records import edit

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_db(postgres_url, tmp_path_factory):
    from .conftest import write_fixture_catalog

    data = write_fixture_catalog(tmp_path_factory.mktemp("pg") / "data")
    build(postgres_url, data)
    return postgres_url, data


def test_postgres_queries_match_sqlite(pg_db, fixture_db):
    url, _ = pg_db
    for filters in ({}, {"organ": "chest"}, {"architecture": "stylegan"}, {"metric": "fid", "loss": "adversarial-bce"},
                    {"year": (2019, 2020)}):
        assert set(papers(db=url, **filters).key) == set(papers(db=fixture_db, **filters).key)
    assert stats("metric", db=url).to_dict() == stats("metric", db=fixture_db).to_dict()
    assert set(related("10.9999/fixture.b", db=url).doi) == set(related("10.9999/fixture.b", db=fixture_db).doi)
    assert similar("10.9999/fixture.a", k=3, db=url).key.tolist() == similar("10.9999/fixture.a", k=3, db=fixture_db).key.tolist()


def test_postgres_fulltext(pg_db):
    url, _ = pg_db
    assert search("cyclegan liver", db=url).iloc[0].key == "fixture-a"
    assert "fixture-c" in set(search("styleg", db=url).key)
    for hostile in ["'; DROP TABLE paper; --", "a & b | !c", "x:*", "\\", "(("]:
        search(hostile, db=url)
    assert len(papers(db=url)) == 4


def test_postgres_failed_build_keeps_previous(pg_db):
    url, data = pg_db
    edit(data, "fixture-b", doi="10.9999/fixture.a")
    with pytest.raises(CatalogError):
        build(url, data)
    edit(data, "fixture-b", doi="10.9999/fixture.b")
    assert len(papers(db=url)) == 4


def test_postgres_build_killed_mid_write_rolls_back(pg_db, monkeypatch):
    url, data = pg_db

    def boom(*_args):
        raise RuntimeError("build killed after the old tables were dropped")

    monkeypatch.setattr("catalog.builder._write", boom)
    with pytest.raises(RuntimeError):
        build(url, data)
    assert len(papers(db=url)) == 4  # the DROP was rolled back with the failed transaction


def test_postgres_refusals_are_one_line(postgres_url):
    """A real server: unknown role (authentication refused), missing database, and a database with no catalog."""
    from sqlalchemy import create_engine, text

    from catalog.errors import CatalogDatabaseError

    base = postgres_url.rsplit("/", 1)[0]
    with pytest.raises(CatalogDatabaseError, match="authentication refused for user 'nobody'"):
        papers(db=base.replace("postgres@", "nobody:pw@") + "/postgres")
    with pytest.raises(CatalogDatabaseError, match="database 'nosuchdb' does not exist.*createdb nosuchdb") as e:
        stats("organ", db=base + "/nosuchdb")
    assert "\n" not in str(e.value)
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS emptydb"))
        c.execute(text("CREATE DATABASE emptydb"))
    engine.dispose()
    with pytest.raises(CatalogDatabaseError, match="holds no catalog.*medzoo catalog build --db"):
        papers(organ="lung", db=base + "/emptydb")


def test_postgres_coverage_effects_provenance_match_sqlite(pg_db, fixture_db):
    from catalog import effects, provenance
    from catalog.coverage import coverage

    url, _ = pg_db
    pg, lite = coverage(db=url, models=[]), coverage(db=fixture_db, models=[])
    from pandas.testing import assert_frame_equal

    assert_frame_equal(pg.goals, lite.goals)
    assert_frame_equal(pg.fields, lite.fields)
    assert_frame_equal(pg.kinds, lite.kinds)
    assert_frame_equal(effects(structured=False, db=url), effects(structured=False, db=fixture_db))
    assert_frame_equal(provenance("fixture-a", db=url), provenance("fixture-a", db=fixture_db))
    assert stats("year", db=url, kind=None).to_dict() == stats("year", db=fixture_db, kind=None).to_dict()


# ---- large-catalog structures on PostgreSQL, forced on small catalogs (min_papers=0)


def _new_database(postgres_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    base = postgres_url.rsplit("/", 1)[0]
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{base}/{name}"


def _force(url: str) -> None:
    from catalog import fulltext, tagbits
    from catalog.db import engine_for

    engine = engine_for(url)
    with engine.begin() as conn:
        assert fulltext.build(conn, min_papers=0)["terms"] > 10
        assert tagbits.build(conn, min_papers=0)["papers"] > 0
    engine.dispose()


@pytest.fixture(scope="module")
def pg_real(postgres_url):
    """The real catalog on PostgreSQL, with the full-text lists and tag bitmaps of a >= 50,000-paper build."""
    url = _new_database(postgres_url, "realcat")
    build(url)
    _force(url)
    return url


def test_postgres_fulltext_index_is_rum_where_the_server_has_it(pg_real):
    from catalog import query

    with query._session(pg_real) as conn:
        offered = bool(conn.all("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'"))
        am = conn.all("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'paper_fulltext'")
    assert am[0][0] == ("rum" if offered else "gin")


def test_postgres_without_rum_says_so_in_one_line_and_uses_gin(postgres_url, monkeypatch, capsys):
    from sqlalchemy import text

    from catalog import fulltext
    from catalog.db import engine_for

    engine = engine_for(_new_database(postgres_url, "norum"))
    monkeypatch.setattr(fulltext, "rum_available", lambda conn: False)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE paper (id INTEGER PRIMARY KEY, fts tsvector)"))
        assert fulltext.create_pg_index(conn) == "gin"
        am = conn.execute(text("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                               "WHERE c.relname = 'paper_fulltext'")).scalar()
    engine.dispose()
    err = capsys.readouterr().err.strip()
    assert am == "gin" and "\n" not in err and "rum" in err and "postgresql-15-rum" in err


def test_postgres_lists_rank_exactly_as_ts_rank(pg_real):
    """Same papers, same order and the same float4 ts_rank as the exhaustive query, for ~250 queries of the real titles."""
    import random
    import re

    from catalog import fulltext, query

    with query._session(pg_real) as conn:
        titles = [t for (t,) in conn.all("SELECT title FROM paper")]
    words = sorted({w.lower() for t in titles for w in re.findall(r"[a-z0-9]+", (t or "").lower())})
    rnd = random.Random(0)
    queries = ["cyclegan ct", "brain mri synthesis", "chest x ray pneumonia", "data augmentation", "styleg", "c", "the",
               "the of and", "ct ct"] + words[::9] + [w[: rnd.randint(1, len(w))] for w in rnd.sample(words, 30)]
    queries += [" ".join(rnd.sample(words, rnd.randint(2, 5))) for _ in range(100)]
    served = 0
    for q in queries:
        clean = q.split()
        tsq = " | ".join(f"{w}:*" for w in clean)
        with query._session(pg_real) as conn:
            hit = fulltext.search(conn, clean, 20)
            truth = conn.all("SELECT id, ts_rank(fts, to_tsquery('english', :q)) AS s FROM paper "
                             "WHERE fts @@ to_tsquery('english', :q) ORDER BY s DESC, id LIMIT 20", {"q": tsq})
        if hit is None:
            continue
        served += 1
        assert list(zip(hit[0], hit[1])) == [tuple(r) for r in truth], q
    assert served > 200
    fast = search("brain mri synthesis", db=pg_real)
    fulltext.ENABLED = False
    try:
        slow = search("brain mri synthesis", db=pg_real)
    finally:
        fulltext.ENABLED = True
    from pandas.testing import assert_frame_equal

    assert_frame_equal(fast, slow)


def test_postgres_filter_is_one_prepared_statement(pg_real, real_db):
    from catalog import sql

    f = {"organ": "brain", "modality": "mri", "limit": 50}
    papers(db=pg_real, **f)  # first call: vocabularies, bitmaps and the build are read and kept
    sent = []
    orig = sql.Conn._cursor
    try:
        sql.Conn._cursor = lambda self, q, *a, **kw: (sent.append(q), orig(self, q, *a, **kw))[1]
        df = papers(db=pg_real, **f)
    finally:
        sql.Conn._cursor = orig
    assert len(sent) == 1 and "WITH ORDINALITY" in sent[0]
    assert len(df) > 0 and set(df.key) == set(papers(db=real_db, **f).key)
    lite = papers(db=real_db, **f).set_index("key").sort_index()
    pg = df.set_index("key").sort_index()
    assert (pg[["authors", "organs", "modalities", "losses", "metrics", "effects", "year"]] ==
            lite[["authors", "organs", "modalities", "losses", "metrics", "effects", "year"]]).all().all()


def test_postgres_filter_sees_a_rebuild(postgres_url, tmp_path):
    """papers() trusts its cached build and checks it in its one statement: a rebuild is seen at once."""
    from .conftest import write_fixture_catalog

    url = _new_database(postgres_url, "rebuilt")
    data = write_fixture_catalog(tmp_path / "data")
    build(url, data)
    _force(url)
    assert set(papers(db=url, organ="chest", limit=10).key) == {"fixture-b"}
    assert set(papers(db=url, organ="chest", limit=10).key) == {"fixture-b"}
    edit(data, "fixture-b", organs=["brain"])
    build(url, data)  # no bitmaps now, a new build
    assert papers(db=url, organ="chest", limit=10).empty
    assert set(papers(db=url, organ="brain", limit=10).key) == {"fixture-b", "fixture-c"}
