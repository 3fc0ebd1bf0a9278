"""Import BibTeX, RIS and PubMed XML into catalog records: new papers go to the user's own layer (or a curator's
catalog/data) with proposed tags; papers the catalog holds already are matched and never changed by default."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from catalog.errors import CatalogError
from catalog.records import TAG_FIELDS, normalise_doi, normalise_title
from catalog.vocab import DATA_DIR, Vocabulary, load_vocabularies, normalise_term

FORMATS = ("bibtex", "ris", "pubmed")
PROPOSE = ("organs", "modalities", "architectures")  # tag fields an importer guesses from title and abstract
MAX_BYTES = 50 * 1024 * 1024


class ImportFormatError(CatalogError):
    """An import file that cannot be read: unknown format, broken encoding or malformed content."""


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise ImportFormatError(f"{path}: {len(data)} bytes is over the {MAX_BYTES}-byte import limit")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{path}: not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start}); "
                                "re-export the file as UTF-8") from None


def detect_format(path: Path, content: str) -> str:
    """bibtex, ris or pubmed, from the extension and then the content; ImportFormatError otherwise."""
    ext = path.suffix.lower()
    head = content.lstrip()[:2000]
    if ext in (".bib", ".bibtex") or re.match(r"@\w+\s*\{", head):
        return "bibtex"
    if ext in (".ris",) or re.match(r"TY  - ", head):
        return "ris"
    if ext in (".xml", ".nbib") and "PubmedArticle" in content[:100000] or "<PubmedArticleSet" in head:
        return "pubmed"
    raise ImportFormatError(f"{path}: unknown format; medzoo imports BibTeX (.bib), RIS (.ris) and PubMed XML (.xml)")


def _person(name: str) -> str:
    """'Last, First' -> 'First Last'; other forms unchanged."""
    name = re.sub(r"[{}]", "", name).strip()
    if "," in name:
        last, first = [s.strip() for s in name.split(",", 1)]
        return f"{first} {last}".strip()
    return name


def _clean(value: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[{}]", "", str(value or ""))).strip()


def _year(value: Any) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", str(value or ""))
    return int(m.group(1)) if m else None


def _entry(title: str, authors: list[str], year: int | None, **text: str) -> dict[str, Any]:
    return {"title": _clean(title).rstrip("."), "authors": [a for a in authors if a], "year": year,
            **{k: _clean(v) for k, v in text.items()}}


def parse_bibtex(content: str, path: Path) -> list[dict[str, Any]]:
    """Entries of a BibTeX file."""
    import bibtexparser

    lib = bibtexparser.parse_string(content)
    if lib.failed_blocks and not lib.entries:
        raise ImportFormatError(f"{path}: no BibTeX entry could be parsed ({len(lib.failed_blocks)} malformed blocks)")
    out = []
    for e in lib.entries:
        f = {k.lower(): v.value for k, v in e.fields_dict.items()}
        authors = [_person(a) for a in re.split(r"\s+and\s+", _clean(f.get("author", ""))) if a.strip()]
        out.append(_entry(f.get("title", ""), authors, _year(f.get("year")),
                          venue=f.get("journal") or f.get("booktitle", ""), volume=f.get("volume", ""),
                          issue=f.get("number", ""), pages=_clean(f.get("pages", "")).replace("--", "-"),
                          doi=f.get("doi", ""), pmid=f.get("pmid", ""), abstract=f.get("abstract", ""),
                          url=f.get("url", "")))
        out[-1]["_types"] = [_clean(f[k]) for k in ("type", "document_type", "type_of_work") if f.get(k)]
    return out


def parse_ris(content: str, path: Path) -> list[dict[str, Any]]:
    """Entries of a RIS file."""
    import rispy

    try:
        entries = rispy.loads(content)
    except Exception as e:  # noqa: BLE001 - rispy raises bare IOError/ValueError kinds
        raise ImportFormatError(f"{path}: malformed RIS: {e}") from None
    out = []
    for e in entries:
        pages = "-".join(p for p in (e.get("start_page"), e.get("end_page")) if p)
        out.append(_entry(e.get("title") or e.get("primary_title", ""),
                          [_person(a) for a in e.get("authors", []) or e.get("first_authors", [])],
                          _year(e.get("year") or e.get("publication_year")),
                          venue=e.get("journal_name") or e.get("secondary_title") or e.get("alternate_title3", ""),
                          volume=e.get("volume", ""), issue=e.get("number", ""), pages=pages, doi=e.get("doi", ""),
                          pmid="", abstract=e.get("abstract", ""), url=(e.get("urls") or [""])[0]))
        out[-1]["_types"] = [_clean(e[k]) for k in ("type_of_work",) if e.get(k)]
    return out


def parse_pubmed(content: str, path: Path) -> list[dict[str, Any]]:
    """Entries of a PubMed XML export (PubmedArticleSet); parsed without entity expansion."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(content.encode("utf-8"))
    except (ElementTree.ParseError, DefusedXmlException) as e:
        raise ImportFormatError(f"{path}: malformed or unsafe PubMed XML: {e}") from None
    out = []
    for art in root.iter("PubmedArticle"):
        cit = art.find("MedlineCitation")
        a = cit.find("Article") if cit is not None else None
        if a is None:
            continue
        authors = []
        for au in a.findall("AuthorList/Author"):
            name = " ".join(t for t in (au.findtext("ForeName"), au.findtext("LastName")) if t) or au.findtext("CollectiveName")
            authors.append(name or "")
        abstract = " ".join(
            (f"{t.get('Label')}: " if t.get("Label") else "") + "".join(t.itertext()) for t in a.findall("Abstract/AbstractText"))
        doi = next((i.text for i in art.findall("PubmedData/ArticleIdList/ArticleId") if i.get("IdType") == "doi"), None)
        doi = doi or next((i.text for i in a.findall("ELocationID") if i.get("EIdType") == "doi"), "")
        ji = a.find("Journal/JournalIssue")
        year = _year(ji.findtext("PubDate/Year") or ji.findtext("PubDate/MedlineDate")) if ji is not None else None
        out.append(_entry("".join(a.find("ArticleTitle").itertext()) if a.find("ArticleTitle") is not None else "",
                          authors, year, venue=a.findtext("Journal/Title") or "",
                          volume=ji.findtext("Volume") if ji is not None else "",
                          issue=ji.findtext("Issue") if ji is not None else "",
                          pages=a.findtext("Pagination/MedlinePgn") or "", doi=doi or "",
                          pmid=cit.findtext("PMID") or "", abstract=abstract, url=""))
        out[-1]["_types"] = [t.text or "" for t in a.findall("PublicationTypeList/PublicationType")]
    if not out:
        raise ImportFormatError(f"{path}: no PubmedArticle with an Article element found")
    return out


