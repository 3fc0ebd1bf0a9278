"""Tables of issue 14's study, from the stored rows: paired gains, the quality gate, fidelity at equal n, cross-space
agreement, feature-space sanity and memorization. The docs' "Utility study" page and `medzoo utility report` use them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from reproductions.evaluate.results import read_jsonl

V1_RECIPE = "caf42e6f70"  # the recipe of the earlier, flawed protocol's rows


def _test_labels(datasets) -> dict[str, np.ndarray]:
    from reproductions.common.data import load_split

    return {d: load_split(d, "test")[1].numpy() for d in datasets}


def paired_table(dataset: Optional[str] = None, b: int = 1000, path: Optional[Path] = None) -> pd.DataFrame:
    """Paired gains of the fair study (stats.gains) with the bootstrap over test images when scores are stored."""
    from reproductions.evaluate import stats, utility

    rows = utility.load(path, dataset=dataset)
    if rows.empty:
        return stats.gains(rows)
    sc = stats.load_scores(utility.scores_path(path), utility.STUDY_RECIPE.recipe_id()) if b else None
    labels = _test_labels(sorted(rows["dataset"].unique())) if b else None
    return stats.gains(rows, sc, labels, b=b)


def v1_table(path: Optional[Path] = None) -> pd.DataFrame:
    """Paired gains of the earlier, flawed protocol's rows (no per-image scores: intervals over seeds only)."""
    from reproductions.evaluate import stats, utility

    rows = pd.DataFrame(read_jsonl(path or utility.V1_FLAWED))
    if rows.empty:
        return stats.gains(rows)
    rows = rows[rows["recipe_id"] == V1_RECIPE]
    rows = rows.assign(arm=rows["arm"].str.replace("gan:", "gan (full-split generator):", regex=False))
    return stats.gains(rows)


def gate_table(path: Optional[Path] = None) -> pd.DataFrame:
    """Every generator that met the quality gate, with its CAS AUC on the validation subset and whether it passed."""
    from reproductions.evaluate import utility

    rows = utility.load(path)
    cols = ["dataset", "fraction", "seed", "arm", "generator_id", "cas_auc", "passed"]
    if rows.empty or "gate" not in rows:
        return pd.DataFrame(columns=cols)
    g = rows[rows["gate"].notna()]
    out = pd.DataFrame({"dataset": g["dataset"], "fraction": g["fraction"], "seed": g["seed"], "arm": g["arm"],
                        "generator_id": g["generator_id"], "cas_auc": [x.get("cas_auc") for x in g["gate"]],
                        "passed": [bool(x.get("passed")) for x in g["gate"]]})
    out = out[~out["arm"].str.startswith("classical+")]  # the same generator and verdict as its gan: arm
    return out.sort_values(["dataset", "fraction", "seed", "arm"]).reset_index(drop=True)[cols]


