"""The utility study page (curves, table, provenance of every cell) and the benchmarks page, from stored results."""
from __future__ import annotations

import pandas as pd

from bench.report import RESULTS as BENCH_RESULTS, render
from reproductions.evaluate.classifier import Recipe
from reproductions.evaluate.results import RESULTS_DIR, read_jsonl
from reproductions.evaluate.utility import PUBLISHED, RATIO, cells_path, summary
from sitegen.md import esc, table

FIGURES = ["utility_pneumoniamnist.png", "utility_breastmnist.png", "utility_retinamnist.png", "fid_vs_training_images.png"]


def _gain(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, fraction): AUC of every arm minus the no-augmentation arm, over the seeds both ran."""
    base = rows[rows["arm"] == "none"].set_index(["dataset", "fraction", "seed"])["auc"]
    others = rows[rows["arm"] != "none"].join(base.rename("none_auc"), on=["dataset", "fraction", "seed"])
    others["d_auc"] = others["auc"] - others["none_auc"]
    return others.dropna(subset=["d_auc"]).groupby(["dataset", "fraction", "arm"], sort=True)["d_auc"].agg(["mean", "count"]).reset_index()


def _provenance(rows: pd.DataFrame) -> str:
    """Which hardware ran how many cells, in how many seconds, at which commits, by which commands."""
    g = rows.groupby("hardware", sort=True)
    body = [(esc(hw), len(r), f"{r['seconds'].sum():,.0f}", esc(", ".join(sorted({c[:12] for c in r['commit']}))),
             esc("; ".join(sorted(set(r["command"])))[:400])) for hw, r in g]
    return table(["Hardware", "Cells", "Seconds", "Commits", "Commands"], body)


def utility_page() -> tuple[str, dict[str, bytes]]:
    """The page and the figures it shows (copied from reproductions/results/, written by reproductions.evaluate.plots)."""
    recipe = Recipe()
    rows = pd.DataFrame(read_jsonl(cells_path()))
    parts = ["# Utility study\n",
             "Does a zoo augmenter make a downstream classifier better, and by how much when real data is scarce? A "
             "classifier is trained on 1%, 5%, 10%, 25% and 100% of the official train split (stratified), with no "
             "augmentation, classical augmentation (torchvision v2 flips, rotation within 10 degrees, brightness and "
             f"contrast 10%), GAN augmentation (a class-conditional zoo model adds synthetic images at synthetic:real "
             f"{RATIO:g}:1, labels in the subset's class proportions) and both; AUC and ACC on the official test split. "
             "Reproduce with `reproductions/evaluate/utility.sh` (resumable) and `python -m reproductions.evaluate.plots`.\n",
             f"Recipe `{recipe.recipe_id()}`: {esc(recipe.describe())}.\n"]
    if rows.empty:
        return "\n".join([*parts, "*No cell has run yet.*\n"]), {}
    rows = rows[rows["recipe_id"] == recipe.recipe_id()]
    files = {f"study/{name}": (RESULTS_DIR / name).read_bytes() for name in FIGURES if (RESULTS_DIR / name).is_file()}
    for name in files:
        parts.append(f"![{esc(name.split('/')[-1].removesuffix('.png').replace('_', ' '))}]({name})\n")
    s = summary()
    body = [(r.dataset, f"{r.fraction:g}", esc(r.arm), r.seeds, f"{r.auc:.3f} ± {r.auc_ci95:.3f}", f"{r.acc:.3f} ± {r.acc_ci95:.3f}")
            for r in s.itertuples()]
    parts += ["## Mean and 95% confidence interval over seeds\n",
              table(["Dataset", "Fraction", "Arm", "Seeds", "AUC", "ACC"], body), ""]
    gain = _gain(rows)
    parts += ["## Gain over no augmentation\n",
              "Test AUC of each arm minus that of the no-augmentation arm with the same subset and seed, averaged.\n",
              table(["Dataset", "Fraction", "Arm", "Mean ΔAUC", "Pairs"],
                    [(r.dataset, f"{r.fraction:g}", esc(r.arm), f"{r.mean:+.3f}", r.count) for r in gain.itertuples()]), ""]
    ref = s[(s["fraction"] == 1.0) & (s["arm"] == "none")]
    parts += ["## Against the published MedMNIST v2 ResNet-18 (28)\n",
              "The published model is full width and trained 100 epochs; this recipe is cheaper, so the difference also "
              "measures the recipe.\n",
              table(["Dataset", "AUC here", "published", "ACC here", "published"],
                    [(r.dataset, f"{r.auc:.3f}", PUBLISHED[r.dataset][0], f"{r.acc:.3f}", PUBLISHED[r.dataset][1])
                     for r in ref.itertuples() if r.dataset in PUBLISHED]), "",
              "## Provenance\n", _provenance(rows), ""]
    return "\n".join(parts), files


def pages() -> dict[str, str | bytes]:
    """utility.md with its figures, and benchmarks.md rendered from bench/results/*.json."""
    text, files = utility_page()
    return {"utility.md": text, **files, "benchmarks.md": render(BENCH_RESULTS)}
