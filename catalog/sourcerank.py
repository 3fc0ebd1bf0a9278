"""How much a source counts: every source URL of a record has a class and a tier (primary or secondary).

Primary sources are the version of record and its direct indexes: the publisher's page (journal, proceedings,
conference site), PubMed/PMC, arXiv (arxiv.org and its own mirrors export.arxiv.org, ar5iv), DBLP, and the paper's
own code repository (a repository file whose repository is the record's `code_url`). Everything else is secondary:
aggregators and mirrors (tomesphere, scholarfeed, peeref, paperswithcode, deeplearn.org, emergentmind, semantic
readers...), curated lists on GitHub, institutional repositories, slide and PDF mirrors. A fact (one field of one
record) whose sources are all secondary is marked `secondary only` in the provenance and on the paper's page.

A field derived by rule (`derived:` in the record, e.g. the arXiv DOI from the arXiv id) is neither: its tier is
`derived` and it rests on the sources of the field it is derived from.

Pure functions on strings: no I/O, no catalog imports above the standard library, so any layer may use them.
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

PRIMARY, SECONDARY, DERIVED = "primary", "secondary", "derived"
TIERS = (PRIMARY, SECONDARY, DERIVED)

# host (or host suffix, matched at a dot boundary) -> class; the first match wins
PUBMED_HOSTS = ("pubmed.ncbi.nlm.nih.gov", "www.pubmed.gov", "pubmed.gov", "pmc.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov",
                "europepmc.org")
ARXIV_HOSTS = ("arxiv.org", "export.arxiv.org", "pdf.arxiv.org", "ar5iv.labs.arxiv.org", "ar5iv.org")
DBLP_HOSTS = ("dblp.org", "dblp.uni-trier.de")
PUBLISHER_HOSTS = (
    # journals and publishers
    "doi.org", "dx.doi.org", "nature.com", "springer.com", "springeropen.com", "biomedcentral.com", "springermedizin.de",
    "springerprofessional.de", "sciencedirect.com", "linkinghub.elsevier.com", "cell.com", "thelancet.com",
    "ieeexplore.ieee.org", "computer.org", "mdpi.com", "frontiersin.org", "plos.org", "wiley.com", "iop.org",
    "iopscience.iop.org", "spiedigitallibrary.org", "arvojournals.org", "snmjournals.org", "jmir.org", "acm.org",
    "dl.acm.org", "hindawi.com", "tandfonline.com", "informahealthcare.com", "sagepub.com", "oup.com",
    "academic.oup.com", "rsna.org", "pubs.rsna.org", "ajronline.org", "bmj.com", "jamanetwork.com", "karger.com",
    "thieme-connect.com", "degruyter.com", "techscience.com", "thesai.org", "aimspress.com", "jmssjournal.net",
    "openbiomedicalengineeringjournal.com", "benthamscience.com", "eurekaselect.com", "biomedres.info",
    "scitepress.org", "worldscientific.com", "aapm.onlinelibrary.wiley.com", "onlinelibrary.wiley.com",
    "journals.lww.com", "ahajournals.org", "science.org", "pnas.org", "elifesciences.org", "peerj.com",
    # proceedings of conferences (the version of record for ML papers)
    "proceedings.mlr.press", "papers.nips.cc", "papers.neurips.cc", "proceedings.neurips.cc", "openreview.net",
    "openaccess.thecvf.com", "aaai.org", "ojs.aaai.org", "ijcai.org", "aclanthology.org", "miccai.org",
    "conferences.miccai.org",
)
CODE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "huggingface.co")
CLASSES = ("publisher", "pubmed", "arxiv", "dblp", "repository", "code", "stored", "web")
PRIMARY_CLASSES = ("publisher", "pubmed", "arxiv", "dblp", "repository")


def host(url: str) -> str:
    """Lower-case host of a URL ('' for a path)."""
    try:
        return (urlparse(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _matches(h: str, hosts: tuple[str, ...]) -> bool:
    return any(h == x or h.endswith("." + x) for x in hosts)


def _repo(url: str) -> tuple[str, str] | None:
    """(host, owner/name) of a code-hosting URL, lower case; None for other URLs."""
    h = host(url)
    if not _matches(h, CODE_HOSTS):
        return None
    parts = [p for p in urlparse(url.strip()).path.split("/") if p]
    if len(parts) < 2:
        return None
    return h.removeprefix("www."), f"{parts[0]}/{parts[1].removesuffix('.git')}".lower()


def is_stored_path(url: str) -> bool:
    """A path of a stored file under shared/ (or ../shared/: a stored page, the data README) rather than a URL."""
    return "://" not in url and bool(re.match(r"^(\.\./)?shared/[^\s]+$", url.strip()))


def classify(url: str, code_url: str = "") -> str:
    """The class of a source: publisher, pubmed, arxiv, dblp, repository (the paper's own code repository, named by
    the record's code_url), code (any other repository: curated lists, re-implementations), stored (a stored copy of
    a page under shared/sources/, whose origin is not recorded) or web (every other site: aggregators, mirrors,
    institutional pages)."""
    if is_stored_path(url):
        return "stored"
    h = host(url)
    if _matches(h, PUBMED_HOSTS):
        return "pubmed"
    if _matches(h, ARXIV_HOSTS):
        return "arxiv"
    if _matches(h, DBLP_HOSTS):
        return "dblp"
    repo = _repo(url)
    if repo is not None:
        own = _repo(code_url) if code_url else None
        return "repository" if own is not None and own == repo else "code"
    if _matches(h, PUBLISHER_HOSTS):
        return "publisher"
    return "web"


def tier(url: str, code_url: str = "") -> str:
    """primary or secondary (see the module docstring)."""
    return PRIMARY if classify(url, code_url) in PRIMARY_CLASSES else SECONDARY


def prints_arxiv_doi(url: str) -> bool:
    """Whether a source of this kind prints the arXiv DOI (10.48550/arXiv.ID): arXiv's own abstract pages do
    ('arXiv-issued DOI via DataCite'); aggregators and lists that show one made it up from the arXiv id."""
    return classify(url) == "arxiv" and "/abs/" in url


# sites whose text about a paper is written by a language model (reviews, TL;DRs): never a source of a fact
AI_WRITTEN_HOSTS = ("themoonlight.io",)


def ai_written(url: str) -> bool:
    """True for a page of a site that publishes machine-written summaries of papers (AI_WRITTEN_HOSTS)."""
    h = host(url)
    return any(h == x or h.endswith("." + x) for x in AI_WRITTEN_HOSTS)


def valid_source(url: str) -> bool:
    """An http(s) URL with a host, a stored-file path under shared/, or `file:NAME` (an imported file)."""
    url = url.strip()
    if is_stored_path(url) or re.fullmatch(r"file:[^\s/]+", url):
        return True
    try:
        u = urlparse(url)
    except ValueError:
        return False
    return (u.scheme in ("http", "https") and bool(u.hostname) and not url.startswith(f"{u.scheme}:///")
            and not re.search(r"\s", url))
