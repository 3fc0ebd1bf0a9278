"""Utility at real resolution: chest X-ray classification (normal / pneumonia) at 128 px with the fair protocol.

For each fraction of the train split (10%, 100%) and seed: the nested, stratified subsets of the train and validation
splits (subsets.py); a quarter-width timm ResNet-18 with its standard stem (7x7 stride 2 and max-pool) trained in four
arms (none, classical, synthetic, classical+synthetic) for the same number of steps (ROUNDS rounds of
`utility.steps_per_round(n_real)` steps, the weights of the round with the best validation AUC kept), scored by AUC and
accuracy on the test split. The synthetic images (as many as the real ones, in the subset's class proportions) come
from a class-conditional FastGAN that saw exactly the classifier's subset: below 100% one trained on the subset with
the bundled `fastgan.chestxray_128`'s recipe and step budget (generators.py), at 100% the bundled model itself (its
split sha256 checked). One JSON line per (fraction, seed, arm) in reproductions/results/utility_chestxray.jsonl, with
the test probabilities; `summary` gives the paired gains and Holm-adjusted verdicts.

    python -m reproductions.evaluate.utility_chestxray [--fractions 0.1,1] [--seeds 0,1,2] [--threads 2]
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import torch
from torch import nn

from reproductions.common.data import dataset_info, load_data
from reproductions.common.train import environment
from reproductions.evaluate.classifier import Recipe, predict_proba, scores, train_classifier
from reproductions.evaluate.generators import bundled_generator, subset_generator
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl
from reproductions.evaluate.segmentation import ARMS
from reproductions.evaluate.stats import arm_table
from reproductions.evaluate.subsets import pending_groups, subset_sha256
from reproductions.evaluate.utility import classical_augmentation, steps_per_round, synthetic_labels

ROWS = RESULTS_DIR / "utility_chestxray.jsonl"
DATASET, RESOLUTION, BUNDLED, FAMILY = "chestxray", 128, "fastgan.chestxray_128", "fastgan"
FRACTIONS = (0.1, 1.0)
SEEDS = (0, 1, 2)
ROUNDS = 8
RECIPE = Recipe(batch_size=32, max_epochs=ROUNDS, patience=ROUNDS, min_steps_per_epoch=20)  # no early stopping: equal steps
WIDTHS = (16, 32, 64, 128)
# the bundled generator's training settings that a subset generator keeps (its epochs give way to the step budget)
RECIPE_KEYS = ("batch_size", "beta1", "bf16", "conditional", "d_base", "d_norm", "ema", "g_base", "lr", "lr_d_scale",
               "mode_seeking", "policy", "z_dim")


def rows_path() -> Path:
    """The rows file: $MEDZOO_UTILITY_CHESTXRAY (tests, private runs), else reproductions/results/utility_chestxray.jsonl."""
    return Path(os.environ.get("MEDZOO_UTILITY_CHESTXRAY") or ROWS)


def network(num_classes: int) -> nn.Module:
    """The downstream classifier: timm's ResNet-18 at quarter width with its standard stem, untrained."""
    import timm

    return timm.create_model("resnet18", pretrained=False, num_classes=num_classes, in_chans=3, channels=WIDTHS)


def describe(recipe: Recipe = RECIPE) -> str:
    """One line stating the classifier and its training."""
    return (f"timm resnet18 (stage widths {'x'.join(map(str, WIDTHS))}, 7x7 stride-2 stem and max-pool) on {RESOLUTION} px "
            f"images, batch {recipe.batch_size}, AdamW lr {recipe.lr} wd {recipe.weight_decay}, {recipe.max_epochs} rounds "
            f"of max(ceil(N/batch), {recipe.min_steps_per_epoch}) steps for N real images in every arm, weights of the "
            f"round with the best validation AUC")


def splits(resolution: int = RESOLUTION, data_dir: Optional[str] = None) -> dict[str, dict[str, torch.Tensor]]:
    """The chest X-rays' recorded train/val/test splits at `resolution`: images, labels (and the split's sha256)."""
    info = dataset_info(DATASET, resolution)
    return {s: load_data(info, s, data_dir) for s in ("train", "val", "test")}


def bundled_recipe() -> dict[str, Any]:
    """The training settings of the bundled FastGAN (RECIPE_KEYS of its config.json) and its step count."""
    from zoo.registry import pretrained_dir

    training = json.loads((pretrained_dir() / BUNDLED / "config.json").read_text(encoding="utf-8"))["training"]
    return {"overrides": {k: training["hyperparameters"][k] for k in RECIPE_KEYS}, "steps": int(training["steps"])}


