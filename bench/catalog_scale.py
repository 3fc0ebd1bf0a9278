"""The catalog API on a SYNTHETIC catalog of N papers (default 1,000,000) in SQLite and PostgreSQL: p50/p95 latency.

The synthetic catalog is drawn from the real one's statistics and is clearly marked as such: its own SQLite file
(`~/.cache/medzoo/bench/synthetic-catalog-<N>.db`, never the real catalog's database) and its own throw-away
PostgreSQL server and database (`medzoo_synthetic`), DOIs under the prefix 10.99999/synthetic., keys
`synthetic-<n>`, and `meta.synthetic = yes`. Each synthetic paper copies a random real paper as a template (so
tag combinations, years, venues and author counts keep the real joint distribution), keeps each of the
template's tag sets with probability 0.7 and otherwise redraws it from the real term frequencies, takes a title
of 6-14 words from the real titles' vocabulary (half from its template's title), and an embedding that is its
template's MiniLM vector plus Gaussian noise, renormalised (cosine ~0.8 to the template).

Bulk load: sqlite3 executemany in one transaction (journal off), PostgreSQL COPY (binary). Then the same
structures a build adds (catalog/indexes.py: stored stats counts, covering indexes, tag bitmaps, the IVF index of
catalog/ann.py, the impact-ordered full-text lists of catalog/fulltext.py) and the full-text index of
catalog/builder.py (FTS5; RUM on PostgreSQL, GIN without the extension). Queries go through the real API
(catalog.papers(db=...), ...): filter organ+loss+metric (limit 50; on PostgreSQL also the number of statements it
sends), stats by organ, full-text search (the lists and the exhaustive ranking side by side, interleaved; RUM's own
`ORDER BY fts <=> query`; recall@10 of both against the exhaustive ranking over SEARCHES and RECALL_QUERIES random
queries), similar by DOI (with recall@10 against the exact scan), each also in its 'before' form where one exists
(no limit, live counting, exhaustive ranking, exact scan). Every goal is written with its figure (`goals`), which
bench/report.py renders on the Benchmarks page.

    python bench/catalog_scale.py [--size 1000000] [--reps 30] [--no-postgres] [--quick]
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.common import environment, log, parser, save, summary, table  # noqa: E402

GENERATOR_VERSION = "2"
GOALS_MS = {"filter": 20.0, "stats": 20.0, "search": 50.0, "similar": 100.0}
GOAL_SIMILAR_RECALL = 0.9  # recall@10 of similar() against the exact scan
GOAL_SEARCH_RECALL = 1.0  # recall@10 of search() against the exhaustive ranking (bm25 / ts_rank): the lists are exact
RECALL_QUERIES = 24  # random queries of real title words, besides SEARCHES, for recall@10 of search()
VOCABS = ("organ", "modality", "task", "architecture", "loss", "metric", "dataset")
SEARCHES = ["cyclegan ct", "brain mri synthesis", "chest x-ray pneumonia", "liver lesion classification", "retinal fundus",
            "data augmentation", "segmentation", "covid"]
KEEP_TAGS = 0.7


@dataclass
class Real:
    """What the generator draws from: the real catalog's papers, tag sets, term frequencies, words and vectors."""

    papers: list[dict[str, Any]]
    tags: dict[str, list[list[str]]]  # vocab -> per real paper, its terms
    freq: dict[str, tuple[list[str], np.ndarray]]  # vocab -> (terms, probabilities)
    authors: list[int]
    effects: list[int]
    words: list[str]
    word_p: np.ndarray
    vectors: np.ndarray
    vocab_rows: dict[str, tuple[list[str], list[tuple]]] = field(default_factory=dict)


