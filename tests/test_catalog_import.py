"""Import of BibTeX, RIS and PubMed XML: the user's own layer, existing records never changed by default, reviews
detected, the layers merged and marked by the build, the database rebuilt; bad files refused; export round-trip."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.builder import build
from catalog.errors import CatalogError
from catalog.export import export
from catalog.importers import ImportFormatError, import_file, is_review, read_entries
from catalog.query import papers, search

FIX = Path(__file__).parent / "fixtures"
URL = "https://example.org/import.bib"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


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


def test_import_goes_to_the_user_layer_and_never_changes_an_existing_record(fixture_data, tmp_path):
    mine = tmp_path / "mine"
    curated = snapshot(fixture_data)
    rep = import_file(FIX / "import.bib", source=URL, data_dir=mine, curated_dir=fixture_data)
    assert snapshot(fixture_data) == curated  # the curated catalog is only read
    assert rep.existing == {"fixture-a": "curated"} and rep.merged == {}
    assert rep.new_values == {"fixture-a": {"pages": "5-9"}} and rep.conflicts == {}
    assert len(rep.added) == 1 and [p.stem for p in (mine / "papers").glob("*.yaml")] == rep.added
    new = yaml.safe_load((mine / "papers" / f"{rep.added[0]}.yaml").read_text())
    assert new["kind"] == "related" and new["sources"][0]["url"] == URL
    assert new["proposed"] == {"organs": ["lung"], "modalities": ["ct"], "architectures": ["pix2pix"]}
    assert any("not changed" in line and "new pages: '5-9'" in line for line in rep.lines())
    import_file(FIX / "import.ris", data_dir=mine, curated_dir=fixture_data)
    import_file(FIX / "import_pubmed.xml", data_dir=mine, curated_dir=fixture_data)
    before = snapshot(mine)
    again = import_file(FIX / "import.bib", data_dir=mine, curated_dir=fixture_data)  # idempotent
    assert again.added == [] and set(again.existing) == {"fixture-a", rep.added[0]} and snapshot(mine) == before
    # the build merges both layers and marks the user's records, in the database and the API
    db = str(tmp_path / "imp.db")
    info = build(db, fixture_data, user_dir=mine)
    assert info["papers"] == "7" and info["user_papers"] == "3" and info["left_out"] == []
    df = papers(db=db)
    assert dict(zip(df.key, df.origin)) == {**{f"fixture-{c}": "curated" for c in "abcd"},
                                            **{p.stem: "user" for p in (mine / "papers").glob("*.yaml")}}
    assert len(papers(organ="lung", db=db, include_proposed=True)) > len(papers(organ="lung", db=db))
    assert search("pix2pix nodules", db=db).origin.tolist()[0] == "user"
    build(db, fixture_data, user_dir=None)  # curated records only
    assert len(papers(db=db)) == 4


def test_conflicts_are_reported_and_written_only_by_a_curator_with_a_source(fixture_data, tmp_path):
    f = tmp_path / "x.bib"
    f.write_text("@article{x, title={Fixture A: CycleGAN liver CT translation for augmentation}, doi={10.9999/fixture.a},"
                 " journal={Another Journal}, year={2019}, pages={5--9}}\n")
    rep = import_file(f, data_dir=fixture_data)  # a folder with vocab/ is a curated catalog (a checkout's catalog/data)
    assert rep.conflicts == {"fixture-a": {"venue": ("Fixture Journal", "Another Journal")}}
    assert rep.new_values == {"fixture-a": {"pages": "5-9"}} and rep.merged == {}
    with pytest.raises(CatalogError, match="--update .* needs --source"):
        import_file(f, data_dir=fixture_data, update=True)
    with pytest.raises(CatalogError, match="needs --source"):
        import_file(f, data_dir=fixture_data, update=True, source="file:x.bib")
    rep = import_file(f, data_dir=fixture_data, update=True, source=URL)
    assert rep.merged == {"fixture-a": ["pages", "venue"]}
    rec = yaml.safe_load((fixture_data / "papers" / "fixture-a.yaml").read_text())
    assert rec["venue"] == "Another Journal" and rec["pages"] == "5-9"
    assert rec["sources"][-1] == {"url": URL, "checked": rec["sources"][-1]["checked"], "fields": ["pages", "venue"]}
    assert all("venue" not in s["fields"] for s in rec["sources"][:-1])  # the old source confirmed the old venue only
    build(str(tmp_path / "c.db"), fixture_data)  # still a valid catalog


def test_update_never_writes_into_a_layer_it_was_not_pointed_at(fixture_data, tmp_path):
    f = tmp_path / "x.bib"
    f.write_text("@article{x, title={Fixture B: Wasserstein GAN chest X-ray synthesis}, pages={1--2}}\n")
    before = snapshot(fixture_data)
    rep = import_file(f, data_dir=tmp_path / "mine", curated_dir=fixture_data, update=True, source=URL)
    assert rep.read_only == ["fixture-b"] and rep.merged == {} and snapshot(fixture_data) == before
    assert "not written: fixture-b belong to the curated catalog" in "\n".join(rep.lines())


def test_the_installed_package_is_never_an_import_target(tmp_path, monkeypatch):
    import catalog.importers as importers

    installed = tmp_path / "site-packages" / "catalog" / "data"  # no pyproject.toml two levels up: not a checkout
    installed.mkdir(parents=True)
    monkeypatch.setattr(importers, "DATA_DIR", installed)
    with pytest.raises(CatalogError, match="inside the installed package"):
        import_file(FIX / "import.bib", data_dir=installed)


def test_reviews_are_detected_and_never_imported_as_primary(fixture_data, tmp_path):
    assert is_review({"title": "Generative adversarial networks in medical image augmentation: A review"})
    assert is_review({"title": "A survey on diffusion models for medical imaging"})
    assert is_review({"title": "GANs for MRI", "_types": ["Journal Article", "Systematic Review"]})
    assert is_review({"title": "X", "venue": "Annual Review of Biomedical Engineering"})
    assert not is_review({"title": "Reviewing lesions with CycleGAN for CT augmentation"})
    xml = (FIX / "import_pubmed.xml").read_text().replace(
        "</Article>", "<PublicationTypeList><PublicationType>Review</PublicationType></PublicationTypeList></Article>")
    (tmp_path / "r.xml").write_text(xml)
    f = tmp_path / "r.bib"
    f.write_text("@article{r, title={Deep generative models in radiology: a systematic review}, year={2023}}\n")
    mine = tmp_path / "mine"
    for path in (f, tmp_path / "r.xml"):
        rep = import_file(path, data_dir=mine, curated_dir=fixture_data, kind="primary")
        assert rep.reviews == rep.added and len(rep.added) == 1
        assert yaml.safe_load((mine / "papers" / f"{rep.added[0]}.yaml").read_text())["kind"] == "review"


def test_a_user_record_the_curated_catalog_holds_is_left_out_with_a_note(fixture_data, tmp_path):
    mine = tmp_path / "mine"
    rep = import_file(FIX / "import.ris", data_dir=mine, curated_dir=fixture_data)
    (key,) = rep.added
    (fixture_data / "papers" / "curated-now.yaml").write_text(yaml.safe_dump({  # the curators add the same paper
        "key": "curated-now", "kind": "related", "title": "Curated copy", "doi": "10.9999/import.two",
        "sources": [{"url": URL, "checked": "2026-01-01", "fields": ["title", "doi"]}]}))
    info = build(str(tmp_path / "c.db"), fixture_data, user_dir=mine)
    assert info["user_papers"] == "0" and info["papers"] == "5"
    assert len(info["left_out"]) == 1 and key in info["left_out"][0] and "'curated-now'" in info["left_out"][0]


def test_build_takes_measured_results_as_an_explicit_input(fixture_data, tmp_path):
    import sqlite3

    rows = tmp_path / "results.jsonl"
    rows.write_text(json.dumps({"model_id": "dcgan.pneumoniamnist_28", "dataset": "pneumoniamnist", "kind": "model",
                                "metric": "fid", "value": 3.5, "n": 100, "seed": 0}) + "\n")
    db = tmp_path / "r.db"
    build(str(db), fixture_data, results=rows)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT model_id, metric, value FROM evaluation").fetchall() == [
            ("dcgan.pneumoniamnist_28", "fid", 3.5)]
    with pytest.raises(CatalogError, match="no such results file"):
        build(str(db), fixture_data, results=tmp_path / "none.jsonl")


def medzoo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "medzoo", *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env}, cwd=cwd)
    assert p.returncode == 0, p.stderr
    return p


def test_cli_import_rebuilds_the_named_database_or_says_what_to_run(fixture_data, tmp_path):
    db = tmp_path / "env.db"
    env = {"MEDZOO_DB": str(db), "MEDZOO_USER_DATA": str(tmp_path / "user")}
    out = medzoo("catalog", "build", "--data-dir", str(fixture_data), env=env, cwd=tmp_path).stdout
    assert "4 papers" in out
    out = medzoo("catalog", "import", str(FIX / "import.ris"), "--no-build", env=env, cwd=tmp_path).stdout
    assert "the database was not rebuilt: run `medzoo catalog build`" in out  # MEDZOO_DB is the build's default too
    assert (tmp_path / "user" / "catalog" / "papers").is_dir()
    out = medzoo("catalog", "import", str(FIX / "import_pubmed.xml"), env=env, cwd=tmp_path).stdout
    assert "built sqlite:///" in out and "(2 of them yours" in out
    found = json.loads(medzoo("search", "fundus synthesis", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert found[0]["doi"] == "10.9999/import.three" and found[0]["origin"] == "user"
    other = tmp_path / "other"
    out = medzoo("catalog", "import", str(FIX / "import.bib"), "--data-dir", str(other), "--no-build",
                 "--db", str(tmp_path / "x.db"), env=env, cwd=tmp_path).stdout
    assert f"run `medzoo catalog build --db {tmp_path / 'x.db'} --user-dir {other}`" in out


def test_cli_build_results_option(fixture_data, tmp_path):
    env = {"MEDZOO_USER_DATA": str(tmp_path / "user")}
    p = subprocess.run([sys.executable, "-m", "medzoo", "catalog", "build", "--db", str(tmp_path / "r.db"), "--data-dir",
                        str(fixture_data), "--results", str(tmp_path / "none.jsonl")], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=300)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "no such results file" in p.stderr


def test_the_default_database_follows_the_user_layer(fixture_data, tmp_path, monkeypatch):
    """An import into the default user folder reaches the default database without a build command; the default
    database is rebuilt from the inputs it was last built from (here the fixture catalog)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MEDZOO_USER_DATA", str(tmp_path / "user"))
    monkeypatch.delenv("MEDZOO_DB", raising=False)
    build(None, fixture_data)
    assert len(papers()) == 4
    import_file(FIX / "import_pubmed.xml", curated_dir=fixture_data)
    assert (tmp_path / "user" / "catalog" / "papers").is_dir()
    df = papers()
    assert len(df) == 5 and df.set_index("doi").origin["10.9999/import.three"] == "user"


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