PARSERS = {"bibtex": parse_bibtex, "ris": parse_ris, "pubmed": parse_pubmed}


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    """Normalised entries of an import file: title, authors, year, venue, volume, issue, pages, doi, pmid, abstract."""
    path = Path(path)
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file")
    content = _decode(path)
    entries = PARSERS[detect_format(path, content)](content, path)
    for e in entries:
        if not e["title"]:
            raise ImportFormatError(f"{path}: an entry has no title ({e.get('doi') or 'no DOI'})")
        if e["doi"]:
            try:
                e["doi"] = normalise_doi(e["doi"])
            except ValueError as err:
                raise ImportFormatError(f"{path}: entry {e['title'][:60]!r}: {err}") from None
        if e["pmid"] and not e["pmid"].isdigit():
            raise ImportFormatError(f"{path}: entry {e['title'][:60]!r}: PMID {e['pmid']!r} is not a number")
    return entries


def propose_tags(text: str, vocabs: dict[str, Vocabulary]) -> dict[str, list[str]]:
    """Organ, modality and architecture terms whose name or synonym occurs as whole words in the text."""
    norm = f" {normalise_term(re.sub(r'[^0-9A-Za-z]+', ' ', text))} "

    def occurs(alias: str) -> bool:
        if len(alias) <= 3:  # short forms (CT, US, MR) count only as upper-case words, never 'us' or 'mr.'
            return re.search(rf"(?<![0-9A-Za-z]){re.escape(alias.upper())}(?![0-9A-Za-z])", text) is not None
        return f" {normalise_term(re.sub(r'[^0-9A-Za-z]+', ' ', alias))} " in norm

    out = {}
    for fld in PROPOSE:
        vocab = vocabs[TAG_FIELDS[fld]]
        hits = [t.slug for t in vocab.terms.values() if any(occurs(a) for a in [t.slug, t.name, *t.synonyms])]
        if hits:
            out[fld] = sorted(hits)
    return out


REVIEW_TYPES = {"review", "systematic review", "meta-analysis", "scoping review", "literature review"}
REVIEW_WORDS = re.compile(r"\b(reviews?|surveys?|meta[- ]?analys[ie]s|scoping study)\b", re.I)


def is_review(entry: dict[str, Any]) -> bool:
    """A review article, by its declared publication type (PubMed, Scopus, Web of Science exports) or by its title or
    venue ("... : a review", "a survey of ...", "meta-analysis", "Annual Review of ...")."""
    if any(str(t).strip().lower() in REVIEW_TYPES for t in entry.get("_types") or []):
        return True
    return bool(REVIEW_WORDS.search(entry.get("title", "")) or REVIEW_WORDS.search(entry.get("venue", "")))