def read_real(db: str) -> Real:
    con = sqlite3.connect(db)
    cols = ["id", "kind", "title", "year", "venue", "embedding"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM paper ORDER BY id").fetchall()
    papers = [dict(zip(cols, r)) for r in rows]
    index = {p["id"]: i for i, p in enumerate(papers)}
    tags: dict[str, list[list[str]]] = {}
    freq = {}
    for v in VOCABS:
        per: list[list[str]] = [[] for _ in papers]
        for pid, term in con.execute(f"SELECT paper_id, term FROM paper{v} ORDER BY paper_id, term"):
            per[index[pid]].append(term)
        tags[v] = per
        c = Counter(t for ts in per for t in ts)
        terms = sorted(c)
        p = np.array([c[t] for t in terms], dtype=float)
        freq[v] = (terms, p / p.sum() if p.sum() else p)
    authors = [0] * len(papers)
    for pid, n in con.execute("SELECT paper_id, count(*) FROM paperauthor GROUP BY paper_id"):
        authors[index[pid]] = n
    effects = [0] * len(papers)
    for pid, n in con.execute("SELECT paper_id, count(*) FROM papereffect GROUP BY paper_id"):
        effects[index[pid]] = n
    wc = Counter(w for p in papers for w in _words(p["title"]))
    words = sorted(wc)
    wp = np.array([wc[w] for w in words], dtype=float)
    vectors = np.stack([np.frombuffer(p["embedding"], dtype=np.float32) for p in papers])
    vocab_rows = {}
    for t in ("organ", "modality", "task", "loss", "metric", "architecture", "dataset"):
        cur = con.execute(f"SELECT * FROM {t}")
        vocab_rows[t] = ([d[0] for d in cur.description], cur.fetchall())
    con.close()
    return Real(papers, tags, freq, authors, effects, words, wp / wp.sum(), vectors, vocab_rows)


def _words(title: str) -> list[str]:
    import re

    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]+", title or "") if len(w) > 1]


SURNAMES = ["Smith", "Wang", "Li", "Zhang", "Garcia", "Kumar", "Muller", "Rossi", "Kim", "Nguyen", "Silva", "Khan", "Sato",
            "Cohen", "Novak", "Ivanova", "Okafor", "Hansen", "Lopez", "Chen"]


