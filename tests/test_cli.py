"""The `medzoo` catalog commands end to end: output formats, clear errors, and no torch import."""
import json
import os
import subprocess
import sys

import pytest

MEDZOO = [sys.executable, "-m", "medzoo"]


def run(*args: str, db: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDZOO_DB": db} if db else dict(os.environ)
    p = subprocess.run([*MEDZOO, *args], capture_output=True, text=True, env=env, timeout=300)
    assert (p.returncode == 0) == ok, p.stderr
    return p


def test_papers_formats(fixture_db):
    rows = json.loads(run("papers", "--organ", "chest", "--format", "json", db=fixture_db).stdout)
    assert [r["key"] for r in rows] == ["fixture-b"]
    csv = run("papers", "--metric", "fid", "--from", "2020", "--format", "csv", db=fixture_db).stdout
    assert csv.splitlines()[0].startswith("key,title") and len(csv.splitlines()) == 3
    table = run("papers", "--architecture", "cyclegan", db=fixture_db).stdout
    assert "fixture-a" in table and "fixture-b" not in table


def test_stats_search_similar_related(fixture_db):
    assert json.loads(run("stats", "--by", "year", "--format", "json", db=fixture_db).stdout)[0]["papers"] == 1
    assert json.loads(run("search", "cyclegan liver", "--format", "json", db=fixture_db).stdout)[0]["key"] == "fixture-a"
    sim = json.loads(run("similar", "10.9999/fixture.a", "-k", "2", "--format", "json", db=fixture_db).stdout)
    assert len(sim) == 2
    rel = json.loads(run("related", "10.9999/fixture.b", "--format", "json", db=fixture_db).stdout)
    assert {r["relation"] for r in rel} == {"similar", "cited by"}


@pytest.mark.parametrize("args,message", [
    (["papers", "--organ", "lungz"], "unknown organ term 'lungz'. Close matches: lung"),
    (["stats", "--by", "colour"], "choose from"),
    (["similar", "10.9999/none"], "no paper with DOI 10.9999/none"),
    (["related", "not a doi"], "not a DOI"),
    (["papers", "--kind", "blog"], "kind must be"),
])
def test_bad_input_is_one_clear_line(fixture_db, args, message):
    p = run(*args, db=fixture_db, ok=False)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr


def test_missing_database_named(tmp_path):
    p = run("papers", db=str(tmp_path / "none.db"), ok=False)
    assert "no catalog database at" in p.stderr and "medzoo catalog build" in p.stderr


def test_catalog_build_and_export(fixture_data, tmp_path):
    db = str(tmp_path / "b.db")
    out = run("catalog", "build", "--db", db, "--data-dir", str(fixture_data)).stdout
    assert "4 papers" in out
    target = tmp_path / "all.bib"
    run("catalog", "export", "--format", "bibtex", "--out", str(target), db=db)
    assert target.read_text().count("@article{") == 4
    p = run("catalog", "export", "--format", "bibtex", "--out", str(target), db=db, ok=False)
    assert "--overwrite" in p.stderr


def test_catalog_commands_do_not_import_torch(fixture_db):
    code = ("import sys; from medzoo.cli import app; from catalog import papers; papers(db=%r); "
            "assert 'torch' not in sys.modules, 'torch imported'" % fixture_db)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_table_cells_round_floats_but_csv_keeps_them(capsys):
    import pandas as pd

    from catalog.cli import Format, emit

    df = pd.DataFrame({"arm": ["gan", "none"], "gain": [-0.046783999999, float("nan")]})
    emit(df, Format.table)
    out = capsys.readouterr().out
    assert "-0.04678" in out and "0.046783999" not in out and "nan" not in out
    emit(df, Format.csv)
    assert "-0.046783999999" in capsys.readouterr().out
