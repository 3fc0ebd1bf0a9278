"""Write a model's stored evaluation rows into its card's `model-index` and re-register it (the card's sha256 changes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from reproductions.common.data import dataset_info
from reproductions.evaluate.results import load_rows
from zoo.card import PIPELINE_TAGS, with_model_index

METRIC_NAMES = {"fid": "FID", "kid_mean": "KID (mean)", "kid_std": "KID (std over subsets)", "precision": "precision (k=3)",
                "recall": "recall (k=3)", "cas_acc": "CAS accuracy", "cas_auc": "CAS AUC", "ssim": "SSIM", "psnr": "PSNR (dB)"}


def latest(rows: pd.DataFrame) -> pd.DataFrame:
    """The most recent row of every (model, metric, features, reference, seed)."""
    keys = ["model_id", "metric", "features", "reference", "seed"]
    return rows.sort_values("recorded_at").groupby(keys, dropna=False, sort=False).tail(1)


def model_index(model_id: str, task: str, dataset: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Hugging Face `model-index` of one model from its rows: one result per reference set and feature space."""
    info = dataset_info(dataset)
    results = []
    rows = latest(rows).assign(features=lambda d: d["features"].fillna(""))
    for (reference, features), group in rows.groupby(["reference", "features"], sort=True):
        metrics = []
        for r in group.sort_values("metric").itertuples():
            where = f", {features} features" if features and not r.metric.startswith("cas") else ""
            metrics.append({"type": r.metric, "value": float(r.value),
                            "name": f"{METRIC_NAMES.get(r.metric, r.metric)}{where}, n={int(r.n)} vs {int(r.n_real)} real, seed {int(r.seed)}"})
        results.append({"task": {"type": PIPELINE_TAGS.get(task, task)},
                        "dataset": {"type": dataset, "name": f"{info.medmnist_class or info.description} ({reference})", "split": reference.split(":")[0]},
                        "metrics": metrics})  # no `source`: the Hub needs a URL with it, and the rows live in this repo
    return [{"name": model_id, "results": results}]


def update_card(model_id: str) -> Path | None:
    """Rewrite the bundled card of `model_id` with its stored results and re-register it; None when it is not bundled."""
    from zoo.registry import entry_from_folder, get, pretrained_dir, register

    entry = get(model_id)
    folder = pretrained_dir() / model_id
    if not (folder / "README.md").is_file():
        return None
    rows = load_rows()
    rows = rows[(rows["model_id"] == model_id) & (rows["kind"] == "model")]
    if rows.empty:
        return None
    readme = folder / "README.md"
    tmp = folder / ".README.md.tmp"
    tmp.write_text(with_model_index(readme.read_text(encoding="utf-8"), model_index(model_id, entry.task, entry.dataset, rows)), encoding="utf-8")
    tmp.replace(readme)
    register(entry_from_folder(folder, revision=entry.revision, hub_repo=entry.hub_repo))
    return readme
