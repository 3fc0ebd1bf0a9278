"""The home page: what the site holds, with the counts of this build."""
from __future__ import annotations

from catalog.records import KINDS
from sitegen import paths
from sitegen.data import VOCABS, Catalog
from sitegen.md import Pages, count, esc, link, or_unknown, table
from sitegen.models import Model

NEWEST = 8


def home(cat: Catalog, models: list[Model]) -> str:
    """Markdown of the home page."""
    src = "index.md"
    kinds = {k: sum(p.kind == k for p in cat.papers.values()) for k in KINDS}
    mix = (f"Studies that synthesise or translate medical images with a generative model, each field with its source; "
           f"beside them {count(kinds['method'], 'method paper')}, {count(kinds['dataset'], 'dataset paper')}, "
           f"{count(kinds['review'], 'review')} and {count(kinds['related'], 'related paper')}.")
    cards = [
        (count(kinds["primary"], "primary study", "primary studies"), mix, link("Browse the papers", src, paths.PAPERS)),
        (count(len(models), "model"), "Pretrained generators and translators reproducing the papers' methods.",
         link("Open the model zoo", src, paths.MODELS)),
        ("Statistics", ("Primary papers per organ, year, dataset, loss, metric and modality; those of 2018-2021 beside the "
                        "review's 105; what they gained by synthetic data."),
         link("See the charts", src, "statistics.md")),
        ("Getting started", "Install, run the demo, query the catalog and load a model in three lines.",
         link("Start here", src, "getting-started.md")),
    ]
    grid = "\n".join(f"-   **{t}**\n\n    ---\n\n    {d}\n\n    {a}\n" for t, d, a in cards)
    browse = table(["Facet", "Terms used", "Index"], [
        (paths.SECTIONS[v][1], sum(1 for t in cat.terms[v].values() if t.papers),
         link(f"All {paths.SECTIONS[v][1].lower()}", src, paths.section(v))) for v in VOCABS])
    newest = table(["Year", "Paper"], [(or_unknown(p.year), link(p.title, src, paths.paper(p.key)))
                                       for p in list(cat.papers.values())[:NEWEST]])
    built = cat.meta.get("built_at", "unknown time")
    digest = cat.meta.get("source_hash", "")[:12] or "unknown"
    return "\n".join([
        "# medzoo\n", "A literature catalog and a model zoo for GAN-based medical image augmentation. "
        "Every page of this site is generated from the catalog database and the zoo registry.\n",
        f'<div class="grid cards" markdown>\n\n{grid}\n</div>\n', "## Browse by facet\n", browse,
        "## Newest papers\n", newest, f"Catalog database built {esc(built)} from sources `{digest}`.\n",
    ])


def pages(cat: Catalog, models: list[Model]) -> Pages:
    """The home page."""
    return {"index.md": home(cat, models)}
