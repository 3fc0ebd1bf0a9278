"""Top-k full-text search on large catalogs: impact-ordered posting lists and the threshold algorithm, in NumPy.

`search()` ranks titles and abstracts as before, SQLite by FTS5's bm25 (title weighted 10, abstract 1) and PostgreSQL
by ts_rank, every word also matching as a prefix. The exhaustive form scores every matching paper and sorts: at
1,000,000 papers a common word matches 3-36% of them (bench/catalog_scale.py). A build of a catalog of at least
`MIN_PAPERS` papers (catalog/indexes.py) therefore also stores, for every indexed term (FTS5's porter tokens on SQLite,
the `english` lexemes of the stored tsvector on PostgreSQL), the posting list of that term *as a query prefix*: every
paper holding a term that starts with it, ordered by the paper's contribution to the score (its impact: bm25's
term-frequency part, or ts_rank's per-term part), highest first, ties by paper id.

A query then reads only the heads of its words' lists and runs Fagin's threshold algorithm: the papers seen in the
first `depth` entries of any list are scored exactly; the sum of the impacts at position `depth` bounds the score
of every paper not yet seen; when the k-th best score beats that bound (or equals it with a smaller id, the tie
rule of `ORDER BY score DESC, id`), no unseen paper can enter the top k and the search stops; otherwise the depth
grows fourfold. The result is the exhaustive ranking's, scores and order included, not an approximation:

- SQLite: scores are computed as FTS5's bm25() computes them (same IDF per prefix phrase, same weighted frequencies,
  same document lengths, same floating-point operations in the same order), from a forward index (per paper: its
  terms and weighted frequencies) stored with the lists; query words are tokenised by FTS5's own tokenizer.
- PostgreSQL: the server stems the words (to_tsquery) and computes ts_rank for the candidates; the lists' impacts
  (float32, rounded up) only decide when to stop.

Words the lists cannot serve as one prefix term (a word FTS5 splits into several tokens, for instance) fall back to
the exhaustive query. Tables: `paperfts_meta` (one row: backend, counts, the sorted vocabulary), `paperfts_list` (one
row per term: size, paper ids int32, values: uint16/uint32 weighted frequencies or float32 impacts) and, on SQLite,
`paperfts_docs` (one row: document lengths and the forward index). A smaller catalog has none of them and search()
runs the exhaustive query, as before.

PostgreSQL's full-text index itself (catalog/builder.py) is RUM where the server has the extension (`create_pg_index`),
else GIN: both serve `@@`; RUM also orders by `<=>` inside the index, but still ranks every match to do so, and ranks
prefix queries differently from ts_rank (bench/catalog_scale.py measures both).
"""
from __future__ import annotations

import bisect
import math
import re
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

MIN_PAPERS = 50_000
ENABLED = True  # search() uses the lists when a build stored them (bench/catalog_scale.py turns it off to compare)
VERSION = 1
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's bm25() constants
BM25_WEIGHTS = (10.0, 1.0)  # title, abstract: search()'s bm25(paper_fts, 10.0, 1.0)
FTS_COLUMNS = ("title", "abstract")
FIRST_DEPTH = 256
PG_FUZZ = 1e-6  # relative slack between float32 ts_rank and the float64 bound
_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


# ------------------------------------------------------------------------------------------------------ build


def drop(conn: Any) -> None:
    from sqlalchemy import text

    for t in ("paperfts_meta", "paperfts_list", "paperfts_docs"):
        conn.execute(text(f"DROP TABLE IF EXISTS {t}"))


def create_pg_index(conn: Any) -> str:
    """The full-text index of the stored tsvector column on PostgreSQL: RUM when the server has the extension, else
    GIN with a one-line note on stderr. Returns which."""
    from sqlalchemy import text

    if rum_available(conn):
        try:
            with conn.begin_nested():  # a refusal (no privilege to create extensions) must not abort the build
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS rum"))
                conn.execute(text("CREATE INDEX paper_fulltext ON paper USING rum (fts rum_tsvector_ops)"))
            return "rum"
        except Exception as e:  # noqa: BLE001 - any refusal: fall back to GIN, say why in one line
            why = str(getattr(e, "orig", e)).strip().splitlines()[0]
    else:
        why = "not installed on this server"
    print(f"medzoo: PostgreSQL extension 'rum' {why} (Debian/Ubuntu: apt-get install postgresql-15-rum); "
          "the full-text index is GIN", file=sys.stderr)
    conn.execute(text("CREATE INDEX paper_fulltext ON paper USING GIN (fts)"))
    return "gin"


