"""Catalog commands of the `medzoo` CLI: papers, stats, search, similar, related and `catalog build|import|export`."""
from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    import pandas as pd

    from catalog.query import Rows

DbOpt = typer.Option(None, "--db", envvar="MEDZOO_DB", help="SQLAlchemy URL or SQLite path (default: the cached catalog)")


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _cell(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and v != v) else v


def _text(v: Any) -> str:
    """A table cell's text: empty for missing values, floats to 4 significant digits (CSV and JSON keep full precision)."""
    v = _cell(v)
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def emit(df: "pd.DataFrame | Rows", fmt: Format, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print a DataFrame, or query Rows (printed without importing pandas), as a rich table, CSV or JSON."""
    from catalog.query import Rows

    if not isinstance(df, Rows):
        _emit_frame(df, fmt, columns, title)
        return
    records = df.plain()
    if fmt == Format.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(df.columns)
        w.writerows([["" if _cell(r.get(c)) is None else r.get(c) for c in df.columns] for r in records])
        return
    if fmt == Format.json:
        recs = [{c: _cell(r.get(c)) for c in df.columns} for r in records]
        sys.stdout.write(json.dumps(recs, indent=2, ensure_ascii=False) + "\n")
        return
    cols = [c for c in (columns or df.columns) if c in df.columns]
    _rich_table(cols, [[_text(r.get(c)) for c in cols] for r in records], title)
    print(f"{len(df)} rows", file=sys.stderr)


def _rich_table(cols: list[str], rows: list[list[str]], title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold", max_width=60 if c == "title" else 40)
    for row in rows:
        table.add_row(*row)
    Console(width=max(160, Console().width)).print(table)


def _emit_frame(df: "pd.DataFrame", fmt: Format, columns: list[str] | None, title: str | None) -> None:
    if fmt == Format.csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt == Format.json:
        sys.stdout.write(json.dumps(json.loads(df.to_json(orient="records")), indent=2, ensure_ascii=False) + "\n")
        return
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    _rich_table(cols, [[_text(v) for v in row] for row in df[cols].itertuples(index=False)], title)
    print(f"{len(df)} rows", file=sys.stderr)


SHORT = ["key", "year", "title", "organs", "modalities", "architectures", "doi"]


def run_papers(organ: list[str] | None, modality: list[str] | None, task: list[str] | None, architecture: list[str] | None,
               loss: list[str] | None, metric: list[str] | None, dataset: list[str] | None, year_from: int | None,
               year_to: int | None, kind: str | None, limit: int | None, fmt: Format, db: str | None) -> None:
    from catalog.query import papers_rows

    year = (year_from, year_to) if year_from or year_to else None
    rows = papers_rows(organ=organ or None, modality=modality or None, task=task or None, architecture=architecture or None,
                       loss=loss or None, metric=metric or None, dataset=dataset or None, year=year, kind=kind, limit=limit,
                       db=db)
    emit(rows, fmt, SHORT + ["effects"])


def run_stats(by: str, fmt: Format, db: str | None, kind: str | None = "primary") -> None:
    from catalog.query import stats_rows

    kind = None if kind in (None, "all") or by == "kind" else kind
    emit(stats_rows(by, db=db, kind=kind), fmt, title=f"{kind or 'all'} papers by {by}")


def run_coverage(fmt: Format, db: str | None) -> None:
    """`medzoo catalog coverage`: every depth goal with its figure and met / not met, the kinds, fields filled and
    sourced, families with reproductions and trained models, counts, papers without a DOI."""
    from catalog.coverage import coverage

    rep = coverage(db=db)
    if fmt == Format.json:
        def records(df):  # noqa: ANN001, ANN202 - a DataFrame
            return json.loads(df.to_json(orient="records"))

        print(json.dumps({"papers": rep.papers, "with_doi": rep.with_doi,
                          "goals": [{"name": k, **r} for k, r in zip(rep.goals.index, records(rep.goals))],
                          "kinds": records(rep.kinds), "fields": records(rep.fields),
                          "families": records(rep.families), "secondary_only": records(rep.secondary_only),
                          "missing_doi": records(rep.missing_doi),
                          "counts": {k: records(v) for k, v in rep.counts.items()}}, indent=2))
        return
    if fmt == Format.table:
        print(rep.summary().splitlines()[0])  # the headline; the goals follow as a table
    goals = rep.goals.assign(met=rep.goals.met.map({True: "met", False: "not met"}).fillna("reported"))
    emit(goals, fmt, title="depth goals (primary papers)")
    emit(rep.kinds, fmt, title="papers by kind")
    emit(rep.fields, fmt, title="fields of primary papers: filled, sourced, resting only on secondary sources")
    emit(rep.families, fmt, title="primary papers linked to reproductions and trained models")
    for by in ("organ", "modality", "year"):
        emit(rep.counts[by], fmt, title=f"primary papers by {by}")
    emit(rep.missing_doi, fmt, title="primary papers without a DOI")


def run_search(text: str, limit: int, fmt: Format, db: str | None) -> None:
    from catalog.query import search_rows

    emit(search_rows(text, limit=limit, db=db), fmt, ["score"] + SHORT)


def run_similar(text_or_doi: str, k: int, fmt: Format, db: str | None) -> None:
    from catalog.query import similar_rows

    emit(similar_rows(text_or_doi, k=k, db=db), fmt, ["similarity"] + SHORT)


def run_build(db: str | None, data_dir: Path | None, user_dir: Path | str | None, results: Path | None) -> dict:
    """`medzoo catalog build`: build, print what was built and any user record left out."""
    from catalog.builder import build
    from catalog.db import masked
    from catalog.vocab import DATA_DIR

    info = build(db, data_dir or DATA_DIR, user_dir, results)
    mine = f" ({info['user_papers']} of them yours, from {info['user_dir']})" if int(info["user_papers"]) else ""
    print(f"built {masked(info['url'])}: {info['papers']} papers{mine}, {info['datasets']} datasets")
    for note in info["left_out"]:
        print(f"note: {note}", file=sys.stderr)
    return info


def build_command(db: str | None, target: Path, curated: bool) -> str:
    """The exact `medzoo catalog build` that makes the database `db` include the records just written to `target`."""
    import os
    import shlex

    from catalog.db import masked
    from catalog.sources import user_catalog_dir

    cmd = ["medzoo", "catalog", "build"]
    if db and db != os.environ.get("MEDZOO_DB"):  # a database named by MEDZOO_DB is the build's default too
        cmd += ["--db", masked(db)]
    if curated:
        cmd += ["--data-dir", str(target)]
    elif target.resolve() != user_catalog_dir().resolve():
        cmd += ["--user-dir", str(target)]
    return shlex.join(cmd)


def run_import(file: Path, source: str | None, kind: str, data_dir: Path | None, update: bool, rebuild: bool,
               db: str | None) -> None:
    """`medzoo catalog import`: write the records, report, then rebuild the database or say exactly how."""
    from catalog.errors import CatalogError
    from catalog.importers import import_file
    from catalog.sources import DEFAULT, user_catalog_dir

    target = data_dir or user_catalog_dir()
    rep = import_file(file, source=source, data_dir=target, kind=kind, update=update)
    for line in rep.lines():
        print(line)
    if not rep.added and not rep.merged:
        return
    curated = (target / "vocab").is_dir()
    command = build_command(db, target, curated)
    if not rebuild:
        print(f"the database was not rebuilt: run `{command}` so that queries find these records")
        return
    try:
        run_build(db, target if curated else None, DEFAULT if curated else target, None)
    except CatalogError as e:
        raise CatalogError(f"the records were written to {target}, but rebuilding the database failed: {e} "
                           f"(run `{command}` once that is fixed)") from None


def register(app: typer.Typer) -> typer.Typer:
    """Add the catalog commands to the top-level app; returns the `catalog` sub-app."""
    catalog_app = typer.Typer(help="Build, import into and export the literature catalog.", no_args_is_help=True)
    app.add_typer(catalog_app, name="catalog")

    @app.command("papers")
    def papers_cmd(organ: Optional[list[str]] = typer.Option(None, help="organ or synonym (repeatable: any of)"),
                   modality: Optional[list[str]] = typer.Option(None), task: Optional[list[str]] = typer.Option(None),
                   architecture: Optional[list[str]] = typer.Option(None, help="family or variant (includes its variants)"),
                   loss: Optional[list[str]] = typer.Option(None), metric: Optional[list[str]] = typer.Option(None),
                   dataset: Optional[list[str]] = typer.Option(None),
                   year_from: Optional[int] = typer.Option(None, "--from"), year_to: Optional[int] = typer.Option(None, "--to"),
                   kind: Optional[str] = typer.Option(None, help="primary | method | dataset | related | review"),
                   limit: Optional[int] = typer.Option(None, "--limit", "-k", help="at most this many papers (newest first)"),
                   fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Papers matching every filter: which GANs, losses and metrics were used for an organ and modality."""
        run_papers(organ, modality, task, architecture, loss, metric, dataset, year_from, year_to, kind, limit, fmt, db)

    @app.command("stats")
    def stats_cmd(by: str = typer.Option("organ", help="organ|modality|task|architecture|loss|metric|dataset|year|kind|venue"),
                  kind: str = typer.Option("primary", help="count this kind only (primary | method | dataset | related | "
                                                          "review), or all"),
                  fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Number of primary papers per term, as the review counts them (--kind all: every paper)."""
        run_stats(by, fmt, db, kind)

    @catalog_app.command("coverage")
    def coverage_cmd(fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Coverage report: every depth goal with its figure (met / not met), papers per kind, fields filled and
        sourced, facts resting only on secondary sources, primary papers linked to trained models."""
        run_coverage(fmt, db)

    @app.command("search")
    def search_cmd(text: str, limit: int = typer.Option(20, "--limit", "-k"),
                   fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Full-text search over titles and abstracts (words match as prefixes)."""
        run_search(text, limit, fmt, db)

    @app.command("similar")
    def similar_cmd(text_or_doi: str, k: int = typer.Option(10, "-k"),
                    fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Papers closest in meaning to a catalog DOI or to free text."""
        run_similar(text_or_doi, k, fmt, db)

    @app.command("related")
    def related_cmd(doi: str, fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Papers that cite, are cited by, or are listed as similar to a paper."""
        from catalog.query import related

        emit(related(doi, db=db), fmt)

    @app.command("provenance")
    def provenance_cmd(key_or_doi: str, fmt: Format = typer.Option(Format.table, "--format"),
                       db: Optional[str] = DbOpt) -> None:
        """Every field of a paper or dataset with the source that confirms it."""
        from catalog.query import provenance

        emit(provenance(key_or_doi, db=db), fmt)

    @catalog_app.command("build")
    def build_cmd(db: Optional[str] = DbOpt,
                  data_dir: Optional[Path] = typer.Option(None, help="curated files (default: the package's catalog/data)"),
                  user_dir: Optional[Path] = typer.Option(None, help="your own records, as `medzoo catalog import` writes "
                                                                     "them (default: your user catalog folder)"),
                  no_user: bool = typer.Option(False, "--no-user", help="build from the curated records only"),
                  results: Optional[Path] = typer.Option(None, help="measured results: evaluation rows as JSON lines "
                                                                    "(default: those shipped with medzoo, "
                                                                    "reproductions/results/evaluations.jsonl)")) -> None:
        """Validate the curated files and your own records and build the database (atomically: a failure keeps the old
        one). Your records are marked origin=user; a paper the curated catalog holds is taken from there."""
        from catalog.sources import DEFAULT

        run_build(db, data_dir, None if no_user else user_dir or DEFAULT, results)

    @catalog_app.command("import")
    def import_cmd(file: Path,
                   source: Optional[str] = typer.Option(None, help="URL the file came from (recorded as the source of "
                                                                   "its values; required with --update)"),
                   kind: str = typer.Option("related", help="kind of the added papers (set a paper to primary once its "
                                                             "organ, modality and architecture are verified); reviews are "
                                                             "always added as review"),
                   data_dir: Optional[Path] = typer.Option(None, help="folder the records are written to (default: your "
                                                                      "user catalog, $MEDZOO_USER_DATA/catalog or the "
                                                                      "platform's user-data folder; a folder with vocab/, "
                                                                      "such as a checkout's catalog/data, is curated)"),
                   update: bool = typer.Option(False, "--update", help="curators: write the file's new and conflicting "
                                                                       "values into existing records (needs --source URL)"),
                   rebuild: bool = typer.Option(True, "--build/--no-build", help="rebuild the database afterwards, or "
                                                                                 "print the command that does"),
                   db: Optional[str] = DbOpt) -> None:
        """Add the papers of a BibTeX, RIS or PubMed XML file to your own catalog (tags marked as proposed), never to the
        installed package; papers the catalog holds already are reported, not changed; then rebuild the database."""
        run_import(file, source, kind, data_dir, update, rebuild, db)

    @catalog_app.command("export")
    def export_cmd(fmt: str = typer.Option("csv", "--format", help="csv | json | bibtex"),
                   out: Optional[Path] = typer.Option(None, "--out", help="file to write (default: standard output)"),
                   overwrite: bool = typer.Option(False, help="replace an existing --out file"),
                   db: Optional[str] = DbOpt) -> None:
        """Export every paper as CSV, JSON or BibTeX."""
        from catalog.export import export

        text = export(fmt, db=db)
        if out is None:
            sys.stdout.write(text)
            return
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")

    return catalog_app