def generator_for(train: dict[str, Any], idx: torch.Tensor, fraction: float, seed: int, resolution: int,
                  gen_steps: Optional[int], gen_overrides: Optional[dict[str, Any]], device: str = "cpu") -> dict[str, Any]:
    """The FastGAN of a (fraction, seed): the bundled one at 100% of the recorded split, else one trained on train[idx]."""
    if fraction >= 1.0 and resolution == RESOLUTION and gen_overrides is None:
        return bundled_generator(BUNDLED, train, device)
    recipe = bundled_recipe()
    g = subset_generator(FAMILY, DATASET, train["images"], train["labels"], idx, seed, steps=gen_steps or recipe["steps"],
                         resolution=resolution, overrides={**recipe["overrides"], **(gen_overrides or {})}, device=device)
    return {"model": g.load(device), **g.facts()}


def run(fractions: Sequence[float] = FRACTIONS, seeds: Sequence[int] = SEEDS, recipe: Recipe = RECIPE,
        path: Optional[Path] = None, resolution: int = RESOLUTION, data: Optional[dict[str, dict[str, Any]]] = None,
        gen_steps: Optional[int] = None, gen_overrides: Optional[dict[str, Any]] = None, device: str = "cpu"
        ) -> list[dict[str, Any]]:
    """Run every (fraction, seed, arm) cell not stored yet for this recipe; append and return the new rows (`data`,
    `gen_steps`, `gen_overrides`: a few images and a tiny generator, for tests)."""
    path = path or rows_path()
    data = data or splits(resolution)
    train, val, test = data["train"], data["val"], data["test"]
    k = len(dataset_info(DATASET, resolution).class_names)
    text = describe(recipe)
    done = {(r["fraction"], r["seed"], r["arm"]) for r in read_jsonl(path) if r.get("recipe") == text}
    env = environment(device, 1)
    augment = classical_augmentation()
    rows = []
    for fraction, seed, todo, idx, vidx in pending_groups(done, fractions, seeds, ARMS, train["labels"], val["labels"]):
        x, y = train["images"][idx], train["labels"][idx]
        steps = steps_per_round(len(idx), recipe)
        gen_facts: dict[str, Any] = {}
        syn_x = syn_y = None
        if any("synthetic" in a for a in todo):
            t0 = time.monotonic()
            g = generator_for(train, idx, fraction, seed, resolution, gen_steps, gen_overrides, device)
            syn_y = synthetic_labels(y, len(y), seed)
            syn_x = g["model"].generate(len(syn_y), labels=syn_y, seed=seed, batch_size=64).cpu()
            gen_facts = {key: v for key, v in g.items() if key != "model"}
            gen_facts["synthesis_seconds"] = round(time.monotonic() - t0, 1)
        for arm in todo:
            t0 = time.monotonic()
            ax, ay = (torch.cat([x, syn_x]), torch.cat([y, syn_y])) if "synthetic" in arm else (x, y)
            model, facts = train_classifier(ax, ay, k, val["images"][vidx], val["labels"][vidx], recipe, seed,
                                            augment if arm.startswith("classical") else None, steps_per_epoch=steps,
                                            network=network(k), device=device)
            probs = predict_proba(model, test["images"], batch_size=128)
            s = scores(probs, test["labels"].numpy())
            row = {"task": "classification", "dataset": DATASET, "resolution": resolution, "fraction": fraction,
                   "seed": seed, "arm": arm, "auc": round(s["auc"], 6), "acc": round(s["acc"], 6),
                   "val_auc": round(facts["val_auc"], 6), "best_round": facts["best_epoch"], "steps": facts["steps"],
                   "n_train": len(idx), "n_synthetic": len(ax) - len(idx), "n_val": len(vidx),
                   "n_test": len(test["labels"]), "recipe": text, "recipe_fields": dataclasses.asdict(recipe),
                   "subset_sha256": subset_sha256(idx), "val_subset_sha256": subset_sha256(vidx),
                   **(gen_facts if "synthetic" in arm else {}), "split_sha256": train.get("split_sha256"),
                   "test_probs": [round(float(p), 5) for p in probs[:, 1]], "commit": env["git_commit"],
                   "hardware": env["hardware"], "seconds": round(time.monotonic() - t0, 1), "command": command_line(),
                   "recorded_at": now()}
            append_jsonl(path, [row])
            rows.append(row)
            print(f"[{time.strftime('%H:%M:%S')}] chest X-ray {fraction:g} seed {seed} {arm}: AUC {s['auc']:.3f} "
                  f"acc {s['acc']:.3f} ({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return rows


def summary(path: Optional[Path] = None, metric: str = "auc") -> pd.DataFrame:
    """Per (fraction, arm): mean test `metric` (auc or acc) and the gain over `none` paired by seed, Holm-adjusted."""
    df = pd.DataFrame(read_jsonl(path or rows_path()))
    return arm_table(df, metric) if not df.empty else df


def main(fractions: str = "0.1,1", seeds: str = "0,1,2", threads: int = 2, device: str = "cpu") -> None:
    """Command line: the cells of the given fractions and seeds (on `device`: cpu or cuda), then the summary table."""
    torch.set_num_threads(threads)
    run([float(f) for f in fractions.split(",")], [int(s) for s in seeds.split(",")], device=device)
    print(summary().drop(columns=["p"]).to_string(index=False))


if __name__ == "__main__":
    import typer

    typer.run(main)
