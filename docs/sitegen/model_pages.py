"""A page per zoo model (facts, code to load it, sample grid, metrics, papers, card) and the models page: a gallery
of cards grouped by organ (the paper pages show the same cards), then the list."""
from __future__ import annotations

import re

import pandas as pd

from reproductions.evaluate.cards import METRIC_NAMES
from sitegen import memorization, paths
from sitegen.data import Catalog
from sitegen.links import term_link
from sitegen.md import Pages, bullets, count, esc, ext, head, link, or_unknown, rel, table
from sitegen.models import Headline, Model, headline

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
                      "## Memorization\n", memorization.block(m.id, src)[0],
                      "## Facts\n", _facts(m, cat, src), "## Papers reproduced\n", _papers(m, cat, src),
                      "## Model card\n", _card(m)])


def _figure(h: Headline) -> str:
    """'FID 2.10 (95% CI 1.95-2.31)': the headline figure, with its interval when measured."""
    name = {"fid": "FID", "ssim": "SSIM"}.get(h.metric, METRIC_NAMES.get(h.metric, h.metric))
    ci = f" (95% CI {h.low:.3g}-{h.high:.3g})" if h.low is not None and h.high is not None else ""
    split, _, subset = h.reference.partition(":")
    ref = f"{split} split" + (f" ({subset})" if subset else "") if split else ""
    where = ", ".join(x for x in (f"{h.features} features" if h.features else "", ref, f"n={h.n}" if h.n else "") if x)
    return f"{esc(name)} **{h.value:.3g}**{ci}" + (f" <small>({esc(where)})</small>" if where else "")


def _organs(m: Model, cat: Catalog, src: str) -> str:
    names = [term_link(cat, "organ", o, src) for o in m.organs] or [or_unknown("")]
    mods = [term_link(cat, "modality", x.strip(), src) for x in str(m.entry.modality).split(",") if x.strip()]
    return ", ".join(names) + " / " + (", ".join(mods) or or_unknown(""))


def gallery_card(m: Model, cat: Catalog, measured: pd.DataFrame, src: str) -> str:
    """One model as a gallery card (Markdown in an HTML block): sample grid, id, resolution, task, organ and
    modality, the headline metric with its interval, and the memorization verdict."""
    e = m.entry
    page = paths.model(m.id)
    if m.samples is not None:
        alt = esc(f"Sample grid of {m.id}")
        picture = f"[![{alt}]({rel(src, paths.samples(m.id))}){{ .mz-thumb }}]({rel(src, page)})"
    else:
        picture = "*No sample grid yet.*"
    h = headline(m, measured)
    verdict = m.memorization
    lines = [
        f'<div class="mz-card" data-model="{m.id}" markdown>', "", picture, "",
        f"**{link(m.id, src, page)}**", "",
        f"{e.resolution}x{e.resolution} px · {esc(e.task)}  ",
        f"{_organs(m, cat, src)}  ",
        *((("feature space of `medzoo eval`",) if e.task == "feature-extraction" else (
            (_figure(h) if h else "*not measured yet*") + "  ",
            "Memorization: " + (f"**{esc(verdict)}**" if verdict else "*not checked yet*")))),
        "", "</div>",
    ]
    return "\n".join(lines) + "\n"


def gallery(models: list[Model], cat: Catalog, measured: pd.DataFrame, src: str) -> str:
    """Gallery cards side by side (a responsive grid)."""
    return '<div class="mz-gallery" markdown>\n\n' + "\n".join(gallery_card(m, cat, measured, src) for m in models) + "\n</div>\n"


def _organ_groups(models: list[Model], cat: Catalog) -> list[tuple[str, str | None, list[Model]]]:
    """(title, organ slug or None, models): augmenters by organ, the biggest group first; feature extractors last."""
    groups: dict[str, list[Model]] = {}
    extractors = []
    for m in models:
        if m.entry.task == "feature-extraction":
            extractors.append(m)
        else:
            groups.setdefault(", ".join(m.organs) or "unknown", []).append(m)
    out = []
    for organ, ms in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        term = cat.terms["organ"].get(organ)
        out.append((term.name if term else organ, organ if term else None, ms))
    if extractors:
        out.append(("Feature extractors of the evaluation", None, extractors))
    return out


def index(models: list[Model], cat: Catalog | None = None, measured: pd.DataFrame | None = None) -> str:
    """Markdown of the models page: the gallery (a card per model, grouped by organ), then the list."""
    if not models:
        return "# Models\n\nNo model is registered yet: the reproductions are still training.\n"
    src = paths.MODELS
    parts = [f"---\nhide:\n  - toc\n---\n\n# Models\n\n{count(len(models), 'registered model')}: pick an augmenter by its samples. Each card shows "
             "a sample grid, the resolution, the task, the organ and modality, the headline figure (FID in medzoo's "
             "feature space; SSIM for super-resolution; with its 95% interval where measured) and the verdict of the "
             "memorization check. `medzoo app` tries any of them locally.\n"]
    if cat is not None:
        measured = measured if measured is not None else pd.DataFrame()
        for title, slug, ms in _organ_groups(models, cat):
            parts.append(f"## {esc(title)}\n")
            if slug:
                parts.append(f"{count(len(ms), 'model')}; {link(f'papers on {title.lower()}', src, paths.term('organ', slug))}.\n")
            parts.append(gallery(ms, cat, measured, src))
    rows = [(link(m.id, src, paths.model(m.id)), esc(m.entry.family), esc(m.entry.dataset), esc(m.entry.task),
             f"{m.entry.params:,}", "yes" if m.samples else "no") for m in models]
    parts.append("## All models\n")
    parts.append(table(["Model", "Family", "Dataset", "Task", "Parameters", "Samples"], rows))
    return "\n".join(parts)


def pages(cat: Catalog, models: list[Model], measured: pd.DataFrame) -> Pages:
    """Every model page, its sample grid, and the models index."""
    out: Pages = {paths.MODELS: index(models, cat, measured)}
    for m in models:
        out[paths.model(m.id)] = render(m, cat, measured)
        if m.samples is not None:
            out[paths.samples(m.id)] = m.samples
        picture = memorization.block(m.id, paths.model(m.id))[1]
        if picture is not None:
            out[memorization.picture_path(m.id)] = picture
    return out