def rum_available(conn: Any) -> bool:
    """Whether the PostgreSQL server offers the RUM extension (Debian: postgresql-15-rum)."""
    from sqlalchemy import text

    return conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'")).first() is not None


def build(conn: Any, min_papers: int = MIN_PAPERS) -> dict[str, Any] | None:
    """Store the lists (and on SQLite the forward index) through an SQLAlchemy connection, or drop them for a small
    catalog. Needs the full-text index of catalog/builder.py (FTS5 table / tsvector column) to exist."""
    from sqlalchemy import text

    n = conn.execute(text("SELECT count(*) FROM paper")).scalar_one()
    drop(conn)
    if n < min_papers:
        return None
    size = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM paper")).scalar_one()) + 1
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        terms, post_term, post_doc, post_val, lengths = _sqlite_postings(raw, size)
        tokens = int(lengths.sum())
        avgdl = float(tokens) / float(n)
        fwd_val = post_val  # weighted frequency
        impact_of = lambda docs, vals: _bm25_tf(vals.astype(np.float64), lengths[docs].astype(np.float64), avgdl)  # noqa: E731
    elif conn.dialect.name == "postgresql":
        terms, post_term, post_doc, fwd_val = _pg_postings(raw)  # fwd_val: positions per (lexeme, paper)
        post_val = _pg_parts()[np.clip(fwd_val, 0, 256)]  # ts_rank's addend per (lexeme, paper)
        tokens, lengths = 0, np.zeros(size, dtype=np.int64)
        impact_of = lambda docs, vals: vals.astype(np.float64)  # noqa: E731 - ts_rank of the prefix alone (x items)
    else:
        return None
    blob = "BYTEA" if conn.dialect.name == "postgresql" else "BLOB"
    conn.execute(text(f"CREATE TABLE paperfts_meta (id INTEGER PRIMARY KEY, backend VARCHAR NOT NULL, version INTEGER NOT NULL, "
                      f"papers INTEGER NOT NULL, tokens BIGINT NOT NULL, size INTEGER NOT NULL, vals VARCHAR NOT NULL, "
                      f"terms {blob} NOT NULL)"))
    conn.execute(text(f"CREATE TABLE paperfts_list (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, docs {blob} NOT NULL, "
                      f"vals {blob} NOT NULL)"))
    if conn.dialect.name == "postgresql":  # read by substring(): uncompressed, out of line, so only the head is fetched
        conn.execute(text("ALTER TABLE paperfts_list ALTER COLUMN docs SET STORAGE EXTERNAL, "
                          "ALTER COLUMN vals SET STORAGE EXTERNAL"))
    if conn.dialect.name == "sqlite":  # a prefix's frequency in a paper is at most 10 x the paper's tokens
        vdtype = np.uint16 if int(lengths.max(initial=0)) * int(max(BM25_WEIGHTS)) < 2**16 else np.uint32
    else:
        vdtype = np.float32  # ts_rank of the prefix alone, times the number of query items
    starts = np.searchsorted(post_term, np.arange(len(terms) + 1))
    ends = closure_ends(terms)
    rows: list[dict[str, Any]] = []
    entries = 0
    for i in range(len(terms)):
        s, e = starts[i], starts[ends[i]]
        docs, vals = post_doc[s:e], post_val[s:e]
        if conn.dialect.name == "postgresql":  # ts_rank's float sum over the paper's lexemes in order: exact ties stay ties
            docs, vals = _pg_accumulate(docs, vals)
        elif ends[i] > i + 1:  # the prefix covers several terms: one entry per paper, their frequencies summed
            docs, vals = _sum_by_doc(docs, vals)
        imp = impact_of(docs, vals)
        order = np.lexsort((docs, -imp))
        docs, vals = docs[order], vals[order]
        rows.append({"i": i, "n": len(docs), "d": docs.astype(np.int32).tobytes(), "v": vals.astype(vdtype).tobytes()})
        entries += len(docs)
        if len(rows) >= 256:
            conn.execute(text("INSERT INTO paperfts_list (id, n, docs, vals) VALUES (:i, :n, :d, :v)"), rows)
            rows = []
    if rows:
        conn.execute(text("INSERT INTO paperfts_list (id, n, docs, vals) VALUES (:i, :n, :d, :v)"), rows)
    conn.execute(text("INSERT INTO paperfts_meta VALUES (0, :b, :ver, :p, :t, :s, :v, :terms)"),
                 {"b": conn.dialect.name, "ver": VERSION, "p": int(n), "t": tokens, "s": size, "v": np.dtype(vdtype).name,
                  "terms": "\x00".join(terms).encode()})
    info: dict[str, Any] = {"terms": len(terms), "postings": int(len(post_doc)), "list_entries": entries}
    order = np.lexsort((post_term, post_doc))  # the forward index: per paper, its terms (sorted) and their values
    ptr = np.searchsorted(post_doc[order], np.arange(size + 1)).astype(np.int64)
    tdtype = np.uint16 if len(terms) < 2**16 else np.int32
    fdtype = np.uint16 if fwd_val.size == 0 or fwd_val.max() < 2**16 else np.uint32
    conn.execute(text(f"CREATE TABLE paperfts_docs (id INTEGER PRIMARY KEY, lengths {blob} NOT NULL, ptr {blob} NOT NULL, "
                      f"terms {blob} NOT NULL, vals {blob} NOT NULL, term_dtype VARCHAR NOT NULL, val_dtype VARCHAR NOT NULL)"))
    if conn.dialect.name == "postgresql":  # tens of MB read whole once per process: no compression to undo
        conn.execute(text("ALTER TABLE paperfts_docs ALTER COLUMN lengths SET STORAGE EXTERNAL, ALTER COLUMN ptr SET "
                          "STORAGE EXTERNAL, ALTER COLUMN terms SET STORAGE EXTERNAL, ALTER COLUMN vals SET STORAGE EXTERNAL"))
    conn.execute(text("INSERT INTO paperfts_docs VALUES (0, :l, :p, :t, :v, :td, :vd)"),
                 {"l": lengths.astype(np.uint32).tobytes(), "p": ptr.tobytes(), "t": post_term[order].astype(tdtype).tobytes(),
                  "v": fwd_val[order].astype(fdtype).tobytes(), "td": np.dtype(tdtype).name, "vd": np.dtype(fdtype).name})
    return info


