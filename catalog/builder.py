"""Build the catalog database from its inputs: the curated files (catalog/data), the user's own records (the user
layer, catalog/sources.py) and the measured results (evaluation rows). Validate everything first, then swap the result
in atomically."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from catalog import schema
from catalog.db import connection, engine_for, resolve_url, sqlite_path
from catalog.errors import CatalogError
from catalog.jsonl import read_jsonl
from catalog.records import KINDS, Corpus, PaperRecord, _read_yaml, arxiv_doi, load_corpus, normalise_title, parse_paper
from catalog.sourcerank import DERIVED, PRIMARY, classify, tier
from catalog.sources import DEFAULT, MEASURED, UserDir, inputs_record, resolve_user_dir, source_hash, user_files
from catalog.sql import PG_TSVECTOR
from catalog.vocab import DATA_DIR

FTS_SQLITE = (
    "CREATE VIRTUAL TABLE paper_fts USING fts5(title, abstract, content='paper', content_rowid='id', "
    "tokenize='porter unicode61')"
)
EVALUATIONS = MEASURED  # the default measured-results input (`medzoo catalog build --results PATH` chooses another)


def create_fulltext(conn: Connection) -> None:
    """The full-text index: FTS5 over title and abstract (SQLite), or a stored tsvector column with a RUM index, GIN
    where the server lacks the extension (PostgreSQL; catalog/fulltext.py create_pg_index). Large catalogs also get
    impact-ordered lists (catalog/indexes.py -> catalog/fulltext.py)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text(FTS_SQLITE))
        conn.execute(text("INSERT INTO paper_fts(paper_fts) VALUES ('rebuild')"))
    elif conn.dialect.name == "postgresql":
        from catalog.fulltext import create_pg_index

        conn.execute(text(f"ALTER TABLE paper ADD COLUMN fts tsvector GENERATED ALWAYS AS ({PG_TSVECTOR}) STORED"))
        create_pg_index(conn)



def _rows(corpus: Corpus, vectors) -> dict[str, list[dict]]:  # noqa: ANN001 - numpy array
    """Table name -> rows to insert, in foreign-key order."""
    rows: dict[str, list[dict]] = {t: [] for t in SQLModel.metadata.tables}
    for name, vocab in corpus.vocabs.items():
        for t in vocab.terms.values():
            row = {"slug": t.slug, "name": t.name, "synonyms": json.dumps(t.synonyms)}
            if name == "architecture":
                row |= {"family": t.extra.get("family"), "reproduction": t.extra.get("reproduction")}
            rows[name].append(row)
    rows["architecture"].sort(key=lambda r: r["family"] is not None)  # parents first (self-reference)
    for d in corpus.datasets:
        rows["dataset"].append({"slug": d.slug, "name": d.name, "synonyms": json.dumps(d.synonyms), "organ": d.organ,
                                "modality": d.modality, "n_images": d.n_images, "classes": json.dumps(d.classes),
                                "license": d.license or None, "url": d.url or None})
        fields: dict[str, list[str]] = {}
        for s in d.sources:
            for f in s.fields:
                fields.setdefault(f, []).append(s.url)
        for s in d.sources:
            rows["provenance"] += [{"entity": "dataset", "entity_key": d.slug, "field": f, "source": s.url,
                                    "checked": s.checked, "source_class": classify(s.url), "tier": tier(s.url),
                                    "secondary_only": all(tier(u) != PRIMARY for u in fields[f])} for f in s.fields]
    keys = {p.key: pid for pid, p in enumerate(corpus.papers, start=1)}
    ids = {doi: keys[p.key] for doi, p in corpus.by_doi().items()}  # DOIs and arXiv DOIs -> paper id
    for pid, (p, vec) in enumerate(zip(corpus.papers, vectors), start=1):
        rows["paper"].append({"id": pid, "key": p.key, "kind": p.kind, "year": p.year, "embedding": vec.tobytes(),
                              "origin": p.origin,
                              "unstated": ",".join(p.unstated) or None, **{k: (v or None) for k, v in p.text.items()}})
        rows["paperauthor"] += [{"paper_id": pid, "position": i, "name": a} for i, a in enumerate(p.authors)]
        for vocab, link in schema.LINK_TABLES.items():
            tname = link.__tablename__
            rows[tname] += [{"paper_id": pid, "term": t, "status": "verified"} for t in p.tags.get(vocab, [])]
            rows[tname] += [{"paper_id": pid, "term": t, "status": "proposed"} for t in p.proposed.get(vocab, [])
                            if t not in p.tags.get(vocab, [])]
        rows["papereffect"] += [{"paper_id": pid, "text": e.summary(), "task": e.task or None, "metric": e.metric or None,
                                 "measure": e.measure or None, "value_without": e.without, "value_with": e.with_,
                                 "change": e.gain, "unit": e.unit or None, "real_data": e.real_data or None,
                                 "comparison": e.comparison or None, "source": e.source or None, "note": e.note or None,
                                 "arm": e.arm or None, "classifier": e.classifier or None}
                                for e in p.effects]
        rows["paperattribute"] += [{"paper_id": pid, "name": k, "value": v} for k, v in p.attributes.items()]
        rows["provenance"] += provenance_rows(p)
    for pid, p in enumerate(corpus.papers, start=1):
        rows["paperrelation"] += list({(pid, ids[t], k): {"source_id": pid, "target_id": ids[t], "kind": k}
                                       for k, t in p.relations}.values())
    return rows


