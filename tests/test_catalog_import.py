"""Import of BibTeX, RIS and PubMed XML: merge duplicates, proposed tags, bad files refused; export round-trip."""
from pathlib import Path

import pytest
import yaml

from catalog.builder import build
from catalog.export import export
from catalog.importers import ImportFormatError, import_file, read_entries
from catalog.query import papers

FIX = Path(__file__).parent / "fixtures"


def test_bibtex_entries():
    e = read_entries(FIX / "import.bib")
    assert [x["doi"] for x in e] == ["10.9999/fixture.a", "10.9999/import.one"]
    assert e[1]["authors"] == ["Erin Importer", "Finn Importer"] and e[1]["year"] == 2021 and e[1]["pages"] == "1-10"


def test_ris_entries():
    e = read_entries(FIX / "import.ris")
    assert e[0]["title"] == "Fixture ris paper on breast ultrasound synthesis with DCGAN"
    assert e[0]["authors"] == ["Gil Importer"] and e[0]["doi"] == "10.9999/import.two" and e[0]["year"] == 2020


def test_pubmed_entries():
    e = read_entries(FIX / "import_pubmed.xml")
    assert e[0]["pmid"] == "99999991" and e[0]["doi"] == "10.9999/import.three"
    assert e[0]["authors"] == ["Hana Importer", "Ian Importer"] and e[0]["venue"] == "Fixture Journal of Imaging"
    assert e[0]["abstract"].startswith("BACKGROUND: ")


def test_import_merges_and_proposes(fixture_data):
    rep = import_file(FIX / "import.bib", source="https://example.org/import.bib", data_dir=fixture_data)
    assert rep.merged == {"fixture-a": ["pages"]}  # same DOI: fills the empty field only
    assert len(rep.added) == 1
    new = yaml.safe_load((fixture_data / "papers" / f"{rep.added[0]}.yaml").read_text())
    assert new["proposed"] == {"organs": ["lung"], "modalities": ["ct"], "architectures": ["pix2pix"]}
    assert new["sources"][0]["url"] == "https://example.org/import.bib"
    rep2 = import_file(FIX / "import.ris", data_dir=fixture_data)
    rep3 = import_file(FIX / "import_pubmed.xml", data_dir=fixture_data)
    assert len(rep2.added) == 1 and len(rep3.added) == 1
    again = import_file(FIX / "import.bib", data_dir=fixture_data)  # idempotent
    assert again.added == [] and again.merged == {}
    db = str(fixture_data.parent / "imp.db")
    build(db, fixture_data)
    assert len(papers(db=db)) == 7
    assert len(papers(organ="lung", db=db, include_proposed=True)) > len(papers(organ="lung", db=db))


def test_title_duplicates_merge(fixture_data, tmp_path):
    f = tmp_path / "dup.bib"
    f.write_text("@article{x, title={FIXTURE A: cycleGAN liver CT translation for augmentation.}, pmid={12345}}\n")
    rep = import_file(f, data_dir=fixture_data)
    assert rep.added == [] and rep.merged == {"fixture-a": ["pmid"]}


@pytest.mark.parametrize("name,content,message", [
    ("x.txt", b"just some words", "unknown format"),
    ("x.bib", b"@article{a, title={caf\xe9}}", "not UTF-8"),
    ("x.xml", b"<PubmedArticleSet><PubmedArticle>", "malformed"),
    ("x.xml", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><PubmedArticleSet>&e;</PubmedArticleSet>', "unsafe"),
    ("x.bib", b"@article{a, title={T}, doi={nonsense}}", "not a DOI"),
])
def test_bad_import_files_refused(fixture_data, tmp_path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    before = sorted(p.name for p in (fixture_data / "papers").iterdir())
    with pytest.raises(ImportFormatError, match=message):
        import_file(f, data_dir=fixture_data)
    assert sorted(p.name for p in (fixture_data / "papers").iterdir()) == before


def test_export_formats_and_bibtex_round_trip(fixture_db, fixture_data, tmp_path):
    csv = export("csv", db=fixture_db)
    assert csv.splitlines()[0].startswith("key,title,authors") and len(csv.splitlines()) == 5
    assert '"doi": "10.9999/fixture.a"' in export("json", db=fixture_db)
    bib = tmp_path / "out.bib"
    bib.write_text(export("bibtex", db=fixture_db))
    entries = read_entries(bib)
    original = papers(db=fixture_db).set_index("title")
    assert {e["title"] for e in entries} == set(original.index)
    for e in entries:
        row = original.loc[e["title"]]
        assert e["authors"] == [a for a in row.authors.split("; ") if a]
        assert e["doi"] == (row.doi or "") and e["year"] == row.year
    rep = import_file(bib, data_dir=fixture_data)  # importing the export finds every paper already there
    assert rep.added == []
    with pytest.raises(ValueError, match="choose from"):
        export("xlsx", db=fixture_db)
