"""The statistics page: the catalog's primary studies counted per facet as bar charts (PNG) with alt text, the
review's own counts (105 papers, 2018-2021) beside the catalog's papers of those years, and a table of gains."""
from __future__ import annotations

import io
import textwrap
from collections import Counter

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import catalog
from sitegen import paths
from sitegen.md import Pages, esc, ext, link, table

CHARTS = ("organ", "modality", "year", "dataset", "architecture", "task", "loss", "metric")
REVIEW_CHARTS = ("organ", "dataset", "loss", "metric")  # what the review says it counted its papers by
REVIEW_DOI = "10.1016/j.compbiomed.2022.105382"
REVIEW_YEARS = (2018, 2021)
COLOR = "#009485"
SRC = "statistics.md"


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
        left = 0.3 + 0.075 * max(map(len, labels))  # room for the longest label at 10 pt
        width, height = max(8.0, left + 4.0), 0.9 + 0.26 * len(df)
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


def alt_text(df: pd.DataFrame, by: str, what: str = "papers") -> str:
    """What the chart shows, in words: the largest counts and the size of the rest."""
    top = ", ".join(f"{n} {c}" for n, c in zip(_labels(df, by)[:5], df["papers"][:5]))
    rest = f"; {len(df) - 5} more in the table below" if len(df) > 5 else ""
    return f"Bar chart of the number of {what} per {by}. Most papers: {top}{rest}."


def section(df: pd.DataFrame, by: str, title: str | None = None, image: str | None = None, what: str = "papers") -> str:
    """One chart with its numbers in a folded table."""
    ordered = df.sort_values("year") if by == "year" else df
    rows = table([by.capitalize(), "Papers"], [(esc(n), c) for n, c in zip(_labels(ordered, by), ordered["papers"])])
    return (f"## {title or f'Papers by {by}'}\n\n![{esc(alt_text(df, by, what))}]({image or f'stats/{by}.png'})\n\n"
            f'??? note "Counts by {by}"\n\n{textwrap.indent(rows, "    ")}\n')


def period_counts(papers: pd.DataFrame, by: str, names: dict[str, str]) -> pd.DataFrame:
    """Papers per term of `by` among the rows of a papers() frame, most first (a paper counts once per term)."""
    col = {"organ": "organs", "dataset": "datasets", "loss": "losses", "metric": "metrics"}[by]
    counts = Counter(t for cell in papers[col] for t in (x.strip() for x in str(cell).split(",")) if t)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return pd.DataFrame([{by: s, "name": names.get(s, s), "papers": n} for s, n in rows], columns=[by, "name", "papers"])


def review_section(out: Pages) -> str:
    """The review's own figures beside the catalog's primary papers of the same years, with four charts."""
    lo, hi = REVIEW_YEARS
    review = catalog.papers(kind="review")
    review = review[review.doi == REVIEW_DOI]
    said = ""
    if not review.empty:
        key = review.iloc[0]["key"]
        said = " (" + link("its catalog record", SRC, paths.paper(key)) + ")"
    period = catalog.papers(kind="primary", year=(lo, hi))
    parts = [f"## The review's counts beside the catalog, {lo}-{hi}\n",
             f"The review this catalog grew from says it reviews 105 medical image augmentation papers from {lo} to {hi}, "
             "collected mainly from Elsevier, IEEE Xplore and Springer, and counts them by organ, dataset, loss "
             f"function and evaluation metric{said}. Its counts per organ, dataset, loss and metric are not in any "
             "stored source, so they are not redrawn here; the charts count the catalog's own primary studies of the "
             "same years, a paper once for each term it is tagged with.\n",
             table(["", "The review", "This catalog"],
                   [(f"Papers {lo}-{hi}", "105", str(len(period)))]
                   + [(f"… tagged with {'an' if by[0] in 'aeiou' else 'a'} {by}", "*not stated*", str(int((period[col] != '').sum())))
                      for by, col in (("organ", "organs"), ("dataset", "datasets"), ("loss", "losses"),
                                      ("metric", "metrics"))])]
    for by in REVIEW_CHARTS:
        names = dict(zip(*catalog.stats(by=by, kind=None)[[by, "name"]].T.values))
        df = period_counts(period, by, names)
        if df.empty:
            parts.append(f"### Primary papers {lo}-{hi} by {by}\n\n*No primary paper of {lo}-{hi} is tagged with a {by} yet.*\n")
            continue
        name = f"stats/review-{by}.png"
        out[name] = chart(df, by)
        parts.append(section(df, by, f"Primary papers {lo}-{hi} by {by}", name, f"primary papers of {lo}-{hi}")
                     .replace("## ", "### ", 1))
    return "\n".join(parts)


def _value(v: float | None, unit: str) -> str:
    return "" if v is None or v != v else f"{v:g}{unit}"


def gains_section() -> str:
    """What did they gain: every structured effect row of the primary studies, newest paper first."""
    df = catalog.effects()
    head = ("## What did they gain\n\nEvery comparison a primary study reports between training without and with its "
            "synthetic images (`catalog.effects()`), newest paper first. *Gain* is the value with synthetic data minus "
            "the value without (or the change the paper reports), in the paper's own unit.\n")
    if df.empty:
        return head + "\n*No structured effect row is recorded yet.*\n"
    rows = []
    for r in df.astype(object).where(df.notna(), None).to_dict("records"):
        rows.append((link(r["title"], SRC, paths.paper(r["key"])), r["year"] or "", esc(r["organs"]),
                     esc(r["modalities"]), esc(r["architectures"]), esc(r["task"]), esc(r["measure"] or r["metric"]),
                     _value(r["without"], r["unit"]), _value(r["with"], r["unit"]),
                     "" if r["gain"] is None else f"{r['gain']:+g}{r['unit']}", esc(r["real_data"]),
                     ext("source", r["source"]) if r["source"] else ""))
    return head + "\n" + table(["Paper", "Year", "Organs", "Modalities", "Architectures", "Task", "Measure", "Without",
                                "With", "Gain", "Real data", "Source"], rows)


def pages() -> Pages:
    """The statistics page and its charts."""
    out: Pages = {}
    parts = ["# Statistics\n", "Counts of the catalog's primary studies (papers that synthesise or translate medical "
             "images with a generative model) per facet, as `medzoo stats --by FACET` prints them. A paper tagged with "
             "two terms counts once for each; untagged papers are not counted. Method, dataset, related and review "
             "papers are left out (`medzoo stats --kind all` counts them too).\n"]
    for by in CHARTS:
        df = catalog.stats(by=by)
        if df.empty:
            parts.append(f"## Papers by {by}\n\n*No paper is tagged with a {by} yet.*\n")
            continue
        out[f"stats/{by}.png"] = chart(df, by)
        parts.append(section(df, by))
    parts.append(review_section(out))
    parts.append(gains_section())
    out["statistics.md"] = "\n".join(parts)
    return out
