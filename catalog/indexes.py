"""What a build adds after the rows are written, so queries stay fast on large catalogs (bench/catalog_scale.py).

- `paperstat`: the result of every `stats(by=...)`, computed with the same SQL `stats()` runs on a database
  without it; the catalog is only ever written by a build, so the stored counts are always those of the rows.
- covering indexes (term, status, paper_id) on the tag link tables: filters and counts read the index only.
- an index on paper (year, title): `papers(..., limit=N)` walks papers newest first and stops after N.
- tag bitmaps and the papers() order (catalog/tagbits.py), only when the catalog has at least `tagbits.MIN_PAPERS` papers.
- the IVF index of `catalog.ann` for `similar()`, only when the catalog has at least `ann.MIN_PAPERS` vectors.
- impact-ordered full-text lists (catalog/fulltext.py) for `search()`, only when the catalog has at least
  `fulltext.MIN_PAPERS` papers.
"""
from __future__ import annotations

from typing import Any

from catalog.sql import STAT_TABLE  # the table's name, also imported from here

STAT_KINDS = ("", "primary")  # counts stored per build: every paper ('') and the primary studies (stats' default)


def stats_table(conn: Any) -> int:
    """(Re)create `paperstat` from the live counts, for every kind and for the primary studies; returns the rows stored."""
    from sqlalchemy import text

    from catalog.sql import FILTERS, STATS_BY, live_stats_sql

    conn.execute(text(f"DROP TABLE IF EXISTS {STAT_TABLE}"))
    conn.execute(text(f"CREATE TABLE {STAT_TABLE} (by_name VARCHAR NOT NULL, kind VARCHAR NOT NULL, position INTEGER NOT NULL, "
                      "value VARCHAR, name VARCHAR, papers INTEGER NOT NULL, PRIMARY KEY (by_name, kind, position))"))
    rows = []
    for kind in STAT_KINDS:
        for by in STATS_BY:
            if kind and by == "kind":
                continue
            params = {"kind": kind} if kind else {}
            for i, r in enumerate(conn.execute(text(live_stats_sql(by, kind or None)), params).all()):
                rows.append({"b": by, "k": kind, "p": i, "v": None if r[0] is None else str(r[0]),
                             "n": r[1] if by in FILTERS else None, "c": int(r[-1])})
    if rows:
        conn.execute(text(f"INSERT INTO {STAT_TABLE} (by_name, kind, position, value, name, papers) "
                          "VALUES (:b, :k, :p, :v, :n, :c)"), rows)
    return len(rows)


def covering_indexes(conn: Any) -> None:
    from sqlalchemy import text

    from catalog.sql import FILTERS, LINK_TABLE

    for vocab in FILTERS:
        t = LINK_TABLE[vocab]
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{t}_term_status_paper ON {t} (term, status, paper_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_paper_year_title ON paper (year, title)"))


def finish(conn: Any, ann_min_papers: int | None = None, tagbits_min_papers: int | None = None,
           fulltext_min_papers: int | None = None) -> dict[str, Any]:
    """Everything above, inside the build's transaction (after catalog/builder.py's full-text index)."""
    from catalog import ann, fulltext, tagbits

    covering_indexes(conn)
    n = stats_table(conn)
    bits = tagbits.build(conn, min_papers=tagbits.MIN_PAPERS if tagbits_min_papers is None else tagbits_min_papers)
    index = ann.build(conn, min_papers=ann.MIN_PAPERS if ann_min_papers is None else ann_min_papers)
    lists = fulltext.build(conn, min_papers=fulltext.MIN_PAPERS if fulltext_min_papers is None else fulltext_min_papers)
    return {"stat_rows": n, "tagbits": bits, "ann": index, "fulltext": lists}