def generate(real: Real, start: int, n: int, seed: int) -> dict[str, list]:
    """Rows of synthetic papers start+1 .. start+n (ids), deterministic given (seed, start); random draws vectorised."""
    rng = np.random.default_rng([seed, start])
    m = len(real.papers)
    tmpl = rng.integers(0, m, n)
    out: dict[str, list] = {"paper": [], "paperauthor": [], "papereffect": [], **{f"paper{v}": [] for v in VOCABS}}
    noise = rng.standard_normal((n, real.vectors.shape[1])).astype(np.float32) * 0.035
    vecs = real.vectors[tmpl] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    n_words = rng.integers(6, 15, n)
    word_draw = rng.choice(len(real.words), size=(n, 14), p=real.word_p)
    own_keys = rng.random((n, 32))
    year_jitter = rng.integers(-1, 2, n)
    keep = rng.random((n, len(VOCABS))) < KEEP_TAGS
    redraw = {}
    for v in VOCABS:
        terms, p = real.freq[v]
        width = max([len(t) for t in real.tags[v]] + [1]) * 2
        redraw[v] = rng.choice(len(terms), size=(n, width), p=p) if terms else None
    own_words = [_words(p["title"]) for p in real.papers]
    for j in range(n):
        pid = start + j + 1
        ti = int(tmpl[j])
        t = real.papers[ti]
        own = own_words[ti]
        k = int(n_words[j])
        half = [own[i] for i in np.argsort(own_keys[j, : len(own)])[: k // 2]] if own else []
        title = " ".join(half + [real.words[w] for w in word_draw[j, : k - len(half)]]).capitalize()
        year = None if t["year"] is None else int(t["year"]) + int(year_jitter[j])
        out["paper"].append((pid, f"synthetic-{pid:07d}", t["kind"], title, year, t["venue"], f"10.99999/synthetic.{pid}",
                             None, vecs[j].tobytes()))
        for a in range(real.authors[ti]):
            out["paperauthor"].append((pid, a, f"{chr(65 + (pid + a) % 26)}. {SURNAMES[(pid * 7 + a) % len(SURNAMES)]}"))
        if real.effects[ti]:  # at most one effect per paper: its id is the paper's
            out["papereffect"].append((pid, pid, "synthetic effect: accuracy 80% -> 84%"))
        for vi, v in enumerate(VOCABS):
            terms = real.tags[v][ti]
            if terms and not keep[j, vi]:
                vocab_terms = real.freq[v][0]
                terms = list(dict.fromkeys(vocab_terms[x] for x in redraw[v][j]))[: len(terms)]
            rows = out[f"paper{v}"]
            for term in sorted(set(terms)):
                rows.append((pid, term, "verified"))
    out["_vectors"] = vecs  # type: ignore[assignment]
    return out


PAPER_COLS = ["id", "key", "kind", "title", "year", "venue", "doi", "abstract", "embedding"]
TABLE_COLS = {"paper": PAPER_COLS, "paperauthor": ["paper_id", "position", "name"], "papereffect": ["id", "paper_id", "text"],
              **{f"paper{v}": ["paper_id", "term", "status"] for v in VOCABS}}


def chunks(real: Real, size: int, seed: int, chunk: int) -> Iterator[dict[str, list]]:
    for start in range(0, size, chunk):
        yield generate(real, start, min(chunk, size - start), seed)


# ----------------------------------------------------------------------------------------------------- SQLite


def load_sqlite(path: Path, real: Real, size: int, seed: int, chunk: int) -> tuple[np.ndarray, dict[str, float]]:
    from sqlmodel import SQLModel

    import catalog.schema  # noqa: F401 - registers the tables
    from catalog.db import engine_for

    timings: dict[str, float] = {}
    tmp = path.with_name(path.name + ".building")
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    engine = engine_for(f"sqlite:///{tmp}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")
    for t, (cols, rows) in real.vocab_rows.items():
        con.executemany(f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
    vecs = []
    n_rows = 0
    for part in chunks(real, size, seed, chunk):
        vecs.append(part.pop("_vectors"))
        for t, rows in part.items():
            cols = TABLE_COLS[t]
            con.executemany(f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
            n_rows += len(rows)
        log(f"sqlite: {sum(len(v) for v in vecs):,} / {size:,} papers")
    meta = {"source_hash": "synthetic", "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "papers": str(size), "datasets": "0",
            "synthetic": "yes", "generator": f"bench/catalog_scale.py v{GENERATOR_VERSION} seed {seed}"}
    con.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", list(meta.items()))
    con.commit()
    timings["insert_s"] = time.perf_counter() - t0
    timings["rows"] = n_rows
    con.close()
    all_vecs = np.concatenate(vecs)
    finish(f"sqlite:///{tmp}", all_vecs, timings)
    os.replace(tmp, path)
    return all_vecs, timings


def finish(url: str, vecs: np.ndarray, timings: dict[str, Any]) -> None:
    """The full-text index of catalog/builder.py and the structures of catalog/indexes.py, timed."""
    from sqlalchemy import text

    from catalog import ann, fulltext, indexes, tagbits
    from catalog.builder import create_fulltext
    from catalog.db import engine_for

    engine = engine_for(url)
    with engine.begin() as conn:
        t0 = time.perf_counter()
        create_fulltext(conn)
        timings["fulltext_index_s"] = time.perf_counter() - t0
        if conn.dialect.name == "postgresql":
            timings["fulltext_index"] = conn.execute(text(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'paper_fulltext'")).scalar()
        t0 = time.perf_counter()
        indexes.covering_indexes(conn)
        timings["covering_indexes_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        indexes.stats_table(conn)
        timings["stats_table_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        timings["tagbits"] = tagbits.build(conn, min_papers=0)
        timings["tagbits_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        info = ann.build_from_arrays(conn, np.arange(1, len(vecs) + 1), vecs)
        timings["ann_index_s"] = time.perf_counter() - t0
        timings["ann"] = info
        t0 = time.perf_counter()
        timings["fulltext_lists"] = fulltext.build(conn, min_papers=0)
        timings["fulltext_lists_s"] = time.perf_counter() - t0
        if conn.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":  # after a bulk load, as autovacuum would: statistics and the visibility map
        t0 = time.perf_counter()  # (index-only scans of the covering indexes need it)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        timings["vacuum_analyze_s"] = time.perf_counter() - t0
    engine.dispose()


def refresh_structures(path: Path, vecs: np.ndarray, timings: dict[str, Any]) -> None:
    """A reused file built by an older catalog/: add the tag bitmaps and the full-text lists, rebuild an ANN index or
    full-text lists of an older format."""
    from catalog import ann, fulltext, tagbits
    from catalog.db import engine_for

    with sqlite3.connect(path) as con:
        no_bits = not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'paperorder'").fetchone()
        old_ann = "basis" not in {r[1] for r in con.execute("PRAGMA table_info(paperann_centroids)")}
        has_lists = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'paperfts_meta'").fetchone()
        old_lists = not has_lists or con.execute("SELECT version FROM paperfts_meta").fetchone()[0] != fulltext.VERSION
    if not (no_bits or old_ann or old_lists):
        return
    engine = engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        if no_bits:
            t0 = time.perf_counter()
            timings["tagbits"] = tagbits.build(conn, min_papers=0)
            timings["tagbits_s"] = time.perf_counter() - t0
        if old_ann:
            t0 = time.perf_counter()
            timings["ann"] = ann.build_from_arrays(conn, np.arange(1, len(vecs) + 1), vecs)
            timings["ann_index_s"] = time.perf_counter() - t0
        if old_lists:
            t0 = time.perf_counter()
            timings["fulltext_lists"] = fulltext.build(conn, min_papers=0)
            timings["fulltext_lists_s"] = time.perf_counter() - t0
    engine.dispose()
    with sqlite3.connect(path) as con:
        con.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('bench_timings', ?)", (json.dumps(timings),))
    log(f"refreshed {path.name}: {'tag bitmaps ' if no_bits else ''}{'ANN index ' if old_ann else ''}"
        f"{'full-text lists' if old_lists else ''}")


# ------------------------------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A throw-away PostgreSQL server on loopback (Debian's packages), as tests/conftest.py starts one."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
        self.bindir = Path(bins[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="medzoo-bench-pg-"))
        self.as_user: list[str] = []
        data, sock = self.root / "data", self.root / "sock"
        sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(sock, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run([*self.as_user, str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        opts = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=8GB "
                "-c shared_buffers=1GB -c maintenance_work_mem=1GB -c work_mem=64MB -c jit=off")
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(self.root / "log"), "-o", opts,
                        "start"], check=True, capture_output=True)
        self.admin = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE medzoo_synthetic")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/medzoo_synthetic"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=medzoo_synthetic"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def load_postgres(pg: Postgres, real: Real, size: int, seed: int, chunk: int, vecs: np.ndarray) -> dict[str, float]:
    import psycopg
    from sqlmodel import SQLModel

    import catalog.schema  # noqa: F401
    from catalog.db import engine_for

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    engine = engine_for(pg.url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    types = {"paper": ["int4", "varchar", "varchar", "varchar", "int4", "varchar", "varchar", "varchar", "bytea"],
             "paperauthor": ["int4", "int4", "varchar"], "papereffect": ["int4", "int4", "varchar"],
             **{f"paper{v}": ["int4", "varchar", "varchar"] for v in VOCABS}}
    n_rows = 0
    with psycopg.connect(pg.dsn) as con:
        with con.cursor() as cur:
            for t, (cols, rows) in real.vocab_rows.items():
                cur.executemany(f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})", rows)
            done = 0
            for part in chunks(real, size, seed, chunk):
                part.pop("_vectors")
                for t, rows in part.items():
                    with cur.copy(f"COPY {t} ({', '.join(TABLE_COLS[t])}) FROM STDIN (FORMAT BINARY)") as cp:
                        cp.set_types(types[t])
                        for r in rows:
                            cp.write_row(r)
                    n_rows += len(rows)
                done += len(part["paper"])
                log(f"postgres: {done:,} / {size:,} papers")
            meta = {"source_hash": "synthetic", "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "papers": str(size),
                    "datasets": "0", "synthetic": "yes", "generator": f"bench/catalog_scale.py v{GENERATOR_VERSION} seed {seed}"}
            cur.executemany("INSERT INTO meta (name, value) VALUES (%s, %s)", list(meta.items()))
        con.commit()
    timings["insert_s"] = time.perf_counter() - t0
    timings["rows"] = n_rows
    finish(pg.url, vecs, timings)
    return timings


# ---------------------------------------------------------------------------------------------------- queries


def measure(fn: Callable[[Any], Any], params: list[Any], reps: int) -> dict[str, Any]:
    """Milliseconds of fn(params[i % len]) over reps calls after one warm-up call per parameter."""
    return measure_side_by_side({"_": fn}, params, reps)["_"]


def measure_side_by_side(fns: dict[str, Callable[[Any], Any]], params: list[Any], reps: int) -> dict[str, dict[str, Any]]:
    """Like measure, for several functions in turn (a, b, a, b, ...) on the same parameters, so load from other
    processes hits them alike."""
    for fn in fns.values():
        for p in params:
            fn(p)
    runs: dict[str, dict[str, list]] = {k: {"ms": [], "cpu": [], "rows": []} for k in fns}
    for i in range(reps):
        p = params[i % len(params)]
        for k, fn in fns.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            out = fn(p)
            runs[k]["ms"].append(1000 * (time.perf_counter() - t0))
            runs[k]["cpu"].append(1000 * (time.thread_time() - c0))
            runs[k]["rows"].append(len(out))
    return {k: {"ms": r["ms"], "client_cpu_ms": r["cpu"], "rows": r["rows"], "client_cpu_p50_ms": summary(r["cpu"])["p50"],
                **{f"{x}_ms": v for x, v in summary(r["ms"]).items() if x in ("p50", "p95", "min")}} for k, r in runs.items()}


def recall_queries(real: Real, n: int, seed: int) -> list[str]:
    """n random queries of 1-3 words of the real titles (deterministic), for recall@10 of search()."""
    rng = np.random.default_rng(seed + 2)
    words = [w.lower() for w in real.words if len(w) > 2]
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 4)), replace=False)) for _ in range(n)]


def statements(fn: Callable[[], Any]) -> int:
    """How many SQL statements (round trips) one call of fn sends through catalog/sql.py's connection."""
    from catalog import sql

    count = [0]
    orig = sql.Conn._cursor

    def counting(self: Any, *a: Any, **kw: Any) -> Any:
        count[0] += 1
        return orig(self, *a, **kw)

    sql.Conn._cursor = counting  # type: ignore[method-assign]
    try:
        fn()
    finally:
        sql.Conn._cursor = orig  # type: ignore[method-assign]
    return count[0]


def search_top(db: str, q: str, k: int, lists: bool) -> list[tuple[int, float]]:
    """(id, exact score) of the top k of search(q): by the impact-ordered lists, or by the exhaustive query."""
    import re

    from catalog import fulltext, query

    fulltext.ENABLED = lists
    try:
        with query._session(db) as conn:
            if conn.dialect == "sqlite":
                words = query._fts_terms(q)
                hit = fulltext.search(conn, words, k) if lists else None
                if hit is not None:
                    return list(zip(hit[0], hit[1]))
                match = " OR ".join(f'"{w}"*' for w in words)
                return [tuple(r) for r in conn.all("SELECT rowid, -bm25(paper_fts, 10.0, 1.0) AS s FROM paper_fts WHERE "
                                                   "paper_fts MATCH :m ORDER BY s DESC, rowid LIMIT :k", {"m": match, "k": k})]
            clean = [c for c in (re.sub(r"[^0-9a-z_]", "", w) for w in query._fts_terms(q)) if c]
            hit = fulltext.search(conn, clean, k) if lists else None
            if hit is not None:
                return list(zip(hit[0], hit[1]))
            tsq = " | ".join(f"{c}:*" for c in clean)
            return [tuple(r) for r in conn.all("SELECT id, ts_rank(fts, to_tsquery('english', :q)) AS s FROM paper WHERE "
                                               "fts @@ to_tsquery('english', :q) ORDER BY s DESC, id LIMIT :k",
                                               {"q": tsq, "k": k})]
    finally:
        fulltext.ENABLED = True


def rum_top(db: str, q: str, k: int) -> list[int]:
    """PostgreSQL with a RUM index: the top k by RUM's own ordering inside the index (ORDER BY fts <=> query)."""
    import re

    from catalog import query

    clean = [c for c in (re.sub(r"[^0-9a-z_]", "", w) for w in query._fts_terms(q)) if c]
    tsq = " | ".join(f"{c}:*" for c in clean)
    with query._session(db) as conn:
        return [r[0] for r in conn.all("SELECT id FROM paper WHERE fts @@ to_tsquery('english', :q) "
                                       "ORDER BY fts <=> to_tsquery('english', :q) LIMIT :k", {"q": tsq, "k": k})]


def run_queries(db: str, real: Real, vecs: np.ndarray, size: int, reps: int, seed: int) -> dict[str, Any]:
    import catalog
    from catalog import ann, query, tagbits

    rng = np.random.default_rng(seed + 1)
    triples = Counter((o, lo, m) for i in range(len(real.papers)) for o in real.tags["organ"][i]
                      for lo in real.tags["loss"][i] for m in real.tags["metric"][i])  # combinations real papers have
    filters = [{"organ": o, "loss": lo, "metric": m} for (o, lo, m), _ in triples.most_common(20)]
    dois = [f"10.99999/synthetic.{int(i)}" for i in rng.integers(1, size + 1, 20)]

    out: dict[str, Any] = {}
    out["filter"] = measure(lambda f: catalog.papers(db=db, limit=50, **f), filters, reps)
    out["filter_statements"] = statements(lambda: catalog.papers(db=db, limit=50, **filters[0]))
    out["filter_count"] = measure(lambda f: catalog.papers(db=db, **f), filters[:3], max(3, reps // 10))
    out["filter_count"]["note"] = "before: no LIMIT (every matching paper is materialised)"
    tagbits.ENABLED = False
    try:
        out["filter_sql"] = measure(lambda f: catalog.papers(db=db, limit=50, **f), filters, max(3, reps // 3))
        out["filter_sql"]["note"] = "before: the SQL joins (no tag bitmaps)"
        agree = [catalog.papers(db=db, limit=50, **f).key.tolist() for f in filters[:5]]
        agree += [catalog.papers(db=db, year=(2019, 2021), kind="primary", limit=30, **filters[0]).key.tolist()]
    finally:
        tagbits.ENABLED = True
    mine = [catalog.papers(db=db, limit=50, **f).key.tolist() for f in filters[:5]]
    mine += [catalog.papers(db=db, year=(2019, 2021), kind="primary", limit=30, **filters[0]).key.tolist()]
    out["filter_bitmaps_equal_sql"] = mine == agree
    if not out["filter_bitmaps_equal_sql"]:
        raise AssertionError("papers() with tag bitmaps differs from its SQL")
    out["stats"] = measure(lambda by: catalog.stats(by, db=db), ["organ"], reps)

    def live_stats(by: str) -> Any:
        with query._session(db) as conn:
            return conn.all(query.live_stats_sql(by))

    out["stats_live"] = measure(live_stats, ["organ"], max(3, reps // 10))
    out["stats_live"]["note"] = "before: counting the link table on every call (what stats() ran before paperstat)"

    from catalog import fulltext

    def exhaustive(s: str) -> Any:  # search() as before: every match ranked (FTS5 bm25 / ts_rank)
        fulltext.ENABLED = False
        try:
            return catalog.search(s, db=db)
        finally:
            fulltext.ENABLED = True

    both = measure_side_by_side({"search": lambda s: catalog.search(s, db=db), "search_exhaustive": exhaustive}, SEARCHES, reps)
    out["search"], out["search_exhaustive"] = both["search"], both["search_exhaustive"]
    for key in ("search", "search_exhaustive"):  # p50 per query: where the time goes
        ms = out[key]["ms"]
        out[key]["p50_ms_per_query"] = {q: summary(ms[i::len(SEARCHES)])["p50"] for i, q in enumerate(SEARCHES)
                                        if ms[i::len(SEARCHES)]}
    out["search_exhaustive"]["note"] = "before: every match ranked (FTS5 bm25 / ts_rank over the GIN or RUM index)"
    is_rum = _fulltext_index(db) == "rum"
    if is_rum:
        out["search_rum"] = measure(lambda s: rum_top(db, s, 20), SEARCHES, max(3, reps // 3))
        out["search_rum"]["note"] = "RUM: ORDER BY fts <=> query inside the index (ids only, no rows)"
    queries = SEARCHES + recall_queries(real, RECALL_QUERIES, seed)
    rec, rec_ties, same, rum_rec, rum_ties, depth = [], [], [], [], [], []
    for q in queries:
        truth = search_top(db, q, 50, lists=False)
        got = search_top(db, q, 20, lists=True)
        same.append(got == truth[:20])
        r = _recall([i for i, _ in got], truth)
        rec.append(r[0])
        rec_ties.append(r[1])
        if is_rum:
            r = _recall(rum_top(db, q, 20), truth)
            rum_rec.append(r[0])
            rum_ties.append(r[1])
    out["search_queries"] = queries
    out["search_recall_at_10"] = rec
    out["search_recall_at_10_ties"] = rec_ties
    out["search_same_top20_and_scores"] = same
    if is_rum:
        out["search_rum_recall_at_10"] = rum_rec
        out["search_rum_recall_at_10_ties"] = rum_ties
    with query._session(db) as conn:
        for q in SEARCHES:
            words = query._fts_terms(q)
            if conn.dialect == "postgresql":
                import re

                words = [c for c in (re.sub(r"[^0-9a-z_]", "", w) for w in words) if c]
            hit = fulltext.search(conn, words, 20)
            depth.append(None if hit is None else hit[2])
    out["search_lists"] = dict(zip(SEARCHES, depth))

    out["similar"] = measure(lambda d: catalog.similar(d, k=10, db=db), dois, reps)

    def exact(d: str) -> Any:  # the scan similar() ran before: every vector read and scored
        with query._session(db) as conn:
            rows = conn.all("SELECT id, embedding FROM paper WHERE embedding IS NOT NULL")
            ids = np.array([r[0] for r in rows])
            mat = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype=np.float32).reshape(len(rows), -1)
            pid = query._paper_id(conn, d)
            sc = mat @ mat[np.where(ids == pid)[0][0]]
            return [i for i in np.argsort(-sc) if ids[i] != pid][:10]

    out["similar_exact"] = measure(exact, dois[:2], 2)
    out["similar_exact"]["note"] = "before: exact scan of every stored vector per call"
    recalls = []
    for d in dois:
        pid = int(d.rsplit(".", 1)[1])
        sc = vecs @ vecs[pid - 1]
        sc[pid - 1] = -np.inf
        truth = set((np.argpartition(-sc, 10)[:10] + 1).tolist())
        got = catalog.similar(d, k=10, db=db)
        keys = set(int(k.rsplit("-", 1)[1]) for k in got.key)
        recalls.append(len(truth & keys) / 10)
    out["similar_recall_at_10"] = recalls
    with query._session(db) as conn:
        index = ann.load(conn)
    out["ann"] = None if index is None else {"nlist": len(index.centroids), "nprobe": index.nprobe, "rerank": ann.RERANK}
    return out


def _recall(got: list[int], truth: list[tuple[int, float]]) -> tuple[float, float]:
    """(share of the exhaustive top 10 returned, share of the returned top 10 scoring at least the exhaustive 10th:
    the second counts a paper of equal score in place of another as right, since equal scores are ordered by id only)."""
    top = truth[:10]
    if not top:
        return 1.0, 1.0
    exact = len({i for i, _ in top} & set(got[:10])) / len(top)
    score = dict(truth)
    tenth = top[-1][1]
    ties = sum(1 for i in got[:10] if i in score and score[i] >= tenth) / len(top)
    return exact, ties


def _fulltext_index(db: str) -> str | None:
    """The access method of PostgreSQL's full-text index (rum / gin); None on SQLite."""
    from catalog import query

    with query._session(db) as conn:
        if conn.dialect != "postgresql":
            return None
        row = conn.all("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'paper_fulltext'")
        return row[0][0] if row else None


ROWS = (("filter organ+loss+metric, limit 50", "filter", "filter", None),
        ("  before: SQL joins, no bitmaps", "filter_sql", None, "filter"),
        ("  before: same filter, no limit", "filter_count", None, "filter"),
        ("stats by organ", "stats", "stats", None),
        ("  before: live count", "stats_live", None, "stats"),
        ("full-text search (top 20)", "search", "search", None),
        ("  before: exhaustive ranking", "search_exhaustive", None, "search"),
        ("  RUM: ORDER BY fts <=> query", "search_rum", None, "search"),
        ("similar by DOI (k=10)", "similar", "similar", None),
        ("  before: exact scan", "similar_exact", None, "similar"))


def table_rows(name: str, q: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, key, goal, after in ROWS:
        if key not in q:
            continue
        r = q[key]
        rows.append({"backend": name, "query": label, "p50 ms": r["p50_ms"], "p95 ms": r["p95_ms"],
                     "client cpu p50 ms": r["client_cpu_p50_ms"], "rows": int(np.median(r["rows"])),
                     "goal p50": f"<{GOALS_MS[goal]:.0f} ms" if goal else "",
                     "met": ("yes" if r["p50_ms"] < GOALS_MS[goal] else "NO") if goal
                     else _ratio(r["p50_ms"], q[after]["p50_ms"])})
    rows.append({"backend": name, "query": f"search recall@10 vs exhaustive ({len(q['search_recall_at_10'])} queries)",
                 "p50 ms": float(np.mean(q["search_recall_at_10"])), "goal p50": f">={GOAL_SEARCH_RECALL}",
                 "met": "yes" if np.mean(q["search_recall_at_10"]) >= GOAL_SEARCH_RECALL else "NO"})
    if "search_rum_recall_at_10" in q:
        rows.append({"backend": name, "query": "  RUM <=> recall@10 (equal scores counted right)",
                     "p50 ms": float(np.mean(q["search_rum_recall_at_10_ties"])),
                     "met": f"exact ids {np.mean(q['search_rum_recall_at_10']):.2f}"})
    rows.append({"backend": name, "query": "similar recall@10 vs exact", "p50 ms": float(np.mean(q["similar_recall_at_10"])),
                 "goal p50": f">={GOAL_SIMILAR_RECALL}",
                 "met": "yes" if np.mean(q["similar_recall_at_10"]) >= GOAL_SIMILAR_RECALL else "NO"})
    if name == "postgresql":
        rows.append({"backend": name, "query": "statements per filter call", "p50 ms": float(q["filter_statements"]),
                     "goal p50": "1", "met": "yes" if q["filter_statements"] == 1 else "NO"})
    return rows


def _ratio(before: float, now: float) -> str:
    return f"{before / now:.1f}x slower" if before >= now else f"{now / before:.1f}x faster"


def goals(name: str, q: dict[str, Any], size: int, date: str) -> list[dict[str, Any]]:
    """Each goal of this benchmark with the figure measured in this run beside it (bench/report.py renders them)."""
    out = []

    def add(figure: str, value: float, goal: str, met: bool, unit: str) -> None:
        out.append({"benchmark": "catalog_scale", "backend": name, "size": size, "figure": figure, "value": value,
                    "unit": unit, "goal": goal, "met": bool(met), "date": date})

    for key, figure in (("filter", "papers(organ, loss, metric, limit=50) p50"), ("stats", "stats(by='organ') p50"),
                        ("search", "search() top 20 p50"), ("similar", "similar(doi, k=10) p50")):
        add(figure, q[key]["p50_ms"], f"< {GOALS_MS[key]:.0f} ms", q[key]["p50_ms"] < GOALS_MS[key], "ms")
    r = float(np.mean(q["search_recall_at_10"]))
    add("search() recall@10 vs the exhaustive ranking", r, f">= {GOAL_SEARCH_RECALL}", r >= GOAL_SEARCH_RECALL, "")
    r = float(np.mean(q["similar_recall_at_10"]))
    add("similar() recall@10 vs the exact scan", r, f">= {GOAL_SIMILAR_RECALL}", r >= GOAL_SIMILAR_RECALL, "")
    if name == "postgresql":
        add("papers(organ, loss, metric, limit=50): statements per call", q["filter_statements"], "1",
            q["filter_statements"] == 1, "")
    return out


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000, help="synthetic papers (make bench uses a smaller size)")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=50_000)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--cache", default=None, help="folder of the synthetic SQLite file (default ~/.cache/medzoo/bench)")
    p.add_argument("--regenerate", action="store_true", help="rebuild the SQLite file even when a matching one exists")
    p.add_argument("--name", default="catalog_scale", help="results file name (bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.reps, args.chunk = 2000, 3, 1000
    env = environment(torch_info=False)
    import signal

    def stop(signum: int, _frame: Any) -> None:  # a terminated run still stops its PostgreSQL server (finally below)
        raise SystemExit(128 + signum)

    if threading_main():
        signal.signal(signal.SIGTERM, stop)
    work = Path(tempfile.mkdtemp(prefix="medzoo-bench-scale-"))
    result: dict[str, Any] = {"benchmark": "catalog_scale", "environment": env, "size": args.size, "seed": args.seed,
                              "goals_ms_p50": GOALS_MS, "goal_similar_recall_at_10": GOAL_SIMILAR_RECALL,
                              "goal_search_recall_at_10": GOAL_SEARCH_RECALL, "synthetic": True, "backends": {}, "goals": []}
    rows = []
    pg = None
    try:
        from catalog.builder import build

        log("building the real catalog into a temporary file (the statistics the generator draws from)")
        real_db = work / "real.db"
        build(str(real_db))
        real = read_real(str(real_db))
        cache = Path(args.cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medzoo" / "bench")
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"synthetic-catalog-{args.size}-s{args.seed}-v{GENERATOR_VERSION}.db"
        if args.quick:
            path = work / path.name
        npy = path.with_suffix(".vectors.npy")
        if path.exists() and npy.exists() and not args.regenerate:
            log(f"reusing {path}")
            vecs = np.load(npy)
            with sqlite3.connect(path) as con:
                timings: dict[str, Any] = json.loads(con.execute("SELECT value FROM meta WHERE name = 'bench_timings'").fetchone()[0])
            timings["reused"] = True
            refresh_structures(path, vecs, timings)
        else:
            log(f"generating {args.size:,} synthetic papers into {path}")
            vecs, timings = load_sqlite(path, real, args.size, args.seed, args.chunk)
            with sqlite3.connect(path) as con:
                con.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('bench_timings', ?)", (json.dumps(timings),))
            np.save(npy, vecs)
        log("sqlite queries")
        backends = {"sqlite": (str(path), timings)}
        if not args.no_postgres:
            try:
                pg = Postgres()
                log(f"loading {args.size:,} synthetic papers into a throw-away PostgreSQL ({pg.url})")
                backends["postgresql"] = (pg.url, load_postgres(pg, real, args.size, args.seed, args.chunk, vecs))
            except Exception as e:  # noqa: BLE001 - recorded, the SQLite figures still stand
                log(f"PostgreSQL unavailable: {e}")
                result["postgresql_error"] = str(e)
        for name, (db, tm) in backends.items():
            log(f"{name}: timing queries")
            q = run_queries(db, real, vecs, args.size, args.reps, args.seed)
            result["backends"][name] = {"load": tm, "queries": q}
            rows += table_rows(name, q)
            result["goals"] = result.get("goals", []) + goals(name, q, args.size, env["date"])
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    table(rows, title=f"catalog API on a SYNTHETIC catalog of {args.size:,} papers ({env['machine']}, load {env['loadavg_start']})")
    result["table"] = rows
    out = save(args.name, result, args.out)
    log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
