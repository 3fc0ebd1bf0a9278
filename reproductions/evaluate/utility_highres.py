"""Utility at real resolution: BUSI lesion segmentation at 128 px with the fair protocol of the 28 px study.

For each fraction of the train split (10%, 100%) and seed: a nested stratified subset of the train split and one of
the validation split at the same fraction (reproductions/evaluate/subsets.py); MONAI's U-Net trained in four arms
(none, classical, synthetic, classical+synthetic; segmentation.py), every arm for the same number of steps; Dice per
test image. The synthetic image + mask pairs come from a SPADE that saw exactly the U-Net's training subset: below 100%
one trained on the subset (generators.py, the step budget of the bundled model, bf16 autocast), at 100% the bundled
`spade.busi_128`, whose training split is the whole train split (checked by its split sha256). Its masks come from
its bank of the subset's masks. One JSON line per (fraction, seed, arm) in reproductions/results/utility_highres.jsonl
with `subset_sha256` and the generator's facts; `summary` gives each arm's gain over `none` with a paired 95% interval
over seeds and Holm-adjusted p-values across the table.

    python -m reproductions.evaluate.utility_highres [--fractions 0.1,1] [--seeds 0,1,2] [--steps 600]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import torch

from reproductions.common.data import dataset_info, load_data
from reproductions.common.train import environment
from reproductions.evaluate.generators import bundled_generator
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl
from reproductions.evaluate.segmentation import ARMS, SegRecipe, train_and_score
from reproductions.evaluate.stats import arm_table
from reproductions.evaluate.subsets import pending_groups, subset_sha256

ROWS = RESULTS_DIR / "utility_highres.jsonl"
DATASET, RESOLUTION, BUNDLED = "busi", 128, "spade.busi_128"
FRACTIONS = (0.1, 1.0)
SEEDS = (0, 1, 2)


def rows_path() -> Path:
    """The rows file: $MEDZOO_UTILITY_HIGHRES (tests, private runs), else reproductions/results/utility_highres.jsonl."""
    return Path(os.environ.get("MEDZOO_UTILITY_HIGHRES") or ROWS)


def splits(resolution: int = RESOLUTION, data_dir: Optional[str] = None) -> dict[str, dict[str, torch.Tensor]]:
    """BUSI's recorded train/val/test splits at `resolution`: images, labels, masks (and the split's sha256)."""
    info = dataset_info(DATASET, resolution)
    return {s: load_data(info, s, data_dir) for s in ("train", "val", "test")}


def subset_spade(train: dict[str, Any], idx: torch.Tensor, seed: int, steps: Optional[int], resolution: int = RESOLUTION,
                 device: str = "cpu") -> dict[str, Any]:
    """A SPADE trained on exactly train[idx] (images, labels, masks), reused when already trained: the bundled model's
    settings and step budget, its forward passes under bf16 autocast (1.9x faster on 2 CPU cores; the bundled model
    trained in float32)."""
    from reproductions.evaluate.generators import subset_generator

    g = subset_generator("spade", DATASET, train["images"], train["labels"], idx, seed, steps=steps, resolution=resolution,
                         masks=train["masks"], overrides={"bf16": True}, device=device)
    return {"model": g.load(device), **g.facts()}


def synthetic_pairs(generator: dict[str, Any], labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """As many (image, mask) pairs as the subset has images, in its class proportions."""
    from reproductions.evaluate.utility import synthetic_labels

    y = synthetic_labels(labels, len(labels), seed)
    images, masks = generator["model"].generate(len(y), labels=y, seed=seed, batch_size=64)
    return {"images": images.cpu(), "masks": _binary(masks.cpu())}


def _binary(masks: torch.Tensor) -> torch.Tensor:
    return (masks > 127).to(torch.uint8) if masks.max() > 1 else masks.to(torch.uint8)


def run(fractions: Sequence[float] = FRACTIONS, seeds: Sequence[int] = SEEDS, recipe: SegRecipe = SegRecipe(),
        path: Optional[Path] = None, gen_steps: Optional[int] = None, resolution: int = RESOLUTION,
        data: Optional[dict[str, dict[str, Any]]] = None, device: str = "cpu") -> list[dict[str, Any]]:
    """Run every (fraction, seed, arm) cell not stored yet for this recipe; append and return the new rows (`data`:
    the splits at `resolution`, loaded when not given; tests pass a few images)."""
    path = path or rows_path()
    data = data or splits(resolution)
    train, val, test = data["train"], data["val"], data["test"]
    test_set = {"images": test["images"], "masks": _binary(test["masks"])}
    recipe_text = recipe.describe()
    done = {(r["fraction"], r["seed"], r["arm"]) for r in read_jsonl(path) if r.get("recipe") == recipe_text}
    env = environment(device, 1)
    rows = []
    for fraction, seed, todo, idx, vidx in pending_groups(done, fractions, seeds, ARMS, train["labels"], val["labels"]):
        sub = {"images": train["images"][idx], "masks": _binary(train["masks"][idx])}
        vsub = {"images": val["images"][vidx], "masks": _binary(val["masks"][vidx])}
        gen_facts: dict[str, Any] = {}
        synthetic = None
        if any("synthetic" in a for a in todo):
            t0 = time.monotonic()
            if fraction >= 1.0 and resolution == RESOLUTION:
                g = bundled_generator(BUNDLED, train, device)
            else:
                g = subset_spade(train, idx, seed, gen_steps, resolution, device)
            synthetic = synthetic_pairs(g, train["labels"][idx], seed)
            gen_facts = {k: v for k, v in g.items() if k != "model"}
            gen_facts["synthesis_seconds"] = round(time.monotonic() - t0, 1)
        for arm in todo:
            t0 = time.monotonic()
            r = train_and_score(sub, vsub, test_set, arm, SegRecipe(**{**recipe.__dict__, "seed": seed}), synthetic, device)
            row = {"task": "segmentation", "dataset": DATASET, "resolution": resolution, "fraction": fraction, "seed": seed,
                   **r, "recipe": recipe_text, "subset_sha256": subset_sha256(idx), "val_subset_sha256": subset_sha256(vidx),
                   "n_val": len(vidx), **(gen_facts if "synthetic" in arm else {}),
                   "split_sha256": train.get("split_sha256"), "commit": env["git_commit"], "hardware": env["hardware"],
                   "seconds": round(time.monotonic() - t0, 1), "command": command_line(), "recorded_at": now()}
            append_jsonl(path, [row])
            rows.append(row)
            print(f"[{time.strftime('%H:%M:%S')}] busi seg {fraction:g} seed {seed} {arm}: Dice {r['dice']:.3f} "
                  f"({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return rows


def summary(path: Optional[Path] = None) -> pd.DataFrame:
    """Per (fraction, arm): mean Dice, and the gain over `none` paired by seed (mean, 95% t-interval, Holm-adjusted p)."""
    df = pd.DataFrame(read_jsonl(path or rows_path()))
    return arm_table(df, "dice") if not df.empty else df


def main(fractions: str = "0.1,1", seeds: str = "0,1,2", steps: int = SegRecipe().steps, threads: int = 2,
         device: str = "cpu") -> None:
    """Command line: the cells of the given fractions and seeds (on `device`: cpu or cuda), then the summary table."""
    torch.set_num_threads(threads)
    run([float(f) for f in fractions.split(",")], [int(s) for s in seeds.split(",")], SegRecipe(steps=steps), device=device)
    print(summary().to_string(index=False))


if __name__ == "__main__":
    import typer

    typer.run(main)
