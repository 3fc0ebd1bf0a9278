"""The leaderboard (measured results of zoo models) and the coverage page (how complete the catalog is)."""
from __future__ import annotations

import pandas as pd

from catalog.coverage import coverage as catalog_coverage
from reproductions.evaluate.cards import METRIC_NAMES
from sitegen import paths, results
from sitegen.data import Catalog
from sitegen.links import term_link
from sitegen.md import Pages, count, esc, link, or_unknown, table
from sitegen.models import Model


def _board(key: tuple, rows: pd.DataFrame, cat: Catalog, known: set[str]) -> str:
    """One ranked table: the rows of one dataset, metric, feature space and reference set."""
    dataset, metric, features, reference = key
    src = "leaderboard.md"
    facts = [f"{results.better(metric).capitalize()} is better"]
    facts += [f"features `{features}`"] if features else []
    facts += [f"reference set `{reference}`"] if reference else []
    body = [("" if pd.isna(r.rank) else r.rank,
             link(r.model_id, src, paths.model(r.model_id)) if r.model_id in known else esc(r.model_id),
             esc(r.kind), f"{r.value:.4g}", or_unknown(r.n), or_unknown(r.n_real), or_unknown(r.seed))
            for r in rows.itertuples()]
    return (f"## {esc(METRIC_NAMES.get(metric, metric))} on {term_link(cat, 'dataset', dataset, src)}\n\n"
            f"{'; '.join(facts)}.\n\n" + table(["Rank", "Model", "Kind", "Value", "n", "n real", "Seed"], body))


def leaderboard(measured: pd.DataFrame, cat: Catalog, models: list[Model]) -> str:
    """Markdown of the leaderboard: one ranked table per dataset and metric, or 'not yet measured'."""
    head = ("# Leaderboard\n\nThe zoo's models ranked on every measured figure, from the evaluation table of the "
            "catalog database (rows written by `medzoo eval`). Floors (real images against real images) and "
            "baselines are listed unranked, for reference.\n")
    if measured.empty:
        why = f"No result is recorded for any of the {count(len(models), 'registered model')}." if models else (
            "No model is registered yet: the reproductions are still training.")
        return head + f"\n*Not yet measured.* {why}\n"
    known = {m.id for m in models}
    return "\n".join([head, *(_board(key, rows, cat, known) for key, rows in results.boards(measured))])


def coverage(models: list[Model]) -> str:
    """Markdown of the coverage page, from catalog.coverage: the depth goals, kinds, fields filled and sourced,
    links to reproductions and trained models, papers without a DOI."""
    cov = catalog_coverage(trained_families={m.entry.family for m in models})
    src = "coverage.md"
    goals = [(esc(r.goal), f"{r.figure:g}{'%' if r.unit == '%' else ''}",
              "" if r.target != r.target else f"&ge; {r.target:g}{'%' if r.unit == '%' else ''}",
              {True: "met", False: "**not met**"}.get(r.met, "reported"), esc(r.detail))
             for r in cov.goals.itertuples()]
    kinds = [(esc(r.kind), r.papers) for r in cov.kinds.itertuples()]
    fields = [(f"`{r.field}`", r.filled, f"{r.filled_pct:g}%", r.sourced, f"{r.sourced_pct:g}%", r.secondary_only)
              for r in cov.fields.itertuples()]
    families = [(esc(r.measure), r.papers, f"{r.share_pct:g}%") for r in cov.families.itertuples()]
    no_doi = [(link(r.title, src, paths.paper(r.key)), or_unknown(r.year), or_unknown(r.venue))
              for r in cov.missing_doi.itertuples()]
    return "\n".join([
        "# Coverage\n", f"How complete the {count(cov.papers, 'primary study', 'primary studies')} of the catalog are "
        f"(`medzoo catalog coverage`); {cov.with_doi} have a DOI.\n",
        "## Depth goals\n", "The goals of `catalog.coverage.GOALS`, over the primary studies.\n",
        table(["Goal", "Figure", "Target", "Status", "Detail"], goals),
        "## Papers by kind\n", table(["Kind", "Papers"], kinds),
        "## Fields\n", "*Filled*: primary studies with a value for the field; *sourced*: naming a source that "
        "confirms it (or deriving it by rule); *secondary only*: every source is an aggregator or mirror.\n",
        table(["Field", "Filled", "Filled share", "Sourced", "Sourced share", "Secondary only"], fields),
        "## Reproductions\n", "Primary studies whose architecture family has reproduction code in this repository, "
        "and a trained model in the zoo (the generic `gan` links to none).\n", table(["Measure", "Papers", "Share"], families),
        f"## Papers without a DOI ({len(no_doi)})\n",
        table(["Paper", "Year", "Venue"], no_doi) if no_doi else "Every primary study has a DOI.\n",
    ])


def pages(cat: Catalog, models: list[Model], measured: pd.DataFrame) -> Pages:
    """The leaderboard and coverage pages."""
    return {"leaderboard.md": leaderboard(measured, cat, models), "coverage.md": coverage(models)}
