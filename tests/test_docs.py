"""The documentation site: strict offline build, generated pages, broken links fail, and a browser walk through it."""
from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, local_only

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
QUIET = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
DCGAN = "dcgan.pneumoniamnist_28"


def build(site: Path, db: str, registry: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    """`medzoo docs build` (or mkdocs on another config) into `site`, with this catalog database and zoo registry."""
    env = {**os.environ, **QUIET, "MEDZOO_DB": db, "MEDZOO_REGISTRY": str(registry)}
    if config is None:
        cmd = [sys.executable, "-m", "medzoo", "docs", "build", "--site", str(site), "--db", db]
    else:
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def paper_keys(db: str) -> dict[str, str]:
    """DOI -> key of every catalog paper with a DOI."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT doi, key FROM paper WHERE doi IS NOT NULL"))


@pytest.fixture(scope="module")
def zoo_copy(tiny_zoo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny registry whose DCGAN folder has a sample grid."""
    root = tmp_path_factory.mktemp("docs-zoo")
    shutil.copy(tiny_zoo_registry, root / "models.json")
    shutil.copytree(tiny_zoo_registry.parent / "pretrained", root / "pretrained")
    folder = root / "pretrained" / DCGAN
    if not (folder / "samples.png").is_file():
        cmd = [sys.executable, "-m", "reproductions.cli", "samples", str(folder), "--out", str(folder / "samples.png")]
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return root / "models.json"


@pytest.fixture(scope="module")
def site(real_db: str, zoo_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real catalog and the tiny zoo built into a site by `medzoo docs build`."""
    out = tmp_path_factory.mktemp("site") / "site"
    res = build(out, real_db, zoo_copy)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


class _Loads(HTMLParser):
    """Collects every attribute of a non-link tag that points at another host."""

    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            return
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster") and re.match(r"\s*(https?:)?//", value or ""):
                self.remote.append(f"<{tag} {name}={value}>")


def test_strict_build_generates_every_page(site: Path, real_db: str) -> None:
    with sqlite3.connect(real_db) as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM paper")]
        organs = [s for (s,) in conn.execute("SELECT slug FROM organ")]
    assert len(keys) > 100
    assert all((site / "papers" / k / "index.html").is_file() for k in keys)
    assert all((site / "organs" / s / "index.html").is_file() for s in organs)
    for section in ("modalities", "datasets", "architectures", "losses", "metrics", "tasks", "models", "api"):
        assert (site / section / "index.html").is_file(), section
    stats = (site / "statistics" / "index.html").read_text()
    for by in ("organ", "year", "dataset", "loss", "metric", "modality"):
        assert (site / "stats" / f"{by}.png").stat().st_size > 1000
        alt = rf"Bar chart of the number of papers per {by}\. Most papers: [^\"]+"
        assert re.search(rf'<img alt="{alt}" src="../stats/{by}.png"', stats), by
    with sqlite3.connect(real_db) as conn:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        measured = "evaluation" in tables and conn.execute("SELECT count(*) FROM evaluation").fetchone()[0] > 0
    assert ("<th>Rank</th>" if measured else "Not yet measured") in (site / "leaderboard" / "index.html").read_text()
    coverage = (site / "coverage" / "index.html").read_text()
    assert "Papers without a DOI" in coverage and "<code>abstract</code>" in coverage
    cli = (site / "cli" / "index.html").read_text()
    assert "medzoo docs build" in cli and "--site" in cli and "medzoo catalog build" in cli
    assert 'id="catalog.query.papers"' in (site / "api" / "catalog.query" / "index.html").read_text()
    study = (site / "utility" / "index.html").read_text()
    assert "Gain over no augmentation" in study and "Provenance" in study
    assert "Memorization" in study and "Feature-space sanity" in study and "earlier, flawed protocol" in study
    assert (site / "study" / "utility_v1_pneumoniamnist.png").stat().st_size > 1000  # the flawed rows, labelled
    assert "Benchmark results" in (site / "benchmarks" / "index.html").read_text()
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any(d["location"] == "papers/radford2016-dcgan/" for d in index["docs"])


def test_model_and_paper_pages_link_each_other(site: Path, real_db: str) -> None:
    model = (site / "models" / DCGAN / "index.html").read_text()
    assert (site / "models" / DCGAN / "samples.png").is_file()
    assert re.search(r'<img alt="Sample grid of dcgan\.pneumoniamnist_28: [^"]+"[^>]* src="samples.png"', model)
    assert re.search(r"Not yet measured|Measured by <code>medzoo eval</code>", model)
    assert f'zoo.load("{DCGAN}")' in html.unescape(re.sub(r"<[^>]+>", "", model))
    key = paper_keys(real_db)["10.48550/arxiv.1511.06434"]
    assert f'href="../../papers/{key}/"' in model
    paper = (site / "papers" / key / "index.html").read_text()
    assert f'href="../../models/{DCGAN}/"' in paper and "Provenance" in paper


def test_site_loads_nothing_from_other_hosts(site: Path) -> None:
    remote = []
    for page in site.rglob("*.html"):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        remote += [f"{page.relative_to(site)}: {r}" for r in parser.remote]
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        remote += [f"{css.name}: {m}" for m in re.findall(r"(?:url\(|@import\s)\s*[\"']?(?:https?:)?//[^)\"']+", text)]
    assert not remote, "\n".join(remote[:20])
    paper = (site / "papers" / "radford2016-dcgan" / "index.html").read_text()
    assert '<a href="https://doi.org/10.48550/arxiv.1511.06434">' in paper


def unmeasured(db: str, tmp_path: Path) -> str:
    """A copy of a catalog database without evaluation rows."""
    copy = tmp_path / "unmeasured.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'evaluation'").fetchone():
            conn.execute("DELETE FROM evaluation")
    return str(copy)


def test_missing_optional_fields_render_unknown(fixture_db: str, tmp_path: Path) -> None:
    res = build(tmp_path / "site", unmeasured(fixture_db, tmp_path), tmp_path / "no-registry.json")
    assert res.returncode == 0, res.stdout + res.stderr
    page = (tmp_path / "site" / "papers" / "fixture-d" / "index.html").read_text()
    for field in ("Authors", "Venue", "DOI", "PMID", "arXiv"):
        assert re.search(rf"<td>{field}</td>\s*<td><em>unknown</em></td>", page), field
    assert "No abstract recorded" in page and "No zoo model reproduces this paper yet" in page
    assert "No model is registered yet" in (tmp_path / "site" / "models" / "index.html").read_text()
    assert "Not yet measured" in (tmp_path / "site" / "leaderboard" / "index.html").read_text()


def test_broken_internal_link_fails_the_strict_build(fixture_db: str, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(REPO / "docs", copy / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "docs" / "getting-started.md", "a", encoding="utf-8") as f:
        f.write("\nSee [the missing page](no-such-page.md).\n")
    res = build(tmp_path / "site", fixture_db, tmp_path / "no-registry.json", config=copy / "mkdocs.yml")
    log = res.stdout + res.stderr
    assert res.returncode != 0, log
    assert "contains a link 'no-such-page.md', but the target is not found" in log and "strict mode" in log


def test_leaderboard_ranks_models_and_lists_floors_unranked(fixture_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "docs"))
    import pandas as pd
    from sitegen import reports, results
    from sitegen.data import load_catalog

    row = {"dataset": "fixture-set", "metric": "fid", "n": 100, "n_real": 50, "seed": 0, "features": "f",
           "reference": "test"}
    rows = pd.DataFrame([
        {**row, "model_id": "old.fixture", "kind": "model", "value": 9.0, "recorded_at": "2026-01-01T00:00:00+00:00"},
        {**row, "model_id": "old.fixture", "kind": "model", "value": 30.0, "recorded_at": "2026-02-01T00:00:00+00:00"},
        {**row, "model_id": "new.fixture", "kind": "model", "value": 20.0, "recorded_at": "2026-01-01T00:00:00+00:00"},
        {**row, "model_id": "real.fixture", "kind": "floor", "value": 1.0, "recorded_at": "2026-01-01T00:00:00+00:00"},
    ])
    page = reports.leaderboard(results.current(rows), load_catalog(fixture_db), [])
    assert "## FID on [Fixture set](datasets/fixture-set.md)" in page and "Lower is better" in page
    lines = [ln for ln in page.splitlines() if ".fixture" in ln]
    assert [ln.split("|")[1].strip() for ln in lines] == ["", "1", "2"]  # the floor first, unranked; latest rows only
    assert "new.fixture" in lines[1] and "30" in lines[2] and "| 9 |" not in page


@pytest.fixture(scope="session")
def sync_playwright():  # noqa: ANN201 - playwright's factory
    """Playwright's sync API; skip (fail when MEDZOO_REQUIRE_BROWSER=1) before any build if it or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright as api
    except ImportError:
        api = None
    missing = "the playwright package" if api is None else None if CHROMIUM.is_file() else str(CHROMIUM)
    if missing:
        if os.environ.get("MEDZOO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required (MEDZOO_REQUIRE_BROWSER=1) but {missing} is missing")
        pytest.skip(f"{missing} is missing (apt-get install chromium; pip install playwright)")
    return api


@pytest.fixture()
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on a random loopback port."""
    handler = functools.partial(type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
                                directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join()


def search_word(title: str, titles: list[str]) -> str:
    """The word of `title` that the fewest other titles contain (longest first on ties)."""
    words = {w for w in re.findall(r"[A-Za-z]{6,}", title)}
    return min(sorted(words, key=len, reverse=True), key=lambda w: sum(w.lower() in t.lower() for t in titles))


@pytest.mark.browser
def test_search_paper_model_in_chromium(sync_playwright, served: str, real_db: str) -> None:  # noqa: ANN001
    key = paper_keys(real_db)["10.48550/arxiv.1511.06434"]
    with sqlite3.connect(real_db) as conn:
        titles = dict(conn.execute("SELECT key, title FROM paper"))
    word = search_word(titles[key], list(titles.values()))
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: ARTIFACTS / f"docs-{name}.png" for name in ("home", "paper", "model")}
    errors: list[str] = []
    outside: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", local_only(served, outside))
            page.goto(served, wait_until="networkidle")
            page.screenshot(path=shots["home"], full_page=True, animations="disabled")

            page.locator("input.md-search__input").click()
            page.keyboard.type(word)
            hit = page.locator(f'a.md-search-result__link[href*="papers/{key}/"]').first
            hit.wait_for(timeout=30_000)
            hit.click()
            page.wait_for_url(f"**/papers/{key}/**")
            page.wait_for_load_state("networkidle")
            assert page.locator("article h1").first.inner_text().removesuffix("¶").strip() == titles[key]
            page.screenshot(path=shots["paper"], full_page=True, animations="disabled")

            page.locator(f'article a[href*="models/{DCGAN}/"]').first.click()
            page.wait_for_url(f"**/models/{DCGAN}/")
            page.wait_for_load_state("networkidle")
            grid = page.locator("img.mz-samples")
            assert grid.get_attribute("alt").startswith(f"Sample grid of {DCGAN}")
            assert grid.evaluate("img => img.complete && img.naturalWidth") > 0
            page.screenshot(path=shots["model"], full_page=True, animations="disabled")
        finally:
            browser.close()
    for path in shots.values():
        print(f"screenshot: {path}")
    assert not errors, errors
    assert not outside, outside


def test_gallery_card_shows_interval_and_memorization_verdict(fixture_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "docs"))
    from dataclasses import replace

    import pandas as pd
    from sitegen import model_pages
    from sitegen.data import load_catalog
    from sitegen.models import Model
    from zoo.registry import ModelEntry

    entry = ModelEntry(model_id="dcgan.fixture_28", family="dcgan", arch="dcgan", dataset="fixture-set", organ="liver",
                       modality="ct", task="unconditional-synthesis", resolution=28, channels=1, num_classes=0,
                       class_names=[], license="cc-by-4.0", papers=[], params=1, hub_repo="medzoo/dcgan.fixture_28",
                       revision=None, files={}, extra={"memorization": {"verdict": "no evidence of copying"}})
    row = {"model_id": "dcgan.fixture_28", "kind": "model", "metric": "fid", "features": "medzoo-resnet18",
           "reference": "test", "n": 100, "n_real": 50, "seed": 0}
    measured = pd.DataFrame([{**row, "value": 2.5, "facts": json.dumps({"ci_low": 2.1, "ci_high": 2.9})},
                             {**row, "value": 7.0, "features": "inception", "facts": "{}"}])
    cat = load_catalog(fixture_db)
    card = model_pages.gallery_card(Model(entry, None, b"png"), cat, measured, "models/index.md")
    assert "FID **2.5** (95% CI 2.1-2.9)" in card and "medzoo-resnet18 features" in card  # the project's feature space
    assert "Memorization: **no evidence of copying**" in card and "(dcgan.fixture_28/samples.png)" in card
    bare = model_pages.gallery_card(Model(replace(entry, extra={}), None, None), cat, measured.iloc[1:], "models/index.md")
    assert "FID **7**" in bare and "95% CI" not in bare and "*not checked yet*" in bare and "No sample grid yet" in bare


@pytest.mark.browser
def test_model_gallery_in_chromium(sync_playwright, served: str, zoo_copy: Path) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "docs-gallery.png"
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served + "models/", wait_until="networkidle")
            cards = page.locator(".mz-gallery .mz-card")
            ids = cards.evaluate_all("cs => cs.map(c => c.dataset.model)")
            assert sorted(ids) == sorted(json.loads(zoo_copy.read_text()))  # a card per registered model
            assert page.locator("article h2", has_text="Lung").count() == 1  # grouped by organ
            card = page.locator(f'.mz-card[data-model="{DCGAN}"]')
            assert card.locator("img.mz-thumb").evaluate("img => img.complete && img.naturalWidth") > 0
            text = card.inner_text()
            assert "28x28 px" in text and "unconditional-synthesis" in text and "Memorization" in text
            assert card.evaluate("c => c.getBoundingClientRect().width") < 500  # cards side by side, not full width
            page.screenshot(path=shot, full_page=True, animations="disabled")
            card.locator("a", has_text=DCGAN).click()
            page.wait_for_url(f"**/models/{DCGAN}/")
            page.goto(served + "papers/radford2016-dcgan/", wait_until="networkidle")
            assert page.locator(f'.mz-card[data-model="{DCGAN}"] img.mz-thumb').evaluate("img => img.naturalWidth") > 0
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert not errors, errors
