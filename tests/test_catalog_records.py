"""Bad records: each error names the file, the record and the field; a failed build keeps the old database."""
from pathlib import Path

import pytest
import yaml

from catalog.builder import build
from catalog.errors import CatalogError, RecordError
from catalog.query import papers
from catalog.records import load_corpus


def edit(data: Path, key: str, **changes) -> Path:
    path = data / "papers" / f"{key}.yaml"
    rec = yaml.safe_load(path.read_text())
    rec.update(changes)
    path.write_text(yaml.safe_dump(rec, sort_keys=False))
    return path


def test_fixture_corpus_is_valid(fixture_data):
    corpus = load_corpus(fixture_data)
    assert len(corpus.papers) == 4
    a = next(p for p in corpus.papers if p.key == "fixture-a")
    assert a.tags["modality"] == ["ct"] and a.authors == ["Ada Fixture", "Bob Fixture"]


def test_malformed_yaml_names_file(fixture_data):
    path = fixture_data / "papers" / "fixture-a.yaml"
    path.write_text("key: fixture-a\ntitle: [unclosed\n")
    with pytest.raises(RecordError, match=r"fixture-a\.yaml.*not valid YAML"):
        load_corpus(fixture_data)


def test_broken_encoding_named(fixture_data):
    (fixture_data / "papers" / "fixture-a.yaml").write_bytes(b"key: fixture-a\ntitle: \xff\xfe\n")
    with pytest.raises(RecordError, match="not UTF-8"):
        load_corpus(fixture_data)


def test_unknown_term_names_field_and_close_matches(fixture_data):
    edit(fixture_data, "fixture-b", organs=["lungs"])
    with pytest.raises(RecordError) as e:
        load_corpus(fixture_data)
    assert e.value.record == "fixture-b" and e.value.field == "organs"
    assert "Close matches: lung" in str(e.value) and "Allowed:" in str(e.value)


def test_bad_doi_rejected(fixture_data):
    edit(fixture_data, "fixture-b", doi="not-a-doi")
    with pytest.raises(RecordError, match=r"fixture-b.*'doi'.*not a DOI"):
        load_corpus(fixture_data)


def test_duplicate_doi_names_both_records(fixture_data):
    edit(fixture_data, "fixture-c", doi="10.9999/FIXTURE.A")
    with pytest.raises(RecordError) as e:
        load_corpus(fixture_data)
    assert "fixture-a" in str(e.value) and "fixture-c" in str(e.value) and "duplicate DOI" in str(e.value)


def test_filled_field_without_source_refused(fixture_data):
    path = edit(fixture_data, "fixture-b", pmid="123456")
    with pytest.raises(RecordError, match=r"'pmid'.*no source lists it"):
        load_corpus(fixture_data)
    assert path.exists()


def test_unknown_field_and_bad_kind(fixture_data):
    edit(fixture_data, "fixture-b", colour="red")
    with pytest.raises(RecordError, match="colour"):
        load_corpus(fixture_data)
    edit(fixture_data, "fixture-b", colour=None)
    rec = yaml.safe_load((fixture_data / "papers" / "fixture-b.yaml").read_text())
    rec.pop("colour")
    rec["kind"] = "blog"
    (fixture_data / "papers" / "fixture-b.yaml").write_text(yaml.safe_dump(rec))
    with pytest.raises(RecordError, match="kind"):
        load_corpus(fixture_data)


def test_relation_to_unknown_paper(fixture_data):
    edit(fixture_data, "fixture-c", relations=[{"type": "cites", "target": "10.9999/nowhere"}])
    with pytest.raises(RecordError, match="not a catalog paper"):
        load_corpus(fixture_data)


def test_failed_build_leaves_previous_database(fixture_data, tmp_path):
    db = str(tmp_path / "c.db")
    build(db, fixture_data)
    before = Path(db).read_bytes()
    edit(fixture_data, "fixture-b", doi="10.9999/fixture.a")  # duplicate DOI: validation fails
    with pytest.raises(CatalogError):
        build(db, fixture_data)
    assert Path(db).read_bytes() == before
    assert len(papers(db=db)) == 4
    assert not list(tmp_path.glob(".c.db.*"))  # no temp file left behind


def test_build_replaces_atomically(fixture_data, tmp_path):
    db = str(tmp_path / "c.db")
    build(db, fixture_data)
    edit(fixture_data, "fixture-b", title="Fixture B, retitled")
    build(db, fixture_data)
    assert "Fixture B, retitled" in set(papers(db=db).title)


def test_sqlite_build_killed_mid_write_keeps_previous(fixture_data, tmp_path, monkeypatch):
    db = str(tmp_path / "c.db")
    build(db, fixture_data)
    before = Path(db).read_bytes()

    def boom(*_args):
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr("catalog.builder._write", boom)
    with pytest.raises(RuntimeError):
        build(db, fixture_data)
    assert Path(db).read_bytes() == before and not list(tmp_path.glob(".c.db.*"))
