"""Export the catalog's papers as CSV, JSON or BibTeX."""
from __future__ import annotations

import json
import re

from catalog.query import papers

EXPORT_FORMATS = ("csv", "json", "bibtex")


def _text(value: object) -> str:
    """Cell as text: '' for missing values (None, NaN, <NA>), never the string 'nan'."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


def _bib_value(value: str) -> str:
    return re.sub(r"[{}]", "", value)


def to_bibtex(df) -> str:  # noqa: ANN001 - a papers() DataFrame
    """BibTeX entries (@article) for the rows of a papers() frame; authors as 'First Last' joined with 'and'."""
    out = []
    for row in df.itertuples(index=False):
        fields = {"title": _text(row.title), "author": " and ".join(a for a in _text(row.authors).split("; ") if a),
                  "year": _text(row.year), "journal": _text(row.venue), "doi": _text(row.doi), "pmid": _text(row.pmid)}
        body = ",\n".join(f"  {k} = {{{_bib_value(v)}}}" for k, v in fields.items() if v)
        out.append(f"@article{{{row.key},\n{body}\n}}\n")
    return "\n".join(out)


def export(fmt: str = "csv", db: str | None = None, **filters) -> str:  # noqa: ANN003 - papers() filters
    """The papers matching `filters` in the chosen format."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    df = papers(db=db, **filters)
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(df.to_json(orient="records")), indent=2, ensure_ascii=False)
    return to_bibtex(df)
