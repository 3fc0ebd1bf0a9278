"""Read and validate the curated source files in catalog/data: one YAML record per paper or dataset."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from catalog.errors import CatalogError, RecordError, UnknownTermError
from catalog.sourcerank import ai_written, prints_arxiv_doi, valid_source
from catalog.vocab import DATA_DIR, Vocabulary

# primary: a study that synthesises or translates medical images with a generative model (for augmentation or as its
# subject); method: a general generative-modelling paper the primaries build on; dataset: a paper describing a data
# set; related: other papers linked to the catalog; review: a survey. Counts and statistics use `primary`.
KINDS = ("primary", "method", "dataset", "related", "review")
ORIGINS = ("curated", "user")  # where a paper record comes from: the curated catalog or the user's own layer
PRIMARY_REQUIRED = ("organs", "modalities", "architectures")  # a primary paper without one of these fails the build
# fields a record may derive by rule instead of crediting a page: field -> {rule: what the rule does}
DERIVATIONS = {"doi": {"arxiv": "the arXiv DOI 10.48550/arxiv.<arxiv id>, from the record's arxiv field"}}
ARXIV_DOI_PREFIX = "10.48550/arxiv."
# downstream tasks of an effect row (what the synthetic images were added to the training data of)
EFFECT_TASKS = ("classification", "segmentation", "detection", "regression", "registration", "reconstruction", "other")
EFFECT_KEYS = {"task", "metric", "measure", "without", "with", "change", "unit", "real_data", "comparison", "source",
               "note", "arm", "classifier"}
# what the `with` value of an effect row added to the real images, when a paper reports several augmentations (the
# arm names of the medzoo utility studies, so that a reproduction can set its own figures beside the paper's)
EFFECT_ARMS = ("classical", "synthetic", "classical+synthetic")
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
PAPER_FIELDS = {"key", "kind", "proposed", "derived", "unstated", "sources", *SOURCED_FIELDS}
DATASET_FIELDS = {"slug", "name", "synonyms", "organ", "modality", "n_images", "classes", "license", "url", "loader", "sources"}
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


def arxiv_doi(arxiv_id: str) -> str:
    """The DOI arXiv registers for a preprint: 10.48550/arxiv.<id> (lower case, without a version suffix)."""
    return ARXIV_DOI_PREFIX + re.sub(r"v\d+$", "", str(arxiv_id).strip().lower())


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


@dataclass
class Effect:
    """What a paper gained by adding synthetic images: one reported comparison (a structured row), or a free-text
    effect of the older form (only `text` set)."""

    text: str = ""  # the free-text form; for structured rows, empty (summary() writes one)
    task: str = ""  # downstream task, one of EFFECT_TASKS
    metric: str = ""  # metric vocabulary slug
    measure: str = ""  # the paper's own name of the measure, when the vocabulary has none or to be exact
    without: float | None = None  # value without synthetic data (the paper's baseline)
    with_: float | None = None  # value with synthetic data
    change: float | None = None  # the difference as the paper reports it (when it does not give both values)
    unit: str = ""  # '%' or '' (a fraction, a score)
    real_data: str = ""  # amount of real training data, as the paper states it
    comparison: str = ""  # the paper's own comparison: what the baseline and the augmented arm are
    source: str = ""  # URL of the record's source that shows the figures
    note: str = ""
    arm: str = ""  # one of EFFECT_ARMS when the paper reports several augmentations, else empty
    classifier: str = ""  # the downstream model as the paper names it, when the paper reports several

    @property
    def structured(self) -> bool:
        return not self.text

    @property
    def gain(self) -> float | None:
        """with - without, else the reported change (in the row's unit)."""
        if self.without is not None and self.with_ is not None:
            return round(self.with_ - self.without, 10)
        return self.change

    def summary(self) -> str:
        """One line: 'segmentation, Dice 0.86 -> 0.89 (+0.03): real + CycleGAN vs real only'."""
        if self.text:
            return self.text
        name = self.measure or self.metric
        u = self.unit
        if self.without is not None and self.with_ is not None:
            fig = f"{_num(self.without)}{u} -> {_num(self.with_)}{u}"
            if self.gain is not None:
                fig += f" ({self.gain:+g}{u})"
        elif self.with_ is not None:
            fig = f"{_num(self.with_)}{u}" + (f" ({self.change:+g}{u})" if self.change is not None else "")
        else:
            fig = f"{self.change:+g}{u}" if self.change is not None else "?"
        parts = [f"{self.task}, {name} {fig}" if self.task else f"{name} {fig}"]
        if self.comparison:
            parts.append(self.comparison)
        if self.real_data:
            parts.append(f"real data: {self.real_data}")
        return "; ".join(parts)


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
    effects: list[Effect]
    attributes: dict[str, str]
    relations: list[tuple[str, str]]  # (type, target DOI)
    sources: list[Source]
    derived: dict[str, str] = field(default_factory=dict)  # field -> rule (DERIVATIONS): filled by rule, not by a page
    unstated: list[str] = field(default_factory=list)  # required fields no checked source states (PRIMARY_REQUIRED)
    origin: str = "curated"  # ORIGINS: curated (catalog/data) or user (the user's own layer, catalog/sources.py)

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
        if not valid_source(str(s["url"])):
            raise err("sources", f"entry {i + 1}: url {s['url']!r} is neither an http(s) URL with a host nor a path "
                                 "under shared/")
        if ai_written(str(s["url"])):
            raise err("sources", f"entry {i + 1}: {s['url']!r} is a machine-written summary of the paper, not a source")
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


def _effects(raw: Any, metrics: Vocabulary, err: callable) -> list[Effect]:
    """Effect rows: mappings (structured) or texts (the older free-text form)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise err("effects", "must be a list of effect rows ({task, metric, without, with, ...}) or texts")
    out = []
    for i, e in enumerate(raw):
        where = f"entry {i + 1}"
        if isinstance(e, (str, int, float)) and not isinstance(e, bool):
            if str(e).strip():
                out.append(Effect(text=str(e).strip()))
            continue
        if not isinstance(e, dict):
            raise err("effects", f"{where} must be a mapping {{task, metric, without, with, ...}} or a text")
        unknown = sorted(str(k) for k in e if str(k) not in EFFECT_KEYS)
        if unknown:
            raise err("effects", f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(EFFECT_KEYS))}")

        def txt(k: str) -> str:
            v = e.get(k)
            if v is None:
                return ""
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise err("effects", f"{where}: {k} must be text")
            return str(v).strip()

        def num(k: str) -> float | None:
            v = e.get(k)
            if v is None or v == "":
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise err("effects", f"{where}: {k} must be a number (as the paper reports it, without the unit), "
                                     f"got {v!r}")
            return float(v)

        task = txt("task")
        if task not in EFFECT_TASKS:
            raise err("effects", f"{where}: task must be one of {', '.join(EFFECT_TASKS)}, got {task!r}")
        metric, measure = txt("metric"), txt("measure")
        if metric:
            metric = _resolve(metrics, [metric], lambda m: err("effects", f"{where}: {m}"))[0]
        if not metric and not measure:
            raise err("effects", f"{where} needs a metric (vocabulary term) or a measure (the paper's own name)")
        without, with_, change = num("without"), num("with"), num("change")
        if change is None and (without is None or with_ is None):
            raise err("effects", f"{where} needs `without` and `with` (values without and with synthetic data), "
                                 "or `change` when the paper reports only the difference")
        unit = txt("unit")
        if unit not in ("", "%"):
            raise err("effects", f"{where}: unit must be '%' or empty, got {unit!r}")
        comparison, source = txt("comparison"), txt("source")
        if not comparison:
            raise err("effects", f"{where} needs `comparison`: the paper's own baseline and augmented arms")
        if not source:
            raise err("effects", f"{where} needs `source`: the URL of the record's source that shows the figures")
        arm = txt("arm")
        if arm not in ("", *EFFECT_ARMS):
            raise err("effects", f"{where}: arm must be one of {', '.join(EFFECT_ARMS)}, got {arm!r}")
        out.append(Effect("", task, metric, measure, without, with_, change, unit, txt("real_data"), comparison, source,
                          txt("note"), arm, txt("classifier")))
    return out


def _derived(raw: Any, err: callable) -> dict[str, str]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise err("derived", "must be a mapping of field -> rule, e.g. {doi: arxiv}")
    out = {}
    for f, rule in raw.items():
        if str(f) not in DERIVATIONS:
            raise err("derived", f"{str(f)!r} cannot be derived by rule; derivable fields: {', '.join(DERIVATIONS)}")
        if not isinstance(rule, str) or rule not in DERIVATIONS[str(f)]:
            raise err("derived", f"unknown rule {rule!r} for {f}; rules: "
                                 + "; ".join(f"{r} = {what}" for r, what in DERIVATIONS[str(f)].items()))
        out[str(f)] = rule
    return out


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
            doi = normalise_doi(text["doi"])
        except ValueError as e:
            raise err("doi", str(e)) from None
        if doi != text["doi"]:
            raise err("doi", f"store the bare DOI in lower case: {doi}")
        text["doi"] = doi
    derived = _derived(data.get("derived"), err)
    if derived.get("doi") == "arxiv":
        if not text["arxiv"]:
            raise err("derived", "doi: arxiv needs the arxiv field (the arXiv id the DOI is derived from)")
        expected = arxiv_doi(text["arxiv"])
        if text["doi"] and text["doi"] != expected:
            raise err("doi", f"is derived by rule arxiv from arxiv {text['arxiv']!r}, so it must be {expected}")
        text["doi"] = expected
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
    effects = _effects(data.get("effects"), vocabs["metric"], err)
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
                      {str(k): str(v) for k, v in attrs.items()}, relations, sources, derived)
    filled = [f for f in TEXT_FIELDS if text[f]]
    filled += [f for f, v in (("authors", authors), ("year", year), ("effects", effects), ("attributes", attrs),
                              ("relations", relations), ("datasets", tags["dataset"])) if v]
    filled += [f for f, voc in TAG_FIELDS.items() if tags[voc]]
    sourced = rec.field_sources()
    for f, rule in derived.items():
        if f in sourced:
            raise err(f, f"is derived by rule {rule!r}, and a derived value is never credited to a page: remove "
                         f"{f!r} from the fields of {sourced[f][0].url}")
    missing = [f for f in filled if f not in sourced and f not in derived]
    if missing:
        raise err(missing[0], "is filled but no source lists it (add it to a source's fields, or leave it empty)")
    if text["doi"].startswith(ARXIV_DOI_PREFIX) and "doi" not in derived:
        bad = [s.url for s in sourced.get("doi", []) if not prints_arxiv_doi(s.url)]
        if bad:
            raise err("doi", f"an arXiv DOI credited to {bad[0]}, which does not print it: only arXiv abstract pages "
                             "do; mark it `derived: {doi: arxiv}` and remove doi from that source's fields")
    effect_sources = {s.url for s in sourced.get("effects", [])}
    for i, e in enumerate(effects):
        if e.structured and e.source not in effect_sources:
            raise err("effects", f"entry {i + 1}: source {e.source!r} is not one of this record's sources listing "
                                 "effects")
    unstated = _str_list(data.get("unstated"), lambda m: err("unstated", m))
    for f in unstated:
        if f not in PRIMARY_REQUIRED:
            raise err("unstated", f"{f!r} is not one of {', '.join(PRIMARY_REQUIRED)}")
        if tags[TAG_FIELDS[f]]:
            raise err("unstated", f"{f} is filled: remove it from unstated")
    rec.unstated = unstated
    if kind == "primary":
        for f in PRIMARY_REQUIRED:
            if not tags[TAG_FIELDS[f]] and f not in unstated:
                raise err(f, "a primary paper needs at least one term: fill it from a source that states it, declare "
                             f"`unstated: [{f}]` when no checked source does, or set the kind that fits "
                             f"({', '.join(k for k in KINDS if k != 'primary')})")
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
    missing = [f for f in (*filled, *(["loader"] if data.get("loader") else [])) if f not in sourced]
    if missing:
        raise err(missing[0], "is filled but no source lists it")
    return rec


@dataclass
class Corpus:
    """Every validated record of a data directory."""

    vocabs: dict[str, Vocabulary]
    datasets: list[DatasetRecord]
    papers: list[PaperRecord]

    def by_doi(self) -> dict[str, PaperRecord]:
        """Papers by DOI and by the arXiv DOI of their arXiv id (a preprint's DOI names its published version too)."""
        out = {arxiv_doi(p.text["arxiv"]): p for p in self.papers if p.text["arxiv"]}
        out.update({p.doi: p for p in self.papers if p.doi})
        return out


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
    for rec in papers:  # a preprint's arXiv DOI names the same paper as its published DOI
        if rec.text["arxiv"]:
            alias = arxiv_doi(rec.text["arxiv"])
            other = by_doi.get(alias)
            if other is not None and other is not rec:
                raise RecordError(rec.file, rec.key, "arxiv", f"arXiv {rec.text['arxiv']} is also the paper of record "
                                                               f"{other.key!r} ({other.file})")
            by_doi[alias] = rec
    for rec in papers:
        for kind, target in rec.relations:
            if target not in by_doi:
                raise RecordError(rec.file, rec.key, "relations", f"{kind} target {target} is not a catalog paper DOI")
    if not papers:
        raise CatalogError(f"no paper records under {data_dir / 'papers'}")
    return Corpus(vocabs, datasets, papers)