def fidelity_table(path: Optional[Path] = None) -> pd.DataFrame:
    """Per model (and floor): FID and KID of the first draw with 95% intervals, precision, recall, the spread over draws."""
    from reproductions.evaluate import equal_n

    df = pd.DataFrame(read_jsonl(path or equal_n.rows_path()))
    cols = ["dataset", "model_id", "kind", "reference", "n", "n_real", "draws", "fid", "fid_low", "fid_high", "fid_draws",
            "kid", "kid_low", "kid_high", "precision", "recall"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[df["features"] == equal_n.FEATURES].sort_values("recorded_at").drop_duplicates(["model_id", "draw"], keep="last")
    out = []
    for (dataset, model_id), g in df.groupby(["dataset", "model_id"], sort=True):
        first = g.sort_values("draw").iloc[0]
        fci, kci = first.get("fid_ci95") or [np.nan] * 2, first.get("kid_mean_ci95") or [np.nan] * 2
        out.append({"dataset": dataset, "model_id": model_id, "kind": first["kind"], "reference": first["reference"],
                    "n": int(first["n"]), "n_real": int(first["n_real"]), "draws": len(g), "fid": first["fid"],
                    "fid_low": fci[0], "fid_high": fci[1], "fid_draws": [round(v, 4) for v in g.sort_values("draw")["fid"]],
                    "kid": first["kid_mean"], "kid_low": kci[0], "kid_high": kci[1],
                    "precision": first["precision"], "recall": first["recall"]})
    t = pd.DataFrame(out, columns=cols)
    return t.sort_values(["dataset", "reference", "kind", "fid"], ascending=[True, True, False, True]).reset_index(drop=True)


def cross_space(path: Optional[Path] = None, second: str = "pixels") -> dict[str, Any]:
    """Rank agreement of the models' FIDs (first draw) in medzoo-resnet18 features and in `second`: Kendall's tau per
    (dataset, reference) with two or more models, and the share of concordant model pairs over all of them."""
    from scipy.stats import kendalltau

    from reproductions.evaluate import equal_n

    df = pd.DataFrame(read_jsonl(path or equal_n.rows_path()))
    if df.empty:
        return {"second": second, "groups": [], "pairs": 0, "concordant": 0}
    df = df[(df["kind"] == "model") & (df["draw"] == 0)].sort_values("recorded_at")
    df = df.drop_duplicates(["model_id", "features"], keep="last")
    wide = df.pivot_table(index=["dataset", "reference", "model_id"], columns="features", values="fid")
    if equal_n.FEATURES not in wide or second not in wide:
        return {"second": second, "groups": [], "pairs": 0, "concordant": 0}
    wide = wide.dropna(subset=[equal_n.FEATURES, second])
    groups, pairs, concordant = [], 0, 0
    for (dataset, reference), g in wide.groupby(level=[0, 1]):
        a, b = g[equal_n.FEATURES].to_numpy(), g[second].to_numpy()
        if len(a) < 2:
            continue
        tau = float(kendalltau(a, b).statistic) if len(a) > 2 else float(np.sign((a[1] - a[0]) * (b[1] - b[0])))
        n = len(a) * (len(a) - 1) // 2
        c = sum(1 for i in range(len(a)) for j in range(i + 1, len(a)) if (a[i] - a[j]) * (b[i] - b[j]) > 0)
        groups.append({"dataset": dataset, "reference": reference, "models": len(a), "kendall_tau": round(tau, 3),
                       "pairs": n, "concordant": c, "order_features": list(g.index.get_level_values(2)[np.argsort(a)]),
                       f"order_{second}": list(g.index.get_level_values(2)[np.argsort(b)])})
        pairs += n
        concordant += c
    return {"second": second, "groups": groups, "pairs": pairs, "concordant": concordant}


def memorization_table(path: Optional[Path] = None) -> pd.DataFrame:
    """Per model: verdict, C_T per space (and the validation images'), shares, n."""
    from reproductions.evaluate import memorization

    out = []
    for model_id, rows in memorization.latest_rows(path).items():
        by = {r["space"]: r for r in rows}
        px, fx = by.get("pixels", {}), by.get("medzoo-resnet18", {})
        first = rows[0]
        out.append({"model_id": model_id, "dataset": first["dataset"], "task": first["task"], "verdict": memorization.verdict(rows),
                    "n": first["n_generated"], "n_train": first["n_train"],
                    "ct_pixels": px.get("ct"), "ct_pixels_ref": px.get("ct_reference"),
                    "ct_features": fx.get("ct"), "ct_features_ref": fx.get("ct_reference"),
                    "closer_train_pixels": px.get("share_closer_to_train", px.get("share_closer_to_train_than_target")),
                    "closer_train_pixels_ref": px.get("share_closer_to_train_reference", px.get("share_closer_to_train_than_target_reference")),
                    "below_p5_features": fx.get("share_below_train_p5", fx.get("share_closer_to_train_than_target")),
                    "below_p5_features_ref": fx.get("share_below_train_p5_reference", fx.get("share_closer_to_train_than_target_reference")),
                    "picture": px.get("picture")})
    return pd.DataFrame(out)


def provenance(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Which hardware ran how many rows, in how many seconds, at which commits, by which commands."""
    df = pd.DataFrame(rows)
    cols = ["hardware", "rows", "seconds", "commits", "commands"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    out = [{"hardware": hw, "rows": len(g), "seconds": float(g["seconds"].sum()),
            "commits": ", ".join(sorted({str(c)[:12] for c in g["commit"]})), "commands": "; ".join(sorted(set(g["command"])))}
           for hw, g in df.groupby("hardware", sort=True)]
    return pd.DataFrame(out, columns=cols)
