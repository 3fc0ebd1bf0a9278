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
    edit(fixture_data, "fixture-c", doi="10.9999/fixture.a")
    with pytest.raises(RecordError) as e:
        load_corpus(fixture_data)
    assert "fixture-a" in str(e.value) and "fixture-c" in str(e.value) and "duplicate DOI" in str(e.value)


def test_doi_stored_bare_and_lower_case(fixture_data):
    edit(fixture_data, "fixture-c", doi="10.9999/FIXTURE.C")
    with pytest.raises(RecordError, match=r"fixture-c.*'doi'.*lower case: 10\.9999/fixture\.c"):
        load_corpus(fixture_data)
    edit(fixture_data, "fixture-c", doi="https://doi.org/10.9999/fixture.c")
    with pytest.raises(RecordError, match="bare DOI"):
        load_corpus(fixture_data)


@pytest.mark.parametrize("field", ["organs", "modalities", "architectures"])
def test_primary_paper_without_organ_modality_architecture_fails_the_build(fixture_data, tmp_path, field):
    edit(fixture_data, "fixture-b", **{field: []})
    with pytest.raises(RecordError) as e:
        build(str(tmp_path / "c.db"), fixture_data)
    msg = str(e.value)
    assert "\n" not in msg and "fixture-b.yaml" in msg and f"field {field!r}" in msg and "primary paper" in msg
    edit(fixture_data, "fixture-b", kind="related")  # another kind may lack them
    load_corpus(fixture_data)


@pytest.mark.parametrize("kind", ["primary", "method", "dataset", "related", "review"])
def test_kinds(fixture_data, kind):
    edit(fixture_data, "fixture-a", kind=kind)
    assert next(p for p in load_corpus(fixture_data).papers if p.key == "fixture-a").kind == kind


def _arxiv_record(fixture_data, **changes):
    rec = yaml.safe_load((fixture_data / "papers" / "fixture-c.yaml").read_text())
    rec.update({"arxiv": "2001.00001", "doi": "10.48550/arxiv.2001.00001", **changes})
    for s in rec["sources"]:
        s["fields"] = [f for f in s["fields"] if f != "doi"] + ["arxiv"]
    return rec


def _write(fixture_data, rec):
    (fixture_data / "papers" / "fixture-c.yaml").write_text(yaml.safe_dump(rec, sort_keys=False))


def test_arxiv_doi_credited_to_a_page_that_does_not_print_it_is_refused(fixture_data):
    rec = _arxiv_record(fixture_data)
    rec["sources"][0]["fields"].append("doi")  # an aggregator credited with the arXiv DOI
    _write(fixture_data, rec)
    with pytest.raises(RecordError, match=r"'doi'.*arXiv DOI credited to https://example.org/test-fixture.*derived"):
        load_corpus(fixture_data)
    rec["sources"].append({"url": "https://arxiv.org/abs/2001.00001", "checked": "2026-11-25", "fields": ["doi"]})
    rec["sources"][0]["fields"].remove("doi")  # arXiv's abstract page prints the DOI it registered
    _write(fixture_data, rec)
    assert next(p for p in load_corpus(fixture_data).papers if p.key == "fixture-c").doi == "10.48550/arxiv.2001.00001"


def test_derived_doi_is_never_credited_to_a_page(fixture_data, tmp_path):
    rec = _arxiv_record(fixture_data, derived={"doi": "arxiv"})
    _write(fixture_data, rec)
    paper = next(p for p in load_corpus(fixture_data).papers if p.key == "fixture-c")
    assert paper.derived == {"doi": "arxiv"} and "doi" not in paper.field_sources()
    db = str(tmp_path / "c.db")
    build(db, fixture_data)
    from catalog.query import provenance

    prov = provenance("10.48550/arxiv.2001.00001", db=db)
    row = prov[prov.field == "doi"]
    assert list(row.source) == ["rule:arxiv"] and list(row.tier) == ["derived"]
    rec["sources"][0]["fields"].append("doi")
    _write(fixture_data, rec)
    with pytest.raises(RecordError, match=r"'doi'.*derived by rule 'arxiv'.*never credited"):
        load_corpus(fixture_data)


@pytest.mark.parametrize("changes,message", [
    ({"derived": {"doi": "arxiv"}, "doi": "10.48550/arxiv.2001.99999"}, "must be 10.48550/arxiv.2001.00001"),
    ({"derived": {"doi": "crossref"}}, "unknown rule"),
    ({"derived": {"title": "arxiv"}}, "cannot be derived"),
    ({"derived": ["doi"]}, "mapping"),
])
def test_bad_derivations(fixture_data, changes, message):
    _write(fixture_data, _arxiv_record(fixture_data, **changes))
    with pytest.raises(RecordError, match=message):
        load_corpus(fixture_data)


def test_derived_doi_filled_from_arxiv_id(fixture_data):
    _write(fixture_data, _arxiv_record(fixture_data, doi="", derived={"doi": "arxiv"}))
    assert next(p for p in load_corpus(fixture_data).papers if p.key == "fixture-c").doi == "10.48550/arxiv.2001.00001"


@pytest.mark.parametrize("url, message", [
    ("https:///example.org/page", "neither an http"),  # a source URL must parse
    ("https://www.themoonlight.io/en/review/some-paper", "machine-written summary"),  # AI reviews are not sources
])
def test_bad_source_urls_are_refused(fixture_data, url, message):
    rec = yaml.safe_load((fixture_data / "papers" / "fixture-b.yaml").read_text())
    rec["sources"][0]["url"] = url
    _write(fixture_data, rec)
    with pytest.raises(RecordError, match=message):
        load_corpus(fixture_data)


EFFECT = {"task": "classification", "metric": "acc", "without": 80, "with": 85.5, "unit": "%",
          "real_data": "120 images", "comparison": "real only vs real + synthetic", "source": "https://example.org/test-fixture"}


def test_structured_effects_parse(fixture_data):
    edit(fixture_data, "fixture-a", effects=[EFFECT, {**EFFECT, "metric": None, "measure": "scar pixels found",
                                                      "without": None, "with": None, "change": 2.5},
                                             "free text of the older form"])
    a = next(p for p in load_corpus(fixture_data).papers if p.key == "fixture-a")
    first, second, text = a.effects
    assert (first.metric, first.without, first.with_, first.gain, first.task) == ("accuracy", 80.0, 85.5, 5.5, "classification")
    assert first.summary() == ("classification, accuracy 80% -> 85.5% (+5.5%); real only vs real + synthetic; "
                               "real data: 120 images")
    assert second.gain == 2.5 and second.measure == "scar pixels found" and text.text == "free text of the older form"


@pytest.mark.parametrize("bad,message", [
    ({"task": "colouring"}, "task must be one of"),
    ({"metric": "fidd"}, "unknown metric term"),
    ({"metric": None}, "needs a metric"),
    ({"with": None}, "needs `without` and `with`"),
    ({"with": "85%"}, "must be a number"),
    ({"unit": "percent"}, "unit must be"),
    ({"comparison": ""}, "needs `comparison`"),
    ({"source": "https://example.org/elsewhere"}, "not one of this record's sources"),
    ({"colour": 1}, "unknown key 'colour'"),
])
def test_bad_effect_rows_refused(fixture_data, bad, message):
    edit(fixture_data, "fixture-a", effects=[{**EFFECT, **bad}])
    with pytest.raises(RecordError, match=message) as e:
        load_corpus(fixture_data)
    assert e.value.field == "effects" and "fixture-a.yaml" in str(e.value)


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