def provenance_rows(p: PaperRecord) -> list[dict]:
    """One row per (field, source) of a paper, ranked (catalog/sourcerank.py); a field derived by rule gets one row
    with source 'rule:<rule>', tier 'derived', checked on the latest check of the field it derives from."""
    out, seen = [], set()
    by_field = p.field_sources()
    code = p.text.get("code_url", "")
    for s in p.sources:
        for f in s.fields:
            if (f, s.url) in seen:
                continue
            seen.add((f, s.url))
            only_secondary = all(tier(x.url, code) != PRIMARY for x in by_field[f])
            out.append({"entity": "paper", "entity_key": p.key, "field": f, "source": s.url, "checked": s.checked,
                        "source_class": classify(s.url, code), "tier": tier(s.url, code),
                        "secondary_only": only_secondary})
    for f, rule in p.derived.items():
        basis = by_field.get("arxiv" if rule == "arxiv" else f, [])
        out.append({"entity": "paper", "entity_key": p.key, "field": f, "source": f"rule:{rule}",
                    "checked": max((x.checked for x in basis), default=dt.date.today()), "source_class": "rule",
                    "tier": DERIVED, "secondary_only": False})
    return out


def evaluation_rows(path: Path) -> list[dict]:
    """Rows of the Evaluation table from the evaluations file (none when absent; a torn last line is skipped)."""
    columns = set(schema.Evaluation.__table__.columns.keys()) - {"id", "facts"}
    out = []
    for i, rec in enumerate(read_jsonl(path), 1):
        missing = {"model_id", "dataset", "kind", "metric", "value", "n", "seed"} - set(rec)
        if missing:
            raise CatalogError(f"{path}: record {i} lacks {', '.join(sorted(missing))}")
        out.append({**{k: rec.get(k) for k in columns}, "facts": json.dumps({k: v for k, v in rec.items() if k not in columns}, sort_keys=True)})
    return out


def _identities(p: PaperRecord) -> list[str]:
    """What names a paper across layers: key, DOI, the arXiv DOI, PMID and normalised title."""
    out = [f"key:{p.key}", f"title:{normalise_title(p.text['title'])}"]
    out += [f"doi:{p.doi}"] if p.doi else []
    out += [f"doi:{arxiv_doi(p.text['arxiv'])}"] if p.text["arxiv"] else []
    out += [f"pmid:{p.text['pmid']}"] if p.text["pmid"] else []
    return out


def add_user_layer(corpus: Corpus, user_dir: Path | None, data_dir: Path) -> list[str]:
    """Validate the user's records (user_dir/papers/*.yaml) against the curated vocabularies and datasets and add them
    to the corpus marked origin=user; returns a note for each one left out. A user record naming a paper the curated
    catalog holds (same key, DOI, arXiv id, PMID or title) is left out: the curated record wins. Any other problem
    raises an error naming the user's file, record and field, as for curated records."""
    from catalog.errors import RecordError
    from catalog.vocab import Term, Vocabulary

    if user_dir is None or (data_dir.exists() and user_dir.exists() and user_dir.resolve() == data_dir.resolve()):
        return []
    files = user_files(user_dir)
    if not files:
        return []
    dvocab = Vocabulary("dataset", {d.slug: Term(d.slug, d.name, d.synonyms) for d in corpus.datasets})
    curated = {i: p.key for p in corpus.papers for i in _identities(p)}
    mine: dict[str, PaperRecord] = {}
    notes, added = [], []
    for path in files:
        rec = parse_paper(_read_yaml(path), str(path), corpus.vocabs, dvocab)
        if rec.key != path.stem:
            raise RecordError(str(path), rec.key, "key", f"must equal the file name {path.stem!r}")
        rec.origin = "user"
        ids = _identities(rec)
        clash = next((curated[i] for i in ids if i in curated), None)
        if clash is not None:
            notes.append(f"{path}: left out, the curated catalog holds this paper as {clash!r} (remove the file to "
                         "silence this note)")
            continue
        dup = next((i for i in ids if i in mine and not i.startswith("title:")), None)
        if dup is not None:
            raise RecordError(str(path), rec.key, dup.split(":")[0], f"duplicate {dup}: also in your record "
                                                                      f"{mine[dup].key!r} ({mine[dup].file})")
        mine.update((i, rec) for i in ids)
        added.append(rec)
    corpus.papers.extend(added)
    targets = corpus.by_doi()
    for rec in added:
        for kind, target in rec.relations:
            if target not in targets:
                raise RecordError(rec.file, rec.key, "relations", f"{kind} target {target} is not a catalog paper DOI")
    return notes


