"""Import BibTeX, RIS and PubMed XML into catalog records: merge duplicates, propose tags for review."""
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
    """What an import did: keys added, keys merged, and fields filled in merged records."""

    added: list[str] = field(default_factory=list)
    merged: dict[str, list[str]] = field(default_factory=dict)


def import_file(path: str | Path, source: str | None = None, data_dir: Path = DATA_DIR, kind: str = "related",
                checked: dt.date | None = None) -> ImportReport:
    """Merge an import file into data_dir/papers: duplicates (DOI, PMID or title) fill empty fields; the rest are added
    as `kind` (default related: a primary paper needs a verified organ, modality and architecture, and the importer
    only proposes tags)."""
    import yaml  # on use: `import catalog` stays light

    path = Path(path)
    entries = read_entries(path)
    vocabs = load_vocabularies(data_dir)
    source = source or f"file:{path.name}"
    checked = checked or dt.date.today()
    folder = data_dir / "papers"
    folder.mkdir(parents=True, exist_ok=True)
    existing: dict[str, tuple[Path, dict]] = {}
    index: dict[str, str] = {}
    for f in sorted(folder.glob("*.yaml")):
        rec = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        key = str(rec.get("key") or f.stem)
        existing[key] = (f, rec)
        for ident in (f"doi:{str(rec.get('doi') or '').lower()}", f"pmid:{rec.get('pmid') or ''}",
                      f"title:{normalise_title(rec.get('title', ''))}"):
            if not ident.endswith(":"):
                index[ident] = key
    report = ImportReport()
    for e in entries:
        idents = [f"doi:{e['doi']}", f"pmid:{e['pmid']}", f"title:{normalise_title(e['title'])}"]
        key = next((index[i] for i in idents if not i.endswith(":") and i in index), None)
        if key is None:
            key = _key_for(e, set(existing))
            rec = {"key": key, "kind": kind, **{k: v for k, v in e.items() if v}}
            proposed = propose_tags(f"{e['title']} {e['abstract']}", vocabs)
            if proposed:
                rec["proposed"] = proposed
            rec["sources"] = [{"url": source, "checked": checked.isoformat(), "fields": [k for k, v in e.items() if v]}]
            existing[key] = (folder / f"{key}.yaml", rec)
            report.added.append(key)
        else:
            file, rec = existing[key]
            filled = [k for k, v in e.items() if v and not rec.get(k)]
            if not filled:
                continue
            rec.update({k: e[k] for k in filled})
            rec.setdefault("sources", []).append({"url": source, "checked": checked.isoformat(), "fields": filled})
            report.merged.setdefault(key, []).extend(filled)
        for i in idents:
            if not i.endswith(":"):
                index[i] = key
    for key in [*report.added, *report.merged]:
        file, rec = existing[key]
        tmp = file.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(rec, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
        tmp.replace(file)
    return report
