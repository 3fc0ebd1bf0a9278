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