def closure_ends(terms: Sequence[str]) -> np.ndarray:
    """For sorted terms: ends[i] = the first j > i whose term does not start with terms[i] (so terms[i:ends[i]] are
    exactly the terms the prefix terms[i] matches)."""
    ends = np.empty(len(terms), dtype=np.int64)
    stack: list[int] = []
    for j, t in enumerate(terms):
        while stack and not t.startswith(terms[stack[-1]]):
            ends[stack.pop()] = j
        stack.append(j)
    for i in stack:
        ends[i] = len(terms)
    return ends


def _sum_by_doc(docs: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(docs, kind="stable")
    d, v = docs[order], vals[order]
    first = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
    return d[first], np.add.reduceat(v, first) if len(first) else v[:0]


def _bm25_tf(freq: np.ndarray, length: np.ndarray, avgdl: float) -> np.ndarray:
    """The term-frequency part of FTS5's bm25(), with its operations in its order (fts5_aux.c):
    (f * (k1 + 1.0)) / (f + k1 * (1 - b + b * D / avgdl))."""
    k1, b = BM25_K1, BM25_B
    return (freq * (k1 + 1.0)) / (freq + k1 * ((1 - b) + (b * length) / avgdl))


def _sqlite_postings(raw: sqlite3.Connection, size: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sorted terms, then per (term, paper): term index, paper id, weighted frequency sorted by term and paper, and
    per paper its length in tokens), read from FTS5's own index through fts5vocab (the tokens as FTS5 stored them)."""
    cur = raw.cursor()
    cur.execute("DROP TABLE IF EXISTS temp.paper_fts_instance")
    cur.execute("CREATE VIRTUAL TABLE temp.paper_fts_instance USING fts5vocab(main, paper_fts, instance)")
    weight = {c: int(w) for c, w in zip(FTS_COLUMNS, BM25_WEIGHTS)}
    assert all(float(w) == x for w, x in zip(weight.values(), BM25_WEIGHTS))
    terms: list[str] = []
    tids, docs, wts = [], [], []
    last = None
    cur.execute("SELECT term, doc, col FROM temp.paper_fts_instance")
    while True:
        batch = cur.fetchmany(1 << 18)
        if not batch:
            break
        col_t = np.array([r[0] for r in batch], dtype=object)
        change = np.empty(len(batch), dtype=bool)
        change[0] = col_t[0] != last
        change[1:] = col_t[1:] != col_t[:-1]
        base = len(terms) - 1
        terms.extend(col_t[change].tolist())
        tids.append((base + np.cumsum(change)).astype(np.int32))
        docs.append(np.fromiter((r[1] for r in batch), dtype=np.int64, count=len(batch)))
        wts.append(np.fromiter((weight.get(r[2], 1) for r in batch), dtype=np.int64, count=len(batch)))
        last = col_t[-1]
    cur.execute("DROP TABLE temp.paper_fts_instance")
    if any(a >= b for a, b in zip(terms, terms[1:])):
        raise RuntimeError("fts5vocab returned terms out of order")
    tid = np.concatenate(tids) if tids else np.zeros(0, np.int32)
    doc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    wt = np.concatenate(wts) if wts else np.zeros(0, np.int64)
    lengths = np.bincount(doc, minlength=size).astype(np.int64)
    if len(tid):
        first = np.flatnonzero(np.concatenate(([True], (tid[1:] != tid[:-1]) | (doc[1:] != doc[:-1]))))
        return terms, tid[first], doc[first], np.add.reduceat(wt, first), lengths
    return terms, tid, doc, wt, lengths


def _pg_accumulate(docs: np.ndarray, addends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per paper (docs ascending), res = (float) (res + addend) over its addends in the given order: how ts_rank sums a
    query item's lexemes (tsrank.c calc_rank_or). Equal lexeme patterns give equal float32 values, so ties stay ties."""
    order = np.argsort(docs, kind="stable")
    d, c = docs[order], addends[order].astype(np.float64)
    if not len(d):
        return d, np.zeros(0, dtype=np.float32)
    start = np.concatenate(([True], d[1:] != d[:-1]))
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    rank = np.arange(len(d)) - first[group]
    res = np.zeros(len(first), dtype=np.float32)
    for r in range(int(rank.max()) + 1):
        m = rank == r
        res[group[m]] = (res[group[m]].astype(np.float64) + c[m]).astype(np.float32)
    return d[first], res


def _pg_postings(raw: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    with raw.cursor(binary=True) as cur:
        cur.execute("SELECT l.lexeme, array_agg(p.id ORDER BY p.id), array_agg(coalesce(array_length(l.positions, 1), 0) "
                    "ORDER BY p.id) FROM paper p, unnest(p.fts) l WHERE p.fts IS NOT NULL GROUP BY l.lexeme")
        rows = sorted(cur.fetchall(), key=lambda r: r[0])
    terms = [r[0] for r in rows]
    lens = np.array([len(r[1]) for r in rows], dtype=np.int64)
    post_term = np.repeat(np.arange(len(rows), dtype=np.int32), lens)
    post_doc = np.fromiter((d for r in rows for d in r[1]), dtype=np.int64, count=int(lens.sum()))
    npos = np.fromiter((x for r in rows for x in r[2]), dtype=np.int64, count=int(lens.sum()))
    return terms, post_term, post_doc, npos


# ------------------------------------------------------------------------------------------------------ query


@dataclass
class Forward:
    lengths: np.ndarray  # tokens per paper id (float64; SQLite)
    ptr: np.ndarray  # per paper id: its entries are terms[ptr[i]:ptr[i + 1]] (sorted by term)
    terms: np.ndarray
    vals: np.ndarray  # SQLite: weighted frequency; PostgreSQL: number of positions


@dataclass
class Index:
    backend: str
    papers: int
    tokens: int
    size: int
    vals: np.dtype  # of the lists' values
    terms: list[str]
    ends: np.ndarray  # closure_ends(terms)
    counts: np.ndarray  # list sizes (papers matching each term as a prefix)
    tokenize: str = ""
    docs: Forward | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def load(conn: Any) -> Index | None:
    """The lists' index of the connected catalog (cached per database build), or None when it has none."""
    from catalog.sql import build_key, has_table

    key = (*build_key(conn), "fulltext")
    with _lock:
        if key in _cache:
            return _cache[key]
    index = None
    if has_table(conn, "paperfts_meta"):
        row = conn.all("SELECT backend, version, papers, tokens, size, vals, terms FROM paperfts_meta", binary=True)
        if row and row[0][1] == VERSION and row[0][0] == conn.dialect:
            backend, _, papers, tokens, size, vals, blob = row[0]
            terms = bytes(blob).decode().split("\x00") if bytes(blob) else []
            counts = np.zeros(len(terms), dtype=np.int64)
            for i, n in conn.all("SELECT id, n FROM paperfts_list"):
                counts[i] = n
            tokenize = ""
            if backend == "sqlite":
                sql = conn.all("SELECT sql FROM sqlite_master WHERE name = 'paper_fts'")
                m = re.search(r"tokenize\s*=\s*'([^']*)'", sql[0][0] if sql else "")
                tokenize = m.group(1) if m else "unicode61"
            index = Index(backend, int(papers), int(tokens), int(size), np.dtype(vals), terms, closure_ends(terms), counts,
                          tokenize)
    with _lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = index
    return index


def _forward(conn: Any, index: Index) -> Forward:
    """The forward index, read once per build and process (a few bytes per paper and term: ~50 MB at 1M papers)."""
    with index.lock:
        if index.docs is None:
            lengths, ptr, terms, vals, tdtype, vdtype = conn.all(
                "SELECT lengths, ptr, terms, vals, term_dtype, val_dtype FROM paperfts_docs", binary=True)[0]
            index.docs = Forward(np.frombuffer(bytes(lengths), dtype=np.uint32).astype(np.float64),
                                 np.frombuffer(bytes(ptr), dtype=np.int64), np.frombuffer(bytes(terms), dtype=np.dtype(tdtype)),
                                 np.frombuffer(bytes(vals), dtype=np.dtype(vdtype)))
        return index.docs


class _List:
    """One query prefix's posting list, impact order: stored (term `tid`, read head first as deep as needed) or merged
    in memory (tid None)."""

    def __init__(self, n: int, tid: int | None = None, docs: np.ndarray | None = None, vals: np.ndarray | None = None) -> None:
        self.n = n
        self.tid = tid
        self.docs = docs if docs is not None else np.zeros(0, dtype=np.int32)
        self.vals = vals if vals is not None else np.zeros(0)

    def add(self, d: np.ndarray, v: np.ndarray) -> None:
        self.docs = np.concatenate((self.docs, d)) if len(self.docs) else d
        self.vals = np.concatenate((self.vals, v)) if len(self.vals) else v


def _read(conn: Any, index: Index, lists: Sequence[_List], upto: int) -> None:
    """Read every stored list's next entries up to `upto` (SQLite: incremental blob reads; PostgreSQL: one statement
    for all lists, substring() of uncompressed out-of-line bytea fetching only the chunks asked for)."""
    want = [(lst, len(lst.docs), min(upto, lst.n)) for lst in lists if lst.tid is not None and len(lst.docs) < min(upto, lst.n)]
    if not want:
        return
    item = index.vals.itemsize
    if conn.dialect == "sqlite" and not hasattr(conn.raw, "blobopen"):  # SQLite through SQLAlchemy (a URL with options)
        for lst, a, b in want:
            d, v = conn.all("SELECT substr(docs, :a, :nb), substr(vals, :c, :nv) FROM paperfts_list WHERE id = :i",
                            {"a": 4 * a + 1, "nb": 4 * (b - a), "c": item * a + 1, "nv": item * (b - a), "i": lst.tid})[0]
            lst.add(np.frombuffer(bytes(d), dtype=np.int32), np.frombuffer(bytes(v), dtype=index.vals))
        return
    if conn.dialect == "sqlite":
        for lst, a, b in want:
            with conn.raw.blobopen("paperfts_list", "docs", lst.tid, readonly=True) as bd:
                bd.seek(4 * a)
                d = np.frombuffer(bd.read(4 * (b - a)), dtype=np.int32)
            with conn.raw.blobopen("paperfts_list", "vals", lst.tid, readonly=True) as bv:
                bv.seek(item * a)
                v = np.frombuffer(bv.read(item * (b - a)), dtype=index.vals)
            lst.add(d, v)
        return
    a = min(x[1] for x in want)  # one statement: the same window for every list (shorter lists return less)
    b = max(x[2] for x in want)
    got = {i: (d, v) for i, d, v in conn.all(
        "SELECT id, substring(docs FROM :a FOR :nb), substring(vals FROM :c FOR :nv) FROM paperfts_list "
        "WHERE id = ANY(CAST(:ids AS int4[]))", {"a": 4 * a + 1, "nb": 4 * (b - a), "c": item * a + 1, "nv": item * (b - a),
                                                  "ids": sorted({lst.tid for lst, _, _ in want})}, binary=True)}
    for lst, start, stop in want:
        d, v = got[lst.tid]
        d = np.frombuffer(bytes(d), dtype=np.int32)[start - a : stop - a]
        v = np.frombuffer(bytes(v), dtype=index.vals)[start - a : stop - a]
        lst.add(d, v)


def _prefix_range(index: Index, stem: str) -> tuple[int, int]:
    lo = bisect.bisect_left(index.terms, stem)
    hi = lo
    while hi < len(index.terms) and index.terms[hi].startswith(stem):
        hi = int(index.ends[hi])
    return lo, hi


def _prefix_list(conn: Any, index: Index, stem: str,
                 merge: Callable[[np.ndarray, tuple[int, int]], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> _List:
    """The list of papers holding a term that starts with `stem`: stored when `stem` is itself a term, else merged
    from the whole stored lists of the outermost terms below it: merge(paper ids, term range) gives each paper once
    with its value and impact."""
    lo, hi = _prefix_range(index, stem)
    if lo >= hi:
        return _List(0)
    if index.terms[lo] == stem:
        return _List(int(index.counts[lo]), tid=lo)
    roots, i = [], lo
    while i < hi:
        roots.append(_List(int(index.counts[i]), tid=i))
        i = int(index.ends[i])
    _read(conn, index, roots, max(r.n for r in roots))
    docs, vals, imp = merge(np.unique(np.concatenate([r.docs for r in roots]).astype(np.int64)), (lo, hi))
    order = np.lexsort((docs, -imp))
    return _List(len(docs), docs=docs[order].astype(np.int32), vals=vals[order])


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best by (score desc, id asc)."""
    if len(ids) > 4 * k:
        cut = np.partition(scores, len(scores) - k)[len(scores) - k]  # k-th largest score: keep it and above
        keep = np.flatnonzero(scores >= cut)
        return keep[np.lexsort((ids[keep], -scores[keep]))[:k]]
    return np.lexsort((ids, -scores))[:k]


def _threshold(conn: Any, index: Index, lists: list[_List], phrases: list[int], weights: list[float], k: int,
               impact: Callable[[_List, int, int], np.ndarray], score: Callable[[np.ndarray], np.ndarray],
               fuzz: float) -> tuple[list[int], list[float], dict]:
    """Fagin's threshold algorithm over impact-ordered lists (module docstring), scoring exactly only the papers that
    can still enter the top k. phrases[p]: the list of the query's p-th phrase (repeated phrases share a list), whose
    part of a paper's score is weights[p] * its impact in that list; impact(list, a, b): the impacts of entries a..b;
    score(ids): exact scores."""
    depth = max(FIRST_DEPTH, 4 * k)
    ids = np.zeros(0, dtype=np.int64)  # scored exactly
    scores = np.zeros(0, dtype=np.float64)
    w = np.array(weights, dtype=np.float64)
    pl = np.array(phrases, dtype=np.int64)
    rounds = 0
    best = np.zeros(0, dtype=np.int64)
    while True:
        rounds += 1
        _read(conn, index, lists, depth + 1)
        heads = [(j, lst.docs[:depth], impact(lst, 0, min(depth, lst.n))) for j, lst in enumerate(lists) if lst.n]
        if not heads:
            break
        docs = np.concatenate([h[1] for h in heads]).astype(np.int64)
        which = np.concatenate([np.full(len(h[1]), h[0]) for h in heads])
        seen, inv = np.unique(docs, return_inverse=True)
        imp = np.zeros((len(seen), len(lists)))
        known = np.zeros((len(seen), len(lists)), dtype=bool)
        imp[inv, which] = np.concatenate([h[2] for h in heads])
        known[inv, which] = True
        # the impact an unseen entry of each list can still have: the one at `depth` (0 once the list is read through)
        rest = np.array([float(impact(lst, depth, depth + 1)[0]) if depth < lst.n else 0.0 for lst in lists])
        low = imp[:, pl] @ w  # what the paper's seen entries give (a lower bound of its score)
        high = low + (~known[:, pl] * rest[pl]) @ w  # ... plus the most its unseen entries can add
        theta = np.partition(low, len(low) - k)[len(low) - k] if len(low) >= k else -np.inf
        todo = seen[(high >= theta * (1 - max(fuzz, 1e-9))) & ~np.isin(seen, ids)]
        if len(todo):
            ids = np.concatenate((ids, todo))
            scores = np.concatenate((scores, score(todo)))
        best = _top(ids, scores, k)
        if all(depth >= lst.n for lst in lists):
            break
        tau = 0.0  # the bound of a paper in no head, summed phrase by phrase as the scores are
        for p, j in enumerate(phrases):
            if depth < lists[j].n:
                tau = tau + weights[p] * rest[j]
        if len(best) >= k:
            s_k, id_k = scores[best[-1]], ids[best[-1]]
            if s_k > tau * (1 + fuzz):
                break
            open_ids = [int(lst.docs[depth]) for lst in lists if depth < lst.n]
            if s_k >= tau * (1 - fuzz) and open_ids and id_k < max(open_ids):
                break  # equal bound: an unseen paper would tie, after the open entries, so with a larger id
        depth *= 4
    return [int(i) for i in ids[best]], [float(s) for s in scores[best]], {"depth": depth, "rounds": rounds,
                                                                          "scored": int(len(ids))}


@lru_cache(maxsize=4096)
def _fts5_tokens(tokenize: str, word: str) -> tuple[str, ...]:
    """The tokens FTS5's tokenizer makes of `word` (the same tokenizer as the catalog's paper_fts)."""
    con = _tokenizer(tokenize)
    con.execute("DELETE FROM t")
    con.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (word,))
    return tuple(r[0] for r in con.execute("SELECT term FROM temp.v ORDER BY offset"))


_tok_local = threading.local()


def _tokenizer(tokenize: str) -> sqlite3.Connection:
    cons = _tok_local.__dict__.setdefault("cons", {})
    con = cons.get(tokenize)
    if con is None:
        con = sqlite3.connect(":memory:")
        con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '" + tokenize.replace("'", "''") + "')")
        con.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, t, instance)")
        cons[tokenize] = con
    return con


_PG_LEXEME = re.compile(r"^'((?:[^']|'')*)':\*$")


def _pg_stems(conn: Any, words: list[str]) -> list[str] | None:
    """Each word's lexeme as to_tsquery('english', 'word:*') makes it ('' for a stop word), asked once per word and
    server; None when a word becomes anything but one prefix lexeme (then the exhaustive query runs)."""
    key = (conn.ident, "pg-stems")
    with _lock:
        memo = _cache.setdefault(key, {})
        todo = [w for w in dict.fromkeys(words) if w not in memo]
    if todo:
        rows = conn.all("SELECT w, to_tsquery('english', w || ':*')::text FROM unnest(CAST(:ws AS text[])) AS u(w)", {"ws": todo})
        with _lock:
            for w, q in rows:
                m = _PG_LEXEME.match(q or "")
                memo[w] = "" if not q else (m.group(1).replace("''", "'") if m else None)
    out = [memo[w] for w in words]
    return None if any(s is None for s in out) else out


def search(conn: Any, words: list[str], k: int) -> tuple[list[int], list[float], dict] | None:
    """The top k (ids, scores) of the query `words` (lower-case, as search() split them; on PostgreSQL the words of its
    tsquery) by the lists, exactly as the exhaustive query ranks them; None when the catalog has no lists or a word
    cannot be served (then run that)."""
    if not ENABLED or k <= 0:
        return None
    index = load(conn)
    if index is None:
        return None
    if index.backend == "sqlite":
        toks = [_fts5_tokens(index.tokenize, w) for w in words]
        if any(len(t) != 1 for t in toks):
            return None
        return _search_sqlite(conn, index, [t[0] for t in toks], k)  # FTS5: one phrase per word, repeats included
    stems = _pg_stems(conn, words)
    if stems is None:
        return None
    items = sorted({s for s in stems if s})  # ts_rank: each distinct query item once, in this order
    if not items:
        return [], [], {}
    return _search_pg(conn, index, items, k)


def _gather(fwd: Forward, ids: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The forward entries of papers `ids` whose term the query's lists hold (lut[term] != 0): (owner position in
    ids, term, value, lut bits), each paper's entries by term."""
    start = fwd.ptr[ids]
    lens = fwd.ptr[ids + 1] - start
    offsets = np.cumsum(lens) - lens
    pos = np.arange(int(lens.sum())) + np.repeat(start - offsets, lens)
    t = fwd.terms[pos]
    bits = lut[t]
    hit = np.flatnonzero(bits)
    owner = np.searchsorted(offsets, hit, side="right") - 1
    return owner, t[hit].astype(np.int64), fwd.vals[pos[hit]], bits[hit]


def _lut(index: Index, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Per term, a bit for each list whose prefix matches it."""
    lut = np.zeros(len(index.terms), dtype=np.uint64)
    for j, (lo, hi) in enumerate(ranges):
        lut[lo:hi] |= np.uint64(1) << np.uint64(j)
    return lut


def _search_sqlite(conn: Any, index: Index, stems: list[str], k: int) -> tuple[list[int], list[float], dict]:
    fwd = _forward(conn, index)
    avgdl = float(index.tokens) / float(index.papers)
    distinct = list(dict.fromkeys(stems))

    def merge(docs: np.ndarray, rng: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        owner, _, v, _ = _gather(fwd, docs, _lut(index, [rng]))
        freq = np.bincount(owner, weights=v.astype(np.float64), minlength=len(docs))
        return docs, freq, _bm25_tf(freq, fwd.lengths[docs], avgdl)

    lists = [_prefix_list(conn, index, s, merge) for s in distinct]
    ranges = [_prefix_range(index, s) for s in distinct]
    phrases = [distinct.index(s) for s in stems]
    n = float(index.papers)
    idf = []
    for p in phrases:  # fts5_aux.c: log((N - nHit + 0.5) / (nHit + 0.5)), at least 1e-6
        hits = float(lists[p].n)
        v = math.log((n - hits + 0.5) / (hits + 0.5))
        idf.append(v if v > 0.0 else 1e-6)

    lut = _lut(index, ranges)

    def score(ids: np.ndarray) -> np.ndarray:
        owner, _, v, bits = _gather(fwd, ids, lut)
        v = v.astype(np.float64)
        freq = []
        for j in range(len(ranges)):
            m = (bits & np.uint64(1 << j)) != 0
            freq.append(np.bincount(owner[m], weights=v[m], minlength=len(ids)))
        length = fwd.lengths[ids]
        total = np.zeros(len(ids), dtype=np.float64)
        for i, p in enumerate(phrases):  # score += idf * tf, phrase by phrase, as fts5Bm25Function sums
            total = total + idf[i] * _bm25_tf(freq[p], length, avgdl)
        return total

    def head_impact(lst: _List, a: int, b: int) -> np.ndarray:
        return _bm25_tf(lst.vals[a:b].astype(np.float64), fwd.lengths[lst.docs[a:b]], avgdl)

    ids, scores, info = _threshold(conn, index, lists, phrases, idf, k, head_impact, score, 0.0)
    return ids, scores, {**info, "phrases": len(stems), "matches": [lst.n for lst in lists]}


@lru_cache(maxsize=1)
def _pg_parts() -> np.ndarray:
    """ts_rank's addend for one lexeme with n positions of weight D (n = 0..256), as tsrank.c calc_rank_or computes it:
    resj = sum of 0.1f / (j+1)^2 in float; (wjm + resj - wjm / 1) in float; divided by 1.64493406685 in double."""
    w = np.float32(0.1)
    out = np.zeros(257, dtype=np.float64)
    resj = np.float32(0.0)
    for n in range(1, 257):
        resj = np.float32(resj + np.float32(w / np.float32(n * n)))
        t = np.float32(np.float32(w + resj) - np.float32(w / np.float32(1)))
        out[n] = float(t) / 1.64493406685
    out[0] = out[1]  # a lexeme without positions counts as one position of weight D
    return out


def _search_pg(conn: Any, index: Index, items: list[str], k: int) -> tuple[list[int], list[float], dict]:
    fwd = _forward(conn, index)
    parts = _pg_parts()

    def merge(docs: np.ndarray, rng: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        owner, _, v, _ = _gather(fwd, docs, _lut(index, [rng]))
        _, res = _pg_accumulate(owner, parts[np.minimum(v.astype(np.int64), 256)])
        return docs, res, res.astype(np.float64)

    lists = [_prefix_list(conn, index, s, merge) for s in items]
    ranges = [_prefix_range(index, s) for s in items]
    phrases = list(range(len(items)))
    size = np.float32(len(items))

    lut = _lut(index, ranges)

    def score(ids: np.ndarray) -> np.ndarray:
        """ts_rank(fts, query) for each paper as the server computes it (float32): per query item in order, per lexeme
        the item matches in the paper's order, res = (float) (res + addend)."""
        owner, _, v, bits = _gather(fwd, ids, lut)
        sel_o, sel_c = [], []
        for j in range(len(ranges)):
            m = (bits & np.uint64(1 << j)) != 0
            sel_o.append(owner[m])
            sel_c.append(parts[np.minimum(v[m].astype(np.int64), 256)])
        o = np.concatenate(sel_o)
        c = np.concatenate(sel_c)
        order = np.argsort(o, kind="stable")  # per paper: items in order, lexemes in order
        o, c = o[order], c[order]
        rank = np.arange(len(o)) - np.searchsorted(o, o, side="left")
        res = np.zeros(len(ids), dtype=np.float32)
        for r in range(int(rank.max()) + 1 if len(rank) else 0):
            m = rank == r
            res[o[m]] = (res[o[m]].astype(np.float64) + c[m]).astype(np.float32)
        res = res / size
        res[res < 0] = np.float32(1e-20)
        return res.astype(np.float64)

    def head_impact(lst: _List, a: int, b: int) -> np.ndarray:
        return lst.vals[a:b].astype(np.float64)

    ids, scores, info = _threshold(conn, index, lists, phrases, [1.0 / float(size)] * len(items), k, head_impact, score,
                                   PG_FUZZ)
    # as psycopg reads a float4 ts_rank: its shortest decimal text, parsed as a Python float
    return ids, [float(str(np.float32(x))) for x in scores], {**info, "phrases": len(items), "matches": [lst.n for lst in lists]}
