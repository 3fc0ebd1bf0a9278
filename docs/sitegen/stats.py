"""The statistics page: the review's counts redrawn from the database as bar charts (PNG) with alt text."""
from __future__ import annotations

import io
import textwrap

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import catalog
from sitegen.md import Pages, esc, table

CHARTS = ("organ", "modality", "year", "dataset", "architecture", "task", "loss", "metric")
COLOR = "#009485"


def _labels(df: pd.DataFrame, by: str) -> list[str]:
    return [str(v) for v in (df[by] if by == "year" else df["name"])]


def chart(df: pd.DataFrame, by: str) -> bytes:
    """A bar chart of papers per term (per year: in time order) as PNG bytes."""
    labels = _labels(df, by)
    if by == "year":
        width, height, left = 8.0, 3.2, 0.6
        fig = Figure(figsize=(width, height))
        ax = fig.subplots()
        bars = ax.bar(df["year"].astype(int), df["papers"], color=COLOR)
        ax.set_ylabel("papers")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        width, height = 8.0, 0.9 + 0.26 * len(df)
        left = 0.3 + 0.075 * max(map(len, labels))  # room for the longest label at 10 pt
        fig = Figure(figsize=(width, height))
        ax = fig.subplots()
        bars = ax.barh(labels[::-1], df["papers"][::-1], color=COLOR)
        ax.set_xlabel("papers")
        ax.margins(y=0.01)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=left / width, right=1 - 0.3 / width, bottom=0.5 / height, top=1 - 0.15 / height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, metadata={"Software": None})
    return buf.getvalue()


def alt_text(df: pd.DataFrame, by: str) -> str:
    """What the chart shows, in words: the largest counts and the size of the rest."""
    top = ", ".join(f"{n} {c}" for n, c in zip(_labels(df, by)[:5], df["papers"][:5]))
    rest = f"; {len(df) - 5} more in the table below" if len(df) > 5 else ""
    return f"Bar chart of the number of papers per {by}. Most papers: {top}{rest}."


def section(df: pd.DataFrame, by: str) -> str:
    """One chart with its numbers in a folded table."""
    ordered = df.sort_values("year") if by == "year" else df
    rows = table([by.capitalize(), "Papers"], [(esc(n), c) for n, c in zip(_labels(ordered, by), ordered["papers"])])
    return (f"## Papers by {by}\n\n![{esc(alt_text(df, by))}](stats/{by}.png)\n\n"
            f'??? note "Counts by {by}"\n\n{textwrap.indent(rows, "    ")}\n')


def pages() -> Pages:
    """The statistics page and its charts."""
    out: Pages = {}
    parts = ["# Statistics\n", "Counts of the catalog's papers per facet, as `medzoo stats --by FACET` prints them. "
             "A paper tagged with two terms counts once for each; untagged papers are not counted.\n"]
    for by in CHARTS:
        df = catalog.stats(by=by)
        if df.empty:
            parts.append(f"## Papers by {by}\n\n*No paper is tagged with a {by} yet.*\n")
            continue
        out[f"stats/{by}.png"] = chart(df, by)
        parts.append(section(df, by))
    out["statistics.md"] = "\n".join(parts)
    return out