def _key_for(entry: dict[str, Any], taken: set[str]) -> str:
    first = re.sub(r"[^a-z0-9]", "", (entry["authors"][0].split()[-1] if entry["authors"] else "anon").lower()) or "anon"
    words = [w for w in re.findall(r"[a-z0-9]+", entry["title"].lower()) if len(w) > 3][:3]
    base = "-".join([f"{first}{entry['year'] or ''}", *words])[:60].strip("-")
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


@dataclass
class ImportReport:
    """What an import did. added: keys of new records written to `folder`; reviews: those of them imported as
    reviews. An entry naming a record that exists already (same DOI, PMID or title, in the curated catalog or the
    user's layer) never changes it by default: new_values (fields the record lacks) and conflicts (fields it has with
    another value: record's value, file's value) are only reported. With update (and a source URL) they are written:
    merged lists the fields written per key. read_only: keys that matched records of a layer this import does not
    write (the curated catalog, when the target is the user layer)."""

    folder: Path | None = None
    added: list[str] = field(default_factory=list)
    reviews: list[str] = field(default_factory=list)
    existing: dict[str, str] = field(default_factory=dict)  # key -> layer (curated | user) of each matched record
    new_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    merged: dict[str, list[str]] = field(default_factory=dict)
    read_only: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as lines for the command line."""
        out = [f"added {len(self.added)} papers to {self.folder / 'papers' if self.folder else '-'}"
               + (f" ({len(self.reviews)} of them as review)" if self.reviews else "")
               + f"; {len(self.existing)} already in the catalog"
               + (f", {len(self.merged)} of them updated" if self.merged else "")]
        out += [f"  + {k}" + (" (review)" if k in self.reviews else "") for k in self.added]
        for k in self.existing:
            new, bad = self.new_values.get(k, {}), self.conflicts.get(k, {})
            if k in self.merged:
                out.append(f"  ~ {k}: wrote {', '.join(self.merged[k])}")
            elif new or bad:
                parts = [f"new {f}: {_short(v)}" for f, v in new.items()]
                parts += [f"conflicting {f}: catalog {_short(a)} / file {_short(b)}" for f, (a, b) in bad.items()]
                out.append(f"  = {k} ({self.existing[k]}, not changed): " + "; ".join(parts))
        if self.read_only:
            out.append(f"  not written: {', '.join(self.read_only)} belong to the curated catalog, which this import "
                       "only reads; curators pass --data-dir catalog/data in a clone")
        elif any(k not in self.merged for k in [*self.new_values, *self.conflicts]):
            out.append("  existing records are never changed by default; a curator writes these values with "
                       "--update --source URL (and --data-dir catalog/data for curated records)")
        return out


def _short(v: Any) -> str:
    text = "; ".join(v) if isinstance(v, list) else str(v)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _same(fld: str, a: Any, b: Any) -> bool:
    """Whether a record's value and a file's value say the same (case, spacing and punctuation of titles aside)."""
    if fld == "title":
        return normalise_title(a) == normalise_title(b)
    if fld == "authors":
        return [normalise_title(x) for x in a or []] == [normalise_title(x) for x in b or []]
    if fld == "year":
        return str(a).strip() == str(b).strip()
    if fld == "pages":
        a, b = str(a).replace("--", "-"), str(b).replace("--", "-")
    return re.sub(r"\s+", " ", str(a)).strip().lower() == re.sub(r"\s+", " ", str(b)).strip().lower()


def _is_checkout_data(folder: Path) -> bool:
    """True when `folder` is the package's own catalog/data inside an installed package (not a source checkout)."""
    try:
        same = folder.resolve() == DATA_DIR.resolve()
    except OSError:
        return False
    return same and not (DATA_DIR.parents[1] / "pyproject.toml").is_file()


def _load_layer(folder: Path) -> dict[str, tuple[Path, dict]]:
    import yaml

    out = {}
    for f in sorted((folder / "papers").glob("*.yaml")) if (folder / "papers").is_dir() else []:
        rec = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        out[str(rec.get("key") or f.stem)] = (f, rec)
    return out


def _idents(rec: dict) -> list[str]:
    out = [f"doi:{str(rec.get('doi') or '').lower()}", f"pmid:{rec.get('pmid') or ''}",
           f"title:{normalise_title(rec.get('title', ''))}"]
    return [i for i in out if not i.endswith(":")]


