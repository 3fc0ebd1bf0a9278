"""Rank models on one dataset and metric from the stored evaluation rows (floors and baselines shown for reference)."""
from __future__ import annotations

import pandas as pd

from reproductions.evaluate.cards import latest
from reproductions.evaluate.results import load_rows

LOWER_IS_BETTER = {"fid", "kid_mean", "kid_std"}
COLUMNS = ["rank", "model_id", "kind", "value", "n", "n_real", "reference", "features", "seed", "recorded_at", "commit"]


def rank(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of one board sorted best first (the metric's direction), with `rank` counting models only (floors and
    baselines stay unranked): the one ranking rule of the CLI leaderboard and the docs."""
    out = rows.sort_values("value", ascending=metric in LOWER_IS_BETTER, kind="stable").reset_index(drop=True)
    is_model = out["kind"] == "model"
    out["rank"] = is_model.cumsum().where(is_model).astype("Int64")
    return out


def leaderboard(dataset: str, metric: str = "fid", features: str | None = "medzoo-resnet18", seed: int | None = None) -> pd.DataFrame:
    """Latest row per model for (dataset, metric[, features, seed]), best first; rank counts models only."""
    rows = load_rows()
    if rows.empty:
        raise ValueError("no evaluation rows stored yet: run `medzoo eval MODEL_ID` first")
    known = sorted(rows["metric"].dropna().unique())
    if metric not in known:
        raise ValueError(f"no rows for metric {metric!r}; stored metrics: {', '.join(known)}")
    sel = rows[(rows["dataset"] == dataset) & (rows["metric"] == metric)]
    if sel.empty:
        have = sorted(rows.loc[rows["metric"] == metric, "dataset"].dropna().unique())
        raise ValueError(f"no {metric} rows for dataset {dataset!r}; datasets with {metric}: {', '.join(have) or 'none'}")
    if features is not None and sel["features"].notna().any():
        sel = sel[sel["features"] == features]
        if sel.empty:
            raise ValueError(f"no {metric} rows on {dataset} with features {features!r}")
    if seed is not None:
        sel = sel[sel["seed"] == seed]
    out = rank(latest(sel), metric)
    out["value"] = out["value"].round(4)
    return out[[c for c in COLUMNS if c in out.columns]]
