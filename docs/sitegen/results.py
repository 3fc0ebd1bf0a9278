"""Measured figures from the database's evaluation table, ranked by the rules of `medzoo leaderboard`."""
from __future__ import annotations

import pandas as pd

from reproductions.evaluate.cards import latest
from reproductions.evaluate.leaderboard import LOWER_IS_BETTER, rank

BOARD = ["dataset", "metric", "features", "reference"]  # rows are comparable only within one of these
SHOWN = ["kind", "value", "n", "n_real", "seed"]


def current(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The latest row of every figure (model, metric, features, reference, seed); empty when nothing is measured."""
    if evaluations.empty:
        return pd.DataFrame(columns=["model_id", *BOARD, *SHOWN])
    return latest(evaluations).reset_index(drop=True)


def boards(rows: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """One table per dataset, metric, feature space and reference set, best first; only models are ranked."""
    out = []
    for key, group in rows.fillna({"features": "", "reference": ""}).groupby(BOARD, sort=True):
        out.append((key, rank(group, key[1])))
    return out


def better(metric: str) -> str:
    """'lower' or 'higher': which way the metric improves."""
    return "lower" if metric in LOWER_IS_BETTER else "higher"
