"""Write a model's stored evaluation rows into its card's `model-index`, and its Citation section anew, then re-register
it (the card's sha256 changes)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from reproductions.common.data import dataset_info
from reproductions.evaluate.results import load_rows
from zoo.card import PIPELINE_TAGS, with_citation, with_model_index, with_section

METRIC_NAMES = {"fid": "FID", "kid_mean": "KID (mean)", "kid_std": "KID (std over subsets)", "precision": "precision (k=3)",
                "recall": "recall (k=3)", "cas_acc": "CAS accuracy", "cas_auc": "CAS AUC", "ssim": "SSIM", "psnr": "PSNR (dB)"}


def latest(rows: pd.DataFrame) -> pd.DataFrame:
    """The most recent row of every (model, metric, features, reference, seed)."""
    keys = ["model_id", "metric", "features", "reference", "seed"]
    return rows.sort_values("recorded_at", kind="stable").groupby(keys, dropna=False, sort=False).tail(1)


def model_index(model_id: str, task: str, dataset: str, rows: pd.DataFrame, resolution: int | None = None) -> list[dict[str, Any]]:
    """Hugging Face `model-index` of one model from its rows: one result per reference set, in the form
    `huggingface_hub.repocard_data.model_index_to_eval_results` reads and `eval_results_to_model_index` writes back
    unchanged. The reference's split is the dataset split, a class subset of it ("test:pneumonia") the dataset
    config, the feature space each metric's config; no `source` (the Hub needs a URL with it; the rows live in
    reproductions/results/evaluations.jsonl)."""
    info = dataset_info(dataset, resolution if resolution and resolution != 28 else None)
    results = []
    rows = latest(rows).assign(features=lambda d: d["features"].fillna(""))
    for reference, group in rows.groupby("reference", sort=True):
        split, _, subset = str(reference).partition(":")
        metrics = []
        for r in group.sort_values(["metric", "features", "seed"]).itertuples():
            features = r.features if r.features and not r.metric.startswith("cas") else ""
            where = f", {features} features" if features else ""
            metric = {"type": r.metric, "value": float(r.value),
                      "name": f"{METRIC_NAMES.get(r.metric, r.metric)}{where}, n={int(r.n)} vs {int(r.n_real)} real, seed {int(r.seed)}"}
            if features:
                metric["config"] = features
            metrics.append(metric)
        data = {"name": f"{info.medmnist_class or info.description} ({reference})", "type": dataset}
        if subset:
            data["config"] = subset
        data["split"] = split
        results.append({"task": {"type": PIPELINE_TAGS.get(task, task)}, "dataset": data, "metrics": metrics})
    return [{"name": model_id, "results": results}]


def measured_lines(model_id: str, dataset: str, resolution: int) -> list[str]:
    """The card's table of measured figures: the model's latest rows and, beside them, the floor or baseline rows of
    the same dataset, protocol, resolution and reference, with 95% intervals where the row has one."""
    every = load_rows()
    mine = latest(every[every["model_id"] == model_id])
    protocols = set(mine["protocol"].dropna()) if "protocol" in mine else set()
    others = every[(every["dataset"] == dataset) & every["kind"].isin(["floor", "baseline"])]
    if "protocol" in every:  # the equal-n protocols: the floor measured at this model's n
        others = others[others["protocol"].isna() | others["n"].isin(set(mine["n"]))]
    if "protocol" in every and protocols:
        others = others[others["protocol"].isin(protocols)]
    if "resolution" in every and resolution != 28:
        others = others[others["resolution"] == resolution]
    if "reference" in every:  # a translator's floor is its target class's, not the synthesis floor of the whole split
        others = others[others["reference"].isin(set(mine["reference"]))]
    others = latest(others)
    out = ["| compared | metric | value | 95% interval | n | reference | features |", "|---|---|---|---|---|---|---|"]
    for r in pd.concat([mine, others[others["metric"].isin(mine["metric"])]]).itertuples():
        ci = getattr(r, "ci95", None)
        if not (isinstance(ci, (list, tuple)) and len(ci) == 2) and pd.notna(getattr(r, "ci_low", None)) \
                and pd.notna(getattr(r, "ci_high", None)):
            ci = [r.ci_low, r.ci_high]  # equal_n.py's rows (ci_low/ci_high)
        ci_text = f"{ci[0]:.4g} to {ci[1]:.4g}" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
        feats = r.features if isinstance(r.features, str) else ""
        out.append(f"| {r.model_id} ({r.kind}) | {METRIC_NAMES.get(r.metric, r.metric)} | {r.value:.4g} | {ci_text} | {int(r.n)} | "
                   f"{r.reference} | {feats} |")
    out += ["", f"Rows from `reproductions/results/evaluations.jsonl` (command, commit, hardware and seconds in each row)."]
    return out


def update_card(model_id: str) -> Path | None:
    """Rewrite the bundled card of `model_id` with its stored results (when it has any) and its citation, and
    re-register it; None when it is not bundled."""
    from zoo.registry import entry_from_folder, get, pretrained_dir, register

    entry = get(model_id)
    folder = pretrained_dir() / model_id
    if not (folder / "README.md").is_file():
        return None
    rows = load_rows()
    if not rows.empty:
        rows = rows[(rows["model_id"] == model_id) & (rows["kind"] == "model")]
    readme = folder / "README.md"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    card = readme.read_text(encoding="utf-8")
    if not rows.empty:
        card = with_model_index(card, model_index(model_id, entry.task, entry.dataset, rows, entry.resolution))
        card = with_section(card, "Measured", measured_lines(model_id, entry.dataset, entry.resolution), before="Papers reproduced")
    tmp = folder / ".README.md.tmp"
    tmp.write_text(with_citation(card, config, entry.hub_repo), encoding="utf-8")
    tmp.replace(readme)
    new = entry_from_folder(folder, revision=entry.revision, hub_repo=entry.hub_repo)
    if "memorization" in entry.extra:  # the memorization check's verdict (reproductions/evaluate/memorization.py) stays
        new.extra = {**new.extra, "memorization": entry.extra["memorization"]}
    register(new)
    return readme
