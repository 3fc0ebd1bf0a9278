"""Read and validate the curated source files in catalog/data: one YAML record per paper or dataset."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from catalog.errors import CatalogError, RecordError, UnknownTermError
from catalog.vocab import DATA_DIR, Vocabulary

KINDS = ("review", "primary", "related")
RELATION_TYPES = ("cites", "similar")
TAG_FIELDS = {  # record field -> vocabulary it draws from
    "organs": "organ",
    "modalities": "modality",
    "tasks": "task",
    "architectures": "architecture",
    "losses": "loss",
    "metrics": "metric",
}
TEXT_FIELDS = ("title", "venue", "volume", "issue", "pages", "doi", "pmid", "arxiv", "url", "abstract", "code_url")
SOURCED_FIELDS = (*TEXT_FIELDS, "authors", "year", *TAG_FIELDS, "datasets", "effects", "attributes", "relations")
PAPER_FIELDS = {"key", "kind", "proposed", "sources", *SOURCED_FIELDS}
DATASET_FIELDS = {"slug", "name", "synonyms", "organ", "modality", "n_images", "classes", "license", "url", "sources"}
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


def normalise_doi(text: str) -> str:
    """Bare lower-case DOI from 'doi:10.1/X', 'https://doi.org/10.1/X' or '10.1/X'; ValueError if it does not parse."""
    doi = str(text).strip()
    doi = re.sub(r"^(https?://)?(dx\.)?doi\.org/", "", doi, flags=re.I)
    doi = re.sub(r"^doi:\s*", "", doi, flags=re.I).strip().lower()
    if not DOI_RE.match(doi):
        raise ValueError(f"{text!r} is not a DOI (expected 10.NNNN/suffix)")
    return doi


def normalise_title(title: str) -> str:
    """Letters and digits only, lower case: the key for matching the same title written differently."""
    return re.sub(r"[^a-z0-9]+", "", str(title).lower())


@dataclass
class Source:
    """Where a set of fields was checked, and when."""

    url: str
    checked: dt.date
    fields: list[str]


@dataclass
class PaperRecord:
    """A validated paper: text fields, ordered authors, resolved tags, relations and per-field sources."""

    file: str
    key: str
    kind: str
    text: dict[str, str]
    authors: list[str]
    year: int | None
    tags: dict[str, list[str]]  # vocabulary name -> verified slugs; "dataset" included
    proposed: dict[str, list[str]]
    effects: list[str]
    attributes: dict[str, str]
    relations: list[tuple[str, str]]  # (type, target DOI)
    sources: list[Source]

    @property
    def doi(self) -> str:
        return self.text.get("doi", "")

    def field_sources(self) -> dict[str, list[Source]]:
        """For each sourced field, the sources that confirm it."""
        out: dict[str, list[Source]] = {}
        for s in self.sources:
            for f in s.fields:
                out.setdefault(f, []).append(s)
        return out


@dataclass
class DatasetRecord:
    """A validated dataset description."""

    file: str
    slug: str
    name: str
    synonyms: list[str]
    organ: str | None
    modality: str | None
    n_images: int | None
    classes: list[str]
    license: str
    url: str
    sources: list[Source] = field(default_factory=list)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # on use: queries never read YAML

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise RecordError(str(path), path.stem, "-", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise RecordError(str(path), path.stem, "-", f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RecordError(str(path), path.stem, "-", "a record must be a YAML mapping")
    return data


def _str_list(value: Any, err: callable) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise err("must be a list of strings")
    return [str(v).strip() for v in value if str(v).strip()]


def _sources(raw: Any, allowed: set[str], err: callable) -> list[Source]:
    if not isinstance(raw, list):
        raise err("sources", "must be a list of {url, checked, fields}")
    out = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or not s.get("url") or not s.get("checked") or not s.get("fields"):
            raise err("sources", f"entry {i + 1} needs url, checked and fields")
        checked = s["checked"]
        if not isinstance(checked, dt.date):
            try:
                checked = dt.date.fromisoformat(str(checked))
            except ValueError:
                raise err("sources", f"entry {i + 1}: checked {s['checked']!r} is not a YYYY-MM-DD date") from None
        fields = _str_list(s["fields"], lambda m: err("sources", f"entry {i + 1}: fields {m}"))
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise err("sources", f"entry {i + 1} names unknown fields {unknown}; allowed: {sorted(allowed)}")
        out.append(Source(str(s["url"]).strip(), checked, fields))
    return out


def _resolve(vocab: Vocabulary, terms: list[str], err: callable) -> list[str]:
    out = []
    for t in terms:
        try:
            out.append(vocab.resolve(t))
        except UnknownTermError as e:
            raise err(str(e)) from None
    return list(dict.fromkeys(out))


def parse_paper(data: dict[str, Any], file: str, vocabs: dict[str, Vocabulary], datasets: Vocabulary) -> PaperRecord:
    """Validate one paper mapping; RecordError names the file, record and field of the first problem."""
    key = str(data.get("key") or Path(file).stem)

    def err(fld: str, msg: str) -> RecordError:
        return RecordError(file, key, fld, msg)

    unknown = sorted(set(data) - PAPER_FIELDS)
    if unknown:
        raise err(unknown[0], f"unknown field; allowed fields: {sorted(PAPER_FIELDS)}")
    if not KEY_RE.match(key):
        raise err("key", "must be a lower-case slug (letters, digits, '-')")
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        raise err("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    text = {}
    for f in TEXT_FIELDS:
        v = data.get(f)
        if v is not None and not isinstance(v, (str, int, float)):
            raise err(f, "must be text")
        text[f] = "" if v is None else str(v).strip()
    if not text["title"]:
        raise err("title", "is required")
    if text["doi"]:
        try:
            text["doi"] = normalise_doi(text["doi"])
        except ValueError as e:
            raise err("doi", str(e)) from None
    if text["pmid"] and not text["pmid"].isdigit():
        raise err("pmid", f"must be digits, got {text['pmid']!r}")
    year = data.get("year")
    if year not in (None, ""):
        if not isinstance(year, int) or not 1900 <= year <= 2100:
            raise err("year", f"must be a four-digit year, got {year!r}")
    else:
        year = None
    authors = _str_list(data.get("authors"), lambda m: err("authors", m))
    tags = {voc: _resolve(vocabs[voc], _str_list(data.get(f), lambda m, f=f: err(f, m)), lambda m, f=f: err(f, m))
            for f, voc in TAG_FIELDS.items()}
    tags["dataset"] = _resolve(datasets, _str_list(data.get("datasets"), lambda m: err("datasets", m)),
                               lambda m: err("datasets", m))
    proposed_raw = data.get("proposed") or {}
    if not isinstance(proposed_raw, dict):
        raise err("proposed", "must be a mapping of tag field -> list of terms")
    proposed = {}
    for f, terms in proposed_raw.items():
        if f not in TAG_FIELDS:
            raise err("proposed", f"{f!r} is not a tag field ({', '.join(TAG_FIELDS)})")
        proposed[TAG_FIELDS[f]] = _resolve(vocabs[TAG_FIELDS[f]], _str_list(terms, lambda m: err("proposed", m)),
                                           lambda m: err("proposed", m))
    effects = _str_list(data.get("effects"), lambda m: err("effects", m))
    attrs = data.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise err("attributes", "must be a mapping of name -> value")
    relations = []
    for i, r in enumerate(data.get("relations") or []):
        if not isinstance(r, dict) or r.get("type") not in RELATION_TYPES or not r.get("target"):
            raise err("relations", f"entry {i + 1} must be {{type: cites|similar, target: DOI}}, got {r!r}")
        try:
            relations.append((r["type"], normalise_doi(r["target"])))
        except ValueError as e:
            raise err("relations", f"entry {i + 1}: {e}") from None
    sources = _sources(data.get("sources"), set(SOURCED_FIELDS), err)
    rec = PaperRecord(file, key, kind, text, authors, year, tags, proposed, effects,
                      {str(k): str(v) for k, v in attrs.items()}, relations, sources)
    filled = [f for f in TEXT_FIELDS if text[f]]
    filled += [f for f, v in (("authors", authors), ("year", year), ("effects", effects), ("attributes", attrs),
                              ("relations", relations), ("datasets", tags["dataset"])) if v]
    filled += [f for f, voc in TAG_FIELDS.items() if tags[voc]]
    sourced = rec.field_sources()
    missing = [f for f in filled if f not in sourced]
    if missing:
        raise err(missing[0], "is filled but no source lists it (add it to a source's fields, or leave it empty)")
    return rec


def parse_dataset(data: dict[str, Any], file: str, vocabs: dict[str, Vocabulary]) -> DatasetRecord:
    """Validate one dataset mapping."""
    slug = str(data.get("slug") or Path(file).stem)

    def err(fld: str, msg: str) -> RecordError:
        return RecordError(file, slug, fld, msg)

    unknown = sorted(set(data) - DATASET_FIELDS)
    if unknown:
        raise err(unknown[0], f"unknown field; allowed fields: {sorted(DATASET_FIELDS)}")
    if not KEY_RE.match(slug):
        raise err("slug", "must be a lower-case slug (letters, digits, '-')")
    if not data.get("name"):
        raise err("name", "is required")
    organ = modality = None
    if data.get("organ"):
        organ = _resolve(vocabs["organ"], [str(data["organ"])], lambda m: err("organ", m))[0]
    if data.get("modality"):
        modality = _resolve(vocabs["modality"], [str(data["modality"])], lambda m: err("modality", m))[0]
    n = data.get("n_images")
    if n not in (None, "") and (not isinstance(n, int) or n <= 0):
        raise err("n_images", f"must be a positive whole number, got {n!r}")
    rec = DatasetRecord(file, slug, str(data["name"]), _str_list(data.get("synonyms"), lambda m: err("synonyms", m)),
                        organ, modality, n if isinstance(n, int) else None,
                        _str_list(data.get("classes"), lambda m: err("classes", m)),
                        str(data.get("license") or ""), str(data.get("url") or ""),
                        _sources(data.get("sources") or [], DATASET_FIELDS - {"slug", "sources", "synonyms"}, err))
    filled = [f for f in ("name", "organ", "modality", "n_images", "classes", "license", "url") if getattr(rec, f)]
    sourced = {f for s in rec.sources for f in s.fields}
    missing = [f for f in filled if f not in sourced]
    if missing:
        raise err(missing[0], "is filled but no source lists it")
    return rec


@dataclass
class Corpus:
    """Every validated record of a data directory."""

    vocabs: dict[str, Vocabulary]
    datasets: list[DatasetRecord]
    papers: list[PaperRecord]


def load_corpus(data_dir: Path = DATA_DIR) -> Corpus:
    """Validate every file under data_dir; the first problem raises an error naming file, record and field."""
    from catalog.vocab import Term, load_vocabularies

    vocabs = load_vocabularies(data_dir)
    datasets = []
    for path in sorted((data_dir / "datasets").glob("*.yaml")):
        rec = parse_dataset(_read_yaml(path), str(path), vocabs)
        if rec.slug != path.stem:
            raise RecordError(str(path), rec.slug, "slug", f"must equal the file name {path.stem!r}")
        datasets.append(rec)
    dvocab = Vocabulary("dataset", {d.slug: Term(d.slug, d.name, d.synonyms) for d in datasets})
    papers, by_doi, by_key = [], {}, {}
    for path in sorted((data_dir / "papers").glob("*.yaml")):
        rec = parse_paper(_read_yaml(path), str(path), vocabs, dvocab)
        if rec.key != path.stem:
            raise RecordError(str(path), rec.key, "key", f"must equal the file name {path.stem!r}")
        if rec.doi and rec.doi in by_doi:
            other = by_doi[rec.doi]
            raise RecordError(str(path), rec.key, "doi",
                              f"duplicate DOI {rec.doi}: also in record {other.key!r} ({other.file})")
        if rec.doi:
            by_doi[rec.doi] = rec
        if rec.key in by_key:
            raise RecordError(str(path), rec.key, "key", f"duplicate key: also {by_key[rec.key].file}")
        by_key[rec.key] = rec
        papers.append(rec)
    for rec in papers:
        for kind, target in rec.relations:
            if target not in by_doi:
                raise RecordError(rec.file, rec.key, "relations", f"{kind} target {target} is not a catalog paper DOI")
    if not papers:
        raise CatalogError(f"no paper records under {data_dir / 'papers'}")
    return Corpus(vocabs, datasets, papers)
