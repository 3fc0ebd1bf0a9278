"""Catalog commands of the `medzoo` CLI: papers, stats, search, similar, related and `catalog build|import|export`."""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import pandas as pd
import typer

DbOpt = typer.Option(None, "--db", envvar="MEDZOO_DB", help="SQLAlchemy URL or SQLite path (default: the cached catalog)")


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def emit(df: pd.DataFrame, fmt: Format, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print a DataFrame as a rich table, CSV or JSON."""
    if fmt == Format.csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt == Format.json:
        sys.stdout.write(json.dumps(json.loads(df.to_json(orient="records")), indent=2, ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold", max_width=60 if c == "title" else 40)
    for row in df[cols].itertuples(index=False):
        table.add_row(*["" if pd.isna(v) else str(v) for v in row])
    Console(width=max(160, Console().width)).print(table)
    print(f"{len(df)} rows", file=sys.stderr)


def register(app: typer.Typer) -> typer.Typer:
    """Add the catalog commands to the top-level app; returns the `catalog` sub-app."""
    catalog_app = typer.Typer(help="Build, import into and export the literature catalog.", no_args_is_help=True)
    app.add_typer(catalog_app, name="catalog")
    short = ["key", "year", "title", "organs", "modalities", "architectures", "doi"]

    @app.command("papers")
    def papers_cmd(organ: Optional[list[str]] = typer.Option(None, help="organ or synonym (repeatable: any of)"),
                   modality: Optional[list[str]] = typer.Option(None), task: Optional[list[str]] = typer.Option(None),
                   architecture: Optional[list[str]] = typer.Option(None, help="family or variant (includes its variants)"),
                   loss: Optional[list[str]] = typer.Option(None), metric: Optional[list[str]] = typer.Option(None),
                   dataset: Optional[list[str]] = typer.Option(None),
                   year_from: Optional[int] = typer.Option(None, "--from"), year_to: Optional[int] = typer.Option(None, "--to"),
                   kind: Optional[str] = typer.Option(None, help="review | primary | related"),
                   fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Papers matching every filter: which GANs, losses and metrics were used for an organ and modality."""
        from catalog.query import papers

        year = (year_from, year_to) if year_from or year_to else None
        df = papers(organ=organ or None, modality=modality or None, task=task or None, architecture=architecture or None,
                    loss=loss or None, metric=metric or None, dataset=dataset or None, year=year, kind=kind, db=db)
        emit(df, fmt, short + ["effects"])

    @app.command("stats")
    def stats_cmd(by: str = typer.Option("organ", help="organ|modality|task|architecture|loss|metric|dataset|year|kind|venue"),
                  fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Number of papers per term, as the review counts them."""
        from catalog.query import stats

        emit(stats(by, db=db), fmt, title=f"papers by {by}")

    @app.command("search")
    def search_cmd(text: str, limit: int = typer.Option(20, "--limit", "-k"),
                   fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Full-text search over titles and abstracts (words match as prefixes)."""
        from catalog.query import search

        emit(search(text, limit=limit, db=db), fmt, ["score"] + short)

    @app.command("similar")
    def similar_cmd(text_or_doi: str, k: int = typer.Option(10, "-k"),
                    fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = DbOpt) -> None:
        """Papers closest in meaning to a catalog DOI or to free text."""
        from catalog.query import similar

        emit(similar(text_or_doi, k=k, db=db), fmt, ["similarity"] + short)

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
                  data_dir: Optional[Path] = typer.Option(None, help="curated files (default: the package's catalog/data)")) -> None:
        """Validate the curated files and build the database (atomically: a failure keeps the old one)."""
        from catalog.builder import build
        from catalog.vocab import DATA_DIR

        info = build(db, data_dir or DATA_DIR)
        print(f"built {info['url']}: {info['papers']} papers, {info['datasets']} datasets")

    @catalog_app.command("import")
    def import_cmd(file: Path, source: Optional[str] = typer.Option(None, help="URL the file came from (recorded as source)"),
                   kind: str = typer.Option("primary", help="kind of the added papers"),
                   data_dir: Optional[Path] = typer.Option(None, help="curated files to merge into")) -> None:
        """Merge a BibTeX, RIS or PubMed XML file into the curated records (tags marked as proposed)."""
        from catalog.importers import import_file
        from catalog.vocab import DATA_DIR

        rep = import_file(file, source=source, data_dir=data_dir or DATA_DIR, kind=kind)
        print(f"added {len(rep.added)} papers, merged {len(rep.merged)}")
        for k in rep.added:
            print(f"  + {k}")
        for k, fields in rep.merged.items():
            print(f"  ~ {k}: {', '.join(fields)}")

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
