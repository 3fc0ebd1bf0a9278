"""Paired statistics of the utility study: the gain of each arm over no augmentation, with intervals and Holm's correction.

Per (dataset, fraction, arm), the gain is the arm's test AUC minus that of the `none` arm trained on the same subset
with the same seed, over the seeds both ran:

- a paired 95% interval over seeds (Student t, n - 1 degrees of freedom) and the two-sided paired t-test's p-value;
- a 95% percentile interval from a bootstrap over test images: the same resample of the test split scores both
  arms of every seed, and the resampled gain is averaged over seeds (from the per-image scores the study stores);
- Holm's step-down correction of the t-test p-values across the cells of one table (one dataset; fair arms and
  privileged arms are separate tables); a cell's verdict is `helps` or `hurts` when its Holm-adjusted p is below
  ALPHA, else `no detectable difference`; below MIN_PAIRS seed pairs a cell is not tested (`too few seeds`: no p, and
  it does not enter Holm's family).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

ALPHA = 0.05
BOOTSTRAP = 1000
MIN_PAIRS = 3  # with two pairs (one degree of freedom) two nearly equal gains read as certainty: +0.0441 and +0.0442 give p < 0.001


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN), in the input order."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_t(d: np.ndarray) -> tuple[float, float, float]:
    """(mean, half-width of the 95% interval, two-sided p) of paired differences; NaN below two pairs."""
    from scipy import stats

    n = len(d)
    if n < 2:
        return (float(d.mean()) if n else float("nan"), float("nan"), float("nan"))
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))
    if sd == 0:
        return float(d.mean()), 0.0, (1.0 if d.mean() == 0 else 0.0)
    return float(d.mean()), half, float(stats.ttest_1samp(d, 0.0).pvalue)


def arm_table(df: pd.DataFrame, metric: str, keys: Sequence[str] = ("recipe", "fraction", "seed", "arm")) -> pd.DataFrame:
    """Per (fraction, arm) of cell rows (one per recipe, fraction, seed, arm; the last kept): the mean of `metric` with
    its 95% t-interval over seeds, the gain over `none` paired by seed (mean, 95% interval, p) and Holm-adjusted
    p-values across the table, with a verdict per cell."""
    df = df.drop_duplicates(list(keys), keep="last")
    out = []
    for (fraction, arm), g in df.groupby(["fraction", "arm"]):
        base = df[(df.fraction == fraction) & (df.arm == "none")].set_index("seed")[metric]
        d = (g.set_index("seed")[metric] - base).dropna().to_numpy()
        mean, half, p = paired_t(d) if arm != "none" else (np.nan, np.nan, np.nan)
        p = p if len(d) >= MIN_PAIRS else np.nan
        out.append({"fraction": fraction, "arm": arm, "seeds": len(g), metric: g[metric].mean(),
                    f"{metric}_ci95": paired_t(g[metric].to_numpy())[1], "gain": mean,
                    "gain_ci95": [mean - half, mean + half] if arm != "none" else None, "p": p,
                    "n_test": int(g.n_test.iloc[0])})
    res = pd.DataFrame(out)
    res["p_holm"] = holm(res.p.tolist())
    res["verdict"] = ["" if a == "none" else "too few seeds" if np.isnan(q) else ("helps" if g > 0 else "hurts")
                      if q < ALPHA else "no detectable difference" for g, q, a in zip(res.gain, res.p_holm, res.arm)]
    return res


def auc_rank(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC as MedMNIST computes it (binary: class-1 scores; else mean one-vs-rest), by ranks (ties averaged)."""
    return float(resampled_auc(scores, labels, np.arange(len(labels))[None])[0])


