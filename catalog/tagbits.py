"""Tag bitmaps for `papers()` on large catalogs: filters become bitwise ANDs in NumPy instead of joins in SQL.

A build of a catalog with at least `MIN_PAPERS` papers (catalog/indexes.py) stores, for every (vocabulary, term,
status), a bitmap over paper ids (`papertagbits`), and one row (`paperorder`) with every paper id in the order
`papers()` returns them (ORDER BY year DESC, title, id, as the database itself sorts them, so collations agree), each
paper's year and kind. A filter is then: OR the bitmaps of a filter's terms (and variants), AND the filters, mask by
year and kind, and take the first `limit` ids by that order: the same set and the same order as the SQL, in a few
milliseconds instead of joins over millions of link rows (bench/catalog_scale.py checks both agree). Smaller
catalogs have no bitmaps and `papers()` runs its SQL.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_PAPERS = 50_000
ENABLED = True  # papers() uses the bitmaps when a build stored them (bench/catalog_scale.py turns it off to compare)
NO_YEAR = np.iinfo(np.int32).min
_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


@dataclass
class Order:
    rank: np.ndarray  # rank[id]: position in papers() order; ids that do not exist rank last
    years: np.ndarray  # int32, NO_YEAR where missing
    kinds: np.ndarray  # uint8 codes into kind_names
    kind_names: list[str]
    present: np.ndarray  # bool mask of existing ids
    size: int  # max id + 1


def drop(conn: Any) -> None:
    from sqlalchemy import text

    conn.execute(text("DROP TABLE IF EXISTS papertagbits"))
    conn.execute(text("DROP TABLE IF EXISTS paperorder"))


def build(conn: Any, min_papers: int = MIN_PAPERS) -> dict[str, Any] | None:
    """Store the bitmaps and the order through an SQLAlchemy connection (or drop them for a small catalog)."""
    from sqlalchemy import text

    from catalog.sql import FILTERS, LINK_TABLE

    n = conn.execute(text("SELECT count(*) FROM paper")).scalar_one()
    drop(conn)
    if n < min_papers:
        return None
    blob = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    conn.execute(text(f"CREATE TABLE papertagbits (vocab VARCHAR NOT NULL, term VARCHAR NOT NULL, status VARCHAR NOT NULL, "
                      f"bits {blob} NOT NULL, PRIMARY KEY (vocab, term, status))"))
    conn.execute(text(f"CREATE TABLE paperorder (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, kind_names VARCHAR NOT NULL, "
                      f"ids {blob} NOT NULL, years {blob} NOT NULL, kinds {blob} NOT NULL)"))
    size = int(conn.execute(text("SELECT max(id) FROM paper")).scalar_one()) + 1
    rows = conn.execute(text("SELECT id, year, kind FROM paper ORDER BY year DESC, title, id")).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    years = np.full(size, NO_YEAR, dtype=np.int32)
    years[ids] = [NO_YEAR if r[1] is None else int(r[1]) for r in rows]
    kind_names = sorted({r[2] for r in rows})
    codes = {k: i for i, k in enumerate(kind_names)}
    kinds = np.zeros(size, dtype=np.uint8)
    kinds[ids] = [codes[r[2]] for r in rows]
    conn.execute(text("INSERT INTO paperorder VALUES (0, :s, :k, :i, :y, :c)"),
                 {"s": size, "k": json.dumps(kind_names), "i": ids.tobytes(), "y": years.tobytes(), "c": kinds.tobytes()})
    stored = 0
    for vocab in FILTERS:
        t = LINK_TABLE[vocab]
        for term, status in conn.execute(text(f"SELECT DISTINCT term, status FROM {t}")).all():
            pids = [r[0] for r in conn.execute(text(f"SELECT paper_id FROM {t} WHERE term = :t AND status = :s"),
                                               {"t": term, "s": status})]
            bits = np.zeros(size, dtype=bool)
            bits[pids] = True
            conn.execute(text("INSERT INTO papertagbits VALUES (:v, :t, :s, :b)"),
                         {"v": vocab, "t": term, "s": status, "b": np.packbits(bits).tobytes()})
            stored += 1
    return {"bitmaps": stored, "papers": int(len(ids)), "bytes_per_bitmap": (size + 7) // 8}


def _order(conn: Any) -> Order | None:
    from catalog.sql import build_key, has_table

    key = (*build_key(conn), "order")
    with _lock:
        if key in _cache:
            return _cache[key]
    order = None
    if has_table(conn, "paperorder"):
        size, kind_names, ids_b, years_b, kinds_b = conn.all("SELECT size, kind_names, ids, years, kinds FROM paperorder")[0]
        ids = np.frombuffer(bytes(ids_b), dtype=np.int64)
        rank = np.full(int(size), np.iinfo(np.int64).max, dtype=np.int64)
        rank[ids] = np.arange(len(ids))
        present = np.zeros(int(size), dtype=bool)
        present[ids] = True
        order = Order(rank, np.frombuffer(bytes(years_b), dtype=np.int32), np.frombuffer(bytes(kinds_b), dtype=np.uint8),
                      json.loads(kind_names), present, int(size))
    with _lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = order
    return order


def _bits(conn: Any, order: Order, vocab: str, terms: list[str], statuses: tuple[str, ...]) -> np.ndarray:
    """OR of the bitmaps of these terms (missing ones are empty), as a bool array over ids."""
    from catalog.sql import build_key, in_list

    out = np.zeros(order.size, dtype=bool)
    want = [(t, s) for t in terms for s in statuses]
    todo = []
    for t, s in want:
        key = (*build_key(conn), "bits", vocab, t, s)
        with _lock:
            hit = _cache.get(key)
        if hit is None:
            todo.append((t, s))
        else:
            out |= hit
    if todo:
        marks, params = in_list("t", sorted({t for t, _ in todo}))
        found = {(t, s): b for t, s, b in conn.all(f"SELECT term, status, bits FROM papertagbits WHERE vocab = :v AND term IN ({marks})",
                                                   {"v": vocab, **params})}
        for t, s in todo:
            b = found.get((t, s))
            arr = np.zeros(order.size, dtype=bool) if b is None else np.unpackbits(np.frombuffer(bytes(b), dtype=np.uint8),
                                                                                 count=order.size).astype(bool)
            with _lock:
                _cache[(*build_key(conn), "bits", vocab, t, s)] = arr
            out |= arr
    return out


def select(conn: Any, terms: dict[str, list[str]], include_proposed: bool, year: Any, kind: str | None,
           limit: int | None) -> list[int] | None:
    """The ids `papers()` returns for these resolved filters, in its order; None when the catalog has no bitmaps."""
    order = _order(conn)
    if order is None:
        return None
    mask = order.present.copy()
    statuses = ("verified", "proposed") if include_proposed else ("verified",)
    for vocab, slugs in terms.items():
        mask &= _bits(conn, order, vocab, slugs, statuses)
    if year is not None:
        has = order.years != NO_YEAR
        if isinstance(year, int):
            mask &= has & (order.years == year)
        else:
            lo, hi = year
            mask &= has & (order.years >= (lo if lo is not None else 0)) & (order.years <= (hi if hi is not None else 9999))
    if kind is not None:
        mask &= (order.kinds == order.kind_names.index(kind)) if kind in order.kind_names else False
    ids = np.flatnonzero(mask)
    ranks = order.rank[ids]
    if limit is not None and limit < len(ids):
        part = np.argpartition(ranks, limit - 1)[:limit] if limit > 0 else np.array([], dtype=np.int64)
        ids, ranks = ids[part], ranks[part]
    return [int(i) for i in ids[np.argsort(ranks, kind="stable")]]
