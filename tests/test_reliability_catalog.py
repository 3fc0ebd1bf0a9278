"""Hostile input to the catalog: fuzzed text never crashes or executes; killed and concurrent builds never corrupt."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import papers, search, similar
from catalog.errors import CatalogError
from catalog.importers import ImportFormatError, import_file, read_entries
from catalog.records import RecordError, normalise_doi, parse_paper
from catalog.vocab import Term, Vocabulary, load_vocabularies

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["'", '"', "%", "_", ";", "--", "/*", "*/", "' OR 1=1 --", "'; DROP TABLE paper; --",
                     "NEAR(", "AND", "OR", "NOT", "*", "^", ":", "\\", "\x00", "title:x", "{}", "$$"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=2000),
)


@FUZZ
@given(query=TEXT)
def test_search_fuzz(fixture_db, query):
    try:
        df = search(query, db=fixture_db)
        assert set(df.key) <= {"fixture-a", "fixture-b", "fixture-c", "fixture-d"}
    except CatalogError:
        pass
    assert len(papers(db=fixture_db)) == 4


@FUZZ
@given(term=TEXT)
def test_filter_fuzz(fixture_db, term):
    try:
        papers(organ=term, db=fixture_db)
    except CatalogError:
        pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=300).filter(lambda s: s.strip()))
def test_similar_fuzz(fixture_db, text):
    try:
        assert len(similar(text, k=2, db=fixture_db)) == 2
    except CatalogError:
        pass


@FUZZ
@given(doi=TEXT)
def test_doi_fuzz(doi):
    try:
        d = normalise_doi(doi)
        assert d.startswith("10.") and d == d.lower()
    except ValueError:
        pass


@FUZZ
@given(record=st.dictionaries(st.sampled_from(["key", "kind", "title", "doi", "year", "authors", "organs", "sources",
                                               "relations", "attributes", "proposed", "effects", "derived", "unstated",
                                               "arxiv"]),
                              st.one_of(TEXT, st.integers(), st.lists(TEXT, max_size=3), st.none(),
                                        st.dictionaries(TEXT, TEXT, max_size=2)), max_size=8))
def test_record_fuzz(record):
    if isinstance(record.get("effects"), list):  # also rows shaped like effect mappings with hostile values
        record["effects"] = [dict(zip(["task", "metric", "without", "with", "source"], [e] * 5)) if isinstance(e, str) else e
                             for e in record["effects"]]
    vocabs = load_vocabularies()
    try:
        parse_paper(record, "fuzz.yaml", vocabs, Vocabulary("dataset", {"d": Term("d", "D")}))
    except RecordError as e:
        assert "fuzz.yaml" in str(e)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000), ext=st.sampled_from([".bib", ".ris", ".xml", ".txt"]))
def test_import_fuzz(tmp_path_factory, body, ext):
    f = tmp_path_factory.mktemp("fz") / f"in{ext}"
    f.write_bytes(body)
    try:
        read_entries(f)
    except ImportFormatError as e:
        assert str(f) in str(e)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT.filter(lambda s: s.strip() and "{" not in s and "}" not in s), author=st.text(max_size=40))
def test_import_bibtex_fields_fuzz(tmp_path_factory, title, author):
    root = tmp_path_factory.mktemp("imp")
    from .conftest import write_fixture_catalog

    data = write_fixture_catalog(root / "data")
    f = root / "x.bib"
    f.write_text("@article{k, title={%s}, author={%s}, year={2020}}\n" % (title.replace("\x00", ""), author.replace("}", "")),
                 encoding="utf-8")
    try:
        rep = import_file(f, data_dir=data)
    except ImportFormatError:
        return
    for key in rep.added:  # whatever was written is a loadable record, named inside the papers folder
        path = data / "papers" / f"{key}.yaml"
        assert path.resolve().parent == (data / "papers").resolve()
        yaml.safe_load(path.read_text(encoding="utf-8"))


BUILD = ("import sys, time; import catalog.builder as b; real = b._write\n"
         "def slow(*a):\n    real(*a); time.sleep(30)\n"
         "b._write = slow if sys.argv[3] == 'slow' else real\n"
         "from pathlib import Path; b.build(sys.argv[1], Path(sys.argv[2]))\n")


def test_kill_9_during_build_keeps_previous(fixture_data, tmp_path):
    db = tmp_path / "c.db"
    subprocess.run([sys.executable, "-c", BUILD, str(db), str(fixture_data), "fast"], check=True, timeout=300)
    before = db.read_bytes()
    p = subprocess.Popen([sys.executable, "-c", BUILD, str(db), str(fixture_data), "slow"])
    deadline = time.time() + 120
    while not list(tmp_path.glob(".c.db.*.building")) and time.time() < deadline:
        time.sleep(0.2)
    assert list(tmp_path.glob(".c.db.*.building")), "build never started writing"
    time.sleep(1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert db.read_bytes() == before
    assert len(papers(db=str(db))) == 4
    subprocess.run([sys.executable, "-c", BUILD, str(db), str(fixture_data), "fast"], check=True, timeout=300)
    assert not list(tmp_path.glob(".c.db.*.building"))  # the next build removed the killed build's temp file


def test_two_builds_at_once(fixture_data, tmp_path):
    db = tmp_path / "c.db"
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(db), str(fixture_data), "fast"]) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert len(papers(db=str(db))) == 4
    import sqlite3

    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