def resampled_auc(scores: np.ndarray, labels: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """auc_rank of the test images indexed by each row of `resamples` (B, n): the Mann-Whitney U over tie groups of
    equal scores, each image weighted by how often the row draws it, so no resample is sorted (the bootstrap's cost)."""
    b, n = resamples.shape
    counts = np.bincount((resamples + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n).astype(float)

    def binary(s: np.ndarray, positive: np.ndarray) -> np.ndarray:
        _, group = np.unique(s, return_inverse=True)
        order = np.argsort(group, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
        pos = np.add.reduceat((counts * positive)[:, order], starts, axis=1)  # weight of positives per tie group
        neg = np.add.reduceat((counts * ~positive)[:, order], starts, axis=1)
        u = (pos * (np.cumsum(neg, axis=1) - neg + 0.5 * neg)).sum(axis=1)  # negatives below, ties count half
        p, q = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((p == 0) | (q == 0), np.nan, u / (p * q))

    if scores.ndim == 1:
        return binary(scores, labels == 1)
    per_class = np.stack([binary(scores[:, k], labels == k) for k in range(scores.shape[1])])
    with warnings.catch_warnings():  # a resample without some class: that class is left out of the mean
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_class, axis=0)


def bootstrap_gain(arm: Sequence[np.ndarray], base: Sequence[np.ndarray], labels: np.ndarray, b: int = BOOTSTRAP,
                   seed: int = 0) -> tuple[float, float, float]:
    """(2.5%, 97.5% percentile, two-sided p) of the seed-averaged AUC gain over `b` resamples of the test images."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    r = np.stack([rng.integers(0, n, n) for _ in range(b)])  # one resample per row, drawn as b draws of n
    gains = np.mean([resampled_auc(a, labels, r) - resampled_auc(z, labels, r) for a, z in zip(arm, base)], axis=0)
    p = min(1.0, 2 * min((gains <= 0).mean(), (gains >= 0).mean()))
    return float(np.percentile(gains, 2.5)), float(np.percentile(gains, 97.5)), max(p, 1.0 / b)


def gains(rows: pd.DataFrame, scores: Optional[dict[tuple, np.ndarray]] = None, test_labels: Optional[dict[str, np.ndarray]] = None,
          b: int = BOOTSTRAP, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (dataset, fraction, arm other than none): paired gain, intervals, Holm-adjusted verdict.

    `scores` maps (dataset, fraction, arm, seed) to the per-test-image scores; with `test_labels` (per dataset) they
    give the bootstrap over test images. A gate fallback row (no scores of its own) uses its fallback arm's scores.
    """
    cols = ["dataset", "fraction", "arm", "pairs", "gain", "gain_ci95", "p", "boot_low", "boot_high", "p_boot", "p_holm",
            "verdict", "gate_failed"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    base = rows[rows["arm"] == "none"].set_index(["dataset", "fraction", "seed"])["auc"]
    out: list[dict[str, Any]] = []
    for (dataset, fraction, arm), g in rows[rows["arm"] != "none"].groupby(["dataset", "fraction", "arm"], sort=True):
        g = g[[(dataset, fraction, s) in base.index for s in g["seed"]]]
        d = np.array([r.auc - base[(dataset, fraction, r.seed)] for r in g.itertuples()])
        mean, half, p = paired_t(d)
        p = p if len(d) >= MIN_PAIRS else float("nan")
        lo = hi = pb = float("nan")
        if scores is not None and test_labels is not None and len(g):
            def of(a: str, s: int, fallback: Optional[str]) -> Optional[np.ndarray]:
                return scores.get((dataset, fraction, a, s), scores.get((dataset, fraction, fallback, s)) if fallback else None)
            pairs = [(of(arm, r.seed, getattr(r, "fallback", None) if isinstance(getattr(r, "fallback", None), str) else None),
                      of("none", r.seed, None)) for r in g.itertuples()]
            pairs = [(a, z) for a, z in pairs if a is not None and z is not None]
            if pairs:
                lo, hi, pb = bootstrap_gain([a for a, _ in pairs], [z for _, z in pairs], test_labels[dataset], b)
        failed = int(g["fallback"].notna().sum()) if "fallback" in g else 0
        out.append({"dataset": dataset, "fraction": fraction, "arm": arm, "pairs": len(d), "gain": mean, "gain_ci95": half,
                    "p": p, "boot_low": lo, "boot_high": hi, "p_boot": pb, "gate_failed": failed})
    df = pd.DataFrame(out, columns=[c for c in cols if c not in ("p_holm", "verdict")])
    df["table"] = df["arm"].str.startswith("privileged-").map({True: "privileged", False: "fair"})
    df["p_holm"] = np.nan
    for _, idx in df.groupby(["dataset", "table"]).groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p"].to_numpy())
    df["verdict"] = [("too few seeds" if r.pairs < MIN_PAIRS else "helps" if r.p_holm < alpha and r.gain > 0 else
                      "hurts" if r.p_holm < alpha and r.gain < 0 else "no detectable difference") for r in df.itertuples()]
    return df[cols + ["table"]]


def load_scores(path, recipe_id: Optional[str] = None) -> dict[tuple, np.ndarray]:
    """Per-test-image scores by (dataset, fraction, arm, seed) of one recipe (latest line of each)."""
    from reproductions.evaluate.results import read_jsonl

    return {(r["dataset"], r["fraction"], r["arm"], r["seed"]): np.asarray(r["scores"], dtype=float) for r in read_jsonl(path)
            if recipe_id is None or r["recipe_id"] == recipe_id}
