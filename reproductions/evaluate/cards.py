"""Write a model's stored evaluation rows into its card's `model-index`, and its Citation section anew, then re-register
it (the card's sha256 changes)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from reproductions.common.data import dataset_info
from reproductions.evaluate.results import load_rows
from zoo.card import PIPELINE_TAGS, with_citation, with_model_index

METRIC_NAMES = {"fid": "FID", "kid_mean": "KID (mean)", "kid_std": "KID (std over subsets)", "precision": "precision (k=3)",
                "recall": "recall (k=3)", "cas_acc": "CAS accuracy", "cas_auc": "CAS AUC", "ssim": "SSIM", "psnr": "PSNR (dB)"}


def latest(rows: pd.DataFrame) -> pd.DataFrame:
    """The most recent row of every (model, metric, features, reference, seed)."""
    keys = ["model_id", "metric", "features", "reference", "seed"]
    return rows.sort_values("recorded_at").groupby(keys, dropna=False, sort=False).tail(1)


def model_index(model_id: str, task: str, dataset: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Hugging Face `model-index` of one model from its rows: one result per reference set, in the form
    `huggingface_hub.repocard_data.model_index_to_eval_results` reads and `eval_results_to_model_index` writes back
    unchanged. The reference's split is the dataset split, a class subset of it ("test:pneumonia") the dataset
    config, the feature space each metric's config; no `source` (the Hub needs a URL with it; the rows live in
    reproductions/results/evaluations.jsonl)."""
    info = dataset_info(dataset)
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
        card = with_model_index(card, model_index(model_id, entry.task, entry.dataset, rows))
    tmp = folder / ".README.md.tmp"
    tmp.write_text(with_citation(card, config, entry.hub_repo), encoding="utf-8")
    tmp.replace(readme)
    register(entry_from_folder(folder, revision=entry.revision, hub_repo=entry.hub_repo))
    return readme