def _write(conn: Connection, corpus: Corpus, vectors, digest: str, results: Path, inputs: str = "") -> None:  # noqa: ANN001
    SQLModel.metadata.create_all(conn)
    rows = _rows(corpus, vectors)
    rows["evaluation"] = evaluation_rows(results)
    for table in SQLModel.metadata.sorted_tables:
        if rows.get(table.name):
            conn.execute(table.insert(), rows[table.name])
    meta = {"source_hash": digest, "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "papers": str(len(corpus.papers)), "datasets": str(len(corpus.datasets))}
    meta |= {f"papers_{k}": str(sum(p.kind == k for p in corpus.papers)) for k in KINDS}
    meta["papers_user"] = str(sum(p.origin == "user" for p in corpus.papers))
    meta["inputs"] = inputs
    conn.execute(schema.Meta.__table__.insert(), [{"name": k, "value": v} for k, v in meta.items()])
    create_fulltext(conn)
    from catalog.indexes import finish

    finish(conn)  # stored stats counts, covering indexes, ANN index for large catalogs


def _remove_stale(path: Path) -> None:
    """Delete temp files of builds whose process is gone (killed mid-build); running builds keep theirs."""
    for tmp in path.parent.glob(f".{path.name}.*.building"):
        try:
            os.kill(int(tmp.name.rsplit(".", 2)[-2]), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            continue


def embed_text(p: PaperRecord) -> str:
    """The text a paper's meaning-search vector is computed from."""
    return f"{p.text['title']}. {p.text['abstract']}"


def build(db: str | None = None, data_dir: Path = DATA_DIR, user_dir: UserDir = DEFAULT,
          results: Path | None = None) -> dict[str, Any]:
    """Validate the curated files and the user's records and (re)build the database at `db`, with the evaluation rows
    of `results` (default: EVALUATIONS, the measured results shipped with the package); the old database survives any
    failure. user_dir: the user layer (DEFAULT: catalog.sources.user_catalog_dir(); None: curated records only)."""
    from catalog.embed import embed

    if results is not None and not Path(results).is_file():
        raise CatalogError(f"{results}: no such results file (--results names a JSON-lines file of evaluation rows)")
    inputs = inputs_record(None if data_dir == DATA_DIR else data_dir, user_dir, results)
    results = Path(results) if results is not None else EVALUATIONS
    layer = resolve_user_dir(user_dir)
    corpus = load_corpus(data_dir)  # every record is checked before the database is touched
    notes = add_user_layer(corpus, layer, data_dir)
    vectors = embed([embed_text(p) for p in corpus.papers])
    digest = source_hash(data_dir, results, layer)
    url = resolve_url(db)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.building")
        tmp.unlink(missing_ok=True)
        engine = engine_for(f"sqlite:///{tmp}")
        try:
            with engine.begin() as conn:
                _write(conn, corpus, vectors, digest, results, inputs)
            engine.dispose()
            os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
        finally:
            engine.dispose()
            tmp.unlink(missing_ok=True)
    else:
        engine = engine_for(url)
        with connection(engine, begin=True) as conn:  # transactional DDL: a failure rolls back to the previous catalog
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))  # one build at a time
            conn.execute(text("DROP TABLE IF EXISTS paper_fts"))
            SQLModel.metadata.drop_all(conn)
            _write(conn, corpus, vectors, digest, results, inputs)
        engine.dispose()
    return {"url": url, "papers": str(len(corpus.papers)), "datasets": str(len(corpus.datasets)), "source_hash": digest,
            "user_papers": str(sum(p.origin == "user" for p in corpus.papers)),
            "user_dir": str(layer) if layer is not None else "", "left_out": notes}
