"""Figures from the stored results: utility curves per dataset (mean, 95% CI) and FID against training images.

    python -m reproductions.evaluate.plots          # -> reproductions/results/utility_<dataset>.png, fid_vs_training_images.png
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from reproductions.evaluate.cards import latest  # noqa: E402
from reproductions.evaluate.classifier import Recipe  # noqa: E402
from reproductions.evaluate.results import RESULTS_DIR, load_rows  # noqa: E402
from reproductions.evaluate.utility import PUBLISHED, summary  # noqa: E402


def utility_figure(table: pd.DataFrame, dataset: str, out: Path) -> Path:
    """AUC and ACC against the share of real training images, one line per arm with 95% CI error bars."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("auc", "acc")):
        for arm, group in table.groupby("arm", sort=True):
            g = group.sort_values("fraction")
            ax.errorbar(g["fraction"] * 100, g[metric], yerr=g[f"{metric}_ci95"].fillna(0), marker="o", capsize=3, label=arm)
        if dataset in PUBLISHED:
            ax.axhline(PUBLISHED[dataset][0 if metric == "auc" else 1], color="grey", ls="--", lw=1, label="MedMNIST v2 ResNet-18 (28), 100%")
        ax.set_xscale("log")
        ax.set_xticks([1, 5, 10, 25, 100], ["1", "5", "10", "25", "100"])
        ax.set_xlabel("real training images used (% of the official train split)")
        ax.set_ylabel(f"test {metric.upper()}")
        ax.grid(alpha=0.3)
    lo, hi = int(table["seeds"].min()), int(table["seeds"].max())
    fig.suptitle(f"{dataset}: utility of augmentation (mean and 95% CI over {lo if lo == hi else f'{lo}-{hi}'} seeds)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def fid_figure(rows: pd.DataFrame, out: Path, features: str = "medzoo-resnet18") -> Path:
    """Each model's FID (and the real-train floor) against the number of real images it was trained on."""
    sel = latest(rows[(rows["metric"] == "fid") & (rows["features"] == features) & rows["kind"].isin(["model", "floor"])
                      & (rows["reference"] == "test")])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {d: f"C{i}" for i, d in enumerate(sorted(sel["dataset"].unique()))}
    for (dataset, kind), g in sel.groupby(["dataset", "kind"], sort=True):
        ax.scatter(g["train_images"], g["value"], marker="o" if kind == "model" else "*", s=60 if kind == "model" else 140,
                   color=colours[dataset], label=f"{dataset} ({'models' if kind == 'model' else 'real train vs test'})")
        for r in g.itertuples():
            ax.annotate(r.model_id.split(".")[0], (r.train_images, r.value), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("real training images of the model")
    ax.set_ylabel(f"FID vs real test split ({features} features)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(out_dir: Path = RESULTS_DIR, recipe: Recipe = Recipe()) -> list[Path]:
    """Write every figure the stored results of `recipe` allow; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    table = summary(recipe=recipe)
    for dataset, g in table.groupby("dataset"):
        written.append(utility_figure(g, dataset, out_dir / f"utility_{dataset}.png"))
    rows = load_rows()
    if not rows.empty and (rows["metric"] == "fid").any():
        written.append(fid_figure(rows, out_dir / "fid_vs_training_images.png"))
    return written


if __name__ == "__main__":
    for path in main():
        print(f"wrote: {path}")