def _write_record(file: Path, rec: dict) -> None:
    import yaml

    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(yaml.safe_dump(rec, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    tmp.replace(file)


def import_file(path: str | Path, source: str | None = None, data_dir: Path | None = None, kind: str = "related",
                checked: dt.date | None = None, update: bool = False, curated_dir: Path = DATA_DIR) -> ImportReport:
    """Add the papers of a BibTeX, RIS or PubMed XML file as records in `data_dir` (default: the user layer,
    catalog.sources.user_catalog_dir(); never the installed package). A folder holding vocab/ is a curated catalog
    (a checkout's catalog/data) and is both matched and written; any other folder is a user layer, matched together
    with the curated catalog at `curated_dir`, which is only read.

    New papers are added as `kind` (default related: a primary paper needs a verified organ, modality and
    architecture, and the importer only proposes tags); a review article is added as `review` whatever `kind` says.
    An entry naming an existing record (DOI, PMID or title) never changes it unless `update` is set, which needs
    `source`, the http(s) URL the values were checked against: then the record's missing and conflicting fields are
    written from the file, and a conflicting field's old sources no longer list it."""
    from catalog.records import KINDS
    from catalog.sourcerank import valid_source
    from catalog.sources import user_catalog_dir

    path = Path(path)
    if kind not in KINDS:
        raise CatalogError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if update and not (source and re.match(r"https?://", source) and valid_source(source)):
        raise CatalogError("--update writes into existing records, so it needs --source: the http(s) URL the file's "
                           "values were checked against")
    target = Path(data_dir) if data_dir is not None else user_catalog_dir()
    if _is_checkout_data(target):
        raise CatalogError(f"{target} is the catalog inside the installed package, which imports never change; import "
                           "into your user catalog (the default) or a source checkout's catalog/data")
    entries = read_entries(path)
    curated = target if (target / "vocab").is_dir() else curated_dir
    vocabs = load_vocabularies(curated)
    source = source or "file:" + (re.sub(r"[\s/]+", "_", path.name) or "import")
    checked = checked or dt.date.today()
    layers = {"curated": _load_layer(curated)}
    if curated.resolve() != target.resolve():
        layers["user"] = _load_layer(target)
    existing = {k: (layer, f, rec) for layer, recs in layers.items() for k, (f, rec) in recs.items()}
    index = {i: k for k, (_, _, rec) in existing.items() for i in _idents(rec)}
    folder = target / "papers"
    report = ImportReport(folder=target)
    dirty: dict[str, tuple[Path, dict]] = {}
    for e in entries:
        values = {k: v for k, v in e.items() if v and not k.startswith("_")}
        idents = _idents(values)
        key = next((index[i] for i in idents if i in index), None)
        if key is None:
            key = _key_for(e, set(existing))
            review = is_review(e)
            rec = {"key": key, "kind": "review" if review else kind, **values}
            proposed = propose_tags(f"{e['title']} {e['abstract']}", vocabs)
            if proposed:
                rec["proposed"] = proposed
            rec["sources"] = [{"url": source, "checked": checked.isoformat(), "fields": list(values)}]
            existing[key] = ("user" if "user" in layers else "curated", folder / f"{key}.yaml", rec)
            dirty[key] = (folder / f"{key}.yaml", rec)
            report.added.append(key)
            report.reviews += [key] if review else []
            index.update((i, key) for i in idents)
            continue
        layer, file, rec = existing[key]
        if key in report.added:
            continue  # the file names one of its own new papers twice: the first entry wins
        report.existing.setdefault(key, layer)
        derived = set((rec.get("derived") or {}).keys())
        for f, v in values.items():
            if f in derived:  # filled by rule from another field (catalog/records.py: DERIVATIONS), never from a file
                continue
            if not rec.get(f):
                report.new_values.setdefault(key, {})[f] = v
            elif not _same(f, rec[f], v):
                report.conflicts.setdefault(key, {})[f] = (rec[f], v)
        index.update((i, key) for i in idents)
    for key in list(report.existing):
        layer, file, rec = existing[key]
        todo = {**report.new_values.get(key, {}), **{f: v for f, (_, v) in report.conflicts.get(key, {}).items()}}
        if not update or not todo:
            continue
        if file.parent.resolve() != folder.resolve():
            report.read_only.append(key)
            continue
        for f in report.conflicts.get(key, {}):  # the old sources confirmed the old value, not the new one
            for s in rec.get("sources") or []:
                s["fields"] = [x for x in s.get("fields") or [] if x != f]
            rec["sources"] = [s for s in rec.get("sources") or [] if s.get("fields")]
        rec.update(todo)
        rec.setdefault("sources", []).append({"url": source, "checked": checked.isoformat(), "fields": list(todo)})
        report.merged[key] = list(todo)
        dirty[key] = (file, rec)
    if dirty:
        folder.mkdir(parents=True, exist_ok=True)
    for file, rec in dirty.values():
        _write_record(file, rec)
    return report
