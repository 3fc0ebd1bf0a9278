"""A page per zoo model (facts, code to load it, sample grid, metrics, papers, card) and the models index."""
from __future__ import annotations

import re

import pandas as pd

from reproductions.evaluate.cards import METRIC_NAMES
from sitegen import paths
from sitegen.data import Catalog
from sitegen.links import term_link
from sitegen.md import Pages, bullets, count, esc, ext, head, link, or_unknown, table
from sitegen.models import Model

_LOCAL_IMAGE = re.compile(r"^\s*!\[[^\]]*\]\((?!https?://)[^)]*\)\s*$")


def load_code(m: Model) -> str:
    """The three lines that load the model and use it."""
    e = m.entry
    if not e.task.endswith("synthesis"):
        use = "out = model.translate(images)  # uint8 (N, C, H, W) in, uint8 out"
    elif e.num_classes:
        use = f"images = model.generate(16, labels=0, seed=0)  # class 0: {e.class_names[0] if e.class_names else 0}"
    else:
        use = "images = model.generate(16, seed=0)  # uint8 (16, C, H, W)"
    return f'```python\nimport zoo\nmodel = zoo.load("{e.model_id}")\n{use}\n```\n'


def _facts(m: Model, cat: Catalog, src: str) -> str:
    e = m.entry
    classes = ", ".join(f"{i}: {n}" for i, n in enumerate(e.class_names)) or "none (unconditional)"
    rows = [("Family", term_link(cat, "architecture", e.family, src)), ("Module", f"`{e.arch}`"),
            ("Dataset", term_link(cat, "dataset", e.dataset, src)), ("Organ", term_link(cat, "organ", e.organ, src)),
            ("Modality", term_link(cat, "modality", e.modality, src)), ("Task", esc(e.task)),
            ("Output", f"{e.channels} channel(s), {e.resolution}x{e.resolution}"), ("Classes", esc(classes)),
            ("Parameters", f"{e.params:,}"), ("License", esc(e.license)), ("Hub repository", f"`{e.hub_repo}`"),
            ("Revision", f"`{e.revision}`" if e.revision else "*not pinned (bundled only)*")]
    return table(["Field", "Value"], rows)


def _samples(m: Model) -> str:
    if m.samples is None:
        return "*No sample grid yet.*\n"
    e = m.entry
    if not e.task.endswith("synthesis"):
        what = "input and output rows from the real test split"
    elif e.num_classes:
        what = "rows per class: " + ", ".join(e.class_names)
    else:
        what = "unconditional samples"
    alt = f"Sample grid of {e.model_id}: {e.resolution}x{e.resolution} {e.dataset} images, {what}"
    return f'![{esc(alt)}](samples.png){{ .mz-samples }}\n'


def _metrics(m: Model, measured: pd.DataFrame, src: str) -> str:
    mine = measured[measured["model_id"] == m.id].sort_values(["metric", "reference"], kind="stable")
    if mine.empty:
        return "*Not yet measured.*\n"
    rows = [(esc(METRIC_NAMES.get(r.metric, r.metric)), f"{r.value:.4g}", or_unknown(r.reference),
             or_unknown(r.features), or_unknown(r.n), or_unknown(r.n_real), or_unknown(r.seed))
            for r in mine.itertuples()]
    return f"Measured by `medzoo eval`; the {link('leaderboard', src, 'leaderboard.md')} compares models.\n\n" + table(
        ["Metric", "Value", "Reference", "Features", "n", "n real", "Seed"], rows)


def _papers(m: Model, cat: Catalog, src: str) -> str:
    by_doi = {p.doi: p for p in cat.papers.values() if p.doi}
    items = [link(by_doi[d].title, src, paths.paper(by_doi[d].key)) if d in by_doi else ext(d, f"https://doi.org/{d}")
             for d in m.entry.papers]
    return bullets(items, "*No paper recorded.*")


def _card(m: Model) -> str:
    """The card body: its title and local pictures dropped (shown above), headings one level down."""
    if m.card is None:
        return "*The card is not bundled with this installation.*\n"
    lines = [ln for ln in m.card.splitlines() if not _LOCAL_IMAGE.match(ln) and not ln.startswith("# ")]
    return "\n".join("#" + ln if ln.startswith("#") else ln for ln in lines) + "\n"


def render(m: Model, cat: Catalog, measured: pd.DataFrame) -> str:
    """Markdown of one model's page."""
    src = paths.model(m.id)
    summary = esc(m.entry.summary) + ".\n" if m.entry.summary else ""
    return "\n".join([head(m.id, src, paths.MODELS, "All models"), summary, "## Load it\n", load_code(m),
                      "## Samples\n", _samples(m), "## Metrics\n", _metrics(m, measured, src),
                      "## Facts\n", _facts(m, cat, src), "## Papers reproduced\n", _papers(m, cat, src),
                      "## Model card\n", _card(m)])


def index(models: list[Model]) -> str:
    """Markdown of the models list."""
    if not models:
        return "# Models\n\nNo model is registered yet: the reproductions are still training.\n"
    rows = [(link(m.id, paths.MODELS, paths.model(m.id)), esc(m.entry.family), esc(m.entry.dataset), esc(m.entry.task),
             f"{m.entry.params:,}", "yes" if m.samples else "no") for m in models]
    return f"# Models\n\n{count(len(models), 'registered model')}.\n\n" + table(
        ["Model", "Family", "Dataset", "Task", "Parameters", "Samples"], rows)


def pages(cat: Catalog, models: list[Model], measured: pd.DataFrame) -> Pages:
    """Every model page, its sample grid, and the models index."""
    out: Pages = {paths.MODELS: index(models)}
    for m in models:
        out[paths.model(m.id)] = render(m, cat, measured)
        if m.samples is not None:
            out[paths.samples(m.id)] = m.samples
    return out
